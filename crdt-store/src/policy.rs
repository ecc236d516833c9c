//! The sovereignty policy of a twin: how far up the tiers each field may travel.
//!
//! A field's **scope** is the highest tier it may reach: `pod` means it may go to tiles and
//! pods but never to a hub or above (raw readings stay in the pod); `planet`, the default,
//! means anywhere. Fields of one scope live in their own document (a partition of the twin),
//! and a peer is sent only the partitions whose scope reaches its tier, so a restricted field
//! is never in the bytes that go up, not even as a deleted item or a state-vector entry.
//! Every replica of a twin must hold the same policy (it decides which partition a field is
//! in); a partition arriving from a peer at a node above its scope is refused.

use std::fmt;
use std::str::FromStr;

/// The tiers of the federation, lowest first (ARCHITECTURE §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    /// A compute board.
    Tile = 0,
    /// A building's LAN.
    Pod = 1,
    /// mmWave and fibre aggregation.
    Hub = 2,
    /// A region.
    Region = 3,
    /// Earth-wide.
    Global = 4,
    /// Ground stations and off-world gateways; reaching it means reaching anywhere.
    Planet = 5,
}

impl Tier {
    /// Every tier, lowest first.
    pub const ALL: [Tier; 6] = [
        Tier::Tile,
        Tier::Pod,
        Tier::Hub,
        Tier::Region,
        Tier::Global,
        Tier::Planet,
    ];

    /// Its name in configuration and on the wire's debug output.
    pub fn name(self) -> &'static str {
        match self {
            Tier::Tile => "tile",
            Tier::Pod => "pod",
            Tier::Hub => "hub",
            Tier::Region => "region",
            Tier::Global => "global",
            Tier::Planet => "planet",
        }
    }

    /// The tier numbered `n` (its wire code).
    pub fn from_code(n: u8) -> Option<Tier> {
        Tier::ALL.get(usize::from(n)).copied()
    }

    /// Its wire code.
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Tier {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Tier::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| format!("unknown tier {s:?} (tile, pod, hub, region, global or planet)"))
    }
}

/// Field patterns and their scopes; the first matching rule decides, and a field no rule
/// matches may go anywhere.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    rules: Vec<(String, Tier)>,
}

impl Policy {
    /// No restrictions.
    pub fn open() -> Self {
        Self::default()
    }

    /// Adds a rule: fields matching `pattern` (`*` matches any run of characters) may reach
    /// at most `scope`.
    pub fn restrict(mut self, pattern: &str, scope: Tier) -> Self {
        self.rules.push((pattern.to_string(), scope));
        self
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[(String, Tier)] {
        &self.rules
    }

    /// How far `field` may travel.
    pub fn scope(&self, field: &str) -> Tier {
        self.rules
            .iter()
            .find(|(p, _)| glob(p, field))
            .map_or(Tier::Planet, |(_, t)| *t)
    }
}

/// Whether `text` matches `pattern`, where `*` matches any run of characters (also empty).
pub fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else {
        return text.is_empty();
    };
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let tail: Vec<&str> = parts.collect();
    let Some((last, middle)) = tail.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = rest.get(i + part.len()..).unwrap_or(""),
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("raw.*", "raw.temp"));
        assert!(glob("raw.*", "raw."));
        assert!(!glob("raw.*", "avg.temp"));
        assert!(glob("*", ""));
        assert!(glob("pod7/*", "pod7/hvac"));
        assert!(glob("*/sensors", "tile3/sensors"));
        assert!(glob("a*b*c", "axxbyyc"));
        assert!(!glob("a*b*c", "axxc"));
        assert!(glob("exact", "exact"));
        assert!(!glob("exact", "exact2"));
        assert!(!glob("ab*ba", "aba"));
    }

    #[test]
    fn first_rule_decides_and_default_is_anywhere() {
        let p = Policy::open()
            .restrict("raw.secret*", Tier::Tile)
            .restrict("raw.*", Tier::Pod);
        assert_eq!(p.scope("raw.secret_key"), Tier::Tile);
        assert_eq!(p.scope("raw.temp"), Tier::Pod);
        assert_eq!(p.scope("avg.temp"), Tier::Planet);
        assert_eq!("hub".parse::<Tier>(), Ok(Tier::Hub));
        assert!("moon".parse::<Tier>().is_err());
        for t in Tier::ALL {
            assert_eq!(Tier::from_code(t.code()), Some(t));
        }
    }
}

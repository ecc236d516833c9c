//! Contact plans: when each link will be up, how fast, and how far away its far end is.
//!
//! Our own format, in TOML (or the same structure in JSON):
//!
//! ```toml
//! # DTN time (ms since 2000-01-01 UTC) that contact times count from; default 0.
//! epoch_ms = 816_000_000_000
//! # Optional: the nodes of the network. When given, a contact naming any other node is an
//! # error (it catches typos).
//! nodes = ["ipn:1.0", "ipn:2.0", "ipn:3.0"]
//!
//! [[contact]]
//! from = "ipn:1.0"        # transmitting node (a node ID; ipn:N.0 or dtn://name/)
//! to = "ipn:2.0"          # receiving node
//! start = 0               # seconds after the epoch
//! end = 3600              # seconds after the epoch; after start
//! rate = 125000           # bytes per second while the contact lasts
//! owlt = 0                # one-way light time in seconds (default 0)
//! confidence = 1.0        # how sure the plan is of this contact, 0 to 1 (default 1)
//! period = 86400          # optional: the contact repeats every `period` seconds ...
//! repeat = 7              # ... this many times in all (default 1)
//! ```
//!
//! Times inside are absolute DTN times in milliseconds. Validation refuses contacts that end
//! before they start, have no rate, overlap another contact between the same two nodes, name
//! a node outside `nodes`, or repeat faster than they last; each error names the contact (its
//! number in the file, from 1) and the rule.

use std::collections::BTreeSet;

use bundle_agent::wire::{DtnTime, Eid};
use serde::Deserialize;
use thiserror::Error;

/// Index of a contact in its plan.
pub type ContactId = usize;

/// One scheduled contact: `from` can send to `to` between `start` and `end`.
#[derive(Debug, Clone, PartialEq)]
pub struct Contact {
    /// The transmitting node.
    pub from: Eid,
    /// The receiving node.
    pub to: Eid,
    /// When the contact begins.
    pub start: DtnTime,
    /// When it ends.
    pub end: DtnTime,
    /// Bytes per second while it lasts.
    pub rate: u64,
    /// One-way light time, in milliseconds.
    pub owlt_ms: u64,
    /// How sure the plan is of this contact, 0 to 1.
    pub confidence: f64,
}

impl Contact {
    /// Bytes the whole contact can carry.
    pub fn volume(&self) -> u64 {
        let ms = self.end.0.saturating_sub(self.start.0);
        u64::try_from(u128::from(self.rate) * u128::from(ms) / 1000).unwrap_or(u64::MAX)
    }

    /// Milliseconds it takes to send `bytes` at this contact's rate, rounded up.
    pub fn transmit_ms(&self, bytes: u64) -> u64 {
        if self.rate == 0 {
            return u64::MAX;
        }
        let ms = (u128::from(bytes) * 1000).div_ceil(u128::from(self.rate));
        u64::try_from(ms).unwrap_or(u64::MAX)
    }
}

/// A validated contact plan, periodic contacts expanded, ordered by start time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactPlan {
    contacts: Vec<Contact>,
}

/// Why a plan was refused.
#[derive(Debug, Error, PartialEq)]
#[non_exhaustive]
pub enum PlanError {
    /// Not TOML or JSON of the plan's shape.
    #[error("contact plan: {0}")]
    Syntax(String),
    /// A node ID that does not parse.
    #[error("contact {contact}: {field} {value:?} is not a node ID: {why}")]
    BadNode {
        /// The contact's number in the file, from 1 (0: the `nodes` list).
        contact: usize,
        /// `from`, `to` or `nodes`.
        field: &'static str,
        /// What was written.
        value: String,
        /// Why it does not parse.
        why: String,
    },
    /// A contact that names a node outside `nodes`.
    #[error("contact {contact}: unknown node {node} (not in `nodes`)")]
    UnknownNode {
        /// The contact's number in the file, from 1.
        contact: usize,
        /// The node.
        node: String,
    },
    /// `end` not after `start`.
    #[error("contact {contact}: ends at {end} s, not after its start at {start} s")]
    EndBeforeStart {
        /// The contact's number in the file, from 1.
        contact: usize,
        /// Its start, seconds after the epoch.
        start: u64,
        /// Its end.
        end: u64,
    },
    /// A contact from a node to itself.
    #[error("contact {contact}: from and to are the same node {node}")]
    SelfContact {
        /// The contact's number in the file, from 1.
        contact: usize,
        /// The node.
        node: String,
    },
    /// A rate of zero.
    #[error("contact {contact}: rate must be more than 0 bytes/s")]
    NoRate {
        /// The contact's number in the file, from 1.
        contact: usize,
    },
    /// A confidence outside 0..=1.
    #[error("contact {contact}: confidence {value} is not between 0 and 1")]
    BadConfidence {
        /// The contact's number in the file, from 1.
        contact: usize,
        /// What was written.
        value: f64,
    },
    /// A period shorter than the contact, or a repeat count of 0.
    #[error("contact {contact}: {why}")]
    BadRepeat {
        /// The contact's number in the file, from 1.
        contact: usize,
        /// What is wrong.
        why: String,
    },
    /// Two contacts between the same nodes, in the same direction, at the same time.
    #[error("contacts {first} and {second} overlap: both {from} -> {to} around {at_s} s")]
    Overlap {
        /// The earlier contact's number in the file, from 1.
        first: usize,
        /// The later one's.
        second: usize,
        /// The sending node.
        from: String,
        /// The receiving node.
        to: String,
        /// Where the second one starts, seconds after the epoch.
        at_s: u64,
    },
    /// More contacts than a plan may hold once periodic ones are expanded.
    #[error("contact plan: more than {limit} contacts once periodic contacts are expanded")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
}

/// Most contacts in one plan, periodic contacts expanded (a bound on what a file can make
/// the node hold).
pub const MAX_CONTACTS: usize = 1_000_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanFile {
    #[serde(default)]
    epoch_ms: u64,
    nodes: Option<Vec<String>>,
    #[serde(default)]
    contact: Vec<ContactFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ContactFile {
    from: String,
    to: String,
    start: u64,
    end: u64,
    rate: u64,
    #[serde(default)]
    owlt: u64,
    #[serde(default = "one")]
    confidence: f64,
    period: Option<u64>,
    repeat: Option<u64>,
}

fn one() -> f64 {
    1.0
}

fn node(contact: usize, field: &'static str, value: &str) -> Result<Eid, PlanError> {
    value
        .parse::<Eid>()
        .map(|e| e.node_id())
        .map_err(|e| PlanError::BadNode {
            contact,
            field,
            value: value.to_string(),
            why: e.to_string(),
        })
}

impl ContactPlan {
    /// Parses and validates a plan in our TOML format.
    pub fn from_toml(text: &str) -> Result<Self, PlanError> {
        let file: PlanFile = toml::from_str(text).map_err(|e| PlanError::Syntax(e.to_string()))?;
        Self::from_file(file)
    }

    /// Parses and validates a plan in our format, written as JSON.
    pub fn from_json(text: &str) -> Result<Self, PlanError> {
        let file: PlanFile =
            serde_json::from_str(text).map_err(|e| PlanError::Syntax(e.to_string()))?;
        Self::from_file(file)
    }

    /// A plan of the given contacts (absolute times), validated the same way.
    pub fn new(contacts: Vec<Contact>) -> Result<Self, PlanError> {
        for (i, c) in contacts.iter().enumerate() {
            check_contact(i + 1, c, c.start.0 / 1000, c.end.0 / 1000)?;
        }
        let numbered = contacts.into_iter().enumerate().map(|(i, c)| (i + 1, c));
        Self::ordered(numbered.collect())
    }

    fn from_file(file: PlanFile) -> Result<Self, PlanError> {
        let known: Option<BTreeSet<Eid>> = match &file.nodes {
            Some(list) => Some(
                list.iter()
                    .map(|n| node(0, "nodes", n))
                    .collect::<Result<_, _>>()?,
            ),
            None => None,
        };
        let mut expanded: Vec<(usize, Contact)> = Vec::new();
        for (i, c) in file.contact.iter().enumerate() {
            let number = i + 1;
            let from = node(number, "from", &c.from)?;
            let to = node(number, "to", &c.to)?;
            if let Some(known) = &known {
                for n in [&from, &to] {
                    if !known.contains(n) {
                        return Err(PlanError::UnknownNode {
                            contact: number,
                            node: n.to_string(),
                        });
                    }
                }
            }
            let at = |s: u64| DtnTime(file.epoch_ms.saturating_add(s.saturating_mul(1000)));
            let first = Contact {
                from,
                to,
                start: at(c.start),
                end: at(c.end),
                rate: c.rate,
                owlt_ms: c.owlt.saturating_mul(1000),
                confidence: c.confidence,
            };
            check_contact(number, &first, c.start, c.end)?;
            let repeat = c.repeat.unwrap_or(1);
            let period = c.period.unwrap_or(0);
            if repeat == 0 {
                return Err(PlanError::BadRepeat {
                    contact: number,
                    why: "repeat must be at least 1".into(),
                });
            }
            if repeat > 1 && period < c.end - c.start {
                return Err(PlanError::BadRepeat {
                    contact: number,
                    why: format!(
                        "period {period} s is shorter than the contact ({} s)",
                        c.end - c.start
                    ),
                });
            }
            for k in 0..repeat {
                if expanded.len() >= MAX_CONTACTS {
                    return Err(PlanError::TooLarge {
                        limit: MAX_CONTACTS,
                    });
                }
                let shift = k.saturating_mul(period).saturating_mul(1000);
                expanded.push((
                    number,
                    Contact {
                        start: DtnTime(first.start.0.saturating_add(shift)),
                        end: DtnTime(first.end.0.saturating_add(shift)),
                        ..first.clone()
                    },
                ));
            }
        }
        Self::ordered(expanded)
    }

    /// Sorts by start and refuses overlaps between the same two nodes in one direction.
    fn ordered(mut numbered: Vec<(usize, Contact)>) -> Result<Self, PlanError> {
        numbered.sort_by(|(_, a), (_, b)| {
            (a.start, a.end, &a.from, &a.to).cmp(&(b.start, b.end, &b.from, &b.to))
        });
        let mut last_end: std::collections::BTreeMap<(&Eid, &Eid), (usize, DtnTime)> =
            std::collections::BTreeMap::new();
        for (number, c) in &numbered {
            if let Some((first, end)) = last_end.get(&(&c.from, &c.to)) {
                if c.start < *end {
                    return Err(PlanError::Overlap {
                        first: *first,
                        second: *number,
                        from: c.from.to_string(),
                        to: c.to.to_string(),
                        at_s: c.start.0 / 1000,
                    });
                }
            }
            last_end.insert((&c.from, &c.to), (*number, c.end));
        }
        Ok(Self {
            contacts: numbered.into_iter().map(|(_, c)| c).collect(),
        })
    }

    /// The contacts, ordered by start time.
    pub fn contacts(&self) -> &[Contact] {
        &self.contacts
    }

    /// One contact.
    pub fn contact(&self, id: ContactId) -> Option<&Contact> {
        self.contacts.get(id)
    }

    /// Every node the plan names.
    pub fn nodes(&self) -> BTreeSet<&Eid> {
        self.contacts
            .iter()
            .flat_map(|c| [&c.from, &c.to])
            .collect()
    }
}

fn check_contact(number: usize, c: &Contact, start_s: u64, end_s: u64) -> Result<(), PlanError> {
    if c.end <= c.start {
        return Err(PlanError::EndBeforeStart {
            contact: number,
            start: start_s,
            end: end_s,
        });
    }
    if c.from == c.to {
        return Err(PlanError::SelfContact {
            contact: number,
            node: c.from.to_string(),
        });
    }
    if c.rate == 0 {
        return Err(PlanError::NoRate { contact: number });
    }
    if !(0.0..=1.0).contains(&c.confidence) {
        return Err(PlanError::BadConfidence {
            contact: number,
            value: c.confidence,
        });
    }
    Ok(())
}

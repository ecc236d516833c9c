//! Static routes: EID patterns mapped to the node ID of the next hop (issue "The node":
//! static routes in the config). The simplest [`Router`]: what an agent routes with when no
//! router of the `routing` crate (contact graph routing, opportunistic routers) is plugged in.

use super::router::{Explanation, NextHop, RouteRequest, Router};
use crate::wire::{DtnTime, Eid};

/// An EID pattern: an exact EID, or a prefix ending in `*` (`ipn:3.*`, `dtn://hub/*`, `*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EidPattern(String);

impl EidPattern {
    /// A pattern from its text.
    pub fn new(text: &str) -> Self {
        Self(text.to_string())
    }

    /// Its text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when `eid` matches.
    pub fn matches(&self, eid: &Eid) -> bool {
        let text = eid.to_string();
        match self.0.strip_suffix('*') {
            Some(prefix) => text.starts_with(prefix),
            None => text == self.0,
        }
    }
}

/// One static route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Destinations it applies to.
    pub pattern: EidPattern,
    /// Node ID of the next hop.
    pub via: Eid,
    /// Lower is preferred; routes of equal priority in the order they were added.
    pub priority: u32,
}

/// The priority of a route added without one.
pub const DEFAULT_PRIORITY: u32 = 100;

/// Static routes. Of the routes matching a destination, the most preferred one whose next
/// hop has a link up wins; when none has, the most preferred one (the bundle waits for its
/// link).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteTable {
    routes: Vec<Route>,
}

impl RouteTable {
    /// The routes, most preferred first.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// Adds a route after the existing ones, with the default priority.
    pub fn add(&mut self, pattern: &str, via: Eid) {
        self.add_with_priority(pattern, via, DEFAULT_PRIORITY);
    }

    /// Adds a route with a priority (lower is preferred).
    pub fn add_with_priority(&mut self, pattern: &str, via: Eid, priority: u32) {
        self.routes.push(Route {
            pattern: EidPattern::new(pattern),
            via,
            priority,
        });
        // Stable: equal priorities keep the order they were added in.
        self.routes.sort_by_key(|r| r.priority);
    }

    /// The next hop for `destination`: the destination's own node when `up` says a link to
    /// it is up, else the most preferred matching route whose next hop is up, else the most
    /// preferred matching route.
    pub fn lookup(&self, destination: &Eid, up: impl Fn(&Eid) -> bool) -> Option<Eid> {
        let node = destination.node_id();
        if up(&node) {
            return Some(node);
        }
        let mut matching = self
            .routes
            .iter()
            .filter(|r| r.pattern.matches(destination));
        let first = matching.next()?;
        if up(&first.via) {
            return Some(first.via.clone());
        }
        Some(matching.find(|r| up(&r.via)).unwrap_or(first).via.clone())
    }
}

impl Router for RouteTable {
    fn next_hop(
        &mut self,
        _now: DtnTime,
        bundle: &RouteRequest<'_>,
        up: &dyn Fn(&Eid) -> bool,
    ) -> NextHop {
        match self.lookup(bundle.destination, up) {
            Some(via) => NextHop::Now(via),
            None => NextHop::Unknown,
        }
    }

    fn explain(
        &mut self,
        _now: DtnTime,
        destination: &Eid,
        _size: u64,
        _deadline: DtnTime,
        up: &dyn Fn(&Eid) -> bool,
    ) -> Explanation {
        let node = destination.node_id();
        let mut notes = Vec::new();
        if up(&node) {
            notes.push(format!("a link to the destination's node {node} is up"));
        } else if self.routes.iter().any(|r| r.pattern.matches(destination)) {
            for r in self
                .routes
                .iter()
                .filter(|r| r.pattern.matches(destination))
            {
                notes.push(format!(
                    "static route {} via {} (priority {}): link {}",
                    r.pattern.0,
                    r.via,
                    r.priority,
                    if up(&r.via) { "up" } else { "down" }
                ));
            }
        } else {
            notes.push(format!(
                "no link to {node} and no static route matches {destination}: the bundle waits"
            ));
        }
        Explanation {
            router: "static".into(),
            next_hop: self.lookup(destination, up),
            notes,
            ..Explanation::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_and_first_match() {
        let mut t = RouteTable::default();
        t.add("ipn:3.*", Eid::ipn(2, 0));
        t.add("*", Eid::ipn(9, 0));
        let none = |_: &Eid| false;
        assert_eq!(t.lookup(&Eid::ipn(3, 7), none), Some(Eid::ipn(2, 0)));
        assert_eq!(
            t.lookup(&Eid::ipn(30, 7), none),
            Some(Eid::ipn(9, 0)),
            "ipn:3.* is not ipn:30.*"
        );
        assert_eq!(
            t.lookup(&"dtn://x/y".parse().unwrap(), none),
            Some(Eid::ipn(9, 0))
        );
        assert_eq!(
            t.lookup(&Eid::ipn(4, 1), |n| *n == Eid::ipn(4, 0)),
            Some(Eid::ipn(4, 0))
        );
        assert!(EidPattern::new("ipn:3.1").matches(&Eid::ipn(3, 1)));
    }

    #[test]
    fn priorities_prefer_a_route_whose_link_is_up() {
        let mut t = RouteTable::default();
        t.add_with_priority("ipn:3.*", Eid::ipn(5, 0), 20); // backup
        t.add_with_priority("ipn:3.*", Eid::ipn(2, 0), 10); // preferred
        let up = |n: &Eid| *n == Eid::ipn(5, 0);
        let none = |_: &Eid| false;
        assert_eq!(
            t.lookup(&Eid::ipn(3, 1), none),
            Some(Eid::ipn(2, 0)),
            "waits for the best"
        );
        assert_eq!(
            t.lookup(&Eid::ipn(3, 1), up),
            Some(Eid::ipn(5, 0)),
            "the backup is up"
        );
        let both = |n: &Eid| *n == Eid::ipn(5, 0) || *n == Eid::ipn(2, 0);
        assert_eq!(t.lookup(&Eid::ipn(3, 1), both), Some(Eid::ipn(2, 0)));
        assert!(!EidPattern::new("ipn:3.1").matches(&Eid::ipn(3, 10)));
    }
}

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
}

/// Static routes, first match wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteTable {
    routes: Vec<Route>,
}

impl RouteTable {
    /// Adds a route after the existing ones.
    pub fn add(&mut self, pattern: &str, via: Eid) {
        self.routes.push(Route {
            pattern: EidPattern::new(pattern),
            via,
        });
    }

    /// The next hop for `destination`: the destination's own node when `direct` says a link
    /// to it is known, else the first matching route.
    pub fn lookup(&self, destination: &Eid, direct: impl Fn(&Eid) -> bool) -> Option<Eid> {
        let node = destination.node_id();
        if direct(&node) {
            return Some(node);
        }
        self.routes
            .iter()
            .find(|r| r.pattern.matches(destination))
            .map(|r| r.via.clone())
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
        } else if let Some(r) = self.routes.iter().find(|r| r.pattern.matches(destination)) {
            notes.push(format!("static route {} via {}", r.pattern.0, r.via));
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
        assert!(!EidPattern::new("ipn:3.1").matches(&Eid::ipn(3, 10)));
    }
}

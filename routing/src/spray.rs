//! Binary spray-and-wait (Spyropoulos, Psounis and Raghavendra, 2005): the source starts
//! with L copies of a bundle; a node holding n > 1 copies that meets a peer without one hands
//! it n/2 and keeps the rest (spray); a node down to one copy gives it only to the
//! destination (wait). The copies a peer receives travel in a copy count block.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bundle_agent::agent::{Explanation, NextHop, Replica, RouteRequest, Router};
use bundle_agent::wire::{BundleId, DtnTime, Eid};

/// Binary spray-and-wait for one node.
#[derive(Debug)]
pub struct SprayAndWaitRouter {
    node: Eid,
    /// L: copies a bundle made here starts with.
    initial: u64,
    up: BTreeSet<Eid>,
    /// Copies held of each bundle.
    copies: HashMap<BundleId, u64>,
    /// Copies handed to each peer, per bundle (given back when the transmission fails).
    given: HashMap<BundleId, BTreeMap<Eid, u64>>,
}

impl SprayAndWaitRouter {
    /// Spray-and-wait for `node`, bundles made here starting with `copies` copies (at
    /// least 1).
    pub fn new(node: Eid, copies: u64) -> Self {
        Self {
            node,
            initial: copies.max(1),
            up: BTreeSet::new(),
            copies: HashMap::new(),
            given: HashMap::new(),
        }
    }

    /// Copies of a bundle held here: as counted, or as it arrived (its copy count block),
    /// or L when it was made here, or one (a relay that lost count, after a restart).
    fn held(&mut self, bundle: &RouteRequest<'_>) -> u64 {
        let initial = if bundle.id.source.node_id() == self.node {
            self.initial
        } else {
            bundle.copies.unwrap_or(1).max(1)
        };
        if self.copies.len() >= crate::MAX_TRACKED && !self.copies.contains_key(bundle.id) {
            return 1;
        }
        *self.copies.entry(bundle.id.clone()).or_insert(initial)
    }
}

impl Router for SprayAndWaitRouter {
    fn next_hop(
        &mut self,
        _now: DtnTime,
        bundle: &RouteRequest<'_>,
        up: &dyn Fn(&Eid) -> bool,
    ) -> NextHop {
        let dest = bundle.destination.node_id();
        if up(&dest) {
            return NextHop::Now(dest);
        }
        let mut n = self.held(bundle);
        let given = self.given.entry(bundle.id.clone()).or_default();
        let mut replicas = Vec::new();
        for peer in &self.up {
            if n <= 1 {
                break;
            }
            if given.contains_key(peer) {
                continue;
            }
            let half = n / 2;
            n -= half;
            given.insert(peer.clone(), half);
            replicas.push(Replica {
                to: peer.clone(),
                copies: Some(half),
            });
        }
        self.copies.insert(bundle.id.clone(), n);
        if replicas.is_empty() {
            NextHop::Unknown
        } else {
            NextHop::Replicate(replicas)
        }
    }

    fn link_up(&mut self, _now: DtnTime, peer: &Eid) {
        self.up.insert(peer.clone());
    }

    fn link_down(&mut self, _now: DtnTime, peer: &Eid) {
        self.up.remove(peer);
    }

    fn sent(&mut self, _now: DtnTime, id: &BundleId, peer: &Eid, ok: bool) {
        if ok {
            return;
        }
        // The copies handed to a peer that did not take them come back.
        if let Some(half) = self.given.get_mut(id).and_then(|g| g.remove(peer)) {
            if let Some(n) = self.copies.get_mut(id) {
                *n += half;
            }
        }
    }

    fn forget(&mut self, id: &BundleId) {
        self.copies.remove(id);
        self.given.remove(id);
    }

    fn explain(
        &mut self,
        _now: DtnTime,
        destination: &Eid,
        _size: u64,
        _deadline: DtnTime,
        up: &dyn Fn(&Eid) -> bool,
    ) -> Explanation {
        let dest = destination.node_id();
        let mut notes = Vec::new();
        let next_hop = if up(&dest) {
            notes.push(crate::handed_over(&dest));
            Some(dest)
        } else {
            notes.push(format!(
                "a bundle made here starts with {} copies; while it holds more than one, each \
                 peer met gets half of them; with one left it waits for {dest}",
                self.initial
            ));
            None
        };
        let spraying = self.copies.values().filter(|n| **n > 1).count();
        notes.push(format!(
            "{} bundles counted, {spraying} still spraying, {} peers up",
            self.copies.len(),
            self.up.len()
        ));
        Explanation {
            router: "spray-and-wait".into(),
            next_hop,
            notes,
            ..Explanation::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bundle_agent::wire::CreationTimestamp;

    fn id(source: u32) -> BundleId {
        BundleId {
            source: Eid::ipn(source, 0),
            creation: CreationTimestamp::new(DtnTime(1), 0),
            fragment: None,
        }
    }

    #[test]
    fn binary_spray_halves_copies_then_waits_for_the_destination() {
        let mut r = SprayAndWaitRouter::new(Eid::ipn(1, 0), 8);
        let none = |_: &Eid| false;
        let (b, dest) = (id(1), Eid::ipn(9, 1));
        let q = RouteRequest {
            id: &b,
            destination: &dest,
            size: 10,
            expires_at: DtnTime(u64::MAX),
            copies: None,
        };
        assert_eq!(
            r.next_hop(DtnTime(0), &q, &none),
            NextHop::Unknown,
            "no peer yet"
        );
        r.link_up(DtnTime(0), &Eid::ipn(2, 0));
        let copies = |h: NextHop| match h {
            NextHop::Replicate(v) => v.iter().map(|r| r.copies.unwrap()).collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        assert_eq!(copies(r.next_hop(DtnTime(0), &q, &none)), vec![4]);
        assert_eq!(
            r.next_hop(DtnTime(0), &q, &none),
            NextHop::Unknown,
            "peer 2 has its half"
        );
        r.link_up(DtnTime(0), &Eid::ipn(3, 0));
        r.link_up(DtnTime(0), &Eid::ipn(4, 0));
        assert_eq!(
            copies(r.next_hop(DtnTime(0), &q, &none)),
            vec![2, 1],
            "4 -> 2 -> 1 kept"
        );
        r.link_up(DtnTime(0), &Eid::ipn(5, 0));
        assert_eq!(
            r.next_hop(DtnTime(0), &q, &none),
            NextHop::Unknown,
            "wait phase"
        );
        // Peer 4 never took its copy: it comes back and goes out again (to 4, first in order).
        r.sent(DtnTime(0), &b, &Eid::ipn(4, 0), false);
        assert_eq!(copies(r.next_hop(DtnTime(0), &q, &none)), vec![1]);
        // The destination is always served.
        let up9 = |n: &Eid| *n == Eid::ipn(9, 0);
        assert_eq!(
            r.next_hop(DtnTime(0), &q, &up9),
            NextHop::Now(Eid::ipn(9, 0))
        );
        // A relay starts from the copies the bundle carries.
        let mut relay = SprayAndWaitRouter::new(Eid::ipn(2, 0), 8);
        relay.link_up(DtnTime(0), &Eid::ipn(3, 0));
        let q = RouteRequest {
            copies: Some(1),
            ..q
        };
        assert_eq!(relay.next_hop(DtnTime(0), &q, &none), NextHop::Unknown);
    }
}

//! Epidemic routing (Vahdat and Becker, 2000): every node hands a copy of each bundle to
//! every peer it meets that does not have it yet, and the destination's node takes it for
//! good. When a link comes up the two routers swap summary vectors (the IDs of the bundles
//! each holds for forwarding), so a peer is never sent what it already has.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};

use bundle_agent::agent::{Explanation, NextHop, Replica, RouteRequest, Router};
use bundle_agent::wire::{BundleId, DtnTime, Eid};

use crate::messages::{self, RouterMessage};

/// Most bundle IDs in one summary vector (and kept per peer).
pub const MAX_SUMMARY: usize = 65_536;

/// Epidemic routing for one node.
#[derive(Debug)]
pub struct EpidemicRouter {
    node: Eid,
    up: BTreeSet<Eid>,
    /// Bundles this node holds for forwarding, as it learnt them when asked to route them.
    held: BTreeSet<BundleId>,
    /// For each peer whose summary vector arrived while its link is up: what it holds.
    peer_has: BTreeMap<Eid, HashSet<BundleId>>,
    /// Peers owed our summary vector.
    owed: VecDeque<Eid>,
}

impl EpidemicRouter {
    /// Epidemic routing for the node `node`.
    pub fn new(node: Eid) -> Self {
        Self {
            node,
            up: BTreeSet::new(),
            held: BTreeSet::new(),
            peer_has: BTreeMap::new(),
            owed: VecDeque::new(),
        }
    }

    /// The peers that get a copy of `id` now: up, summary vector known, and lacking it.
    fn lacking(&self, id: &BundleId) -> Vec<Eid> {
        self.peer_has
            .iter()
            .filter(|(peer, has)| self.up.contains(*peer) && !has.contains(id))
            .map(|(peer, _)| peer.clone())
            .collect()
    }
}

impl Router for EpidemicRouter {
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
        if self.held.len() < crate::MAX_TRACKED {
            self.held.insert(bundle.id.clone());
        }
        let peers = self.lacking(bundle.id);
        if peers.is_empty() {
            return NextHop::Unknown;
        }
        NextHop::Replicate(
            peers
                .into_iter()
                .map(|to| Replica { to, copies: None })
                .collect(),
        )
    }

    fn link_up(&mut self, _now: DtnTime, peer: &Eid) {
        self.up.insert(peer.clone());
        self.owed.push_back(peer.clone());
    }

    fn link_down(&mut self, _now: DtnTime, peer: &Eid) {
        self.up.remove(peer);
        self.peer_has.remove(peer);
    }

    fn sent(&mut self, _now: DtnTime, id: &BundleId, peer: &Eid, ok: bool) {
        if !ok {
            return;
        }
        if let Some(has) = self.peer_has.get_mut(peer) {
            if has.len() < MAX_SUMMARY {
                has.insert(id.clone());
            }
        }
    }

    fn forget(&mut self, id: &BundleId) {
        self.held.remove(id);
        for has in self.peer_has.values_mut() {
            has.remove(id);
        }
    }

    fn poll_message(&mut self) -> Option<(Eid, Vec<u8>)> {
        let peer = self.owed.pop_front()?;
        let ids = self
            .held
            .iter()
            .take(MAX_SUMMARY)
            .map(ToString::to_string)
            .collect();
        Some((peer, RouterMessage::Summary(ids).encode()))
    }

    fn on_message(&mut self, _now: DtnTime, from: &Eid, payload: &[u8]) {
        if !self.up.contains(from) {
            return;
        }
        if let Ok(RouterMessage::Summary(ids)) = messages::decode(payload) {
            let has = ids
                .iter()
                .take(MAX_SUMMARY)
                .filter_map(|t| t.parse::<BundleId>().ok())
                .collect();
            self.peer_has.insert(from.clone(), has);
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
        let dest = destination.node_id();
        let mut notes = Vec::new();
        let next_hop = if up(&dest) {
            notes.push(crate::handed_over(&dest));
            Some(dest)
        } else {
            let peers: Vec<String> = self.peer_has.keys().map(ToString::to_string).collect();
            if peers.is_empty() {
                notes.push(
                    "no peer with a summary vector is up: the bundle waits for one".to_string(),
                );
            } else {
                notes.push(format!(
                    "a copy goes to each peer up that lacks it: {}; the bundle stays here",
                    peers.join(", ")
                ));
            }
            None
        };
        notes.push(format!(
            "{} holds {} bundles for forwarding, {} peers up",
            self.node,
            self.held.len(),
            self.up.len()
        ));
        Explanation {
            router: "epidemic".into(),
            next_hop,
            notes,
            ..Explanation::default()
        }
    }
}

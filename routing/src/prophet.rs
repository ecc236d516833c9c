//! PRoPHET (RFC 6693): each node keeps a delivery predictability P(A,X) for every node X it
//! knows, raised when it meets X, aged as time passes, and learnt transitively from the
//! tables of the peers it meets. A bundle for D is copied to a peer B when B is the better
//! carrier: P(B,D) > P(A,D) (the GRTR strategy of RFC 6693 §3.6). The tables travel between
//! routers as messages over BPv7 (our encoding, not the TLVs of RFC 6693 §4).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use bundle_agent::agent::{Explanation, NextHop, Replica, RouteRequest, Router};
use bundle_agent::wire::{BundleId, DtnTime, Eid};

use crate::messages::{self, RouterMessage};

/// Most nodes in a predictability table (ours, and each peer's as kept).
pub const MAX_TABLE: usize = 4096;

/// The parameters of RFC 6693 §2.1.2 and §3.3.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProphetParams {
    /// P_encounter_first: P(A,B) after A first meets B.
    pub encounter_first: f64,
    /// P_encounter_max: how much each later encounter raises P(A,B).
    pub encounter_max: f64,
    /// delta: keeps P below 1, so a node is never certain of a meeting.
    pub delta: f64,
    /// beta: how much transitivity counts.
    pub beta: f64,
    /// gamma: aging per time unit.
    pub gamma: f64,
    /// The aging time unit, in milliseconds.
    pub time_unit_ms: u64,
    /// Predictabilities that age below this are forgotten (P_first_threshold).
    pub first_threshold: f64,
}

impl Default for ProphetParams {
    /// The values RFC 6693 §3.3 recommends, with a 30 s time unit.
    fn default() -> Self {
        Self {
            encounter_first: 0.5,
            encounter_max: 0.7,
            delta: 0.01,
            beta: 0.9,
            gamma: 0.999,
            time_unit_ms: 30_000,
            first_threshold: 0.1,
        }
    }
}

/// PRoPHET for one node.
#[derive(Debug)]
pub struct ProphetRouter {
    node: Eid,
    params: ProphetParams,
    /// P(this node, X).
    p: BTreeMap<Eid, f64>,
    last_aged: Option<DtnTime>,
    up: BTreeSet<Eid>,
    /// The latest table of each peer up.
    peer_p: BTreeMap<Eid, BTreeMap<Eid, f64>>,
    /// Peers that already have a copy of a bundle.
    given: HashMap<BundleId, BTreeSet<Eid>>,
    /// Peers owed our table.
    owed: VecDeque<Eid>,
}

impl ProphetRouter {
    /// PRoPHET for `node` with `params`.
    pub fn new(node: Eid, params: ProphetParams) -> Self {
        Self {
            node,
            params,
            p: BTreeMap::new(),
            last_aged: None,
            up: BTreeSet::new(),
            peer_p: BTreeMap::new(),
            given: HashMap::new(),
            owed: VecDeque::new(),
        }
    }

    /// P(this node, `node`).
    pub fn predictability(&self, node: &Eid) -> f64 {
        self.p.get(node).copied().unwrap_or(0.0)
    }

    /// RFC 6693 §2.1.2 equation 2: P = P_old * gamma^K, K the time units elapsed.
    fn age(&mut self, now: DtnTime) {
        let Some(last) = self.last_aged else {
            self.last_aged = Some(now);
            return;
        };
        let unit = self.params.time_unit_ms.max(1);
        let k = now.0.saturating_sub(last.0) / unit;
        if k == 0 {
            return;
        }
        self.last_aged = Some(DtnTime(last.0 + k * unit));
        let factor = self.params.gamma.powf(k as f64);
        let threshold = self.params.first_threshold;
        self.p.retain(|_, p| {
            *p *= factor;
            *p >= threshold
        });
    }

    /// RFC 6693 §2.1.2 equation 1: a meeting raises P(A,B).
    fn encounter(&mut self, peer: &Eid) {
        let ProphetParams {
            encounter_first,
            encounter_max,
            delta,
            ..
        } = self.params;
        if !self.p.contains_key(peer) && self.p.len() >= MAX_TABLE {
            return;
        }
        let p = self.p.entry(peer.clone()).or_insert(0.0);
        *p = if *p == 0.0 {
            encounter_first
        } else {
            *p + (1.0 - delta - *p) * encounter_max
        };
    }

    /// RFC 6693 §2.1.2 equation 3: P(A,C) = max(P(A,C), P(A,B) * P(B,C) * beta).
    fn transitivity(&mut self, peer: &Eid, table: &BTreeMap<Eid, f64>) {
        let p_ab = self.predictability(peer);
        for (c, p_bc) in table {
            if *c == self.node || c == peer {
                continue;
            }
            let through = p_ab * p_bc * self.params.beta;
            if !self.p.contains_key(c) && self.p.len() >= MAX_TABLE {
                continue;
            }
            let p = self.p.entry(c.clone()).or_insert(0.0);
            if through > *p {
                *p = through;
            }
        }
    }

    /// Peers up that carry better than this node for `dest`, with their P(B,D).
    fn better_carriers(&self, dest: &Eid) -> Vec<(Eid, f64)> {
        let mine = self.predictability(dest);
        self.peer_p
            .iter()
            .filter(|(peer, _)| self.up.contains(*peer))
            .filter_map(|(peer, table)| {
                let theirs = table.get(dest).copied().unwrap_or(0.0);
                (theirs > mine).then(|| (peer.clone(), theirs))
            })
            .collect()
    }
}

impl Router for ProphetRouter {
    fn next_hop(
        &mut self,
        now: DtnTime,
        bundle: &RouteRequest<'_>,
        up: &dyn Fn(&Eid) -> bool,
    ) -> NextHop {
        self.age(now);
        let dest = bundle.destination.node_id();
        if up(&dest) {
            return NextHop::Now(dest);
        }
        let given = self.given.get(bundle.id);
        let replicas: Vec<Replica> = self
            .better_carriers(&dest)
            .into_iter()
            .filter(|(peer, _)| !given.is_some_and(|g| g.contains(peer)))
            .map(|(to, _)| Replica { to, copies: None })
            .collect();
        if replicas.is_empty() {
            NextHop::Unknown
        } else {
            NextHop::Replicate(replicas)
        }
    }

    fn link_up(&mut self, now: DtnTime, peer: &Eid) {
        self.age(now);
        self.encounter(peer);
        self.up.insert(peer.clone());
        self.owed.push_back(peer.clone());
    }

    fn link_down(&mut self, _now: DtnTime, peer: &Eid) {
        self.up.remove(peer);
        self.peer_p.remove(peer);
    }

    fn sent(&mut self, _now: DtnTime, id: &BundleId, peer: &Eid, ok: bool) {
        if ok && self.given.len() < crate::MAX_TRACKED {
            self.given
                .entry(id.clone())
                .or_default()
                .insert(peer.clone());
        }
    }

    fn forget(&mut self, id: &BundleId) {
        self.given.remove(id);
    }

    fn poll_message(&mut self) -> Option<(Eid, Vec<u8>)> {
        let peer = self.owed.pop_front()?;
        let table = self.p.iter().map(|(n, p)| (n.to_string(), *p)).collect();
        Some((peer, RouterMessage::Predictabilities(table).encode()))
    }

    fn on_message(&mut self, now: DtnTime, from: &Eid, payload: &[u8]) {
        if !self.up.contains(from) {
            return;
        }
        let Ok(RouterMessage::Predictabilities(table)) = messages::decode(payload) else {
            return;
        };
        let table: BTreeMap<Eid, f64> = table
            .into_iter()
            .take(MAX_TABLE)
            .filter_map(|(n, p)| {
                let n = n.parse::<Eid>().ok()?;
                (p.is_finite() && (0.0..=1.0).contains(&p)).then_some((n, p))
            })
            .collect();
        self.age(now);
        self.transitivity(from, &table);
        self.peer_p.insert(from.clone(), table);
    }

    fn explain(
        &mut self,
        now: DtnTime,
        destination: &Eid,
        _size: u64,
        _deadline: DtnTime,
        up: &dyn Fn(&Eid) -> bool,
    ) -> Explanation {
        self.age(now);
        let dest = destination.node_id();
        let mine = self.predictability(&dest);
        let mut notes = vec![format!("P({}, {dest}) = {mine:.3}", self.node)];
        let next_hop = if up(&dest) {
            notes.push(crate::handed_over(&dest));
            Some(dest.clone())
        } else {
            None
        };
        for (peer, table) in &self.peer_p {
            let theirs = table.get(&dest).copied().unwrap_or(0.0);
            notes.push(format!(
                "peer {peer}: P({peer}, {dest}) = {theirs:.3}: {}",
                if theirs > mine {
                    "a better carrier, gets a copy"
                } else {
                    "no better, gets none"
                }
            ));
        }
        if next_hop.is_none() && self.peer_p.is_empty() {
            notes.push("no peer with a table is up: the bundle waits".into());
        }
        Explanation {
            router: "prophet".into(),
            next_hop,
            notes,
            ..Explanation::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6693_2_1_2_encounters_aging_and_transitivity() {
        let (a, b, c) = (Eid::ipn(1, 0), Eid::ipn(2, 0), Eid::ipn(3, 0));
        let params = ProphetParams::default();
        let mut r = ProphetRouter::new(a.clone(), params);
        r.link_up(DtnTime(0), &b);
        assert_eq!(r.predictability(&b), 0.5, "first encounter");
        r.link_down(DtnTime(0), &b);
        r.link_up(DtnTime(0), &b);
        let second = 0.5 + (1.0 - 0.01 - 0.5) * 0.7;
        assert!((r.predictability(&b) - second).abs() < 1e-12);
        // Ten time units later: aged by gamma^10.
        r.age(DtnTime(10 * 30_000));
        assert!((r.predictability(&b) - second * 0.999f64.powi(10)).abs() < 1e-12);
        // B says it reaches C with 0.8: P(A,C) = P(A,B) * 0.8 * beta.
        let table = RouterMessage::Predictabilities([(c.to_string(), 0.8)].into()).encode();
        let p_ab = r.predictability(&b);
        r.on_message(DtnTime(10 * 30_000), &b, &table);
        assert!((r.predictability(&c) - p_ab * 0.8 * 0.9).abs() < 1e-12);
        // GRTR: B (0.8) is better than A (0.8 * 0.9 * P(A,B)) for C: a copy goes to B.
        assert_eq!(r.better_carriers(&c), vec![(b.clone(), 0.8)]);
        // Garbage and out-of-range values are ignored.
        r.on_message(DtnTime(0), &b, b"not json");
        let bad = RouterMessage::Predictabilities([(c.to_string(), 7.0)].into()).encode();
        r.on_message(DtnTime(10 * 30_000), &b, &bad);
        assert!(
            r.better_carriers(&c).is_empty(),
            "a table of junk replaces B's"
        );
    }
}

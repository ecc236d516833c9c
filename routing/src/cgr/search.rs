//! The earliest-arrival search over the contact graph (SABR's Dijkstra): vertices are
//! contacts, a contact's cost is when the bundle would have fully arrived at its receiving
//! node, and a contact can follow another when it leaves the node the other reaches.
//! Waiting at a node is free, so a path never needs to visit a node twice.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use bundle_agent::wire::{DtnTime, Eid};

use super::{Cgr, RouteQuery};
use crate::plan::ContactId;

/// Where a search starts and what it may not use.
pub(super) struct Start<'a> {
    /// The node, and when the bundle is ready there.
    pub node: &'a Eid,
    pub ready: DtnTime,
    /// Contacts the search may not use.
    pub excluded: &'a BTreeSet<ContactId>,
    /// Nodes the path may not enter (those of the root path, in Yen's algorithm).
    pub avoid: &'a BTreeSet<Eid>,
}

type Heap = BinaryHeap<Reverse<(DtnTime, usize, ContactId)>>;

/// The search's state: candidates by arrival, the best arrival per contact, and how each
/// was reached.
#[derive(Default)]
struct Frontier {
    heap: Heap,
    best: BTreeMap<ContactId, (DtnTime, usize)>,
    previous: BTreeMap<ContactId, Option<ContactId>>,
    settled: BTreeSet<ContactId>,
}

impl Cgr {
    /// The contacts of the earliest-arriving path from `start` to `q.to`, or `None`. Notes
    /// in `rejected` why contacts it looked at could not be used.
    pub(super) fn earliest(
        &self,
        start: &Start<'_>,
        q: &RouteQuery,
        mut rejected: Option<&mut BTreeMap<ContactId, super::Rejection>>,
    ) -> Option<Vec<ContactId>> {
        let mut f = Frontier::default();
        let no_nodes = BTreeSet::new();
        let at_start = (None, start.node, start.ready, 0);
        self.relax(
            &mut f,
            start,
            q,
            at_start,
            &no_nodes,
            rejected.as_deref_mut(),
        );
        while let Some(Reverse((arrival, hops, id))) = f.heap.pop() {
            if !f.settled.insert(id) {
                continue;
            }
            let Some(c) = self.plan.contact(id) else {
                continue;
            };
            if c.to == q.to {
                return Some(unwind(&f.previous, id));
            }
            // The nodes already on this path (loops never arrive earlier: waiting is free).
            let on_path: BTreeSet<Eid> = unwind(&f.previous, id)
                .iter()
                .filter_map(|p| self.plan.contact(*p).map(|c| c.from.clone()))
                .collect();
            let here = (Some(id), &c.to, arrival, hops);
            self.relax(&mut f, start, q, here, &on_path, rejected.as_deref_mut());
        }
        None
    }

    /// Offers every contact leaving `node` (reached by `via` at `ready` in `hops` hops).
    fn relax(
        &self,
        f: &mut Frontier,
        start: &Start<'_>,
        q: &RouteQuery,
        (via, node, ready, hops): (Option<ContactId>, &Eid, DtnTime, usize),
        on_path: &BTreeSet<Eid>,
        mut rejected: Option<&mut BTreeMap<ContactId, super::Rejection>>,
    ) {
        for &id in self.outgoing.get(node).map_or(&[][..], Vec::as_slice) {
            let Some(c) = self.plan.contact(id) else {
                continue;
            };
            if start.excluded.contains(&id)
                || f.settled.contains(&id)
                || start.avoid.contains(&c.to)
                || on_path.contains(&c.to)
                || c.to == *start.node
            {
                continue;
            }
            match self.hop_times(id, c, ready, q.size, q.deadline) {
                Ok((_, arrival)) => {
                    let candidate = (arrival, hops + 1);
                    if f.best.get(&id).is_none_or(|b| candidate < *b) {
                        f.best.insert(id, candidate);
                        f.previous.insert(id, via);
                        f.heap.push(Reverse((arrival, hops + 1, id)));
                    }
                }
                Err((id, why)) => {
                    if let Some(r) = rejected.as_deref_mut() {
                        r.entry(id).or_insert(why);
                    }
                }
            }
        }
    }
}

/// The contacts from the start to `last`, following `previous`.
fn unwind(previous: &BTreeMap<ContactId, Option<ContactId>>, last: ContactId) -> Vec<ContactId> {
    let mut path = vec![last];
    let mut at = last;
    while let Some(Some(p)) = previous.get(&at) {
        path.push(*p);
        at = *p;
        if path.len() > previous.len() {
            break; // cannot happen: each contact has one predecessor, set once settled
        }
    }
    path.reverse();
    path
}

//! The earliest-arrival search over the contact graph (SABR's Dijkstra): vertices are
//! contacts, a contact's cost is when the bundle would have fully arrived at its receiving
//! node, and a contact can follow another when it leaves the node the other reaches.
//! Waiting at a node is free, so a path that comes back to a node never arrives earlier
//! than waiting there would, and ties go to fewer hops: the search needs no loop checks
//! beyond the nodes Yen's algorithm tells it to avoid.

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

const UNSEEN: (DtnTime, usize) = (DtnTime(u64::MAX), usize::MAX);

impl Cgr {
    /// The contacts of the earliest-arriving path from `start` to `q.to`, or `None`. Notes
    /// in `rejected` why contacts it looked at could not be used.
    pub(super) fn earliest(
        &self,
        start: &Start<'_>,
        q: &RouteQuery,
        mut rejected: Option<&mut BTreeMap<ContactId, super::Rejection>>,
    ) -> Option<Vec<ContactId>> {
        let (Some(&origin), Some(&target)) =
            (self.node_index.get(start.node), self.node_index.get(&q.to))
        else {
            return None;
        };
        let mut avoid = vec![false; self.outgoing.len()];
        for n in start.avoid {
            if let Some(&i) = self.node_index.get(n) {
                if let Some(a) = avoid.get_mut(i) {
                    *a = true;
                }
            }
        }
        if let Some(a) = avoid.get_mut(origin) {
            *a = true;
        }
        let n = self.ends.len();
        let mut best = vec![UNSEEN; n];
        let mut previous: Vec<Option<ContactId>> = vec![None; n];
        let mut settled = vec![false; n];
        let mut heap: BinaryHeap<Reverse<(DtnTime, usize, ContactId)>> = BinaryHeap::new();
        let mut frontier = vec![(None, origin, start.ready, 0usize)];
        while let Some((via, node, ready, hops)) = frontier.pop() {
            for &id in self.outgoing.get(node).map_or(&[][..], Vec::as_slice) {
                let (Some(c), Some(&(_, to))) = (self.plan.contact(id), self.ends.get(id)) else {
                    continue;
                };
                if c.end <= ready
                    || settled.get(id).copied().unwrap_or(true)
                    || avoid.get(to).copied().unwrap_or(true)
                    || start.excluded.contains(&id)
                {
                    if c.end <= ready {
                        if let Some(r) = rejected.as_deref_mut() {
                            r.entry(id).or_insert(super::Rejection::Ended { at: c.end });
                        }
                    }
                    continue;
                }
                match self.hop_times(id, c, ready, q.size, q.deadline) {
                    Ok((_, arrival)) => {
                        let candidate = (arrival, hops + 1);
                        if let Some(b) = best.get_mut(id) {
                            if candidate < *b {
                                *b = candidate;
                                if let Some(p) = previous.get_mut(id) {
                                    *p = via;
                                }
                                heap.push(Reverse((arrival, hops + 1, id)));
                            }
                        }
                    }
                    Err((id, why)) => {
                        if let Some(r) = rejected.as_deref_mut() {
                            r.entry(id).or_insert(why);
                        }
                    }
                }
            }
            // The next contact to settle.
            while let Some(Reverse((arrival, hops, id))) = heap.pop() {
                match settled.get_mut(id) {
                    Some(s) if !*s => *s = true,
                    _ => continue,
                }
                let Some(&(_, to)) = self.ends.get(id) else {
                    continue;
                };
                if to == target {
                    return Some(unwind(&previous, id));
                }
                frontier.push((Some(id), to, arrival, hops));
                break;
            }
        }
        None
    }
}

/// The contacts from the start to `last`, following `previous`.
fn unwind(previous: &[Option<ContactId>], last: ContactId) -> Vec<ContactId> {
    let mut path = vec![last];
    let mut at = last;
    while let Some(Some(p)) = previous.get(at) {
        path.push(*p);
        at = *p;
        if path.len() > previous.len() {
            break; // cannot happen: a contact's predecessor is settled before it
        }
    }
    path.reverse();
    path
}

//! Alternative routes: Yen's k shortest loopless paths, over contacts, ranked by arrival.
//! Each next route deviates from an earlier one at some contact ("spur"); the part before
//! the spur is kept and its contacts, and the contacts earlier routes took at that point,
//! are excluded from the spur's search.

use std::collections::{BTreeMap, BTreeSet};

use bundle_agent::wire::Eid;

use super::search::Start;
use super::{route_order, Cgr, Rejection, RouteQuery};
use crate::plan::ContactId;

impl Cgr {
    /// Up to `self.k` routes for `q`, earliest first (paths of contacts).
    pub(super) fn k_routes(
        &self,
        q: &RouteQuery,
        rejected: Option<&mut BTreeMap<ContactId, Rejection>>,
    ) -> Vec<Vec<ContactId>> {
        let (no_contacts, no_nodes) = (BTreeSet::new(), BTreeSet::new());
        let start = Start {
            node: &q.from,
            ready: q.now,
            excluded: &no_contacts,
            avoid: &no_nodes,
        };
        let Some(first) = self.earliest(&start, q, rejected) else {
            return Vec::new();
        };
        let mut found = vec![first];
        let mut candidates: Vec<Vec<ContactId>> = Vec::new();
        while found.len() < self.k {
            let Some(last) = found.last().cloned() else {
                break;
            };
            for spur in 0..last.len() {
                let root = last.get(..spur).unwrap_or(&[]);
                // Where the root leaves the bundle, and when.
                let (node, ready) = if root.is_empty() {
                    (q.from.clone(), q.now)
                } else {
                    let partial = RouteQuery {
                        to: self
                            .plan
                            .contact(root.last().copied().unwrap_or(usize::MAX))
                            .map_or_else(|| q.to.clone(), |c| c.to.clone()),
                        ..q.clone()
                    };
                    match self.evaluate(root, &partial) {
                        Ok(r) => (partial.to, r.arrival),
                        Err(_) => continue,
                    }
                };
                let mut excluded: BTreeSet<ContactId> = root.iter().copied().collect();
                for p in found.iter().chain(candidates.iter()) {
                    if p.get(..spur) == Some(root) {
                        if let Some(&c) = p.get(spur) {
                            excluded.insert(c);
                        }
                    }
                }
                let avoid: BTreeSet<Eid> = root
                    .iter()
                    .filter_map(|c| self.plan.contact(*c).map(|c| c.from.clone()))
                    .collect();
                let start = Start {
                    node: &node,
                    ready,
                    excluded: &excluded,
                    avoid: &avoid,
                };
                if let Some(tail) = self.earliest(&start, q, None) {
                    let mut path = root.to_vec();
                    path.extend(tail);
                    if !found.contains(&path) && !candidates.contains(&path) {
                        candidates.push(path);
                    }
                }
            }
            // The best candidate becomes the next route.
            let mut ranked: Vec<(usize, super::Route)> = candidates
                .iter()
                .enumerate()
                .filter_map(|(i, p)| self.evaluate(p, q).ok().map(|r| (i, r)))
                .collect();
            ranked.sort_by(|a, b| route_order(&a.1, &b.1));
            let Some((i, _)) = ranked.first() else {
                break;
            };
            found.push(candidates.remove(*i));
        }
        found
    }
}

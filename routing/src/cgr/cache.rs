//! The route cache. Routes for a (node, destination) pair are computed once, for an empty
//! bundle at the time of the first request, and re-checked for each later bundle (size,
//! deadline, contacts ended, volume booked, contacts removed).
//!
//! A cached route is used only when it is provably still the earliest, and only for bundles
//! sent no earlier than the entry was filled: a path's arrival never gets earlier when the
//! bundle is bigger or sent later, so every path outside the
//! cache arrives no earlier than the last (k-th) cached path did when the cache was filled.
//! If the best cached route still arrives by then, nothing outside can beat it. Otherwise,
//! or when no cached route still works, the routes are computed afresh.
//!
//! Entries are kept per size class (powers of two): an entry is filled for the smallest
//! size of its class, so every bundle it answers is at least that big and the argument
//! above holds for it.
//!
//! When the cache cannot prove its answer, the router's path ([`Cgr::best_route`]) runs one
//! search for the bundle itself instead of refilling the entry with Yen's k searches; an
//! entry is refilled after [`MISSES_BEFORE_REFILL`] such misses in a row, so its bound
//! follows time as it moves on.

use std::collections::BTreeMap;

use bundle_agent::wire::{DtnTime, Eid};

use super::{route_order, Cgr, RouteQuery, RoutingAnswer};
use crate::plan::ContactId;

/// Misses in a row after which an entry is refilled rather than bypassed by one search.
pub(super) const MISSES_BEFORE_REFILL: u32 = 16;

/// The size an entry for bundles of `size` bytes is filled for: the largest power of two
/// not above it (0 for 0).
pub(super) fn size_class(size: u64) -> u64 {
    match size {
        0 => 0,
        s => 1 << (63 - s.leading_zeros()),
    }
}

#[derive(Debug, Clone)]
struct Entry {
    paths: Vec<Vec<ContactId>>,
    /// No path outside `paths` arrives before this (`None`: there is no other path).
    bound: Option<DtnTime>,
    /// Misses in a row since the entry was filled.
    misses: u32,
    /// When it was filled: the argument above holds for bundles sent then or later only.
    filled_at: DtnTime,
}

/// Routes per (node, destination), with hit counts.
#[derive(Debug, Clone, Default)]
pub(super) struct RouteCache {
    entries: BTreeMap<(Eid, Eid, u64), Entry>,
    /// Answers served from the cache.
    pub hits: u64,
    /// Answers computed afresh.
    pub misses: u64,
}

impl RouteCache {
    pub(super) fn clear(&mut self) {
        self.entries.clear();
    }

    /// The answer for `q` from the cache, when the cache provably has it.
    pub(super) fn lookup(&mut self, cgr: &Cgr, q: &RouteQuery) -> Option<RoutingAnswer> {
        let entry = self
            .entries
            .get(&(q.from.clone(), q.to.clone(), size_class(q.size)))?;
        if q.now < entry.filled_at {
            return None;
        }
        let mut routes: Vec<super::Route> = Vec::new();
        // Cached routes that no longer work explain themselves: their first unusable contact.
        let mut rejected = BTreeMap::new();
        for p in &entry.paths {
            match cgr.evaluate(p, q) {
                Ok(r) => routes.push(r),
                Err((id, why)) => {
                    rejected.entry(id).or_insert(why);
                }
            }
        }
        routes.sort_by(route_order);
        let best = routes.first()?;
        if entry.bound.is_some_and(|bound| best.arrival > bound) {
            return None;
        }
        let mut routes = routes.into_iter();
        Some(RoutingAnswer {
            best: routes.next(),
            alternatives: routes.collect(),
            rejected: rejected.into_iter().collect(),
            from_cache: true,
        })
    }

    /// Counts a miss on `q`'s entry; true when the entry exists and has not missed
    /// [`MISSES_BEFORE_REFILL`] times in a row (so one search may answer instead of a
    /// refill).
    pub(super) fn bypass(&mut self, q: &RouteQuery) -> bool {
        match self
            .entries
            .get_mut(&(q.from.clone(), q.to.clone(), size_class(q.size)))
        {
            Some(e) if e.misses < MISSES_BEFORE_REFILL => {
                e.misses += 1;
                true
            }
            _ => false,
        }
    }

    /// Fills the cache for `open`'s pair and size with `paths`: the k routes for a bundle
    /// of `open.size` bytes (a size class) with no deadline at `open.now`.
    pub(super) fn store(&mut self, cgr: &Cgr, open: &RouteQuery, paths: Vec<Vec<ContactId>>) {
        let arrivals: Vec<DtnTime> = paths
            .iter()
            .filter_map(|p| cgr.evaluate(p, open).ok().map(|r| r.arrival))
            .collect();
        let bound = if paths.len() < cgr.k {
            None // Yen ran out: there are no other paths
        } else {
            arrivals.iter().max().copied()
        };
        self.entries.insert(
            (open.from.clone(), open.to.clone(), open.size),
            Entry {
                paths,
                bound,
                misses: 0,
                filled_at: open.now,
            },
        );
    }
}

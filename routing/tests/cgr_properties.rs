//! CGR against an independent oracle on random small plans: an exhaustive walk of every
//! loopless contact path finds the true earliest arrival, which CGR must match, and every
//! route CGR returns must be one the oracle can follow with the same times. The route cache
//! must never change an answer.

// Test code: a panic is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bundle_agent::wire::{DtnTime, Eid};
use proptest::prelude::*;
use routing::{Cgr, Contact, ContactPlan, RouteQuery};

/// Earliest arrival at `to` over every loopless path, worked out independently of CGR:
/// at each hop, sending starts when both the bundle and the contact are there, takes
/// size/rate (rounded up to the ms), must end by the contact's end, and the light time is
/// added; the volume is the whole contact's (nothing is booked here).
fn oracle(contacts: &[Contact], q: &RouteQuery) -> Option<u64> {
    fn walk(
        contacts: &[Contact],
        q: &RouteQuery,
        node: &Eid,
        t: u64,
        visited: &mut Vec<Eid>,
        best: &mut Option<u64>,
    ) {
        if node == &q.to {
            *best = Some(best.map_or(t, |b| b.min(t)));
            return;
        }
        for c in contacts.iter().filter(|c| &c.from == node) {
            if visited.contains(&c.to) {
                continue;
            }
            let send = t.max(c.start.0);
            let needed = (u128::from(q.size) * 1000).div_ceil(u128::from(c.rate)) as u64;
            let volume = (u128::from(c.rate) * u128::from(c.end.0 - c.start.0) / 1000) as u64;
            if send >= c.end.0 || volume < q.size || send + needed > c.end.0 {
                continue;
            }
            let arrive = send + needed + c.owlt_ms;
            if arrive > q.deadline.0 {
                continue;
            }
            visited.push(c.to.clone());
            walk(contacts, q, &c.to, arrive, visited, best);
            visited.pop();
        }
    }
    let mut best = None;
    walk(
        contacts,
        q,
        &q.from,
        q.now.0,
        &mut vec![q.from.clone()],
        &mut best,
    );
    best
}

fn plan_strategy() -> impl Strategy<Value = Vec<Contact>> {
    // Up to 5 nodes, up to 14 contacts; times in seconds, rates small enough that size matters.
    prop::collection::vec(
        (1u32..=5, 1u32..=5, 0u64..100, 1u64..60, 1u64..50, 0u64..20),
        1..14,
    )
    .prop_map(|raw| {
        let mut out: Vec<Contact> = Vec::new();
        for (a, b, start, len, rate, owlt) in raw {
            if a == b {
                continue;
            }
            let c = Contact {
                from: Eid::ipn(a, 0),
                to: Eid::ipn(b, 0),
                start: DtnTime(start * 1000),
                end: DtnTime((start + len) * 1000),
                rate: rate * 10,
                owlt_ms: owlt * 1000,
                confidence: 1.0,
            };
            // Keep the plan valid: no overlap between the same two nodes.
            if out
                .iter()
                .any(|o| o.from == c.from && o.to == c.to && o.start < c.end && c.start < o.end)
            {
                continue;
            }
            out.push(c);
        }
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn earliest_arrival_matches_an_exhaustive_search(
        contacts in plan_strategy(),
        to in 2u32..=5,
        now in 0u64..80,
        size in 0u64..2000,
        deadline in 50u64..400,
    ) {
        prop_assume!(!contacts.is_empty());
        let plan = ContactPlan::new(contacts.clone()).unwrap();
        let mut cgr = Cgr::new(plan.clone(), 3);
        let q = RouteQuery {
            from: Eid::ipn(1, 0),
            to: Eid::ipn(to, 0),
            now: DtnTime(now * 1000),
            size,
            deadline: DtnTime(deadline * 1000),
        };
        let want = oracle(plan.contacts(), &q);
        let answer = cgr.route(&q);
        prop_assert_eq!(answer.best.as_ref().map(|r| r.arrival.0), want);
        for r in answer.best.iter().chain(&answer.alternatives) {
            // Each hop leaves the node the last one reached, within its contact.
            let mut node = q.from.clone();
            for h in &r.hops {
                let c = &plan.contacts()[h.contact];
                prop_assert_eq!(&c.from, &node);
                prop_assert!(h.send_at >= c.start && h.send_at < c.end);
                node = c.to.clone();
            }
            prop_assert_eq!(&node, &q.to);
            prop_assert!(r.arrival <= q.deadline);
        }
        // Asked again (from the cache), and asked later with a bigger bundle: the cache
        // gives what a fresh CGR gives.
        prop_assert_eq!(cgr.route(&q).best, answer.best);
        let later = RouteQuery { now: DtnTime((now + 7) * 1000), size: size + 100, ..q.clone() };
        let fresh = Cgr::new(plan.clone(), 3).route(&later);
        prop_assert_eq!(
            cgr.route(&later).best.map(|r| r.arrival),
            fresh.best.map(|r| r.arrival)
        );
        // A warm router asked again and again as time goes by (the cache grows its entries
        // by single searches) still gives the exhaustive search's earliest arrival.
        let mut router_path = Cgr::new(plan.clone(), 3);
        for step in [3u64, 10, 11, 25, 40, 60, 90] {
            let q = RouteQuery { now: DtnTime((now + step) * 1000), ..later.clone() };
            let want = oracle(plan.contacts(), &q);
            prop_assert_eq!(cgr.route(&q).best.map(|r| r.arrival.0), want, "at +{} s", step);
            // And the router's own path (cache, else one search) agrees.
            prop_assert_eq!(
                router_path.best_route(&q).map(|r| r.arrival.0),
                want,
                "best_route at +{} s",
                step
            );
        }
    }
}

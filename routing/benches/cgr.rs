//! CGR route computation on generated plans of 200 and 2,000 nodes, cold (a fresh router
//! for every bundle) and with the route cache warm (the same router, bundles to the same
//! destinations as time goes on). Prints a Markdown table.
//!
//! `cargo bench -p routing --bench cgr`. `CGR_BENCH_QUICK=1` runs a few queries (CI smoke).
//!
//! The plans: nodes on a ring with chords, each node linked to 4 others (about 2 links per
//! node, both directions); each link has a contact of 10 to 30 minutes every 1 to 3 hours
//! for a day, at 1 to 100 kB/s, one-way light time 0 to 2 s, and one link in 20 is a
//! long-haul one with 4 to 20 minutes of light time. Generated from a fixed seed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{Duration, Instant};

use bundle_agent::wire::{DtnTime, Eid};
use routing::{Cgr, Contact, ContactPlan, RouteQuery};

/// xorshift64*: a fixed-seed generator, enough for plan generation.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
}

const DAY_S: u64 = 86_400;

fn plan(nodes: u32, seed: u64) -> ContactPlan {
    let mut rng = Rng(seed);
    let mut links = Vec::new();
    for a in 1..=nodes {
        links.push((a, a % nodes + 1)); // the ring keeps it connected
        let b = rng.range(1, u64::from(nodes) + 1) as u32;
        if b != a {
            links.push((a, b));
        }
    }
    // One link per pair of nodes, whichever way it was drawn.
    for l in &mut links {
        *l = (l.0.min(l.1), l.0.max(l.1));
    }
    links.sort_unstable();
    links.dedup();
    let mut contacts = Vec::new();
    for (a, b) in links {
        let every = rng.range(3_600, 3 * 3_600);
        let length = rng.range(600, 1_800);
        let rate = rng.range(1_000, 100_000);
        let owlt = if rng.range(0, 20) == 0 {
            rng.range(240, 1_200)
        } else {
            rng.range(0, 3)
        };
        let mut start = rng.range(0, every);
        while start + length < DAY_S {
            for (from, to) in [(a, b), (b, a)] {
                contacts.push(Contact {
                    from: Eid::ipn(from, 0),
                    to: Eid::ipn(to, 0),
                    start: DtnTime(start * 1000),
                    end: DtnTime((start + length) * 1000),
                    rate,
                    owlt_ms: owlt * 1000,
                    confidence: 1.0,
                });
            }
            start += every;
        }
    }
    ContactPlan::new(contacts).unwrap()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let quick = std::env::var_os("CGR_BENCH_QUICK").is_some();
    println!("| plan | contacts | cold: route per bundle | warm, router path (best route) | warm, with alternatives | cache hits (router path) | routes found |");
    println!("|---|---|---|---|---|---|---|");
    for nodes in [200u32, 2_000] {
        let plan = plan(nodes, 0x5EED_0000 + u64::from(nodes));
        let mut rng = Rng(42);
        let pairs: Vec<(u32, u32)> = (0..if quick { 3 } else { 20 })
            .map(|_| {
                let a = rng.range(1, u64::from(nodes) + 1) as u32;
                let mut b = rng.range(1, u64::from(nodes) + 1) as u32;
                if a == b {
                    b = a % nodes + 1;
                }
                (a, b)
            })
            .collect();
        let query = |a: u32, b: u32, minute: u64| RouteQuery {
            from: Eid::ipn(a, 0),
            to: Eid::ipn(b, 0),
            now: DtnTime(minute * 60_000),
            size: 10_000,
            deadline: DtnTime(3 * DAY_S * 1000),
        };
        // Cold: a fresh router for every bundle.
        let mut cold = Vec::new();
        let mut found = 0;
        for &(a, b) in &pairs {
            let mut cgr = Cgr::new(plan.clone(), 3);
            let t = Instant::now();
            let answer = cgr.route(&query(a, b, 0));
            cold.push(t.elapsed());
            found += usize::from(answer.best.is_some());
        }
        // Warm: one router; each destination asked once to fill the cache, then bundles
        // for it every minute for the next `per_pair` minutes. The router path
        // (`best_route`, what `dtnd` forwards with) and the full answer with alternatives
        // (`route`, what `dtnctl route explain` shows), each on its own router.
        let per_pair = if quick { 5 } else { 100 };
        let mut alt = Cgr::new(plan.clone(), 3);
        for &(a, b) in &pairs {
            alt.route(&query(a, b, 0));
        }
        let mut with_alternatives = Vec::new();
        for minute in 1..=per_pair {
            for &(a, b) in &pairs {
                let t = Instant::now();
                let _ = alt.route(&query(a, b, minute));
                with_alternatives.push(t.elapsed());
            }
        }
        let mut cgr = Cgr::new(plan.clone(), 3);
        for &(a, b) in &pairs {
            cgr.route(&query(a, b, 0));
        }
        let (hits0, misses0) = cgr.cache_stats();
        let mut warm = Vec::new();
        for minute in 1..=per_pair {
            for &(a, b) in &pairs {
                let t = Instant::now();
                let _ = cgr.best_route(&query(a, b, minute));
                warm.push(t.elapsed());
            }
        }
        let (hits, misses) = cgr.cache_stats();
        let (hits, misses) = (hits - hits0, misses - misses0);
        let mean = |v: &[Duration]| v.iter().sum::<Duration>().as_secs_f64() * 1e3 / v.len() as f64;
        println!(
            "| {nodes} nodes | {} | {:.3} ms median, {:.3} ms mean ({} bundles) | {:.3} ms median, {:.3} ms mean ({} bundles) | {:.3} ms median, {:.3} ms mean | {:.0}% | {found} of {} |",
            plan.contacts().len(),
            median(cold.clone()).as_secs_f64() * 1e3,
            mean(&cold),
            cold.len(),
            median(warm.clone()).as_secs_f64() * 1e3,
            mean(&warm),
            warm.len(),
            median(with_alternatives.clone()).as_secs_f64() * 1e3,
            mean(&with_alternatives),
            100.0 * hits as f64 / (hits + misses).max(1) as f64,
            pairs.len()
        );
    }
}

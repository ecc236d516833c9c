//! The store's share of forwarding one bundle: what the agent asks of a `BundleStore` while a
//! bundle passes through a node, timed for our RocksDB store (on disk, syncing) and the
//! in-memory one, in the same run.
//!
//! `cargo bench -p bundle-agent --bench store` prints a Markdown table: bundles per second
//! and the store's CPU time per bundle (this thread's run time from `/proc/thread-self/
//! schedstat`; RocksDB's own background threads are not in it) for 1 KiB, 64 KiB and 1 MiB
//! bundles. Each cell is the median of 5 rounds; the rounds of the two stores alternate, so
//! a slow spell of the machine falls on both. `STORE_BENCH_QUICK=1` runs short rounds (a CI
//! smoke run; its figures are noisy); `STORE_BENCH_ONLY=1k,64k,1m` runs only the sizes named.
//! The store lives under `$TMPDIR`.
//!
//! One bundle's life, as the agent lives it on a node that forwards it (`agent/mod.rs`
//! `ingest`, `agent/forward.rs` `refill`, the acknowledgement), in groups of [`GROUP`] bundles
//! per sync (group commit):
//! 1. received: `log_for` (duplicate suppression; a duplicate still stored is found by
//!    `insert`), `insert`, `log` (Received);
//! 2. `sync` for the group;
//! 3. sent: `record`, `get` (the bytes to transmit);
//! 4. acknowledged by the next hop: `log` (Forwarded), `remove`; `sync` for the group.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Instant;

use bundle_agent::store::{
    BundleRecord, BundleStore, LogEntry, LogEvent, MemoryStore, Retention, RocksStore,
};
use bundle_agent::wire::{BundleId, CreationTimestamp, DtnTime, Eid};

/// Bundles per group commit.
const GROUP: u64 = 64;
/// Rounds per cell.
const ROUNDS: usize = 5;

/// This thread's CPU time so far, in nanoseconds (Linux `schedstat`); 0 elsewhere.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn record(seq: u64, size: usize) -> BundleRecord {
    BundleRecord {
        id: BundleId {
            source: Eid::ipn(1, 0),
            creation: CreationTimestamp::new(DtnTime(800_000_000_000), seq),
            fragment: None,
        },
        destination: Eid::ipn(2, 1),
        expires_at: DtnTime(800_003_600_000),
        received_at: DtnTime(800_000_000_000),
        size: size as u64,
        retention: Retention(Retention::FORWARD_PENDING),
        reports: 0,
        priority: 1,
    }
}

/// One store under measurement, with the next sequence number to use.
struct Subject {
    store: Box<dyn BundleStore>,
    next: u64,
    /// Bundles per second and CPU nanoseconds per bundle of each round.
    rounds: Vec<(f64, f64)>,
}

impl Subject {
    /// Passes `n` bundles of `payload` through the store, `GROUP` at a time.
    fn round(&mut self, payload: &[u8], n: u64) {
        let (wall, cpu) = (Instant::now(), thread_cpu_ns());
        let received = LogEntry {
            at: DtnTime(800_000_000_000),
            event: LogEvent::Received { from: None },
        };
        let forwarded = LogEntry {
            at: DtnTime(800_000_000_001),
            event: LogEvent::Forwarded { to: Eid::ipn(2, 0) },
        };
        let s = &mut self.store;
        for _ in 0..n / GROUP {
            let group: Vec<BundleRecord> = (self.next..self.next + GROUP)
                .map(|seq| record(seq, payload.len()))
                .collect();
            self.next += GROUP;
            for r in &group {
                assert!(s.log_for(&r.id).unwrap().is_empty());
                s.insert(r, payload).unwrap();
                s.log(&r.id, &received).unwrap();
            }
            s.sync().unwrap();
            for r in &group {
                assert!(s.record(&r.id).unwrap().is_some());
                assert_eq!(s.get(&r.id).unwrap().unwrap().len(), payload.len());
            }
            for r in &group {
                s.log(&r.id, &forwarded).unwrap();
                assert!(s.remove(&r.id).unwrap());
            }
            s.sync().unwrap();
        }
        let done = (n / GROUP * GROUP) as f64;
        let rate = done / wall.elapsed().as_secs_f64();
        let cpu = thread_cpu_ns().saturating_sub(cpu) as f64 / done;
        self.rounds.push((rate, cpu));
    }

    /// Median rate and median CPU time per bundle.
    fn medians(&mut self) -> (f64, f64) {
        let mut rates: Vec<f64> = self.rounds.iter().map(|r| r.0).collect();
        let mut cpus: Vec<f64> = self.rounds.iter().map(|r| r.1).collect();
        rates.sort_by(f64::total_cmp);
        cpus.sort_by(f64::total_cmp);
        self.rounds.clear();
        (rates[rates.len() / 2], cpus[cpus.len() / 2])
    }
}

fn cell((rate, cpu_ns): (f64, f64)) -> String {
    format!("{rate:.0}/s, {:.1} µs", cpu_ns / 1000.0)
}

fn main() {
    let quick = std::env::var_os("STORE_BENCH_QUICK").is_some();
    let dir = tempfile::tempdir().unwrap();
    let rocks = RocksStore::open(&dir.path().join("rocks"), u64::MAX).unwrap();
    let mut subjects = [
        Subject {
            store: Box::new(rocks),
            next: 0,
            rounds: Vec::new(),
        },
        Subject {
            store: Box::new(MemoryStore::new(u64::MAX)),
            next: 0,
            rounds: Vec::new(),
        },
    ];
    let only = std::env::var("STORE_BENCH_ONLY").ok();
    let sizes: [(usize, &str, &str, u64); 3] = [
        (1024, "1k", "1 KiB", 40_000),
        (64 << 10, "64k", "64 KiB", 4_000),
        (1 << 20, "1m", "1 MiB", 512),
    ];
    println!("| bundle | RocksDB store (on disk, syncing) | memory store |");
    println!("|---|---|---|");
    for (size, part, label, n) in sizes {
        if only
            .as_ref()
            .is_some_and(|o| !o.split(',').any(|p| p == part))
        {
            continue;
        }
        let n = if quick { (n / 20).max(GROUP) } else { n };
        let payload = vec![0x5a_u8; size];
        // A warm-up round each, not counted.
        for s in &mut subjects {
            s.round(&payload, n / 4);
            s.rounds.clear();
        }
        for _ in 0..ROUNDS {
            for s in &mut subjects {
                s.round(&payload, n);
            }
        }
        let [r, m] = &mut subjects;
        println!(
            "| {label} | {} | {} |",
            cell(r.medians()),
            cell(m.medians())
        );
    }
    println!();
    println!(
        "Each cell: bundles per second through the store, and the store's CPU time per bundle \
         on the calling thread ({GROUP} bundles per sync)."
    );
}

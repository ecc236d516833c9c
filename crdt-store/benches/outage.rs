//! Twin sync after an outage, against sending full snapshots. A twin of 10,000 fields is in
//! sync on two replicas; during a 6-hour outage one replica makes 1,000 edits (random
//! fields set to new readings). Then:
//!
//! - **delta**: the one delta the resync sends (`Twin::take_delta`), and applying it;
//! - **delta per edit**: what goes when the link is up, a delta after each edit;
//! - **snapshot**: the whole document (what a snapshot-based sync sends after the outage),
//!   and merging it;
//! - **snapshot per edit**: a snapshot after each edit.
//!
//! The size of the edits themselves is the field names and values they set (8 bytes a
//! number). Throughput is edits merged per second at the receiver. Prints a Markdown table.
//!
//!     cargo bench -p crdt-store --bench outage
//!
//! `TWIN_BENCH_QUICK=1` runs a smaller twin (1,000 fields, 100 edits) for CI.

// A benchmark: a panic is a failed run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Instant;

use bundle_agent::wire::Eid;
use crdt_store::{Edit, Limits, Policy, Tier, Twin, Value};

/// A deterministic stream (SplitMix64).
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn key(i: u64) -> String {
    format!("sensor/{i:05}")
}

fn replica(id: u32) -> Twin {
    Twin::new(
        "site/plant",
        id,
        Tier::Pod,
        Policy::open(),
        Limits {
            max_update: 64 << 20,
            max_document: 256 << 20,
        },
    )
}

fn main() {
    let quick = std::env::var_os("TWIN_BENCH_QUICK").is_some();
    let (fields, edits) = if quick {
        (1_000u64, 100u64)
    } else {
        (10_000, 1_000)
    };
    let (a_id, b_id) = (Eid::ipn(1, 0), Eid::ipn(2, 0));
    let mut rng = Mix(7);

    // Both replicas hold the same 10,000 fields.
    let mut a = replica(1);
    let initial: Vec<Edit> = (0..fields)
        .map(|i| Edit::Set {
            key: key(i),
            value: Value::Number((rng.next() % 10_000) as f64 / 100.0),
        })
        .collect();
    a.edit(&initial).unwrap();
    let mut b = replica(2);
    let first = a.take_delta(&b_id, Tier::Pod, false).unwrap();
    b.apply(&a_id, &first).unwrap();
    let back = b.take_delta(&a_id, Tier::Pod, true).unwrap();
    a.apply(&b_id, &back).unwrap();
    assert!(!a.behind(&b_id, Tier::Pod));

    // The outage: 1,000 edits at A, each also sent as its own delta (to a third replica
    // that stays in sync), and a snapshot taken after each.
    let mut per_edit = replica(3);
    per_edit.apply(&a_id, &first).unwrap();
    let c_id = Eid::ipn(3, 0);
    a.apply(&c_id, &per_edit.take_delta(&a_id, Tier::Pod, true).unwrap())
        .unwrap();
    let mut edit_bytes = 0u64;
    let mut per_edit_deltas = Vec::new();
    let mut per_edit_snapshot_bytes = 0u64;
    for _ in 0..edits {
        let k = key(rng.next() % fields);
        edit_bytes += k.len() as u64 + 8;
        a.edit(&[Edit::Set {
            key: k,
            value: Value::Number((rng.next() % 10_000) as f64 / 100.0),
        }])
        .unwrap();
        per_edit_deltas.push(a.take_delta(&c_id, Tier::Pod, false).unwrap());
        per_edit_snapshot_bytes += a
            .snapshot()
            .iter()
            .map(|j| j.update.len() as u64)
            .sum::<u64>();
    }

    // After the outage: one delta to B.
    let delta = a.take_delta(&b_id, Tier::Pod, false).unwrap();
    let mut b_delta = replica(2);
    b_delta.apply(&a_id, &first).unwrap();
    let t = Instant::now();
    b_delta.apply(&a_id, &delta).unwrap();
    let delta_secs = t.elapsed().as_secs_f64();

    // The same by snapshot: the whole document, merged into B's copy.
    let snapshot = a.snapshot();
    let snapshot_bytes: u64 = snapshot.iter().map(|j| j.update.len() as u64).sum();
    let mut b_snap = replica(2);
    b_snap.apply(&a_id, &first).unwrap();
    let t = Instant::now();
    for j in &snapshot {
        b_snap.restore(j).unwrap();
    }
    let snapshot_secs = t.elapsed().as_secs_f64();

    // Deltas one by one.
    let t = Instant::now();
    for d in &per_edit_deltas {
        per_edit.apply(&a_id, d).unwrap();
    }
    let per_edit_secs = t.elapsed().as_secs_f64();
    let per_edit_bytes: u64 = per_edit_deltas.iter().map(|d| d.len() as u64).sum();

    assert_eq!(b_delta.fields(), a.fields());
    assert_eq!(b_snap.fields(), a.fields());
    assert_eq!(per_edit.fields(), a.fields());

    let rate = |secs: f64| format!("{:.0}", edits as f64 / secs.max(1e-9));
    println!(
        "twin of {fields} fields, {edits} edits during the outage; the edits themselves: {edit_bytes} B ({:.1} B each)\n",
        edit_bytes as f64 / edits as f64
    );
    println!("| sync | bytes on the wire | per edit | vs the edits | merged, edits/s |");
    println!("|---|---|---|---|---|");
    let row = |name: &str, bytes: u64, secs: Option<f64>| {
        println!(
            "| {name} | {bytes} | {:.1} | {:.2}x | {} |",
            bytes as f64 / edits as f64,
            bytes as f64 / edit_bytes as f64,
            secs.map_or("-".into(), rate)
        );
    };
    row(
        "delta after the outage (ours)",
        delta.len() as u64,
        Some(delta_secs),
    );
    row(
        "delta per edit (ours, link up)",
        per_edit_bytes,
        Some(per_edit_secs),
    );
    row(
        "snapshot after the outage",
        snapshot_bytes,
        Some(snapshot_secs),
    );
    row("snapshot per edit", per_edit_snapshot_bytes, None);
    let ratio = delta.len() as f64 / edit_bytes as f64;
    println!(
        "\ngoal: the delta after the outage within 2x of the edits: {:.2}x, {}",
        ratio,
        if ratio <= 2.0 { "met" } else { "NOT met" }
    );
}

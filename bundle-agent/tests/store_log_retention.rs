//! The RocksDB store's forwarding log is bounded: an entry goes once both its time plus the
//! retention period and its bundle's expiry are past (by the agent's clock, the latest
//! entry's time), and not before; and the log keeps its order across a restart.
#![cfg(feature = "rocksdb")]
// Test code: a panic is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bundle_agent::store::{
    BundleRecord, BundleStore, LogEntry, LogEvent, Retention, RocksOptions, RocksStore,
};
use bundle_agent::wire::{BundleId, CreationTimestamp, DtnTime, Eid};

fn id(seq: u64) -> BundleId {
    BundleId {
        source: Eid::ipn(1, 0),
        creation: CreationTimestamp::new(DtnTime(1), seq),
        fragment: None,
    }
}

fn record(seq: u64, expires_at: u64) -> BundleRecord {
    BundleRecord {
        id: id(seq),
        destination: Eid::ipn(2, 1),
        expires_at: DtnTime(expires_at),
        received_at: DtnTime(10),
        size: 0,
        retention: Retention(Retention::FORWARD_PENDING),
        reports: 0,
        priority: 1,
    }
}

fn received(at: u64) -> LogEntry {
    LogEntry {
        at: DtnTime(at),
        event: LogEvent::Received { from: None },
    }
}

/// A week is far too long to wait for: 1 second of retention.
const RETENTION_MS: u64 = 1000;

fn options() -> RocksOptions {
    RocksOptions {
        log_retention: RETENTION_MS,
        ..RocksOptions::default()
    }
}

#[test]
fn log_entries_go_after_the_retention_and_their_bundles_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = RocksStore::open_with(dir.path(), 1 << 20, options()).unwrap();
    // 1: stored, lives long; 2: stored, expires before the retention ends; 3: never stored
    // (a deletion logged for a bundle refused on arrival).
    s.insert(&record(1, 1_000_000), b"long").unwrap();
    s.log(&id(1), &received(10)).unwrap();
    s.insert(&record(2, 50), b"short").unwrap();
    s.log(&id(2), &received(10)).unwrap();
    s.log(
        &id(3),
        &LogEntry {
            at: DtnTime(10),
            event: LogEvent::Deleted { reason: 1 },
        },
    )
    .unwrap();
    // Bundle 1 leaves (forwarded); its log stays.
    s.log(
        &id(1),
        &LogEntry {
            at: DtnTime(20),
            event: LogEvent::Forwarded { to: Eid::ipn(2, 0) },
        },
    )
    .unwrap();
    assert!(s.remove(&id(1)).unwrap());
    s.sync().unwrap();

    // At 1010 nothing is past its retention yet.
    s.log(&id(4), &received(10 + RETENTION_MS)).unwrap();
    s.compact_log().unwrap();
    for seq in 1..=4 {
        assert!(!s.log_for(&id(seq)).unwrap().is_empty(), "bundle {seq}");
    }

    // Later: 2 and 3 are past (2's expiry came before its retention ended); 1 lives on
    // until its bundle's expiry, so a copy arriving now is still a duplicate.
    s.log(&id(5), &received(10 + RETENTION_MS + 500)).unwrap();
    s.compact_log().unwrap();
    assert_eq!(s.log_for(&id(1)).unwrap().len(), 2);
    assert!(s.log_for(&id(2)).unwrap().is_empty());
    assert!(s.log_for(&id(3)).unwrap().is_empty());
    assert_eq!(s.log_for(&id(4)).unwrap().len(), 1);
    assert!(
        s.record(&id(2)).unwrap().is_some(),
        "only the log is pruned"
    );

    // Past bundle 1's expiry and its entries' retention, it goes too.
    s.log(&id(6), &received(1_000_000 + RETENTION_MS)).unwrap();
    s.compact_log().unwrap();
    assert!(s.log_for(&id(1)).unwrap().is_empty());
    assert_eq!(s.log_for(&id(6)).unwrap().len(), 1);
}

#[test]
fn log_keeps_its_order_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut s = RocksStore::open_with(dir.path(), 1 << 20, options()).unwrap();
        // One entry for bundle 9, whose key sorts last, then many for bundle 1: the last
        // key on disk is then the entry with the lowest sequence number.
        s.log(&id(9), &received(100)).unwrap();
        for at in 0..50 {
            s.log(&id(1), &received(101 + at)).unwrap();
        }
        s.sync().unwrap();
    }
    let mut s = RocksStore::open_with(dir.path(), 1 << 20, options()).unwrap();
    s.log(&id(1), &received(300)).unwrap();
    s.sync().unwrap();
    let log = s.log_for(&id(1)).unwrap();
    assert_eq!(log.len(), 51);
    assert!(log.windows(2).all(|w| w[0].at < w[1].at), "{log:?}");
}

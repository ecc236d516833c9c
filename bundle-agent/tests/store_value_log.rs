//! The RocksDB store's value log: bundle bytes in segment files beside the database.
//! Released segments go only after the commit that released them, mostly empty segments
//! are copied forward so disk use stays bounded, and what a crash or a bad disk leaves
//! behind (a pointer past a segment's end, a damaged value, a stray file) is handled on
//! open or reported as a typed error, never read as a bundle.
#![cfg(feature = "rocksdb")]
// Test code: a panic is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use bundle_agent::store::{
    BundleRecord, BundleStore, Retention, RocksOptions, RocksStore, StoreError,
};
use bundle_agent::wire::{BundleId, CreationTimestamp, DtnTime, Eid};

fn id(seq: u64) -> BundleId {
    BundleId {
        source: Eid::ipn(1, 0),
        creation: CreationTimestamp::new(DtnTime(1000), seq),
        fragment: None,
    }
}

fn record(seq: u64) -> BundleRecord {
    BundleRecord {
        id: id(seq),
        destination: Eid::ipn(2, 1),
        expires_at: DtnTime(10_000 + seq),
        received_at: DtnTime(5),
        size: 0,
        retention: Retention(Retention::FORWARD_PENDING),
        reports: 0,
        priority: 1,
    }
}

/// Small segments (three 400-byte values each) so a few bundles make several files.
fn small_segments(gc_slack: u64) -> RocksOptions {
    RocksOptions {
        value_log_min: 1,
        segment_bytes: 1000,
        gc_slack,
        log_retention: RocksOptions::LOG_RETENTION,
    }
}

/// The bytes bundle `seq` is stored with.
fn payload(seq: u64) -> Vec<u8> {
    vec![u8::try_from(seq).unwrap(); 400]
}

/// The segment files on disk, sorted.
fn segment_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir.join("values"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

fn fill(s: &mut RocksStore, seqs: std::ops::Range<u64>) {
    for seq in seqs {
        s.insert(&record(seq), &payload(seq)).unwrap();
    }
    s.sync().unwrap();
}

/// A closed store in a new directory holding bundles `seqs`, in segments never collected.
fn closed_store_with(seqs: std::ops::Range<u64>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut s = RocksStore::open_with(dir.path(), 1 << 20, small_segments(u64::MAX)).unwrap();
    fill(&mut s, seqs);
    dir
}

#[test]
fn a_released_segment_is_deleted_only_after_the_commit() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = RocksStore::open_with(dir.path(), 1 << 20, small_segments(u64::MAX)).unwrap();
    fill(&mut s, 0..10);
    assert_eq!(segment_files(dir.path()).len(), 4);
    let first = segment_files(dir.path())[0].clone();
    for seq in 0..3 {
        assert!(s.remove(&id(seq)).unwrap());
    }
    // Not yet durably removed: a crash now must still find the bytes.
    assert!(first.exists());
    s.sync().unwrap();
    assert!(!first.exists());
    assert_eq!(segment_files(dir.path()).len(), 3);
    for seq in 3..10 {
        assert_eq!(s.get(&id(seq)).unwrap().unwrap(), payload(seq));
    }
}

#[test]
fn mostly_released_segments_are_copied_forward_and_disk_use_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut s = RocksStore::open_with(dir.path(), 1 << 20, small_segments(0)).unwrap();
        fill(&mut s, 0..12);
        // Keep one bundle of every three: each sealed segment is two thirds garbage.
        for seq in (0..12).filter(|seq| seq % 3 != 0) {
            assert!(s.remove(&id(seq)).unwrap());
        }
        for _ in 0..20 {
            s.sync().unwrap();
        }
        let (files, on_disk, live) = s.value_log_usage();
        assert_eq!(live, 4 * 400);
        assert!(
            on_disk <= 2 * live + 1000,
            "{files} segments hold {on_disk} bytes for {live} live"
        );
        assert!(files <= 3, "{files} segments left");
        for seq in (0..12).step_by(3) {
            assert_eq!(s.get(&id(seq)).unwrap().unwrap(), payload(seq));
        }
    }
    // The moved pointers were committed: everything reads back after a reopen.
    let s = RocksStore::open_with(dir.path(), 1 << 20, small_segments(0)).unwrap();
    assert_eq!(s.usage().bundles, 4);
    assert_eq!(s.dropped_on_open(), 0);
    for seq in (0..12).step_by(3) {
        assert_eq!(s.get(&id(seq)).unwrap().unwrap(), payload(seq));
    }
}

#[test]
fn a_bundle_whose_bytes_never_became_durable_is_dropped_on_open() {
    let dir = closed_store_with(0..2);
    // As after a power loss that kept the database's log but not the value's tail.
    let seg = segment_files(dir.path())[0].clone();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(500)
        .unwrap();
    let s = RocksStore::open_with(dir.path(), 1 << 20, small_segments(u64::MAX)).unwrap();
    assert_eq!(s.dropped_on_open(), 1);
    assert_eq!(s.get(&id(0)).unwrap().unwrap(), payload(0));
    assert_eq!(s.get(&id(1)).unwrap(), None);
    assert_eq!(s.record(&id(1)).unwrap(), None);
    assert_eq!(s.usage().bundles, 1);
    assert_eq!(s.usage().bytes, 400);
    assert_eq!(s.records().unwrap().len(), 1);
    assert_eq!(s.expiring(DtnTime(u64::MAX), 10).unwrap(), vec![id(0)]);
}

#[test]
fn a_damaged_value_is_a_typed_error() {
    let dir = closed_store_with(0..1);
    let seg = segment_files(dir.path())[0].clone();
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[123] ^= 0x40;
    std::fs::write(&seg, bytes).unwrap();
    let s = RocksStore::open_with(dir.path(), 1 << 20, small_segments(u64::MAX)).unwrap();
    assert!(matches!(s.get(&id(0)), Err(StoreError::Corrupt(_))));
}

#[test]
fn segments_nothing_points_into_are_deleted_on_open_and_numbers_go_on() {
    let dir = closed_store_with(0..1);
    // Bytes appended for a bundle whose insertion never committed, in a later segment.
    let stray = dir.path().join("values").join("00000000000000ff.vlog");
    std::fs::write(&stray, [9u8; 300]).unwrap();
    let mut s = RocksStore::open_with(dir.path(), 1 << 20, small_segments(u64::MAX)).unwrap();
    assert!(!stray.exists());
    fill(&mut s, 1..2);
    let names: Vec<String> = segment_files(dir.path())
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["0000000000000001.vlog", "0000000000000100.vlog"]);
    assert_eq!(s.get(&id(1)).unwrap().unwrap(), payload(1));
}

#[test]
fn small_bundles_stay_in_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = RocksStore::open(dir.path(), 1 << 20).unwrap();
    s.insert(&record(1), &[1; 100]).unwrap();
    s.insert(&record(2), &[2; 8000]).unwrap();
    s.sync().unwrap();
    let (files, on_disk, live) = s.value_log_usage();
    assert_eq!((files, on_disk, live), (1, 8000, 8000));
    assert_eq!(s.get(&id(1)).unwrap().unwrap(), vec![1; 100]);
    assert_eq!(s.get(&id(2)).unwrap().unwrap(), vec![2; 8000]);
}

#[test]
fn a_segment_that_cannot_be_copied_forward_stays_and_commits_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = RocksStore::open_with(dir.path(), 1 << 20, small_segments(0)).unwrap();
    fill(&mut s, 0..6);
    for seq in [1, 2] {
        assert!(s.remove(&id(seq)).unwrap());
    }
    // Bundle 0, the one value left to copy out of the first segment, is damaged.
    let first = segment_files(dir.path())[0].clone();
    let mut bytes = std::fs::read(&first).unwrap();
    bytes[10] ^= 0x01;
    std::fs::write(&first, bytes).unwrap();
    s.sync().unwrap();
    s.sync().unwrap();
    assert!(first.exists());
    assert!(matches!(s.get(&id(0)), Err(StoreError::Corrupt(_))));
    fill(&mut s, 6..7);
    for seq in 3..7 {
        assert_eq!(s.get(&id(seq)).unwrap().unwrap(), payload(seq));
    }
}

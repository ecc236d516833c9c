//! One conformance suite for every `BundleStore`: the RocksDB store on disk and the memory
//! store run the same checks, and the RocksDB store also survives being closed and reopened.
//! The RocksDB store runs them twice: as configured by default, and with every bundle in
//! its value log (`value_log_min` of 1 byte), so both places a bundle can live are checked.

// Test code: a panic is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bundle_agent::store::{
    BundleRecord, BundleStore, DeliveryMode, Inserted, LogEntry, LogEvent, MemoryStore,
    Registration, Retention, StoreError,
};
#[cfg(feature = "rocksdb")]
use bundle_agent::store::{RocksOptions, RocksStore};
use bundle_agent::wire::{BundleId, CreationTimestamp, DtnTime, Eid};

fn id(node: u32, seq: u64) -> BundleId {
    BundleId {
        source: Eid::ipn(node, 0),
        creation: CreationTimestamp::new(DtnTime(1000), seq),
        fragment: None,
    }
}

fn record(id: &BundleId, dest: &str, expires: u64) -> BundleRecord {
    BundleRecord {
        id: id.clone(),
        destination: dest.parse().unwrap(),
        expires_at: DtnTime(expires),
        received_at: DtnTime(5),
        size: 0,
        retention: Retention(Retention::FORWARD_PENDING),
        reports: 0x0004_0000,
        priority: 1,
    }
}

/// Runs every check against stores made by `make` (each check gets a fresh store).
fn conformance<S: BundleStore>(make: impl Fn(u64) -> S) {
    insert_get_and_duplicates(&mut make(1 << 20));
    quota_refuses_without_losing_anything(&mut make(100));
    fragments_index(&mut make(1 << 20));
    expiry_index(&mut make(1 << 20));
    expiry_index_after_removals(&mut make(1 << 20));
    update_moves_index_entries(&mut make(1 << 20));
    remove_keeps_the_log(&mut make(1 << 20));
    registrations(&mut make(1 << 20));
    fragments_are_distinct_bundles(&mut make(1 << 20));
    records_keep_their_priority(&mut make(1 << 20));
}

fn records_keep_their_priority(s: &mut impl BundleStore) {
    let a = id(1, 1);
    let expedited = BundleRecord {
        priority: 2,
        ..record(&a, "ipn:2.1", 50)
    };
    s.insert(&expedited, b"x").unwrap();
    s.sync().unwrap();
    assert_eq!(s.record(&a).unwrap().unwrap().priority, 2);
    assert_eq!(s.records().unwrap()[0].priority, 2);
}

fn insert_get_and_duplicates(s: &mut impl BundleStore) {
    let a = id(1, 1);
    assert_eq!(
        s.insert(&record(&a, "ipn:2.1", 50), b"bundle-a").unwrap(),
        Inserted::New
    );
    s.sync().unwrap();
    assert_eq!(s.get(&a).unwrap().as_deref(), Some(&b"bundle-a"[..]));
    let r = s.record(&a).unwrap().unwrap();
    assert_eq!(r.size, 8, "the store records the real size");
    assert_eq!(r.destination.to_string(), "ipn:2.1");
    // RFC 9171 §5.6 step 2's duplicate suppression relies on this.
    assert_eq!(
        s.insert(&record(&a, "ipn:9.9", 1), b"other").unwrap(),
        Inserted::Duplicate
    );
    assert_eq!(s.get(&a).unwrap().as_deref(), Some(&b"bundle-a"[..]));
    assert_eq!(s.get(&id(1, 2)).unwrap(), None);
    assert_eq!(s.usage().bundles, 1);
    assert_eq!(s.usage().bytes, 8);
    assert_eq!(s.records().unwrap().len(), 1);
}

fn quota_refuses_without_losing_anything(s: &mut impl BundleStore) {
    assert_eq!(
        s.insert(&record(&id(1, 1), "ipn:2.1", 50), &[1; 60])
            .unwrap(),
        Inserted::New
    );
    match s.insert(&record(&id(1, 2), "ipn:2.1", 50), &[2; 50]) {
        Err(StoreError::QuotaExceeded {
            needed: 50,
            available: 40,
            quota: 100,
        }) => {}
        other => panic!("expected quota refusal, got {other:?}"),
    }
    assert_eq!(s.get(&id(1, 1)).unwrap().unwrap().len(), 60);
    assert_eq!(s.get(&id(1, 2)).unwrap(), None);
    assert_eq!(s.usage().bytes, 60);
    assert!(s.remove(&id(1, 1)).unwrap());
    assert_eq!(
        s.insert(&record(&id(1, 2), "ipn:2.1", 50), &[2; 50])
            .unwrap(),
        Inserted::New
    );
    assert_eq!(s.usage().bytes, 50);
}

/// Reassembly (RFC 9171 §5.9) finds the fragments of one bundle by its source and creation
/// timestamp, whatever else is stored.
fn fragments_index(s: &mut impl BundleStore) {
    let frag = |whole: &BundleId, offset, len| BundleId {
        fragment: Some((offset, len)),
        ..whole.clone()
    };
    let (a, b) = (id(1, 1), id(1, 2));
    let other_source = id(12, 1);
    let stored = [
        frag(&a, 20, 10),
        a.clone(),
        frag(&b, 0, 10),
        frag(&a, 0, 10),
        frag(&other_source, 0, 10),
        frag(&a, 0, 5),
        id(1, 3),
    ];
    for (i, f) in stored.iter().enumerate() {
        let dest = if i % 2 == 0 { "ipn:2.1" } else { "ipn:3.1" };
        s.insert(&record(f, dest, 50), b"x").unwrap();
    }
    assert_eq!(
        s.fragments_of(&a).unwrap(),
        vec![frag(&a, 0, 5), frag(&a, 0, 10), frag(&a, 20, 10)],
        "by offset, then length; the whole bundle and other bundles left out"
    );
    assert_eq!(
        s.fragments_of(&frag(&b, 7, 7)).unwrap(),
        vec![frag(&b, 0, 10)]
    );
    assert!(s.fragments_of(&id(1, 3)).unwrap().is_empty());
    assert!(s.remove(&frag(&a, 0, 10)).unwrap());
    assert_eq!(s.fragments_of(&a).unwrap().len(), 2);
}

fn expiry_index(s: &mut impl BundleStore) {
    for (seq, expires) in [(0, 300), (1, 100), (2, 200), (3, 100)] {
        s.insert(&record(&id(1, seq), "ipn:2.1", expires), b"x")
            .unwrap();
    }
    assert_eq!(s.expiring(DtnTime(99), 10).unwrap(), vec![]);
    assert_eq!(
        s.expiring(DtnTime(100), 10).unwrap(),
        vec![id(1, 1), id(1, 3)]
    );
    assert_eq!(
        s.expiring(DtnTime(250), 10).unwrap(),
        vec![id(1, 1), id(1, 3), id(1, 2)]
    );
    assert_eq!(s.expiring(DtnTime(1000), 2).unwrap().len(), 2);
}

/// Scans start past entries already removed (the RocksDB store remembers where live entries
/// begin); a bundle that expires before all of them must still be found.
fn expiry_index_after_removals(s: &mut impl BundleStore) {
    for seq in 0..50 {
        s.insert(&record(&id(1, seq), "ipn:2.1", 1000 + seq), b"x")
            .unwrap();
    }
    for _ in 0..5 {
        for gone in s.expiring(DtnTime(1000 + 100), 10).unwrap() {
            assert!(s.remove(&gone).unwrap());
        }
    }
    assert_eq!(s.expiring(DtnTime(u64::MAX), 1).unwrap(), vec![]);
    s.insert(&record(&id(2, 1), "ipn:2.1", 500), b"x").unwrap();
    s.insert(&record(&id(2, 2), "ipn:2.1", 2000), b"x").unwrap();
    assert_eq!(
        s.expiring(DtnTime(u64::MAX), 10).unwrap(),
        vec![id(2, 1), id(2, 2)]
    );
    let mut later = record(&id(2, 2), "ipn:2.1", 100);
    later.retention = Retention(Retention::DISPATCH_PENDING);
    assert!(s.update_record(&later).unwrap());
    assert_eq!(
        s.expiring(DtnTime(u64::MAX), 10).unwrap(),
        vec![id(2, 2), id(2, 1)]
    );
}

fn update_moves_index_entries(s: &mut impl BundleStore) {
    let a = id(1, 1);
    s.insert(&record(&a, "ipn:2.1", 100), b"xyz").unwrap();
    let mut r = record(&a, "ipn:3.1", 500);
    r.retention = Retention(Retention::DISPATCH_PENDING);
    assert!(s.update_record(&r).unwrap());
    assert_eq!(s.record(&a).unwrap().unwrap().destination, Eid::ipn(3, 1));
    assert!(s.expiring(DtnTime(100), 10).unwrap().is_empty());
    assert_eq!(s.expiring(DtnTime(500), 10).unwrap(), vec![a.clone()]);
    let stored = s.record(&a).unwrap().unwrap();
    assert_eq!(stored.size, 3, "size is the store's, not the caller's");
    assert!(stored.retention.has(Retention::DISPATCH_PENDING));
    assert!(!s.update_record(&record(&id(7, 7), "ipn:2.1", 1)).unwrap());
}

fn remove_keeps_the_log(s: &mut impl BundleStore) {
    let a = id(1, 1);
    s.insert(&record(&a, "ipn:2.1", 100), b"xyz").unwrap();
    let events = [
        LogEntry {
            at: DtnTime(1),
            event: LogEvent::Received {
                from: Some(Eid::ipn(9, 0)),
            },
        },
        LogEntry {
            at: DtnTime(2),
            event: LogEvent::Forwarded { to: Eid::ipn(3, 0) },
        },
        LogEntry {
            at: DtnTime(3),
            event: LogEvent::Deleted { reason: 1 },
        },
    ];
    for e in &events {
        s.log(&a, e).unwrap();
    }
    s.log(
        &id(1, 2),
        &LogEntry {
            at: DtnTime(4),
            event: LogEvent::Received { from: None },
        },
    )
    .unwrap();
    assert!(s.remove(&a).unwrap());
    assert!(!s.remove(&a).unwrap());
    assert_eq!(s.get(&a).unwrap(), None);
    assert!(s.records().unwrap().is_empty());
    assert!(s.expiring(DtnTime(u64::MAX), 10).unwrap().is_empty());
    assert_eq!(s.usage().bundles, 0);
    assert_eq!(s.log_for(&a).unwrap(), events.to_vec());
    assert_eq!(s.log_for(&id(1, 2)).unwrap().len(), 1);
}

fn registrations(s: &mut impl BundleStore) {
    let e: Eid = "dtn://node/app".parse().unwrap();
    s.put_registration(&Registration {
        endpoint: e.clone(),
        mode: DeliveryMode::Active,
    })
    .unwrap();
    s.put_registration(&Registration {
        endpoint: Eid::ipn(1, 7),
        mode: DeliveryMode::Passive,
    })
    .unwrap();
    s.put_registration(&Registration {
        endpoint: e.clone(),
        mode: DeliveryMode::Passive,
    })
    .unwrap();
    let regs = s.registrations().unwrap();
    assert_eq!(regs.len(), 2);
    assert!(regs.iter().all(|r| r.mode == DeliveryMode::Passive));
    assert!(s.remove_registration(&e).unwrap());
    assert!(!s.remove_registration(&e).unwrap());
    assert_eq!(s.registrations().unwrap().len(), 1);
}

fn fragments_are_distinct_bundles(s: &mut impl BundleStore) {
    let whole = id(1, 1);
    let frag = |offset| BundleId {
        fragment: Some((offset, 10)),
        ..whole.clone()
    };
    for (i, b) in [whole.clone(), frag(0), frag(10)].iter().enumerate() {
        assert_eq!(
            s.insert(&record(b, "ipn:2.1", 100), &[i as u8]).unwrap(),
            Inserted::New
        );
    }
    assert_eq!(s.get(&frag(10)).unwrap(), Some(vec![2]));
    assert_eq!(s.records().unwrap().len(), 3);
    assert_eq!(s.fragments_of(&whole).unwrap(), vec![frag(0), frag(10)]);
}

#[test]
fn memory_store_conforms() {
    conformance(MemoryStore::new);
}

/// Every bundle in the value log.
#[cfg(feature = "rocksdb")]
const ALL_IN_VALUE_LOG: RocksOptions = RocksOptions {
    value_log_min: 1,
    segment_bytes: 64 << 20,
    gc_slack: 256 << 20,
    log_retention: RocksOptions::LOG_RETENTION,
};

#[cfg(feature = "rocksdb")]
fn rocks_conformance(options: RocksOptions) {
    let dirs: std::cell::RefCell<Vec<tempfile::TempDir>> = std::cell::RefCell::new(Vec::new());
    conformance(|quota| {
        let dir = tempfile::tempdir().unwrap();
        let store = RocksStore::open_with(dir.path(), quota, options).unwrap();
        dirs.borrow_mut().push(dir);
        store
    });
}

#[cfg(feature = "rocksdb")]
#[test]
fn rocks_store_conforms() {
    rocks_conformance(RocksOptions::default());
}

#[cfg(feature = "rocksdb")]
#[test]
fn rocks_store_with_every_bundle_in_its_value_log_conforms() {
    rocks_conformance(ALL_IN_VALUE_LOG);
}

#[cfg(feature = "rocksdb")]
#[test]
fn rocks_store_keeps_everything_across_reopen() {
    keeps_everything_across_reopen(RocksOptions::default());
}

#[cfg(feature = "rocksdb")]
#[test]
fn rocks_store_keeps_its_value_log_across_reopen() {
    keeps_everything_across_reopen(ALL_IN_VALUE_LOG);
}

#[cfg(feature = "rocksdb")]
fn keeps_everything_across_reopen(options: RocksOptions) {
    let dir = tempfile::tempdir().unwrap();
    let a = id(1, 1);
    {
        let mut s = RocksStore::open_with(dir.path(), 1000, options).unwrap();
        s.insert(&record(&a, "ipn:2.1", 100), &[7; 100]).unwrap();
        s.insert(&record(&id(1, 2), "ipn:2.1", 200), &[8; 50])
            .unwrap();
        s.put_registration(&Registration {
            endpoint: Eid::ipn(1, 7),
            mode: DeliveryMode::Active,
        })
        .unwrap();
        s.log(
            &a,
            &LogEntry {
                at: DtnTime(1),
                event: LogEvent::Received { from: None },
            },
        )
        .unwrap();
        s.sync().unwrap();
    }
    let mut s = RocksStore::open_with(dir.path(), 1000, options).unwrap();
    assert_eq!(s.usage().bundles, 2);
    assert_eq!(s.usage().bytes, 150);
    assert_eq!(s.get(&a).unwrap().unwrap(), vec![7; 100]);
    assert_eq!(s.registrations().unwrap().len(), 1);
    // The log keeps its order across the reopen.
    s.log(
        &a,
        &LogEntry {
            at: DtnTime(2),
            event: LogEvent::Delivered {
                endpoint: Eid::ipn(2, 1),
            },
        },
    )
    .unwrap();
    let log = s.log_for(&a).unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(log[1].at, DtnTime(2));
    // The quota counts what was already there.
    assert!(matches!(
        s.insert(&record(&id(1, 3), "ipn:2.1", 1), &[0; 900]),
        Err(StoreError::QuotaExceeded { .. })
    ));
}

/// A database written by a version that kept a destination index (the `by_destination`
/// column family) opens, keeps its bundles, and loses the family.
#[cfg(feature = "rocksdb")]
#[test]
fn rocks_store_drops_the_retired_destination_index() {
    let dir = tempfile::tempdir().unwrap();
    let a = id(1, 1);
    {
        let mut s = RocksStore::open(dir.path(), 1000).unwrap();
        s.insert(&record(&a, "ipn:2.1", 100), &[7; 10]).unwrap();
        s.sync().unwrap();
    }
    {
        let opts = rocksdb::Options::default();
        let families = rocksdb::DB::list_cf(&opts, dir.path()).unwrap();
        let mut db = rocksdb::DB::open_cf(&opts, dir.path(), &families).unwrap();
        db.create_cf("by_destination", &opts).unwrap();
        let cf = db.cf_handle("by_destination").unwrap();
        db.put_cf(cf, b"old index entry", b"").unwrap();
    }
    let s = RocksStore::open(dir.path(), 1000).unwrap();
    assert_eq!(s.get(&a).unwrap().unwrap(), vec![7; 10]);
    drop(s);
    let families = rocksdb::DB::list_cf(&rocksdb::Options::default(), dir.path()).unwrap();
    assert!(
        !families.iter().any(|f| f == "by_destination"),
        "{families:?}"
    );
}

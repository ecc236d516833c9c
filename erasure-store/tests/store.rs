//! The blob store on disk: put, get, has, list and delete with reference counts, the quota,
//! a blob damaged on disk reported and never returned, and everything kept across a reopen.

// Test code: a panic is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use erasure_store::{BlobStore, Hash, StoreError};

#[test]
fn put_get_refcount_quota_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let a = vec![7u8; 3000];
    let b = b"model weights v2".to_vec();
    let (ha, hb);
    {
        let mut s = BlobStore::open(dir.path(), 4000).unwrap();
        ha = s.put(&a).unwrap();
        assert_eq!(ha, Hash::of(&a));
        assert_eq!(s.put(&a).unwrap(), ha, "the same bytes, the same address");
        assert_eq!(s.info(&ha).unwrap().refs, 2);
        assert_eq!(s.usage(), (3000, 4000), "stored once");
        hb = s.put(&b).unwrap();
        assert!(matches!(
            s.put(&[1u8; 2000]),
            Err(StoreError::QuotaExceeded { .. })
        ));
        assert_eq!(s.list().len(), 2);
        assert_eq!(s.read_range(&ha, 10, 5).unwrap(), vec![7u8; 5]);
        assert_eq!(s.delete(&ha).unwrap(), 1, "one holder left");
        assert!(s.has(&ha));
    }
    let mut s = BlobStore::open(dir.path(), 4000).unwrap();
    assert_eq!(s.get(&ha).unwrap(), a);
    assert_eq!(s.get(&hb).unwrap(), b);
    assert_eq!(s.info(&ha).unwrap().refs, 1);
    assert_eq!(s.delete(&ha).unwrap(), 0);
    assert!(!s.has(&ha));
    assert!(matches!(s.get(&ha), Err(StoreError::NotFound(_))));
    assert_eq!(s.usage().0, b.len() as u64);
    // Damage on disk is caught on reading.
    std::fs::write(dir.path().join("blobs").join(hb.to_hex()), b"tampered").unwrap();
    assert!(matches!(s.get(&hb), Err(StoreError::Damaged(..))));
}

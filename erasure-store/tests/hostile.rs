//! Hostile blob payloads: the fuzz target's seeds (`fuzz/corpus/blob_message/seed-*`, crashes
//! it found among them) and random bytes go through the manifest and message decoders and a
//! transfer machine in the default test run: refused or taken, never a panic.

// Test code: a panic is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bundle_agent::wire::Eid;
use erasure_store::wire::Message;
use erasure_store::{BlobStore, Manifest, TransferConfig, Transfers};
use proptest::prelude::*;

fn feed(store: &mut BlobStore, t: &mut Transfers, data: &[u8]) {
    let _ = Manifest::decode(data, 1 << 30);
    if let Ok(m) = Message::decode(data) {
        assert_eq!(m.encode(), data);
    }
    let _ = t.receive(0, store, &Eid::ipn(2, 66), data);
    t.tick(3_600_000);
    while t.poll_outgoing(store).is_some() {}
}

#[test]
fn the_fuzz_seeds_are_refused_or_taken() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/blob_message");
    let tmp = tempfile::tempdir().unwrap();
    let mut store = BlobStore::open(tmp.path(), 1 << 24).unwrap();
    let mut t = Transfers::open(TransferConfig::default(), &store, 0).unwrap();
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("seed-")
        {
            feed(&mut store, &mut t, &std::fs::read(&path).unwrap());
            seen += 1;
        }
    }
    assert!(seen >= 5, "{seen} seeds in {}", dir.display());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn random_payloads_never_panic(
        magic in prop_oneof![Just(&b"BLOBMAN1"[..]), Just(&b"BLOBSHD1"[..]), Just(&b"BLOBREQ1"[..]), Just(&b"BLOBDONE"[..])],
        rest in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let mut store = BlobStore::open(tmp.path(), 1 << 20).unwrap();
        let mut t = Transfers::open(TransferConfig::default(), &store, 0).unwrap();
        let mut data = magic.to_vec();
        data.extend(rest);
        feed(&mut store, &mut t, &data);
    }
}

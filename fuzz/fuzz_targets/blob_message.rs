//! Blob transfer payloads from a peer: any bytes are refused with an error or taken, never a
//! panic, and nothing is allocated for what a manifest or request merely declares.
#![no_main]

use bundle_agent::wire::Eid;
use erasure_store::wire::Message;
use erasure_store::{BlobStore, Manifest, TransferConfig, Transfers};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Manifest::decode(data, 1 << 30);
    if let Ok(m) = Message::decode(data) {
        // What decodes encodes back to the same bytes (a manifest is kept as it came).
        assert_eq!(m.encode(), data);
    }
    let dir = std::env::temp_dir().join(format!("blob-fuzz-{}", std::process::id()));
    let Ok(mut store) = BlobStore::open(&dir, 1 << 24) else {
        return;
    };
    let Ok(mut t) = Transfers::open(TransferConfig::default(), &store, 0) else {
        return;
    };
    let _ = t.receive(0, &mut store, &Eid::ipn(2, 66), data);
    t.tick(3_600_000);
    while t.poll_outgoing(&store).is_some() {}
});

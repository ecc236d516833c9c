//! Blob transfer payloads from a peer: any bytes are refused with an error or taken, never a
//! panic, and nothing is allocated for what a manifest or request merely declares.
#![no_main]

use std::sync::{Mutex, OnceLock};

use bundle_agent::wire::Eid;
use erasure_store::wire::Message;
use erasure_store::{BlobStore, Manifest, TransferConfig, Transfers};
use libfuzzer_sys::fuzz_target;

/// One store and transfer machine for the whole run (opening them per input is slow); what
/// the inputs leave behind is bounded by the quota and the transfer limit.
fn node() -> &'static Mutex<(BlobStore, Transfers)> {
    static NODE: OnceLock<Mutex<(BlobStore, Transfers)>> = OnceLock::new();
    NODE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("blob-fuzz-{}", std::process::id()));
        let store = BlobStore::open(&dir, 1 << 24).expect("a blob store in the temp dir");
        let t = Transfers::open(TransferConfig::default(), &store, 0).expect("transfers");
        Mutex::new((store, t))
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = Manifest::decode(data, 1 << 30);
    if let Ok(m) = Message::decode(data) {
        // What decodes encodes back to the same bytes (a manifest is kept as it came).
        assert_eq!(m.encode(), data);
    }
    let Ok(mut guard) = node().lock() else {
        return;
    };
    let (store, t) = &mut *guard;
    let _ = t.receive(0, store, &Eid::ipn(2, 66), data);
    t.tick(3_600_000);
    while t.poll_outgoing(store).is_some() {}
});

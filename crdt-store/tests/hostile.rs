//! Hostile payloads: random bytes, and valid envelopes around random state vectors and
//! updates, are refused with an error (or merged, when they happen to be valid), never a
//! panic, and a refused payload leaves the replica as it was.

// Test code: a panic is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bundle_agent::wire::Eid;
use crdt_store::{DeltaMessage, Limits, Twin, Value};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    #[ignore = "yrs's lib0 v1 decoder allocates what an update declares: a 200-byte payload \
                aborted the process asking for 36 GB. Twin deltas must pass a bounded check \
                of the update's structure before yrs decodes them; until then this fails, and \
                crdt-store is not wired to the network"]
    fn garbage_never_panics_and_refusals_change_nothing(
        raw in proptest::collection::vec(any::<u8>(), 0..200),
        sv in proptest::collection::vec(any::<u8>(), 0..40),
        update in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut t = Twin::new("tile3/sensors", 1, Limits::default());
        t.set("temp", Value::Number(21.5)).unwrap();
        let before = t.fields();
        let peer = Eid::ipn(9, 0);
        if t.apply(&peer, &raw).is_err() {
            prop_assert_eq!(&t.fields(), &before);
        }
        let wrapped = DeltaMessage { twin: "tile3/sensors", state_vector: &sv, update: &update }.encode();
        if t.apply(&peer, &wrapped).is_err() {
            prop_assert_eq!(&t.fields(), &before);
        }
    }
}

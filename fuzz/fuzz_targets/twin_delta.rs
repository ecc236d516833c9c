//! Twin deltas from a peer: any bytes, as a whole message and as the update inside a valid
//! envelope, are refused with an error or merged, never a panic (libFuzzer aborts on any
//! panic, also one yrs raises behind the twin's guard), and a refusal changes nothing.
#![no_main]

use bundle_agent::wire::Eid;
use crdt_store::message::Part;
use crdt_store::{DeltaMessage, Edit, Limits, Policy, Tier, Twin, TwinError, Value};
use libfuzzer_sys::fuzz_target;

fn check(twin: &mut Twin, payload: &[u8]) {
    let before = twin.fields();
    match twin.apply(&Eid::ipn(9, 0), payload) {
        Ok(_) => {}
        Err(TwinError::Poisoned(e)) => panic!("yrs failed on a checked update: {e}"),
        Err(_) => assert_eq!(twin.fields(), before, "a refusal changed the twin"),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut twin = Twin::new("t", 1, Tier::Tile, Policy::open(), Limits::default());
    let _ = twin.edit(&[
        Edit::Set {
            key: "temp".into(),
            value: Value::Number(21.5),
        },
        Edit::SetText {
            key: "notes".into(),
            text: "ok".into(),
        },
    ]);
    check(&mut twin, data);
    let wrapped = DeltaMessage {
        twin: "t",
        parts: vec![Part {
            scope: Tier::Planet,
            state_vector: &[0],
            deletions: 0,
            update: data,
        }],
    }
    .encode();
    check(&mut twin, &wrapped);
});

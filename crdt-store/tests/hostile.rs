//! Hostile payloads: random bytes, valid envelopes around random state vectors and
//! updates, and real updates with bytes flipped, cut or spliced, are refused with an error
//! (or merged, when they happen to be valid), never a panic or an outsized allocation, and a
//! refused payload leaves the replica as it was.

// Test code: a panic is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bundle_agent::wire::Eid;
use crdt_store::message::Part;
use crdt_store::{DeltaMessage, Edit, Limits, Policy, Tier, Twin, TwinError, Value};
use proptest::prelude::*;

fn target() -> Twin {
    let mut t = Twin::new(
        "tile3/sensors",
        1,
        Tier::Tile,
        Policy::open(),
        Limits::default(),
    );
    t.edit(&[Edit::Set {
        key: "temp".into(),
        value: Value::Number(21.5),
    }])
    .unwrap();
    t
}

/// A real delta with every kind of content, from another replica.
fn real_delta() -> Vec<u8> {
    let mut s = Twin::new(
        "tile3/sensors",
        2,
        Tier::Tile,
        Policy::open(),
        Limits::default(),
    );
    s.edit(&[
        Edit::Set {
            key: "temp".into(),
            value: Value::Number(-3.25),
        },
        Edit::Set {
            key: "name".into(),
            value: Value::Text("tile three".into()),
        },
        Edit::Add {
            key: "n".into(),
            by: 4.0,
        },
        Edit::Push {
            key: "log".into(),
            value: Value::Bool(true),
        },
        Edit::SetText {
            key: "notes".into(),
            text: "fan noisy".into(),
        },
    ])
    .unwrap();
    s.edit(&[Edit::DeleteText {
        key: "notes".into(),
        index: 0,
        len: 4,
    }])
    .unwrap();
    s.take_delta(&Eid::ipn(1, 0), Tier::Tile, false).unwrap()
}

fn check(t: &mut Twin, payload: &[u8]) -> Result<(), TestCaseError> {
    let before = t.fields();
    match t.apply(&Eid::ipn(9, 0), payload) {
        Ok(_) => {}
        Err(TwinError::Poisoned(e)) => {
            return Err(TestCaseError::fail(format!(
                "yrs failed on a checked update: {e}"
            )))
        }
        Err(_) => prop_assert_eq!(&t.fields(), &before),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn garbage_never_panics_and_refusals_change_nothing(
        raw in proptest::collection::vec(any::<u8>(), 0..200),
        sv in proptest::collection::vec(any::<u8>(), 0..40),
        update in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut t = target();
        check(&mut t, &raw)?;
        let wrapped = DeltaMessage {
            twin: "tile3/sensors",
            parts: vec![Part { scope: Tier::Planet, state_vector: &sv, deletions: 0, update: &update }],
        }
        .encode();
        check(&mut t, &wrapped)?;
    }

    #[test]
    fn mutated_real_deltas_never_panic(
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in any::<usize>(),
        splice in proptest::collection::vec(any::<u8>(), 0..8),
    ) {
        let real = real_delta();
        let mut t = target();
        let mut m = real.clone();
        for (i, b) in &flips {
            let i = i % m.len();
            m[i] ^= b | 1;
        }
        check(&mut t, &m)?;
        let mut m = real.clone();
        let at = cut % m.len();
        m.splice(at..at, splice.iter().copied());
        check(&mut t, &m)?;
        let mut m = real;
        m.truncate(at);
        check(&mut t, &m)?;
    }
}

/// The fuzz target's seeds (`fuzz/corpus/twin_delta/seed-*`, crashes it found among them)
/// go through the same checks in the default test run.
#[test]
fn the_fuzz_seeds_are_refused_or_merged() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/twin_delta");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if !path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("seed-")
        {
            continue;
        }
        let data = std::fs::read(&path).unwrap();
        let mut t = target();
        check(&mut t, &data).unwrap();
        let wrapped = DeltaMessage {
            twin: "tile3/sensors",
            parts: vec![Part {
                scope: Tier::Planet,
                state_vector: &[0],
                deletions: 0,
                update: &data,
            }],
        }
        .encode();
        check(&mut t, &wrapped).unwrap();
        seen += 1;
    }
    assert!(seen >= 3, "{seen} seeds in {}", dir.display());
}

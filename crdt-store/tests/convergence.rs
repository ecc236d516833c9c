//! Replicas of one twin converge, whatever happens to the deltas on the way: random
//! concurrent edits on three replicas, deltas lost, delivered twice and out of order; after
//! a final round of deltas (a later contact repairs the losses), every replica holds the
//! same fields. And what a replica refuses leaves it unchanged.

// Test code: a panic is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bundle_agent::wire::Eid;
use crdt_store::{Limits, Twin, TwinError, Value};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Step {
    /// Replica `r` sets field `k` to `v`.
    Edit { r: usize, k: u8, v: i32 },
    /// Replica `from` makes a delta for `to`; it is lost, delivered, or delivered twice,
    /// now or after the next few steps.
    Send {
        from: usize,
        to: usize,
        fate: u8,
        delay: u8,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0..3usize, 0..6u8, -100..100i32).prop_map(|(r, k, v)| Step::Edit { r, k, v }),
        (0..3usize, 0..3usize, 0..4u8, 0..4u8).prop_map(|(from, to, fate, delay)| Step::Send {
            from,
            to,
            fate,
            delay
        }),
    ]
}

fn node(i: usize) -> Eid {
    Eid::ipn(i as u32 + 1, 0)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn replicas_converge_despite_loss_duplication_and_reordering(
        steps in proptest::collection::vec(step(), 1..80)
    ) {
        let mut twins: Vec<Twin> = (0..3)
            .map(|i| Twin::new("pod7/setpoints", i as u64 + 1, Limits::default()))
            .collect();
        // Deltas on the way: (steps left before delivery, to, from, bytes).
        let mut in_flight: Vec<(u8, usize, usize, Vec<u8>)> = Vec::new();
        for s in steps {
            match s {
                Step::Edit { r, k, v } => {
                    twins[r].set(&format!("f{k}"), Value::Number(f64::from(v))).unwrap();
                }
                Step::Send { from, to, fate, delay } if from != to => {
                    if let Some(msg) = twins[from].delta_for(&node(to)) {
                        match fate {
                            0 => {} // lost
                            1 => {
                                in_flight.push((delay, to, from, msg.clone()));
                                in_flight.push((delay + 1, to, from, msg));
                            }
                            _ => in_flight.push((delay, to, from, msg)),
                        }
                    }
                }
                Step::Send { .. } => {}
            }
            // Deliver what is due, in the order it falls due (later sends may overtake).
            let mut due = Vec::new();
            in_flight.retain_mut(|m| {
                if m.0 == 0 {
                    due.push((m.1, m.2, m.3.clone()));
                    false
                } else {
                    m.0 -= 1;
                    true
                }
            });
            for (to, from, msg) in due {
                twins[to].apply(&node(from), &msg).unwrap();
            }
        }
        // Whatever is still on the way arrives late, in reverse.
        for (_, to, from, msg) in in_flight.into_iter().rev() {
            twins[to].apply(&node(from), &msg).unwrap();
        }
        // A later contact: everyone sends everyone what they may be missing, twice over.
        for _ in 0..2 {
            for from in 0..3 {
                for to in 0..3 {
                    if from != to {
                        if let Some(msg) = twins[from].delta_for(&node(to)) {
                            twins[to].apply(&node(from), &msg).unwrap();
                        }
                    }
                }
            }
        }
        let want = twins[0].fields();
        for t in &twins[1..] {
            prop_assert_eq!(&t.fields(), &want);
        }
    }
}

#[test]
fn a_delta_carries_only_what_the_peer_lacks_and_refusals_change_nothing() {
    let mut a = Twin::new("hub1/maintenance", 1, Limits::default());
    let mut b = Twin::new("hub1/maintenance", 2, Limits::default());
    a.set("filter", Value::Text("replace by 2026-12-01".into()))
        .unwrap();
    a.set("hours", Value::Number(1204.0)).unwrap();
    let first = a.delta_for(&node(1)).unwrap();
    b.apply(&node(0), &first).unwrap();
    assert_eq!(b.get("hours"), Some(Value::Number(1204.0)));
    // b tells a what it has (its own delta carries its state vector): nothing more to send.
    b.set("ok", Value::Bool(true)).unwrap();
    let back = b.delta_for(&node(0)).unwrap();
    a.apply(&node(1), &back).unwrap();
    assert_eq!(a.get("ok"), Some(Value::Bool(true)));
    assert!(a.delta_for(&node(1)).is_none(), "b has all of a's edits");
    // One more edit: the next delta is small, not the whole document again.
    a.set("hours", Value::Number(1205.0)).unwrap();
    let small = a.delta_for(&node(1)).unwrap();
    assert!(
        small.len() < first.len(),
        "{} against {}",
        small.len(),
        first.len()
    );

    // Refused: another twin, a malformed update, an update over the limit. b is unchanged.
    let before = b.fields();
    let other = Twin::new("pod9/other", 3, Limits::default());
    let mut stranger = other;
    stranger.set("x", Value::Bool(false)).unwrap();
    let wrong = stranger.delta_for(&node(1)).unwrap();
    assert!(matches!(
        b.apply(&node(2), &wrong),
        Err(TwinError::WrongTwin { .. })
    ));
    let mut broken = small.clone();
    let last = broken.len() - 1;
    broken[last] ^= 0xff;
    broken.truncate(last - 2);
    assert!(b.apply(&node(0), &broken).is_err());
    let mut tight = Twin::new(
        "hub1/maintenance",
        4,
        Limits {
            max_update: 8,
            max_document: 1 << 20,
        },
    );
    assert!(matches!(
        tight.apply(&node(0), &first),
        Err(TwinError::UpdateTooLarge { .. })
    ));
    assert_eq!(b.fields(), before);
    assert!(tight.fields().is_empty());
}

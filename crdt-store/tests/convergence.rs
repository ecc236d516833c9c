//! Replicas of one twin converge, whatever happens to the deltas on the way: random
//! concurrent edits of every kind (values, counters, lists, texts; fields in two partitions)
//! on four replicas, deltas lost, delivered twice and out of order; after a later contact
//! (each replica resends what its peer has not acknowledged) every replica holds the same
//! fields. What a replica refuses leaves it unchanged, and restricted fields never reach a
//! peer above their scope.

// Test code: a panic is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::needless_range_loop
)]

use bundle_agent::wire::Eid;
use crdt_store::{Edit, Field, Limits, Policy, Tier, Twin, TwinError, Value};
use proptest::prelude::*;

const N: usize = 4;

#[derive(Debug, Clone)]
enum Step {
    /// Replica `r` makes edit number `kind` with arguments `a`, `b`.
    Edit { r: usize, kind: u8, a: u8, b: i16 },
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
        (0..N, 0..8u8, any::<u8>(), -100..100i16).prop_map(|(r, kind, a, b)| Step::Edit {
            r,
            kind,
            a,
            b
        }),
        (0..N, 0..N, 0..4u8, 0..4u8).prop_map(|(from, to, fate, delay)| Step::Send {
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

fn policy() -> Policy {
    Policy::open()
        .restrict("raw.*", Tier::Pod)
        .restrict("secret", Tier::Tile)
}

fn replica(i: usize) -> Twin {
    Twin::new(
        "pod7/setpoints",
        i as u32 + 1,
        Tier::Tile,
        policy(),
        Limits::default(),
    )
}

fn edit(kind: u8, a: u8, b: i16) -> Edit {
    let n = f64::from(b);
    match kind {
        0 => Edit::Set {
            key: format!("v{}", a % 4),
            value: Value::Number(n),
        },
        1 => Edit::Set {
            key: format!("raw.v{}", a % 2),
            value: Value::Text(format!("r{b}")),
        },
        2 => Edit::Remove {
            key: format!("v{}", a % 4),
        },
        3 => Edit::Add {
            key: if a % 2 == 0 { "count" } else { "raw.count" }.into(),
            by: n,
        },
        4 => Edit::Push {
            key: "log".into(),
            value: Value::Number(n),
        },
        5 => Edit::RemoveItem {
            key: "log".into(),
            index: u32::from(a % 4),
        },
        6 => Edit::InsertText {
            key: "notes".into(),
            index: u32::from(a % 6),
            text: format!("<{b}>"),
        },
        _ => Edit::DeleteText {
            key: "notes".into(),
            index: u32::from(a % 6),
            len: u32::from(a % 3),
        },
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn replicas_converge_despite_loss_duplication_and_reordering(
        steps in proptest::collection::vec(step(), 1..100)
    ) {
        let mut twins: Vec<Twin> = (0..N).map(replica).collect();
        // Deltas on the way: (steps left before delivery, to, from, bytes).
        let mut in_flight: Vec<(u8, usize, usize, Vec<u8>)> = Vec::new();
        for s in steps {
            match s {
                Step::Edit { r, kind, a, b } => {
                    let before = twins[r].fields();
                    if twins[r].edit(&[edit(kind, a, b)]).is_err() {
                        prop_assert_eq!(twins[r].fields(), before, "a refused edit changed nothing");
                    }
                }
                Step::Send { from, to, fate, delay } if from != to => {
                    if let Some(msg) = twins[from].take_delta(&node(to), Tier::Pod, fate == 3) {
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
        // A later contact: each replica resends what its peers have not acknowledged.
        for _ in 0..2 {
            for from in 0..N {
                for to in 0..N {
                    if from != to {
                        twins[from].resync(&node(to));
                        if let Some(msg) = twins[from].take_delta(&node(to), Tier::Pod, false) {
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
        // Nobody is behind any more, by what they told each other.
        for from in 0..N {
            for to in 0..N {
                if from != to {
                    let ack = twins[to].take_delta(&node(from), Tier::Pod, true).unwrap();
                    twins[from].apply(&node(to), &ack).unwrap();
                }
            }
        }
        for from in 0..N {
            for to in 0..N {
                if from != to {
                    prop_assert!(!twins[from].behind(&node(to), Tier::Pod));
                }
            }
        }
    }
}

#[test]
fn a_delta_carries_only_what_the_peer_lacks_and_refusals_change_nothing() {
    let open = Policy::open;
    let mut a = Twin::new("hub1/maintenance", 1, Tier::Hub, open(), Limits::default());
    let mut b = Twin::new("hub1/maintenance", 2, Tier::Hub, open(), Limits::default());
    a.edit(&[
        Edit::Set {
            key: "filter".into(),
            value: Value::Text("replace by 2026-12-01".into()),
        },
        Edit::Set {
            key: "hours".into(),
            value: Value::Number(1204.0),
        },
    ])
    .unwrap();
    let first = a.take_delta(&node(1), Tier::Hub, false).unwrap();
    b.apply(&node(0), &first).unwrap();
    assert_eq!(b.get("hours"), Some(Field::Value(Value::Number(1204.0))));
    assert!(
        a.take_delta(&node(1), Tier::Hub, false).is_none(),
        "sent once"
    );
    // b tells a what it has (its own delta carries its state vectors).
    b.edit(&[Edit::Set {
        key: "ok".into(),
        value: Value::Bool(true),
    }])
    .unwrap();
    let back = b.take_delta(&node(0), Tier::Hub, false).unwrap();
    a.apply(&node(1), &back).unwrap();
    assert_eq!(a.get("ok"), Some(Field::Value(Value::Bool(true))));
    assert!(!a.behind(&node(1), Tier::Hub), "b has all of a's edits");
    // One more edit: the next delta is small, not the whole document again.
    a.edit(&[Edit::Set {
        key: "hours".into(),
        value: Value::Number(1205.0),
    }])
    .unwrap();
    let small = a.take_delta(&node(1), Tier::Hub, false).unwrap();
    assert!(
        small.len() < first.len(),
        "{} against {}",
        small.len(),
        first.len()
    );

    // Refused: another twin, a malformed update, an update over the limit. b is unchanged.
    let before = b.fields();
    let mut stranger = Twin::new("pod9/other", 3, Tier::Hub, open(), Limits::default());
    stranger
        .edit(&[Edit::Set {
            key: "x".into(),
            value: Value::Bool(false),
        }])
        .unwrap();
    let wrong = stranger.take_delta(&node(1), Tier::Hub, false).unwrap();
    assert!(matches!(
        b.apply(&node(2), &wrong),
        Err(TwinError::WrongTwin { .. })
    ));
    let mut broken = small.clone();
    let last = broken.len() - 1;
    broken[last] ^= 0xff;
    assert!(b.apply(&node(0), &broken).is_err());
    broken.truncate(last - 2);
    assert!(b.apply(&node(0), &broken).is_err());
    let mut tight = Twin::new(
        "hub1/maintenance",
        4,
        Tier::Hub,
        open(),
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

#[test]
fn every_kind_of_field_merges_concurrent_edits() {
    let mut a = replica(0);
    let mut b = replica(1);
    let seed = [
        Edit::SetText {
            key: "notes".into(),
            text: "pump ok".into(),
        },
        Edit::Push {
            key: "log".into(),
            value: Value::Text("start".into()),
        },
    ];
    a.edit(&seed).unwrap();
    b.apply(&node(0), &a.take_delta(&node(1), Tier::Pod, false).unwrap())
        .unwrap();
    // Concurrently: both count, both append, both edit the text in different places.
    a.edit(&[
        Edit::Add {
            key: "starts".into(),
            by: 2.0,
        },
        Edit::Push {
            key: "log".into(),
            value: Value::Text("a".into()),
        },
        Edit::SetText {
            key: "notes".into(),
            text: "main pump ok".into(),
        },
    ])
    .unwrap();
    b.edit(&[
        Edit::Add {
            key: "starts".into(),
            by: 3.0,
        },
        Edit::Push {
            key: "log".into(),
            value: Value::Text("b".into()),
        },
        Edit::SetText {
            key: "notes".into(),
            text: "pump ok!".into(),
        },
    ])
    .unwrap();
    let to_b = a.take_delta(&node(1), Tier::Pod, false).unwrap();
    let to_a = b.take_delta(&node(0), Tier::Pod, false).unwrap();
    b.apply(&node(0), &to_b).unwrap();
    a.apply(&node(1), &to_a).unwrap();
    assert_eq!(a.fields(), b.fields());
    assert_eq!(a.get("starts"), Some(Field::Counter(5.0)));
    assert_eq!(a.get("notes"), Some(Field::Text("main pump ok!".into())));
    match a.get("log") {
        Some(Field::List(l)) => assert_eq!(l.len(), 3),
        other => panic!("{other:?}"),
    }
    // A field has one kind.
    assert!(matches!(
        a.edit(&[Edit::Push {
            key: "starts".into(),
            value: Value::Bool(true)
        }]),
        Err(TwinError::KindMismatch { .. })
    ));
}

#[test]
fn restricted_fields_never_go_above_their_scope() {
    let mut tile = replica(0);
    tile.edit(&[
        Edit::Set {
            key: "raw.v0".into(),
            value: Value::Text("RAWREADING".into()),
        },
        Edit::Set {
            key: "secret".into(),
            value: Value::Text("TILEONLY".into()),
        },
        Edit::Set {
            key: "avg".into(),
            value: Value::Number(20.5),
        },
    ])
    .unwrap();
    let contains =
        |hay: &[u8], needle: &str| hay.windows(needle.len()).any(|w| w == needle.as_bytes());
    // To a pod: raw readings go, the tile-only field does not.
    let to_pod = tile.take_delta(&node(1), Tier::Pod, false).unwrap();
    assert!(contains(&to_pod, "RAWREADING") && !contains(&to_pod, "TILEONLY"));
    // To a hub: only the average.
    let to_hub = tile.take_delta(&node(2), Tier::Hub, false).unwrap();
    assert!(!contains(&to_hub, "RAWREADING") && !contains(&to_hub, "TILEONLY"));
    assert!(contains(&to_hub, "avg"));
    let mut hub = Twin::new("pod7/setpoints", 9, Tier::Hub, policy(), Limits::default());
    hub.apply(&node(0), &to_hub).unwrap();
    assert_eq!(hub.get("avg"), Some(Field::Value(Value::Number(20.5))));
    assert_eq!(hub.get("raw.v0"), None);
    // The hub may not write a pod-scoped field, and refuses one sent to it.
    assert!(matches!(
        hub.edit(&[Edit::Set {
            key: "raw.v1".into(),
            value: Value::Bool(true)
        }]),
        Err(TwinError::Policy(_))
    ));
    assert!(matches!(
        hub.apply(&node(0), &to_pod),
        Err(TwinError::Policy(_))
    ));
}

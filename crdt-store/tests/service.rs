//! The twin service as nodes run it: followers kept in sync through payloads the test carries
//! (or drops), acknowledgements that stop the sending, refusals, and persistence in a real
//! RocksDB store across a restart, with the journal folded into snapshots.

// Test code: a panic is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bundle_agent::store::{BundleStore, MemoryStore, RocksStore};
use bundle_agent::wire::Eid;
use crdt_store::service::{twin_endpoint, ServiceError};
use crdt_store::{Edit, Field, Follow, Policy, ServiceConfig, Tier, TwinService, Value};

fn pod(n: u32) -> Eid {
    format!("dtn://pod{n}/").parse().unwrap()
}

fn config(me: u32, other: u32) -> ServiceConfig {
    let mut cfg = ServiceConfig::new(pod(me), Tier::Pod);
    cfg.follows.push(Follow {
        twin: "site/*".into(),
        peer: pod(other),
        tier: Tier::Pod,
    });
    cfg.policies
        .push(("site/*".into(), Policy::open().restrict("raw.*", Tier::Pod)));
    cfg
}

fn set(key: &str, v: f64) -> Edit {
    Edit::Set {
        key: key.into(),
        value: Value::Number(v),
    }
}

/// Carries everything `from` has to send to `to`; returns how many payloads went.
fn deliver(
    now: u64,
    from: &mut TwinService,
    to: &mut TwinService,
    to_store: &mut MemoryStore,
) -> usize {
    from.flush(now);
    let mut n = 0;
    let source = twin_endpoint(&from.config().node);
    while let Some(out) = from.poll_outgoing() {
        assert_eq!(out.to, to.config().node);
        to.receive(now, to_store, &source, &out.payload).unwrap();
        n += 1;
    }
    n
}

#[test]
fn two_pods_edit_apart_then_converge_and_fall_quiet() {
    let (mut sa, mut sb) = (MemoryStore::new(1 << 20), MemoryStore::new(1 << 20));
    let mut a = TwinService::open(config(7, 8), &mut sa, 7).unwrap();
    let mut b = TwinService::open(config(8, 7), &mut sb, 8).unwrap();
    a.edit(1, &mut sa, "site/hvac", &[set("setpoint", 21.0)])
        .unwrap();
    assert_eq!(deliver(1, &mut a, &mut b, &mut sb), 1);
    // Apart: both edit; what they send is lost.
    a.edit(
        2,
        &mut sa,
        "site/hvac",
        &[set("setpoint", 22.0), set("fan", 3.0)],
    )
    .unwrap();
    b.edit(
        2,
        &mut sb,
        "site/hvac",
        &[Edit::Add {
            key: "alarms".into(),
            by: 1.0,
        }],
    )
    .unwrap();
    a.flush(3);
    b.flush(3);
    while a.poll_outgoing().is_some() {}
    while b.poll_outgoing().is_some() {}
    // The link comes back; an hour later the resync resends what was not acknowledged.
    let later = 3 + 3_600_000;
    for _ in 0..4 {
        deliver(later, &mut a, &mut b, &mut sb);
        deliver(later, &mut b, &mut a, &mut sa);
    }
    assert_eq!(a.get("site/hvac"), b.get("site/hvac"));
    let fields = a.get("site/hvac").unwrap();
    assert_eq!(fields["setpoint"], Field::Value(Value::Number(22.0)));
    assert_eq!(fields["alarms"], Field::Counter(1.0));
    // Quiet: nothing more to say, even at the next resync.
    assert_eq!(deliver(later + 1, &mut a, &mut b, &mut sb), 0);
    assert_eq!(deliver(2 * later, &mut a, &mut b, &mut sb), 0);
    assert_eq!(deliver(2 * later, &mut b, &mut a, &mut sa), 0);
    // b's history names the peer's change.
    let h = b.history(&sb, "site/hvac", 10).unwrap();
    assert!(h
        .iter()
        .any(|c| c.origin == Some(pod(7)) && c.keys.contains(&"fan".to_string())));
    assert!(h.iter().any(|c| c.origin.is_none()));
}

#[test]
fn deltas_from_strangers_and_garbage_are_refused() {
    let (mut sa, mut sb) = (MemoryStore::new(1 << 20), MemoryStore::new(1 << 20));
    let mut a = TwinService::open(config(7, 8), &mut sa, 7).unwrap();
    let mut b = TwinService::open(config(8, 7), &mut sb, 8).unwrap();
    a.edit(1, &mut sa, "site/hvac", &[set("x", 1.0)]).unwrap();
    a.flush(1);
    let out = a.poll_outgoing().unwrap();
    let stranger = twin_endpoint(&pod(9));
    assert!(matches!(
        b.receive(1, &mut sb, &stranger, &out.payload),
        Err(ServiceError::NotFollowed { .. })
    ));
    assert!(b
        .receive(1, &mut sb, &twin_endpoint(&pod(7)), b"TWIN2junk")
        .is_err());
    assert!(b.list().is_empty(), "nothing was created");
    // Twins not matching the follow pattern are not taken either.
    a.edit(1, &mut sa, "other/x", &[set("x", 1.0)]).unwrap();
    a.flush(2);
    assert!(a.poll_outgoing().is_none(), "nobody follows other/x");
    // A pod-scoped field may be edited in a pod, but not on a hub.
    let mut hub_store = MemoryStore::new(1 << 20);
    let mut hub_cfg = config(1, 7);
    hub_cfg.tier = Tier::Hub;
    let mut hub = TwinService::open(hub_cfg, &mut hub_store, 1).unwrap();
    let e = hub
        .edit(1, &mut hub_store, "site/hvac", &[set("raw.t", 1.0)])
        .unwrap_err();
    assert!(e.to_string().contains("may not leave the pod"), "{e}");
    assert!(hub.list().is_empty());
}

#[test]
fn a_restarted_node_has_its_twins_history_and_replica() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(7, 8);
    cfg.compact_after = 4;
    cfg.history = 5;
    let replica;
    {
        let mut store = RocksStore::open(dir.path(), 1 << 30).unwrap();
        let mut s = TwinService::open(cfg.clone(), &mut store, 1234).unwrap();
        replica = s.replica();
        for i in 0..10 {
            s.edit(
                i,
                &mut store,
                "site/hvac",
                &[set(&format!("k{}", i % 3), i as f64)],
            )
            .unwrap();
        }
        s.edit(
            11,
            &mut store,
            "site/notes",
            &[Edit::SetText {
                key: "log".into(),
                text: "filter changed".into(),
            }],
        )
        .unwrap();
        store.sync().unwrap();
        // A journal entry is kept per edit until four, then one snapshot per partition.
        let entries = store.state_with_prefix(b"twin/d/site/hvac\0j").unwrap();
        assert!(entries.len() < 4, "{} journal entries", entries.len());
    }
    let mut store = RocksStore::open(dir.path(), 1 << 30).unwrap();
    let s = TwinService::open(cfg, &mut store, 999).unwrap();
    assert_eq!(s.replica(), replica, "the replica number is kept");
    let f = s.get("site/hvac").unwrap();
    assert_eq!(f["k0"], Field::Value(Value::Number(9.0)));
    assert_eq!(f["k2"], Field::Value(Value::Number(8.0)));
    assert_eq!(
        s.get("site/notes").unwrap()["log"],
        Field::Text("filter changed".into())
    );
    let h = s.history(&store, "site/hvac", 100).unwrap();
    assert_eq!(h.len(), 5, "history is bounded");
    assert_eq!(h.last().unwrap().seq, 9);
}

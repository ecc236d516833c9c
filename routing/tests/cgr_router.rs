//! Contact graph routing driving the real agent (memory store, virtual time): three nodes
//! whose contacts come one after the other. The bundle waits at each node for its contact
//! even though the links are up before, leaves each node when the contact opens, and the
//! volume it used is booked.

// Test code: a panic is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bundle_agent::agent::{Action, Agent, AgentConfig, Event, NextHop, RouteRequest, Router};
use bundle_agent::store::{BundleStore, MemoryStore};
use bundle_agent::wire::{BundleBuilder, BundleId, CreationTimestamp, DecodeOptions, DtnTime, Eid};
use routing::{CgrRouter, ContactPlan};

/// Contacts 1 -> 2 at 100..200 s and 2 -> 3 at 300..400 s, 1000 B/s, 2 s light time on
/// the second.
const PLAN: &str = r#"
[[contact]]
from = "ipn:1.0"
to = "ipn:2.0"
start = 100
end = 200
rate = 1000

[[contact]]
from = "ipn:2.0"
to = "ipn:3.0"
start = 300
end = 400
rate = 1000
owlt = 2
"#;

fn s(seconds: u64) -> DtnTime {
    DtnTime(seconds * 1000)
}

fn node(n: u32) -> Agent<MemoryStore> {
    let plan = ContactPlan::from_toml(PLAN).unwrap();
    Agent::new(
        AgentConfig {
            node_id: Eid::ipn(n, 0),
            decode: DecodeOptions::default(),
        },
        MemoryStore::new(1 << 20),
        Box::new(CgrRouter::new(Eid::ipn(n, 0), plan)),
    )
    .unwrap()
}

fn drain(a: &mut Agent<MemoryStore>) -> Vec<Action> {
    std::iter::from_fn(|| a.poll_action()).collect()
}

fn transmissions(actions: &[Action]) -> Vec<(u64, BundleId, Vec<u8>)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Transmit { link, id, bytes } => Some((*link, id.clone(), bytes.to_vec())),
            _ => None,
        })
        .collect()
}

/// Hands a transmission from one agent to the next and acknowledges it both ways.
fn carry(from: &mut Agent<MemoryStore>, to: &mut Agent<MemoryStore>, now: DtnTime) -> BundleId {
    let sent = transmissions(&drain(from));
    assert_eq!(sent.len(), 1, "one bundle leaves");
    let (link, id, bytes) = sent.into_iter().next().unwrap();
    to.handle(
        now,
        Event::Received {
            link: 1,
            bytes,
            token: 1,
        },
    )
    .unwrap();
    to.commit().unwrap();
    from.handle(
        now,
        Event::Sent {
            link,
            id: id.clone(),
            ok: true,
        },
    )
    .unwrap();
    id
}

fn up(a: &mut Agent<MemoryStore>, link: u64, peer: u32, now: DtnTime) {
    a.handle(
        now,
        Event::LinkUp {
            link,
            peer: Eid::ipn(peer, 0),
            max_bundle_size: None,
        },
    )
    .unwrap();
}

#[test]
fn cgr_holds_a_bundle_for_each_future_contact_then_forwards_it() {
    let (mut a, mut b, mut c) = (node(1), node(2), node(3));
    // Every link is up from the start: only the plan decides when bundles move.
    up(&mut a, 12, 2, s(0));
    up(&mut b, 21, 1, s(0));
    up(&mut b, 23, 3, s(0));
    up(&mut c, 32, 2, s(0));
    let bytes = BundleBuilder::new(
        Eid::ipn(3, 1),
        Eid::ipn(1, 0),
        CreationTimestamp::new(s(1), 0),
    )
    .lifetime_ms(86_400_000)
    .payload(b"twin delta")
    .build()
    .unwrap();
    a.handle(s(1), Event::AppSubmit { bytes, token: 7 })
        .unwrap();
    a.commit().unwrap();
    assert!(
        transmissions(&drain(&mut a)).is_empty(),
        "no contact before 100 s"
    );
    assert_eq!(
        a.next_timeout(),
        Some(s(100)),
        "the agent wakes when the contact opens"
    );

    a.handle(s(99), Event::Timer).unwrap();
    assert!(transmissions(&drain(&mut a)).is_empty());
    a.handle(s(100), Event::Timer).unwrap();
    let id = carry(&mut a, &mut b, s(100));
    assert_eq!(
        a.store().records().unwrap().len(),
        0,
        "forwarded: gone from node 1"
    );
    let booked = a.contacts();
    assert!(
        booked[0].residual < 100_000,
        "node 1 booked the bundle on contact 0: {booked:?}"
    );

    // Node 2 holds it until 300 s.
    assert!(
        transmissions(&drain(&mut b)).is_empty(),
        "no contact to 3 before 300 s"
    );
    assert_eq!(b.next_timeout(), Some(s(300)));
    b.handle(s(300), Event::Timer).unwrap();
    let again = carry(&mut b, &mut c, s(300));
    assert_eq!(again, id);
    let delivered: Vec<Action> = drain(&mut c);
    assert!(
        c.store().records().unwrap().iter().any(|r| r.id == id),
        "node 3 holds it for its endpoint: {delivered:?}"
    );
}

#[test]
fn cgr_explains_the_route_and_books_each_bundle_once() {
    let plan = ContactPlan::from_toml(PLAN).unwrap();
    let mut r = CgrRouter::new(Eid::ipn(1, 0), plan);
    let none = |_: &Eid| false;
    let e = r.explain(s(0), &Eid::ipn(3, 1), 1000, s(86_400), &none);
    assert_eq!(e.router, "cgr");
    assert_eq!(e.next_hop, Some(Eid::ipn(2, 0)));
    let chosen = e.chosen.unwrap();
    assert_eq!(
        chosen.arrival,
        DtnTime(303_000),
        "1 s per hop, 2 s light time"
    );
    assert_eq!(chosen.hops.len(), 2);

    // Asked twice for one bundle: booked once.
    let id = BundleId {
        source: Eid::ipn(1, 0),
        creation: CreationTimestamp::new(s(0), 0),
        fragment: None,
    };
    let dest = Eid::ipn(3, 1);
    let q = RouteRequest {
        id: &id,
        destination: &dest,
        size: 1000,
        expires_at: s(86_400),
        copies: None,
    };
    let first = r.next_hop(s(0), &q, &none);
    let second = r.next_hop(s(50), &q, &none);
    assert_eq!(first, second);
    assert_eq!(
        first,
        NextHop::Later {
            via: Eid::ipn(2, 0),
            at: s(100)
        }
    );
    assert_eq!(r.contacts()[0].residual, 100_000 - 1000);

    // Too late to arrive: no route, and the explanation says which contact and why.
    let late = r.explain(s(0), &Eid::ipn(3, 1), 1000, s(200), &none);
    assert_eq!(late.next_hop, None);
    assert!(!late.rejected.is_empty() || !late.notes.is_empty());
    assert!(late.notes.iter().any(|n| n.contains("waits")), "{late:?}");
}

/// Two ways from 1 to 3: through 2 (arrives first) and through 4 (10 s of light time).
const TWO_WAYS: &str = r#"
[[contact]]
from = "ipn:1.0"
to = "ipn:2.0"
start = 0
end = 100
rate = 1000000

[[contact]]
from = "ipn:2.0"
to = "ipn:3.0"
start = 0
end = 100
rate = 1000000

[[contact]]
from = "ipn:1.0"
to = "ipn:4.0"
start = 0
end = 100
rate = 1000000

[[contact]]
from = "ipn:4.0"
to = "ipn:3.0"
start = 0
end = 100
rate = 1000000
owlt = 10
"#;

#[test]
fn a_failed_contact_reroutes_the_bundle_another_way_until_its_link_is_back() {
    let plan = ContactPlan::from_toml(TWO_WAYS).unwrap();
    let mut a = Agent::new(
        AgentConfig {
            node_id: Eid::ipn(1, 0),
            decode: DecodeOptions::default(),
        },
        MemoryStore::new(1 << 20),
        Box::new(CgrRouter::new(Eid::ipn(1, 0), plan)),
    )
    .unwrap();
    up(&mut a, 14, 4, s(0));
    let bytes = BundleBuilder::new(
        Eid::ipn(3, 1),
        Eid::ipn(1, 0),
        CreationTimestamp::new(s(1), 0),
    )
    .lifetime_ms(86_400_000)
    .payload(b"either way")
    .build()
    .unwrap();
    // The plan says: through 2. Its link is not up yet, so the bundle waits for it.
    a.handle(s(1), Event::AppSubmit { bytes, token: 1 })
        .unwrap();
    a.commit().unwrap();
    assert!(
        transmissions(&drain(&mut a)).is_empty(),
        "waits for the link to 2"
    );
    let e = a.explain(s(1), &Eid::ipn(3, 1), 100, s(86_400));
    assert_eq!(e.next_hop, Some(Eid::ipn(2, 0)));
    // The link to 2 comes up and fails at once, while its contact is on: a failed contact.
    // (The bundle went out on it and the transmission failed.)
    up(&mut a, 12, 2, s(2));
    let sent = transmissions(&drain(&mut a));
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, 12);
    a.handle(s(2), Event::LinkDown { link: 12 }).unwrap();
    a.handle(
        s(2),
        Event::Sent {
            link: 12,
            id: sent[0].1.clone(),
            ok: false,
        },
    )
    .unwrap();
    let e = a.explain(s(3), &Eid::ipn(3, 1), 100, s(86_400));
    assert_eq!(e.next_hop, Some(Eid::ipn(4, 0)), "{e:?}");
    assert!(
        e.rejected
            .iter()
            .any(|r| r.contains("contact 0") && r.contains("failed")),
        "the explanation names the failed contact: {e:?}"
    );
    // At the next timer the bundle goes the other way.
    a.handle(s(3), Event::Timer).unwrap();
    let sent = transmissions(&drain(&mut a));
    assert_eq!(sent.len(), 1, "rerouted");
    assert_eq!(sent[0].0, 14, "through 4");
    // The link to 2 is back while its contact lasts: the contact is usable again.
    up(&mut a, 22, 2, s(4));
    let e = a.explain(s(4), &Eid::ipn(3, 1), 100, s(86_400));
    assert_eq!(e.next_hop, Some(Eid::ipn(2, 0)));
}

//! Bundles held in memory until delivered or forwarded (RFC 9171 §5.4, §5.6 and §5.7; the
//! agent's `held` module): acknowledged only once delivered, or acknowledged by the next hop,
//! and logged durably, or else stored; never stored when they leave in the turn they arrive;
//! nothing lost when the node dies while one is held.
//!
//! A memory store cloned mid-run stands for what a crash leaves: everything written so far,
//! synced or not, which is the harder case for "nothing logged before it is settled".

// Test code: a panic is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bundle_agent::agent::{Action, Agent, AgentConfig, Event, RouteTable};
use bundle_agent::store::{BundleStore, DeliveryMode, LogEvent, MemoryStore, Registration};
use bundle_agent::wire::{BundleBuilder, BundleId, CreationTimestamp, DecodeOptions, DtnTime, Eid};

const NOW: DtnTime = DtnTime(1_000_000);
/// How long a lent bundle stays held before it is stored (the agent's `HOLD_MS`).
const HOLD_MS: u64 = 200;

fn endpoint() -> Eid {
    Eid::ipn(2, 9)
}

fn agent_over(store: MemoryStore, mode: DeliveryMode) -> Agent<MemoryStore> {
    let cfg = AgentConfig {
        node_id: Eid::ipn(2, 0),
        decode: DecodeOptions::default(),
    };
    let mut a = Agent::new(cfg, store, Box::new(RouteTable::default())).unwrap();
    a.handle(
        NOW,
        Event::Register(Registration {
            endpoint: endpoint(),
            mode,
        }),
    )
    .unwrap();
    a.commit().unwrap();
    drain(&mut a);
    a
}

fn agent(mode: DeliveryMode) -> Agent<MemoryStore> {
    agent_over(MemoryStore::new(1 << 30), mode)
}

fn bundle(seq: u64, payload: &[u8]) -> Vec<u8> {
    BundleBuilder::new(endpoint(), Eid::ipn(1, 0), CreationTimestamp::new(NOW, seq))
        .lifetime_ms(60_000)
        .payload(payload)
        .build()
        .unwrap()
}

fn id(seq: u64) -> BundleId {
    BundleId {
        source: Eid::ipn(1, 0),
        creation: CreationTimestamp::new(NOW, seq),
        fragment: None,
    }
}

fn receive(a: &mut Agent<MemoryStore>, bytes: Vec<u8>, token: u64) {
    let event = Event::Received {
        link: 1,
        bytes,
        token,
    };
    a.handle(NOW, event).unwrap();
}

fn drain<S: BundleStore>(a: &mut Agent<S>) -> Vec<Action> {
    std::iter::from_fn(|| a.poll_action()).collect()
}

fn accepted(actions: &[Action]) -> Vec<u64> {
    actions
        .iter()
        .filter_map(|x| match x {
            Action::Accept { token } => Some(*token),
            _ => None,
        })
        .collect()
}

/// The kinds of `id`'s log entries, in order.
fn log_of(a: &Agent<MemoryStore>, seq: u64) -> Vec<&'static str> {
    a.store()
        .log_for(&id(seq))
        .unwrap()
        .iter()
        .map(|e| match e.event {
            LogEvent::Received { .. } => "received",
            LogEvent::Delivered { .. } => "delivered",
            _ => "other",
        })
        .collect()
}

#[test]
fn rfc9171_5_7_a_bundle_lent_at_once_is_acknowledged_when_delivered_and_never_stored() {
    let mut a = agent(DeliveryMode::Passive);
    receive(&mut a, bundle(1, b"now"), 7);
    let lent = a.lend_deliveries(&endpoint(), 10, usize::MAX).unwrap();
    assert_eq!(lent.len(), 1);
    assert_eq!(&lent[0].1[..], b"now");
    a.commit().unwrap();
    assert!(accepted(&drain(&mut a)).is_empty(), "not delivered yet");
    assert_eq!(a.store().usage().bundles, 0, "held, not stored");
    assert!(log_of(&a, 1).is_empty(), "nothing logged while held");
    assert!(a.confirm_delivery(NOW, &endpoint(), &id(1)).unwrap());
    assert!(
        accepted(&drain(&mut a)).is_empty(),
        "the log is not durable yet"
    );
    a.commit().unwrap();
    assert_eq!(accepted(&drain(&mut a)), vec![7]);
    assert_eq!(a.store().usage().bundles, 0);
    assert_eq!(log_of(&a, 1), vec!["received", "delivered"]);
    assert_eq!(a.stats().delivered, 1);
    assert_eq!(a.stats().received, 1);
}

#[test]
fn rfc9171_5_7_an_active_registration_takes_a_bundle_without_it_being_stored() {
    let mut a = agent(DeliveryMode::Active);
    receive(&mut a, bundle(1, b"echo"), 3);
    let actions = drain(&mut a);
    assert!(
        actions
            .iter()
            .any(|x| matches!(x, Action::Deliver { payload, .. } if &payload[..] == b"echo")),
        "{actions:?}"
    );
    assert!(accepted(&actions).is_empty());
    a.commit().unwrap();
    assert_eq!(accepted(&drain(&mut a)), vec![3]);
    assert_eq!(a.store().usage().bundles, 0);
    assert_eq!(log_of(&a, 1), vec!["received", "delivered"]);
}

#[test]
fn rfc9171_5_6_a_held_bundle_nobody_takes_is_stored_at_the_commit() {
    let mut a = agent(DeliveryMode::Passive);
    receive(&mut a, bundle(1, b"later"), 4);
    a.commit().unwrap();
    assert_eq!(accepted(&drain(&mut a)), vec![4]);
    assert_eq!(a.store().usage().bundles, 1);
    assert_eq!(log_of(&a, 1), vec!["received"]);
    // Taken later, from the store.
    let taken = a.take_delivery(NOW, &endpoint()).unwrap();
    assert_eq!(taken.map(|(_, p)| p.to_vec()), Some(b"later".to_vec()));
    a.commit().unwrap();
    assert_eq!(a.store().usage().bundles, 0);
    assert_eq!(log_of(&a, 1), vec!["received", "delivered"]);
}

#[test]
fn rfc9171_5_6_a_bundle_given_back_is_stored_at_the_commit() {
    let mut a = agent(DeliveryMode::Passive);
    receive(&mut a, bundle(1, b"back"), 5);
    let lent = a.lend_deliveries(&endpoint(), 10, usize::MAX).unwrap();
    a.give_back(&lent[0].0);
    a.commit().unwrap();
    assert_eq!(accepted(&drain(&mut a)), vec![5]);
    assert_eq!(a.store().usage().bundles, 1);
    let again = a.lend_deliveries(&endpoint(), 10, usize::MAX).unwrap();
    assert_eq!(again.len(), 1, "waits again");
}

#[test]
fn rfc9171_5_6_a_lent_bundle_not_confirmed_in_time_is_stored_and_acknowledged() {
    let mut a = agent(DeliveryMode::Passive);
    receive(&mut a, bundle(1, b"slow"), 6);
    let lent = a.lend_deliveries(&endpoint(), 10, usize::MAX).unwrap();
    a.commit().unwrap();
    assert!(accepted(&drain(&mut a)).is_empty());
    assert_eq!(a.next_timeout(), Some(DtnTime(NOW.0 + HOLD_MS)));
    a.handle(DtnTime(NOW.0 + HOLD_MS - 1), Event::Timer)
        .unwrap();
    a.commit().unwrap();
    assert!(accepted(&drain(&mut a)).is_empty(), "not yet due");
    a.handle(DtnTime(NOW.0 + HOLD_MS), Event::Timer).unwrap();
    a.commit().unwrap();
    assert_eq!(accepted(&drain(&mut a)), vec![6]);
    assert_eq!(a.store().usage().bundles, 1, "stored, still lent");
    // The confirmation that comes late still delivers it, once.
    let later = DtnTime(NOW.0 + HOLD_MS + 5);
    assert!(a.confirm_delivery(later, &endpoint(), &lent[0].0).unwrap());
    a.commit().unwrap();
    assert_eq!(a.store().usage().bundles, 0);
    assert_eq!(log_of(&a, 1), vec!["received", "delivered"]);
}

#[test]
fn rfc9171_5_6_a_duplicate_of_a_held_bundle_is_acknowledged_with_it() {
    let mut a = agent(DeliveryMode::Passive);
    receive(&mut a, bundle(1, b"twice"), 1);
    let lent = a.lend_deliveries(&endpoint(), 10, usize::MAX).unwrap();
    receive(&mut a, bundle(1, b"twice"), 2);
    assert!(
        accepted(&drain(&mut a)).is_empty(),
        "the first is not settled"
    );
    assert_eq!(a.stats().duplicates, 1);
    assert!(a.confirm_delivery(NOW, &endpoint(), &lent[0].0).unwrap());
    a.commit().unwrap();
    assert_eq!(accepted(&drain(&mut a)), vec![1, 2]);
    assert!(a
        .lend_deliveries(&endpoint(), 10, usize::MAX)
        .unwrap()
        .is_empty());
}

#[test]
fn a_crash_while_a_bundle_is_held_loses_nothing() {
    let mut a = agent(DeliveryMode::Passive);
    receive(&mut a, bundle(1, b"in flight"), 1);
    let lent = a.lend_deliveries(&endpoint(), 10, usize::MAX).unwrap();
    assert_eq!(lent.len(), 1);
    // Other work commits meanwhile; the held bundle stays unacknowledged and unlogged.
    a.commit().unwrap();
    assert!(accepted(&drain(&mut a)).is_empty());
    let crashed = a.store().clone();
    drop(a);
    // The sender never saw an acknowledgement: it sends the bundle again after the restart,
    // and it is a new bundle to the node, not a duplicate.
    let mut b = agent_over(crashed, DeliveryMode::Passive);
    receive(&mut b, bundle(1, b"in flight"), 2);
    assert_eq!(b.stats().duplicates, 0);
    let again = b.lend_deliveries(&endpoint(), 10, usize::MAX).unwrap();
    assert_eq!(again.len(), 1);
    assert!(b.confirm_delivery(NOW, &endpoint(), &again[0].0).unwrap());
    b.commit().unwrap();
    assert_eq!(accepted(&drain(&mut b)), vec![2]);
    assert_eq!(log_of(&b, 1), vec!["received", "delivered"]);
}

#[test]
fn what_is_held_is_bounded_and_the_rest_is_stored() {
    let mut a = agent(DeliveryMode::Passive);
    // 64 MiB are held at most: the second of two 40 MiB bundles is stored at once.
    let big = vec![7u8; 40 << 20];
    receive(&mut a, bundle(1, &big), 1);
    assert_eq!(a.store().usage().bundles, 0);
    receive(&mut a, bundle(2, &big), 2);
    assert_eq!(a.store().usage().bundles, 1);
    let lent = a.lend_deliveries(&endpoint(), 10, usize::MAX).unwrap();
    assert_eq!(lent.len(), 2, "held or stored, both are delivered");
    for (id, _) in &lent {
        assert!(a.confirm_delivery(NOW, &endpoint(), id).unwrap());
    }
    a.commit().unwrap();
    let mut got = accepted(&drain(&mut a));
    got.sort_unstable();
    assert_eq!(got, vec![1, 2]);
    assert_eq!(a.store().usage().bundles, 0);
}

#[test]
fn rfc9171_5_6_held_bundles_wait_while_an_application_is_at_work_on_their_endpoint() {
    let mut a = agent(DeliveryMode::Passive);
    receive(&mut a, bundle(1, b"first"), 1);
    let lent = a.lend_deliveries(&endpoint(), 10, usize::MAX).unwrap();
    // The application writes the first; the second arrives meanwhile and waits for it.
    receive(&mut a, bundle(2, b"second"), 2);
    a.commit().unwrap();
    assert!(accepted(&drain(&mut a)).is_empty());
    assert_eq!(a.store().usage().bundles, 0, "the second is still held");
    assert!(a.confirm_delivery(NOW, &endpoint(), &lent[0].0).unwrap());
    let next = a.lend_deliveries(&endpoint(), 10, usize::MAX).unwrap();
    assert_eq!(next.len(), 1);
    assert!(a.confirm_delivery(NOW, &endpoint(), &next[0].0).unwrap());
    a.commit().unwrap();
    assert_eq!(accepted(&drain(&mut a)), vec![1, 2]);
    assert_eq!(a.store().usage().bundles, 0, "neither was stored");
    assert_eq!(a.stats().delivered_unstored, 2);
    // With nothing lent, a commit stores what waits.
    receive(&mut a, bundle(3, b"third"), 3);
    a.commit().unwrap();
    assert_eq!(accepted(&drain(&mut a)), vec![3]);
    assert_eq!(a.store().usage().bundles, 1);
    assert_eq!(a.stats().held_then_stored, 1);
}

/// Node 2 with a route for everything to node 3 and a link (1) up to it.
fn relay() -> Agent<MemoryStore> {
    let mut routes = RouteTable::default();
    routes.add("*", Eid::ipn(3, 0));
    let cfg = AgentConfig {
        node_id: Eid::ipn(2, 0),
        decode: DecodeOptions::default(),
    };
    let mut a = Agent::new(cfg, MemoryStore::new(1 << 30), Box::new(routes)).unwrap();
    let up = Event::LinkUp {
        link: 1,
        peer: Eid::ipn(3, 0),
        max_bundle_size: None,
    };
    a.handle(NOW, up).unwrap();
    drain(&mut a);
    a
}

fn onward(seq: u64) -> Vec<u8> {
    BundleBuilder::new(
        Eid::ipn(3, 1),
        Eid::ipn(1, 0),
        CreationTimestamp::new(NOW, seq),
    )
    .lifetime_ms(60_000)
    .payload(b"onward")
    .build()
    .unwrap()
}

fn sent(a: &mut Agent<MemoryStore>, at: DtnTime, seq: u64, ok: bool) {
    let event = Event::Sent {
        link: 1,
        id: id(seq),
        ok,
    };
    a.handle(at, event).unwrap();
}

fn transmitted(actions: &[Action]) -> usize {
    actions
        .iter()
        .filter(|x| matches!(x, Action::Transmit { .. }))
        .count()
}

#[test]
fn rfc9171_5_4_a_bundle_forwarded_at_once_is_acknowledged_once_the_next_hop_has_it() {
    let mut a = relay();
    receive(&mut a, onward(1), 1);
    assert_eq!(transmitted(&drain(&mut a)), 1);
    a.commit().unwrap();
    assert!(
        accepted(&drain(&mut a)).is_empty(),
        "the next hop has not got it"
    );
    assert_eq!(a.store().usage().bundles, 0, "held, not stored");
    // The next hop acknowledged it, so it is durable there: acknowledged at once.
    sent(&mut a, NOW, 1, true);
    assert_eq!(accepted(&drain(&mut a)), vec![1]);
    a.commit().unwrap();
    assert_eq!(a.store().usage().bundles, 0);
    let log: Vec<_> = a.store().log_for(&id(1)).unwrap();
    assert!(matches!(log[0].event, LogEvent::Received { .. }));
    assert!(matches!(log[1].event, LogEvent::Forwarded { .. }));
    assert_eq!(log.len(), 2);
    assert_eq!(a.stats().forwarded_unstored, 1);
}

#[test]
fn rfc9171_5_4_a_held_bundle_the_link_fails_is_stored_and_tried_again() {
    let mut a = relay();
    receive(&mut a, onward(1), 1);
    drain(&mut a);
    sent(&mut a, NOW, 1, false);
    a.commit().unwrap();
    assert_eq!(accepted(&drain(&mut a)), vec![1], "stored, so acknowledged");
    assert_eq!(a.store().usage().bundles, 1);
    assert_eq!(a.stats().held_then_stored, 1);
    // The router is asked again at the next timer: out it goes, from the store.
    a.handle(DtnTime(NOW.0 + 1), Event::Timer).unwrap();
    assert_eq!(transmitted(&drain(&mut a)), 1);
    sent(&mut a, DtnTime(NOW.0 + 2), 1, true);
    a.commit().unwrap();
    assert_eq!(a.store().usage().bundles, 0);
}

#[test]
fn rfc9171_5_4_a_held_bundle_the_next_hop_is_slow_to_take_is_stored_in_time() {
    let mut a = relay();
    receive(&mut a, onward(1), 1);
    drain(&mut a);
    a.commit().unwrap();
    a.handle(DtnTime(NOW.0 + HOLD_MS), Event::Timer).unwrap();
    a.commit().unwrap();
    assert_eq!(accepted(&drain(&mut a)), vec![1]);
    assert_eq!(
        a.store().usage().bundles,
        1,
        "stored while still on its way"
    );
    sent(&mut a, DtnTime(NOW.0 + HOLD_MS + 1), 1, true);
    a.commit().unwrap();
    assert_eq!(
        a.store().usage().bundles,
        0,
        "gone once the next hop has it"
    );
    assert_eq!(a.stats().forwarded, 1);
}

#[test]
fn a_crash_while_a_forwarded_bundle_is_held_loses_nothing() {
    let mut a = relay();
    receive(&mut a, onward(1), 1);
    drain(&mut a);
    a.commit().unwrap();
    let crashed = a.store().clone();
    drop(a);
    let log = crashed.log_for(&id(1)).unwrap();
    assert!(
        log.is_empty(),
        "nothing logged: a retransmission is no duplicate"
    );
    assert_eq!(crashed.usage().bundles, 0);
}

#[test]
fn rfc9171_5_4_a_held_bundle_waits_in_a_full_link_queue_and_goes_out_from_memory() {
    let mut a = relay();
    a.set_link_window(NOW, 1, 1, 1 << 20).unwrap();
    receive(&mut a, onward(1), 1);
    receive(&mut a, onward(2), 2);
    assert_eq!(transmitted(&drain(&mut a)), 1, "a window of one");
    a.commit().unwrap();
    assert!(accepted(&drain(&mut a)).is_empty());
    assert_eq!(
        a.store().usage().bundles,
        0,
        "both held: one sent, one queued"
    );
    sent(&mut a, NOW, 1, true);
    let actions = drain(&mut a);
    assert_eq!(transmitted(&actions), 1, "the second, once there is room");
    assert_eq!(accepted(&actions), vec![1]);
    sent(&mut a, NOW, 2, true);
    assert_eq!(accepted(&drain(&mut a)), vec![2]);
    assert_eq!(a.stats().forwarded_unstored, 2);
    assert_eq!(a.stats().held_then_stored, 0);
}

#[test]
fn on_a_link_that_acknowledges_nothing_a_held_bundle_waits_for_the_commit() {
    let mut a = relay();
    a.set_link_unacknowledged(1);
    receive(&mut a, onward(1), 1);
    drain(&mut a);
    // UDP: "sent" is the socket's word, not the peer's.
    sent(&mut a, NOW, 1, true);
    assert!(
        accepted(&drain(&mut a)).is_empty(),
        "not on the link's word"
    );
    a.commit().unwrap();
    assert_eq!(accepted(&drain(&mut a)), vec![1]);
    assert_eq!(a.store().usage().bundles, 0);
    assert_eq!(a.stats().forwarded_unstored, 1);
}

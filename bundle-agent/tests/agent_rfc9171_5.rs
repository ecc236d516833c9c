//! The bundle protocol agent (RFC 9171 §5) driven by events over the memory store, with
//! virtual time: acknowledgement only after commit, duplicates, delivery, static-route
//! forwarding, retention while links are down, expiry, quota, restart, and a three-node chain.

// Test code: a panic is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bundle_agent::agent::{Action, Agent, AgentConfig, Event, RefuseCause, RouteTable};
use bundle_agent::store::{BundleStore, DeliveryMode, LogEvent, MemoryStore, Registration};
use bundle_agent::wire::{
    BundleBuilder, BundleView, CreationTimestamp, DecodeOptions, DtnTime, Eid,
};

const NOW: DtnTime = DtnTime(1_000_000);

fn agent(node: u32, routes: RouteTable, quota: u64) -> Agent<MemoryStore> {
    agent_over(node, routes, MemoryStore::new(quota))
}

/// Node `node`'s agent over `store`: a fresh start, or a restart over what it kept.
fn agent_over(node: u32, routes: RouteTable, store: MemoryStore) -> Agent<MemoryStore> {
    let cfg = AgentConfig {
        node_id: Eid::ipn(node, 0),
        decode: DecodeOptions::default(),
    };
    Agent::new(cfg, store, Box::new(routes)).unwrap()
}

/// Node 2 with a passive registration for `endpoint` and bundles 1, 2, 3 (payloads [1],
/// [2], [3]) waiting there, committed.
fn passive_with_three(endpoint: &Eid) -> Agent<MemoryStore> {
    let mut a = agent(2, RouteTable::default(), 1 << 20);
    a.handle(
        NOW,
        Event::Register(Registration {
            endpoint: endpoint.clone(),
            mode: DeliveryMode::Passive,
        }),
    )
    .unwrap();
    for seq in 1..=3 {
        receive(
            &mut a,
            bundle(1, endpoint.clone(), seq, 60_000, &[seq as u8]),
            seq,
        );
    }
    a.commit().unwrap();
    a
}

fn bundle(src: u32, dst: Eid, seq: u64, lifetime_ms: u64, payload: &[u8]) -> Vec<u8> {
    BundleBuilder::new(dst, Eid::ipn(src, 0), CreationTimestamp::new(NOW, seq))
        .lifetime_ms(lifetime_ms)
        .hop_count(5, 0)
        .payload(payload)
        .build()
        .unwrap()
}

/// A bundle arrives on link 1 at `NOW`.
fn receive(a: &mut Agent<MemoryStore>, bytes: Vec<u8>, token: u64) {
    a.handle(
        NOW,
        Event::Received {
            link: 1,
            bytes,
            token,
        },
    )
    .unwrap();
}

fn drain<S: BundleStore>(a: &mut Agent<S>) -> Vec<Action> {
    std::iter::from_fn(|| a.poll_action()).collect()
}

#[test]
fn rfc9171_5_6_acknowledged_only_after_commit_and_duplicates_suppressed() {
    let mut a = agent(2, RouteTable::default(), 1 << 20);
    let b = bundle(1, Eid::ipn(9, 1), 1, 60_000, b"x");
    receive(&mut a, b.clone(), 7);
    assert!(
        drain(&mut a).is_empty(),
        "no acknowledgement before the store is synced"
    );
    a.commit().unwrap();
    assert_eq!(drain(&mut a), vec![Action::Accept { token: 7 }]);
    // The same bundle again: acknowledged at once, stored once.
    receive(&mut a, b, 8);
    assert_eq!(drain(&mut a), vec![Action::Accept { token: 8 }]);
    assert_eq!(a.store().usage().bundles, 1);
}

#[test]
fn rfc9171_5_6_malformed_bundles_are_refused_with_the_rule() {
    let mut a = agent(2, RouteTable::default(), 1 << 20);
    let mut b = bundle(1, Eid::ipn(9, 1), 1, 60_000, b"payload");
    let last = b.len() - 3;
    b[last] ^= 0xff; // inside the payload block's CRC
    receive(&mut a, b, 1);
    match drain(&mut a).as_slice() {
        [Action::Refuse {
            token: 1,
            cause: RefuseCause::Malformed(e),
        }] => assert!(e.to_string().contains("CRC-32C mismatch")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn rfc9171_5_7_local_delivery_to_a_registered_endpoint() {
    let mut a = agent(2, RouteTable::default(), 1 << 20);
    let app = Eid::ipn(2, 7);
    // Arrives before the application registers: kept.
    receive(&mut a, bundle(1, app.clone(), 1, 60_000, b"early"), 1);
    a.commit().unwrap();
    assert_eq!(drain(&mut a), vec![Action::Accept { token: 1 }]);
    a.handle(
        NOW,
        Event::Register(Registration {
            endpoint: app.clone(),
            mode: DeliveryMode::Active,
        }),
    )
    .unwrap();
    let delivered = drain(&mut a);
    assert!(
        matches!(&delivered[..], [Action::Deliver { endpoint, payload, .. }] if *endpoint == app && payload[..] == b"early"[..])
    );
    // Registered now: delivered on arrival.
    a.handle(
        NOW,
        Event::AppSubmit {
            bytes: bundle(1, app.clone(), 2, 60_000, b"late"),
            token: 2,
        },
    )
    .unwrap();
    a.commit().unwrap();
    let actions = drain(&mut a);
    assert!(actions
        .iter()
        .any(|x| matches!(x, Action::Deliver { payload, .. } if payload[..] == b"late"[..])));
    assert_eq!(
        a.store().usage().bundles,
        0,
        "delivered bundles are not retained"
    );
}

#[test]
fn rfc9171_5_4_forwarding_waits_for_the_link_then_updates_blocks() {
    let mut routes = RouteTable::default();
    routes.add("ipn:3.*", Eid::ipn(3, 0));
    let mut a = agent(2, routes, 1 << 20);
    let b = bundle(1, Eid::ipn(3, 1), 1, 60_000, b"fwd");
    a.handle(
        NOW,
        Event::Received {
            link: 9,
            bytes: b,
            token: 1,
        },
    )
    .unwrap();
    a.commit().unwrap();
    assert_eq!(
        drain(&mut a),
        vec![Action::Accept { token: 1 }],
        "no link yet: kept"
    );
    let later = DtnTime(NOW.0 + 500);
    a.handle(
        later,
        Event::LinkUp {
            link: 4,
            peer: Eid::ipn(3, 0),
            max_bundle_size: None,
        },
    )
    .unwrap();
    let actions: [Action; 1] = drain(&mut a).try_into().unwrap();
    let [Action::Transmit { link: 4, id, bytes }] = actions else {
        panic!("{actions:?}")
    };
    let bytes = bytes.to_vec();
    let v = BundleView::decode(&bytes).unwrap();
    assert_eq!(v.previous_node(), Some(&Eid::ipn(2, 0)));
    assert_eq!(v.hop_count().unwrap().count, 1);
    // Not acknowledged by the peer: kept and sent again on the next contact.
    a.handle(
        later,
        Event::Sent {
            link: 4,
            id: id.clone(),
            ok: false,
        },
    )
    .unwrap();
    a.handle(later, Event::LinkDown { link: 4 }).unwrap();
    a.handle(
        later,
        Event::LinkUp {
            link: 5,
            peer: Eid::ipn(3, 0),
            max_bundle_size: None,
        },
    )
    .unwrap();
    assert!(matches!(
        drain(&mut a).as_slice(),
        [Action::Transmit { link: 5, .. }]
    ));
    a.handle(
        later,
        Event::Sent {
            link: 5,
            id: id.clone(),
            ok: true,
        },
    )
    .unwrap();
    assert_eq!(a.store().usage().bundles, 0);
    let log: Vec<LogEvent> = a
        .store()
        .log_for(&id)
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert!(
        matches!(log.as_slice(), [LogEvent::Received { .. }, LogEvent::Forwarded { to }] if *to == Eid::ipn(3, 0))
    );
}

#[test]
fn rfc9171_5_11_expired_bundles_are_deleted() {
    let mut a = agent(2, RouteTable::default(), 1 << 20);
    receive(&mut a, bundle(1, Eid::ipn(8, 1), 1, 1_000, b"a"), 1);
    receive(&mut a, bundle(1, Eid::ipn(8, 1), 2, 5_000, b"b"), 2);
    assert_eq!(a.next_timeout(), Some(DtnTime(NOW.0 + 1_000)));
    a.handle(DtnTime(NOW.0 + 1_000), Event::Timer).unwrap();
    assert_eq!(a.store().usage().bundles, 1);
    assert_eq!(a.next_timeout(), Some(DtnTime(NOW.0 + 5_000)));
    // A bundle already past its lifetime on arrival is acknowledged and dropped.
    a.handle(
        DtnTime(NOW.0 + 10_000),
        Event::Received {
            link: 1,
            bytes: bundle(1, Eid::ipn(8, 1), 3, 1_000, b"c"),
            token: 3,
        },
    )
    .unwrap();
    assert_eq!(drain(&mut a).last(), Some(&Action::Accept { token: 3 }));
    assert_eq!(a.store().usage().bundles, 1);
}

#[test]
fn full_store_refuses_and_keeps_what_it_has() {
    let mut a = agent(2, RouteTable::default(), 200);
    receive(&mut a, bundle(1, Eid::ipn(8, 1), 1, 60_000, &[1; 100]), 1);
    receive(&mut a, bundle(1, Eid::ipn(8, 1), 2, 60_000, &[2; 100]), 2);
    a.commit().unwrap();
    let actions = drain(&mut a);
    assert!(actions.contains(&Action::Refuse {
        token: 2,
        cause: RefuseCause::StoreFull
    }));
    assert!(actions.contains(&Action::Accept { token: 1 }));
    assert_eq!(a.store().usage().bundles, 1);
}

#[test]
fn restart_rebuilds_registrations_and_queues_from_the_store() {
    let mut routes = RouteTable::default();
    routes.add("*", Eid::ipn(3, 0));
    let mut a = agent(2, routes.clone(), 1 << 20);
    a.handle(
        NOW,
        Event::Register(Registration {
            endpoint: Eid::ipn(2, 5),
            mode: DeliveryMode::Active,
        }),
    )
    .unwrap();
    receive(&mut a, bundle(1, Eid::ipn(7, 1), 1, 60_000, b"queued"), 1);
    a.commit().unwrap();
    let store = a.store().clone();
    drop(a);
    let mut b = agent_over(2, routes, store);
    b.handle(
        NOW,
        Event::LinkUp {
            link: 1,
            peer: Eid::ipn(3, 0),
            max_bundle_size: None,
        },
    )
    .unwrap();
    assert!(matches!(
        drain(&mut b).as_slice(),
        [Action::Transmit { .. }]
    ));
    b.handle(
        NOW,
        Event::AppSubmit {
            bytes: bundle(1, Eid::ipn(2, 5), 2, 60_000, b"hi"),
            token: 2,
        },
    )
    .unwrap();
    assert!(
        drain(&mut b)
            .iter()
            .any(|x| matches!(x, Action::Deliver { .. })),
        "registration survived the restart"
    );
}

/// Bundles waiting for a passive registration are found again after a restart, oldest
/// first, without being fetched twice.
#[test]
fn restart_keeps_bundles_waiting_for_a_passive_endpoint() {
    let endpoint = Eid::ipn(2, 9);
    let mut a = passive_with_three(&endpoint);
    let (_, first) = a.take_delivery(NOW, &endpoint).unwrap().unwrap();
    assert_eq!(first, vec![1]);
    a.commit().unwrap();
    let store = a.store().clone();
    drop(a);
    let mut b = agent_over(2, RouteTable::default(), store);
    let rest: Vec<Vec<u8>> = b
        .take_deliveries(NOW, &endpoint, 10, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|(_, p)| p.to_vec())
        .collect();
    assert_eq!(rest, vec![vec![2], vec![3]]);
    assert!(b.take_delivery(NOW, &endpoint).unwrap().is_none());
    assert_eq!(b.store().usage().bundles, 0);
}

/// A link takes a window of bundles at a time; the others wait in the store and go as
/// transmissions finish, so a backlog never sits in memory all at once.
#[test]
fn a_link_takes_a_window_of_bundles_and_the_rest_follow() {
    let mut routes = RouteTable::default();
    routes.add("*", Eid::ipn(3, 0));
    let mut a = agent(2, routes, 64 << 20);
    let total = 300u64;
    for seq in 0..total {
        receive(
            &mut a,
            bundle(1, Eid::ipn(7, 1), seq, 60_000, b"queued"),
            seq,
        );
    }
    a.commit().unwrap();
    drain(&mut a);
    a.handle(
        NOW,
        Event::LinkUp {
            link: 5,
            peer: Eid::ipn(3, 0),
            max_bundle_size: None,
        },
    )
    .unwrap();
    let sent_ids = |actions: Vec<Action>| -> Vec<bundle_agent::wire::BundleId> {
        actions
            .into_iter()
            .filter_map(|x| match x {
                Action::Transmit { id, .. } => Some(id),
                _ => None,
            })
            .collect()
    };
    let first = sent_ids(drain(&mut a));
    assert_eq!(first.len(), 256, "the window, not the whole backlog");
    let mut sent = first.len();
    let mut outstanding = first;
    while let Some(id) = outstanding.pop() {
        a.handle(
            NOW,
            Event::Sent {
                link: 5,
                id,
                ok: true,
            },
        )
        .unwrap();
        let more = sent_ids(drain(&mut a));
        sent += more.len();
        outstanding.extend(more);
        assert!(outstanding.len() <= 256);
    }
    assert_eq!(sent as u64, total, "every bundle went, each once");
    assert_eq!(a.store().usage().bundles, 0);
}

/// The ID of the bundle `bundle(1, _, seq, ..)` makes.
fn id_of(seq: u64) -> bundle_agent::wire::BundleId {
    bundle_agent::wire::BundleId {
        source: Eid::ipn(1, 0),
        creation: CreationTimestamp::new(NOW, seq),
        fragment: None,
    }
}

/// Bundles with a priority block: a congested link sends expedited bundles before normal
/// ones and bulk ones last, first come first within a priority, also when the bundles were
/// waiting in the store before the link came up.
#[test]
fn priority_orders_a_congested_link() {
    use bundle_agent::wire::block::{priority_data, PRIORITY};
    use bundle_agent::wire::BlockFlags;
    let mut routes = RouteTable::default();
    routes.add("*", Eid::ipn(3, 0));
    let mut a = agent(2, routes, 64 << 20);
    let with_priority = |seq: u64, p: Option<u8>| {
        let mut b = BundleBuilder::new(
            Eid::ipn(7, 1),
            Eid::ipn(1, 0),
            CreationTimestamp::new(NOW, seq),
        )
        .lifetime_ms(60_000)
        .payload(b"x");
        if let Some(p) = p {
            b = b.block(PRIORITY, BlockFlags(0), priority_data(p));
        }
        b.build().unwrap()
    };
    let transmitted = |a: &mut Agent<MemoryStore>| -> Vec<u64> {
        drain(a)
            .into_iter()
            .filter_map(|x| match x {
                Action::Transmit { id, .. } => Some(id.creation.sequence),
                _ => None,
            })
            .collect()
    };
    // Waiting in the store before the link is up: bulk, normal, expedited, normal. The link
    // comes up and takes them, expedited first, bulk last.
    for (seq, p) in [(0, Some(0)), (1, None), (2, Some(2)), (3, Some(1))] {
        receive(&mut a, with_priority(seq, p), seq);
    }
    a.commit().unwrap();
    drain(&mut a);
    a.handle(
        NOW,
        Event::LinkUp {
            link: 5,
            peer: Eid::ipn(3, 0),
            max_bundle_size: None,
        },
    )
    .unwrap();
    assert_eq!(transmitted(&mut a), vec![2, 1, 3, 0]);
    // A link that takes one at a time: what arrives meanwhile queues by priority.
    a.set_link_window(NOW, 5, 1, 1 << 20).unwrap();
    for seq in 0..4 {
        let id = id_of(seq);
        a.handle(
            NOW,
            Event::Sent {
                link: 5,
                id,
                ok: true,
            },
        )
        .unwrap();
    }
    drain(&mut a);
    let mut order = Vec::new();
    for (seq, p) in [
        (10, Some(0)),
        (11, None),
        (12, Some(2)),
        (13, Some(1)),
        (14, Some(2)),
    ] {
        receive(&mut a, with_priority(seq, p), seq);
        a.commit().unwrap();
        order.extend(transmitted(&mut a));
    }
    for _ in 0..10 {
        let Some(&seq) = order.last() else { break };
        let id = id_of(seq);
        a.handle(
            NOW,
            Event::Sent {
                link: 5,
                id,
                ok: true,
            },
        )
        .unwrap();
        order.extend(transmitted(&mut a));
    }
    // 10 (bulk) found the link free; then the two expedited in arrival order, the normal
    // ones, and nothing else.
    assert_eq!(order, vec![10, 12, 14, 11, 13]);
}

/// Two-phase delivery (push subscribers): a lent bundle stays stored until confirmed, is not
/// lent twice, waits again when given back, and survives a restart unconfirmed.
#[test]
fn rfc9171_5_7_lent_bundles_leave_only_when_confirmed() {
    let endpoint = Eid::ipn(2, 9);
    let mut a = passive_with_three(&endpoint);
    let lent = a.lend_deliveries(&endpoint, 2, usize::MAX).unwrap();
    let payloads: Vec<&[u8]> = lent.iter().map(|(_, p)| &p[..]).collect();
    assert_eq!(payloads, vec![&[1u8][..], &[2u8][..]]);
    assert_eq!(a.store().usage().bundles, 3, "lent, not gone");
    // Not lent twice; /recv-style takes skip lent bundles too.
    let more = a.lend_deliveries(&endpoint, 10, usize::MAX).unwrap();
    assert_eq!(more.len(), 1);
    assert_eq!(more[0].1, vec![3]);
    assert!(a.take_delivery(NOW, &endpoint).unwrap().is_none());
    assert!(a.confirm_delivery(NOW, &endpoint, &lent[0].0).unwrap());
    assert!(
        !a.confirm_delivery(NOW, &endpoint, &lent[0].0).unwrap(),
        "once"
    );
    a.give_back(&lent[1].0);
    a.commit().unwrap();
    assert_eq!(a.store().usage().bundles, 2);
    let again = a.lend_deliveries(&endpoint, 10, usize::MAX).unwrap();
    assert_eq!(again.len(), 1, "the given-back bundle waits again");
    assert_eq!(again[0].1, vec![2]);
    // Unconfirmed at a restart: both still there.
    let store = a.store().clone();
    drop(a);
    let mut b = agent_over(2, RouteTable::default(), store);
    assert_eq!(
        b.take_deliveries(NOW, &endpoint, 10, usize::MAX)
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn three_nodes_forward_a_to_b_to_c() {
    let mut ra = RouteTable::default();
    ra.add("ipn:3.*", Eid::ipn(2, 0));
    let mut nodes = [
        agent(1, ra, 1 << 20),
        agent(2, RouteTable::default(), 1 << 20),
        agent(3, RouteTable::default(), 1 << 20),
    ];
    // Links: A(1)-B(2) is link 12 on both sides; B(2)-C(3) is link 23.
    nodes[0]
        .handle(
            NOW,
            Event::LinkUp {
                link: 12,
                peer: Eid::ipn(2, 0),
                max_bundle_size: None,
            },
        )
        .unwrap();
    nodes[1]
        .handle(
            NOW,
            Event::LinkUp {
                link: 12,
                peer: Eid::ipn(1, 0),
                max_bundle_size: None,
            },
        )
        .unwrap();
    nodes[1]
        .handle(
            NOW,
            Event::LinkUp {
                link: 23,
                peer: Eid::ipn(3, 0),
                max_bundle_size: None,
            },
        )
        .unwrap();
    nodes[2]
        .handle(
            NOW,
            Event::LinkUp {
                link: 23,
                peer: Eid::ipn(2, 0),
                max_bundle_size: None,
            },
        )
        .unwrap();
    nodes[2]
        .handle(
            NOW,
            Event::Register(Registration {
                endpoint: Eid::ipn(3, 1),
                mode: DeliveryMode::Active,
            }),
        )
        .unwrap();
    nodes[0]
        .handle(
            NOW,
            Event::AppSubmit {
                bytes: bundle(1, Eid::ipn(3, 1), 1, 60_000, b"end to end"),
                token: 1,
            },
        )
        .unwrap();
    let mut delivered = Vec::new();
    // Run until quiet, moving transmissions over the links.
    for _ in 0..10 {
        let mut moved = false;
        for i in 0..3 {
            nodes[i].commit().unwrap();
            for action in drain(&mut nodes[i]) {
                match action {
                    Action::Transmit { link, id, bytes } => {
                        moved = true;
                        let to = if link == 12 {
                            if i == 0 {
                                1
                            } else {
                                0
                            }
                        } else if i == 1 {
                            2
                        } else {
                            1
                        };
                        nodes[to]
                            .handle(
                                NOW,
                                Event::Received {
                                    link,
                                    bytes: bytes.to_vec(),
                                    token: 0,
                                },
                            )
                            .unwrap();
                        nodes[i]
                            .handle(NOW, Event::Sent { link, id, ok: true })
                            .unwrap();
                    }
                    Action::Deliver {
                        endpoint, payload, ..
                    } => delivered.push((i, endpoint, payload)),
                    _ => {}
                }
            }
        }
        if !moved {
            break;
        }
    }
    assert_eq!(
        delivered,
        vec![(2, Eid::ipn(3, 1), bytes::Bytes::from_static(b"end to end"))]
    );
    assert!(nodes.iter().all(|n| n.store().usage().bundles == 0));
}

#[test]
fn rfc9171_5_7_passive_registration_keeps_bundles_until_taken() {
    let mut a = agent(2, RouteTable::default(), 1 << 20);
    let app = Eid::ipn(2, 9);
    a.handle(
        NOW,
        Event::Register(Registration {
            endpoint: app.clone(),
            mode: DeliveryMode::Passive,
        }),
    )
    .unwrap();
    for seq in 1..=2 {
        receive(
            &mut a,
            bundle(1, app.clone(), seq, 60_000, &[seq as u8]),
            seq,
        );
    }
    a.commit().unwrap();
    assert!(
        !drain(&mut a)
            .iter()
            .any(|x| matches!(x, Action::Deliver { .. })),
        "passive: nothing pushed"
    );
    assert_eq!(a.store().usage().bundles, 2);
    assert_eq!(
        a.take_delivery(NOW, &app).unwrap().map(|(_, p)| p.to_vec()),
        Some(vec![1])
    );
    assert_eq!(
        a.take_delivery(NOW, &app).unwrap().map(|(_, p)| p.to_vec()),
        Some(vec![2])
    );
    assert_eq!(a.take_delivery(NOW, &app).unwrap(), None);
    assert_eq!(a.store().usage().bundles, 0);
}

fn reports_to(actions: &[Action], endpoint: &Eid) -> Vec<bundle_agent::wire::StatusReport> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Deliver {
                endpoint: e,
                payload,
                ..
            } if e == endpoint => match bundle_agent::wire::AdminRecord::decode(payload) {
                Ok(bundle_agent::wire::AdminRecord::StatusReport(r)) => Some(r),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

#[test]
fn rfc9171_6_1_status_reports_for_reception_delivery_and_deletion() {
    use bundle_agent::wire::{BundleFlags, ReasonCode};
    let mut a = agent(2, RouteTable::default(), 1 << 20);
    let (app, reports) = (Eid::ipn(2, 7), Eid::ipn(2, 9));
    for e in [&app, &reports] {
        a.handle(
            NOW,
            Event::Register(Registration {
                endpoint: e.clone(),
                mode: DeliveryMode::Active,
            }),
        )
        .unwrap();
    }
    let flags = BundleFlags(
        BundleFlags::REPORT_RECEPTION
            | BundleFlags::REPORT_DELIVERY
            | BundleFlags::REPORT_DELETION
            | BundleFlags::STATUS_TIME_REQUESTED,
    );
    let asked = BundleBuilder::new(app.clone(), Eid::ipn(1, 0), CreationTimestamp::new(NOW, 1))
        .flags(flags)
        .report_to(reports.clone())
        .payload(b"tell me")
        .build()
        .unwrap();
    receive(&mut a, asked, 1);
    a.commit().unwrap();
    let got = reports_to(&drain(&mut a), &reports);
    assert_eq!(got.len(), 2, "one report for reception, one for delivery");
    assert!(got[0].received.asserted && got[0].received.time == Some(NOW));
    assert!(got[1].delivered.asserted);
    assert_eq!(got[1].subject.source, Eid::ipn(1, 0));
    // Expiry: a bundle for an absent endpoint that asks about deletion.
    let doomed = BundleBuilder::new(
        Eid::ipn(2, 8),
        Eid::ipn(1, 0),
        CreationTimestamp::new(NOW, 2),
    )
    .flags(BundleFlags(BundleFlags::REPORT_DELETION))
    .report_to(reports.clone())
    .lifetime_ms(1_000)
    .payload(b"late")
    .build()
    .unwrap();
    receive(&mut a, doomed, 2);
    a.handle(DtnTime(NOW.0 + 1_000), Event::Timer).unwrap();
    let got = reports_to(&drain(&mut a), &reports);
    assert_eq!(got.len(), 1);
    assert!(got[0].deleted.asserted);
    assert_eq!(got[0].reason, ReasonCode::LIFETIME_EXPIRED);
    // A bundle that asked for nothing gets no report.
    receive(&mut a, bundle(1, app.clone(), 3, 60_000, b"quiet"), 3);
    a.commit().unwrap();
    assert!(reports_to(&drain(&mut a), &reports).is_empty());
}

#[test]
fn rfc9171_5_8_and_5_9_fragmented_for_a_small_link_and_reassembled_at_the_destination() {
    use bundle_agent::wire::BundleFlags;
    let mut relay = agent(2, RouteTable::default(), 1 << 24);
    let mut dest = agent(3, RouteTable::default(), 1 << 24);
    dest.handle(
        NOW,
        Event::Register(Registration {
            endpoint: Eid::ipn(3, 1),
            mode: DeliveryMode::Active,
        }),
    )
    .unwrap();
    let payload: Vec<u8> = (0..10_000u32).map(|i| (i % 241) as u8).collect();
    receive(
        &mut relay,
        bundle(1, Eid::ipn(3, 1), 1, 60_000, &payload),
        1,
    );
    // Must not be fragmented: stays pending rather than going out in pieces.
    let stubborn = BundleBuilder::new(
        Eid::ipn(3, 1),
        Eid::ipn(1, 0),
        CreationTimestamp::new(NOW, 2),
    )
    .flags(BundleFlags(BundleFlags::MUST_NOT_FRAGMENT))
    .lifetime_ms(60_000)
    .payload(&payload)
    .build()
    .unwrap();
    receive(&mut relay, stubborn, 2);
    relay.commit().unwrap();
    drain(&mut relay);
    relay
        .handle(
            NOW,
            Event::LinkUp {
                link: 7,
                peer: Eid::ipn(3, 0),
                max_bundle_size: Some(1500),
            },
        )
        .unwrap();
    let sent: Vec<(bundle_agent::wire::BundleId, Vec<u8>)> = drain(&mut relay)
        .into_iter()
        .map(|a| match a {
            Action::Transmit { link: 7, id, bytes } => (id, bytes.to_vec()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(sent.len() >= 7, "{} fragments", sent.len());
    assert!(sent.iter().all(|(_, b)| b.len() <= 1500));
    assert!(sent.iter().all(|(id, _)| id.creation.sequence == 1));
    // Acknowledged piece by piece: forwarded once the last one is.
    for (i, (id, _)) in sent.iter().enumerate() {
        assert_eq!(relay.store().usage().bundles, 2, "after {i} acks");
        relay
            .handle(
                NOW,
                Event::Sent {
                    link: 7,
                    id: id.clone(),
                    ok: true,
                },
            )
            .unwrap();
    }
    assert_eq!(
        relay.store().usage().bundles,
        1,
        "only the unfragmentable one is left"
    );

    // At the destination, in reverse order and with one duplicate, the ADU comes back once.
    let mut arrivals: Vec<Vec<u8>> = sent.iter().rev().map(|(_, b)| b.clone()).collect();
    arrivals.insert(2, sent[0].1.clone());
    let mut delivered = Vec::new();
    for (t, bytes) in arrivals.into_iter().enumerate() {
        receive(&mut dest, bytes, t as u64 + 10);
        dest.commit().unwrap();
        delivered.extend(drain(&mut dest).into_iter().filter_map(|a| match a {
            Action::Deliver { payload, .. } => Some(payload),
            _ => None,
        }));
    }
    assert_eq!(delivered, vec![payload]);
    assert_eq!(
        dest.store().usage().bundles,
        0,
        "fragments and bundle are gone"
    );
}

#[test]
fn rfc9171_5_6_a_bundle_received_again_after_delivery_is_a_duplicate() {
    let mut a = agent(2, RouteTable::default(), 1 << 20);
    a.handle(
        NOW,
        Event::Register(Registration {
            endpoint: Eid::ipn(2, 1),
            mode: DeliveryMode::Active,
        }),
    )
    .unwrap();
    let b = bundle(1, Eid::ipn(2, 1), 1, 60_000, b"once");
    receive(&mut a, b.clone(), 1);
    a.commit().unwrap();
    let delivered = |acts: &[Action]| {
        acts.iter()
            .filter(|x| matches!(x, Action::Deliver { .. }))
            .count()
    };
    assert_eq!(delivered(&drain(&mut a)), 1);
    assert_eq!(a.store().usage().bundles, 0, "gone once delivered");
    // The sender never saw our acknowledgement and sends it again.
    receive(&mut a, b, 2);
    a.commit().unwrap();
    let acts = drain(&mut a);
    assert_eq!(delivered(&acts), 0, "not delivered twice");
    assert!(
        acts.contains(&Action::Accept { token: 2 }),
        "but acknowledged"
    );
    assert_eq!(a.stats().duplicates, 1);
}

//! TCPCLv4 sessions (RFC 9174) between two sans-IO endpoints wired back to back in memory,
//! with virtual time, and against hostile peers that send raw bytes.

// Test code: a panic is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use transports::tcpcl::codes::message_type;
use transports::tcpcl::message::encode_segment_header;
use transports::tcpcl::*;

const T0: Duration = Duration::from_secs(100);

/// Two sessions joined by an in-memory connection.
struct Pair {
    a: Session,
    b: Session,
    a_events: Vec<SessionEvent>,
    b_events: Vec<SessionEvent>,
}

impl Pair {
    fn new(ca: SessionConfig, cb: SessionConfig) -> Self {
        let mut p = Pair {
            a: Session::new(ca, Role::Active),
            b: Session::new(cb, Role::Passive),
            a_events: vec![],
            b_events: vec![],
        };
        p.a.start(T0);
        p.b.start(T0);
        p.run(T0);
        p
    }

    fn up() -> Self {
        Self::new(SessionConfig::new("ipn:1.0"), SessionConfig::new("ipn:2.0"))
    }

    /// Moves bytes both ways until neither side has anything to say.
    fn run(&mut self, now: Duration) {
        loop {
            let mut moved = false;
            while let Some(e) = self.a.poll_event() {
                match e {
                    SessionEvent::Transmit(bytes) => {
                        moved = true;
                        self.b.on_bytes(now, &bytes);
                    }
                    other => self.a_events.push(other),
                }
            }
            while let Some(e) = self.b.poll_event() {
                match e {
                    SessionEvent::Transmit(bytes) => {
                        moved = true;
                        self.a.on_bytes(now, &bytes);
                    }
                    other => self.b_events.push(other),
                }
            }
            if !moved {
                return;
            }
        }
    }

    fn received_by_b(&self) -> Vec<(u64, Vec<u8>)> {
        received(&self.b_events)
    }
}

/// The bundles among `events`, with their transfer IDs.
fn received(events: &[SessionEvent]) -> Vec<(u64, Vec<u8>)> {
    events
        .iter()
        .filter_map(|e| match e {
            SessionEvent::Received {
                transfer_id,
                bundle,
            } => Some((*transfer_id, bundle.clone())),
            _ => None,
        })
        .collect()
}

fn established(events: &[SessionEvent]) -> Option<&Negotiated> {
    events.iter().find_map(|e| match e {
        SessionEvent::Established(n) => Some(n),
        _ => None,
    })
}

/// Drains a single session, returning what it transmitted and its other events.
fn drain(s: &mut Session) -> (Vec<u8>, Vec<SessionEvent>) {
    let mut bytes = Vec::new();
    let mut other = Vec::new();
    while let Some(e) = s.poll_event() {
        match e {
            SessionEvent::Transmit(b) => bytes.extend(b),
            e => other.push(e),
        }
    }
    (bytes, other)
}

/// A passive session that has done the contact and SESS_INIT exchange with a raw peer.
fn raw_established() -> Session {
    raw_established_with(SessionConfig::new("ipn:2.0"))
}

fn raw_established_with(cfg: SessionConfig) -> Session {
    let mut s = Session::new(cfg, Role::Passive);
    s.start(T0);
    s.on_bytes(T0, &ContactHeader::ours(false).encode());
    let mut init = Vec::new();
    Message::SessInit(SessInit {
        keepalive_secs: 0,
        segment_mru: 1000,
        transfer_mru: 10_000,
        node_id: "ipn:9.0".into(),
        extensions: vec![],
    })
    .encode(&mut init);
    s.on_bytes(T0, &init);
    let (_, events) = drain(&mut s);
    assert!(established(&events).is_some());
    s
}

#[test]
fn rfc9174_4_7_session_parameters_are_negotiated() {
    let mut ca = SessionConfig::new("ipn:1.0");
    ca.keepalive_secs = 60;
    ca.segment_mru = 5000;
    let mut cb = SessionConfig::new("ipn:2.0");
    cb.keepalive_secs = 15;
    cb.segment_mru = 700;
    cb.transfer_mru = 9999;
    let p = Pair::new(ca, cb);
    let na = established(&p.a_events).unwrap();
    let nb = established(&p.b_events).unwrap();
    assert_eq!(na.peer_node_id, "ipn:2.0");
    assert_eq!(nb.peer_node_id, "ipn:1.0");
    assert_eq!((na.keepalive_secs, nb.keepalive_secs), (15, 15));
    assert_eq!(
        na.send_segment, 700,
        "A sends segments no larger than B accepts"
    );
    assert_eq!(nb.send_segment, 5000);
    assert_eq!(na.peer_transfer_mru, 9999);
    assert!(!na.tls);
}

#[test]
fn rfc9174_5_2_bundle_acknowledged_only_after_accept() {
    let mut p = Pair::up();
    let id = p.a.send(T0, b"a small bundle".to_vec()).unwrap();
    p.run(T0);
    assert_eq!(p.received_by_b(), vec![(id, b"a small bundle".to_vec())]);
    assert!(
        !p.a_events
            .iter()
            .any(|e| matches!(e, SessionEvent::Acked { .. })),
        "acked before the receiver accepted"
    );
    p.b.accept(T0, id);
    p.run(T0);
    assert!(p
        .a_events
        .contains(&SessionEvent::Acked { transfer_id: id }));
}

#[test]
fn rfc9174_5_2_2_multi_segment_transfers_several_in_flight() {
    let mut cb = SessionConfig::new("ipn:2.0");
    cb.segment_mru = 100;
    let mut p = Pair::new(SessionConfig::new("ipn:1.0"), cb);
    let bundles: Vec<Vec<u8>> = (0..3u8)
        .map(|i| (0..1000).map(|j| (j as u8).wrapping_mul(i + 1)).collect())
        .collect();
    let ids: Vec<u64> = bundles
        .iter()
        .map(|b| p.a.send(T0, b.clone()).unwrap())
        .collect();
    p.run(T0);
    let got = p.received_by_b();
    assert_eq!(got.len(), 3);
    for ((id, bundle), (want_id, want)) in got.iter().zip(ids.iter().zip(&bundles)) {
        assert_eq!((id, bundle), (want_id, want));
    }
    // Accepted out of order, acknowledged out of order.
    for id in ids.iter().rev() {
        p.b.accept(T0, *id);
    }
    p.run(T0);
    let acked: Vec<u64> = p
        .a_events
        .iter()
        .filter_map(|e| match e {
            SessionEvent::Acked { transfer_id } => Some(*transfer_id),
            _ => None,
        })
        .collect();
    assert_eq!(acked, vec![2, 1, 0]);
}

/// A bundle handed over in pieces (a forwarded payload shared, not copied) goes out as
/// one transfer whose segments cross the pieces' edges.
#[test]
fn rfc9174_5_2_2_a_bundle_in_pieces_is_one_transfer() {
    let mut cb = SessionConfig::new("ipn:2.0");
    cb.segment_mru = 100;
    let mut p = Pair::new(SessionConfig::new("ipn:1.0"), cb);
    let whole: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    let mut pieces = bundle_agent::wire::Encoded::default();
    for (from, to) in [(0, 3), (3, 250), (250, 251), (251, 1000)] {
        pieces.push(bytes::Bytes::copy_from_slice(&whole[from..to]));
    }
    let id = p.a.send(T0, pieces).unwrap();
    p.run(T0);
    assert_eq!(p.received_by_b(), vec![(id, whole)]);
}

#[test]
fn rfc9174_5_2_4_refused_bundle_is_reported() {
    let mut p = Pair::up();
    let id = p.a.send(T0, vec![1; 10]).unwrap();
    p.run(T0);
    p.b.refuse(T0, id, RefuseReason::NoResources);
    p.run(T0);
    assert!(p.a_events.contains(&SessionEvent::Failed {
        transfer_id: id,
        reason: RefuseReason::NoResources
    }));
}

#[test]
fn transfer_larger_than_peer_mru_is_refused_locally() {
    let mut cb = SessionConfig::new("ipn:2.0");
    cb.transfer_mru = 50;
    let mut p = Pair::new(SessionConfig::new("ipn:1.0"), cb);
    assert_eq!(
        p.a.send(T0, vec![0; 51]),
        Err(SendError::TooLarge { len: 51, mru: 50 })
    );
}

#[test]
fn rfc9174_4_3_version_mismatch_and_bad_magic() {
    let mut s = Session::new(SessionConfig::new("ipn:2.0"), Role::Passive);
    s.start(T0);
    s.on_bytes(T0, b"dtn!\x03\x00");
    let (bytes, events) = drain(&mut s);
    // Our contact header, then SESS_TERM "version mismatch".
    assert_eq!(&bytes[..6], b"dtn!\x04\x00");
    assert_eq!(
        &bytes[6..],
        &[
            message_type::SESS_TERM,
            0,
            TermReason::VersionMismatch.code()
        ]
    );
    assert!(matches!(
        events.last(),
        Some(SessionEvent::Closed(CloseReason::Terminated {
            reason: TermReason::VersionMismatch,
            ..
        }))
    ));

    let mut s = Session::new(SessionConfig::new("ipn:2.0"), Role::Passive);
    s.start(T0);
    s.on_bytes(T0, b"GET / HTTP/1.1\r\n");
    let (bytes, events) = drain(&mut s);
    assert!(bytes.is_empty(), "no reply to a peer that is not TCPCL");
    assert_eq!(events, vec![SessionEvent::Closed(CloseReason::NotTcpcl)]);
}

#[test]
fn rfc9174_5_1_2_garbage_gets_msg_reject_and_the_session_ends() {
    let mut s = raw_established();
    s.on_bytes(T0, &[0x99, 1, 2, 3]);
    let (bytes, events) = drain(&mut s);
    assert_eq!(
        &bytes[..3],
        &[
            message_type::MSG_REJECT,
            RejectReason::TypeUnknown.code(),
            0x99
        ]
    );
    assert_eq!(
        &bytes[3..],
        &[message_type::SESS_TERM, 0, TermReason::Unknown.code()]
    );
    assert!(matches!(events.last(), Some(SessionEvent::Closed(_))));
}

#[test]
fn oversized_segment_terminates_with_resource_exhaustion() {
    let mut s = raw_established();
    let mut seg = Vec::new();
    encode_segment_header(&mut seg, 0x03, 0, &[], 1 << 40);
    s.on_bytes(T0, &seg);
    let (bytes, _) = drain(&mut s);
    assert_eq!(
        bytes,
        vec![
            message_type::SESS_TERM,
            0,
            TermReason::ResourceExhaustion.code()
        ]
    );
    assert!(s.is_closed());
}

#[test]
fn rfc9174_5_2_2_segment_of_a_transfer_never_started_is_rejected() {
    let mut s = raw_established();
    let mut seg = Vec::new();
    encode_segment_header(&mut seg, 0x01, 42, &[], 3);
    seg.extend_from_slice(b"abc");
    s.on_bytes(T0, &seg);
    let (bytes, events) = drain(&mut s);
    assert_eq!(
        bytes,
        vec![
            message_type::MSG_REJECT,
            RejectReason::Unexpected.code(),
            message_type::XFER_SEGMENT
        ]
    );
    assert!(events.is_empty());
    assert!(!s.is_closed(), "the session carries on");
}

#[test]
fn transfer_exceeding_our_transfer_mru_is_refused_and_not_buffered() {
    let mut cfg = SessionConfig::new("ipn:2.0");
    cfg.transfer_mru = 10_000;
    let mut s = raw_established_with(cfg);
    // The second 6000-byte segment takes the transfer past our 10 000-byte Transfer MRU.
    for (flags, chunk) in [(0x02u8, 6000usize), (0x00, 6000), (0x01, 10)] {
        let mut seg = Vec::new();
        encode_segment_header(&mut seg, flags, 5, &[], chunk as u64);
        seg.extend(std::iter::repeat_n(7u8, chunk));
        s.on_bytes(T0, &seg);
    }
    let (bytes, events) = drain(&mut s);
    assert!(bytes
        .windows(10)
        .any(|w| w[0] == message_type::XFER_REFUSE && w[1] == RefuseReason::NoResources.code()));
    assert!(!events
        .iter()
        .any(|e| matches!(e, SessionEvent::Received { .. })));
}

#[test]
fn rfc9174_5_1_1_keepalive_and_idle_timeout() {
    let mut ca = SessionConfig::new("ipn:1.0");
    ca.keepalive_secs = 10;
    let mut s = Session::new(ca, Role::Active);
    s.start(T0);
    s.on_bytes(T0, &ContactHeader::ours(false).encode());
    let mut init = Vec::new();
    Message::SessInit(SessInit {
        keepalive_secs: 10,
        segment_mru: 1000,
        transfer_mru: 1000,
        node_id: "ipn:9.0".into(),
        extensions: vec![],
    })
    .encode(&mut init);
    s.on_bytes(T0, &init);
    drain(&mut s);
    assert_eq!(s.next_timeout(), Some(T0 + Duration::from_secs(10)));
    s.on_timeout(T0 + Duration::from_secs(10));
    let (bytes, _) = drain(&mut s);
    assert_eq!(bytes, vec![message_type::KEEPALIVE]);
    s.on_timeout(T0 + Duration::from_secs(20));
    let (bytes, events) = drain(&mut s);
    assert_eq!(
        bytes,
        vec![message_type::SESS_TERM, 0, TermReason::IdleTimeout.code()]
    );
    assert!(matches!(
        events.last(),
        Some(SessionEvent::Closed(CloseReason::Terminated {
            reason: TermReason::IdleTimeout,
            ..
        }))
    ));
}

#[test]
fn setup_that_stalls_times_out() {
    let mut s = Session::new(SessionConfig::new("ipn:2.0"), Role::Passive);
    s.start(T0);
    s.on_bytes(T0, b"dtn!");
    assert_eq!(s.next_timeout(), Some(T0 + Duration::from_secs(10)));
    s.on_timeout(T0 + Duration::from_secs(10));
    assert!(s.is_closed());
}

#[test]
fn rfc9174_4_4_tls_is_used_when_both_can() {
    let mut ca = SessionConfig::new("ipn:1.0");
    ca.can_tls = true;
    let mut cb = SessionConfig::new("ipn:2.0");
    cb.can_tls = true;
    let mut p = Pair::new(ca, cb);
    assert!(p
        .a_events
        .iter()
        .any(|e| matches!(e, SessionEvent::StartTls { .. })));
    assert!(p
        .b_events
        .iter()
        .any(|e| matches!(e, SessionEvent::StartTls { .. })));
    assert!(established(&p.a_events).is_none());
    p.a.on_tls_established(T0, vec!["ipn:2.0".into()]);
    p.b.on_tls_established(T0, vec!["ipn:1.0".into()]);
    p.run(T0);
    let a = established(&p.a_events).unwrap();
    assert!(a.tls);
    assert_eq!(a.node_id_auth, NodeIdAuth::Success);
    assert_eq!(
        established(&p.b_events).unwrap().node_id_auth,
        NodeIdAuth::Success
    );
}

/// Both sides offer TLS; the handshake is reported done with these certificate NODE-IDs.
fn tls_pair(a_sees: Vec<String>, b_sees: Vec<String>, b_requires_node_id: bool) -> Pair {
    let mut ca = SessionConfig::new("ipn:1.0");
    ca.can_tls = true;
    let mut cb = SessionConfig::new("ipn:2.0");
    cb.can_tls = true;
    cb.require_node_id_auth = b_requires_node_id;
    let mut p = Pair::new(ca, cb);
    p.a.on_tls_established(T0, a_sees);
    p.b.on_tls_established(T0, b_sees);
    p.run(T0);
    p
}

#[test]
fn rfc9174_4_4_3_node_id_mismatch_terminates_with_contact_failure() {
    // A says "ipn:1.0" in SESS_INIT, but the certificate B saw from A names ipn:9.0.
    let p = tls_pair(vec!["ipn:2.0".into()], vec!["ipn:9.0".into()], true);
    assert!(established(&p.b_events).is_none());
    assert!(p.b_events.iter().any(|e| matches!(
        e,
        SessionEvent::Closed(CloseReason::Terminated {
            reason: TermReason::ContactFailure,
            by_peer: false
        })
    )));
    assert!(established(&p.a_events).is_none());
}

#[test]
fn rfc9174_4_4_3_absent_node_id_is_refused_only_when_required() {
    let p = tls_pair(vec!["ipn:2.0".into()], vec![], true);
    assert!(established(&p.b_events).is_none());
    let p = tls_pair(vec!["ipn:2.0".into()], vec![], false);
    assert_eq!(
        established(&p.b_events).unwrap().node_id_auth,
        NodeIdAuth::Absent
    );
    assert_eq!(
        established(&p.a_events).unwrap().node_id_auth,
        NodeIdAuth::Success
    );
}

#[test]
fn rfc9174_4_4_3_plain_sessions_report_no_tls() {
    let p = Pair::up();
    assert_eq!(
        established(&p.a_events).unwrap().node_id_auth,
        NodeIdAuth::NoTls
    );
}

#[test]
fn rfc9174_4_4_required_tls_refuses_a_plain_peer() {
    let mut ca = SessionConfig::new("ipn:1.0");
    ca.can_tls = true;
    ca.require_tls = true;
    let p = Pair::new(ca, SessionConfig::new("ipn:2.0"));
    assert!(p.a_events.iter().any(|e| matches!(
        e,
        SessionEvent::Closed(CloseReason::Terminated {
            reason: TermReason::ContactFailure,
            by_peer: false
        })
    )));
    assert!(p.b_events.iter().any(|e| matches!(
        e,
        SessionEvent::Closed(CloseReason::Terminated {
            reason: TermReason::ContactFailure,
            by_peer: true
        })
    )));
}

#[test]
fn rfc9174_6_1_sess_term_is_answered_and_pending_transfers_fail() {
    let mut p = Pair::up();
    let id = p.a.send(T0, vec![3; 10]).unwrap();
    p.b.close(T0, TermReason::Busy);
    p.run(T0);
    assert!(p.a_events.contains(&SessionEvent::Failed {
        transfer_id: id,
        reason: RefuseReason::SessionTerminating
    }));
    assert!(p.a_events.iter().any(|e| matches!(
        e,
        SessionEvent::Closed(CloseReason::Terminated {
            reason: TermReason::Busy,
            by_peer: true
        })
    )));
    assert!(p.a.is_closed() && p.b.is_closed());
}

/// Segment data goes into its transfer as it is read, however the stream is cut: across
/// segments, mid-head, mid-data; a rejected segment's data is skipped and what follows is
/// read as the next message.
#[test]
fn rfc9174_5_2_2_segment_data_may_arrive_in_any_pieces() {
    let payload: Vec<u8> = (0..1000u32).map(|i| (i * 7 + i / 13) as u8).collect();
    let mut stream = Vec::new();
    encode_segment_header(&mut stream, 0x02, 1, &[], 700);
    stream.extend_from_slice(&payload[..700]);
    encode_segment_header(&mut stream, 0x01, 1, &[], 300);
    stream.extend_from_slice(&payload[700..]);
    encode_segment_header(&mut stream, 0x00, 9, &[], 50); // transfer 9 never started
    stream.extend(std::iter::repeat_n(0xeeu8, 50));
    encode_segment_header(&mut stream, 0x03, 2, &[], 20);
    stream.extend_from_slice(&payload[..20]);
    Message::Keepalive.encode(&mut stream);
    for cut in [1, 7, 100, 699, 1000, stream.len()] {
        let mut s = raw_established();
        let mut bytes = Vec::new();
        let mut events = Vec::new();
        for piece in stream.chunks(cut) {
            s.on_bytes(T0, piece);
            let (b, e) = drain(&mut s);
            bytes.extend(b);
            events.extend(e);
        }
        assert_eq!(
            received(&events),
            vec![(1, payload.clone()), (2, payload[..20].to_vec())],
            "cut {cut}"
        );
        let mut ack = Vec::new();
        Message::XferAck {
            flags: 0x02,
            transfer_id: 1,
            acknowledged: 700,
        }
        .encode(&mut ack);
        let reject = [
            message_type::MSG_REJECT,
            RejectReason::Unexpected.code(),
            message_type::XFER_SEGMENT,
        ];
        assert_eq!(bytes, [ack.as_slice(), &reject].concat(), "cut {cut}");
        assert!(!s.is_closed(), "cut {cut}");
    }
}

/// The edge may read a large segment's data straight into the transfer's buffer; the
/// session then carries on as if the bytes had come through `on_bytes`.
#[test]
fn segment_data_read_straight_into_the_transfer() {
    let mut s = raw_established();
    let payload: Vec<u8> = (0..900u32).map(|i| (i % 241) as u8).collect();
    let mut head = Vec::new();
    encode_segment_header(&mut head, 0x03, 4, &[], 900);
    head.extend_from_slice(&payload[..100]);
    s.on_bytes(T0, &head);
    assert!(
        s.lend_data_buffer(801).is_none(),
        "800 bytes are due, not 801"
    );
    let (mut data, due) = s.lend_data_buffer(500).unwrap();
    assert_eq!((data.as_slice(), due), (&payload[..100], 800));
    data.extend_from_slice(&payload[100..600]);
    s.data_read(T0, data, 500);
    assert!(drain(&mut s).1.is_empty(), "300 bytes still due");
    let (mut data, due) = s.lend_data_buffer(1).unwrap();
    assert_eq!(due, 300);
    data.extend_from_slice(&payload[600..]);
    s.data_read(T0, data, 300);
    assert!(s.lend_data_buffer(1).is_none());
    // The next message comes through the read buffer as usual.
    let mut keepalive = Vec::new();
    Message::Keepalive.encode(&mut keepalive);
    s.on_bytes(T0, &keepalive);
    let (_, events) = drain(&mut s);
    assert_eq!(
        events,
        vec![SessionEvent::Received {
            transfer_id: 4,
            bundle: payload
        }]
    );
    assert!(!s.is_closed());
}

#[test]
fn bytes_may_arrive_one_at_a_time() {
    let mut s = Session::new(SessionConfig::new("ipn:2.0"), Role::Passive);
    s.start(T0);
    let mut stream = ContactHeader::ours(false).encode().to_vec();
    Message::SessInit(SessInit {
        keepalive_secs: 0,
        segment_mru: 100,
        transfer_mru: 1000,
        node_id: "ipn:9.0".into(),
        extensions: vec![],
    })
    .encode(&mut stream);
    encode_segment_header(&mut stream, 0x03, 0, &[], 5);
    stream.extend_from_slice(b"hello");
    for b in &stream {
        s.on_bytes(T0, &[*b]);
    }
    let (_, events) = drain(&mut s);
    assert!(events.contains(&SessionEvent::Received {
        transfer_id: 0,
        bundle: b"hello".to_vec()
    }));
}

//! The QUIC convergence layer on real sockets: bundles each way on their own streams,
//! acknowledged only once the receiver accepts them; refusals; the peer's transfer limit
//! held while reading; node IDs checked against certificates; 0-RTT on a resumed session;
//! and a connection that survives its client moving to a new address (migration).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::mpsc;
use transports::quic::hello::{Answer, Hello};
use transports::quic::{connect, endpoint, run_connection, QuicConfig, QuicCrypto, QuicSession};
use transports::tcpcl::connection::{Command, Upcall};
use transports::tcpcl::{
    CloseReason, Negotiated, NodeIdAuth, RefuseReason, SendError, SessionConfig,
};

const WAIT: Duration = Duration::from_secs(10);

struct End {
    cmd: mpsc::Sender<Command>,
    up: mpsc::Receiver<Upcall>,
}

impl End {
    async fn next(&mut self) -> Upcall {
        tokio::time::timeout(WAIT, self.up.recv())
            .await
            .expect("upcall in time")
            .expect("channel open")
    }
}

fn session(node: &str, crypto: &QuicCrypto) -> QuicSession {
    QuicSession {
        session: SessionConfig::new(node),
        authenticated: crypto.authenticated,
        keepalive: Duration::from_secs(2),
    }
}

fn run(conn: quinn::Connection, early: Option<quinn::ZeroRttAccepted>, s: QuicSession) -> End {
    let (cmd, cmd_rx) = mpsc::channel(1024);
    let (up_tx, up) = mpsc::channel(1024);
    tokio::spawn(run_connection(conn, early, s, cmd_rx, up_tx));
    End { cmd, up }
}

/// A server endpoint whose connections each become an [`End`], handed out in order.
fn server(crypto: QuicCrypto, s: QuicSession) -> (SocketAddr, mpsc::Receiver<End>) {
    let ep = endpoint(
        "127.0.0.1:0".parse().unwrap(),
        &crypto,
        &QuicConfig::default(),
    )
    .unwrap();
    let addr = ep.local_addr().unwrap();
    let (tx, rx) = mpsc::channel(8);
    tokio::spawn(async move {
        while let Some(incoming) = ep.accept().await {
            if let Ok(conn) = incoming.await {
                let _ = tx.send(run(conn, None, s.clone())).await;
            }
        }
    });
    (addr, rx)
}

async fn client(ep: &quinn::Endpoint, to: SocketAddr, s: QuicSession) -> End {
    let c = connect(ep, to).await.unwrap();
    run(c.conn, c.early, s)
}

fn client_endpoint(crypto: &QuicCrypto) -> quinn::Endpoint {
    endpoint(
        "127.0.0.1:0".parse().unwrap(),
        crypto,
        &QuicConfig::default(),
    )
    .unwrap()
}

async fn established(end: &mut End) -> transports::tcpcl::Negotiated {
    match end.next().await {
        Upcall::Established(n) => n,
        other => panic!("expected Established, got {other:?}"),
    }
}

/// Sends `bundle` from `from`; returns its transfer ID.
async fn send(from: &mut End, tag: u64, bundle: Vec<u8>) -> u64 {
    from.cmd
        .send(Command::Send {
            tag,
            bundle: bundle.into(),
        })
        .await
        .unwrap();
    match from.next().await {
        Upcall::Queued {
            tag: t,
            result: Ok(id),
        } if t == tag => id,
        other => panic!("expected Queued, got {other:?}"),
    }
}

/// Two ends with made-up certificates, connected and established; the client's endpoint.
async fn pair() -> (End, End, quinn::Endpoint, Negotiated, Negotiated) {
    let crypto = QuicCrypto::ephemeral("ipn:2.0").unwrap();
    let (addr, mut accepted) = server(crypto.clone(), session("ipn:2.0", &crypto));
    let ccrypto = QuicCrypto::ephemeral("ipn:1.0").unwrap();
    let ep = client_endpoint(&ccrypto);
    let mut a = client(&ep, addr, session("ipn:1.0", &ccrypto)).await;
    let mut b = accepted.recv().await.unwrap();
    let na = established(&mut a).await;
    let nb = established(&mut b).await;
    (a, b, ep, na, nb)
}

/// One bundle from `a` to `b`, accepted by `b` and acknowledged to `a`.
async fn round_trip(a: &mut End, b: &mut End, tag: u64, bundle: Vec<u8>) {
    let id = send(a, tag, bundle).await;
    let Upcall::Received { transfer_id, .. } = b.next().await else {
        panic!("expected Received");
    };
    b.cmd.send(Command::Accept(transfer_id)).await.unwrap();
    assert_eq!(a.next().await, Upcall::Acked(id));
}

fn bundle(i: usize, len: usize) -> Vec<u8> {
    (0..len).map(|j| (i * 31 + j) as u8).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_bundles_cross_both_ways_and_count_as_sent_only_once_accepted() {
    let (mut a, mut b, _ep, na, nb) = pair().await;
    assert_eq!(na.peer_node_id, "ipn:2.0");
    assert_eq!(nb.peer_node_id, "ipn:1.0");
    assert_eq!(
        na.node_id_auth,
        NodeIdAuth::NoTls,
        "made-up certificates authenticate nothing"
    );
    assert_eq!(na.peer_transfer_mru, 1 << 30);

    let sizes = [1, 100, 1500, 64 << 10, 1 << 20, 3 << 20, 7, 200_000];
    let mut ids = Vec::new();
    for (i, len) in sizes.iter().enumerate() {
        ids.push(send(&mut a, i as u64, bundle(i, *len)).await);
    }
    // Every bundle arrives whole (in any order: each has its own stream).
    let mut got = Vec::new();
    for _ in &sizes {
        match b.next().await {
            Upcall::Received {
                transfer_id,
                bundle,
            } => got.push((transfer_id, bundle)),
            other => panic!("expected Received, got {other:?}"),
        }
    }
    let mut lens: Vec<usize> = got.iter().map(|(_, b)| b.len()).collect();
    lens.sort_unstable();
    let mut want = sizes.to_vec();
    want.sort_unstable();
    assert_eq!(lens, want);
    for (_, body) in &got {
        let i = sizes.iter().position(|l| *l == body.len()).unwrap();
        assert_eq!(*body, bundle(i, sizes[i]), "bundle {i} intact");
    }
    // Nothing counts as sent before the receiver accepts.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), a.up.recv())
            .await
            .is_err(),
        "no acknowledgement before Accept"
    );
    for (t, _) in &got {
        b.cmd.send(Command::Accept(*t)).await.unwrap();
    }
    let mut acked = Vec::new();
    for _ in &sizes {
        match a.next().await {
            Upcall::Acked(id) => acked.push(id),
            other => panic!("expected Acked, got {other:?}"),
        }
    }
    acked.sort_unstable();
    assert_eq!(acked, ids);

    // The other way, on the same connection.
    let id = send(&mut b, 99, bundle(9, 5000)).await;
    let Upcall::Received {
        transfer_id,
        bundle: body,
    } = a.next().await
    else {
        panic!("expected Received");
    };
    assert_eq!(body, bundle(9, 5000));
    a.cmd.send(Command::Accept(transfer_id)).await.unwrap();
    assert_eq!(b.next().await, Upcall::Acked(id));

    // A close reaches the peer with its reason.
    a.cmd
        .send(Command::Close(transports::tcpcl::TermReason::IdleTimeout))
        .await
        .unwrap();
    loop {
        match b.next().await {
            Upcall::Closed(CloseReason::Terminated { reason, by_peer }) => {
                assert_eq!(reason, transports::tcpcl::TermReason::IdleTimeout);
                assert!(by_peer);
                break;
            }
            Upcall::Closed(other) => panic!("closed for {other:?}"),
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_refusals_reach_the_sender_and_limits_hold_both_ways() {
    let crypto = QuicCrypto::ephemeral("ipn:2.0").unwrap();
    let mut small = session("ipn:2.0", &crypto);
    small.session.transfer_mru = 1 << 20;
    let (addr, mut accepted) = server(crypto.clone(), small);
    let ccrypto = QuicCrypto::ephemeral("ipn:1.0").unwrap();
    let ep = client_endpoint(&ccrypto);
    let mut c = session("ipn:1.0", &ccrypto);
    c.session.max_outstanding = 2;
    let mut a = client(&ep, addr, c).await;
    let mut b = accepted.recv().await.unwrap();
    assert_eq!(established(&mut a).await.peer_transfer_mru, 1 << 20);
    established(&mut b).await;

    // Larger than the peer takes: refused before a byte is sent.
    a.cmd
        .send(Command::Send {
            tag: 1,
            bundle: vec![0; (1 << 20) + 1].into(),
        })
        .await
        .unwrap();
    assert!(matches!(
        a.next().await,
        Upcall::Queued {
            tag: 1,
            result: Err(SendError::TooLarge { .. })
        }
    ));
    // A refusal comes back with its reason.
    let id = send(&mut a, 2, vec![1; 1000]).await;
    let Upcall::Received { transfer_id, .. } = b.next().await else {
        panic!("expected Received");
    };
    b.cmd
        .send(Command::Refuse(transfer_id, RefuseReason::NoResources))
        .await
        .unwrap();
    assert_eq!(
        a.next().await,
        Upcall::Failed(id, RefuseReason::NoResources)
    );
    // At most max_outstanding unacknowledged.
    send(&mut a, 3, vec![2; 10]).await;
    send(&mut a, 4, vec![3; 10]).await;
    a.cmd
        .send(Command::Send {
            tag: 5,
            bundle: vec![4; 10].into(),
        })
        .await
        .unwrap();
    assert!(matches!(
        a.next().await,
        Upcall::Queued {
            tag: 5,
            result: Err(SendError::Busy(2))
        }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_a_peer_that_sends_past_our_transfer_mru_is_stopped_while_reading() {
    let crypto = QuicCrypto::ephemeral("ipn:2.0").unwrap();
    let mut small = session("ipn:2.0", &crypto);
    small.session.transfer_mru = 64 << 10;
    let (addr, mut accepted) = server(crypto.clone(), small);
    // A hostile client: says hello, then ignores the MRU it was told.
    let ccrypto = QuicCrypto::ephemeral("ipn:6.0").unwrap();
    let ep = client_endpoint(&ccrypto);
    let conn = connect(&ep, addr).await.unwrap().conn;
    let mut h = conn.open_uni().await.unwrap();
    h.write_all(
        &Hello {
            node_id: "ipn:6.0".into(),
            transfer_mru: 1 << 30,
        }
        .encode(),
    )
    .await
    .unwrap();
    h.finish().unwrap();
    let mut b = accepted.recv().await.unwrap();
    established(&mut b).await;
    let (mut tx, mut rx) = conn.open_bi().await.unwrap();
    let big = vec![7u8; 8 << 20];
    let wrote = tx.write_all(&big).await;
    let answer = rx.read_to_end(2).await.unwrap_or_default();
    assert!(
        wrote.is_err()
            || Answer::decode(&answer) == Some(Answer::Refused(RefuseReason::NotAcceptable)),
        "the stream was stopped or refused: {wrote:?} {answer:?}"
    );
    assert_eq!(
        Answer::decode(&answer),
        Some(Answer::Refused(RefuseReason::NotAcceptable))
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(300), b.up.recv())
            .await
            .is_err(),
        "nothing over the limit reaches the node"
    );
    // The connection still serves a bundle within the limit.
    let (mut tx, mut rx) = conn.open_bi().await.unwrap();
    tx.write_all(&[5; 1000]).await.unwrap();
    tx.finish().unwrap();
    let Upcall::Received {
        transfer_id,
        bundle,
    } = b.next().await
    else {
        panic!("expected Received");
    };
    assert_eq!(bundle, vec![5; 1000]);
    b.cmd.send(Command::Accept(transfer_id)).await.unwrap();
    assert_eq!(
        Answer::decode(&rx.read_to_end(2).await.unwrap()),
        Some(Answer::Accepted)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_rfc9174_4_4_3_node_ids_are_checked_against_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let ca = common::certs::ca(dir.path(), "ca");
    let b_opts = common::certs::node(dir.path(), &ca, "ca.pem", "b", &["ipn:2.0"]);
    let a_opts = common::certs::node(dir.path(), &ca, "ca.pem", "a", &["ipn:1.0"]);
    let liar = common::certs::node(dir.path(), &ca, "ca.pem", "liar", &["ipn:9.0"]);
    let bc = QuicCrypto::from_options(&b_opts).unwrap();
    assert!(bc.authenticated);
    let (addr, mut accepted) = server(bc.clone(), session("ipn:2.0", &bc));

    let ac = QuicCrypto::from_options(&a_opts).unwrap();
    let mut a = client(&client_endpoint(&ac), addr, session("ipn:1.0", &ac)).await;
    let mut b = accepted.recv().await.unwrap();
    assert_eq!(established(&mut a).await.node_id_auth, NodeIdAuth::Success);
    let nb = established(&mut b).await;
    assert_eq!(
        (nb.peer_node_id.as_str(), nb.node_id_auth),
        ("ipn:1.0", NodeIdAuth::Success)
    );

    // A certificate for ipn:9.0 claiming to be ipn:1.0 is refused by the server.
    let lc = QuicCrypto::from_options(&liar).unwrap();
    let _l = client(&client_endpoint(&lc), addr, session("ipn:1.0", &lc)).await;
    let mut b2 = accepted.recv().await.unwrap();
    match b2.next().await {
        Upcall::Closed(CloseReason::TlsFailed(why)) => assert!(why.contains("ipn:9.0"), "{why}"),
        other => panic!("expected a refusal, got {other:?}"),
    }

    // A client without a certificate from our CA never gets a session: the server ends the
    // handshake (the client may already count it complete, as TLS 1.3 clients do).
    let stranger = QuicCrypto::ephemeral("ipn:1.0").unwrap();
    if let Ok(c) = connect(&client_endpoint(&stranger), addr).await {
        let mut s = run(c.conn, c.early, session("ipn:1.0", &stranger));
        assert!(
            matches!(s.next().await, Upcall::Closed(_)),
            "no session for a stranger"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_a_resumed_session_sends_its_hello_in_0rtt() {
    let crypto = QuicCrypto::ephemeral("ipn:2.0").unwrap();
    let (addr, mut accepted) = server(crypto.clone(), session("ipn:2.0", &crypto));
    let ccrypto = QuicCrypto::ephemeral("ipn:1.0").unwrap();
    let ep = client_endpoint(&ccrypto);
    let first = connect(&ep, addr).await.unwrap();
    assert!(first.early.is_none(), "no ticket yet: a full handshake");
    let mut a = run(first.conn, None, session("ipn:1.0", &ccrypto));
    let mut b = accepted.recv().await.unwrap();
    established(&mut a).await;
    established(&mut b).await;
    // Let the session ticket arrive, then close and come back.
    tokio::time::sleep(Duration::from_millis(200)).await;
    a.cmd
        .send(Command::Close(transports::tcpcl::TermReason::Unknown))
        .await
        .unwrap();
    let second = connect(&ep, addr).await.unwrap();
    let early = second.early.expect("a kept ticket allows 0-RTT");
    let conn = second.conn.clone();
    let mut a2 = run(second.conn, Some(early), session("ipn:1.0", &ccrypto));
    let mut b2 = accepted.recv().await.unwrap();
    established(&mut a2).await;
    established(&mut b2).await;
    assert!(conn.stats().frame_tx.stream > 0);
    round_trip(&mut a2, &mut b2, 1, vec![1; 100]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_the_connection_survives_the_client_moving_to_a_new_address() {
    let (mut a, mut b, ep, _, _) = pair().await;
    let before = ep.local_addr().unwrap();
    for round in 0..2u64 {
        if round == 1 {
            ep.rebind(std::net::UdpSocket::bind("127.0.0.1:0").unwrap())
                .unwrap();
            assert_ne!(ep.local_addr().unwrap(), before, "the client moved");
        }
        for i in 0..5u64 {
            round_trip(&mut a, &mut b, round * 10 + i, vec![i as u8; 50_000]).await;
        }
    }
}

/// Two raw endpoints with `cfg`: after 4 MiB on one stream, the client's connection stats.
async fn path_after_bulk(cfg: &QuicConfig) -> quinn::ConnectionStats {
    let scrypto = QuicCrypto::ephemeral("ipn:2.0").unwrap();
    let server = endpoint("127.0.0.1:0".parse().unwrap(), &scrypto, cfg).unwrap();
    let addr = server.local_addr().unwrap();
    let reader = tokio::spawn(async move {
        let conn = server.accept().await.unwrap().await.unwrap();
        let mut s = conn.accept_uni().await.unwrap();
        let got = s.read_to_end(8 << 20).await.unwrap();
        // Keep the connection until the client has read its stats.
        let _ = conn.closed().await;
        got.len()
    });
    let ccrypto = QuicCrypto::ephemeral("ipn:1.0").unwrap();
    let client = endpoint("127.0.0.1:0".parse().unwrap(), &ccrypto, cfg).unwrap();
    let c = connect(&client, addr).await.unwrap();
    let mut s = c.conn.open_uni().await.unwrap();
    // MTU discovery starts once the handshake is confirmed; give its probes a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.write_all(&vec![7u8; 4 << 20]).await.unwrap();
    s.finish().unwrap();
    s.stopped().await.unwrap();
    let stats = c.conn.stats();
    c.conn.close(0u32.into(), b"");
    assert_eq!(
        tokio::time::timeout(WAIT, reader).await.unwrap().unwrap(),
        4 << 20
    );
    stats
}

/// RFC 9000 §14.3 and §18.2: the peer's max_udp_payload_size bounds what path MTU
/// discovery may try. Both ends at 65,527 on loopback: packets grow far past Ethernet's
/// size, none is lost to a segmentation-offload batch the kernel refuses, and the path is
/// never taken for a black hole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_rfc9000_14_3_path_mtu_grows_to_what_both_ends_accept() {
    let big = QuicConfig {
        max_udp_payload: transports::quic::MAX_UDP_PAYLOAD,
        ..QuicConfig::default()
    };
    let stats = path_after_bulk(&big).await;
    assert!(stats.path.current_mtu > 16_000, "{:?}", stats.path);
    assert_eq!(stats.path.black_holes_detected, 0, "{:?}", stats.path);
    // 4 MiB in packets of the grown size: far fewer than 1,452-byte packets would need.
    assert!(stats.udp_tx.datagrams < 1_000, "{:?}", stats.udp_tx);

    let small = path_after_bulk(&QuicConfig::default()).await;
    assert!(small.path.current_mtu <= 1452, "{:?}", small.path);
    assert!(small.udp_tx.datagrams > 2_800, "{:?}", small.udp_tx);
}

//! TCPCLv4 over real sockets on loopback: two tokio edges exchanging bundles, and a raw TCP
//! client playing a hostile peer.

// Test code: a panic is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use transports::tcpcl::codes::message_type;
use transports::tcpcl::connection::{connect, run_session, Command, Upcall};
use transports::tcpcl::*;

const WAIT: Duration = Duration::from_secs(10);

async fn next(up: &mut mpsc::Receiver<Upcall>) -> Upcall {
    tokio::time::timeout(WAIT, up.recv())
        .await
        .expect("upcall in time")
        .expect("channel open")
}

async fn listener() -> (TcpListener, std::net::SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    (l, addr)
}

#[tokio::test]
async fn bundles_cross_a_real_socket_and_are_acked_after_accept() {
    let (l, addr) = listener().await;
    let (srv_cmd_tx, srv_cmd_rx) = mpsc::channel(16);
    let (srv_up_tx, mut srv_up) = mpsc::channel(16);
    let mut srv_cfg = SessionConfig::new("ipn:2.0");
    srv_cfg.segment_mru = 64 * 1024;
    tokio::spawn(async move {
        let (stream, _) = l.accept().await.unwrap();
        run_session(stream, srv_cfg, Role::Passive, None, srv_cmd_rx, srv_up_tx).await
    });
    let (cli_cmd_tx, cli_cmd_rx) = mpsc::channel(16);
    let (cli_up_tx, mut cli_up) = mpsc::channel(16);
    tokio::spawn(connect(
        addr,
        SessionConfig::new("ipn:1.0"),
        None,
        WAIT,
        cli_cmd_rx,
        cli_up_tx,
    ));

    let Upcall::Established(n) = next(&mut cli_up).await else {
        panic!("client not established")
    };
    assert_eq!(n.peer_node_id, "ipn:2.0");
    assert_eq!(n.send_segment, 64 * 1024);
    assert!(matches!(next(&mut srv_up).await, Upcall::Established(_)));

    let big: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let bundles = vec![b"one".to_vec(), big, b"three".to_vec()];
    for (tag, b) in bundles.iter().enumerate() {
        cli_cmd_tx
            .send(Command::Send {
                tag: tag as u64,
                bundle: b.clone().into(),
            })
            .await
            .unwrap();
    }
    let mut ids = Vec::new();
    for tag in 0..3 {
        match next(&mut cli_up).await {
            Upcall::Queued {
                tag: t,
                result: Ok(id),
            } => {
                assert_eq!(t, tag);
                ids.push(id);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    for want in &bundles {
        match next(&mut srv_up).await {
            Upcall::Received {
                transfer_id,
                bundle,
            } => {
                assert_eq!(&bundle, want);
                srv_cmd_tx.send(Command::Accept(transfer_id)).await.unwrap();
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    for id in ids {
        assert_eq!(next(&mut cli_up).await, Upcall::Acked(id));
    }
    cli_cmd_tx
        .send(Command::Close(TermReason::Unknown))
        .await
        .unwrap();
    assert!(matches!(
        next(&mut cli_up).await,
        Upcall::Closed(CloseReason::Terminated { by_peer: false, .. })
    ));
    assert!(matches!(
        next(&mut srv_up).await,
        Upcall::Closed(CloseReason::Terminated { by_peer: true, .. })
    ));
}

/// Reads everything the server sends until it closes the connection.
async fn read_to_close(mut s: TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut out))
        .await
        .expect("server closes in time")
        .unwrap();
    out
}

async fn serve_one(cfg: SessionConfig) -> (std::net::SocketAddr, mpsc::Receiver<Upcall>) {
    let (l, addr) = listener().await;
    let (_cmd_tx, cmd_rx) = mpsc::channel(1);
    let (up_tx, up_rx) = mpsc::channel(16);
    tokio::spawn(async move {
        let _keep = _cmd_tx;
        let (stream, _) = l.accept().await.unwrap();
        run_session(stream, cfg, Role::Passive, None, cmd_rx, up_tx).await
    });
    (addr, up_rx)
}

#[tokio::test]
async fn garbage_after_session_init_gets_msg_reject_then_sess_term() {
    let (addr, _up) = serve_one(SessionConfig::new("ipn:2.0")).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut hello = ContactHeader::ours(false).encode().to_vec();
    Message::SessInit(SessInit {
        keepalive_secs: 0,
        segment_mru: 100,
        transfer_mru: 100,
        node_id: "ipn:9.0".into(),
        extensions: vec![],
    })
    .encode(&mut hello);
    hello.extend_from_slice(&[0xee, 0xee, 0xee]);
    s.write_all(&hello).await.unwrap();
    let got = read_to_close(s).await;
    assert_eq!(&got[..6], b"dtn!\x04\x00");
    assert_eq!(got[6], message_type::SESS_INIT);
    let tail = &got[got.len() - 6..];
    assert_eq!(
        tail,
        &[
            message_type::MSG_REJECT,
            0x01,
            0xee,
            message_type::SESS_TERM,
            0,
            0
        ]
    );
}

#[tokio::test]
async fn a_peer_that_stalls_during_setup_is_timed_out() {
    let mut cfg = SessionConfig::new("ipn:2.0");
    cfg.setup_timeout = Duration::from_millis(200);
    let (addr, mut up) = serve_one(cfg).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"dtn!").await.unwrap();
    let got = read_to_close(s).await;
    assert_eq!(
        got,
        vec![
            message_type::SESS_TERM,
            0,
            TermReason::ContactFailure.code()
        ]
    );
    assert!(matches!(
        next(&mut up).await,
        Upcall::Closed(CloseReason::Terminated {
            reason: TermReason::ContactFailure,
            ..
        })
    ));
}

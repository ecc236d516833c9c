//! TCPCLv4 over TLS on real sockets (RFC 9174 §4.4): certificates made by a throwaway CA,
//! written to PEM files and loaded the way `dtnd` loads them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use transports::tcpcl::connection::{connect, run_session, Command, SessionTls, Upcall};
use transports::tcpcl::tls::{node_ids_of, TlsContext, TlsOptions};
use transports::tcpcl::{CloseReason, NodeIdAuth, Role, SessionConfig, TermReason};

mod common;
use common::certs::{ca, node};

const WAIT: Duration = Duration::from_secs(10);

fn tls(opts: &TlsOptions) -> SessionTls {
    SessionTls {
        context: Arc::new(TlsContext::from_options(opts).unwrap()),
        server_name: std::net::IpAddr::from([127, 0, 0, 1]).into(),
    }
}

async fn next(up: &mut mpsc::Receiver<Upcall>) -> Upcall {
    tokio::time::timeout(WAIT, up.recv())
        .await
        .expect("upcall in time")
        .expect("channel open")
}

struct Ends {
    server_up: mpsc::Receiver<Upcall>,
    server_cmd: mpsc::Sender<Command>,
    client_up: mpsc::Receiver<Upcall>,
    client_cmd: mpsc::Sender<Command>,
}

async fn pair(
    server: (SessionConfig, Option<SessionTls>),
    client: (SessionConfig, Option<SessionTls>),
) -> Ends {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (server_cmd, s_cmd_rx) = mpsc::channel(16);
    let (s_up_tx, server_up) = mpsc::channel(16);
    tokio::spawn(async move {
        let (stream, _) = l.accept().await.unwrap();
        run_session(stream, server.0, Role::Passive, server.1, s_cmd_rx, s_up_tx).await
    });
    let (client_cmd, c_cmd_rx) = mpsc::channel(16);
    let (c_up_tx, client_up) = mpsc::channel(16);
    tokio::spawn(connect(addr, client.0, client.1, WAIT, c_cmd_rx, c_up_tx));
    Ends {
        server_up,
        server_cmd,
        client_up,
        client_cmd,
    }
}

#[test]
fn rfc9174_4_4_1_node_ids_are_read_from_uri_subject_alt_names() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca(dir.path(), "ca");
    let opts = node(dir.path(), &ca, "ca.pem", "a", &["ipn:1.0", "dtn://a/"]);
    let pem = std::fs::read(&opts.cert).unwrap();
    let der = rustls_pemfile_first(&pem);
    assert_eq!(node_ids_of(&der), vec!["ipn:1.0", "dtn://a/"]);
    assert!(node_ids_of(b"not a certificate").is_empty());
}

fn rustls_pemfile_first(pem: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(pem).unwrap();
    let b64: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    base64_decode(&b64)
}

fn base64_decode(s: &str) -> Vec<u8> {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = T.iter().position(|&t| t == c).unwrap() as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

#[tokio::test]
async fn rfc9174_4_4_bundles_cross_a_tls_session_with_node_ids_authenticated() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca(dir.path(), "ca");
    let a = node(dir.path(), &ca, "ca.pem", "a", &["ipn:1.0"]);
    let b = node(dir.path(), &ca, "ca.pem", "b", &["ipn:2.0"]);
    let mut e = pair(
        (SessionConfig::new("ipn:2.0"), Some(tls(&b))),
        (SessionConfig::new("ipn:1.0"), Some(tls(&a))),
    )
    .await;
    let Upcall::Established(n) = next(&mut e.client_up).await else {
        panic!("client not established")
    };
    assert!(n.tls);
    assert_eq!(n.node_id_auth, NodeIdAuth::Success);
    assert_eq!(n.peer_node_id, "ipn:2.0");
    let Upcall::Established(n) = next(&mut e.server_up).await else {
        panic!("server not established")
    };
    assert_eq!(n.node_id_auth, NodeIdAuth::Success);

    // A bundle of several segments goes over the encrypted stream and is acknowledged.
    let bundle: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    e.client_cmd
        .send(Command::Send {
            tag: 1,
            bundle: bundle.clone().into(),
        })
        .await
        .unwrap();
    let Upcall::Queued { result: Ok(id), .. } = next(&mut e.client_up).await else {
        panic!("not queued")
    };
    let Upcall::Received {
        transfer_id,
        bundle: got,
    } = next(&mut e.server_up).await
    else {
        panic!("not received")
    };
    assert_eq!(got, bundle);
    e.server_cmd
        .send(Command::Accept(transfer_id))
        .await
        .unwrap();
    assert_eq!(next(&mut e.client_up).await, Upcall::Acked(id));
}

#[tokio::test]
async fn rfc9174_4_4_3_a_certificate_for_another_node_id_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca(dir.path(), "ca");
    // The client claims ipn:1.0 but holds a certificate for ipn:7.0.
    let a = node(dir.path(), &ca, "ca.pem", "a", &["ipn:7.0"]);
    let b = node(dir.path(), &ca, "ca.pem", "b", &["ipn:2.0"]);
    let mut e = pair(
        (SessionConfig::new("ipn:2.0"), Some(tls(&b))),
        (SessionConfig::new("ipn:1.0"), Some(tls(&a))),
    )
    .await;
    assert_eq!(
        next(&mut e.server_up).await,
        Upcall::Closed(CloseReason::Terminated {
            reason: TermReason::ContactFailure,
            by_peer: false
        })
    );
    assert!(matches!(
        next(&mut e.client_up).await,
        Upcall::Closed(CloseReason::Terminated {
            reason: TermReason::ContactFailure,
            by_peer: true
        })
    ));
}

#[tokio::test]
async fn rfc9174_4_4_a_certificate_from_an_untrusted_ca_fails_the_handshake() {
    let dir = tempfile::tempdir().unwrap();
    let ca1 = ca(dir.path(), "ca1");
    let ca2 = ca(dir.path(), "ca2");
    let a = node(dir.path(), &ca2, "ca1.pem", "a", &["ipn:1.0"]);
    let b = node(dir.path(), &ca1, "ca1.pem", "b", &["ipn:2.0"]);
    let mut e = pair(
        (SessionConfig::new("ipn:2.0"), Some(tls(&b))),
        (SessionConfig::new("ipn:1.0"), Some(tls(&a))),
    )
    .await;
    let Upcall::Closed(CloseReason::TlsFailed(why)) = next(&mut e.server_up).await else {
        panic!("server should fail the handshake")
    };
    assert!(why.contains("TLS handshake"), "{why}");
    // In TLS 1.3 the client finishes its side before the server has checked the client's
    // certificate, so the client sees either the failed handshake or the connection drop.
    let client = next(&mut e.client_up).await;
    assert!(
        matches!(
            client,
            Upcall::Closed(CloseReason::TlsFailed(_) | CloseReason::ConnectionLost)
        ),
        "{client:?}"
    );
}

#[tokio::test]
async fn rfc9174_4_4_tls_required_refuses_a_plain_peer() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca(dir.path(), "ca");
    let b = node(dir.path(), &ca, "ca.pem", "b", &["ipn:2.0"]);
    let mut cfg = SessionConfig::new("ipn:2.0");
    cfg.require_tls = true;
    let mut e = pair((cfg, Some(tls(&b))), (SessionConfig::new("ipn:1.0"), None)).await;
    assert!(matches!(
        next(&mut e.server_up).await,
        Upcall::Closed(CloseReason::Terminated {
            reason: TermReason::ContactFailure,
            ..
        })
    ));
    assert!(matches!(
        next(&mut e.client_up).await,
        Upcall::Closed(CloseReason::Terminated { .. })
    ));
}

#[test]
fn missing_or_empty_files_are_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca(dir.path(), "ca");
    let mut opts = node(dir.path(), &ca, "ca.pem", "a", &["ipn:1.0"]);
    opts.key = dir.path().join("nope.key");
    let e = TlsContext::from_options(&opts).unwrap_err().to_string();
    assert!(e.contains("nope.key"), "{e}");
    std::fs::write(dir.path().join("empty.pem"), "").unwrap();
    let mut opts = node(dir.path(), &ca, "ca.pem", "a", &["ipn:1.0"]);
    opts.ca = dir.path().join("empty.pem");
    let e = TlsContext::from_options(&opts).unwrap_err().to_string();
    assert!(e.contains("empty.pem: no CA certificate"), "{e}");
}

#[tokio::test]
async fn tls_prefers_the_post_quantum_hybrid_key_exchange() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca(dir.path(), "ca");
    let a = TlsContext::from_options(&node(dir.path(), &ca, "ca.pem", "a", &["ipn:1.0"])).unwrap();
    let b = TlsContext::from_options(&node(dir.path(), &ca, "ca.pem", "b", &["ipn:2.0"])).unwrap();
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        let tls = b.accept(s).await.unwrap();
        transports::tcpcl::tls::key_exchange_group(&tls)
    });
    let s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let tls = a
        .connect(std::net::IpAddr::from([127, 0, 0, 1]).into(), s)
        .await
        .unwrap();
    let group = transports::tcpcl::tls::key_exchange_group(&tls);
    assert_eq!(group.as_deref(), Some("X25519MLKEM768"));
    assert_eq!(server.await.unwrap().as_deref(), Some("X25519MLKEM768"));
}

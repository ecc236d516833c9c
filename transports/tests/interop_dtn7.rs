//! TCPCLv4 interoperability with dtn7-rs 0.21.0 (`dtnd` from crates.io): bundles both ways
//! between our TCPCL edge and a real `dtnd` process, with transfers of several segments.
//!
//! `dtnd` is found in `$DTN7_BIN_DIR`, `$DTN_TOOLS_PREFIX/bin` or `~/.cache/dtn-tools/bin`, where `scripts/setup`
//! installs it (`cargo install dtn7 --version 0.21.0 --locked`). The test fails, saying so,
//! when it is missing: it never passes without having talked to dtn7.

// Test code: a panic is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;
use std::process::{Child, Command as Process, Stdio};
use std::time::Duration;

use bundle_agent::wire::{
    BundleBuilder, BundleView, CreationTimestamp, DecodeError, DecodeOptions, DtnTime, Eid,
};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use transports::tcpcl::connection::{connect, run_session, Command, Upcall};
use transports::tcpcl::{Role, SessionConfig};

const WAIT: Duration = Duration::from_secs(20);

fn dtn7_bin(name: &str) -> PathBuf {
    let dir = std::env::var_os("DTN7_BIN_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("DTN_TOOLS_PREFIX").map(|p| PathBuf::from(p).join("bin")))
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/dtn-tools/bin")
        });
    let bin = dir.join(name);
    assert!(
        bin.exists(),
        "{} not found: run scripts/setup to install dtn7 0.21.0 (or set DTN7_BIN_DIR)",
        bin.display()
    );
    bin
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A dtn7 `dtnd` process, killed when dropped.
struct Dtn7 {
    child: Child,
    web: u16,
    tcpcl: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Dtn7 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Dtn7 {
    /// Starts dtn7's dtnd as node `node` (a name for `dtn://name/`, a number for `ipn:N.0`)
    /// with the endpoint `endpoint` registered.
    async fn start(node: &str, endpoint: &str, static_peer: Option<String>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (web, tcpcl) = (free_port(), free_port());
        let mut cmd = Process::new(dtn7_bin("dtnd"));
        cmd.args([
            "-n",
            node,
            "-e",
            endpoint,
            "-i",
            "0",
            "--disable_nd",
            "-D",
            "mem",
            "-r",
            "epidemic",
        ])
        .arg("-W")
        .arg(dir.path())
        .args(["-w", &web.to_string(), "-C", &format!("tcp:port={tcpcl}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        // DTN7_LOG=FILE keeps dtnd's debug log, for finding out why an interop test failed.
        if let Some(log) = std::env::var_os("DTN7_LOG") {
            let f = std::fs::File::create(log).unwrap();
            cmd.arg("-d").stderr(f.try_clone().unwrap()).stdout(f);
        }
        if let Some(p) = static_peer {
            cmd.args(["-s", &p]);
        }
        let child = cmd.spawn().expect("dtnd starts");
        let d = Dtn7 {
            child,
            web,
            tcpcl,
            _dir: dir,
        };
        // Ready when both its web API and its TCPCL port accept connections.
        let deadline = tokio::time::Instant::now() + WAIT;
        while tokio::net::TcpStream::connect(("127.0.0.1", d.tcpcl))
            .await
            .is_err()
            || tokio::net::TcpStream::connect(("127.0.0.1", d.web))
                .await
                .is_err()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "dtnd did not come up"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        d
    }
}

async fn next(up: &mut mpsc::Receiver<Upcall>) -> Upcall {
    tokio::time::timeout(WAIT, up.recv())
        .await
        .expect("in time")
        .expect("open")
}

fn small_segments(node: &str) -> SessionConfig {
    let mut cfg = SessionConfig::new(node);
    // Force several segments per bundle in both directions.
    cfg.segment_mru = 1000;
    cfg.max_send_segment = 1000;
    cfg
}

#[tokio::test]
async fn rfc9174_interop_our_bundles_reach_dtn7() {
    ours_to_dtn7(
        "dtn://ours/",
        "dtn://node7/",
        "dtn://node7/",
        "incoming",
        "dtn://ours/app",
    )
    .await;
}

#[tokio::test]
async fn rfc9174_interop_our_bundles_reach_dtn7_with_ipn_node_ids() {
    ours_to_dtn7("ipn:1.0", "7", "ipn:7.0", "1", "ipn:1.5").await;
}

/// We connect to dtn7 as `ours`, send a multi-segment bundle from `source` to
/// `dtn7_id`'s service `svc`, and read it back with dtn7's own `dtnrecv`.
async fn ours_to_dtn7(
    ours: &'static str,
    dtn7_node: &str,
    dtn7_id: &str,
    svc: &'static str,
    source: &str,
) {
    let d = Dtn7::start(dtn7_node, svc, None).await;
    let (cmd_tx, cmd_rx) = mpsc::channel(8);
    let (up_tx, mut up) = mpsc::channel(8);
    let addr = format!("127.0.0.1:{}", d.tcpcl).parse().unwrap();
    tokio::spawn(connect(
        addr,
        small_segments(ours),
        None,
        WAIT,
        cmd_rx,
        up_tx,
    ));
    let Upcall::Established(n) = next(&mut up).await else {
        panic!("no session with dtn7")
    };
    assert_eq!(n.peer_node_id, dtn7_id);

    let payload: Vec<u8> = (0..5000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let destination: Eid = if dtn7_id.starts_with("ipn:") {
        format!("{}.{svc}", dtn7_id.trim_end_matches(".0"))
            .parse()
            .unwrap()
    } else {
        format!("{dtn7_id}{svc}").parse().unwrap()
    };
    let bundle = BundleBuilder::new(
        destination,
        source.parse::<Eid>().unwrap(),
        CreationTimestamp::new(DtnTime::from_unix_millis(now_ms), 1),
    )
    .lifetime_ms(3_600_000)
    .payload(&payload)
    .build()
    .unwrap();
    cmd_tx
        .send(Command::Send {
            tag: 1,
            bundle: bundle.into(),
        })
        .await
        .unwrap();
    let Upcall::Queued { result: Ok(id), .. } = next(&mut up).await else {
        panic!("not queued")
    };
    assert_eq!(
        next(&mut up).await,
        Upcall::Acked(id),
        "dtn7 acknowledged the whole transfer"
    );

    // dtn7 delivered it to its `incoming` endpoint.
    let out = tokio::task::spawn_blocking(move || {
        Process::new(dtn7_bin("dtnrecv"))
            .args(["-p", &d.web.to_string(), "-e", svc])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "dtnrecv: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, payload);
}

#[tokio::test]
async fn rfc9174_interop_dtn7_bundles_reach_us() {
    dtn7_to_ours(
        "dtn://ours/",
        "ours",
        ("dtn://node7/", "dtn://node7/", "incoming"),
        "dtn://ours/in",
    )
    .await;
}

#[tokio::test]
async fn rfc9174_interop_dtn7_bundles_reach_us_with_ipn_node_ids() {
    dtn7_to_ours("ipn:1.0", "1", ("7", "ipn:7.0", "2"), "ipn:1.9").await;
}

/// dtn7 (`-n` argument, node ID, an endpoint to register) has us as a static peer named
/// `peer_name`; its `dtnsend` sends a multi-segment bundle to `dest`, which arrives over the
/// session we accept as `ours`.
async fn dtn7_to_ours(
    ours: &'static str,
    peer_name: &str,
    dtn7: (&str, &str, &str),
    dest: &'static str,
) {
    let (dtn7_node, dtn7_id, svc) = dtn7;
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let d = Dtn7::start(
        dtn7_node,
        svc,
        Some(format!("tcp://127.0.0.1:{port}/{peer_name}")),
    )
    .await;
    let (cmd_tx, cmd_rx) = mpsc::channel(8);
    let (up_tx, mut up) = mpsc::channel(8);
    tokio::spawn(async move {
        let (stream, _) = l.accept().await.unwrap();
        run_session(
            stream,
            small_segments(ours),
            Role::Passive,
            None,
            cmd_rx,
            up_tx,
        )
        .await
    });
    let payload: Vec<u8> = (0..4000u32).map(|i| (i % 200) as u8).collect();
    let web = d.web;
    let to_send = payload.clone();
    let send = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = Process::new(dtn7_bin("dtnsend"))
            .args(["-p", &web.to_string(), "-r", dest])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&to_send).unwrap();
        child.wait().unwrap()
    });
    assert!(send.await.unwrap().success(), "dtnsend failed");
    let received = loop {
        match tokio::time::timeout(WAIT, up.recv())
            .await
            .expect("dtn7 forwarded in time")
            .expect("open")
        {
            Upcall::Established(n) => assert_eq!(n.peer_node_id, dtn7_id),
            Upcall::Received {
                transfer_id,
                bundle,
            } => {
                cmd_tx.send(Command::Accept(transfer_id)).await.unwrap();
                break bundle;
            }
            other => panic!("unexpected {other:?}"),
        }
    };
    // RFC 9171 §4.3.1: a primary block needs a CRC unless a BIB covers it. dtn7's bundles
    // carry none, so strict decoding names that rule, and a node that talks to dtn7 has to
    // decode leniently.
    assert_eq!(
        BundleView::decode(&received).unwrap_err(),
        DecodeError::PrimaryCrcMissing
    );
    let view = BundleView::decode_with(&received, &DecodeOptions::lenient())
        .expect("dtn7's bundle decodes");
    assert_eq!(view.primary().destination.to_string(), dest);
    assert_eq!(view.payload(), &payload[..]);
}

//! What the benchmarks share: our `dtnd` started on loopback, an HTTP client, and
//! applications streaming payloads over the WebSocket API and timing them.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process, killed when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port free for TCP and UDP on loopback, from outside the ephemeral range (see
/// `netsim::emulate::ports` for why).
pub fn free_port() -> u16 {
    netsim::emulate::ports::free_port().unwrap()
}

/// A node's `/status`.
pub fn status(api: &str) -> serde_json::Value {
    let body = http()
        .get(format!("{api}/status"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_vec()
        .unwrap();
    serde_json::from_slice(&body).unwrap()
}

/// From the sending node `a`'s and receiving node `b`'s `/status`: how many bundles each
/// passed on without storing them (the agent holds a bundle that leaves in the turn it
/// arrives), and how many held ones were stored after all.
pub fn unstored_summary(a: &str, b: &str) -> String {
    let (sa, sb) = (&status(a)["stats"], &status(b)["stats"]);
    format!(
        "the sending node forwarded {} of {} bundles unstored, the receiving node delivered \
         {} of {} unstored; held bundles stored after all: {} and {}",
        sa["forwarded_unstored"],
        sa["forwarded"],
        sb["delivered_unstored"],
        sb["delivered"],
        sa["held_then_stored"],
        sb["held_then_stored"]
    )
}

/// An HTTP client that returns error statuses as responses.
pub fn http() -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::config::Config::builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(300)))
            .build(),
    )
}

/// Waits until something listens on `port`.
pub fn wait_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "port {port} never opened");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Our `dtnd` with node ID `id`, TCPCL and API on these ports, a session to `peer`.
pub fn dtnd_node(
    dir: &Path,
    id: &str,
    tcpcl: u16,
    api: u16,
    peer: Option<u16>,
    extra: &[&str],
) -> Proc {
    // `BENCH_DTND` runs another build of dtnd (an A/B comparison of two commits).
    let bin = std::env::var_os("BENCH_DTND").unwrap_or_else(|| env!("CARGO_BIN_EXE_dtnd").into());
    let mut cmd = Command::new(bin);
    cmd.args(["--node-id", id, "--data-dir"])
        .arg(dir.join(id.replace([':', '.', '/'], "_")))
        .args(["--tcpcl-listen", &format!("127.0.0.1:{tcpcl}")])
        .args(["--api-listen", &format!("127.0.0.1:{api}")])
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // BENCH_LOG_DIR=DIR keeps each daemon's info log there (for looking into a figure).
    if let Some(logs) = std::env::var_os("BENCH_LOG_DIR") {
        let name = format!("{}-{api}.log", id.replace([':', '.', '/'], "_"));
        if let Ok(f) = std::fs::File::create(Path::new(&logs).join(name)) {
            cmd.env("RUST_LOG", "info").stderr(f);
        }
    }
    if let Some(p) = peer {
        cmd.args(["--peer", &format!("127.0.0.1:{p}")]);
    }
    let p = Proc(cmd.spawn().unwrap());
    wait_port(api);
    p
}

pub type Ws = tungstenite::WebSocket<std::net::TcpStream>;

/// Concurrent sender threads per node in the throughput runs.
pub const SENDERS: usize = 16;

pub fn ws(api: &str, endpoint: &str) -> Ws {
    ws_at(&format!(
        "{}/ws?endpoint={endpoint}",
        api.replace("http://", "ws://")
    ))
}

pub fn ws_at(url: &str) -> Ws {
    let config = tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(256 << 20))
        .max_frame_size(Some(256 << 20));
    let stream =
        std::net::TcpStream::connect(url.trim_start_matches("ws://").split('/').next().unwrap())
            .unwrap();
    tungstenite::client::client_with_config(url, stream, Some(config))
        .unwrap()
        .0
}

/// The next binary message's payload (shared with the message read, not copied).
pub fn ws_next(ws: &mut Ws) -> bytes::Bytes {
    loop {
        if let tungstenite::Message::Binary(p) = ws.read().unwrap() {
            return p;
        }
    }
}

/// Takes `n` payloads of `size` bytes from `sock`, then waits for the senders: the time
/// since `start` when the last payload arrived.
pub fn receive_all(
    sock: &mut Ws,
    size: usize,
    n: usize,
    start: Instant,
    senders: Vec<std::thread::JoinHandle<()>>,
) -> Duration {
    for _ in 0..n {
        assert_eq!(ws_next(sock).len(), size);
    }
    let took = start.elapsed();
    for s in senders {
        s.join().unwrap();
    }
    took
}

/// Payloads a WebSocket sender keeps outstanding (the node allows up to 1024).
pub const WS_WINDOW: usize = 512;

/// Applications streaming over `/ws/send`: one, and a second for large payloads (one
/// thread masking megabytes of WebSocket frames is the bottleneck otherwise).
pub fn ws_senders(size: usize) -> usize {
    if size >= 64 << 10 {
        2
    } else {
        1
    }
}

/// Streams `n` copies of `payload` to `url`, checking every answer. Each message shares
/// the payload's bytes (the client copies them once, into the masked frame).
pub fn ws_stream(url: &str, payload: &bytes::Bytes, n: usize) {
    {
        let mut tx = ws_at(url);
        let mut answered = 0;
        let check = |tx: &mut Ws| match tx.read().unwrap() {
            tungstenite::Message::Text(t) => assert!(!t.starts_with("error"), "{t}"),
            other => panic!("unexpected answer {other:?}"),
        };
        for sent in 1..=n {
            tx.send(tungstenite::Message::Binary(payload.clone()))
                .unwrap();
            if sent - answered > WS_WINDOW {
                check(&mut tx);
                answered += 1;
            }
        }
        while answered < n {
            check(&mut tx);
            answered += 1;
        }
    }
}

pub fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

pub fn rate(size: usize, n: usize, took: Duration) -> String {
    let s = took.as_secs_f64();
    let per = n as f64 / s;
    let gbit = (size * n) as f64 * 8.0 / s / 1e9;
    if per < 10.0 {
        format!("{per:.2} bundles/s, {gbit:.2} Gbit/s")
    } else {
        format!("{per:.0} bundles/s, {gbit:.2} Gbit/s")
    }
}

/// `n` payloads of `size` bytes streamed by applications into node `a` (`/ws/send`, each
/// keeping up to [`WS_WINDOW`] unanswered) for `ipn:2.1`, received at node `b`: the time
/// from the first sent to the last received.
pub fn ws_throughput(a: &str, b: &str, size: usize, n: usize) -> Duration {
    let mut sock = ws(b, "ipn:2.1");
    let url = format!(
        "{}/ws/send?destination=ipn:2.1&lifetime=1h",
        a.replace("http://", "ws://")
    );
    let payload = bytes::Bytes::from(vec![0x5au8; size]);
    let start = Instant::now();
    let k = ws_senders(size);
    let senders: Vec<_> = (0..k)
        .map(|t| {
            let (url, payload) = (url.clone(), payload.clone());
            let n = (t..n).step_by(k).count();
            std::thread::spawn(move || ws_stream(&url, &payload, n))
        })
        .collect();
    receive_all(&mut sock, size, n, start, senders)
}

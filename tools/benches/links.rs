//! Convergence layers side by side: two of our `dtnd` on loopback, application to
//! application through the WebSocket API, the same bundles over TCPCLv4, QUIC and LTP in
//! one run; then LTP's goodput through the link emulator with 1 s of one-way delay and 0%,
//! 1% and 5% loss.
//!
//! `cargo bench -p tools --bench links` prints Markdown tables:
//! - throughput of 1 KiB, 64 KiB, 1 MiB and 100 MiB bundles: applications stream the
//!   payloads into A (`/ws/send`), one drains B (`/ws`); the clock runs from the first
//!   payload sent to the last received. Both nodes store every bundle durably (RocksDB,
//!   group commit) before acknowledging it, as in the node benchmark.
//! - latency: one bundle at a time, from the API call at A to the payload at B (median).
//! - LTP goodput: 200 bundles of 1 MiB through a datagram relay with 1 s delay each way,
//!   paced at 100 Mbit/s (the contact's rate, known to both the relay and `dtnd`), in
//!   1,400-byte segments: payload bytes over the time to the last delivery, and in the steady
//!   state (from the 10th to the 90th percentile delivery, leaving out the first round trip
//!   and the tail of recovery rounds), each as a share of the loss-free rate.
//!
//! QUIC's path MTU discovery may grow packets up to 65,527 bytes on loopback (`--quic-mtu`;
//! the default of 1,452 suits Ethernet; `LINKS_BENCH_QUIC_MTU` sets another). On loopback
//! LTP uses 60,000-byte segments (one datagram each, under the 64 KiB loopback MTU), paced
//! at 400 MB/s (`LINKS_BENCH_LTP_RATE` bytes/s to change it): LTP has no
//! congestion control, and unpaced bursts of megabytes overflow the receiver's socket
//! buffer (4 MiB here), every loss then costing a checkpoint timer. The lossy runs use
//! 1,400-byte segments, an Ethernet MTU's worth. `LINKS_BENCH_QUICK=1` makes every count
//! small (a smoke run for CI; its figures mean little). `LINKS_BENCH_ONLY=tcpcl,quic,ltp,
//! goodput` runs only the parts named; `LINKS_BENCH_SIZES=1k,64k,1m,100m` only the sizes named.
//! `LINKS_BENCH_TAIL=1` prints (to stderr) when the goodput runs' bundles arrived: the first,
//! percentiles and the last five, which show where recovery rounds cost time.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

mod common;

use common::{dtnd_node, free_port, http, percentile, rate, status, ws, ws_next, ws_stream, Proc};
use netsim::emulate::datagram::DatagramRelay;
use netsim::link::LinkModel;
use netsim::rng::Rng;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cl {
    Tcpcl,
    Quic,
    Ltp,
}

impl Cl {
    fn name(self) -> &'static str {
        match self {
            Cl::Tcpcl => "TCPCLv4",
            Cl::Quic => "QUIC",
            Cl::Ltp => "LTP",
        }
    }
}

struct Pair {
    _procs: Vec<Proc>,
    a: String,
    b: String,
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn free_udp() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Two nodes joined by `cl`; LTP through `via` when given (both send to it), with
/// `ltp_extra` flags on both.
fn pair(dir: &Path, cl: Cl, ltp: Option<(u16, u16, SocketAddr)>, ltp_extra: &[String]) -> Pair {
    let d = dir.join(format!("{cl:?}-{}", free_port()));
    std::fs::create_dir_all(&d).unwrap();
    let (tb, ab, ta, aa) = (free_port(), free_port(), free_port(), free_port());
    let (mut fa, mut fb): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
    let mut tcp_peer = None;
    match cl {
        Cl::Tcpcl => tcp_peer = Some(tb),
        Cl::Quic => {
            let (qa, qb) = (free_udp(), free_udp());
            // Loopback carries 64 KiB datagrams: MTU discovery may grow packets that far.
            let mtu = [
                "--quic-mtu".to_string(),
                std::env::var("LINKS_BENCH_QUIC_MTU").unwrap_or_else(|_| "65527".into()),
            ];
            fb = vec!["--quic-listen".into(), format!("127.0.0.1:{qb}")];
            fa = vec![
                "--quic-listen".into(),
                format!("127.0.0.1:{qa}"),
                "--quic-peer".into(),
                format!("ipn:2.0=127.0.0.1:{qb}"),
            ];
            fa.extend(mtu.iter().cloned());
            fb.extend(mtu);
        }
        Cl::Ltp => {
            let (la, lb, via) = ltp.unwrap_or_else(|| {
                let (la, lb) = (free_udp(), free_udp());
                (la, lb, SocketAddr::from(([127, 0, 0, 1], 0)))
            });
            let to = |port: u16| {
                if via.port() == 0 {
                    format!("127.0.0.1:{port}")
                } else {
                    via.to_string()
                }
            };
            fb = vec![
                "--ltp-listen".into(),
                format!("127.0.0.1:{lb}"),
                "--ltp-peer".into(),
                format!("ipn:1.0=1@{}", to(la)),
            ];
            fa = vec![
                "--ltp-listen".into(),
                format!("127.0.0.1:{la}"),
                "--ltp-peer".into(),
                format!("ipn:2.0=2@{}", to(lb)),
            ];
            fa.extend(ltp_extra.iter().cloned());
            fb.extend(ltp_extra.iter().cloned());
        }
    }
    let b = dtnd_node(&d, "ipn:2.0", tb, ab, None, &refs(&fb));
    let a = dtnd_node(&d, "ipn:1.0", ta, aa, tcp_peer, &refs(&fa));
    let p = Pair {
        _procs: vec![b, a],
        a: format!("http://127.0.0.1:{aa}"),
        b: format!("http://127.0.0.1:{ab}"),
    };
    if cl != Cl::Ltp {
        let deadline = Instant::now() + Duration::from_secs(30);
        while status(&p.a)["sessions"] != 1 {
            assert!(Instant::now() < deadline, "no {} session", cl.name());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    p
}

/// `n` payloads of `size` bytes streamed into A and received at B: the time taken.
fn throughput(p: &Pair, size: usize, n: usize) -> Duration {
    common::ws_throughput(&p.a, &p.b, size, n)
}

/// One bundle at a time: the times from the API call at A to the payload at B, sorted.
fn latency(p: &Pair, size: usize, n: usize) -> Vec<Duration> {
    let mut sock = ws(&p.b, "ipn:2.3");
    let agent = http();
    let payload = vec![0x33u8; size];
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let r = agent
            .post(format!("{}/send", p.a))
            .query("destination", "ipn:2.3")
            .query("lifetime", "1h")
            .send(&payload[..])
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
        assert_eq!(ws_next(&mut sock).len(), size);
        out.push(t.elapsed());
    }
    out.sort();
    out
}

/// LTP through the relay with 1 s delay and `loss`, 100 Mbit/s: MB/s of payload over the
/// whole transfer, and in the steady state (from the 10th to the 90th percentile delivery:
/// without the first round trip and the last rounds of recovery).
fn ltp_goodput(dir: &Path, loss: f64, bundles: usize) -> (f64, f64) {
    let rate = 12_500_000u64;
    let (la, lb) = (free_udp(), free_udp());
    let model = LinkModel {
        rate,
        delay_ms: 1000,
        loss,
        ber: 0.0,
        outages: None,
    };
    let relay = DatagramRelay::start(
        SocketAddr::from(([127, 0, 0, 1], la)),
        SocketAddr::from(([127, 0, 0, 1], lb)),
        model,
        true,
        Rng::stream(5, "links-bench"),
    )
    .unwrap();
    let extra = [
        "--ltp-owlt".to_string(),
        "1s".into(),
        "--ltp-rate".into(),
        rate.to_string(),
    ];
    let p = pair(dir, Cl::Ltp, Some((la, lb, relay.addr)), &extra);
    let size = 1 << 20;
    // Like `throughput`, noting when each payload arrived.
    let mut sock = ws(&p.b, "ipn:2.1");
    let url = format!(
        "{}/ws/send?destination=ipn:2.1&lifetime=1h",
        p.a.replace("http://", "ws://")
    );
    let payload = bytes::Bytes::from(vec![0x5au8; size]);
    let start = Instant::now();
    let sender = std::thread::spawn(move || ws_stream(&url, &payload, bundles));
    let mut at = Vec::with_capacity(bundles);
    for _ in 0..bundles {
        assert_eq!(ws_next(&mut sock).len(), size);
        at.push(start.elapsed().as_secs_f64());
    }
    sender.join().unwrap();
    if std::env::var("LINKS_BENCH_TAIL").is_ok() {
        let pct = |p: usize| at[bundles * p / 100];
        let last: Vec<String> = at[bundles.saturating_sub(5)..]
            .iter()
            .map(|t| format!("{t:.2}"))
            .collect();
        eprintln!(
            "LTP goodput, {loss} loss, deliveries at (s): first {:.2}, 10% {:.2}, 50% {:.2}, \
             90% {:.2}, last five {}",
            at[0],
            pct(10),
            pct(50),
            pct(90),
            last.join(", ")
        );
    }
    let whole = (size * bundles) as f64 / at[bundles - 1] / 1e6;
    let (i, j) = (bundles / 10, bundles * 9 / 10);
    let steady = (size * (j - i)) as f64 / (at[j] - at[i]) / 1e6;
    (whole, steady)
}

/// True when `LINKS_BENCH_ONLY` is unset or names `part` (tcpcl, quic, ltp, goodput).
fn wanted(part: &str) -> bool {
    std::env::var("LINKS_BENCH_ONLY").map_or(true, |only| only.split(',').any(|p| p == part))
}

/// True when `LINKS_BENCH_SIZES` is unset or names `label` (1k, 64k, 1m, 100m).
fn size_wanted(label: &str) -> bool {
    let short = label.replace(' ', "").replace("iB", "").to_lowercase();
    std::env::var("LINKS_BENCH_SIZES").map_or(true, |only| only.split(',').any(|s| s == short))
}

fn main() {
    let quick = std::env::var("LINKS_BENCH_QUICK").is_ok();
    let dir = tempfile::tempdir().unwrap();
    let sizes: [(usize, &str, usize); 4] = if quick {
        [
            (1 << 10, "1 KiB", 200),
            (64 << 10, "64 KiB", 50),
            (1 << 20, "1 MiB", 20),
            (100 << 20, "100 MiB", 1),
        ]
    } else {
        [
            (1 << 10, "1 KiB", 10_000),
            (64 << 10, "64 KiB", 3000),
            (1 << 20, "1 MiB", 500),
            (100 << 20, "100 MiB", 4),
        ]
    };
    let lat_n = if quick { 5 } else { 50 };
    let cls = [Cl::Tcpcl, Cl::Quic, Cl::Ltp];
    let mut rows = Vec::new();
    let mut lat_rows = Vec::new();
    for cl in cls
        .into_iter()
        .filter(|c| wanted(&format!("{c:?}").to_lowercase()))
    {
        let extra = if cl == Cl::Ltp {
            let r = std::env::var("LINKS_BENCH_LTP_RATE").unwrap_or_else(|_| "400000000".into());
            vec![
                "--ltp-segment".to_string(),
                "60000".into(),
                "--ltp-rate".into(),
                r,
            ]
        } else {
            Vec::new()
        };
        let p = pair(dir.path(), cl, None, &extra);
        let mut row = Vec::new();
        let mut lat = Vec::new();
        for (size, _, n) in sizes.into_iter().filter(|s| size_wanted(s.1)) {
            let took = throughput(&p, size, n);
            row.push(rate(size, n, took));
            if size <= 1 << 20 {
                let l = latency(&p, size, lat_n);
                lat.push(format!("{:.2} ms", percentile(&l, 0.5)));
            }
        }
        eprintln!("{}: {}.", cl.name(), common::unstored_summary(&p.a, &p.b));
        rows.push((cl, row));
        lat_rows.push((cl, lat));
    }
    println!(
        "| throughput (bundles) | {} |",
        sizes
            .iter()
            .filter(|s| size_wanted(s.1))
            .map(|s| format!("{} ({})", s.1, s.2))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!("|---|---|---|---|---|");
    for (cl, row) in &rows {
        println!("| {} | {} |", cl.name(), row.join(" | "));
    }
    println!();
    println!("| latency, median of {lat_n} | 1 KiB | 64 KiB | 1 MiB |");
    println!("|---|---|---|---|");
    for (cl, row) in &lat_rows {
        println!("| {} | {} |", cl.name(), row.join(" | "));
    }
    println!();
    if !wanted("goodput") {
        return;
    }
    let bundles = std::env::var("LINKS_BENCH_GOODPUT_BUNDLES")
        .ok()
        .and_then(|b| b.parse().ok())
        .unwrap_or(if quick { 8 } else { 200 });
    println!(
        "| LTP, {bundles} x 1 MiB, 1 s one-way delay, 100 Mbit/s | goodput, whole transfer | of loss-free | goodput, steady state | of loss-free |"
    );
    println!("|---|---|---|---|---|");
    let (base, base_steady) = ltp_goodput(dir.path(), 0.0, bundles);
    println!("| 0% loss | {base:.2} MB/s | 100% | {base_steady:.2} MB/s | 100% |");
    for loss in [0.01, 0.05] {
        let (g, s) = ltp_goodput(dir.path(), loss, bundles);
        println!(
            "| {:.0}% loss | {g:.2} MB/s | {:.0}% | {s:.2} MB/s | {:.0}% |",
            loss * 100.0,
            g / base * 100.0,
            s / base_steady * 100.0
        );
    }
}

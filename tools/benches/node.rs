//! Node benchmark: our `dtnd` against dtn7-rs's `dtnd` (0.21.0) in the same run, two nodes on
//! loopback, application to application through each daemon's HTTP API.
//!
//! `cargo bench -p tools --bench node` prints Markdown tables:
//! - ping RTT (median, p99): a request from an application at A to an echo at B and back.
//!   Ours uses the built-in echo service and receives the reply over the WebSocket push,
//!   twice: requests sent over `/ws/send` (the clock stops at the reply; the node's answer
//!   that the request is durable is read and checked after, as `dtnctl ping` does), and
//!   requests each an HTTP POST, which returns only once the request is durable: at the echo
//!   node, now that a bundle leaving at once is not stored at A (one more sync on the path);
//!   dtn7 has no echo service, so this harness runs one as an application polling B's
//!   `/endpoint` without pause, and polls A's `/endpoint` for the reply the same way.
//! - throughput for 1 KiB, 64 KiB, 1 MiB and 100 MiB bundles: sixteen sender threads post to
//!   A, one receiver drains B; the clock runs from the first post to the last payload
//!   received. dtn7 gets fewer bundles of the smaller sizes, to keep the run short; the cell
//!   says how many. Ours runs twice: once the same way, once with one application streaming
//!   the payloads over `/ws/send` (up to 512 unanswered), which costs the client (on the
//!   same two cores) far less than sixteen HTTP clients.
//! - how many bundles our nodes passed on without storing them (the agent holds a bundle that
//!   leaves in the turn it arrives: `bundle-agent/src/agent/held.rs`), from their `/status`.
//! - RSS of our `dtnd` holding `NODE_BENCH_QUEUED_GIB` GiB (default 10) for an absent peer.
//!
//! Ours runs with its RocksDB store syncing before every acknowledgement (group commit);
//! dtn7 runs with its in-memory store (`-D mem`), its fastest. `NODE_BENCH_QUICK=1` makes
//! every count small (a smoke run for CI; its figures mean little). dtn7's binaries come
//! from `$DTN7_BIN_DIR`, else `~/.cache/dtn-tools/bin` (installed by `scripts/setup`).
//! `NODE_BENCH_ONLY=ping,1k,64k,1m,100m,queued` runs only the parts named (for profiling);
//! `NODE_BENCH_NO_DTN7=1` leaves dtn7 out; `NODE_BENCH_WAYS=ws` (or `post`) runs only that
//! way of sending for ours (A/B runs of one path; the other column says "not run").
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bundle_agent::wire::{BundleView, DecodeOptions};

mod common;

use common::{
    free_port, http, percentile, rate, receive_all, status, wait_port, ws, ws_next, Proc, SENDERS,
};

// ---------- our dtnd ----------

struct Ours {
    _procs: Vec<Proc>,
    a: String,
    b: String,
    b_pid: u32,
}

use common::dtnd_node as ours_node;

fn ours_pair(dir: &Path) -> Ours {
    let (tb, ab, ta, aa) = (free_port(), free_port(), free_port(), free_port());
    let b = ours_node(dir, "ipn:2.0", tb, ab, None, &[]);
    let b_pid = b.0.id();
    let a = ours_node(dir, "ipn:1.0", ta, aa, Some(tb), &[]);
    let o = Ours {
        _procs: vec![b, a],
        a: format!("http://127.0.0.1:{aa}"),
        b: format!("http://127.0.0.1:{ab}"),
        b_pid,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if status(&o.a)["sessions"] == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "no session between our nodes");
        std::thread::sleep(Duration::from_millis(20));
    }
    o
}

/// A node's `/status`.
fn ours_send(agent: &ureq::Agent, api: &str, dst: &str, source: Option<&str>, payload: &[u8]) {
    let mut req = agent
        .post(format!("{api}/send"))
        .query("destination", dst)
        .query("lifetime", "1h");
    if let Some(s) = source {
        req = req.query("source", s);
    }
    let mut r = req.send(payload).unwrap();
    assert_eq!(
        r.status().as_u16(),
        201,
        "{}",
        r.body_mut().read_to_string().unwrap_or_default()
    );
}

fn ours_ping(o: &Ours, n: usize) -> Vec<Duration> {
    let mut sock = ws(&o.a, "ipn:1.4242");
    let agent = http();
    let mut rtts = Vec::with_capacity(n);
    for i in 0..n + 5 {
        let payload = format!("ping {i:08}");
        let t = Instant::now();
        ours_send(
            &agent,
            &o.a,
            "ipn:2.7",
            Some("ipn:1.4242"),
            payload.as_bytes(),
        );
        while ws_next(&mut sock) != payload.as_bytes() {}
        if i >= 5 {
            rtts.push(t.elapsed());
        }
    }
    rtts
}

/// Like [`ours_ping`], but the requests go over `/ws/send`: the clock stops when the reply
/// arrives; the node's answer that the request is durable is read (and checked) after.
fn ours_ping_ws(o: &Ours, n: usize) -> Vec<Duration> {
    let mut sock = ws(&o.a, "ipn:1.4243");
    let mut tx = common::ws_at(&format!(
        "{}/ws/send?destination=ipn:2.7&source=ipn:1.4243&lifetime=1h",
        o.a.replace("http://", "ws://")
    ));
    let mut rtts = Vec::with_capacity(n);
    for i in 0..n + 5 {
        let payload = format!("ping {i:08}");
        let t = Instant::now();
        tx.send(tungstenite::Message::Binary(
            payload.clone().into_bytes().into(),
        ))
        .unwrap();
        while ws_next(&mut sock) != payload.as_bytes() {}
        let rtt = t.elapsed();
        match tx.read().unwrap() {
            tungstenite::Message::Text(t) => assert!(!t.starts_with("error"), "{t}"),
            other => panic!("unexpected answer {other:?}"),
        }
        if i >= 5 {
            rtts.push(rtt);
        }
    }
    rtts
}

fn ours_throughput(o: &Ours, size: usize, n: usize) -> Duration {
    let mut sock = ws(&o.b, "ipn:2.1");
    let payload = Arc::new(vec![0x5au8; size]);
    let start = Instant::now();
    let senders: Vec<_> = (0..SENDERS)
        .map(|t| {
            let (api, payload) = (o.a.clone(), payload.clone());
            std::thread::spawn(move || {
                let agent = http();
                for _ in (t..n).step_by(SENDERS) {
                    ours_send(&agent, &api, "ipn:2.1", None, &payload);
                }
            })
        })
        .collect();
    receive_all(&mut sock, size, n, start, senders)
}

/// Like [`ours_throughput`], but applications stream the payloads over `/ws/send`, each
/// keeping up to [`common::WS_WINDOW`] unanswered.
fn ours_throughput_ws(o: &Ours, size: usize, n: usize) -> Duration {
    common::ws_throughput(&o.a, &o.b, size, n)
}

/// The disk under the stores: MB/s written in 16 MiB steps, each followed by fdatasync, the
/// way a group commit writes. Both nodes write every payload once (their WALs), so half of
/// this bounds the throughput of large bundles.
fn disk_sync_rate(dir: &Path) -> f64 {
    use std::io::Write;
    let path = dir.join("disk-probe");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0xA5u8; 16 << 20];
    let steps = 32;
    let start = Instant::now();
    for _ in 0..steps {
        f.write_all(&chunk).unwrap();
        f.sync_data().unwrap();
    }
    let took = start.elapsed().as_secs_f64();
    drop(f);
    let _ = std::fs::remove_file(path);
    (steps * chunk.len()) as f64 / took / 1e6
}

fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Queues `gib` GiB for a peer that never comes; returns (RSS, peak RSS) in MiB and seconds.
fn ours_rss_queued(dir: &Path, gib: u64) -> (f64, f64, f64) {
    let api = free_port();
    let quota = format!("{}", (gib + 2) << 30);
    let node = ours_node(
        dir,
        "ipn:5.0",
        free_port(),
        api,
        None,
        &["--store-quota", &quota, "--route", "ipn:9.*=ipn:8.0"],
    );
    let api = format!("http://127.0.0.1:{api}");
    let chunk = 64usize << 20;
    let n = ((gib << 30) as usize).div_ceil(chunk);
    let payload = Arc::new(vec![0xa5u8; chunk]);
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let senders: Vec<_> = (0..2)
        .map(|_| {
            let (api, payload, next) = (api.clone(), payload.clone(), next.clone());
            std::thread::spawn(move || {
                let agent = http();
                while next.fetch_add(1, Ordering::Relaxed) < n as u64 {
                    ours_send(&agent, &api, "ipn:9.1", None, &payload);
                }
            })
        })
        .collect();
    for s in senders {
        s.join().unwrap();
    }
    let took = start.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs(2));
    let (rss, hwm) = rss_kib(node.0.id());
    (rss as f64 / 1024.0, hwm as f64 / 1024.0, took)
}

// ---------- dtn7-rs ----------

fn dtn7_bin(name: &str) -> PathBuf {
    if let Some(d) = std::env::var_os("DTN7_BIN_DIR") {
        return PathBuf::from(d).join(name);
    }
    let home = std::env::var_os("HOME").unwrap_or_default();
    PathBuf::from(home).join(".cache/dtn-tools/bin").join(name)
}

struct Dtn7 {
    _procs: Vec<Proc>,
    a: String,
    b: String,
}

fn dtn7_node(dir: &Path, name: &str, web: u16, tcp: u16, peer: Option<(u16, &str)>) -> Proc {
    let work = dir.join(format!("dtn7-{name}"));
    std::fs::create_dir_all(&work).unwrap();
    let mut cmd = Command::new(dtn7_bin("dtnd"));
    cmd.args(["-n", &format!("dtn://{name}/"), "-i", "0", "--disable_nd"])
        .args(["-D", "mem", "-r", "epidemic", "-W"])
        .arg(&work)
        .args(["-w", &web.to_string(), "-C", &format!("tcp:port={tcp}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some((p, peer)) = peer {
        cmd.args(["-s", &format!("tcp://127.0.0.1:{p}/{peer}")]);
    }
    let p = Proc(cmd.spawn().expect("dtn7's dtnd starts (run scripts/setup)"));
    wait_port(web);
    wait_port(tcp);
    p
}

fn dtn7_pair(dir: &Path) -> Dtn7 {
    let (wb, tb, wa, ta) = (free_port(), free_port(), free_port(), free_port());
    let b = dtn7_node(dir, "b", wb, tb, None);
    let a = dtn7_node(dir, "a", wa, ta, Some((tb, "b")));
    let d = Dtn7 {
        _procs: vec![b, a],
        a: format!("http://127.0.0.1:{wa}"),
        b: format!("http://127.0.0.1:{wb}"),
    };
    // Its static peer connects in the background: give it a moment, then check by a probe.
    std::thread::sleep(Duration::from_secs(2));
    d
}

fn dtn7_get(agent: &ureq::Agent, url: &str) -> Vec<u8> {
    agent
        .get(url)
        .call()
        .unwrap()
        .body_mut()
        .read_to_vec()
        .unwrap()
}

fn dtn7_send(agent: &ureq::Agent, api: &str, dst: &str, payload: &[u8]) {
    let mut r = agent
        .post(format!("{api}/send"))
        .query("dst", dst)
        .query("lifetime", "1h")
        .send(payload)
        .unwrap();
    let status = r.status().as_u16();
    let body = r.body_mut().read_to_string().unwrap_or_default();
    assert_eq!(status, 200, "dtn7 refused: {body}");
}

/// Polls `/endpoint?svc` until a bundle arrives; returns its payload.
fn dtn7_recv(agent: &ureq::Agent, api: &str, svc: &str, deadline: Instant) -> Option<Vec<u8>> {
    loop {
        let bytes = dtn7_get(agent, &format!("{api}/endpoint?{svc}"));
        if bytes != b"Nothing to receive" {
            let v = BundleView::decode_with(&bytes, &DecodeOptions::lenient()).ok()?;
            return Some(v.payload().to_vec());
        }
        if Instant::now() > deadline {
            return None;
        }
    }
}

/// Round trips through dtn7; a request without a reply within 5 s counts as lost.
fn dtn7_ping(d: &Dtn7, n: usize) -> (Vec<Duration>, usize) {
    let agent = http();
    dtn7_get(&agent, &format!("{}/register?pong", d.a));
    dtn7_get(&agent, &format!("{}/register?echo", d.b));
    let stop = Arc::new(AtomicU64::new(0));
    let echo = {
        let (b, stop) = (d.b.clone(), stop.clone());
        std::thread::spawn(move || {
            let agent = http();
            while stop.load(Ordering::Relaxed) == 0 {
                let until = Instant::now() + Duration::from_millis(200);
                if let Some(p) = dtn7_recv(&agent, &b, "echo", until) {
                    dtn7_send(&agent, &b, "dtn://a/pong", &p);
                }
            }
        })
    };
    let mut rtts = Vec::with_capacity(n);
    let mut lost = 0;
    for i in 0..n + 5 {
        let payload = format!("ping {i:08}");
        let t = Instant::now();
        dtn7_send(&agent, &d.a, "dtn://b/echo", payload.as_bytes());
        let deadline = t + Duration::from_secs(5);
        let answered = loop {
            match dtn7_recv(&agent, &d.a, "pong", deadline) {
                Some(got) if got == payload.as_bytes() => break true,
                Some(_) => {}
                None => break false,
            }
        };
        if i >= 5 {
            if answered {
                rtts.push(t.elapsed());
            } else {
                lost += 1;
            }
        }
    }
    stop.store(1, Ordering::Relaxed);
    echo.join().unwrap();
    (rtts, lost)
}

fn dtn7_throughput(d: &Dtn7, size: usize, n: usize) -> Result<Duration, String> {
    let agent = http();
    dtn7_get(&agent, &format!("{}/register?sink", d.b));
    let payload = Arc::new(vec![0x5au8; size]);
    // A probe first: dtn7 refuses some sizes outright.
    let mut r = agent
        .post(format!("{}/send", d.a))
        .query("dst", "dtn://b/sink")
        .send(&payload[..])
        .map_err(|e| e.to_string())?;
    if r.status().as_u16() != 200 {
        return Err(format!("refused: HTTP {}", r.status().as_u16()));
    }
    let _ = r.body_mut().read_to_vec();
    let deadline = Instant::now() + Duration::from_secs(120);
    dtn7_recv(&agent, &d.b, "sink", deadline).ok_or("probe never arrived")?;
    let start = Instant::now();
    let senders: Vec<_> = (0..SENDERS)
        .map(|t| {
            let (api, payload) = (d.a.clone(), payload.clone());
            std::thread::spawn(move || {
                let agent = http();
                for _ in (t..n).step_by(SENDERS) {
                    dtn7_send(&agent, &api, "dtn://b/sink", &payload);
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(300);
    for i in 0..n {
        let p = dtn7_recv(&agent, &d.b, "sink", deadline)
            .ok_or_else(|| format!("{i} of {n} arrived within 300 s"))?;
        assert_eq!(p.len(), size);
    }
    let took = start.elapsed();
    for s in senders {
        s.join().unwrap();
    }
    Ok(took)
}

// ---------- report ----------

/// True when `NODE_BENCH_ONLY` is unset or names `part`.
fn wanted(part: &str) -> bool {
    std::env::var("NODE_BENCH_ONLY").map_or(true, |only| only.split(',').any(|p| p == part))
}

/// Which of our two ways of sending runs: `NODE_BENCH_WAYS=ws,post` (default both).
fn way(name: &str) -> bool {
    std::env::var("NODE_BENCH_WAYS").map_or(true, |ways| ways.split(',').any(|w| w == name))
}

fn main() {
    let quick = std::env::var_os("NODE_BENCH_QUICK").is_some();
    let dir = tempfile::tempdir().unwrap();
    let have_dtn7 = dtn7_bin("dtnd").exists() && std::env::var_os("NODE_BENCH_NO_DTN7").is_none();
    if !have_dtn7 {
        eprintln!(
            "dtn7's dtnd not found at {}: its columns stay empty",
            dtn7_bin("dtnd").display()
        );
    }
    let pings = if quick { 20 } else { 200 };

    let ours = ours_pair(dir.path());
    let dtn7 = have_dtn7.then(|| dtn7_pair(dir.path()));

    if wanted("ping") {
        ping_table(&ours, dtn7.as_ref(), pings);
    }
    let sizes: [(usize, &str, &str, usize); 4] = if quick {
        [
            (1024, "1k", "1 KiB", 200),
            (64 << 10, "64k", "64 KiB", 50),
            (1 << 20, "1m", "1 MiB", 10),
            (100 << 20, "100m", "100 MiB", 1),
        ]
    } else {
        [
            (1024, "1k", "1 KiB", 20_000),
            (64 << 10, "64k", "64 KiB", 5_000),
            (1 << 20, "1m", "1 MiB", 1_000),
            (100 << 20, "100m", "100 MiB", 8),
        ]
    };
    println!("| throughput | bundles | ours, WebSocket stream | ours, HTTP POST each | dtn7-rs 0.21.0, HTTP POST each |");
    println!("|---|---|---|---|---|");
    for (size, part, label, n) in sizes {
        if !wanted(part) {
            continue;
        }
        let streamed = way("ws").then(|| ours_throughput_ws(&ours, size, n));
        let o = way("post").then(|| ours_throughput(&ours, size, n));
        // dtn7 gets fewer small bundles, to keep the run short; the rate is what counts.
        let dn = match size {
            s if s >= 100 << 20 => n,
            s if s >= 1 << 20 => (n / 10).max(1),
            s if s >= 64 << 10 => (n / 20).max(1),
            _ => (n / 4).max(1),
        };
        let d = match &dtn7 {
            Some(d) => match dtn7_throughput(d, size, dn) {
                Ok(t) => format!("{} ({dn} bundles)", rate(size, dn, t)),
                Err(e) => format!("failed: {e}"),
            },
            None => "not run".into(),
        };
        println!(
            "| {label} | {n} | {} | {} | {d} |",
            streamed.map_or("not run".into(), |t| rate(size, n, t)),
            o.map_or("not run".into(), |t| rate(size, n, t))
        );
    }
    let (rss, hwm) = rss_kib(ours.b_pid);
    println!();
    println!(
        "Receiving node after the throughput runs: RSS {:.0} MiB, peak {:.0} MiB.",
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    println!(
        "Passed on unstored: {}.",
        common::unstored_summary(&ours.a, &ours.b)
    );
    let disk = disk_sync_rate(dir.path());
    println!(
        "Disk under both stores: {disk:.0} MB/s written and fdatasync'd in 16 MiB steps; \
         with each node writing every payload once, large bundles cannot pass {:.1} Gbit/s.",
        disk / 2.0 * 8.0 / 1000.0
    );
    drop(ours);
    drop(dtn7);
    if !wanted("queued") {
        return;
    }

    let gib: u64 = std::env::var("NODE_BENCH_QUEUED_GIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 1 } else { 10 });
    let (rss, hwm, took) = ours_rss_queued(dir.path(), gib);
    println!();
    println!("| queued for an absent peer | RSS | peak RSS | time to queue |");
    println!("|---|---|---|---|");
    println!("| {gib} GiB in 64 MiB bundles | {rss:.0} MiB | {hwm:.0} MiB | {took:.1} s |");
}

/// One way of pinging through our nodes: the round-trip times of `n` requests.
type PingWay = fn(&Ours, usize) -> Vec<Duration>;

fn ping_table(ours: &Ours, dtn7: Option<&Dtn7>, pings: usize) {
    println!("| ping RTT, {pings} round trips | median | p99 | lost |");
    println!("|---|---|---|---|");
    let ways: [(&str, PingWay); 2] = [
        ("WebSocket send", ours_ping_ws),
        ("HTTP POST each", ours_ping),
    ];
    for (way, ping) in ways {
        let mut r = ping(ours, pings);
        r.sort();
        println!(
            "| ours (dtnd, RocksDB syncing), {way} | {:.3} ms | {:.3} ms | 0 |",
            percentile(&r, 0.5),
            percentile(&r, 0.99)
        );
    }
    if let Some(d) = dtn7 {
        let (mut r, lost) = dtn7_ping(d, pings);
        r.sort();
        if r.is_empty() {
            println!("| dtn7-rs 0.21.0 (dtnd, -D mem) | - | - | {lost} |");
        } else {
            println!(
                "| dtn7-rs 0.21.0 (dtnd, -D mem) | {:.3} ms | {:.3} ms | {lost} |",
                percentile(&r, 0.5),
                percentile(&r, 0.99)
            );
        }
    }
    println!();
}

//! The pod LAN benchmark: 1 KiB bundles between two network namespaces joined by a veth
//! pair, over each convergence layer a pod can use: the Ethernet layer on AF_XDP and on
//! AF_PACKET, UDP and TCPCLv4, in the same run and on the same path. Each layer runs as it
//! does in `dtnd` (the same link code and sockets), with the node's storage left out so the
//! layer's own cost is what is measured.
//!
//! For each layer: a receiver in namespace B and a sender in namespace A, each a process of
//! this benchmark on one thread (`ip netns exec`), then
//! - bundles/s: N bundles with up to 256 in flight, counted when the sender hears each was
//!   received (TCPCL's XFER_ACK; our Ethernet layer's complete ack); UDP has no
//!   acknowledgement, so it counts what the receiver got in the time from its first to its
//!   last datagram, and the loss is shown;
//! - latency: one bundle at a time, from send to that acknowledgement (UDP: to an echo);
//! - CPU time per bundle: user and system time of both processes over the bundles/s phase,
//!   divided by the bundles.
//!
//! Run (as root): `cargo bench -p transports --bench pod_lan`. Environment:
//! `POD_LAN_BUNDLES` (default 200000), `POD_LAN_PINGS` (default 2000), `POD_LAN_QUICK=1`
//! (20000 bundles, 200 pings), `POD_LAN_ONLY=xdp,xdp-generic,packet,udp,tcpcl` (`xdp` takes
//! native XDP where the driver has it, as `dtnd` does), `POD_LAN_CPUS=S,R` to pin the sender
//! and the receiver to CPUs. Without root it says why and does nothing.
//!
//! On a VM, waking a process on the other vCPU costs tens of microseconds (`perf` shows it in
//! the wakeup's interrupt-enable): latency one bundle at a time is mostly that, whichever the
//! layer, unless both ends share a CPU (`POD_LAN_CPUS=0,0`).

// Benchmark code: a panic is a failed run.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use transports::ether::frame::Mac;
use transports::ether::link::{Action, EtherConfig, EtherLink, Event};
use transports::ether::packet::parse_mac;
use transports::ether::socket::{FrameSocket, Want};
use transports::ether::xdp::XdpMode;

const SIZE: usize = 1024;
const WINDOW: usize = 256;
const RECV_ADDR: &str = "10.215.0.2:4556";

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

/// CPU time of this process so far (user + system), from `/proc/self/stat` (clock ticks of
/// 10 ms).
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split(' ').collect();
    // Fields 14 and 15 of the line; 3 is the first after the name.
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    if let Ok(role) = std::env::var("POD_LAN_ROLE") {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(child(&role));
        return;
    }
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let quick = std::env::var("POD_LAN_QUICK").is_ok();
    let n = env_usize("POD_LAN_BUNDLES", if quick { 20_000 } else { 200_000 });
    let pings = env_usize("POD_LAN_PINGS", if quick { 200 } else { 2_000 });
    let only =
        std::env::var("POD_LAN_ONLY").unwrap_or_else(|_| "xdp,xdp-generic,packet,udp,tcpcl".into());
    let tag = format!("pl{}", std::process::id() % 10_000);
    let (a, b) = (format!("{tag}a"), format!("{tag}b"));
    let lab = (|| -> Result<(), String> {
        ip(&["netns", "add", &a])?;
        ip(&["netns", "add", &b])?;
        ip(&[
            "link", "add", "data0", "netns", &a, "type", "veth", "peer", "name", "data0", "netns",
            &b,
        ])?;
        for (ns, addr) in [(&a, "10.215.0.1/24"), (&b, "10.215.0.2/24")] {
            ip(&["-n", ns, "addr", "add", addr, "dev", "data0"])?;
            ip(&["-n", ns, "link", "set", "data0", "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        Ok(())
    })();
    if let Err(e) = lab {
        let _ = ip(&["netns", "del", &a]);
        let _ = ip(&["netns", "del", &b]);
        println!("pod_lan: SKIPPED: namespaces and veth need root ({e})");
        return;
    }
    println!(
        "pod_lan: {n} bundles of {SIZE} bytes, {WINDOW} in flight; latency over {pings} one at a time"
    );
    let mut rows = Vec::new();
    for layer in only.split(',') {
        match run(layer, &a, &b, n, pings) {
            Ok(r) => rows.push((layer.to_owned(), r)),
            Err(e) => println!("{layer}: not measured: {e}"),
        }
    }
    let _ = ip(&["netns", "del", &a]);
    let _ = ip(&["netns", "del", &b]);
    let tcpcl = rows
        .iter()
        .find(|(l, _)| l == "tcpcl")
        .map(|(_, r)| r["rate"].as_f64().unwrap());
    println!();
    println!("| layer | path | bundles/s | vs TCPCLv4 | latency p50 | latency p99 | CPU µs/bundle (send + receive) | delivered |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    for (layer, r) in &rows {
        let rate = r["rate"].as_f64().unwrap();
        println!(
            "| {layer} | {} | {:.0} | {} | {:.0} µs | {:.0} µs | {:.1} + {:.1} | {}/{} |",
            r["path"].as_str().unwrap(),
            rate,
            tcpcl.map_or("-".into(), |t| format!("{:.2}x", rate / t)),
            r["p50_us"].as_f64().unwrap(),
            r["p99_us"].as_f64().unwrap(),
            r["cpu_send_us"].as_f64().unwrap(),
            r["cpu_recv_us"].as_f64().unwrap(),
            r["delivered"].as_u64().unwrap(),
            n,
        );
    }
}

/// A child process, killed and reaped when dropped.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs one layer: the receiver in `b`, the sender in `a`; merges their results.
fn run(layer: &str, a: &str, b: &str, n: usize, pings: usize) -> Result<serde_json::Value, String> {
    let exe = std::env::current_exe().unwrap();
    // POD_LAN_CPUS=S,R pins the sender to CPU S and the receiver to CPU R.
    let cpus = std::env::var("POD_LAN_CPUS").ok();
    let spawn = |ns: &str, role: &str, peer: &str| {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns]);
        if let Some((s, r)) = cpus.as_deref().and_then(|c| c.split_once(',')) {
            cmd.args(["taskset", "-c", if role == "send" { s } else { r }]);
        }
        cmd.arg(&exe)
            .env("POD_LAN_ROLE", role)
            .env("POD_LAN_LAYER", layer)
            .env("POD_LAN_N", n.to_string())
            .env("POD_LAN_PINGS", pings.to_string())
            .env("POD_LAN_PEER", peer)
            .stdout(Stdio::piped())
            .spawn()
            .map(Child)
            .unwrap()
    };
    let mut recv = spawn(b, "recv", "");
    let mut rlines = BufReader::new(recv.0.stdout.take().unwrap()).lines();
    let ready = rlines
        .next()
        .ok_or("receiver said nothing")?
        .map_err(|e| e.to_string())?;
    let Some(mac) = ready.strip_prefix("ready ") else {
        return Err(ready);
    };
    let mut send = spawn(a, "send", mac);
    let sline = BufReader::new(send.0.stdout.take().unwrap())
        .lines()
        .next()
        .ok_or("sender said nothing")?
        .map_err(|e| e.to_string())?;
    drop(send);
    let rline = match rlines.next() {
        Some(Ok(l)) => l,
        _ => String::from("{}"),
    };
    drop(recv);
    let mut s: serde_json::Value =
        serde_json::from_str(sline.strip_prefix("result ").ok_or(sline.clone())?)
            .map_err(|e| e.to_string())?;
    let r: serde_json::Value =
        serde_json::from_str(rline.strip_prefix("result ").unwrap_or("{}")).unwrap_or_default();
    let delivered = r["delivered"].as_u64().unwrap_or(0);
    let recv_cpu_ms = r["cpu_ms"].as_f64().unwrap_or(0.0);
    if layer == "udp" {
        // No acknowledgements: the rate is the receiver's.
        s["rate"] = r["rate"].clone();
    }
    s["delivered"] = delivered.into();
    s["cpu_recv_us"] = (recv_cpu_ms * 1000.0 / delivered.max(1) as f64).into();
    Ok(s)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

async fn child(role: &str) {
    let layer = std::env::var("POD_LAN_LAYER").unwrap();
    let n = env_usize("POD_LAN_N", 1000);
    let pings = env_usize("POD_LAN_PINGS", 100);
    let peer = std::env::var("POD_LAN_PEER").unwrap_or_default();
    match (role, layer.as_str()) {
        ("recv", "xdp" | "xdp-generic" | "packet") => ether_recv(&layer, n + pings).await,
        ("send", "xdp" | "xdp-generic" | "packet") => {
            ether_send(&layer, parse_mac(&peer).unwrap(), n, pings).await
        }
        ("recv", "udp") => udp_recv(n).await,
        ("send", "udp") => udp_send(n, pings).await,
        ("recv", "tcpcl") => tcpcl_recv().await,
        ("send", "tcpcl") => tcpcl_send(n, pings).await,
        _ => println!("unknown role {role} {layer}"),
    }
}

fn open(layer: &str) -> Result<FrameSocket, std::io::Error> {
    let want = match layer {
        "xdp" => Want::Xdp(XdpMode::Auto),
        "xdp-generic" => Want::Xdp(XdpMode::Generic),
        _ => Want::Packet,
    };
    FrameSocket::open("data0", want)
}

fn mac_text(m: &Mac) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Carries out the link's actions: frames out in one batch; delivered bundles stored at once;
/// returns the tags sent.
async fn drive(
    sock: &FrameSocket,
    link: &mut EtherLink,
    start: Instant,
    delivered: &mut usize,
) -> Vec<u64> {
    let mut sent = Vec::new();
    loop {
        let mut frames = Vec::new();
        let mut stored = Vec::new();
        while let Some(a) = link.poll_action() {
            match a {
                Action::Transmit(f) => frames.push(f),
                Action::Deliver { from, transfer, .. } => {
                    *delivered += 1;
                    stored.push((from, transfer));
                }
                Action::Sent { tag, ok } => {
                    assert!(ok, "a bundle was given up");
                    sent.push(tag);
                }
            }
        }
        if !frames.is_empty() {
            sock.send_batch(&frames).await.unwrap();
        }
        if stored.is_empty() {
            return sent;
        }
        let now = start.elapsed().as_millis() as u64;
        for (from, transfer) in stored {
            link.handle(now, Event::Stored { from, transfer });
        }
    }
}

/// Waits for frames (or the link's next timer) and hands them to the link.
async fn step(sock: &FrameSocket, link: &mut EtherLink, start: Instant) {
    let mut frames = Vec::new();
    let due = link.next_timeout().map_or(Duration::from_millis(50), |t| {
        Duration::from_millis(t.saturating_sub(start.elapsed().as_millis() as u64))
    });
    tokio::select! {
        r = sock.recv_batch(&mut frames, 256) => r.unwrap(),
        _ = tokio::time::sleep(due) => {}
    }
    let now = start.elapsed().as_millis() as u64;
    for f in frames {
        link.handle(now, Event::Frame(f));
    }
    link.handle(now, Event::Tick);
}

async fn ether_recv(layer: &str, total: usize) {
    let sock = match open(layer) {
        Ok(s) => s,
        Err(e) => {
            println!("cannot open {layer}: {e}");
            return;
        }
    };
    println!("ready {}", mac_text(&sock.interface.mac));
    let mut link = EtherLink::new(EtherConfig::new(sock.interface.mac));
    let start = Instant::now();
    let mut delivered = 0;
    let mut t0: Option<(Instant, Duration)> = None;
    let mut cpu_ms = None;
    let bulk = total - env_usize("POD_LAN_PINGS", 0);
    while delivered < total {
        step(&sock, &mut link, start).await;
        drive(&sock, &mut link, start, &mut delivered).await;
        if t0.is_none() && delivered > 0 {
            t0 = Some((Instant::now(), cpu()));
        }
        if delivered >= bulk && cpu_ms.is_none() {
            cpu_ms = t0.map(|(_, c)| (cpu() - c).as_secs_f64() * 1000.0);
        }
    }
    let cpu_ms = cpu_ms.unwrap_or(0.0);
    // Let the last acks leave.
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let mut frames = Vec::new();
        if tokio::time::timeout(Duration::from_millis(1), sock.recv_batch(&mut frames, 256))
            .await
            .is_ok()
        {
            let now = start.elapsed().as_millis() as u64;
            for f in frames {
                link.handle(now, Event::Frame(f));
            }
            drive(&sock, &mut link, start, &mut delivered).await;
        }
    }
    let delivered = delivered - env_usize("POD_LAN_PINGS", 0);
    println!(
        "result {}",
        serde_json::json!({"delivered": delivered, "cpu_ms": cpu_ms})
    );
}

async fn ether_send(layer: &str, to: Mac, n: usize, pings: usize) {
    let sock = open(layer).unwrap();
    let mut link = EtherLink::new(EtherConfig::new(sock.interface.mac));
    let start = Instant::now();
    let bundle = vec![0x5a; SIZE];
    let mut delivered = 0;
    let (mut next, mut done) = (0usize, 0usize);
    let (t, c) = (Instant::now(), cpu());
    while done < n {
        let now = start.elapsed().as_millis() as u64;
        while next < n && next - done < WINDOW {
            link.handle(
                now,
                Event::Send {
                    tag: next as u64,
                    to,
                    bundle: bundle.clone(),
                },
            );
            next += 1;
        }
        done += drive(&sock, &mut link, start, &mut delivered).await.len();
        if done < n {
            step(&sock, &mut link, start).await;
        }
        done += drive(&sock, &mut link, start, &mut delivered).await.len();
    }
    let secs = t.elapsed().as_secs_f64();
    let cpu_ms = (cpu() - c).as_secs_f64() * 1000.0;
    let mut lat = Vec::new();
    for i in 0..pings {
        let t = Instant::now();
        link.handle(
            start.elapsed().as_millis() as u64,
            Event::Send {
                tag: (n + i) as u64,
                to,
                bundle: bundle.clone(),
            },
        );
        let mut got = drive(&sock, &mut link, start, &mut delivered).await.len();
        while got == 0 {
            step(&sock, &mut link, start).await;
            got = drive(&sock, &mut link, start, &mut delivered).await.len();
        }
        lat.push(t.elapsed());
    }
    lat.sort();
    let path = sock.path.clone();
    println!(
        "result {}",
        serde_json::json!({
            "path": path, "rate": n as f64 / secs,
            "p50_us": percentile(&lat, 0.5), "p99_us": percentile(&lat, 0.99),
            "cpu_send_us": cpu_ms * 1000.0 / n as f64,
        })
    );
}

async fn udp_recv(n: usize) {
    let sock = tokio::net::UdpSocket::bind(RECV_ADDR).await.unwrap();
    let s2 = socket2::SockRef::from(&sock);
    let _ = s2.set_recv_buffer_size(8 << 20);
    println!("ready -");
    let mut buf = vec![0u8; 65_536];
    let mut count = 0usize;
    let mut first: Option<(Instant, Duration)> = None;
    let mut last = Instant::now();
    let mut cpu_ms = 0.0;
    loop {
        let got = tokio::time::timeout(Duration::from_millis(500), sock.recv_from(&mut buf)).await;
        let Ok(Ok((len, from))) = got else {
            if first.is_some() && cpu_ms == 0.0 {
                // The bundles/s phase ended (lost datagrams never come).
                break;
            }
            continue;
        };
        if buf[0] == 1 {
            // A latency probe: echo it.
            sock.send_to(&buf[..len], from).await.unwrap();
            continue;
        }
        if first.is_none() {
            first = Some((Instant::now(), cpu()));
        }
        count += 1;
        last = Instant::now();
        if count == n {
            break;
        }
    }
    let (t0, c0) = first.unwrap();
    cpu_ms = (cpu() - c0).as_secs_f64() * 1000.0;
    let secs = last.duration_since(t0).as_secs_f64().max(1e-6);
    let result =
        serde_json::json!({"delivered": count, "cpu_ms": cpu_ms, "rate": count as f64 / secs});
    // Keep echoing probes until the sender is done.
    let echo = async {
        loop {
            if let Ok((len, from)) = sock.recv_from(&mut buf).await {
                if buf[0] == 1 {
                    let _ = sock.send_to(&buf[..len], from).await;
                }
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(30), echo).await;
    println!("result {result}");
}

async fn udp_send(n: usize, pings: usize) {
    let sock = tokio::net::UdpSocket::bind("10.215.0.1:0").await.unwrap();
    let to: SocketAddr = RECV_ADDR.parse().unwrap();
    let bundle = vec![0u8; SIZE];
    let (t, c) = (Instant::now(), cpu());
    for _ in 0..n {
        sock.send_to(&bundle, to).await.unwrap();
    }
    let secs = t.elapsed().as_secs_f64();
    let cpu_ms = (cpu() - c).as_secs_f64() * 1000.0;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let mut probe = vec![0u8; SIZE];
    probe[0] = 1;
    let mut buf = vec![0u8; 65_536];
    let mut lat = Vec::new();
    for _ in 0..pings {
        let t = Instant::now();
        sock.send_to(&probe, to).await.unwrap();
        if tokio::time::timeout(Duration::from_millis(200), sock.recv_from(&mut buf))
            .await
            .is_ok()
        {
            lat.push(t.elapsed());
        }
    }
    lat.sort();
    println!(
        "result {}",
        serde_json::json!({
            "path": "UDP socket", "rate": n as f64 / secs,
            "p50_us": percentile(&lat, 0.5), "p99_us": percentile(&lat, 0.99),
            "cpu_send_us": cpu_ms * 1000.0 / n as f64,
        })
    );
    // Stop the receiver's echo loop early: it is killed by the parent.
}

async fn tcpcl_recv() {
    use transports::tcpcl::connection::{run_session, Command as Cmd, Upcall};
    use transports::tcpcl::{Role, SessionConfig};
    let l = tokio::net::TcpListener::bind(RECV_ADDR).await.unwrap();
    println!("ready -");
    let (stream, _) = l.accept().await.unwrap();
    let (cmd_tx, cmd_rx) = mpsc::channel(4096);
    let (up_tx, mut up) = mpsc::channel(4096);
    let mut cfg = SessionConfig::new("ipn:2.0");
    cfg.segment_mru = 64 * 1024;
    tokio::spawn(run_session(stream, cfg, Role::Passive, None, cmd_rx, up_tx));
    let mut delivered = 0usize;
    let mut c0 = None;
    let n = env_usize("POD_LAN_N", 0);
    let mut cpu_ms = 0.0;
    while let Some(u) = up.recv().await {
        match u {
            Upcall::Received { transfer_id, .. } => {
                if c0.is_none() {
                    c0 = Some(cpu());
                }
                delivered += 1;
                cmd_tx.send(Cmd::Accept(transfer_id)).await.unwrap();
                if delivered == n {
                    cpu_ms = (cpu() - c0.unwrap()).as_secs_f64() * 1000.0;
                    println!(
                        "result {}",
                        serde_json::json!({"delivered": delivered, "cpu_ms": cpu_ms})
                    );
                }
            }
            Upcall::Closed(_) => break,
            _ => {}
        }
    }
    if delivered < n {
        println!(
            "result {}",
            serde_json::json!({"delivered": delivered, "cpu_ms": cpu_ms})
        );
    }
}

async fn tcpcl_send(n: usize, pings: usize) {
    use transports::tcpcl::connection::{connect, Command as Cmd, Upcall};
    use transports::tcpcl::SessionConfig;
    let (cmd_tx, cmd_rx) = mpsc::channel(4096);
    let (up_tx, mut up) = mpsc::channel(4096);
    tokio::spawn(connect(
        RECV_ADDR.parse().unwrap(),
        SessionConfig::new("ipn:1.0"),
        None,
        Duration::from_secs(5),
        cmd_rx,
        up_tx,
    ));
    loop {
        if let Some(Upcall::Established(_)) = up.recv().await {
            break;
        }
    }
    let bundle = vec![0u8; SIZE];
    let (mut next, mut done) = (0usize, 0usize);
    let (t, c) = (Instant::now(), cpu());
    while done < n {
        while next < n && next - done < WINDOW {
            cmd_tx
                .send(Cmd::Send {
                    tag: next as u64,
                    bundle: bundle.clone().into(),
                })
                .await
                .unwrap();
            next += 1;
        }
        match up.recv().await.unwrap() {
            Upcall::Acked(_) => done += 1,
            Upcall::Failed(..) | Upcall::Closed(_) => panic!("TCPCL transfer failed"),
            _ => {}
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let cpu_ms = (cpu() - c).as_secs_f64() * 1000.0;
    let mut lat = Vec::new();
    for i in 0..pings {
        let t = Instant::now();
        cmd_tx
            .send(Cmd::Send {
                tag: (n + i) as u64,
                bundle: bundle.clone().into(),
            })
            .await
            .unwrap();
        loop {
            if let Upcall::Acked(_) = up.recv().await.unwrap() {
                break;
            }
        }
        lat.push(t.elapsed());
    }
    lat.sort();
    println!(
        "result {}",
        serde_json::json!({
            "path": "TCP socket", "rate": n as f64 / secs,
            "p50_us": percentile(&lat, 0.5), "p99_us": percentile(&lat, 0.99),
            "cpu_send_us": cpu_ms * 1000.0 / n as f64,
        })
    );
}

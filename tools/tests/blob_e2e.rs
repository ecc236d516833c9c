//! Blobs between real `dtnd` processes.
//!
//! Over UDP through a relay that drops 30% of the datagrams from A to B (each shard bundle is
//! one datagram, so 30% of the shards are lost, and sometimes the manifest): a 100 MiB blob
//! put with `dtnctl blob put --to` arrives intact at B, fetched with `dtnctl blob get --wait`,
//! and the repair is only the missing shards' worth: every shard sent again was asked for,
//! and none arrived twice.
//!
//! Over TCPCL: the receiving daemon is killed with SIGKILL mid-transfer and restarted; the
//! transfer completes with no shard sent twice.

// Test code: a panic is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{dtnctl, free_port, free_udp_port, ok, Node};
use serde_json::Value;

/// A UDP relay between A and B on one socket: what A sends is forwarded to B, 30% dropped
/// (a seeded stream); what B sends goes to A untouched.
struct Relay {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    dropped: Arc<AtomicU64>,
    passed: Arc<AtomicU64>,
}

impl Relay {
    fn start(a: SocketAddr, b: SocketAddr, loss: f64) -> Relay {
        // Big buffers, like dtnd's: the relay's own drops are the only loss.
        let s2 = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
        s2.set_recv_buffer_size(4 << 20).unwrap();
        s2.set_send_buffer_size(4 << 20).unwrap();
        s2.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .unwrap();
        let sock: UdpSocket = s2.into();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let relay = Relay {
            addr: sock.local_addr().unwrap(),
            stop: Arc::default(),
            dropped: Arc::default(),
            passed: Arc::default(),
        };
        let (stop, dropped, passed) = (
            relay.stop.clone(),
            relay.dropped.clone(),
            relay.passed.clone(),
        );
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65_536];
            let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
            while !stop.load(Ordering::Relaxed) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                if from == b {
                    let _ = sock.send_to(&buf[..n], a);
                    continue;
                }
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if ((x % 10_000) as f64) < loss * 10_000.0 {
                    dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                passed.fetch_add(1, Ordering::Relaxed);
                let _ = sock.send_to(&buf[..n], b);
            }
        });
        relay
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Datagrams the kernel dropped for want of socket buffer, machine-wide (/proc/net/snmp).
fn rcvbuf_errors() -> u64 {
    let text = std::fs::read_to_string("/proc/net/snmp").unwrap_or_default();
    let mut lines = text.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
        return 0;
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "RcvbufErrors")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

fn stats(node: &Node) -> Value {
    let v: Value = serde_json::from_slice(&node.get("/blobs").unwrap().1).unwrap();
    v["stats"].clone()
}

fn file(dir: &std::path::Path, name: &str, len: usize, seed: u32) -> std::path::PathBuf {
    let path = dir.join(name);
    let data: Vec<u8> = (0..len as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) ^ seed).rotate_left(11) as u8)
        .collect();
    std::fs::write(&path, data).unwrap();
    path
}

#[test]
fn a_100_mib_blob_crosses_30_percent_shard_loss_repairing_only_what_was_lost() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (ua, ub) = (free_udp_port(), free_udp_port());
    let addr = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
    let relay = Relay::start(addr(ua), addr(ub), 0.30);
    let flags = |listen: u16, peer: &str| {
        vec![
            "--udp-listen".to_string(),
            format!("127.0.0.1:{listen}"),
            "--udp-peer".into(),
            format!("{peer}={}", relay.addr),
            "--blob-repair".into(),
            "2s".into(),
        ]
    };
    let a = Node::start_with(d, "ipn:1.0", free_port(), &[], &[], &flags(ua, "ipn:2.0"));
    let b = Node::start_with(d, "ipn:2.0", free_port(), &[], &[], &flags(ub, "ipn:1.0"));
    let src = file(d, "model.bin", 100 << 20, 7);
    // 60 KiB shards: each shard bundle fits one datagram.
    let put = ok(dtnctl(
        &a,
        &[
            "blob",
            "put",
            src.to_str().unwrap(),
            "--to",
            "ipn:2.0",
            "--code",
            "10,4",
            "--shard",
            "61440",
        ],
    ));
    let hash = put.split_whitespace().next().unwrap().to_string();
    let out = d.join("got.bin");
    let started = Instant::now();
    let kernel_before = rcvbuf_errors();
    ok(dtnctl(
        &b,
        &[
            "blob",
            "get",
            &hash,
            "--wait",
            "--timeout",
            "5m",
            "-o",
            out.to_str().unwrap(),
        ],
    ));
    let took = started.elapsed();
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&src).unwrap());
    let (sa, sb) = (stats(&a), stats(&b));
    let dropped = relay.dropped.load(Ordering::Relaxed);
    // The receiving daemon drops datagrams too when they come faster than it stores shards
    // (each is synced to disk): counted by the kernel.
    let kernel = rcvbuf_errors().saturating_sub(kernel_before);
    eprintln!(
        "100 MiB in {took:?}; relay dropped {dropped}, passed {}; kernel dropped {kernel}; \
         sender {sa}; receiver {sb}",
        relay.passed.load(Ordering::Relaxed)
    );
    assert!(dropped > 500, "the relay dropped {dropped}");
    // Only the missing shards' worth of repair: the sender sent again exactly what was asked
    // for (requests are not lost on the way back), the receiver asked for no more than was
    // lost, and no shard arrived twice.
    assert_eq!(sa["resent"], sb["requested"]);
    let early = sb["early_dropped"].as_u64().unwrap();
    assert!(sb["requested"].as_u64().unwrap() <= dropped + kernel + early);
    assert_eq!(sb["duplicates"], 0);
    assert_eq!(sb["corrupt"], 0);
}

#[test]
fn the_receiving_daemon_killed_mid_transfer_completes_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (pa, pb) = (free_port(), free_port());
    let repair = ["--blob-repair".to_string(), "2s".to_string()];
    let mut b = Node::start_with(d, "ipn:2.0", pb, &[], &[], &repair);
    let a = Node::start_with(d, "ipn:1.0", pa, &[pb], &[], &repair);
    a.wait_until("a session to B", |s| s["sessions"] == 1);
    let src = file(d, "weights.bin", 40 << 20, 3);
    let put = ok(dtnctl(
        &a,
        &[
            "blob",
            "put",
            src.to_str().unwrap(),
            "--to",
            "ipn:2.0",
            "--code",
            "8,2",
            "--shard",
            "262144",
        ],
    ));
    let hash = put.split_whitespace().next().unwrap().to_string();
    // Kill B once some of the shards are stored.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v: Value =
            serde_json::from_slice(&b.get(&format!("/blob/status?hash={hash}")).unwrap().1)
                .unwrap();
        let got = v["transfer"]["received"].as_u64().unwrap_or(0);
        if got >= 20 {
            break;
        }
        assert!(Instant::now() < deadline, "no shards arrived: {v}");
        std::thread::sleep(Duration::from_millis(5));
    }
    b.kill9();
    b.spawn();
    let out = d.join("got.bin");
    ok(dtnctl(
        &b,
        &[
            "blob",
            "get",
            &hash,
            "--wait",
            "--timeout",
            "2m",
            "-o",
            out.to_str().unwrap(),
        ],
    ));
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&src).unwrap());
    let sb = stats(&b);
    assert_eq!(
        sb["duplicates"], 0,
        "no shard stored before the kill came again: {sb}"
    );
}

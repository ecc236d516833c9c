//! LTP (RFC 5326) between two real `dtnd` processes through a UDP relay with a one-way delay
//! of 400 ms (scaled light time) and 5% loss each way: every bundle arrives, and the sender
//! counts each as sent only once the receiver reported its whole red part.

// Test code: a panic is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{free_port, free_udp_port, Node};

/// Datagrams held by the relay: (when due, order) -> (to, bytes).
type Held = BTreeMap<(Instant, u64), (SocketAddr, Vec<u8>)>;

/// A relay on one socket between A and B: each datagram is held for `delay`, and lost with
/// probability `loss` (a seeded stream).
struct Relay {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    lost: Arc<AtomicU64>,
}

impl Relay {
    fn start(a: SocketAddr, b: SocketAddr, delay: Duration, loss: f64) -> Relay {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let addr = sock.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let lost = Arc::new(AtomicU64::new(0));
        let queue: Arc<Mutex<Held>> = Arc::default();
        let (s2, q2) = (sock.try_clone().unwrap(), queue.clone());
        let stop2 = stop.clone();
        std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                let due: Vec<(SocketAddr, Vec<u8>)> = {
                    let mut q = q2.lock().unwrap();
                    let now = Instant::now();
                    let keys: Vec<_> = q.range(..(now, u64::MAX)).map(|(k, _)| *k).collect();
                    keys.into_iter().filter_map(|k| q.remove(&k)).collect()
                };
                for (to, bytes) in due {
                    let _ = s2.send_to(&bytes, to);
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        let (stop3, lost2) = (stop.clone(), lost.clone());
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65_536];
            let (mut x, mut seq) = (0x2545_f491_4f6c_dd1d_u64, 0u64);
            while !stop3.load(Ordering::Relaxed) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if ((x % 10_000) as f64) < loss * 10_000.0 {
                    lost2.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let to = if from == a { b } else { a };
                seq += 1;
                queue
                    .lock()
                    .unwrap()
                    .insert((Instant::now() + delay, seq), (to, buf[..n].to_vec()));
            }
        });
        Relay { addr, stop, lost }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[test]
fn rfc5326_bundles_cross_a_delayed_lossy_link_over_ltp() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (la, lb) = (free_udp_port(), free_udp_port());
    let addr = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
    let relay = Relay::start(addr(la), addr(lb), Duration::from_millis(400), 0.05);
    let flags = |listen: u16, peer: &str| {
        vec![
            "--ltp-listen".to_string(),
            format!("127.0.0.1:{listen}"),
            "--ltp-peer".into(),
            format!("{peer}@{}", relay.addr),
            "--ltp-owlt".into(),
            "400ms".into(),
        ]
    };
    let b = Node::start_with(d, "ipn:2.0", free_port(), &[], &[], &flags(lb, "ipn:1.0=1"));
    let a = Node::start_with(d, "ipn:1.0", free_port(), &[], &[], &flags(la, "ipn:2.0=2"));
    assert_eq!(b.post("/register?endpoint=ipn:2.1", b"").0, 204);
    let peers: serde_json::Value = serde_json::from_slice(&a.get("/peers").unwrap().1).unwrap();
    assert_eq!(peers[0]["convergence_layer"], "ltp");
    assert_eq!(peers[0]["engine"], 2);
    let payloads: Vec<Vec<u8>> = (0..12u8)
        .map(|i| vec![i; 20_000 + usize::from(i) * 1000])
        .collect();
    for p in &payloads {
        let (status, body) = a.post("/send?destination=ipn:2.1", p);
        assert!(status < 300, "{status} {body}");
    }
    let mut got = Vec::new();
    for _ in &payloads {
        got.push(b.recv_within("ipn:2.1", Duration::from_secs(120)));
    }
    got.sort();
    let mut want = payloads.clone();
    want.sort();
    assert_eq!(got, want);
    assert!(
        relay.lost.load(Ordering::Relaxed) > 0,
        "the relay lost nothing"
    );
    // Every bundle left A's store: each was reported received in full.
    let deadline = Instant::now() + Duration::from_secs(60);
    while a.status()["stored_bundles"] != 0 {
        assert!(
            Instant::now() < deadline,
            "A still holds bundles: {}",
            a.status()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

//! The userspace link emulator for datagram convergence layers (LTP, QUIC, UDP): a relay on
//! one UDP socket between two nodes' endpoints that applies a link's model to each datagram:
//! loss (the link's loss and bit-error rate for the datagram's size), pacing to the link's
//! rate with a bounded queue, a one-way delay, and up/down. Node `a` sends to the relay as
//! if it were `b`; whatever arrives from `b`'s address goes to `a`, everything else to `b`.
//!
//! Unlike the TCP relay ([`super::proxy`]), a loss here drops just the datagram: the
//! protocol above (LTP's reports, QUIC's acknowledgements) must recover it, which is what
//! these layers are tested for. The counters say what crossed and what was lost.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::link::LinkModel;
use crate::rng::Rng;

/// Datagrams in flight: (when due, order) -> (to, bytes).
type InFlight = BTreeMap<(Instant, u64), (SocketAddr, Vec<u8>)>;

/// Most time a datagram may wait behind others for the link's rate before it is dropped
/// (the relay's queue, like a router's).
const MAX_QUEUEING: Duration = Duration::from_millis(500);

/// What crossed the relay; index 0 is a to b, 1 is b to a.
#[derive(Debug, Default)]
pub struct DatagramStats {
    /// Datagrams delivered.
    pub passed: [AtomicU64; 2],
    /// Bytes delivered.
    pub bytes: [AtomicU64; 2],
    /// Datagrams lost to the link's loss or bit errors.
    pub lost: [AtomicU64; 2],
    /// Bytes of the datagrams lost.
    pub lost_bytes: [AtomicU64; 2],
    /// Datagrams dropped because the link was down or its queue full.
    pub dropped: [AtomicU64; 2],
    /// Bytes of the datagrams dropped.
    pub dropped_bytes: [AtomicU64; 2],
}

impl DatagramStats {
    fn add(counter: &[AtomicU64; 2], dir: usize, n: u64) {
        if let Some(c) = counter.get(dir) {
            c.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// A counter's value in one direction.
    pub fn get(counter: &[AtomicU64; 2], dir: usize) -> u64 {
        counter.get(dir).map_or(0, |c| c.load(Ordering::Relaxed))
    }
}

/// One emulated datagram link.
#[derive(Debug)]
pub struct DatagramRelay {
    /// Where both nodes send.
    pub addr: SocketAddr,
    up: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    /// What crossed.
    pub stats: Arc<DatagramStats>,
}

impl DatagramRelay {
    /// A relay on loopback between `a` and `b` with `model` (rate, delay, loss, bit errors;
    /// outages are the caller's, through [`Self::set_up`]); losses drawn from `rng`.
    pub fn start(
        a: SocketAddr,
        b: SocketAddr,
        model: LinkModel,
        up: bool,
        rng: Rng,
    ) -> std::io::Result<Self> {
        Self::start_on(Ipv4Addr::LOCALHOST.into(), a, b, model, up, rng)
    }

    /// [`Self::start`], bound to `bind` (an address both nodes reach).
    pub fn start_on(
        bind: IpAddr,
        a: SocketAddr,
        b: SocketAddr,
        model: LinkModel,
        up: bool,
        rng: Rng,
    ) -> std::io::Result<Self> {
        let sock = UdpSocket::bind(SocketAddr::new(bind, 0))?;
        sock.set_read_timeout(Some(Duration::from_millis(20)))?;
        let addr = sock.local_addr()?;
        let relay = DatagramRelay {
            addr,
            up: Arc::new(AtomicBool::new(up)),
            stop: Arc::new(AtomicBool::new(false)),
            stats: Arc::default(),
        };
        let queue: Arc<Mutex<InFlight>> = Arc::default();
        let sender = sock.try_clone()?;
        let (q, stop) = (queue.clone(), relay.stop.clone());
        thread::spawn(move || deliver(&sender, &q, &stop));
        let (up, stop, stats) = (relay.up.clone(), relay.stop.clone(), relay.stats.clone());
        thread::spawn(move || {
            let mut rng = rng;
            let mut buf = vec![0u8; 65_536];
            let mut seq = 0u64;
            // Per direction: when the link is next free to start a datagram.
            let mut free = [Instant::now(); 2];
            while !stop.load(Ordering::Relaxed) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let (dir, to) = if from == b { (1, a) } else { (0, b) };
                if !up.load(Ordering::Relaxed) {
                    DatagramStats::add(&stats.dropped, dir, 1);
                    DatagramStats::add(&stats.dropped_bytes, dir, n as u64);
                    continue;
                }
                if model.lost(&mut rng, n as u64) {
                    DatagramStats::add(&stats.lost, dir, 1);
                    DatagramStats::add(&stats.lost_bytes, dir, n as u64);
                    continue;
                }
                let now = Instant::now();
                let start = free.get(dir).copied().unwrap_or(now).max(now);
                if start > now + MAX_QUEUEING {
                    DatagramStats::add(&stats.dropped, dir, 1);
                    DatagramStats::add(&stats.dropped_bytes, dir, n as u64);
                    continue;
                }
                let send_time = if model.rate == 0 {
                    Duration::ZERO
                } else {
                    Duration::from_secs_f64(n as f64 / model.rate as f64)
                };
                if let Some(f) = free.get_mut(dir) {
                    *f = start + send_time;
                }
                seq += 1;
                let due = start + send_time + Duration::from_millis(model.delay_ms);
                let bytes = buf.get(..n).map(<[u8]>::to_vec).unwrap_or_default();
                if let Ok(mut q) = queue.lock() {
                    q.insert((due, seq), (to, bytes));
                }
                DatagramStats::add(&stats.passed, dir, 1);
                DatagramStats::add(&stats.bytes, dir, n as u64);
            }
        });
        Ok(relay)
    }

    /// Brings the link up or down; datagrams sent while it is down are dropped (those
    /// already in flight still arrive, as light already on its way does).
    pub fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::Relaxed);
    }

    /// Stops relaying.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Drop for DatagramRelay {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Sends each datagram when it is due.
fn deliver(sock: &UdpSocket, queue: &Mutex<InFlight>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let (due, next) = match queue.lock() {
            Ok(mut q) => {
                let now = Instant::now();
                let keys: Vec<_> = q.range(..(now, u64::MAX)).map(|(k, _)| *k).collect();
                let due: Vec<_> = keys.into_iter().filter_map(|k| q.remove(&k)).collect();
                (due, q.keys().next().map(|(t, _)| *t))
            }
            Err(_) => return,
        };
        for (to, bytes) in due {
            let _ = sock.send_to(&bytes, to);
        }
        let wait = next
            .map_or(Duration::from_millis(2), |t| {
                t.saturating_duration_since(Instant::now())
            })
            .min(Duration::from_millis(2));
        thread::sleep(wait.max(Duration::from_micros(100)));
    }
}

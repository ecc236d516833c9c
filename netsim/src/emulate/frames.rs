//! The userspace link emulator for the Ethernet convergence layer: a switch between
//! interfaces (each the far end of a veth pair whose near end a node uses) that carries
//! frames from port to port (ours, and ARP, IP and so mDNS, for discovery on the emulated
//! LAN), each emulated link applying its loss, its
//! up/down state, its rate (a frame waits for the link to be free, at most half a second,
//! beyond which it is dropped like a full router queue's) and its one-way delay. The kernel
//! has no `netem` here, and AF_XDP's copy-mode sends skip the qdiscs anyway, so a pod LAN is
//! emulated where every path's frames pass: on the wire between the nodes.
//!
//! Like a real switch it learns which port each MAC is behind from the frames' sources, and
//! sends a frame for an unknown MAC to every port linked to the one it came in on. A dropped
//! frame is just gone: the layer's acknowledgements must bring it back, which is what the
//! end-to-end tests check. Drops are drawn from a seeded stream per port, so a run's pattern
//! of loss follows from its seed and the order of the frames.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use transports::ether::packet::ANY_ETHERTYPE;

use crate::rng::Rng;

/// What crossed one link; index 0 is from its first port to its second, 1 the other way.
#[derive(Debug, Default)]
pub struct FrameStats {
    /// Frames delivered.
    pub passed: [AtomicU64; 2],
    /// Bytes of the frames delivered.
    pub bytes: [AtomicU64; 2],
    /// Frames dropped as lost.
    pub lost: [AtomicU64; 2],
    /// Frames dropped because the link was down or its queue full.
    pub dropped: [AtomicU64; 2],
}

/// Most time a frame may wait for its link's rate before it is dropped.
const MAX_QUEUEING: Duration = Duration::from_millis(500);

/// Frames on their way: (when due, order) -> (to port, frame).
type InFlight = BTreeMap<(Instant, u64), (usize, Vec<u8>)>;

impl FrameStats {
    /// A counter's value in one direction.
    pub fn get(counter: &[AtomicU64; 2], dir: usize) -> u64 {
        counter.get(dir).map_or(0, |c| c.load(Ordering::Relaxed))
    }

    fn add(counter: &[AtomicU64; 2], dir: usize) {
        if let Some(c) = counter.get(dir) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// One emulated link between two ports of the switch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SwitchLink {
    /// Its first port.
    pub a: usize,
    /// Its second port.
    pub b: usize,
    /// The chance each frame is lost.
    pub loss: f64,
    /// Up at the start.
    pub up: bool,
    /// Bytes per second (0: no limit).
    pub rate: u64,
    /// One-way delay.
    pub delay: Duration,
}

struct Shared {
    ports: Vec<socket2::Socket>,
    links: Vec<SwitchLink>,
    up: Vec<AtomicBool>,
    /// (from port, to port) -> (link, direction).
    between: BTreeMap<(usize, usize), (usize, usize)>,
    macs: Mutex<BTreeMap<[u8; 6], usize>>,
    stats: Vec<FrameStats>,
    /// When each link direction is next free to send.
    free: Mutex<Vec<[Instant; 2]>>,
    flight: Mutex<(InFlight, u64)>,
    due: Condvar,
}

/// A frame switch over interfaces; stops when dropped.
pub struct FrameSwitch {
    stop: Arc<AtomicBool>,
    threads: Vec<thread::JoinHandle<()>>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for FrameSwitch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameSwitch")
            .field("links", &self.shared.links)
            .finish_non_exhaustive()
    }
}

impl FrameSwitch {
    /// Switches frames between the interfaces `ports` over `links` (draws seeded by
    /// `seed`). Needs `CAP_NET_RAW`.
    pub fn start(ports: &[String], links: &[SwitchLink], seed: u64) -> std::io::Result<Self> {
        let mut sockets = Vec::with_capacity(ports.len());
        for p in ports {
            let (s, _) = transports::ether::packet::open_blocking(p, ANY_ETHERTYPE)?;
            s.set_read_timeout(Some(Duration::from_millis(50)))?;
            sockets.push(s);
        }
        let mut between = BTreeMap::new();
        for (l, k) in links.iter().enumerate() {
            between.insert((k.a, k.b), (l, 0));
            between.insert((k.b, k.a), (l, 1));
        }
        let shared = Arc::new(Shared {
            ports: sockets,
            links: links.to_vec(),
            up: links.iter().map(|k| AtomicBool::new(k.up)).collect(),
            between,
            macs: Mutex::new(BTreeMap::new()),
            stats: links.iter().map(|_| FrameStats::default()).collect(),
            free: Mutex::new(vec![[Instant::now(); 2]; links.len()]),
            flight: Mutex::new((BTreeMap::new(), 0)),
            due: Condvar::new(),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads: Vec<thread::JoinHandle<()>> = (0..ports.len())
            .map(|p| {
                let (shared, stop) = (shared.clone(), stop.clone());
                let rng = Rng::stream(seed, &format!("switch port {p}"));
                thread::spawn(move || port(&shared, p, &stop, rng))
            })
            .collect();
        let (s, st) = (shared.clone(), stop.clone());
        threads.push(thread::spawn(move || deliver(&s, &st)));
        Ok(Self {
            stop,
            threads,
            shared,
        })
    }

    /// Takes link `l` up or down.
    pub fn set_up(&self, l: usize, up: bool) {
        if let Some(u) = self.shared.up.get(l) {
            u.store(up, Ordering::Relaxed);
        }
    }

    /// What crossed link `l`.
    pub fn stats(&self, l: usize) -> Option<&FrameStats> {
        self.shared.stats.get(l)
    }
}

/// Carries the frames arriving on port `p` until stopped.
fn port(shared: &Shared, p: usize, stop: &AtomicBool, mut rng: Rng) {
    let Some(socket) = shared.ports.get(p) else {
        return;
    };
    let mut buf = vec![0u8; 65_536];
    while !stop.load(Ordering::Relaxed) {
        let n = match std::io::Read::read(&mut &*socket, &mut buf) {
            Ok(n) => n,
            Err(_) => continue,
        };
        let frame = buf.get(..n).unwrap_or_default();
        let (Some(dst), Some(src)) = (frame.get(..6), frame.get(6..12)) else {
            continue;
        };
        let (mut d, mut s) = ([0u8; 6], [0u8; 6]);
        d.copy_from_slice(dst);
        s.copy_from_slice(src);
        let known = {
            let mut macs = shared.macs.lock().unwrap_or_else(|e| e.into_inner());
            macs.insert(s, p);
            macs.get(&d).copied()
        };
        let targets: Vec<usize> = match known {
            Some(q) if q != p => vec![q],
            Some(_) => Vec::new(),
            None => shared
                .between
                .keys()
                .filter(|(from, _)| *from == p)
                .map(|(_, to)| *to)
                .collect(),
        };
        for q in targets {
            let Some(&(l, dir)) = shared.between.get(&(p, q)) else {
                continue;
            };
            let (Some(link), Some(up), Some(stats)) =
                (shared.links.get(l), shared.up.get(l), shared.stats.get(l))
            else {
                continue;
            };
            if !up.load(Ordering::Relaxed) {
                FrameStats::add(&stats.dropped, dir);
            } else if rng.chance(link.loss) {
                FrameStats::add(&stats.lost, dir);
            } else {
                // Wait for the link to be free at its rate, then cross its delay.
                let now = Instant::now();
                let leaves = {
                    let mut free = shared.free.lock().unwrap_or_else(|e| e.into_inner());
                    let Some(f) = free.get_mut(l).and_then(|f| f.get_mut(dir)) else {
                        continue;
                    };
                    let start = (*f).max(now);
                    if start > now + MAX_QUEUEING {
                        FrameStats::add(&stats.dropped, dir);
                        continue;
                    }
                    let send = match link.rate {
                        0 => Duration::ZERO,
                        r => Duration::from_secs_f64(frame.len() as f64 / r as f64),
                    };
                    *f = start + send;
                    start + send
                };
                let mut flight = shared.flight.lock().unwrap_or_else(|e| e.into_inner());
                flight.1 += 1;
                let order = flight.1;
                flight
                    .0
                    .insert((leaves + link.delay, order), (q, frame.to_vec()));
                shared.due.notify_one();
                FrameStats::add(&stats.passed, dir);
                if let Some(b) = stats.bytes.get(dir) {
                    b.fetch_add(frame.len() as u64, Ordering::Relaxed);
                }
            }
        }
    }
}

/// Sends each frame in flight when it is due, until stopped.
fn deliver(shared: &Shared, stop: &AtomicBool) {
    let mut flight = shared.flight.lock().unwrap_or_else(|e| e.into_inner());
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        let next = flight.0.keys().next().copied();
        match next {
            Some(key) if key.0 <= now => {
                if let Some((q, frame)) = flight.0.remove(&key) {
                    if let Some(out) = shared.ports.get(q) {
                        let _ = out.send(&frame);
                    }
                }
            }
            Some((at, _)) => {
                let wait = at
                    .saturating_duration_since(now)
                    .min(Duration::from_millis(50));
                flight = shared
                    .due
                    .wait_timeout(flight, wait)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|e| e.into_inner().0);
            }
            None => {
                flight = shared
                    .due
                    .wait_timeout(flight, Duration::from_millis(50))
                    .map(|(g, _)| g)
                    .unwrap_or_else(|e| e.into_inner().0);
            }
        }
    }
}

impl Drop for FrameSwitch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

//! The userspace link emulator for the Ethernet convergence layer: a relay between two
//! interfaces (each the far end of a veth pair whose near end a node uses) that carries the
//! frames of our EtherType across, dropping each with the link's loss. The kernel has no
//! `netem` here, and AF_XDP's copy-mode sends skip the qdiscs anyway, so loss on a pod LAN is
//! emulated where every path's frames pass: on the wire between the nodes.
//!
//! A dropped frame is just gone: the layer's acknowledgements must bring it back, which is
//! what the end-to-end tests check. Drops are drawn from a seeded stream per direction, so a
//! run's pattern of loss follows from its seed and the order of the frames.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::rng::Rng;

/// What crossed; index 0 is a to b, 1 is b to a.
#[derive(Debug, Default)]
pub struct FrameStats {
    /// Frames delivered.
    pub passed: [AtomicU64; 2],
    /// Frames dropped as lost.
    pub lost: [AtomicU64; 2],
}

impl FrameStats {
    /// A counter's value in one direction.
    pub fn get(counter: &[AtomicU64; 2], dir: usize) -> u64 {
        counter.get(dir).map_or(0, |c| c.load(Ordering::Relaxed))
    }
}

/// One emulated Ethernet link between two interfaces; stops when dropped.
#[derive(Debug)]
pub struct FrameRelay {
    stop: Arc<AtomicBool>,
    threads: Vec<thread::JoinHandle<()>>,
    /// What crossed.
    pub stats: Arc<FrameStats>,
}

impl FrameRelay {
    /// Relays our frames between interfaces `a` and `b`, losing each with probability `loss`
    /// (draws seeded by `seed`). Needs `CAP_NET_RAW`.
    pub fn start(a: &str, b: &str, loss: f64, seed: u64) -> std::io::Result<Self> {
        let (sa, _) = transports::ether::packet::open_blocking(a)?;
        let (sb, _) = transports::ether::packet::open_blocking(b)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(FrameStats::default());
        let mut threads = Vec::new();
        for (dir, from, to) in [(0usize, sa.try_clone()?, sb.try_clone()?), (1, sb, sa)] {
            from.set_read_timeout(Some(Duration::from_millis(50)))?;
            let stop = stop.clone();
            let stats = stats.clone();
            let mut rng = Rng::stream(seed, if dir == 0 { "frames a-b" } else { "frames b-a" });
            threads.push(thread::spawn(move || {
                let mut buf = vec![0u8; 65_536];
                while !stop.load(Ordering::Relaxed) {
                    let n = match std::io::Read::read(&mut &from, &mut buf) {
                        Ok(n) => n,
                        Err(_) => continue,
                    };
                    let counter = if rng.chance(loss) {
                        &stats.lost
                    } else {
                        let _ = to.send(buf.get(..n).unwrap_or_default());
                        &stats.passed
                    };
                    if let Some(c) = counter.get(dir) {
                        c.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        Ok(Self {
            stop,
            threads,
            stats,
        })
    }
}

impl Drop for FrameRelay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

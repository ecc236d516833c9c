//! The userspace link emulator (the kernel here has no netem): a TCP relay between two
//! nodes' convergence-layer endpoints that applies a link's model to the real bytes. Node
//! `a` dials the relay as if it were `b`; the relay dials `b` and pumps both ways. Each
//! direction paces bytes to the link's rate and holds them for the link's delay (a delay
//! line: a reader stamps each chunk with when it may leave, a writer waits for that time).
//! While the link is down the relay refuses connections and cuts the ones it has.
//!
//! Loss: over TCP a lost segment would only be retransmitted by TCP itself, so a loss drawn
//! for a chunk (with the link's per-bundle loss and bit-error rate for the chunk's size)
//! cuts the connection instead: the transfers on it fail and the sender sends them again on
//! a new session, as a failed transmission does in the simulator.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::link::LinkModel;
use crate::rng::Rng;

/// Chunks read at once.
const CHUNK: usize = 64 * 1024;

/// One emulated link: a listening relay and the sockets it holds.
#[derive(Debug)]
pub struct LinkRelay {
    /// Where node `a` connects.
    pub addr: SocketAddr,
    up: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
    stop: Arc<AtomicBool>,
    /// Bytes relayed a to b and b to a.
    pub bytes: Arc<[AtomicU64; 2]>,
    tap: Arc<Tap>,
}

/// A copy of the bytes relayed, for tests that check what crossed a link.
#[derive(Debug, Default)]
struct Tap {
    /// Most bytes kept per direction (0: none).
    limit: AtomicUsize,
    kept: [Mutex<Vec<u8>>; 2],
}

impl Tap {
    fn keep(&self, dir: usize, chunk: &[u8]) {
        let limit = self.limit.load(Ordering::Relaxed);
        if limit == 0 {
            return;
        }
        if let Some(Ok(mut kept)) = self.kept.get(dir).map(Mutex::lock) {
            let room = limit.saturating_sub(kept.len());
            kept.extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
        }
    }
}

impl LinkRelay {
    /// A relay on loopback to `target` (node b's TCPCL listener) with `model`, up from the
    /// start when `up` says so; losses drawn from `rng`.
    pub fn start(
        target: SocketAddr,
        model: LinkModel,
        up: bool,
        rng: Rng,
    ) -> std::io::Result<Self> {
        Self::start_on(Ipv4Addr::LOCALHOST.into(), target, model, up, rng)
    }

    /// [`Self::start`], listening on `bind` (an address node a reaches).
    pub fn start_on(
        bind: IpAddr,
        target: SocketAddr,
        model: LinkModel,
        up: bool,
        rng: Rng,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(SocketAddr::new(bind, 0))?;
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let relay = LinkRelay {
            addr,
            up: Arc::new(AtomicBool::new(up)),
            open: Arc::new(Mutex::new(Vec::new())),
            stop: Arc::new(AtomicBool::new(false)),
            bytes: Arc::new([AtomicU64::new(0), AtomicU64::new(0)]),
            tap: Arc::default(),
        };
        let (up, open, stop, bytes, tap) = (
            relay.up.clone(),
            relay.open.clone(),
            relay.stop.clone(),
            relay.bytes.clone(),
            relay.tap.clone(),
        );
        let rng = Arc::new(Mutex::new(rng));
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((from, _)) => {
                        if !up.load(Ordering::Relaxed) {
                            let _ = from.shutdown(Shutdown::Both);
                            continue;
                        }
                        let Ok(to) = TcpStream::connect(target) else {
                            let _ = from.shutdown(Shutdown::Both);
                            continue;
                        };
                        let _ = from.set_nonblocking(false);
                        let _ = from.set_nodelay(true);
                        let _ = to.set_nodelay(true);
                        if let (Ok(f2), Ok(t2)) = (from.try_clone(), to.try_clone()) {
                            if let Ok(mut o) = open.lock() {
                                o.push(f2);
                                o.push(t2);
                            }
                        }
                        let link = Pump {
                            model: model.clone(),
                            bytes: bytes.clone(),
                            rng: rng.clone(),
                            tap: tap.clone(),
                        };
                        pump(&from, &to, &link, 0);
                        pump(&to, &from, &link, 1);
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Ok(relay)
    }

    /// Brings the link up, or down (cutting every connection through it).
    pub fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::Relaxed);
        if !up {
            if let Ok(mut o) = self.open.lock() {
                for s in o.drain(..) {
                    let _ = s.shutdown(Shutdown::Both);
                }
            }
        }
    }

    /// Keeps a copy of up to `limit` bytes relayed in each direction from now on.
    pub fn record(&self, limit: usize) {
        self.tap.limit.store(limit, Ordering::Relaxed);
    }

    /// The bytes kept so far that went from a to b (`dir` 0) or b to a (1).
    pub fn recorded(&self, dir: usize) -> Vec<u8> {
        self.tap
            .kept
            .get(dir)
            .and_then(|k| k.lock().ok().map(|k| k.clone()))
            .unwrap_or_default()
    }

    /// Stops accepting and cuts everything.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        self.set_up(false);
    }
}

/// What both directions of a connection share.
#[derive(Clone)]
struct Pump {
    model: LinkModel,
    bytes: Arc<[AtomicU64; 2]>,
    rng: Arc<Mutex<Rng>>,
    tap: Arc<Tap>,
}

/// Relays `from` to `to` through the link's rate, delay and loss, on two threads.
fn pump(from: &TcpStream, to: &TcpStream, link: &Pump, dir: usize) {
    let (Ok(mut reader), Ok(mut writer)) = (from.try_clone(), to.try_clone()) else {
        return;
    };
    let (Ok(cut_from), Ok(cut_to)) = (from.try_clone(), to.try_clone()) else {
        return;
    };
    let Pump {
        model,
        bytes,
        rng,
        tap,
    } = link.clone();
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    let delay = Duration::from_millis(model.delay_ms);
    let rate = model.rate.max(1) as f64;
    thread::spawn(move || {
        // Pacing: the link is busy until `free`; a chunk leaves once the link has sent it.
        let mut free = Instant::now();
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let now = Instant::now();
            let start = free.max(now);
            free = start + Duration::from_secs_f64(n as f64 / rate);
            if let Some(b) = bytes.get(dir) {
                b.fetch_add(n as u64, Ordering::Relaxed);
            }
            tap.keep(dir, buf.get(..n).unwrap_or_default());
            let lost = rng
                .lock()
                .map(|mut r| model.lost(&mut r, n as u64))
                .unwrap_or(false);
            if lost {
                let _ = cut_from.shutdown(Shutdown::Both);
                let _ = cut_to.shutdown(Shutdown::Both);
                break;
            }
            if tx
                .send((free + delay, buf.get(..n).unwrap_or(&[]).to_vec()))
                .is_err()
            {
                break;
            }
        }
    });
    thread::spawn(move || {
        for (at, chunk) in rx {
            let now = Instant::now();
            if at > now {
                thread::sleep(at - now);
            }
            if writer.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = writer.shutdown(Shutdown::Write);
    });
}

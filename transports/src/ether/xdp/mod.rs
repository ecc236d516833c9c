//! The AF_XDP socket: frames of our EtherType moved between the interface and `dtnd` through
//! rings shared with the kernel, past the kernel's network stack.
//!
//! Setup, in order: a UMEM (one mapping of [`FRAMES`] frames of [`FRAME`] bytes, the first
//! half lent to the kernel for receiving, the second half ours for sending), its fill and
//! completion rings, the socket's rx and tx rings, the bind to one receive queue (zero-copy
//! where the driver supports it, copy mode otherwise), then the XDP program ([`bpf`]) that
//! steers our frames to the socket, attached in the driver (native) or, where the driver has
//! no XDP, generically.
//!
//! Privileges: `CAP_NET_RAW` for the socket and `CAP_BPF` with `CAP_NET_ADMIN` for the program
//! and its attachment (root has all three), and enough locked memory for the UMEM (8 MiB;
//! kernels since 5.11 count it against the memory cgroup instead of `RLIMIT_MEMLOCK`). Any
//! step refused makes [`XdpSocket::open`] fail with the step named; the caller falls back to
//! an `AF_PACKET` socket.
//!
//! Receive and send are batched: one wakeup drains every frame on the rx ring, and one kick
//! (`sendto`) posts every frame of a batch.
//! Frames on other receive queues than the socket's go on to the kernel's stack, where the
//! caller's `AF_PACKET` socket can take them (see [`super::socket`]).

pub mod bpf;
mod ring;

use std::io;
use std::mem::size_of;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::sync::Mutex;

use tokio::io::unix::AsyncFd;

use super::packet::Interface;
pub use bpf::AttachMode;
use ring::{Mmap, Ring};

/// Frames in the UMEM.
pub const FRAMES: u32 = 4096;

/// Bytes per UMEM frame: the largest frame this path carries.
pub const FRAME: u32 = 2048;

/// Slots per ring.
const RING: u32 = 2048;

/// How the socket was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XdpPath {
    /// Frames move without copies (the driver's zero-copy mode).
    pub zero_copy: bool,
    /// Where the program runs.
    pub attach: AttachMode,
    /// The receive queue bound.
    pub queue: u32,
    /// Receive queues the interface has.
    pub queues: u32,
}

impl std::fmt::Display for XdpPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "AF_XDP {} mode, {} XDP, queue {} of {}",
            if self.zero_copy { "zero-copy" } else { "copy" },
            self.attach.name(),
            self.queue,
            self.queues
        )
    }
}

/// What may be asked of the attachment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum XdpMode {
    /// Native where the driver has XDP, generic otherwise.
    #[default]
    Auto,
    /// Native only.
    Native,
    /// Generic only.
    Generic,
}

struct Rx {
    fill: Ring<u64>,
    rx: Ring<libc::xdp_desc>,
}

struct Tx {
    tx: Ring<libc::xdp_desc>,
    completion: Ring<u64>,
    free: Vec<u64>,
}

/// An AF_XDP socket on one receive queue, with its UMEM and program.
pub struct XdpSocket {
    fd: AsyncFd<OwnedFd>,
    umem: Mmap,
    rx: Mutex<Rx>,
    tx: Mutex<Tx>,
    /// How it was opened.
    pub path: XdpPath,
    /// The interface.
    pub interface: Interface,
    // Dropped last: closing the link detaches the program.
    _link: OwnedFd,
    _prog: OwnedFd,
    _map: OwnedFd,
}

impl std::fmt::Debug for XdpSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XdpSocket")
            .field("path", &self.path)
            .field("interface", &self.interface)
            .finish_non_exhaustive()
    }
}

fn step(what: &'static str) -> impl Fn(io::Error) -> io::Error {
    move |e| io::Error::new(e.kind(), format!("{what}: {e}"))
}

#[allow(unsafe_code)]
fn setsockopt<T>(fd: &OwnedFd, name: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: `value` is a live `T` and we pass its size; the kernel only reads it.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_XDP,
            name,
            std::ptr::from_ref(value).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

#[allow(unsafe_code)]
fn mmap_offsets(fd: &OwnedFd) -> io::Result<libc::xdp_mmap_offsets> {
    // SAFETY: all-zero bytes are a valid `xdp_mmap_offsets` (integers only).
    let mut off: libc::xdp_mmap_offsets = unsafe { std::mem::zeroed() };
    let mut len = size_of::<libc::xdp_mmap_offsets>() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into `off`, which is that big.
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_XDP,
            libc::XDP_MMAP_OFFSETS,
            std::ptr::from_mut(&mut off).cast(),
            &mut len,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    if len as usize != size_of::<libc::xdp_mmap_offsets>() {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "kernel too old: ring offsets without flags (before 5.4)",
        ));
    }
    Ok(off)
}

#[allow(unsafe_code)]
fn socket() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall; the result is checked.
    let raw = unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

#[allow(unsafe_code)]
fn bind(fd: &OwnedFd, ifindex: u32, queue: u32, flags: u16) -> io::Result<()> {
    let addr = libc::sockaddr_xdp {
        sxdp_family: libc::AF_XDP as u16,
        sxdp_flags: flags,
        sxdp_ifindex: ifindex,
        sxdp_queue_id: queue,
        sxdp_shared_umem_fd: 0,
    };
    // SAFETY: `addr` is a live `sockaddr_xdp` and we pass its size.
    let r = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            std::ptr::from_ref(&addr).cast(),
            size_of::<libc::sockaddr_xdp>() as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Binds in copy mode. A socket on the queue that was just closed (a restarted `dtnd`) is
/// released by the kernel a moment later: until then the bind says `EBUSY`, so it is tried
/// again for up to half a second.
fn bind_copy(fd: &OwnedFd, ifindex: u32, queue: u32) -> io::Result<()> {
    let mut tries = 0;
    loop {
        match bind(fd, ifindex, queue, libc::XDP_COPY) {
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && tries < 20 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(25));
            }
            r => return r,
        }
    }
}

/// Asks the kernel to send what is on the tx ring (copy mode needs it; zero-copy drivers
/// are woken by it).
#[allow(unsafe_code)]
fn kick(fd: &OwnedFd) -> io::Result<()> {
    // SAFETY: a zero-length send with no buffer and no address.
    let r = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            std::ptr::null(),
            0,
            libc::MSG_DONTWAIT,
            std::ptr::null(),
            0,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

#[allow(unsafe_code)]
fn register(fd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    // An AF_XDP socket is pollable: readable while its rx ring holds frames, writable while
    // its tx ring has room.
    // SAFETY: the `OwnedFd` owns its descriptor, which stays open until it (here, inside the
    // `AsyncFd`) is dropped.
    Ok(unsafe { AsyncFd::register(fd) }?)
}

/// Receive queues of the interface, from `/sys/class/net/IF/queues`.
fn queues(name: &str) -> u32 {
    std::fs::read_dir(format!("/sys/class/net/{name}/queues"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("rx-"))
                .count() as u32
        })
        .unwrap_or(1)
        .max(1)
}

impl XdpSocket {
    /// Opens an AF_XDP socket on queue 0 of `interface` and attaches the program; fails with
    /// the refused step named. Needs a tokio runtime.
    pub fn open(interface: &Interface, mode: XdpMode) -> io::Result<Self> {
        if interface.mtu + super::frame::ETH_HEADER > FRAME as usize {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "MTU {} is larger than an AF_XDP frame of {FRAME} bytes",
                    interface.mtu
                ),
            ));
        }
        let fd = socket().map_err(step("AF_XDP socket"))?;
        let umem = Mmap::anonymous((FRAMES * FRAME) as usize).map_err(step("UMEM memory"))?;
        let reg = libc::xdp_umem_reg {
            addr: umem.addr(),
            len: umem.len() as u64,
            chunk_size: FRAME,
            headroom: 0,
            flags: 0,
            tx_metadata_len: 0,
        };
        setsockopt(&fd, libc::XDP_UMEM_REG, &reg).map_err(step("UMEM registration"))?;
        for opt in [
            libc::XDP_UMEM_FILL_RING,
            libc::XDP_UMEM_COMPLETION_RING,
            libc::XDP_RX_RING,
            libc::XDP_TX_RING,
        ] {
            setsockopt(&fd, opt, &RING).map_err(step("ring sizes"))?;
        }
        let off = mmap_offsets(&fd).map_err(step("ring offsets"))?;
        let b = fd.as_fd();
        let mut fill = Ring::<u64>::map(b, libc::XDP_UMEM_PGOFF_FILL_RING, &off.fr, RING)
            .map_err(step("fill ring"))?;
        let completion = Ring::<u64>::map(b, libc::XDP_UMEM_PGOFF_COMPLETION_RING, &off.cr, RING)
            .map_err(step("completion ring"))?;
        let rx = Ring::<libc::xdp_desc>::map(b, libc::XDP_PGOFF_RX_RING as u64, &off.rx, RING)
            .map_err(step("rx ring"))?;
        let tx = Ring::<libc::xdp_desc>::map(b, libc::XDP_PGOFF_TX_RING as u64, &off.tx, RING)
            .map_err(step("tx ring"))?;
        // The first half of the frames receive; the second half send.
        let half = FRAMES / 2;
        let lend = fill.free().min(half);
        for i in 0..lend {
            fill.push(u64::from(i * FRAME));
        }
        fill.publish();
        let free = (half..FRAMES).map(|i| u64::from(i * FRAME)).collect();
        let queue = 0;
        let zero_copy = match bind(&fd, interface.index, queue, libc::XDP_ZEROCOPY) {
            Ok(()) => true,
            Err(_) => {
                bind_copy(&fd, interface.index, queue).map_err(step("bind"))?;
                false
            }
        };
        let queues = queues(&interface.name);
        let map = bpf::xsk_map(queues).map_err(step("XSKMAP"))?;
        bpf::map_socket(&map, queue, fd.as_raw_fd()).map_err(step("XSKMAP entry"))?;
        let prog = bpf::load(&map).map_err(step("XDP program"))?;
        let (link, attach) = match mode {
            XdpMode::Native => (
                bpf::attach(&prog, interface.index, AttachMode::Native)
                    .map_err(step("native XDP attach"))?,
                AttachMode::Native,
            ),
            XdpMode::Generic => (
                bpf::attach(&prog, interface.index, AttachMode::Generic)
                    .map_err(step("generic XDP attach"))?,
                AttachMode::Generic,
            ),
            XdpMode::Auto => match bpf::attach(&prog, interface.index, AttachMode::Native) {
                Ok(l) => (l, AttachMode::Native),
                Err(_) => (
                    bpf::attach(&prog, interface.index, AttachMode::Generic)
                        .map_err(step("XDP attach"))?,
                    AttachMode::Generic,
                ),
            },
        };
        Ok(Self {
            fd: register(fd).map_err(step("reactor"))?,
            umem,
            rx: Mutex::new(Rx { fill, rx }),
            tx: Mutex::new(Tx {
                tx,
                completion,
                free,
            }),
            path: XdpPath {
                zero_copy,
                attach,
                queue,
                queues,
            },
            interface: interface.clone(),
            _link: link,
            _prog: prog,
            _map: map,
        })
    }

    /// Takes every frame waiting (at most `max`), waiting for the first.
    pub async fn recv_batch(&self, out: &mut Vec<Vec<u8>>, max: usize) -> io::Result<()> {
        loop {
            let mut ready = self.fd.readable().await?;
            if self.drain(out, max) > 0 {
                return Ok(());
            }
            ready.clear_ready();
        }
    }

    fn drain(&self, out: &mut Vec<Vec<u8>>, max: usize) -> usize {
        let mut guard = self.rx.lock().unwrap_or_else(|p| p.into_inner());
        let r = &mut *guard;
        let n = r.rx.ready().min(max as u32);
        if n == 0 {
            return 0;
        }
        // Every frame taken from the rx ring goes back on the fill ring, which is as big as
        // the frames lent, so there is always room (counted all the same).
        let room = r.fill.free();
        for i in 0..n {
            let d = r.rx.peek(i);
            if let Some(frame) = self.umem.read(d.addr, d.len as usize) {
                out.push(frame);
            }
            // The frame goes back to the kernel at its chunk's start.
            if i < room {
                r.fill.push(d.addr - d.addr % u64::from(FRAME));
            }
        }
        r.rx.release(n);
        r.fill.publish();
        n as usize
    }

    /// Sends every frame of `frames` (each whole, header included); frames larger than a
    /// UMEM frame are refused with `InvalidInput`.
    pub async fn send_batch(&self, frames: &[Vec<u8>]) -> io::Result<()> {
        let mut next = 0;
        while next < frames.len() {
            let posted = self.post(frames.get(next..).unwrap_or_default())?;
            next += posted;
            self.kick().await?;
            if posted == 0 {
                // No free frame or no room on the tx ring: wait until the kernel makes room.
                let mut ready = self.fd.writable().await?;
                ready.clear_ready();
                tokio::task::yield_now().await;
            }
        }
        // Sending continues until the tx ring is empty, so nothing waits for another batch.
        for _ in 0..64 {
            let left = self
                .tx
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .tx
                .outstanding();
            if left == 0 {
                break;
            }
            self.kick().await?;
        }
        Ok(())
    }

    /// Asks the kernel to send what is on the tx ring. It sends a budget per kick, or the
    /// device queue is full: then the caller kicks again after other work had its turn.
    async fn kick(&self) -> io::Result<()> {
        match kick(self.fd.get_ref()) {
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EAGAIN | libc::EBUSY | libc::ENOBUFS)
                ) =>
            {
                tokio::task::yield_now().await;
                Ok(())
            }
            r => r,
        }
    }

    /// Puts as many of `frames` on the tx ring as there is room for; returns how many.
    fn post(&self, frames: &[Vec<u8>]) -> io::Result<usize> {
        let mut t = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        let done = t.completion.ready();
        for i in 0..done {
            let a = t.completion.peek(i);
            t.free.push(a);
        }
        t.completion.release(done);
        let room = t.tx.free() as usize;
        let mut posted = 0;
        for f in frames.iter().take(room) {
            if f.len() > FRAME as usize {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("frame of {} bytes is larger than {FRAME}", f.len()),
                ));
            }
            let Some(addr) = t.free.pop() else {
                break;
            };
            self.umem.write(addr, f);
            t.tx.push(libc::xdp_desc {
                addr,
                len: f.len() as u32,
                options: 0,
            });
            posted += 1;
        }
        t.tx.publish();
        Ok(posted)
    }
}

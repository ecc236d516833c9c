//! The AF_PACKET socket: frames of our EtherType sent and received on one interface through
//! the kernel's packet layer. It is the fallback when AF_XDP cannot be opened (no driver
//! support, no privilege for the bpf syscall), and it needs `CAP_NET_RAW` (root, or the
//! capability on the `dtnd` binary).
//!
//! The interface's index, MAC address and MTU are read from `/sys/class/net`. The socket is
//! bound to the interface and to our EtherType, so the kernel hands it only our frames; each
//! frame is sent whole (its Ethernet header included) and the NIC adds the checksum.

use std::io::{self, Read};
use std::mem::size_of;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::io::unix::AsyncFd;

use super::frame::{Mac, ETHERTYPE};

/// An interface as the kernel names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Its name, e.g. `eth0`.
    pub name: String,
    /// Its index.
    pub index: u32,
    /// Its MAC address.
    pub mac: Mac,
    /// Its MTU: the bytes after the Ethernet header one frame carries.
    pub mtu: usize,
}

fn sys(name: &str, what: &str) -> io::Result<String> {
    let path = format!("/sys/class/net/{name}/{what}");
    std::fs::read_to_string(&path)
        .map(|s| s.trim().to_owned())
        .map_err(|e| io::Error::new(e.kind(), format!("{path}: {e}")))
}

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(text: &str) -> Option<Mac> {
    let mut mac = [0u8; 6];
    let mut parts = text.split(':');
    for byte in &mut mac {
        *byte = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

impl Interface {
    /// Looks `name` up in `/sys/class/net`.
    pub fn named(name: &str) -> io::Result<Self> {
        if name.is_empty() || name.contains('/') || name.starts_with('.') {
            return Err(invalid(format!("{name:?} is not an interface name")));
        }
        let index = sys(name, "ifindex")?
            .parse()
            .map_err(|e| invalid(format!("{name}: ifindex: {e}")))?;
        let address = sys(name, "address")?;
        let mac =
            parse_mac(&address).ok_or_else(|| invalid(format!("{name}: address {address:?}")))?;
        let mtu = sys(name, "mtu")?
            .parse()
            .map_err(|e| invalid(format!("{name}: mtu: {e}")))?;
        Ok(Self {
            name: name.to_owned(),
            index,
            mac,
            mtu,
        })
    }
}

/// A packet socket on one interface, for our EtherType.
#[derive(Debug)]
pub struct PacketSocket {
    fd: AsyncFd<Socket>,
    /// Where frames are read into: allocated once, as big as the largest frame (allocating
    /// it per read costs more than the read).
    buf: std::sync::Mutex<Vec<u8>>,
    /// The interface.
    pub interface: Interface,
}

/// Binds `socket` to the interface `index` and the EtherType `protocol`.
#[allow(unsafe_code)]
fn bind(socket: &Socket, index: u32, protocol: u16) -> io::Result<()> {
    let ifindex = i32::try_from(index).map_err(|_| invalid(format!("ifindex {index}")))?;
    // SAFETY: `try_init` hands us zeroed storage big enough for any socket address
    // (`sockaddr_storage`, which is larger than and aligned for `sockaddr_ll`) and its
    // length; we write only the fields of a `sockaddr_ll` inside it and set the length to
    // that struct's size, as packet(7) describes for bind.
    let ((), addr) = unsafe {
        SockAddr::try_init(|storage, len| {
            let ll = storage.cast::<libc::sockaddr_ll>();
            (*ll).sll_family = libc::AF_PACKET as u16;
            (*ll).sll_protocol = protocol.to_be();
            (*ll).sll_ifindex = ifindex;
            *len = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
            Ok(())
        })
    }?;
    socket.bind(&addr)
}

/// Hands `socket` to the runtime's reactor.
#[allow(unsafe_code)]
fn register(socket: Socket) -> io::Result<AsyncFd<Socket>> {
    // SAFETY: the `Socket` owns its descriptor: it stays open, and `as_raw_fd` returns that
    // same descriptor, until the `Socket` (here, inside the `AsyncFd`) is dropped.
    Ok(unsafe { AsyncFd::register(socket) }?)
}

/// Asks the kernel not to hand the socket the frames it sends itself (a packet socket
/// otherwise sees its own outgoing frames too); kernels before 4.20 ignore the ask, and the
/// link skips frames from its own MAC anyway.
#[allow(unsafe_code)]
fn ignore_outgoing(socket: &Socket) {
    let one: libc::c_int = 1;
    // SAFETY: `one` is a live int and we pass its size; the kernel only reads it.
    let _ = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(socket),
            libc::SOL_PACKET,
            libc::PACKET_IGNORE_OUTGOING,
            std::ptr::from_ref(&one).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
}

/// Every EtherType, for [`open_blocking`] (`ETH_P_ALL`, packet(7)).
pub const ANY_ETHERTYPE: u16 = 0x0003;

/// A blocking packet socket on the interface `name`, bound to the EtherType `ethertype` (ours,
/// [`ETHERTYPE`], or [`ANY_ETHERTYPE`]) and not seeing its own frames (needs
/// `CAP_NET_RAW`); for callers without a runtime, like netsim's frame switch.
pub fn open_blocking(name: &str, ethertype: u16) -> io::Result<(Socket, Interface)> {
    let interface = Interface::named(name)?;
    let protocol = Protocol::from(i32::from(ethertype.to_be()));
    let socket = Socket::new(Domain::PACKET, Type::RAW, Some(protocol))?;
    bind(&socket, interface.index, ethertype)?;
    ignore_outgoing(&socket);
    // Past `net.core.rmem_max` where permitted: a frame that overflows it must be resent.
    crate::sockbuf::request(&socket, 4 << 20);
    Ok((socket, interface))
}

impl PacketSocket {
    /// Opens a packet socket on the interface `name` (needs `CAP_NET_RAW`).
    pub fn open(name: &str) -> io::Result<Self> {
        let (socket, interface) = open_blocking(name, ETHERTYPE)?;
        socket.set_nonblocking(true)?;
        Ok(Self {
            fd: register(socket)?,
            buf: std::sync::Mutex::new(vec![0u8; 65_536]),
            interface,
        })
    }

    /// Sends one whole frame.
    pub async fn send(&self, frame: &[u8]) -> io::Result<()> {
        loop {
            let mut ready = self.fd.writable().await?;
            match ready.try_io(|s| s.get_ref().send(frame)) {
                Ok(sent) => return sent.map(|_| ()),
                Err(_would_block) => continue,
            }
        }
    }

    /// Receives the frames waiting (at most `max`), waiting for the first.
    pub async fn recv_batch(&self, out: &mut Vec<Vec<u8>>, max: usize) -> io::Result<()> {
        let start = out.len();
        loop {
            let mut ready = self.fd.readable().await?;
            let mut buf = self.buf.lock().unwrap_or_else(|p| p.into_inner());
            while out.len() - start < max {
                match ready.try_io(|s| (&mut s.get_ref()).read(&mut buf)) {
                    Ok(Ok(n)) => out.push(buf.get(..n).unwrap_or_default().to_vec()),
                    Ok(Err(e)) => return Err(e),
                    Err(_would_block) => break,
                }
            }
            if out.len() > start {
                return Ok(());
            }
        }
    }

    /// Receives one frame into `buf`; returns its length.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut ready = self.fd.readable().await?;
            match ready.try_io(|s| (&mut s.get_ref()).read(buf)) {
                Ok(n) => return n,
                Err(_would_block) => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_parse_and_bad_names_are_refused() {
        assert_eq!(parse_mac("02:00:0a:ff:00:01"), Some([2, 0, 10, 255, 0, 1]));
        assert_eq!(parse_mac("02:00:0a:ff:00"), None);
        assert_eq!(parse_mac("02:00:0a:ff:00:01:02"), None);
        assert_eq!(parse_mac("zz:00:0a:ff:00:01"), None);
        assert!(Interface::named("../etc").is_err());
        assert!(Interface::named("").is_err());
        let e = Interface::named("no-such-if0").unwrap_err().to_string();
        assert!(e.contains("/sys/class/net/no-such-if0"), "{e}");
        let lo = Interface::named("lo").unwrap();
        assert_eq!(lo.mac, [0; 6]);
        assert!(lo.index > 0);
    }
}

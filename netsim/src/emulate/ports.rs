//! Ports for daemons that must be named before they start (a peer dials them). Asking the
//! kernel for a free one (bind to port 0) and passing it on races every other socket of the
//! machine: an outgoing connection takes its local port from the same ephemeral range (32768
//! and up, `ip_local_port_range`), and can take the chosen port before the daemon binds it.
//! So ports come from below that range instead, each process walking its own stretch from its
//! PID, and a port is handed out only when TCP and UDP can both bind it at that moment.

use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicU32, Ordering};

/// The stretch handed out: below the kernel's default ephemeral range.
const FIRST: u32 = 10_000;
const COUNT: u32 = 22_000;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A port free for TCP and UDP on loopback, not from the ephemeral range, and not handed
/// out before by this process (until the stretch wraps).
pub fn free_port() -> std::io::Result<u16> {
    let start = std::process::id().wrapping_mul(7919);
    for _ in 0..COUNT {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = (FIRST + start.wrapping_add(n) % COUNT) as u16;
        let at = (Ipv4Addr::LOCALHOST, port);
        if TcpListener::bind(at).is_ok() && UdpSocket::bind(at).is_ok() {
            return Ok(port);
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AddrInUse,
        format!("no free port in {FIRST}..{}", FIRST + COUNT),
    ))
}

//! Kernel buffer sizes of datagram sockets.
//!
//! A UDP receiver that falls behind for a few milliseconds (a shared core, a page fault)
//! drops whatever overflows its socket buffer, and every datagram lost there costs the
//! protocol above a retransmission and, for QUIC, a congestion event. The buffer asked for
//! with `SO_RCVBUF` is capped by `net.core.rmem_max` (212,992 bytes on a stock kernel);
//! a process with `CAP_NET_ADMIN` (dtnd run as root, or given the capability) may set it
//! past that cap with `SO_RCVBUFFORCE` (socket(7)). This asks for the forced size first and
//! falls back to the capped one, so the same call suits root and unprivileged daemons.

use socket2::Socket;

/// Asks for `bytes` of receive and send buffer on `socket`: forced past the system cap
/// where the process may (`SO_RCVBUFFORCE`, `SO_SNDBUFFORCE`), else as much as the cap
/// allows. Best effort: returns the receive buffer granted for data, if the kernel says
/// (Linux reports twice that, the other half being its own bookkeeping, socket(7)).
pub fn request(socket: &Socket, bytes: usize) -> Option<usize> {
    #[cfg(target_os = "linux")]
    {
        let forced_rx = force(socket, libc::SO_RCVBUFFORCE, bytes);
        let forced_tx = force(socket, libc::SO_SNDBUFFORCE, bytes);
        if !forced_rx {
            let _ = socket.set_recv_buffer_size(bytes);
        }
        if !forced_tx {
            let _ = socket.set_send_buffer_size(bytes);
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = socket.set_recv_buffer_size(bytes);
        let _ = socket.set_send_buffer_size(bytes);
    }
    let reported = socket.recv_buffer_size().ok()?;
    Some(if cfg!(target_os = "linux") {
        reported / 2
    } else {
        reported
    })
}

/// Sets `option` (a forced buffer size) to `bytes`; false when not permitted.
#[cfg(target_os = "linux")]
fn force(socket: &Socket, option: libc::c_int, bytes: usize) -> bool {
    use std::os::fd::AsRawFd;
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    #[allow(unsafe_code)]
    // SAFETY: setsockopt reads `size_of::<c_int>()` bytes from a live c_int; the descriptor
    // belongs to `socket` for the duration of the call.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            option,
            std::ptr::addr_of!(value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    rc == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_udp_socket_gets_at_least_the_capped_buffer() {
        let s = Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
        let before = s.recv_buffer_size().unwrap() / 2;
        let got = request(&s, 8 << 20).unwrap();
        assert!(got >= before, "{got} < {before}");
        let cap: usize = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
            .map_or(0, |c| c.trim().parse().unwrap_or(0));
        // Root (CAP_NET_ADMIN) gets all of it; anyone gets up to the system's cap.
        assert!(got >= (8 << 20).min(cap), "{got} below the cap {cap}");
    }
}

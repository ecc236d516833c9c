//! Checksums computed in software on a node's Ethernet interface, so the frame switch relays
//! frames a receiver accepts. A veth pair hands frames from one end to the other with their
//! checksums left to "the hardware" (`CHECKSUM_PARTIAL`) and TCP segments unsplit (TSO): a
//! bridge keeps that state with the frame, but the switch copies the bytes out through a
//! packet socket and in through another, so a UDP datagram (mDNS) would arrive with a checksum
//! that was never filled in and be dropped, and a 64 KiB TCP segment would not fit the MTU.
//! With transmit checksum offload off on the node's end, the kernel fills checksums in, and
//! TSO (which needs it) goes off with it: TCP is cut to the MTU before the frame leaves.
//! Our own EtherType has no checksum to fill in; this is for ARP, IP and so discovery.
//!
//! Done with the `SIOCETHTOOL` ioctl (the `ethtool -K IF tx off` of ethtool(8), which this
//! machine need not have), on the interface while it is still in this namespace.

use std::io;

/// `ETHTOOL_STXCSUM`: set transmit checksum offload (linux/ethtool.h).
const ETHTOOL_STXCSUM: u32 = 0x17;
/// `ETHTOOL_STSO`: set TCP segmentation offload (linux/ethtool.h).
const ETHTOOL_STSO: u32 = 0x1f;

/// `struct ethtool_value` (linux/ethtool.h).
#[repr(C)]
struct EthtoolValue {
    cmd: u32,
    data: u32,
}

/// Turns transmit checksum offload and TSO off on `interface` (needs `CAP_NET_ADMIN`).
pub fn checksums_in_software(interface: &str) -> io::Result<()> {
    for cmd in [ETHTOOL_STXCSUM, ETHTOOL_STSO] {
        set(interface, cmd, 0)?;
    }
    Ok(())
}

#[allow(unsafe_code)]
fn set(interface: &str, cmd: u32, data: u32) -> io::Result<()> {
    let name = interface.as_bytes();
    if name.is_empty() || name.len() >= libc::IFNAMSIZ {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("interface name {interface:?}"),
        ));
    }
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)?;
    let mut value = EthtoolValue { cmd, data };
    // SAFETY: `ifreq` is plain data, valid zeroed.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name) {
        *dst = *src as libc::c_char;
    }
    req.ifr_ifru.ifru_data = std::ptr::from_mut(&mut value).cast();
    // SAFETY: SIOCETHTOOL reads the `ifreq` (a NUL-terminated name, checked shorter than
    // IFNAMSIZ above, and a pointer to an `ethtool_value` that outlives the call) and reads
    // and writes only that `ethtool_value`, per the `cmd` it carries.
    let rc = unsafe {
        libc::ioctl(
            std::os::fd::AsRawFd::as_raw_fd(&socket),
            libc::SIOCETHTOOL,
            std::ptr::from_mut(&mut req),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

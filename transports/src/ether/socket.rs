//! The socket under the Ethernet layer, chosen at open: AF_XDP where it can be opened, else
//! an `AF_PACKET` socket, with the reason for every step down kept for the log. (The last
//! step down, to the UDP layer, is the node's: see `dtnd`.)

use std::io;

use super::packet::{Interface, PacketSocket};
use super::xdp::{XdpMode, XdpSocket};

/// Which socket to open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// AF_XDP, else AF_PACKET.
    Auto(XdpMode),
    /// AF_XDP or nothing.
    Xdp(XdpMode),
    /// AF_PACKET only.
    Packet,
}

enum Kind {
    Xdp {
        xsk: Box<XdpSocket>,
        /// Takes our frames that arrive on receive queues without an AF_XDP socket (they go
        /// on to the kernel's stack).
        other_queues: Option<PacketSocket>,
    },
    Packet(PacketSocket),
}

/// A frame socket on one interface.
pub struct FrameSocket {
    kind: Kind,
    /// The interface.
    pub interface: Interface,
    /// The path in use, for logs and `/peers`: e.g. "AF_XDP copy mode, generic XDP, queue 0
    /// of 1" or "AF_PACKET".
    pub path: String,
    /// Why AF_XDP is not in use, when it is not.
    pub fallback: Option<String>,
}

impl std::fmt::Debug for FrameSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameSocket")
            .field("interface", &self.interface.name)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl FrameSocket {
    /// Opens a socket on the interface `name` as `want` says. Needs a tokio runtime.
    pub fn open(name: &str, want: Want) -> io::Result<Self> {
        let interface = Interface::named(name)?;
        let mode = match want {
            Want::Packet => {
                return Ok(Self {
                    kind: Kind::Packet(PacketSocket::open(name)?),
                    interface,
                    path: "AF_PACKET".into(),
                    fallback: Some("AF_PACKET was asked for".into()),
                })
            }
            Want::Auto(m) | Want::Xdp(m) => m,
        };
        match XdpSocket::open(&interface, mode) {
            Ok(xsk) => {
                let other_queues = if xsk.path.queues > 1 {
                    Some(PacketSocket::open(name)?)
                } else {
                    None
                };
                Ok(Self {
                    path: xsk.path.to_string(),
                    kind: Kind::Xdp {
                        xsk: Box::new(xsk),
                        other_queues,
                    },
                    interface,
                    fallback: None,
                })
            }
            Err(e) if want == Want::Auto(mode) => Ok(Self {
                kind: Kind::Packet(PacketSocket::open(name)?),
                interface,
                path: "AF_PACKET".into(),
                fallback: Some(format!("AF_XDP could not be opened: {e}")),
            }),
            Err(e) => Err(e),
        }
    }

    /// True on the AF_XDP path.
    pub fn is_xdp(&self) -> bool {
        matches!(self.kind, Kind::Xdp { .. })
    }

    /// Sends whole frames.
    pub async fn send_batch(&self, frames: &[Vec<u8>]) -> io::Result<()> {
        match &self.kind {
            Kind::Xdp { xsk, .. } => xsk.send_batch(frames).await,
            Kind::Packet(p) => {
                for f in frames {
                    p.send(f).await?;
                }
                Ok(())
            }
        }
    }

    /// Receives the frames waiting (at most `max`), waiting for the first.
    pub async fn recv_batch(&self, out: &mut Vec<Vec<u8>>, max: usize) -> io::Result<()> {
        match &self.kind {
            Kind::Xdp {
                xsk,
                other_queues: Some(p),
            } => {
                let mut more = Vec::new();
                tokio::select! {
                    r = xsk.recv_batch(out, max) => r,
                    r = p.recv_batch(&mut more, max) => { out.append(&mut more); r }
                }
            }
            Kind::Xdp { xsk, .. } => xsk.recv_batch(out, max).await,
            Kind::Packet(p) => p.recv_batch(out, max).await,
        }
    }
}

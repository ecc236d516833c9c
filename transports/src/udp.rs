//! The UDP convergence layer: one bundle per datagram, nothing else on the wire.
//!
//! UDP neither acknowledges nor retransmits, so a bundle counts as sent once the socket has
//! taken it, and the agent keeps no custody. A bundle larger than the configured datagram
//! size is fragmented by the agent (RFC 9171 §5.8) before it reaches this layer; IPv4 caps a
//! datagram's payload at 65,507 bytes. Received datagrams larger than the limit, or empty,
//! are dropped and counted, never buffered beyond one receive buffer.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// The largest UDP payload over IPv4 (65,535 minus the IP and UDP headers).
pub const MAX_IPV4_DATAGRAM: usize = 65_507;

/// Why a bundle could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum UdpSendError {
    /// Bigger than the datagram limit; the agent should have fragmented it.
    #[error("bundle of {len} bytes exceeds the datagram limit of {limit}")]
    TooLarge {
        /// Bundle size.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The socket refused it.
    #[error("send: {0}")]
    Io(#[from] std::io::Error),
}

/// Datagrams dropped on reception, by reason.
#[derive(Debug, Default)]
pub struct UdpCounters {
    /// Datagrams over the limit.
    pub oversized: AtomicU64,
    /// Empty datagrams.
    pub empty: AtomicU64,
    /// Datagrams passed on.
    pub received: AtomicU64,
}

/// Bytes of socket buffer asked for each way.
const SOCKET_BUFFER: usize = 4 << 20;

/// One UDP endpoint of a node: a bound socket and its datagram limit.
#[derive(Debug, Clone)]
pub struct UdpLink {
    socket: Arc<UdpSocket>,
    max_datagram: usize,
    counters: Arc<UdpCounters>,
}

impl UdpLink {
    /// Binds `addr`; bundles up to `max_datagram` bytes go out whole.
    pub async fn bind(addr: SocketAddr, max_datagram: usize) -> std::io::Result<Self> {
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::DGRAM,
            Some(socket2::Protocol::UDP),
        )?;
        // A burst of full-size datagrams overflows the default buffer (about three of them
        // on Linux): ask for 4 MiB each way (past net.core.rmem_max where permitted).
        crate::sockbuf::request(&socket, SOCKET_BUFFER);
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        let socket = UdpSocket::from_std(socket.into())?;
        Ok(Self {
            socket: Arc::new(socket),
            max_datagram: max_datagram.clamp(1, MAX_IPV4_DATAGRAM),
            counters: Arc::default(),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// The datagram limit.
    pub fn max_datagram(&self) -> usize {
        self.max_datagram
    }

    /// Reception counters.
    pub fn counters(&self) -> &UdpCounters {
        &self.counters
    }

    /// Sends one bundle as one datagram.
    pub async fn send(&self, to: SocketAddr, bundle: &[u8]) -> Result<(), UdpSendError> {
        if bundle.len() > self.max_datagram {
            return Err(UdpSendError::TooLarge {
                len: bundle.len(),
                limit: self.max_datagram,
            });
        }
        self.socket.send_to(bundle, to).await?;
        Ok(())
    }

    /// Receives datagrams and passes each acceptable one on as `(sender, bundle bytes)`,
    /// until the receiver is dropped or the socket fails.
    pub async fn receive(self, to: mpsc::Sender<(SocketAddr, Vec<u8>)>) -> std::io::Result<()> {
        // One byte more than the largest datagram, so an oversized one is seen as such.
        let mut buf = vec![0u8; MAX_IPV4_DATAGRAM + 1];
        loop {
            let (n, from) = self.socket.recv_from(&mut buf).await?;
            if n == 0 {
                self.counters.empty.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            if n > self.max_datagram {
                self.counters.oversized.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            self.counters.received.fetch_add(1, Ordering::Relaxed);
            let bytes = buf.get(..n).unwrap_or(&[]).to_vec();
            if to.send((from, bytes)).await.is_err() {
                return Ok(());
            }
        }
    }
}

//! QUIC convergence layer (quinn): for lossy wireless hops (mmWave) and backhaul, where
//! TCP's one ordered byte stream makes every lost packet stall every bundle behind it.
//!
//! One connection per peer. Each bundle travels on its own bidirectional stream: the sender
//! writes the bundle and finishes the stream; the receiver answers on the same stream with
//! one byte once the bundle is durable (or with a refusal), so a bundle counts as delivered
//! exactly when TCPCLv4's XFER_ACK would say so, and a lost packet delays only the bundles
//! whose streams it carried. Each side first sends a hello (node ID, transfer MRU) on a
//! unidirectional stream ([`hello`]).
//!
//! TLS 1.3 with the node's TCPCLv4 certificates ([`tls`]), 0-RTT resumption for the hello,
//! connection migration (a peer whose address changes keeps its connection), and keepalives
//! tuned so a short outage does not end the connection ([`QuicConfig`]). A peer is held to
//! the same limits as a TCPCLv4 peer: the node's [`crate::tcpcl::SessionConfig`] gives the
//! transfer MRU and the number of bundles in flight, and received bytes not yet handed on
//! are bounded per connection.
//!
//! QUIC's own protocol logic is quinn-proto, itself sans-IO; what is ours is the framing
//! ([`hello`]) and the driver that maps streams to the node's session commands and upcalls
//! ([`connection`]), the same interface TCPCLv4 sessions offer, so the node runs both alike.
//!
//! Not built: QUIC datagrams for small loss-tolerant bundles. A datagram has no
//! acknowledgement, so a bundle sent that way could never count as delivered, and the UDP
//! convergence layer already carries bundles that need none.

pub mod connection;
pub mod hello;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use connection::{connect, run_connection, Connected, QuicSession};
/// The QUIC implementation, for callers that hold its endpoints and connections.
pub use quinn;
pub use tls::QuicCrypto;

/// Transport tuning of the node's QUIC endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuicConfig {
    /// How often a quiet connection sends a keepalive (PING).
    pub keepalive: Duration,
    /// How long a connection may hear nothing before it is closed: outages shorter than this
    /// keep the connection (and its streams) alive.
    pub idle_timeout: Duration,
    /// Receive window of one stream (one bundle), in bytes.
    pub stream_window: u64,
    /// Receive window of a whole connection, in bytes.
    pub connection_window: u64,
    /// Most bundle streams a peer may have open towards us at once.
    pub max_streams: u32,
    /// Kernel socket buffer sizes, in bytes: what a receiver that falls a few milliseconds
    /// behind can take before datagrams are dropped ([`crate::sockbuf`]).
    pub socket_buffer: usize,
    /// The largest UDP payload path MTU discovery probes for (RFC 9000 §14.3): packets
    /// start at 1,200 bytes and grow up to this where the path carries them.
    pub max_udp_payload: u16,
}

/// [`QuicConfig::max_udp_payload`] by default: what an Ethernet path (1,500-byte MTU)
/// carries over IPv6.
pub const DEFAULT_MAX_UDP_PAYLOAD: u16 = 1452;
/// The most [`QuicConfig::max_udp_payload`] can be: a UDP datagram's limit over IPv6.
pub const MAX_UDP_PAYLOAD: u16 = 65527;
/// What quinn accepts from a peer by default (an Ethernet MTU over IPv4); we accept at
/// least this much whatever our own upper bound.
const QUINN_DEFAULT_MAX_UDP_PAYLOAD: u16 = 1472;
/// The largest [`QuicConfig::max_udp_payload`] sent with segmentation offload (GSO): ten
/// packets of this size fit one 64 KiB UDP send. Above it each packet is its own send.
pub const MAX_UDP_PAYLOAD_WITH_GSO: u16 = 6550;

impl Default for QuicConfig {
    /// Keepalive every 2 s, 30 s idle timeout, 16 MiB per stream, 64 MiB per connection,
    /// 256 streams, 16 MiB socket buffers, packets of up to 1,452 bytes.
    fn default() -> Self {
        Self {
            keepalive: Duration::from_secs(2),
            idle_timeout: Duration::from_secs(30),
            stream_window: 16 << 20,
            connection_window: 64 << 20,
            max_streams: 256,
            socket_buffer: 16 << 20,
            max_udp_payload: DEFAULT_MAX_UDP_PAYLOAD,
        }
    }
}

impl QuicConfig {
    /// The quinn transport configuration.
    pub fn transport(&self) -> quinn::TransportConfig {
        let mut t = quinn::TransportConfig::default();
        t.keep_alive_interval(Some(self.keepalive));
        t.max_idle_timeout(quinn::IdleTimeout::try_from(self.idle_timeout).ok());
        t.stream_receive_window(
            quinn::VarInt::from_u64(self.stream_window).unwrap_or(quinn::VarInt::MAX),
        );
        t.receive_window(
            quinn::VarInt::from_u64(self.connection_window).unwrap_or(quinn::VarInt::MAX),
        );
        t.send_window(self.connection_window);
        t.max_concurrent_bidi_streams(quinn::VarInt::from_u32(self.max_streams));
        // The hello is the only unidirectional stream.
        t.max_concurrent_uni_streams(quinn::VarInt::from_u32(2));
        let mut mtu = quinn::MtuDiscoveryConfig::default();
        mtu.upper_bound(self.max_udp_payload);
        t.mtu_discovery_config(Some(mtu));
        // quinn batches up to ten packets of the current size into one GSO send; the kernel
        // refuses a UDP send of more than 64 KiB, and quinn counts the refusal as loss, its
        // black-hole detection then dropping packets to 1,200 bytes (quinn-rs/quinn #1457,
        // #2199). Measured on loopback with `--quic-mtu 65000`: 1.25-1.45 Gbit/s at 1,200
        // bytes with GSO, 2.9-3.4 Gbit/s at 64 KiB packets without.
        t.enable_segmentation_offload(self.max_udp_payload <= MAX_UDP_PAYLOAD_WITH_GSO);
        // A bundle is of use only once all of it has arrived. Round-robin among the
        // streams would have every bundle in flight finish at about the same time, the
        // whole window's worth later; in order, they finish one after the other and the
        // receiver stores (and answers) each while the next arrives. 1 MiB bundles on
        // loopback: 1.1-1.2 Gbit/s round-robin, 1.6-1.75 in order.
        t.send_fairness(false);
        t
    }
}

/// Opens the node's QUIC endpoint on `bind`: it accepts connections and opens them, with
/// migration allowed.
pub fn endpoint(
    bind: SocketAddr,
    crypto: &QuicCrypto,
    cfg: &QuicConfig,
) -> std::io::Result<quinn::Endpoint> {
    let transport = Arc::new(cfg.transport());
    let mut server = quinn::ServerConfig::with_crypto(crypto.server.clone());
    server.transport_config(transport.clone());
    server.migration(true);
    let mut client = quinn::ClientConfig::new(crypto.client.clone());
    client.transport_config(transport);
    let socket = socket(bind, cfg.socket_buffer)?;
    // The largest payload we accept is a transport parameter (RFC 9000 §18.2,
    // max_udp_payload_size) that caps the peer's path MTU discovery: left at quinn's
    // default (1,472), the peer's packets never grow past it, whatever its upper bound.
    let mut ep_cfg = quinn::EndpointConfig::default();
    ep_cfg
        .max_udp_payload_size(cfg.max_udp_payload.max(QUINN_DEFAULT_MAX_UDP_PAYLOAD))
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
    let mut ep = quinn::Endpoint::new(ep_cfg, Some(server), socket, Arc::new(quinn::TokioRuntime))?;
    ep.set_default_client_config(client);
    Ok(ep)
}

/// A UDP socket bound to `bind` with `buffer`-byte kernel buffers (best effort: the kernel
/// may cap them).
pub fn socket(bind: SocketAddr, buffer: usize) -> std::io::Result<std::net::UdpSocket> {
    let domain = socket2::Domain::for_address(bind);
    let s = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    let got = crate::sockbuf::request(&s, buffer).unwrap_or(0);
    if got < buffer {
        tracing::warn!(
            asked = buffer,
            got,
            "QUIC socket buffer smaller than asked: bursts may overflow it and cost \
             retransmissions; raise net.core.rmem_max and wmem_max, or give dtnd CAP_NET_ADMIN"
        );
    }
    s.bind(&bind.into())?;
    Ok(s.into())
}

//! The libp2p edge of discovery: a swarm with mDNS and the hello protocol
//! (`/dtn/hello/1`, CBOR request and response, both an [`Offer`]). When mDNS finds a peer the
//! swarm dials it, and dials again every query interval while mDNS still knows the peer and
//! no connection stands (a dial lost to a lossy LAN is not the end). On every new connection
//! each side sends its offer and answers the other's with its own, so both learn of each other
//! whichever dialled. Each offer heard is checked and handed on as [`Found`], with the address
//! the connection came from.
//!
//! Two peers usually find each other at the same moment and dial each other at once. libp2p
//! dials from its listening port by default, and two such dials are one TCP connection
//! (a simultaneous open) on which both sides act as the dialer, and the security handshake
//! fails; so dials take a new port, and the two dials are two connections that both work.
//!
//! libp2p's own transport (TCP, Noise, Yamux) carries only the hellos: bundles go over the
//! layers the offers name.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use futures_util::StreamExt;
use libp2p::core::ConnectedPoint;
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{NetworkBehaviour, Swarm, SwarmEvent};
use libp2p::{mdns, Multiaddr, PeerId, StreamProtocol};
use tokio::sync::mpsc;

use super::offer::Offer;

/// The hello protocol's name.
pub const HELLO: StreamProtocol = StreamProtocol::new("/dtn/hello/1");

/// Largest hello accepted (an offer is a few dozen bytes).
const MAX_HELLO: u64 = 4096;

/// Most peers remembered at once; beyond it a new peer's offer waits until one leaves.
const MAX_PEERS: usize = 1024;

/// A peer found on the LAN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Its libp2p peer ID.
    pub peer: String,
    /// What it offers.
    pub offer: Offer,
    /// The address its connection came from.
    pub ip: IpAddr,
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    mdns: mdns::tokio::Behaviour,
    hello: request_response::cbor::Behaviour<Offer, Offer>,
}

/// Dials `peer` at `addrs` unless connected or dialling already, from a new port (see the
/// module docs).
fn dial(swarm: &mut Swarm<Behaviour>, peer: PeerId, addrs: &[Multiaddr]) {
    if swarm.is_connected(&peer) {
        return;
    }
    tracing::debug!(%peer, ?addrs, "discovery: dialling");
    let opts = DialOpts::peer_id(peer)
        .addresses(addrs.to_vec())
        .condition(PeerCondition::DisconnectedAndNotDialing)
        .allocate_new_port()
        .build();
    let _ = swarm.dial(opts);
}

/// A running discovery.
#[derive(Debug)]
pub struct Discovery {
    /// This node's libp2p peer ID.
    pub peer_id: String,
}

fn ip_of(addr: &Multiaddr) -> Option<IpAddr> {
    addr.iter().find_map(|p| match p {
        Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
        Protocol::Ip6(ip) => Some(IpAddr::V6(ip)),
        _ => None,
    })
}

impl Discovery {
    /// Starts announcing `offer` and looking for peers every `query_interval`; found peers
    /// go to `found`. Needs a tokio runtime.
    pub fn start(
        offer: Offer,
        query_interval: Duration,
        found: mpsc::Sender<Found>,
    ) -> Result<Self, String> {
        let mut swarm = libp2p::SwarmBuilder::with_new_identity()
            .with_tokio()
            .with_tcp(
                libp2p::tcp::Config::default(),
                libp2p::noise::Config::new,
                libp2p::yamux::Config::default,
            )
            .map_err(|e| format!("libp2p transport: {e}"))?
            .with_behaviour(|key| {
                let mdns = mdns::tokio::Behaviour::new(
                    mdns::Config {
                        query_interval,
                        ..mdns::Config::default()
                    },
                    key.public().to_peer_id(),
                )?;
                let codec = request_response::cbor::codec::Codec::default()
                    .set_request_size_maximum(MAX_HELLO)
                    .set_response_size_maximum(MAX_HELLO);
                let hello = request_response::Behaviour::with_codec(
                    codec,
                    [(HELLO, ProtocolSupport::Full)],
                    request_response::Config::default()
                        .with_request_timeout(Duration::from_secs(10)),
                );
                Ok(Behaviour { mdns, hello })
            })
            .map_err(|e| format!("libp2p behaviour: {e}"))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(120)))
            .build();
        let any: Multiaddr = "/ip4/0.0.0.0/tcp/0"
            .parse()
            .map_err(|e| format!("listen address: {e}"))?;
        swarm
            .listen_on(any)
            .map_err(|e| format!("libp2p listen: {e}"))?;
        let peer_id = swarm.local_peer_id().to_string();
        tokio::spawn(async move {
            // The address each connected peer came from, and the offers already handed on.
            let mut from: BTreeMap<PeerId, IpAddr> = BTreeMap::new();
            let mut told: BTreeMap<PeerId, Offer> = BTreeMap::new();
            // The peers mDNS knows, and their addresses (at most MAX_PEERS, 16 addresses each).
            let mut known: BTreeMap<PeerId, Vec<Multiaddr>> = BTreeMap::new();
            let mut redial = tokio::time::interval(query_interval);
            loop {
                let event = tokio::select! {
                    e = swarm.select_next_some() => e,
                    _ = redial.tick() => {
                        for (peer, addrs) in &known {
                            dial(&mut swarm, *peer, addrs);
                        }
                        continue;
                    }
                };
                let heard = match event {
                    SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(list))) => {
                        let mut fresh: BTreeMap<PeerId, Vec<Multiaddr>> = BTreeMap::new();
                        for (peer, addr) in list {
                            if known.len() >= MAX_PEERS && !known.contains_key(&peer) {
                                continue;
                            }
                            let addrs = known.entry(peer).or_default();
                            if addrs.len() < 16 && !addrs.contains(&addr) {
                                addrs.push(addr.clone());
                            }
                            fresh.entry(peer).or_default().push(addr);
                        }
                        for (peer, addrs) in fresh {
                            dial(&mut swarm, peer, &addrs);
                        }
                        None
                    }
                    SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Expired(list))) => {
                        for (peer, _) in list {
                            known.remove(&peer);
                        }
                        None
                    }
                    SwarmEvent::ConnectionEstablished {
                        peer_id, endpoint, ..
                    } => {
                        let addr = match &endpoint {
                            ConnectedPoint::Dialer { address, .. } => address,
                            ConnectedPoint::Listener { send_back_addr, .. } => send_back_addr,
                        };
                        if let Some(ip) = ip_of(addr) {
                            if from.len() < MAX_PEERS || from.contains_key(&peer_id) {
                                from.insert(peer_id, ip);
                            }
                        }
                        swarm
                            .behaviour_mut()
                            .hello
                            .send_request(&peer_id, offer.clone());
                        None
                    }
                    SwarmEvent::Behaviour(BehaviourEvent::Hello(
                        request_response::Event::Message { peer, message, .. },
                    )) => match message {
                        request_response::Message::Request {
                            request, channel, ..
                        } => {
                            let _ = swarm
                                .behaviour_mut()
                                .hello
                                .send_response(channel, offer.clone());
                            Some((peer, request))
                        }
                        request_response::Message::Response { response, .. } => {
                            Some((peer, response))
                        }
                    },
                    SwarmEvent::ConnectionClosed {
                        peer_id,
                        num_established: 0,
                        ..
                    } => {
                        from.remove(&peer_id);
                        told.remove(&peer_id);
                        None
                    }
                    _ => None,
                };
                let Some((peer, heard)) = heard else {
                    continue;
                };
                if let Err(e) = heard.check() {
                    tracing::info!(%peer, "discovery: offer refused: {e}");
                    continue;
                }
                let Some(ip) = from.get(&peer).copied() else {
                    continue;
                };
                if told.get(&peer) == Some(&heard) {
                    continue;
                }
                told.insert(peer, heard.clone());
                let f = Found {
                    peer: peer.to_string(),
                    offer: heard,
                    ip,
                };
                if found.send(f).await.is_err() {
                    return;
                }
            }
        });
        Ok(Self { peer_id })
    }
}

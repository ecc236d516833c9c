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
//! libp2p's own transport (TCP, Noise, Yamux) carries the hellos, and bundles only for a peer
//! the node can reach by no other layer ([`super::carry`]): the node asks with
//! [`CarryCommand`]s and hears [`Carried`] events.

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

use super::carry::{BundleCodec, Carried, CarryCommand, BUNDLE, REFUSED, STORED};
use super::offer::Offer;

/// The hello protocol's name.
pub const HELLO: StreamProtocol = StreamProtocol::new("/dtn/hello/1");

/// Largest hello accepted (an offer is a few dozen bytes).
const MAX_HELLO: u64 = 4096;

/// Most peers remembered at once; beyond it a new peer's offer waits until one leaves.
const MAX_PEERS: usize = 1024;

/// Most bundles sent over libp2p awaiting their answer; beyond it a send fails at once.
const MAX_SENDING: usize = 256;

/// Most received bundles awaiting the node's answer (beyond it one is refused at once), and
/// most streams open per connection: with bundles held whole, this bounds the memory a peer
/// can take.
const MAX_RECEIVING: usize = 16;

/// How long a bundle over libp2p may take to be sent and answered.
const BUNDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// Bundles over libp2p: where the node hears of them, and the largest it takes.
#[derive(Debug)]
pub struct Carry {
    /// Received bundles and ended transmissions go here.
    pub events: mpsc::Sender<Carried>,
    /// Largest bundle received.
    pub max_bundle: u64,
}

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
    bundles: request_response::Behaviour<BundleCodec>,
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
    /// Bundles to send over libp2p, and answers to bundles received.
    pub commands: mpsc::Sender<CarryCommand>,
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
    /// go to `found`, bundles over libp2p as `carry` says. Needs a tokio runtime.
    pub fn start(
        offer: Offer,
        query_interval: Duration,
        found: mpsc::Sender<Found>,
        carry: Carry,
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
                let bundles = request_response::Behaviour::with_codec(
                    BundleCodec {
                        max_bundle: carry.max_bundle,
                    },
                    [(BUNDLE, ProtocolSupport::Full)],
                    request_response::Config::default()
                        .with_request_timeout(BUNDLE_TIMEOUT)
                        .with_max_concurrent_streams(MAX_RECEIVING),
                );
                Ok(Behaviour {
                    mdns,
                    hello,
                    bundles,
                })
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
        let (commands, mut command_rx) = mpsc::channel::<CarryCommand>(256);
        tokio::spawn(async move {
            // An ended transmission is always told (the node never waits on this task, so
            // waiting for room is safe); a received bundle is refused when the node is busy.
            let events = carry.events;
            // Bundles sent and awaiting their answer, and received awaiting the node's.
            let mut sending: BTreeMap<request_response::OutboundRequestId, u64> = BTreeMap::new();
            let mut receiving: BTreeMap<u64, request_response::ResponseChannel<u8>> =
                BTreeMap::new();
            let mut next_received = 0u64;
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
                    Some(c) = command_rx.recv() => {
                        match c {
                            CarryCommand::Send { peer, tag, bundle } => {
                                let target = peer.parse::<PeerId>().ok();
                                match target {
                                    Some(p) if sending.len() < MAX_SENDING => {
                                        // Over the connection discovery made, else where mDNS
                                        // last saw the peer.
                                        let addrs = known.get(&p).cloned().unwrap_or_default();
                                        let r = swarm
                                            .behaviour_mut()
                                            .bundles
                                            .send_request_with_addresses(&p, bundle, addrs);
                                        sending.insert(r, tag);
                                    }
                                    _ => {
                                        let _ = events.send(Carried::Sent { tag, ok: false }).await;
                                    }
                                }
                            }
                            CarryCommand::Answer { id, stored } => {
                                if let Some(ch) = receiving.remove(&id) {
                                    let answer = if stored { STORED } else { REFUSED };
                                    let _ = swarm.behaviour_mut().bundles.send_response(ch, answer);
                                }
                            }
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
                    SwarmEvent::Behaviour(BehaviourEvent::Bundles(e)) => {
                        match e {
                            request_response::Event::Message {
                                peer,
                                message:
                                    request_response::Message::Request {
                                        request, channel, ..
                                    },
                                ..
                            } => {
                                next_received += 1;
                                let id = next_received;
                                let handed = receiving.len() < MAX_RECEIVING
                                    && events
                                        .try_send(Carried::Bundle {
                                            peer: peer.to_string(),
                                            id,
                                            bytes: request,
                                        })
                                        .is_ok();
                                if handed {
                                    receiving.insert(id, channel);
                                } else {
                                    // Busy: the sender hears so now and may try again.
                                    let _ = swarm
                                        .behaviour_mut()
                                        .bundles
                                        .send_response(channel, REFUSED);
                                }
                            }
                            request_response::Event::Message {
                                message:
                                    request_response::Message::Response {
                                        request_id,
                                        response,
                                    },
                                ..
                            } => {
                                if let Some(tag) = sending.remove(&request_id) {
                                    let ok = response == STORED;
                                    let _ = events.send(Carried::Sent { tag, ok }).await;
                                }
                            }
                            request_response::Event::OutboundFailure {
                                request_id, error, ..
                            } => {
                                tracing::debug!("discovery: bundle over libp2p failed: {error}");
                                if let Some(tag) = sending.remove(&request_id) {
                                    let _ = events.send(Carried::Sent { tag, ok: false }).await;
                                }
                            }
                            _ => {}
                        }
                        None
                    }
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
        Ok(Self { peer_id, commands })
    }
}

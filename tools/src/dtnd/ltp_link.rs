//! LTP (RFC 5326) as a convergence layer of `dtnd`: the sans-IO engine of
//! `transports::ltp` over a UDP socket. Each LTP peer is a link to the agent, always up, with
//! its engine ID and address from the configuration (`--ltp-peer NODE=ENGINE@ADDR`). A bundle
//! the agent transmits on such a link becomes a block, all red; the agent hears it was sent
//! only when the receiving engine has reported the whole red part received. A block that
//! arrives whole goes to the agent as a received bundle.
//!
//! The report that tells a sender its block arrived goes out only once the agent has stored
//! the bundle durably (the agent's acceptance), so a crash in between never loses a bundle
//! the sender counts as delivered.
//!
//! Not yet: links scheduled by the contact plan (their timers suspended between contacts,
//! which the engine supports), one-way light time per contact, rate limits.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use bundle_agent::agent::LinkId;
use bundle_agent::wire::{BundleId, Eid};
use transports::ltp::engine::{Action, Engine, EngineConfig, Event};
use transports::ltp::segment::SessionId;
use transports::udp::UdpLink;

/// One LTP peer of the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LtpPeer {
    /// Its node ID.
    pub node: Eid,
    /// Its engine ID.
    pub engine: u64,
    /// Its UDP address.
    pub addr: SocketAddr,
}

/// LTP settings after merging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LtpConfig {
    /// Bound address.
    pub listen: SocketAddr,
    /// This node's engine ID.
    pub engine: u64,
    /// Peers.
    pub peers: Vec<LtpPeer>,
    /// One-way light time to every peer, for the timers.
    pub owlt_ms: u64,
    /// Client data bytes per segment.
    pub segment: usize,
}

/// What the core does for the engine: send datagrams, hand bundles to the agent, settle
/// transmissions.
#[derive(Debug)]
pub enum LtpOut {
    /// A received bundle, from the link of the sending engine.
    Received {
        /// The link.
        link: LinkId,
        /// The bundle.
        bytes: Vec<u8>,
        /// Its LTP session: [`LtpLinks::stored`] once the agent has it durably.
        session: SessionId,
    },
    /// A transmission ended.
    Sent {
        /// The link.
        link: LinkId,
        /// The bundle.
        id: BundleId,
        /// Reported received in full.
        ok: bool,
    },
}

/// The engine, its socket and its peers.
#[derive(Debug)]
pub struct LtpLinks {
    socket: UdpLink,
    engine: Engine,
    /// Link -> (engine, address).
    peers: BTreeMap<LinkId, (u64, SocketAddr)>,
    nodes: BTreeMap<LinkId, Eid>,
    by_engine: BTreeMap<u64, (LinkId, SocketAddr)>,
    /// Block ID -> the transmission it carries.
    pending: BTreeMap<u64, (LinkId, BundleId)>,
    next_block: u64,
}

impl LtpLinks {
    /// The engine over `socket`, with a link per peer (numbers given by the caller).
    pub fn new(
        cfg: &LtpConfig,
        socket: UdpLink,
        links: Vec<(LinkId, &LtpPeer)>,
        now_ms: u64,
    ) -> Self {
        let mut ecfg = EngineConfig::new(cfg.engine);
        ecfg.max_segment = cfg.segment;
        let mut engine = Engine::new(ecfg);
        let mut peers = BTreeMap::new();
        let mut nodes = BTreeMap::new();
        let mut by_engine = BTreeMap::new();
        for (link, p) in links {
            peers.insert(link, (p.engine, p.addr));
            nodes.insert(link, p.node.clone());
            by_engine.insert(p.engine, (link, p.addr));
            engine.handle(
                now_ms,
                Event::LinkUp {
                    engine: p.engine,
                    owlt_ms: cfg.owlt_ms,
                },
            );
        }
        Self {
            socket,
            engine,
            peers,
            nodes,
            by_engine,
            pending: BTreeMap::new(),
            next_block: 1,
        }
    }

    /// True when `link` is one of the LTP peers.
    pub fn has_link(&self, link: LinkId) -> bool {
        self.peers.contains_key(&link)
    }

    /// The links: number, peer node, engine and address.
    pub fn links(&self) -> impl Iterator<Item = (LinkId, Eid, u64, SocketAddr)> + '_ {
        self.peers
            .iter()
            .map(|(l, (e, a))| (*l, self.nodes.get(l).cloned().unwrap_or(Eid::Null), *e, *a))
    }

    /// The largest block the engine takes.
    pub fn max_block(&self) -> u64 {
        256 << 20
    }

    /// Sends a bundle over a link as one block.
    pub async fn transmit(
        &mut self,
        now_ms: u64,
        link: LinkId,
        id: BundleId,
        bytes: Vec<u8>,
    ) -> Vec<LtpOut> {
        let Some((engine, _)) = self.peers.get(&link).copied() else {
            return vec![LtpOut::Sent {
                link,
                id,
                ok: false,
            }];
        };
        let block = self.next_block;
        self.next_block += 1;
        self.pending.insert(block, (link, id));
        self.engine.handle(
            now_ms,
            Event::Send {
                id: block,
                to: engine,
                block: bytes,
            },
        );
        self.drain().await
    }

    /// A datagram from the socket.
    pub async fn datagram(&mut self, now_ms: u64, from: SocketAddr, bytes: Vec<u8>) -> Vec<LtpOut> {
        let Some((engine, _)) = self
            .by_engine
            .iter()
            .find(|(_, (_, a))| *a == from)
            .map(|(e, v)| (*e, *v))
        else {
            tracing::debug!(%from, "LTP datagram from an unknown address: dropped");
            return Vec::new();
        };
        self.engine.handle(
            now_ms,
            Event::Datagram {
                from: engine,
                bytes,
            },
        );
        self.drain().await
    }

    /// The agent stored a received bundle durably: its sender may now hear it arrived.
    pub async fn stored(&mut self, now_ms: u64, session: SessionId) -> Vec<LtpOut> {
        self.engine.handle(now_ms, Event::Stored { session });
        self.drain().await
    }

    /// The agent refused a received bundle: the session is cancelled.
    pub async fn refused(&mut self, now_ms: u64, session: SessionId) -> Vec<LtpOut> {
        self.engine.handle(now_ms, Event::Refused { session });
        self.drain().await
    }

    /// Time passed.
    pub async fn tick(&mut self, now_ms: u64) -> Vec<LtpOut> {
        self.engine.handle(now_ms, Event::Tick);
        self.drain().await
    }

    async fn drain(&mut self) -> Vec<LtpOut> {
        let mut out = Vec::new();
        while let Some(a) = self.engine.poll_action() {
            match a {
                Action::Transmit { to, bytes } => {
                    if let Some((_, addr)) = self.by_engine.get(&to) {
                        if let Err(e) = self.socket.send(*addr, &bytes).await {
                            tracing::debug!(engine = to, "LTP segment not sent: {e}");
                        }
                    }
                }
                Action::Deliver {
                    from,
                    session,
                    block,
                } => {
                    let link = self.by_engine.get(&from).map_or(0, |(l, _)| *l);
                    out.push(LtpOut::Received {
                        link,
                        bytes: block,
                        session,
                    });
                }
                Action::Sent { id } => {
                    if let Some((link, bundle)) = self.pending.remove(&id) {
                        out.push(LtpOut::Sent {
                            link,
                            id: bundle,
                            ok: true,
                        });
                    }
                }
                Action::Failed { id, reason } => {
                    if let Some((link, bundle)) = self.pending.remove(&id) {
                        tracing::info!(link, bundle = %bundle, ?reason, "LTP block cancelled");
                        out.push(LtpOut::Sent {
                            link,
                            id: bundle,
                            ok: false,
                        });
                    }
                }
            }
        }
        out
    }
}

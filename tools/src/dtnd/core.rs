//! The core task: owns the agent and its store, and turns agent actions into session
//! commands and API replies.

use std::collections::BTreeMap;

use anyhow::Result;
use bundle_agent::agent::{Action, Agent, AgentConfig, Event, LinkId, RefuseCause, RouteTable};
use bundle_agent::store::{BundleStore, DeliveryMode, Registration, Retention, RocksStore};
use bundle_agent::wire::{BundleId, DecodeOptions, Eid};
use tokio::sync::{mpsc, oneshot};
use transports::tcpcl::connection::{Command, Upcall};
use transports::tcpcl::RefuseReason;

use std::net::SocketAddr;

use transports::udp::UdpLink;

use crate::cli_io::dtn_now;

/// Messages to the core.
#[derive(Debug)]
pub enum CoreMsg {
    /// A session came up; commands for it go to `commands`.
    SessionUp {
        /// The link number.
        link: LinkId,
        /// Its command channel.
        commands: mpsc::Sender<Command>,
    },
    /// Something happened on a session.
    Session {
        /// The link number.
        link: LinkId,
        /// What.
        up: Upcall,
    },
    /// An application submits a bundle; the reply comes once it is durable.
    Submit {
        /// The encoded bundle.
        bytes: Vec<u8>,
        /// Ok(bundle ID) or the refusal.
        reply: oneshot::Sender<Result<String, String>>,
    },
    /// An application registers an endpoint.
    Register {
        /// The endpoint.
        endpoint: Eid,
    },
    /// An application fetches the next payload for an endpoint.
    Fetch {
        /// The endpoint.
        endpoint: Eid,
        /// The payload, if one is waiting.
        reply: oneshot::Sender<Option<Vec<u8>>>,
    },
    /// Node status, as JSON.
    Status {
        /// The reply.
        reply: oneshot::Sender<serde_json::Value>,
    },
    /// The stored bundles, as JSON.
    Bundles {
        /// The reply.
        reply: oneshot::Sender<serde_json::Value>,
    },
    /// A datagram arrived on the UDP convergence layer.
    Datagram {
        /// Its sender.
        from: SocketAddr,
        /// The bundle.
        bytes: Vec<u8>,
    },
    /// Expire bundles.
    Tick,
}

/// The UDP convergence layer as the core sees it: the socket and the peers, each a link that
/// is always up (UDP has no sessions).
#[derive(Debug)]
pub struct UdpLinks {
    /// The bound socket.
    pub socket: UdpLink,
    /// Link number, peer node ID and address of each UDP peer.
    pub peers: Vec<(LinkId, Eid, SocketAddr)>,
}

enum Origin {
    Session {
        link: LinkId,
        transfer_id: u64,
    },
    Api(oneshot::Sender<Result<String, String>>),
    /// UDP has nothing to acknowledge.
    Datagram,
}

struct Core {
    agent: Agent<RocksStore>,
    node_id: Eid,
    sessions: BTreeMap<LinkId, mpsc::Sender<Command>>,
    next_token: u64,
    origins: BTreeMap<u64, Origin>,
    /// Our transmissions: tag -> (link, bundle); then transfer ID -> bundle.
    queued: BTreeMap<u64, (LinkId, BundleId)>,
    transfers: BTreeMap<(LinkId, u64), BundleId>,
    udp: Option<UdpLink>,
    udp_peers: BTreeMap<LinkId, SocketAddr>,
}

/// Runs the core until every sender is gone.
pub async fn run(
    node_id: Eid,
    store: RocksStore,
    routes: RouteTable,
    lenient: bool,
    udp: Option<UdpLinks>,
    mut rx: mpsc::Receiver<CoreMsg>,
) -> Result<()> {
    let decode = if lenient {
        DecodeOptions::lenient()
    } else {
        DecodeOptions::default()
    };
    let agent = Agent::new(
        AgentConfig {
            node_id: node_id.clone(),
            decode,
            routes,
        },
        store,
    )?;
    let mut core = Core {
        agent,
        node_id,
        sessions: BTreeMap::new(),
        next_token: 1,
        origins: BTreeMap::new(),
        queued: BTreeMap::new(),
        transfers: BTreeMap::new(),
        udp: None,
        udp_peers: BTreeMap::new(),
    };
    if let Some(u) = udp {
        let limit = u.socket.max_datagram() as u64;
        core.udp = Some(u.socket);
        for (link, peer, addr) in u.peers {
            core.udp_peers.insert(link, addr);
            core.agent.handle(
                dtn_now(),
                Event::LinkUp {
                    link,
                    peer,
                    max_bundle_size: Some(limit),
                },
            )?;
        }
        core.act().await;
    }
    while let Some(first) = rx.recv().await {
        core.handle(first).await?;
        // Group commit: everything already waiting joins this batch.
        for _ in 0..256 {
            match rx.try_recv() {
                Ok(m) => core.handle(m).await?,
                Err(_) => break,
            }
        }
        core.agent.commit()?;
        core.act().await;
    }
    Ok(())
}

impl Core {
    fn token(&mut self, origin: Origin) -> u64 {
        let t = self.next_token;
        self.next_token += 1;
        self.origins.insert(t, origin);
        t
    }

    async fn handle(&mut self, msg: CoreMsg) -> Result<()> {
        let now = dtn_now();
        match msg {
            CoreMsg::SessionUp { link, commands } => {
                self.sessions.insert(link, commands);
            }
            CoreMsg::Session { link, up } => match up {
                Upcall::Established(n) => match n.peer_node_id.parse::<Eid>() {
                    Ok(peer) => self.agent.handle(
                        now,
                        Event::LinkUp {
                            link,
                            peer,
                            max_bundle_size: Some(n.peer_transfer_mru),
                        },
                    )?,
                    Err(e) => {
                        tracing::warn!(link, peer = %n.peer_node_id, "peer node ID is not an EID: {e}");
                        if let Some(s) = self.sessions.get(&link) {
                            let _ = s
                                .send(Command::Close(
                                    transports::tcpcl::TermReason::ContactFailure,
                                ))
                                .await;
                        }
                    }
                },
                Upcall::Received {
                    transfer_id,
                    bundle,
                } => {
                    let token = self.token(Origin::Session { link, transfer_id });
                    self.agent.handle(
                        now,
                        Event::Received {
                            link,
                            bytes: bundle,
                            token,
                        },
                    )?;
                }
                Upcall::Queued { tag, result } => {
                    if let Some((link, id)) = self.queued.remove(&tag) {
                        match result {
                            Ok(transfer) => {
                                self.transfers.insert((link, transfer), id);
                            }
                            Err(e) => {
                                tracing::warn!(link, bundle = %id, "not sent: {e}");
                                self.sent(now, link, id, false)?;
                            }
                        }
                    }
                }
                Upcall::Acked(transfer) => {
                    if let Some(id) = self.transfers.remove(&(link, transfer)) {
                        self.sent(now, link, id, true)?;
                    }
                }
                Upcall::Failed(transfer, reason) => {
                    if let Some(id) = self.transfers.remove(&(link, transfer)) {
                        tracing::info!(link, bundle = %id, "transfer failed: {reason}");
                        self.sent(now, link, id, false)?;
                    }
                }
                Upcall::Closed(why) => {
                    tracing::info!(link, "session closed: {why:?}");
                    self.sessions.remove(&link);
                    let lost: Vec<(u64, BundleId)> = self
                        .transfers
                        .iter()
                        .filter(|((l, _), _)| *l == link)
                        .map(|((_, t), id)| (*t, id.clone()))
                        .collect();
                    for (t, id) in lost {
                        self.transfers.remove(&(link, t));
                        self.sent(now, link, id, false)?;
                    }
                    // Handed to the session but never queued there: not sent either.
                    let unqueued: Vec<u64> = self
                        .queued
                        .iter()
                        .filter(|(_, (l, _))| *l == link)
                        .map(|(t, _)| *t)
                        .collect();
                    for tag in unqueued {
                        if let Some((_, id)) = self.queued.remove(&tag) {
                            self.sent(now, link, id, false)?;
                        }
                    }
                    self.agent.handle(now, Event::LinkDown { link })?;
                }
            },
            CoreMsg::Submit { bytes, reply } => {
                let token = self.token(Origin::Api(reply));
                self.agent.handle(now, Event::AppSubmit { bytes, token })?;
            }
            CoreMsg::Register { endpoint } => {
                // Passive: bundles wait in the store, durable, until the application fetches.
                self.agent.handle(
                    now,
                    Event::Register(Registration {
                        endpoint,
                        mode: DeliveryMode::Passive,
                    }),
                )?;
            }
            CoreMsg::Fetch { endpoint, reply } => {
                let taken = self.agent.take_delivery(now, &endpoint)?;
                let _ = reply.send(taken.map(|(_, payload)| payload));
            }
            CoreMsg::Bundles { reply } => {
                let records = self.agent.store().records()?;
                let list: Vec<serde_json::Value> = records
                    .iter()
                    .map(|r| {
                        serde_json::json!({
                            "id": r.id.to_string(),
                            "destination": r.destination.to_string(),
                            "size": r.size,
                            "received_at_ms": r.received_at.0,
                            "expires_at_ms": r.expires_at.0,
                            "waiting_for": if r.retention.has(Retention::DISPATCH_PENDING) { "delivery" } else { "forwarding" },
                            "log": self.agent.store().log_for(&r.id).unwrap_or_default().iter().map(|e| format!("{:?}", e.event)).collect::<Vec<_>>(),
                        })
                    })
                    .collect();
                let _ = reply.send(serde_json::Value::Array(list));
            }
            CoreMsg::Status { reply } => {
                let u = self.agent.store().usage();
                let _ = reply.send(serde_json::json!({
                    "node_id": self.node_id.to_string(),
                    "sessions": self.sessions.len(),
                    "udp_peers": self.udp_peers.len(),
                    "stored_bundles": u.bundles,
                    "stored_bytes": u.bytes,
                    "quota_bytes": u.quota,
                }));
            }
            CoreMsg::Datagram { from, bytes } => {
                let link = self
                    .udp_peers
                    .iter()
                    .find(|(_, a)| **a == from)
                    .map_or(0, |(l, _)| *l);
                let token = self.token(Origin::Datagram);
                self.agent
                    .handle(now, Event::Received { link, bytes, token })?;
            }
            CoreMsg::Tick => self.agent.handle(now, Event::Timer)?,
        }
        Ok(())
    }

    /// Tells the agent how a transmission ended.
    fn sent(
        &mut self,
        now: bundle_agent::wire::DtnTime,
        link: LinkId,
        id: BundleId,
        ok: bool,
    ) -> Result<()> {
        self.agent.handle(now, Event::Sent { link, id, ok })?;
        Ok(())
    }

    async fn act(&mut self) {
        while let Some(action) = self.agent.poll_action() {
            match action {
                Action::Accept { token } => match self.origins.remove(&token) {
                    Some(Origin::Session { link, transfer_id }) => {
                        if let Some(s) = self.sessions.get(&link) {
                            let _ = s.send(Command::Accept(transfer_id)).await;
                        }
                    }
                    Some(Origin::Api(reply)) => {
                        let _ = reply.send(Ok(format!("token {token}")));
                    }
                    Some(Origin::Datagram) | None => {}
                },
                Action::Refuse { token, cause } => {
                    let why = match &cause {
                        RefuseCause::Malformed(e) => e.to_string(),
                        RefuseCause::StoreFull => "store full".to_string(),
                    };
                    tracing::info!(token, "bundle refused: {why}");
                    match self.origins.remove(&token) {
                        Some(Origin::Session { link, transfer_id }) => {
                            let reason = match cause {
                                RefuseCause::StoreFull => RefuseReason::NoResources,
                                RefuseCause::Malformed(_) => RefuseReason::NotAcceptable,
                            };
                            if let Some(s) = self.sessions.get(&link) {
                                let _ = s.send(Command::Refuse(transfer_id, reason)).await;
                            }
                        }
                        Some(Origin::Api(reply)) => {
                            let _ = reply.send(Err(why));
                        }
                        Some(Origin::Datagram) | None => {}
                    }
                }
                Action::Transmit { link, id, bytes } if self.udp_peers.contains_key(&link) => {
                    let ok = match (&self.udp, self.udp_peers.get(&link)) {
                        (Some(socket), Some(addr)) => match socket.send(*addr, &bytes).await {
                            Ok(()) => true,
                            Err(e) => {
                                tracing::warn!(link, bundle = %id, "UDP send: {e}");
                                false
                            }
                        },
                        _ => false,
                    };
                    // UDP acknowledges nothing: handed to the socket is sent.
                    if let Err(e) = self.sent(dtn_now(), link, id, ok) {
                        tracing::error!("store: {e:#}");
                    }
                }
                Action::Transmit { link, id, bytes } => {
                    let tag = self.next_token;
                    self.next_token += 1;
                    let delivered_to_session = match self.sessions.get(&link) {
                        Some(s) => s.send(Command::Send { tag, bundle: bytes }).await.is_ok(),
                        None => false,
                    };
                    if delivered_to_session {
                        self.queued.insert(tag, (link, id));
                    } else if let Err(e) = self.sent(dtn_now(), link, id, false) {
                        tracing::error!("store: {e:#}");
                    }
                }
                Action::Deliver {
                    endpoint,
                    id,
                    payload,
                } => {
                    // Only active registrations produce this; the API registers passively.
                    tracing::info!(bundle = %id, %endpoint, bytes = payload.len(), "delivered");
                }
            }
        }
    }
}

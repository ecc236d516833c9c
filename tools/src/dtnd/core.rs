//! The core task: owns the agent and its store, and turns agent actions into session
//! commands and API replies.

use std::collections::BTreeMap;

use anyhow::Result;
use bundle_agent::agent::{
    Action, Agent, AgentConfig, Event, LinkId, RefuseCause, Router, MAX_LINK_WINDOW,
};
use bundle_agent::store::{BundleStore, DeliveryMode, Registration, RocksStore};
use bundle_agent::wire::{BundleId, DecodeOptions, DtnTime, Eid};
use tokio::sync::{mpsc, oneshot};
use transports::tcpcl::connection::{Command, Upcall};
use transports::tcpcl::RefuseReason;

use std::net::SocketAddr;

use transports::udp::UdpLink;

use crate::cli_io::dtn_now;

/// Most payload bytes one fetch takes out of the store (one payload always goes, however
/// large), so a batch of big bundles does not sit in memory all at once.
const FETCH_MAX_BYTES: usize = 16 << 20;

/// Messages to the core.
#[derive(Debug)]
pub enum CoreMsg {
    /// A session came up; commands for it go to `commands`.
    SessionUp {
        /// The link number.
        link: LinkId,
        /// Its command channel.
        commands: mpsc::Sender<Command>,
        /// The peer's address.
        addr: SocketAddr,
        /// True when we connected (active), false when the peer did.
        outbound: bool,
        /// The convergence layer: "tcpcl" or "quic".
        cl: &'static str,
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
        /// Ok once durable, or the refusal.
        reply: oneshot::Sender<Result<(), String>>,
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
        /// Most payloads to take at once.
        max: usize,
        /// The payloads waiting, oldest first (empty when none).
        reply: oneshot::Sender<Vec<bytes::Bytes>>,
    },
    /// Lend the payloads waiting for an endpoint to a push subscriber (two-phase delivery);
    /// when none wait, the request is answered once some arrive.
    Lend {
        /// The endpoint.
        endpoint: Eid,
        /// Most payloads to lend at once.
        max: usize,
        /// The bundles and their payloads, oldest first (never empty).
        reply: oneshot::Sender<Lent>,
    },
    /// What a push subscriber did with what it was lent: written to the application
    /// (delivered), or not (waits again).
    Confirm {
        /// The endpoint.
        endpoint: Eid,
        /// Written to the application.
        delivered: Vec<BundleId>,
        /// Not written.
        given_back: Vec<BundleId>,
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
    /// One bundle in detail, as JSON; `None` when unknown.
    Show {
        /// The bundle.
        id: BundleId,
        /// The reply.
        reply: oneshot::Sender<Option<serde_json::Value>>,
    },
    /// The status reports about a bundle stored here, as JSON.
    Reports {
        /// The bundle reported on.
        id: BundleId,
        /// The reply.
        reply: oneshot::Sender<serde_json::Value>,
    },
    /// Delete a stored bundle; true when it was deleted.
    Delete {
        /// The bundle.
        id: BundleId,
        /// The reply.
        reply: oneshot::Sender<bool>,
    },
    /// The links to peers, as JSON.
    Peers {
        /// The reply.
        reply: oneshot::Sender<serde_json::Value>,
    },
    /// Copy current counts into the metrics recorder, then reply.
    Metrics {
        /// The reply.
        reply: oneshot::Sender<()>,
    },
    /// A timer of a datagram layer (LTP, Ethernet) is due, or a bundle the agent holds is due
    /// to be stored.
    TimerDue,
    /// Frames arrived on the Ethernet layer's socket.
    EtherFrames(Vec<Vec<u8>>),
    /// Discovery found a peer on this node's Ethernet LAN: a link to it.
    EtherFound {
        /// The link number for it.
        link: LinkId,
        /// Its node ID.
        node: Eid,
        /// Its MAC.
        mac: transports::ether::frame::Mac,
    },
    /// Discovery found a peer it reaches by no other layer: a link over libp2p.
    P2pFound {
        /// The link number for it.
        link: LinkId,
        /// Its node ID.
        node: Eid,
        /// Its libp2p peer ID.
        peer: String,
    },
    /// A bundle arrived over libp2p, or a transmission over it ended.
    Carried(transports::discovery::Carried),
    /// Discovery found a peer and dials TCPCL at `addr`.
    Discovered {
        /// The address dialled.
        addr: SocketAddr,
    },
    /// A contact to an LTP peer began (with its one-way light time and rate) or ended.
    LtpContact {
        /// The peer's node ID.
        node: Eid,
        /// `Some((owlt_ms, bytes per second))` while in contact.
        contact: Option<(u64, u64)>,
    },
    /// A datagram arrived on the LTP socket.
    LtpDatagram {
        /// Its sender.
        from: SocketAddr,
        /// The segment.
        bytes: Vec<u8>,
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
    /// A scheduled contact ended: close the sessions this node opened to `addr`.
    Disconnect {
        /// The neighbour's address.
        addr: SocketAddr,
    },
    /// Route with a new router from now on (a contact plan was reloaded).
    SetRouter {
        /// The router.
        router: Box<dyn Router>,
        /// Answered once it is in force.
        reply: oneshot::Sender<()>,
    },
    /// Explain how a bundle would be routed, as JSON.
    Explain {
        /// Its destination.
        destination: Eid,
        /// Its size in bytes.
        size: u64,
        /// When it would be sent (default now).
        at: Option<DtnTime>,
        /// Until when it may arrive.
        deadline: DtnTime,
        /// The reply.
        reply: oneshot::Sender<serde_json::Value>,
    },
    /// The contacts the router plans with, as JSON.
    Contacts {
        /// The reply.
        reply: oneshot::Sender<serde_json::Value>,
    },
    /// Every twin, as JSON.
    TwinList {
        /// The reply.
        reply: oneshot::Sender<serde_json::Value>,
    },
    /// A twin's fields, as JSON; `None` when there is no such twin.
    TwinGet {
        /// The twin.
        name: String,
        /// The reply.
        reply: oneshot::Sender<Option<serde_json::Value>>,
    },
    /// Local edits to a twin; answered once they are durable.
    TwinEdit {
        /// The twin.
        name: String,
        /// The edits, applied all or none.
        edits: Vec<crdt_store::Edit>,
        /// The change, or the status and reason of the refusal.
        reply: oneshot::Sender<TwinReply>,
    },
    /// A blob request from the API.
    Blob {
        /// What.
        req: super::blob_sync::BlobRequest,
        /// The answer.
        reply: oneshot::Sender<super::blob_sync::BlobReply>,
    },
    /// A twin's history, as JSON.
    TwinHistory {
        /// The twin.
        name: String,
        /// Most entries.
        limit: usize,
        /// The reply.
        reply: oneshot::Sender<TwinReply>,
    },
}

/// A twin API answer: JSON, or the HTTP status and reason of a refusal.
pub type TwinReply = Result<serde_json::Value, (axum::http::StatusCode, String)>;

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
    Api(oneshot::Sender<Result<(), String>>),
    /// UDP has nothing to acknowledge.
    Datagram,
    /// An LTP block: its sender hears it arrived once it is durable.
    Ltp(transports::ltp::segment::SessionId),
    /// An Ethernet transfer: its sender hears it arrived once it is durable.
    Ether {
        from: transports::ether::frame::Mac,
        transfer: u64,
    },
    /// A bundle over libp2p: its sender hears it arrived once it is durable.
    P2p(u64),
    /// Made by this node (echo replies).
    Internal,
}

/// What the API shows of a TCPCL session.
#[derive(Debug, Clone)]
struct SessionInfo {
    addr: SocketAddr,
    outbound: bool,
    cl: &'static str,
    since_ms: u64,
    negotiated: Option<transports::tcpcl::Negotiated>,
}

/// How the core is set up.
#[derive(Debug)]
pub struct CoreSetup {
    /// This node's ID.
    pub node_id: Eid,
    /// The router: static routes, or contact graph routing over a plan.
    pub router: Box<dyn Router>,
    /// Lenient decoding.
    pub lenient: bool,
    /// The UDP convergence layer.
    pub udp: Option<UdpLinks>,
    /// Twin sync.
    pub twins: crdt_store::ServiceConfig,
    /// Where twin changes go for watchers.
    pub twin_changes: tokio::sync::broadcast::Sender<serde_json::Value>,
    /// Blobs: settings and the directory of the blob store.
    pub blobs: (super::blob_config::BlobConfig, std::path::PathBuf),
    /// The LTP convergence layer.
    pub ltp: Option<super::ltp_link::LtpLinks>,
    /// The Ethernet convergence layer.
    pub ether: Option<super::ether_link::EtherLinks>,
    /// Bundles over libp2p, for peers discovery reaches no other way.
    pub p2p: Option<super::p2p_link::P2pLinks>,
}

/// Bundles lent to a push subscriber, with their payloads, oldest first.
pub type Lent = Vec<(BundleId, bytes::Bytes)>;

/// A push subscriber's request to lend it payloads, parked until some arrive.
struct Parked {
    endpoint: Eid,
    max: usize,
    reply: oneshot::Sender<Lent>,
}

struct Core {
    agent: Agent<RocksStore>,
    node_id: Eid,
    echo: Eid,
    echo_sequence: u64,
    /// At most one per push subscriber.
    parked: Vec<Parked>,
    sessions: BTreeMap<LinkId, mpsc::Sender<Command>>,
    session_info: BTreeMap<LinkId, SessionInfo>,
    next_token: u64,
    origins: BTreeMap<u64, Origin>,
    /// Our transmissions: tag -> (link, bundle); then transfer ID -> bundle.
    queued: BTreeMap<u64, (LinkId, BundleId)>,
    transfers: BTreeMap<(LinkId, u64), BundleId>,
    udp: Option<UdpLink>,
    udp_peers: BTreeMap<LinkId, SocketAddr>,
    twins: super::twin_sync::TwinSync,
    blobs: super::blob_sync::BlobSync,
    ltp: Option<super::ltp_link::LtpLinks>,
    ether: Option<super::ether_link::EtherLinks>,
    p2p: Option<super::p2p_link::P2pLinks>,
    /// Addresses discovery dialled.
    discovered: std::collections::BTreeSet<SocketAddr>,
    /// Bundles received, forwarded and delivered as of the last tick, and whether the
    /// allocator has been trimmed since bundles last moved.
    activity: (u64, bool),
}

/// Runs the core until every sender is gone.
pub async fn run(
    setup: CoreSetup,
    store: RocksStore,
    mut rx: mpsc::Receiver<CoreMsg>,
) -> Result<()> {
    let CoreSetup {
        node_id,
        router,
        lenient,
        udp,
        twins,
        twin_changes,
        blobs,
        ltp,
        ether,
        p2p,
    } = setup;
    let decode = if lenient {
        DecodeOptions::lenient()
    } else {
        DecodeOptions::default()
    };
    let mut agent = Agent::new(
        AgentConfig {
            node_id: node_id.clone(),
            decode,
        },
        store,
        router,
    )?;
    let twins = super::twin_sync::TwinSync::open(twins, agent.store_mut(), twin_changes)?;
    let blobs = super::blob_sync::BlobSync::open(blobs.0, &node_id, &blobs.1, dtn_now())?;
    let echo = super::echo::endpoint(&node_id);
    let mut core = Core {
        agent,
        node_id,
        echo: echo.clone(),
        echo_sequence: 0,
        parked: Vec::new(),
        sessions: BTreeMap::new(),
        session_info: BTreeMap::new(),
        next_token: 1,
        origins: BTreeMap::new(),
        queued: BTreeMap::new(),
        transfers: BTreeMap::new(),
        udp: None,
        udp_peers: BTreeMap::new(),
        twins,
        blobs,
        ltp: None,
        ether: None,
        p2p,
        discovered: std::collections::BTreeSet::new(),
        activity: (0, true),
    };
    // The echo service answers as soon as a request is delivered (an active registration).
    core.agent.handle(
        dtn_now(),
        Event::Register(Registration {
            endpoint: echo,
            mode: DeliveryMode::Active,
        }),
    )?;
    for endpoint in [core.twins.endpoint().clone(), core.blobs.endpoint().clone()] {
        core.agent.handle(
            dtn_now(),
            Event::Register(Registration {
                endpoint,
                mode: DeliveryMode::Active,
            }),
        )?;
    }
    core.agent.commit()?;
    core.act().await;
    if let Some(l) = ltp {
        let limit = l.max_block();
        for info in l.links().into_iter().filter(|i| i.up) {
            let window = info.window_bytes();
            core.link_up(info.link, info.node, limit)?;
            core.agent
                .set_link_window(dtn_now(), info.link, MAX_LINK_WINDOW, window)?;
        }
        core.ltp = Some(l);
        core.act().await;
    }
    if let Some(e) = ether {
        let peers: Vec<(LinkId, Eid)> = e.peers().map(|(l, n, _, _)| (l, n.clone())).collect();
        for (link, node) in peers {
            core.link_up(link, node, e.max_bundle)?;
        }
        core.ether = Some(e);
        core.act().await;
    }
    if let Some(u) = udp {
        let limit = u.socket.max_datagram() as u64;
        core.udp = Some(u.socket);
        for (link, peer, addr) in u.peers {
            core.udp_peers.insert(link, addr);
            core.link_up(link, peer, limit)?;
            // A datagram is answered by nothing: "sent" means handed to the socket.
            core.agent.set_link_unacknowledged(link);
        }
        core.act().await;
    }
    loop {
        // With blob shards still to hand out, do not wait for a message: take what is there
        // and go on (the shards go out a batch per round, between the node's other work).
        let first = if core.blobs.has_outgoing() {
            match rx.try_recv() {
                Ok(m) => Some(m),
                Err(mpsc::error::TryRecvError::Empty) => {
                    tokio::task::yield_now().await;
                    None
                }
                Err(mpsc::error::TryRecvError::Disconnected) => break,
            }
        } else {
            // LTP's and the Ethernet layer's timers are due at their own times, not only at
            // the one-second tick, and so are the bundles the agent holds unacknowledged.
            let ltp_due = core.ltp.as_ref().and_then(|l| l.next_timeout());
            let ether_due = core.ether.as_ref().and_then(|e| e.next_timeout());
            let held_due = core.agent.held_due().map(|d| d.0);
            match ltp_due.into_iter().chain(ether_due).chain(held_due).min() {
                Some(due) => {
                    let wait = std::time::Duration::from_millis(due.saturating_sub(dtn_now().0));
                    tokio::select! {
                        m = rx.recv() => match m {
                            Some(m) => Some(m),
                            None => break,
                        },
                        _ = tokio::time::sleep(wait) => Some(CoreMsg::TimerDue),
                    }
                }
                None => match rx.recv().await {
                    Some(m) => Some(m),
                    None => break,
                },
            }
        };
        if let Some(first) = first {
            core.handle(first).await?;
        }
        // Group commit: everything already waiting joins this batch.
        for _ in 0..256 {
            match rx.try_recv() {
                Ok(m) => core.handle(m).await?,
                Err(_) => break,
            }
        }
        // Transmissions and deliveries go out before the sync: nothing is acknowledged until
        // the commit below, so a crash in between makes the sender retransmit, and the copy
        // that already went on is suppressed downstream as a duplicate. This keeps the sync
        // off the forwarding path.
        core.act().await;
        // Push subscribers get what arrived for them before the sync too: delivery to them
        // is at least once (a crash before the commit has the sender retransmit), and the
        // sync stays off the delivery path as well.
        core.serve_parked()?;
        core.agent.commit()?;
        // Twin edits are answered, and twin deltas and acknowledgements made, only once what
        // they report is durable: an acknowledged delta is never lost to a crash.
        let deltas = core.twins.after_commit(dtn_now());
        core.submit_internal(deltas);
        let shards = core.blobs.bundles(dtn_now());
        core.submit_internal(shards);
        core.act().await;
        core.serve_parked()?;
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
            CoreMsg::SessionUp {
                link,
                commands,
                addr,
                outbound,
                cl,
            } => {
                self.sessions.insert(link, commands);
                self.session_info.insert(
                    link,
                    SessionInfo {
                        addr,
                        outbound,
                        cl,
                        since_ms: now.0,
                        negotiated: None,
                    },
                );
            }
            CoreMsg::Session { link, up } => match up {
                Upcall::Established(n) => match self.established(link, now, &n) {
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
                        self.command_session(
                            link,
                            Command::Close(transports::tcpcl::TermReason::ContactFailure),
                        );
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
                    self.session_info.remove(&link);
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
            CoreMsg::Fetch {
                endpoint,
                max,
                reply,
            } => {
                let taken: Vec<bytes::Bytes> = self
                    .agent
                    .take_deliveries(now, &endpoint, max, FETCH_MAX_BYTES)?
                    .into_iter()
                    .map(|(_, payload)| payload)
                    .collect();
                if !taken.is_empty() {
                    // The removals are durable (one sync for the lot) before the payloads
                    // leave, so a crash cannot hand a bundle to the application twice.
                    self.agent.sync()?;
                }
                let _ = reply.send(taken);
            }
            CoreMsg::Lend {
                endpoint,
                max,
                reply,
            } => {
                // Answered now if payloads wait, else parked until some arrive.
                self.parked.push(Parked {
                    endpoint,
                    max,
                    reply,
                });
                self.serve_parked()?;
            }
            CoreMsg::Confirm {
                endpoint,
                delivered,
                given_back,
            } => {
                for id in delivered {
                    self.agent.confirm_delivery(now, &endpoint, &id)?;
                }
                for id in given_back {
                    self.agent.give_back(&id);
                }
            }
            CoreMsg::Bundles { reply } => {
                let _ = reply.send(super::views::bundle_list(self.agent.store())?);
            }
            CoreMsg::Show { id, reply } => {
                let decode = DecodeOptions::lenient();
                let _ = reply.send(super::views::bundle_show(self.agent.store(), &id, &decode)?);
            }
            CoreMsg::Reports { id, reply } => {
                let decode = DecodeOptions::lenient();
                let _ = reply.send(super::views::reports_about(
                    self.agent.store(),
                    &id,
                    &decode,
                )?);
            }
            CoreMsg::Delete { id, reply } => {
                let deleted = self.agent.delete(now, &id)?;
                if deleted {
                    tracing::info!(bundle = %id, "deleted by the operator");
                }
                let _ = reply.send(deleted);
            }
            CoreMsg::Peers { reply } => {
                let _ = reply.send(self.peers());
            }
            CoreMsg::Metrics { reply } => {
                super::metrics::record(
                    self.agent.stats(),
                    &self.agent.store().usage(),
                    self.sessions.len(),
                    self.udp_peers.len(),
                );
                let _ = reply.send(());
            }
            CoreMsg::Status { reply } => {
                let u = self.agent.store().usage();
                let _ = reply.send(serde_json::json!({
                    "node_id": self.node_id.to_string(),
                    "sessions": self.sessions.len(),
                    "udp_peers": self.udp_peers.len(),
                    "echo_endpoint": self.echo.to_string(),
                    "stats": {
                        "received": self.agent.stats().received,
                        "delivered": self.agent.stats().delivered,
                        "delivered_unstored": self.agent.stats().delivered_unstored,
                        "forwarded_unstored": self.agent.stats().forwarded_unstored,
                        "held_then_stored": self.agent.stats().held_then_stored,
                        "forwarded": self.agent.stats().forwarded,
                        "expired": self.agent.stats().expired,
                        "refused": self.agent.stats().refused,
                        "duplicates": self.agent.stats().duplicates,
                    },
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
            CoreMsg::LtpContact { node, contact } => {
                if let Some(l) = self.ltp.as_mut() {
                    let limit = l.max_block();
                    let changed = l.contact(now.0, &node, contact);
                    let links = l.links();
                    for (link, peer, up) in changed {
                        tracing::info!(link, %peer, up, "LTP contact");
                        if up {
                            self.link_up(link, peer, limit)?;
                            if let Some(info) = links.iter().find(|i| i.link == link) {
                                self.agent.set_link_window(
                                    now,
                                    link,
                                    MAX_LINK_WINDOW,
                                    info.window_bytes(),
                                )?;
                            }
                        } else {
                            self.agent.handle(now, Event::LinkDown { link })?;
                        }
                    }
                }
            }
            CoreMsg::TimerDue => {
                if let Some(l) = self.ltp.as_mut() {
                    let outs = l.tick(now.0);
                    self.ltp_outcomes(now, outs)?;
                }
                if let Some(e) = self.ether.as_mut() {
                    let outs = e.tick(now.0);
                    self.ether_outcomes(now, outs)?;
                }
                if self.agent.held_due().is_some_and(|due| due <= now) {
                    self.agent.handle(now, Event::Timer)?;
                }
            }
            CoreMsg::EtherFound { link, node, mac } => {
                if let Some(e) = self.ether.as_mut() {
                    if !e.peers().any(|(_, n, m, _)| *n == node && *m == mac) {
                        e.add_peer(link, node.clone(), mac, "mDNS");
                        let limit = e.max_bundle;
                        self.link_up(link, node, limit)?;
                    }
                }
            }
            CoreMsg::Discovered { addr } => {
                self.discovered.insert(addr);
            }
            CoreMsg::P2pFound { link, node, peer } => {
                let added = self
                    .p2p
                    .as_mut()
                    .is_some_and(|p| p.add_peer(link, node.clone(), peer));
                if added {
                    self.link_up(link, node, super::p2p_link::MAX_BUNDLE)?;
                }
            }
            CoreMsg::Carried(c) => self.carried(now, c)?,
            CoreMsg::EtherFrames(frames) => {
                if let Some(e) = self.ether.as_mut() {
                    let outs = e.frames(now.0, frames);
                    self.ether_outcomes(now, outs)?;
                }
            }
            CoreMsg::LtpDatagram { from, bytes } => {
                if let Some(l) = self.ltp.as_mut() {
                    let outs = l.datagram(now.0, from, bytes);
                    self.ltp_outcomes(now, outs)?;
                }
            }
            CoreMsg::Tick => {
                if let Some(l) = self.ltp.as_mut() {
                    let outs = l.tick(now.0);
                    self.ltp_outcomes(now, outs)?;
                }
                if let Some(e) = self.ether.as_mut() {
                    let outs = e.tick(now.0);
                    self.ether_outcomes(now, outs)?;
                }
                self.blobs.tick(now);
                self.agent.handle(now, Event::Timer)?;
                self.trim_when_idle();
            }
            CoreMsg::Blob { req, reply } => {
                let _ = reply.send(self.blobs.request(now, req));
            }
            CoreMsg::Disconnect { addr } => {
                let links: Vec<LinkId> = self
                    .session_info
                    .iter()
                    .filter(|(_, s)| s.outbound && s.addr == addr)
                    .map(|(l, _)| *l)
                    .collect();
                for link in links {
                    self.command_session(
                        link,
                        Command::Close(transports::tcpcl::TermReason::Unknown),
                    );
                }
            }
            CoreMsg::SetRouter { router, reply } => {
                self.agent.set_router(now, router)?;
                let _ = reply.send(());
            }
            CoreMsg::Explain {
                destination,
                size,
                at,
                deadline,
                reply,
            } => {
                let at = at.unwrap_or(now);
                let e = self.agent.explain(at, &destination, size, deadline);
                let _ = reply.send(super::views::explanation(&e, &destination, size, at));
            }
            CoreMsg::Contacts { reply } => {
                let _ = reply.send(super::views::contacts(&self.agent.contacts(), now));
            }
            CoreMsg::TwinList { reply } => {
                let _ = reply.send(self.twins.list());
            }
            CoreMsg::TwinGet { name, reply } => {
                let _ = reply.send(self.twins.get(&name));
            }
            CoreMsg::TwinEdit { name, edits, reply } => {
                self.twins
                    .edit(now, self.agent.store_mut(), &name, &edits, reply);
            }
            CoreMsg::TwinHistory { name, limit, reply } => {
                let _ = reply.send(self.twins.history(self.agent.store(), &name, limit));
            }
        }
        Ok(())
    }

    /// Tells the agent a datagram link (UDP, LTP) is up, taking bundles up to `limit` bytes.
    fn link_up(&mut self, link: LinkId, peer: Eid, limit: u64) -> Result<()> {
        self.agent.handle(
            dtn_now(),
            Event::LinkUp {
                link,
                peer,
                max_bundle_size: Some(limit),
            },
        )?;
        Ok(())
    }

    /// Notes what a session negotiated; returns the peer's node ID.
    fn established(
        &mut self,
        link: LinkId,
        now: bundle_agent::wire::DtnTime,
        n: &transports::tcpcl::Negotiated,
    ) -> Result<Eid, bundle_agent::wire::EidError> {
        if let Some(info) = self.session_info.get_mut(&link) {
            info.negotiated = Some(n.clone());
            info.since_ms = now.0;
        }
        n.peer_node_id.parse::<Eid>()
    }

    /// The links to peers: TCPCL and QUIC sessions, LTP and UDP peers.
    fn peers(&self) -> serde_json::Value {
        let mut out = Vec::new();
        for (link, info) in &self.session_info {
            let n = info.negotiated.as_ref();
            out.push(serde_json::json!({
                "link": link,
                "convergence_layer": info.cl,
                "address": info.addr.to_string(),
                "direction": if info.outbound { "outbound" } else { "inbound" },
                "node_id": n.map(|n| n.peer_node_id.clone()),
                "state": if n.is_some() { "established" } else { "negotiating" },
                "tls": n.is_some_and(|n| n.tls),
                "node_id_authenticated": n.map(|n| format!("{:?}", n.node_id_auth)),
                "keepalive_secs": n.map(|n| n.keepalive_secs),
                "segment_mru": n.map(|n| n.send_segment).filter(|s| *s > 0),
                "transfer_mru": n.map(|n| n.peer_transfer_mru),
                "since_ms": info.since_ms,
                "found_by": match (info.outbound, self.discovered.contains(&info.addr)) {
                    (true, true) => "mDNS",
                    (true, false) => "static peer",
                    (false, _) => "accepted",
                },
            }));
        }
        if let Some(l) = &self.ltp {
            let dropped = l
                .counters
                .dropped
                .load(std::sync::atomic::Ordering::Relaxed);
            let (malformed, timed_out, data_bytes, redundant_bytes) = l.engine_counters();
            for i in l.links() {
                out.push(serde_json::json!({
                    "link": i.link,
                    "convergence_layer": "ltp",
                    "address": i.addr.to_string(),
                    "node_id": i.node.to_string(),
                    "engine": i.engine,
                    "state": if i.up { "in contact" } else { "waiting for a contact" },
                    "color": if i.green { "green" } else { "red" },
                    "owlt_ms": i.owlt_ms,
                    "rate": i.rate,
                    "ltp_data_bytes_sent": data_bytes,
                    "ltp_redundant_bytes_sent": redundant_bytes,
                    "ltp_loss_ppm": l.loss_ppm(i.engine),
                    "ltp_segments_dropped_queue_full": dropped,
                    "ltp_segments_malformed": malformed,
                    "ltp_sessions_timed_out": timed_out,
                    "found_by": if i.scheduled { "contact plan" } else { "static peer" },
                }));
            }
        }
        if let Some(e) = &self.ether {
            let c = e.link_counters();
            let dropped = e
                .counters
                .dropped
                .load(std::sync::atomic::Ordering::Relaxed);
            for (link, node, mac, found_by) in e.peers() {
                out.push(serde_json::json!({
                    "link": link,
                    "convergence_layer": "ether",
                    "address": super::ether_link::mac_text(mac),
                    "interface": e.interface,
                    "socket": e.path,
                    "node_id": node.to_string(),
                    "state": "configured",
                    "max_bundle_size": e.max_bundle,
                    "ether_frames_resent": c.resent,
                    "ether_frames_malformed": c.malformed,
                    "ether_frames_dropped": c.dropped + dropped,
                    "ether_transfers_timed_out": c.timed_out,
                    "found_by": found_by,
                }));
            }
        }
        if let Some(p) = &self.p2p {
            for (link, node, peer) in p.peers() {
                out.push(serde_json::json!({
                    "link": link,
                    "convergence_layer": "libp2p",
                    "address": peer,
                    "node_id": node.to_string(),
                    "state": "configured",
                    "max_bundle_size": super::p2p_link::MAX_BUNDLE,
                    "in_flight": p.in_flight(link),
                    "found_by": "mDNS",
                }));
            }
        }
        for (link, addr) in &self.udp_peers {
            out.push(serde_json::json!({
                "link": link,
                "convergence_layer": "udp",
                "address": addr.to_string(),
                "node_id": self.agent.link_peer(*link).map(ToString::to_string),
                "state": "configured",
                "max_bundle_size": self.udp.as_ref().map(UdpLink::max_datagram),
                "found_by": "static peer",
            }));
        }
        serde_json::Value::Array(out)
    }

    /// Once a second of no bundle traffic follows some, hands the allocator's free memory
    /// back to the kernel: under load the allocator keeps it for the next buffers
    /// (`malloc`), and an idle daemon should not sit on it.
    fn trim_when_idle(&mut self) {
        let s = self.agent.stats();
        let moved = s.received + s.forwarded + s.delivered;
        let (before, trimmed) = self.activity;
        if moved != before {
            self.activity = (moved, false);
        } else if !trimmed {
            super::malloc::trim();
            self.activity = (moved, true);
        }
    }

    /// Lends what waits for parked push subscribers; the others stay parked, and those whose
    /// subscriber left are dropped.
    fn serve_parked(&mut self) -> Result<()> {
        for p in std::mem::take(&mut self.parked) {
            if p.reply.is_closed() {
                continue;
            }
            if !self.agent.has_waiting(&p.endpoint) {
                self.parked.push(p);
                continue;
            }
            let lent = self
                .agent
                .lend_deliveries(&p.endpoint, p.max, FETCH_MAX_BYTES)?;
            if let Err(lent) = p.reply.send(lent) {
                for (id, _) in lent {
                    self.agent.give_back(&id);
                }
            }
        }
        Ok(())
    }

    /// Hands a command to a session without waiting: the core must never block on a session
    /// that is itself blocked handing upcalls to the core. The channel has room for the
    /// agent's whole link window plus the acknowledgements of received transfers; should it
    /// still be full, the session is closed (its transfers fail and are retried on the next
    /// session) rather than the core stalling. False when the command was not delivered.
    fn command_session(&mut self, link: LinkId, command: Command) -> bool {
        let Some(s) = self.sessions.get(&link) else {
            return false;
        };
        match s.try_send(command) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Closed(_)) => false,
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::error!(link, "session command queue full: closing the session");
                // No more commands go to it; the close waits for room off the core's path, and
                // the session's `Closed` upcall fails what it still held.
                if let Some(s) = self.sessions.remove(&link) {
                    tokio::spawn(async move {
                        let _ = s
                            .send(Command::Close(
                                transports::tcpcl::TermReason::ResourceExhaustion,
                            ))
                            .await;
                    });
                }
                false
            }
        }
    }

    /// Hands what the LTP engine finished to the agent.
    fn ltp_outcomes(
        &mut self,
        now: bundle_agent::wire::DtnTime,
        outs: Vec<super::ltp_link::LtpOut>,
    ) -> Result<()> {
        for o in outs {
            match o {
                super::ltp_link::LtpOut::Received {
                    link,
                    bytes,
                    session,
                } => {
                    let token = self.token(Origin::Ltp(session));
                    self.agent
                        .handle(now, Event::Received { link, bytes, token })?;
                }
                super::ltp_link::LtpOut::Sent { link, id, ok } => self.sent(now, link, id, ok)?,
            }
        }
        Ok(())
    }

    /// Hands what the Ethernet layer finished to the agent.
    fn ether_outcomes(
        &mut self,
        now: bundle_agent::wire::DtnTime,
        outs: Vec<super::ether_link::EtherOut>,
    ) -> Result<()> {
        for o in outs {
            match o {
                super::ether_link::EtherOut::Received {
                    link,
                    bytes,
                    from,
                    transfer,
                } => {
                    let token = self.token(Origin::Ether { from, transfer });
                    self.agent
                        .handle(now, Event::Received { link, bytes, token })?;
                }
                super::ether_link::EtherOut::Sent { link, id, ok } => {
                    self.sent(now, link, id, ok)?
                }
            }
        }
        Ok(())
    }

    /// Hands what came over libp2p to the agent.
    fn carried(
        &mut self,
        now: bundle_agent::wire::DtnTime,
        c: transports::discovery::Carried,
    ) -> Result<()> {
        match c {
            transports::discovery::Carried::Bundle { peer, id, bytes } => {
                let link = self.p2p.as_ref().map_or(0, |p| p.link_of(&peer));
                let token = self.token(Origin::P2p(id));
                self.agent
                    .handle(now, Event::Received { link, bytes, token })?;
            }
            transports::discovery::Carried::Sent { tag, ok } => {
                if let Some((link, id)) = self.p2p.as_mut().and_then(|p| p.ended(tag)) {
                    self.sent(now, link, id, ok)?;
                }
            }
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
        loop {
            let echoes = self.act_once().await;
            if echoes.is_empty() {
                return;
            }
            // Echo replies go out at once; they become durable with the next group commit.
            self.submit_internal(echoes);
        }
    }

    /// Submits bundles made by this node (echo replies, twin deltas).
    fn submit_internal(&mut self, bundles: Vec<Vec<u8>>) {
        let now = dtn_now();
        for bytes in bundles {
            let token = self.token(Origin::Internal);
            if let Err(e) = self.agent.handle(now, Event::AppSubmit { bytes, token }) {
                tracing::error!("store: {e:#}");
            }
        }
    }

    /// Carries out the agent's actions; returns echo replies to submit.
    async fn act_once(&mut self) -> Vec<Vec<u8>> {
        let mut echoes = Vec::new();
        while let Some(action) = self.agent.poll_action() {
            match action {
                Action::Accept { token } => match self.origins.remove(&token) {
                    Some(Origin::Session { link, transfer_id }) => {
                        self.command_session(link, Command::Accept(transfer_id));
                    }
                    Some(Origin::Api(reply)) => {
                        let _ = reply.send(Ok(()));
                    }
                    Some(Origin::Ltp(session)) => {
                        let now = dtn_now();
                        if let Some(l) = self.ltp.as_mut() {
                            let outs = l.stored(now.0, session);
                            if let Err(e) = self.ltp_outcomes(now, outs) {
                                tracing::error!("store: {e:#}");
                            }
                        }
                    }
                    Some(Origin::Ether { from, transfer }) => {
                        if let Some(l) = self.ether.as_mut() {
                            l.stored(dtn_now().0, from, transfer);
                        }
                    }
                    Some(Origin::P2p(id)) => {
                        if let Some(p) = &self.p2p {
                            p.answer(id, true);
                        }
                    }
                    Some(Origin::Datagram | Origin::Internal) | None => {}
                },
                Action::Refuse { token, cause } => {
                    let why = match &cause {
                        RefuseCause::Malformed(e) => e.to_string(),
                        RefuseCause::StoreFull => super::api::STORE_FULL.to_string(),
                    };
                    tracing::info!(token, "bundle refused: {why}");
                    match self.origins.remove(&token) {
                        Some(Origin::Session { link, transfer_id }) => {
                            let reason = match cause {
                                RefuseCause::StoreFull => RefuseReason::NoResources,
                                RefuseCause::Malformed(_) => RefuseReason::NotAcceptable,
                            };
                            self.command_session(link, Command::Refuse(transfer_id, reason));
                        }
                        Some(Origin::Api(reply)) => {
                            let _ = reply.send(Err(why));
                        }
                        Some(Origin::Ltp(session)) => {
                            let now = dtn_now();
                            if let Some(l) = self.ltp.as_mut() {
                                let outs = l.refused(now.0, session);
                                if let Err(e) = self.ltp_outcomes(now, outs) {
                                    tracing::error!("store: {e:#}");
                                }
                            }
                        }
                        Some(Origin::Ether { from, transfer }) => {
                            let now = dtn_now();
                            if let Some(l) = self.ether.as_mut() {
                                let outs = l.refused(now.0, from, transfer);
                                if let Err(e) = self.ether_outcomes(now, outs) {
                                    tracing::error!("store: {e:#}");
                                }
                            }
                        }
                        Some(Origin::P2p(id)) => {
                            if let Some(p) = &self.p2p {
                                p.answer(id, false);
                            }
                        }
                        Some(Origin::Datagram | Origin::Internal) | None => {}
                    }
                }
                Action::Transmit { link, id, bytes }
                    if self.p2p.as_ref().is_some_and(|p| p.has_link(link)) =>
                {
                    let handed = self
                        .p2p
                        .as_mut()
                        .is_some_and(|p| p.transmit(link, id.clone(), bytes.to_vec()));
                    if !handed {
                        if let Err(e) = self.sent(dtn_now(), link, id, false) {
                            tracing::error!("store: {e:#}");
                        }
                    }
                }
                Action::Transmit { link, id, bytes }
                    if self.ltp.as_ref().is_some_and(|l| l.has_link(link)) =>
                {
                    let now = dtn_now();
                    let outs = match self.ltp.as_mut() {
                        Some(l) => l.transmit(now.0, link, id, bytes.to_vec()),
                        None => Vec::new(),
                    };
                    if let Err(e) = self.ltp_outcomes(now, outs) {
                        tracing::error!("store: {e:#}");
                    }
                }
                Action::Transmit { link, id, bytes }
                    if self.ether.as_ref().is_some_and(|e| e.has_link(link)) =>
                {
                    let now = dtn_now();
                    let outs = match self.ether.as_mut() {
                        Some(e) => e.transmit(now.0, link, id, bytes.to_vec()),
                        None => Vec::new(),
                    };
                    if let Err(e) = self.ether_outcomes(now, outs) {
                        tracing::error!("store: {e:#}");
                    }
                }
                Action::Transmit { link, id, bytes } if self.udp_peers.contains_key(&link) => {
                    let ok = match (&self.udp, self.udp_peers.get(&link)) {
                        (Some(socket), Some(addr)) => {
                            match socket.send(*addr, &bytes.to_vec()).await {
                                Ok(()) => true,
                                Err(e) => {
                                    tracing::warn!(link, bundle = %id, "UDP send: {e}");
                                    false
                                }
                            }
                        }
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
                    let delivered_to_session =
                        self.command_session(link, Command::Send { tag, bundle: bytes });
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
                } if endpoint == self.echo => {
                    self.echo_sequence += 1;
                    if let Some(bytes) = super::echo::reply(
                        &self.echo,
                        &id.source,
                        &payload,
                        dtn_now(),
                        self.echo_sequence,
                    ) {
                        echoes.push(bytes);
                    }
                }
                Action::Deliver {
                    endpoint,
                    id,
                    payload,
                } if &endpoint == self.twins.endpoint() => {
                    let now = dtn_now();
                    self.twins
                        .deliver(now, self.agent.store_mut(), &id, &payload);
                }
                Action::Deliver {
                    endpoint,
                    id,
                    payload,
                } if &endpoint == self.blobs.endpoint() => {
                    self.blobs.deliver(dtn_now(), &id, &payload);
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
        // The round's Ethernet "done"s go now, many to a frame.
        if let Some(l) = self.ether.as_mut() {
            let now = dtn_now();
            let outs = l.flush();
            if let Err(e) = self.ether_outcomes(now, outs) {
                tracing::error!("store: {e:#}");
            }
        }
        // The round's LTP transmissions are handed over: aggregated blocks go now.
        if let Some(l) = self.ltp.as_mut() {
            let now = dtn_now();
            let outs = l.flush(now.0);
            if let Err(e) = self.ltp_outcomes(now, outs) {
                tracing::error!("store: {e:#}");
            }
        }
        echoes
    }
}

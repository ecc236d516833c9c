//! The Ethernet convergence layer of `dtnd`: the sans-IO `transports::ether::link` over a
//! frame socket (AF_XDP, else AF_PACKET) on one interface. Each configured peer (node ID and
//! MAC) is a link to the agent, always up, as on a switched LAN. A bundle the agent transmits
//! on such a link is cut into frames; the agent hears it was sent only when the peer has
//! stored it, and a bundle that arrives whole is acknowledged only once the agent stored it,
//! so a crash in between never loses a bundle the sender counts as delivered.
//!
//! Two tasks sit at the socket: one receives frames in batches and hands each batch to the
//! core, one sends what the core's link produced, a batch per wakeup. Frames waiting to leave
//! are bounded; past the bound a batch is dropped and counted, and the link's
//! acknowledgements bring the frames back.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bundle_agent::agent::LinkId;
use bundle_agent::wire::{BundleId, Eid};
use tokio::sync::mpsc;
use transports::ether::frame::Mac;
use transports::ether::link::{Action, EtherConfig, EtherLink, Event};
use transports::ether::socket::FrameSocket;

use super::core::CoreMsg;

/// Batches of frames waiting to leave.
const MAX_QUEUED_BATCHES: usize = 1024;

/// Most frames taken from the socket per batch.
const RECV_BATCH: usize = 256;

/// What the Ethernet link finished, for the core to hand to the agent.
#[derive(Debug)]
pub enum EtherOut {
    /// A bundle arrived whole: store it, then say [`EtherLinks::stored`].
    Received {
        /// The link it came on (0 for a sender not configured).
        link: LinkId,
        /// The bundle.
        bytes: Vec<u8>,
        /// Its sender.
        from: Mac,
        /// Its transfer.
        transfer: u64,
    },
    /// A transmission ended.
    Sent {
        /// The link.
        link: LinkId,
        /// The bundle.
        id: BundleId,
        /// True when the peer stored it.
        ok: bool,
    },
}

/// Counters kept beside the link's own.
#[derive(Debug, Default)]
pub struct SocketCounters {
    /// Frames dropped because too many waited to leave.
    pub dropped: AtomicU64,
    /// Frames the socket failed to send.
    pub send_errors: AtomicU64,
    /// Frames received.
    pub received: AtomicU64,
}

/// The Ethernet layer as the core holds it.
#[derive(Debug)]
pub struct EtherLinks {
    link: EtherLink,
    frames: mpsc::Sender<Vec<Vec<u8>>>,
    peers: BTreeMap<LinkId, (Eid, Mac, &'static str)>,
    by_mac: BTreeMap<Mac, LinkId>,
    tags: BTreeMap<u64, (LinkId, BundleId)>,
    next_tag: u64,
    /// The interface.
    pub interface: String,
    /// The socket path in use.
    pub path: String,
    /// Our MAC.
    pub mac: Mac,
    /// The largest bundle.
    pub max_bundle: u64,
    /// Socket counters.
    pub counters: Arc<SocketCounters>,
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn mac_text(mac: &Mac) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

async fn receive(
    socket: Arc<FrameSocket>,
    core: mpsc::Sender<CoreMsg>,
    counters: Arc<SocketCounters>,
) {
    loop {
        let mut frames = Vec::new();
        if let Err(e) = socket.recv_batch(&mut frames, RECV_BATCH).await {
            tracing::error!(interface = %socket.interface.name, "Ethernet receive: {e}");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            continue;
        }
        counters
            .received
            .fetch_add(frames.len() as u64, Ordering::Relaxed);
        if core.send(CoreMsg::EtherFrames(frames)).await.is_err() {
            return;
        }
    }
}

async fn send(
    socket: Arc<FrameSocket>,
    mut rx: mpsc::Receiver<Vec<Vec<u8>>>,
    counters: Arc<SocketCounters>,
) {
    while let Some(mut batch) = rx.recv().await {
        while batch.len() < RECV_BATCH {
            match rx.try_recv() {
                Ok(mut more) => batch.append(&mut more),
                Err(_) => break,
            }
        }
        if let Err(e) = socket.send_batch(&batch).await {
            counters
                .send_errors
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            tracing::debug!(interface = %socket.interface.name, "Ethernet send: {e}");
        }
    }
}

impl EtherLinks {
    /// The layer over `socket`, a link per peer (numbers given by the caller); starts the
    /// socket's tasks.
    pub fn start(
        socket: FrameSocket,
        core: mpsc::Sender<CoreMsg>,
        peers: Vec<(LinkId, Eid, Mac)>,
    ) -> Self {
        let mut cfg = EtherConfig::new(socket.interface.mac);
        cfg.mtu = socket.interface.mtu.min(if socket.is_xdp() {
            transports::ether::xdp::FRAME as usize - transports::ether::frame::ETH_HEADER
        } else {
            usize::MAX
        });
        let counters = Arc::new(SocketCounters::default());
        let (tx, rx) = mpsc::channel(MAX_QUEUED_BATCHES);
        let interface = socket.interface.name.clone();
        let path = socket.path.clone();
        let socket = Arc::new(socket);
        tokio::spawn(receive(socket.clone(), core, counters.clone()));
        tokio::spawn(send(socket, rx, counters.clone()));
        let mut links = Self {
            link: EtherLink::new(cfg),
            frames: tx,
            peers: BTreeMap::new(),
            by_mac: BTreeMap::new(),
            tags: BTreeMap::new(),
            next_tag: 1,
            interface,
            path,
            mac: cfg.mac,
            max_bundle: u64::from(cfg.max_bundle),
            counters,
        };
        for (link, node, mac) in peers {
            links.add_peer(link, node, mac, "static peer");
        }
        links
    }

    /// Adds a peer (configured, or discovered: `found_by` says how).
    pub fn add_peer(&mut self, link: LinkId, node: Eid, mac: Mac, found_by: &'static str) {
        self.by_mac.insert(mac, link);
        self.peers.insert(link, (node, mac, found_by));
    }

    /// The peers: link, node ID, MAC, how found.
    pub fn peers(&self) -> impl Iterator<Item = (LinkId, &Eid, &Mac, &'static str)> {
        self.peers.iter().map(|(l, (n, m, f))| (*l, n, m, *f))
    }

    /// True when `link` is one of ours.
    pub fn has_link(&self, link: LinkId) -> bool {
        self.peers.contains_key(&link)
    }

    /// The link's counters: malformed, dropped, resent, timed out.
    pub fn link_counters(&self) -> transports::ether::link::EtherCounters {
        self.link.counters
    }

    /// When [`EtherLinks::tick`] should next come.
    pub fn next_timeout(&self) -> Option<u64> {
        self.link.next_timeout()
    }

    /// Sends `bytes` on `link`.
    pub fn transmit(
        &mut self,
        now_ms: u64,
        link: LinkId,
        id: BundleId,
        bytes: Vec<u8>,
    ) -> Vec<EtherOut> {
        let Some((_, mac, _)) = self.peers.get(&link) else {
            return vec![EtherOut::Sent {
                link,
                id,
                ok: false,
            }];
        };
        let tag = self.next_tag;
        self.next_tag += 1;
        self.tags.insert(tag, (link, id));
        let to = *mac;
        self.link.handle(
            now_ms,
            Event::Send {
                tag,
                to,
                bundle: bytes,
            },
        );
        self.drain()
    }

    /// Frames from the socket.
    pub fn frames(&mut self, now_ms: u64, frames: Vec<Vec<u8>>) -> Vec<EtherOut> {
        for f in frames {
            self.link.handle(now_ms, Event::Frame(f));
        }
        self.drain()
    }

    /// A received bundle is durable. Its sender hears so at the next [`EtherLinks::flush`],
    /// together with the others stored in the same round.
    pub fn stored(&mut self, now_ms: u64, from: Mac, transfer: u64) {
        self.link.handle(now_ms, Event::Stored { from, transfer });
    }

    /// Sends what the round left to send.
    pub fn flush(&mut self) -> Vec<EtherOut> {
        self.drain()
    }

    /// A received bundle was refused.
    pub fn refused(&mut self, now_ms: u64, from: Mac, transfer: u64) -> Vec<EtherOut> {
        self.link.handle(now_ms, Event::Refused { from, transfer });
        self.drain()
    }

    /// Time passed.
    pub fn tick(&mut self, now_ms: u64) -> Vec<EtherOut> {
        self.link.handle(now_ms, Event::Tick);
        self.drain()
    }

    fn drain(&mut self) -> Vec<EtherOut> {
        let mut out = Vec::new();
        let mut frames = Vec::new();
        while let Some(a) = self.link.poll_action() {
            match a {
                Action::Transmit(f) => frames.push(f),
                Action::Deliver {
                    from,
                    transfer,
                    bundle,
                } => out.push(EtherOut::Received {
                    link: self.by_mac.get(&from).copied().unwrap_or(0),
                    bytes: bundle,
                    from,
                    transfer,
                }),
                Action::Sent { tag, ok } => {
                    if let Some((link, id)) = self.tags.remove(&tag) {
                        out.push(EtherOut::Sent { link, id, ok });
                    }
                }
            }
        }
        if !frames.is_empty() {
            let n = frames.len() as u64;
            if self.frames.try_send(frames).is_err() {
                self.counters.dropped.fetch_add(n, Ordering::Relaxed);
            }
        }
        out
    }
}

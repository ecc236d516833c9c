//! Bundles over the libp2p connection in `dtnd`, for peers discovery found that this node
//! reaches by no other layer (`transports::discovery::carry`). The core hands a transmission
//! to discovery's libp2p side with a tag and hears with that tag whether the peer stored the
//! bundle; a bundle received that way is answered once the agent has it durably, or refused.

use std::collections::BTreeMap;

use bundle_agent::agent::LinkId;
use bundle_agent::wire::{BundleId, Eid};
use tokio::sync::mpsc;
use transports::discovery::CarryCommand;

/// Largest bundle sent or taken over libp2p: the whole bundle is held in memory on both sides,
/// so larger ones are cut into fragments by the agent (RFC 9171 §5.8).
pub const MAX_BUNDLE: u64 = 16 << 20;

/// The libp2p links and the transmissions on them.
#[derive(Debug)]
pub struct P2pLinks {
    commands: mpsc::Sender<CarryCommand>,
    /// Link -> (node ID, libp2p peer ID).
    peers: BTreeMap<LinkId, (Eid, String)>,
    /// Transmissions awaiting their end: tag -> (link, bundle).
    queued: BTreeMap<u64, (LinkId, BundleId)>,
    next_tag: u64,
}

impl P2pLinks {
    /// No links yet; commands go to discovery's libp2p side.
    pub fn new(commands: mpsc::Sender<CarryCommand>) -> Self {
        Self {
            commands,
            peers: BTreeMap::new(),
            queued: BTreeMap::new(),
            next_tag: 1,
        }
    }

    /// Adds a link to `node` at libp2p `peer`; false when that pair has one already.
    pub fn add_peer(&mut self, link: LinkId, node: Eid, peer: String) -> bool {
        if self.peers.values().any(|(n, p)| *n == node && *p == peer) {
            return false;
        }
        self.peers.insert(link, (node, peer));
        true
    }

    /// Whether `link` is one of these.
    pub fn has_link(&self, link: LinkId) -> bool {
        self.peers.contains_key(&link)
    }

    /// The link to the libp2p `peer` (0 when it has none: it sent without being found).
    pub fn link_of(&self, peer: &str) -> LinkId {
        self.peers
            .iter()
            .find(|(_, (_, p))| p == peer)
            .map_or(0, |(l, _)| *l)
    }

    /// Hands `bytes` to the link's peer; false when that cannot start (no such link, or
    /// discovery's side is full or gone), for the caller to count as a failed transmission.
    pub fn transmit(&mut self, link: LinkId, id: BundleId, bytes: Vec<u8>) -> bool {
        let Some((_, peer)) = self.peers.get(&link) else {
            return false;
        };
        let tag = self.next_tag;
        let send = CarryCommand::Send {
            peer: peer.clone(),
            tag,
            bundle: bytes,
        };
        if self.commands.try_send(send).is_err() {
            return false;
        }
        self.next_tag += 1;
        self.queued.insert(tag, (link, id));
        true
    }

    /// The transmission `tag` ended: its link and bundle.
    pub fn ended(&mut self, tag: u64) -> Option<(LinkId, BundleId)> {
        self.queued.remove(&tag)
    }

    /// Answers the received bundle `id`.
    pub fn answer(&self, id: u64, stored: bool) {
        // A full channel only delays the sender's answer until its request times out, and it
        // sends again.
        let _ = self.commands.try_send(CarryCommand::Answer { id, stored });
    }

    /// The links: (link, node ID, libp2p peer ID).
    pub fn peers(&self) -> impl Iterator<Item = (LinkId, &Eid, &String)> {
        self.peers.iter().map(|(l, (n, p))| (*l, n, p))
    }

    /// Transmissions under way on `link`.
    pub fn in_flight(&self, link: LinkId) -> usize {
        self.queued.values().filter(|(l, _)| *l == link).count()
    }
}

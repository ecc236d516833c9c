//! LTP (RFC 5326) as a convergence layer of `dtnd`: the sans-IO engine of
//! `transports::ltp` over a UDP socket. Each LTP peer is a link to the agent, with its engine
//! ID and address from the configuration (`--ltp-peer NODE=ENGINE@ADDR`). A bundle the agent
//! transmits on such a link becomes a block, all red (or all green for a peer configured
//! so); the agent hears a red block was sent only when the receiving engine has reported the
//! whole red part received. A block that arrives whole goes to the agent as a received
//! bundle.
//!
//! The report that tells a sender its block arrived goes out only once the agent has stored
//! the bundle durably (the agent's acceptance), so a crash in between never loses a bundle
//! the sender counts as delivered.
//!
//! Contacts: a peer the contact plan names is up only while a contact from this node to it
//! lasts ([`LtpLinks::contact`], driven by the scheduler in [`super::contacts`]). Between
//! contacts the engine's timers for it are suspended (RFC 5326 §6), sessions in flight stay
//! open and finish at the next contact, and the one-way light time and rate are the
//! contact's. Segments leave paced to the contact's rate, each peer on its own task so a slow
//! link never holds back a fast one, and wait while the peer is out of contact; what waits
//! to leave is bounded in bytes (beyond it a segment is dropped and counted, and LTP's
//! reports recover it).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bundle_agent::agent::LinkId;
use bundle_agent::wire::{BundleId, Eid};
use tokio::sync::{mpsc, watch};
use transports::ltp::engine::{Action, Engine, EngineConfig, Event};
use transports::ltp::segment::SessionId;
use transports::udp::UdpLink;

/// How far ahead of its rate a peer's segments may leave: a burst of this much time's worth.
const PACING_SLACK: Duration = Duration::from_millis(2);

/// Most bytes of segments waiting to leave, all peers together.
const MAX_QUEUED: u64 = 256 << 20;

/// One LTP peer of the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LtpPeer {
    /// Its node ID.
    pub node: Eid,
    /// Its engine ID.
    pub engine: u64,
    /// Its UDP address.
    pub addr: SocketAddr,
    /// Every bundle to it goes as green data.
    pub green: bool,
    /// Client data bytes per segment to it, when not `--ltp-segment`.
    pub segment: Option<usize>,
    /// Bundles handed over together are packed into blocks of up to this many bytes (0:
    /// one bundle per block).
    pub aggregate: u64,
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
    /// One-way light time to peers not scheduled by a contact plan, for the timers.
    pub owlt_ms: u64,
    /// Client data bytes per segment.
    pub segment: usize,
    /// Bytes per second to peers not scheduled by a contact plan (0: unpaced).
    pub rate: u64,
}

/// What the core does for the engine: hand bundles to the agent, settle transmissions.
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
        /// Reported received in full (or, green, handed to the link).
        ok: bool,
    },
}

/// Counters of the LTP layer, for `/peers` and tests.
#[derive(Debug, Default)]
pub struct LtpCounters {
    /// Segments dropped because too many bytes waited to leave.
    pub dropped: AtomicU64,
}

/// A pacing task's two queues.
#[derive(Debug)]
struct Lanes {
    urgent: mpsc::UnboundedReceiver<Vec<u8>>,
    bulk: mpsc::UnboundedReceiver<Vec<u8>>,
}

/// One peer: where it is, how it is reached now.
#[derive(Debug)]
struct Peer {
    node: Eid,
    engine: u64,
    addr: SocketAddr,
    green: bool,
    /// Opened and closed by the contact plan.
    scheduled: bool,
    /// In contact (always, for a peer not scheduled).
    up: bool,
    owlt_ms: u64,
    /// Bytes per second now (0: unpaced).
    rate: Arc<AtomicU64>,
    /// Its pacing task: urgent and bulk.
    out: [mpsc::UnboundedSender<Vec<u8>>; 2],
    /// Opens and closes the pacing task's gate with the contact.
    gate: watch::Sender<bool>,
    /// Block size to aggregate bundles into (0: none).
    aggregate: u64,
    /// Bundles waiting to be packed into a block.
    batch: Vec<(BundleId, Vec<u8>)>,
    batch_bytes: u64,
}

impl LtpLinkInfo {
    /// Bytes the agent may keep outstanding on this link: four round trips at its rate (a
    /// block counts as sent only once reported, a round trip after it left, and recovery
    /// takes more), at least the agent's default, at most 1 GiB.
    pub fn window_bytes(&self) -> u64 {
        let round_ms = 2 * self.owlt_ms + 1000;
        let bdp = u128::from(self.rate) * u128::from(round_ms) * 4 / 1000;
        u64::try_from(bdp)
            .unwrap_or(u64::MAX)
            .clamp(bundle_agent::agent::LINK_WINDOW_BYTES, 1 << 30)
    }
}

/// A link's state, for `/peers`.
#[derive(Debug, Clone)]
pub struct LtpLinkInfo {
    /// The link.
    pub link: LinkId,
    /// The peer's node ID.
    pub node: Eid,
    /// Its engine.
    pub engine: u64,
    /// Its address.
    pub addr: SocketAddr,
    /// In contact now.
    pub up: bool,
    /// Opened and closed by the contact plan.
    pub scheduled: bool,
    /// Green data only.
    pub green: bool,
    /// One-way light time now.
    pub owlt_ms: u64,
    /// Rate now, bytes per second (0: unpaced).
    pub rate: u64,
}

/// The engine, its socket and its peers.
#[derive(Debug)]
pub struct LtpLinks {
    engine: Engine,
    peers: BTreeMap<LinkId, Peer>,
    by_engine: BTreeMap<u64, LinkId>,
    /// Block ID -> the transmissions it carries.
    pending: BTreeMap<u64, (LinkId, Vec<BundleId>)>,
    /// Received blocks: bundles the agent has still to store before the sender may hear the
    /// block arrived.
    parts: BTreeMap<SessionId, usize>,
    next_block: u64,
    queued: Arc<AtomicU64>,
    /// Counters.
    pub counters: Arc<LtpCounters>,
}

/// Sends one peer's segments, paced to its rate, and holds them while it is out of contact.
/// Urgent segments (reports, acknowledgements, retransmissions) go ahead of first
/// transmissions waiting for the rate.
async fn pace(
    socket: UdpLink,
    to: SocketAddr,
    rate: Arc<AtomicU64>,
    mut contact: watch::Receiver<bool>,
    queued: Arc<AtomicU64>,
    mut lanes: Lanes,
) {
    let mut free = tokio::time::Instant::now();
    loop {
        let bytes = tokio::select! {
            biased;
            Some(b) = lanes.urgent.recv() => b,
            Some(b) = lanes.bulk.recv() => b,
            else => return,
        };
        while !*contact.borrow_and_update() {
            if contact.changed().await.is_err() {
                return;
            }
        }
        let len = bytes.len() as u64;
        let r = rate.load(Ordering::Relaxed);
        if r > 0 {
            // Sleep only once the link is more than a timer tick ahead: the runtime's timers
            // are millisecond-coarse, so sleeping for each segment's fraction of one would
            // cap the rate far below a fast contact's.
            let now = tokio::time::Instant::now();
            if free > now + PACING_SLACK {
                tokio::time::sleep_until(free - PACING_SLACK).await;
            }
            free = free.max(now) + Duration::from_secs_f64(len as f64 / r as f64);
        }
        if let Err(e) = socket.send(to, &bytes).await {
            tracing::debug!(%to, "LTP segment not sent: {e}");
        }
        queued.fetch_sub(len, Ordering::Relaxed);
    }
}

impl LtpLinks {
    /// The engine over `socket`, with a link per peer (numbers given by the caller); peers
    /// in `scheduled` wait for their first contact, the others are up now.
    pub fn new(
        cfg: &LtpConfig,
        socket: &UdpLink,
        links: Vec<(LinkId, &LtpPeer)>,
        scheduled: &[Eid],
        now_ms: u64,
    ) -> Self {
        let mut ecfg = EngineConfig::new(cfg.engine);
        ecfg.max_segment = cfg.segment;
        let mut engine = Engine::new(ecfg);
        let queued = Arc::new(AtomicU64::new(0));
        let mut peers = BTreeMap::new();
        let mut by_engine = BTreeMap::new();
        for (link, p) in links {
            let is_scheduled = scheduled.contains(&p.node);
            let rate = Arc::new(AtomicU64::new(if is_scheduled { 0 } else { cfg.rate }));
            if !is_scheduled {
                engine.handle(
                    now_ms,
                    Event::Rate {
                        engine: p.engine,
                        bytes_per_sec: cfg.rate,
                    },
                );
            }
            let (urgent, urgent_rx) = mpsc::unbounded_channel();
            let (bulk, bulk_rx) = mpsc::unbounded_channel();
            let (gate, contact) = watch::channel(!is_scheduled);
            tokio::spawn(pace(
                socket.clone(),
                p.addr,
                rate.clone(),
                contact,
                queued.clone(),
                Lanes {
                    urgent: urgent_rx,
                    bulk: bulk_rx,
                },
            ));
            by_engine.insert(p.engine, link);
            if let Some(bytes) = p.segment {
                engine.handle(
                    now_ms,
                    Event::SegmentSize {
                        engine: p.engine,
                        bytes,
                    },
                );
            }
            engine.handle(
                now_ms,
                if is_scheduled {
                    Event::LinkDown { engine: p.engine }
                } else {
                    Event::LinkUp {
                        engine: p.engine,
                        owlt_ms: cfg.owlt_ms,
                    }
                },
            );
            peers.insert(
                link,
                Peer {
                    node: p.node.clone(),
                    engine: p.engine,
                    addr: p.addr,
                    green: p.green,
                    scheduled: is_scheduled,
                    up: !is_scheduled,
                    owlt_ms: cfg.owlt_ms,
                    rate,
                    out: [urgent, bulk],
                    gate,
                    aggregate: p.aggregate,
                    batch: Vec::new(),
                    batch_bytes: 0,
                },
            );
        }
        Self {
            engine,
            peers,
            by_engine,
            pending: BTreeMap::new(),
            parts: BTreeMap::new(),
            next_block: 1,
            queued,
            counters: Arc::default(),
        }
    }

    /// True when `link` is one of the LTP peers.
    pub fn has_link(&self, link: LinkId) -> bool {
        self.peers.contains_key(&link)
    }

    /// The links and their state.
    pub fn links(&self) -> Vec<LtpLinkInfo> {
        self.peers
            .iter()
            .map(|(l, p)| LtpLinkInfo {
                link: *l,
                node: p.node.clone(),
                engine: p.engine,
                addr: p.addr,
                up: p.up,
                scheduled: p.scheduled,
                green: p.green,
                owlt_ms: p.owlt_ms,
                rate: p.rate.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// The largest block the engine takes.
    pub fn max_block(&self) -> u64 {
        256 << 20
    }

    /// A contact to `node` began (`Some((owlt_ms, rate))`) or ended (`None`). Returns the
    /// link and whether it changed, so the agent can be told.
    pub fn contact(
        &mut self,
        now_ms: u64,
        node: &Eid,
        contact: Option<(u64, u64)>,
    ) -> Vec<(LinkId, Eid, bool)> {
        let mut changed = Vec::new();
        for (link, p) in self.peers.iter_mut().filter(|(_, p)| p.node == *node) {
            match contact {
                Some((owlt_ms, rate)) => {
                    p.owlt_ms = owlt_ms;
                    p.rate.store(rate, Ordering::Relaxed);
                    self.engine.handle(
                        now_ms,
                        Event::Rate {
                            engine: p.engine,
                            bytes_per_sec: rate,
                        },
                    );
                    self.engine.handle(
                        now_ms,
                        Event::LinkUp {
                            engine: p.engine,
                            owlt_ms,
                        },
                    );
                    p.gate.send_replace(true);
                    if !p.up {
                        p.up = true;
                        changed.push((*link, p.node.clone(), true));
                    }
                }
                None => {
                    self.engine
                        .handle(now_ms, Event::LinkDown { engine: p.engine });
                    p.gate.send_replace(false);
                    if p.up {
                        p.up = false;
                        changed.push((*link, p.node.clone(), false));
                    }
                }
            }
        }
        changed
    }

    /// Sends a bundle over a link: as a block of its own, or packed with the others handed
    /// over in the same round when the peer aggregates ([`Self::flush`] ends the round).
    pub fn transmit(
        &mut self,
        now_ms: u64,
        link: LinkId,
        id: BundleId,
        bytes: Vec<u8>,
    ) -> Vec<LtpOut> {
        let Some(p) = self.peers.get_mut(&link) else {
            return vec![LtpOut::Sent {
                link,
                id,
                ok: false,
            }];
        };
        if p.aggregate == 0 {
            return self.send_block(now_ms, link, vec![id], bytes);
        }
        p.batch_bytes += bytes.len() as u64;
        p.batch.push((id, bytes));
        if p.batch_bytes >= p.aggregate {
            return self.flush_link(now_ms, link);
        }
        Vec::new()
    }

    /// Ends a round of transmissions: what waits to be aggregated goes now.
    pub fn flush(&mut self, now_ms: u64) -> Vec<LtpOut> {
        let links: Vec<LinkId> = self
            .peers
            .iter()
            .filter(|(_, p)| !p.batch.is_empty())
            .map(|(l, _)| *l)
            .collect();
        links
            .into_iter()
            .flat_map(|l| self.flush_link(now_ms, l))
            .collect()
    }

    fn flush_link(&mut self, now_ms: u64, link: LinkId) -> Vec<LtpOut> {
        let Some(p) = self.peers.get_mut(&link) else {
            return Vec::new();
        };
        let batch = std::mem::take(&mut p.batch);
        p.batch_bytes = 0;
        if batch.is_empty() {
            return Vec::new();
        }
        let mut ids = Vec::with_capacity(batch.len());
        let mut block = Vec::with_capacity(batch.iter().map(|(_, b)| b.len()).sum());
        for (id, bytes) in batch {
            ids.push(id);
            block.extend_from_slice(&bytes);
        }
        self.send_block(now_ms, link, ids, block)
    }

    /// Hands one block (one or more whole bundles) to the engine.
    fn send_block(
        &mut self,
        now_ms: u64,
        link: LinkId,
        ids: Vec<BundleId>,
        bytes: Vec<u8>,
    ) -> Vec<LtpOut> {
        let Some(p) = self.peers.get(&link) else {
            return ids
                .into_iter()
                .map(|id| LtpOut::Sent {
                    link,
                    id,
                    ok: false,
                })
                .collect();
        };
        let (to, green) = (p.engine, p.green);
        let block = self.next_block;
        self.next_block += 1;
        self.pending.insert(block, (link, ids));
        let event = if green {
            Event::SendGreen {
                id: block,
                to,
                block: bytes,
            }
        } else {
            Event::Send {
                id: block,
                to,
                block: bytes,
            }
        };
        self.engine.handle(now_ms, event);
        self.drain()
    }

    /// A datagram from the socket.
    pub fn datagram(&mut self, now_ms: u64, from: SocketAddr, bytes: Vec<u8>) -> Vec<LtpOut> {
        let Some(engine) = self
            .peers
            .values()
            .find(|p| p.addr == from)
            .map(|p| p.engine)
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
        self.drain()
    }

    /// The agent stored a received bundle durably: once every bundle of its block is, the
    /// sender may hear the block arrived.
    pub fn stored(&mut self, now_ms: u64, session: SessionId) -> Vec<LtpOut> {
        if let Some(left) = self.parts.get_mut(&session) {
            *left = left.saturating_sub(1);
            if *left > 0 {
                return Vec::new();
            }
            self.parts.remove(&session);
        }
        self.engine.handle(now_ms, Event::Stored { session });
        self.drain()
    }

    /// The agent refused a received bundle: the session is cancelled, and the sender sends
    /// the block again (bundles of it already stored are then duplicates, which the agent
    /// suppresses).
    pub fn refused(&mut self, now_ms: u64, session: SessionId) -> Vec<LtpOut> {
        self.parts.remove(&session);
        self.engine.handle(now_ms, Event::Refused { session });
        self.drain()
    }

    /// Time passed.
    pub fn tick(&mut self, now_ms: u64) -> Vec<LtpOut> {
        self.engine.handle(now_ms, Event::Tick);
        self.drain()
    }

    /// The engine's counters: segments refused as malformed, inbound sessions dropped as
    /// quiet, client data bytes sent (first sends and again), and client data bytes of
    /// second copies (recovery sent twice on a lossy link).
    pub fn engine_counters(&self) -> (u64, u64, u64, u64) {
        (
            self.engine.malformed,
            self.engine.timed_out,
            self.engine.data_bytes_sent,
            self.engine.redundant_bytes_sent,
        )
    }

    /// The share of segments the link to `engine` loses, as its reports tell, in parts per
    /// million.
    pub fn loss_ppm(&self, engine: u64) -> u64 {
        self.engine.loss_ppm(engine)
    }

    /// When the engine next needs [`Self::tick`], in DTN milliseconds.
    pub fn next_timeout(&self) -> Option<u64> {
        self.engine.next_timeout()
    }

    fn send(&self, to: u64, bytes: Vec<u8>, urgent: bool) {
        let Some(p) = self.by_engine.get(&to).and_then(|l| self.peers.get(l)) else {
            return;
        };
        let len = bytes.len() as u64;
        if self.queued.fetch_add(len, Ordering::Relaxed) + len > MAX_QUEUED {
            self.queued.fetch_sub(len, Ordering::Relaxed);
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let [urgent_lane, bulk_lane] = &p.out;
        let lane = if urgent { urgent_lane } else { bulk_lane };
        if lane.send(bytes).is_err() {
            self.queued.fetch_sub(len, Ordering::Relaxed);
        }
    }

    fn drain(&mut self) -> Vec<LtpOut> {
        let mut out = Vec::new();
        while let Some(a) = self.engine.poll_action() {
            match a {
                Action::Transmit { to, bytes, urgent } => self.send(to, bytes, urgent),
                Action::Deliver {
                    from,
                    session,
                    block,
                } => {
                    let link = self.by_engine.get(&from).copied().unwrap_or(0);
                    let bundles = split_bundles(block);
                    if bundles.len() > 1 {
                        self.parts.insert(session, bundles.len());
                    }
                    for bytes in bundles {
                        out.push(LtpOut::Received {
                            link,
                            bytes,
                            session,
                        });
                    }
                }
                Action::Sent { id } => {
                    if let Some((link, bundles)) = self.pending.remove(&id) {
                        out.extend(bundles.into_iter().map(|id| LtpOut::Sent {
                            link,
                            id,
                            ok: true,
                        }));
                    }
                }
                Action::Failed { id, reason } => {
                    if let Some((link, bundles)) = self.pending.remove(&id) {
                        tracing::info!(
                            link,
                            bundles = bundles.len(),
                            ?reason,
                            "LTP block cancelled"
                        );
                        out.extend(bundles.into_iter().map(|id| LtpOut::Sent {
                            link,
                            id,
                            ok: false,
                        }));
                    }
                }
            }
        }
        out
    }
}

/// Deepest CBOR nesting looked through when splitting a block into bundles.
const SPLIT_DEPTH: usize = 64;

/// The bundles of a received block: one, or several back to back when the sender aggregated
/// them (each BPv7 bundle is one CBOR item, RFC 9171 §4.1). Bytes that do not split cleanly
/// go on as they are, for the agent to judge.
pub fn split_bundles(block: Vec<u8>) -> Vec<Vec<u8>> {
    let mut ends = Vec::new();
    let mut at = 0;
    while at < block.len() {
        let mut r =
            bundle_agent::wire::cbor::Reader::new(block.get(at..).unwrap_or_default(), SPLIT_DEPTH);
        if r.skip().is_err() || r.position() == 0 {
            return vec![block];
        }
        at += r.position();
        ends.push(at);
    }
    if ends.len() <= 1 {
        return vec![block];
    }
    let mut out = Vec::with_capacity(ends.len());
    let mut start = 0;
    for end in ends {
        out.push(block.get(start..end).unwrap_or_default().to_vec());
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bundle_agent::wire::DtnTime;

    fn bundle(seq: u64, len: usize) -> Vec<u8> {
        super::super::internal::service_bundle(
            Eid::ipn(2, 1),
            &Eid::ipn(1, 0),
            DtnTime(1_000),
            seq,
            60_000,
            &vec![seq as u8; len],
        )
        .unwrap()
    }

    #[test]
    fn aggregated_blocks_split_back_into_their_bundles() {
        let parts: Vec<Vec<u8>> = (0..5).map(|i| bundle(i, 10 + i as usize * 300)).collect();
        let block: Vec<u8> = parts.concat();
        assert_eq!(split_bundles(block), parts);
        let one = bundle(9, 5000);
        assert_eq!(split_bundles(one.clone()), vec![one.clone()]);
        // Junk after a bundle: the block goes on whole, for the agent to refuse.
        let mut junk = one.clone();
        junk.extend_from_slice(&[0xff, 0x00]);
        assert_eq!(split_bundles(junk.clone()), vec![junk]);
        assert_eq!(split_bundles(Vec::new()), vec![Vec::<u8>::new()]);
    }

    #[tokio::test]
    async fn bundles_handed_over_together_go_as_one_block_and_settle_together() {
        let (sa, sb) = (
            UdpLink::bind("127.0.0.1:0".parse().unwrap(), 65_507)
                .await
                .unwrap(),
            UdpLink::bind("127.0.0.1:0".parse().unwrap(), 65_507)
                .await
                .unwrap(),
        );
        let (aa, ab) = (sa.local_addr().unwrap(), sb.local_addr().unwrap());
        let peer = |node: u32, engine: u64, addr: SocketAddr| LtpPeer {
            node: Eid::ipn(node, 0),
            engine,
            addr,
            green: false,
            segment: Some(8000),
            aggregate: 1 << 20,
        };
        let cfg = |engine: u64, listen: SocketAddr| LtpConfig {
            listen,
            engine,
            peers: Vec::new(),
            owlt_ms: 0,
            segment: 1400,
            rate: 0,
        };
        let (pa, pb) = (peer(2, 2, ab), peer(1, 1, aa));
        let mut a = LtpLinks::new(&cfg(1, aa), &sa, vec![(1, &pa)], &[], 0);
        let mut b = LtpLinks::new(&cfg(2, ab), &sb, vec![(1, &pb)], &[], 0);
        let (ta, mut ra) = mpsc::channel(4096);
        let (tb, mut rb) = mpsc::channel(4096);
        tokio::spawn(sa.clone().receive(ta));
        tokio::spawn(sb.clone().receive(tb));
        let bundles: Vec<Vec<u8>> = (0..6).map(|i| bundle(i, 2000)).collect();
        for (i, bytes) in bundles.iter().enumerate() {
            let id = BundleId {
                source: Eid::ipn(1, 0),
                creation: bundle_agent::wire::CreationTimestamp::new(DtnTime(1_000), i as u64),
                fragment: None,
            };
            assert!(
                a.transmit(0, 1, id, bytes.clone()).is_empty(),
                "held for the round"
            );
        }
        assert!(a.flush(0).is_empty());
        // One session, segments of 8,000 bytes: 12 kB of bundles in two data segments.
        let mut got = Vec::new();
        let mut sessions = std::collections::BTreeSet::new();
        while got.len() < bundles.len() {
            let (from, bytes) = rb.recv().await.unwrap();
            for out in b.datagram(0, from, bytes) {
                if let LtpOut::Received { bytes, session, .. } = out {
                    sessions.insert(session);
                    got.push((bytes, session));
                }
            }
        }
        assert_eq!(sessions.len(), 1, "one block");
        assert_eq!(got.iter().map(|g| g.0.clone()).collect::<Vec<_>>(), bundles);
        // The report waits for every bundle of the block to be stored.
        for (_, session) in &got[..5] {
            assert!(b.stored(0, *session).is_empty());
        }
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(100), ra.recv())
                .await
                .is_err(),
            "no report before the last bundle is stored"
        );
        b.stored(0, got[5].1);
        let mut sent = 0;
        while sent < bundles.len() {
            let (from, bytes) = ra.recv().await.unwrap();
            for out in a.datagram(0, from, bytes) {
                if let LtpOut::Sent { ok, .. } = out {
                    assert!(ok);
                    sent += 1;
                }
            }
        }
    }
}

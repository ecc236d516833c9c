//! Reliable bundle transfer over Ethernet frames, sans-IO: bundles in, frames out, time as
//! `now_ms`. The socket layer (AF_XDP, AF_PACKET) only moves frames.
//!
//! A sender cuts a bundle into frames (see [`super::frame`]) and sends them all. The
//! receiver answers the last frame of a transfer with an ack listing the frames it lacks, and
//! the sender sends exactly those again; when nothing is missing the receiver hands the
//! bundle to the node and says "done" only once the node has stored it, so a bundle
//! counts as sent exactly when it is durable at the peer. The "done"s of one round (all the
//! [`Event::Stored`] given before the host next drains [`EtherLink::poll_action`]) go
//! together, many transfers to a frame. A sender that hears nothing sends
//! the last frame again (a probe, which draws an ack) with a growing timeout, up to a retry
//! limit, after which the bundle is reported not sent and the node tries later.
//!
//! Bounds: bundles at most `max_bundle` bytes; at most `max_inbound` transfers being
//! received and `max_inbound_bytes` held for them (a frame past either is dropped and
//! counted, and the sender's retries bring it again later); pieces are kept as they arrive,
//! never in a buffer sized by what a frame declares; a transfer that goes quiet is dropped;
//! completed transfers are remembered (bounded) so a duplicate probe is acked again.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::frame::{
    Body, Frame, Mac, DATA_HEADER, DONE_HEADER, ETH_HEADER, MAX_DONE_MORE, MAX_RANGES,
};

/// Settings of one Ethernet link endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EtherConfig {
    /// Our MAC address.
    pub mac: Mac,
    /// Bytes after the Ethernet header per frame (the interface MTU).
    pub mtu: usize,
    /// Largest bundle sent or received.
    pub max_bundle: u32,
    /// Most transfers being received at once.
    pub max_inbound: usize,
    /// Most bytes held for transfers being received.
    pub max_inbound_bytes: u64,
    /// Most transfers being sent at once.
    pub max_outbound: usize,
    /// First retransmission timeout.
    pub rto_ms: u64,
    /// Probes before a transfer is given up.
    pub max_retries: u32,
    /// How long a transfer being received may hear nothing.
    pub idle_ms: u64,
}

impl EtherConfig {
    /// Defaults: 1,500-byte MTU, 64 MiB bundles, 256 transfers and 256 MiB inbound, 4,096
    /// outbound, 20 ms first timeout, 12 probes, 10 s idle.
    pub fn new(mac: Mac) -> Self {
        Self {
            mac,
            mtu: 1500,
            max_bundle: 64 << 20,
            max_inbound: 256,
            max_inbound_bytes: 256 << 20,
            max_outbound: 4096,
            rto_ms: 20,
            max_retries: 12,
            idle_ms: 10_000,
        }
    }

    /// Bundle bytes per frame.
    pub fn piece(&self) -> usize {
        self.mtu.saturating_sub(DATA_HEADER - ETH_HEADER).max(1)
    }
}

/// What the link is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Send a bundle to `to`; `tag` names it in [`Action::Sent`].
    Send {
        /// The caller's name for it.
        tag: u64,
        /// The peer's MAC.
        to: Mac,
        /// The bundle.
        bundle: Vec<u8>,
    },
    /// A frame from the wire.
    Frame(Vec<u8>),
    /// A delivered bundle is durable: its sender may hear it arrived.
    Stored {
        /// The sender.
        from: Mac,
        /// Its transfer.
        transfer: u64,
    },
    /// A delivered bundle was refused: its sender will time out and try again later.
    Refused {
        /// The sender.
        from: Mac,
        /// Its transfer.
        transfer: u64,
    },
    /// Time passed.
    Tick,
}

/// What the link asks of its host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Put this frame on the wire.
    Transmit(Vec<u8>),
    /// A bundle arrived whole: store it, then say [`Event::Stored`] (or [`Event::Refused`]).
    Deliver {
        /// The sender.
        from: Mac,
        /// Its transfer.
        transfer: u64,
        /// The bundle.
        bundle: Vec<u8>,
    },
    /// A send ended: stored by the peer (`ok`), or given up.
    Sent {
        /// The caller's name for it.
        tag: u64,
        /// True when the peer stored it.
        ok: bool,
    },
}

/// Counters, for the node's metrics and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct EtherCounters {
    /// Frames refused by the decoder or as inconsistent.
    pub malformed: u64,
    /// Frames dropped because the inbound bounds were reached.
    pub dropped: u64,
    /// Data frames sent again (answering an ack, or as a probe).
    pub resent: u64,
    /// Inbound transfers dropped after going quiet.
    pub timed_out: u64,
}

#[derive(Debug)]
struct Outbound {
    tag: u64,
    to: Mac,
    bundle: Vec<u8>,
    count: u32,
    deadline: u64,
    tries: u32,
}

#[derive(Debug)]
struct Inbound {
    count: u32,
    total: u32,
    pieces: BTreeMap<u32, Vec<u8>>,
    /// Bundle bytes received.
    data: u64,
    /// What the pieces cost in memory, counted against `max_inbound_bytes`.
    held: u64,
    last_heard: u64,
    delivered: bool,
}

/// Smallest piece a sender may cut (but the last): a frame count that would need smaller
/// pieces is refused.
const MIN_PIECE: u64 = 16;

/// Bookkeeping counted per piece held, beside its bytes.
const PIECE_OVERHEAD: u64 = 64;

/// Completed inbound transfers remembered.
const MAX_DONE: usize = 8192;

/// One endpoint of the Ethernet layer.
#[derive(Debug)]
pub struct EtherLink {
    cfg: EtherConfig,
    next_transfer: u64,
    outbound: BTreeMap<u64, Outbound>,
    inbound: BTreeMap<(Mac, u64), Inbound>,
    held: u64,
    done: BTreeSet<(Mac, u64)>,
    done_order: VecDeque<(Mac, u64)>,
    /// Transfers stored and not yet said done, per sender.
    to_say_done: BTreeMap<Mac, Vec<u64>>,
    actions: VecDeque<Action>,
    /// Counters.
    pub counters: EtherCounters,
}

impl EtherLink {
    /// A link endpoint.
    pub fn new(cfg: EtherConfig) -> Self {
        Self {
            cfg,
            next_transfer: 1,
            outbound: BTreeMap::new(),
            inbound: BTreeMap::new(),
            held: 0,
            done: BTreeSet::new(),
            done_order: VecDeque::new(),
            to_say_done: BTreeMap::new(),
            actions: VecDeque::new(),
            counters: EtherCounters::default(),
        }
    }

    /// The next action. Once the others are taken, the round's "done"s go out.
    pub fn poll_action(&mut self) -> Option<Action> {
        if self.actions.is_empty() && !self.to_say_done.is_empty() {
            self.say_done();
        }
        self.actions.pop_front()
    }

    /// Frames saying the stored transfers are done, as many to a frame as fit.
    fn say_done(&mut self) {
        let fit = (self.cfg.mtu + ETH_HEADER).saturating_sub(DONE_HEADER) / 8;
        let per_frame = fit.clamp(1, MAX_DONE_MORE + 1);
        for (to, transfers) in std::mem::take(&mut self.to_say_done) {
            for group in transfers.chunks(per_frame) {
                let Some((first, more)) = group.split_first() else {
                    continue;
                };
                let f = Frame {
                    dst: to,
                    src: self.cfg.mac,
                    transfer: *first,
                    body: Body::Done {
                        more: more.to_vec(),
                    },
                };
                self.actions.push_back(Action::Transmit(f.encode()));
            }
        }
    }

    /// When [`Event::Tick`] should next come.
    pub fn next_timeout(&self) -> Option<u64> {
        let out = self.outbound.values().map(|o| o.deadline);
        let inb = self
            .inbound
            .values()
            .filter(|i| !i.delivered)
            .map(|i| i.last_heard + self.cfg.idle_ms);
        out.chain(inb).min()
    }

    /// Handles one event.
    pub fn handle(&mut self, now: u64, event: Event) {
        match event {
            Event::Send { tag, to, bundle } => self.send(now, tag, to, bundle),
            Event::Frame(bytes) => match Frame::decode(&bytes) {
                Ok(f) if f.src == self.cfg.mac => {}
                Ok(f) if f.dst != self.cfg.mac && f.dst != [0xff; 6] => {}
                Ok(f) => self.frame(now, f),
                Err(_) => self.counters.malformed += 1,
            },
            Event::Stored { from, transfer } => {
                if let Some(i) = self.inbound.remove(&(from, transfer)) {
                    self.held = self.held.saturating_sub(i.held);
                    self.remember(from, transfer);
                    self.to_say_done.entry(from).or_default().push(transfer);
                }
            }
            Event::Refused { from, transfer } => {
                if let Some(i) = self.inbound.remove(&(from, transfer)) {
                    self.held = self.held.saturating_sub(i.held);
                }
            }
            Event::Tick => self.timers(now),
        }
    }

    fn send(&mut self, now: u64, tag: u64, to: Mac, bundle: Vec<u8>) {
        let piece = self.cfg.piece();
        let Ok(total) = u32::try_from(bundle.len()) else {
            self.actions.push_back(Action::Sent { tag, ok: false });
            return;
        };
        if total > self.cfg.max_bundle || self.outbound.len() >= self.cfg.max_outbound {
            self.actions.push_back(Action::Sent { tag, ok: false });
            return;
        }
        let count = u32::try_from(bundle.len().div_ceil(piece).max(1)).unwrap_or(u32::MAX);
        let transfer = self.next_transfer;
        self.next_transfer += 1;
        let o = Outbound {
            tag,
            to,
            bundle,
            count,
            deadline: now + self.cfg.rto_ms,
            tries: 0,
        };
        for index in 0..count {
            self.actions
                .push_back(Action::Transmit(self.data_frame(transfer, &o, index)));
        }
        self.outbound.insert(transfer, o);
    }

    fn data_frame(&self, transfer: u64, o: &Outbound, index: u32) -> Vec<u8> {
        let piece = self.cfg.piece();
        let start = (index as usize).saturating_mul(piece);
        let end = start.saturating_add(piece).min(o.bundle.len());
        Frame {
            dst: o.to,
            src: self.cfg.mac,
            transfer,
            body: Body::Data {
                index,
                count: o.count,
                total: o.bundle.len() as u32,
                data: o.bundle.get(start..end).unwrap_or_default(),
            },
        }
        .encode()
    }

    /// Asks for the frames `missing` of a transfer still coming in (completion is said by
    /// "done" frames, once the bundle is stored).
    fn ask_again(&mut self, to: Mac, transfer: u64, count: u32, missing: Vec<(u32, u32)>) {
        let f = Frame {
            dst: to,
            src: self.cfg.mac,
            transfer,
            body: Body::Ack {
                count,
                complete: false,
                missing,
            },
        };
        self.actions.push_back(Action::Transmit(f.encode()));
    }

    fn remember(&mut self, from: Mac, transfer: u64) {
        self.done.insert((from, transfer));
        self.done_order.push_back((from, transfer));
        while self.done_order.len() > MAX_DONE {
            if let Some(old) = self.done_order.pop_front() {
                self.done.remove(&old);
            }
        }
    }

    fn frame(&mut self, now: u64, f: Frame<'_>) {
        match f.body {
            Body::Ack {
                complete, missing, ..
            } => self.acked(now, f.transfer, complete, &missing),
            Body::Done { more } => {
                for t in std::iter::once(f.transfer).chain(more) {
                    self.acked(now, t, true, &[]);
                }
            }
            Body::Data {
                index,
                count,
                total,
                data,
            } => self.data(now, f.src, f.transfer, index, count, total, data),
        }
    }

    fn acked(&mut self, now: u64, transfer: u64, complete: bool, missing: &[(u32, u32)]) {
        if complete {
            if let Some(o) = self.outbound.remove(&transfer) {
                self.actions.push_back(Action::Sent {
                    tag: o.tag,
                    ok: true,
                });
            }
            return;
        }
        let Some(o) = self.outbound.get(&transfer) else {
            return;
        };
        let mut frames = Vec::new();
        for (first, n) in missing {
            let end = first.saturating_add(*n).min(o.count);
            for index in *first..end {
                frames.push(self.data_frame(transfer, o, index));
            }
        }
        self.counters.resent += frames.len() as u64;
        self.actions
            .extend(frames.into_iter().map(Action::Transmit));
        if let Some(o) = self.outbound.get_mut(&transfer) {
            o.deadline = now + self.cfg.rto_ms;
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn data(
        &mut self,
        now: u64,
        from: Mac,
        transfer: u64,
        index: u32,
        count: u32,
        total: u32,
        data: &[u8],
    ) {
        let key = (from, transfer);
        if self.done.contains(&key) {
            // Already stored: the "done" was lost; say it again.
            self.to_say_done.entry(from).or_default().push(transfer);
            return;
        }
        if total > self.cfg.max_bundle {
            self.counters.malformed += 1;
            return;
        }
        let len = data.len() as u64;
        // A piece costs its bytes and its bookkeeping: tiny pieces cannot hold more memory
        // than the bound says.
        let cost = len + PIECE_OVERHEAD;
        if u64::from(count) > u64::from(total).div_ceil(MIN_PIECE).max(1) {
            self.counters.malformed += 1;
            return;
        }
        match self.inbound.get(&key) {
            Some(i) if i.count != count || i.total != total => {
                // The sender changed its mind mid-transfer: a broken peer. Start over.
                self.counters.malformed += 1;
                if let Some(i) = self.inbound.remove(&key) {
                    self.held = self.held.saturating_sub(i.held);
                }
                return;
            }
            Some(_) => {}
            None if self.inbound.len() >= self.cfg.max_inbound => {
                self.counters.dropped += 1;
                return;
            }
            None => {
                self.inbound.insert(
                    key,
                    Inbound {
                        count,
                        total,
                        pieces: BTreeMap::new(),
                        data: 0,
                        held: 0,
                        last_heard: now,
                        delivered: false,
                    },
                );
            }
        }
        let fits = self.held + cost <= self.cfg.max_inbound_bytes;
        let Some(i) = self.inbound.get_mut(&key) else {
            return;
        };
        if count == 1 && !i.delivered {
            // A bundle in one frame (the pod's common case): delivered at once, no pieces.
            if data.len() as u64 != u64::from(total) {
                self.counters.malformed += 1;
                self.inbound.remove(&key);
                return;
            }
            i.last_heard = now;
            i.delivered = true;
            self.actions.push_back(Action::Deliver {
                from,
                transfer,
                bundle: data.to_vec(),
            });
            return;
        }
        i.last_heard = now;
        if i.delivered {
            return;
        }
        if !i.pieces.contains_key(&index) {
            if !fits || i.data + len > u64::from(total) {
                self.counters.dropped += 1;
                return;
            }
            i.data += len;
            i.held += cost;
            self.held += cost;
            i.pieces.insert(index, data.to_vec());
        }
        if i.pieces.len() as u64 == u64::from(count) {
            let mut bundle = Vec::with_capacity(i.data as usize);
            for p in i.pieces.values() {
                bundle.extend_from_slice(p);
            }
            if bundle.len() as u64 != u64::from(total) {
                self.counters.malformed += 1;
                if let Some(i) = self.inbound.remove(&key) {
                    self.held = self.held.saturating_sub(i.held);
                }
                return;
            }
            i.delivered = true;
            i.pieces.clear();
            self.actions.push_back(Action::Deliver {
                from,
                transfer,
                bundle,
            });
            return;
        }
        if index + 1 == count {
            // The last frame (or a probe): say what is missing.
            let mut missing = Vec::new();
            let mut at = 0u32;
            for &k in i.pieces.keys() {
                if k > at {
                    missing.push((at, k - at));
                }
                at = k + 1;
            }
            if at < count {
                missing.push((at, count - at));
            }
            missing.truncate(MAX_RANGES);
            self.ask_again(from, transfer, count, missing);
        }
    }

    fn timers(&mut self, now: u64) {
        let mut probes = Vec::new();
        let mut failed = Vec::new();
        for (t, o) in self.outbound.iter_mut() {
            if o.deadline > now {
                continue;
            }
            o.tries += 1;
            if o.tries > self.cfg.max_retries {
                failed.push(*t);
                continue;
            }
            // Back off: the timeout doubles with each probe, up to 64 times the first.
            o.deadline = now + (self.cfg.rto_ms << o.tries.min(6));
            probes.push(*t);
        }
        for t in failed {
            if let Some(o) = self.outbound.remove(&t) {
                self.actions.push_back(Action::Sent {
                    tag: o.tag,
                    ok: false,
                });
            }
        }
        for t in probes {
            if let Some(o) = self.outbound.get(&t) {
                let f = self.data_frame(t, o, o.count - 1);
                self.counters.resent += 1;
                self.actions.push_back(Action::Transmit(f));
            }
        }
        let quiet: Vec<(Mac, u64)> = self
            .inbound
            .iter()
            .filter(|(_, i)| !i.delivered && now >= i.last_heard + self.cfg.idle_ms)
            .map(|(k, _)| *k)
            .collect();
        for k in quiet {
            if let Some(i) = self.inbound.remove(&k) {
                self.held = self.held.saturating_sub(i.held);
                self.counters.timed_out += 1;
            }
        }
    }
}

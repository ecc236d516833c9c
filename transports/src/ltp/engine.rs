//! The LTP engine (RFC 5326 §6), sans-IO: blocks in, segments out, reports and
//! retransmissions in between; time comes in as `now_ms`, datagrams and link changes as
//! events, and what to send or deliver comes back as actions.
//!
//! A block is sent all red (a bundle must arrive whole) or all green (below). The
//! sender cuts a block into segments, the last one a checkpoint that ends the red part; the
//! receiver answers a checkpoint with a report of what it has; the sender acknowledges the
//! report and sends again exactly the ranges the report lacks, ending with a new checkpoint,
//! until a report claims the whole red part: only then does the block count as sent. Lost
//! checkpoints and reports are sent again when their timer (a round trip plus a margin)
//! runs out, a limited number of times, after which the session is cancelled. Timers of a
//! peer whose link is known to be down are suspended, and resumed with the time they had
//! left when it comes back (RFC 5326 §6: a closed contact is not a lost segment). On a
//! lossy link, recovery goes out more than once ([`super::redundancy`]).
//!
//! Green data (RFC 5326 §1.1): a block may be sent all green ([`Event::SendGreen`]): once,
//! never reported or retransmitted. A sender counts an all-green block as sent once its
//! segments are handed to the link; a receiver delivers a block only when all of it arrived,
//! so a lost green segment loses the block (its session times out). Red data after green,
//! or green data inside the red part, is miscoloured and cancels the session
//! (RFC 5326 §6.21).
//!
//! Bounds: blocks are at most `max_block` bytes, sessions at most `max_sessions` each way,
//! and the bytes held for unfinished inbound blocks at most `max_inbound_bytes` (a segment
//! past it cancels its session, and the sender tries again); a receiver keeps the pieces it
//! got (never an allocation of what a segment claims), a segment past the block limit
//! cancels the session, and an inbound session that hears nothing for as long as a sender
//! would take to give up (its retries of round trips, while the link is up) is dropped.

use std::collections::{BTreeMap, VecDeque};

use super::redundancy::LossEstimate;
use super::segment::{CancelReason, Checkpoint, Claim, Content, Segment, SessionId};

/// Engine settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineConfig {
    /// This engine's ID.
    pub engine_id: u64,
    /// Most client data bytes per data segment.
    pub max_segment: usize,
    /// Largest block sent or received.
    pub max_block: u64,
    /// Most sessions in progress each way.
    pub max_sessions: usize,
    /// How often a checkpoint or report is sent again before the session is cancelled.
    pub max_retries: u32,
    /// Added to the round trip for a timer.
    pub timer_margin_ms: u64,
    /// Most bytes held for inbound blocks not yet whole.
    pub max_inbound_bytes: u64,
    /// The loss (parts per million of a first pass, estimated per peer from reports) from
    /// which recovery rounds, checkpoints and reports go out twice ([`super::redundancy`]);
    /// `u32::MAX` for never.
    pub redundancy_from_ppm: u32,
}

impl EngineConfig {
    /// Defaults: 1,400-byte segments, 256 MiB blocks, 1,024 sessions, 10 retries, 1 s margin,
    /// 1 GiB held for inbound blocks, recovery sent more than once from 0.1% loss.
    pub fn new(engine_id: u64) -> Self {
        Self {
            engine_id,
            max_segment: 1400,
            max_block: 256 << 20,
            max_sessions: 1024,
            max_retries: 10,
            timer_margin_ms: 1000,
            max_inbound_bytes: 1 << 30,
            redundancy_from_ppm: 1_000,
        }
    }
}

/// What the engine is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Send `block` to engine `to`; `id` names it in the outcome.
    Send {
        /// The host's name for it.
        id: u64,
        /// The receiving engine.
        to: u64,
        /// The block (a bundle).
        block: Vec<u8>,
    },
    /// Send `block` to engine `to` all green: once, unacknowledged (RFC 5326 §1.1). It
    /// counts as sent when its segments are handed to the link.
    SendGreen {
        /// The host's name for it.
        id: u64,
        /// The receiving engine.
        to: u64,
        /// The block.
        block: Vec<u8>,
    },
    /// A datagram from engine `from`'s link.
    Datagram {
        /// The engine it came from.
        from: u64,
        /// Its bytes.
        bytes: Vec<u8>,
    },
    /// The link to an engine is up, with this one-way light time.
    LinkUp {
        /// The engine.
        engine: u64,
        /// One-way light time.
        owlt_ms: u64,
    },
    /// The rate of the link to an engine (its contact's), in bytes per second: the host
    /// sends no faster, so a timer counts from when its segment will have left, not from
    /// when it was handed over (RFC 5326 §6.2: timers start at transmission).
    Rate {
        /// The engine.
        engine: u64,
        /// Bytes per second; 0 for as fast as the host sends.
        bytes_per_sec: u64,
    },
    /// Client data bytes per data segment to an engine (its link's MTU), instead of
    /// [`EngineConfig::max_segment`].
    SegmentSize {
        /// The engine.
        engine: u64,
        /// Bytes.
        bytes: usize,
    },
    /// The link to an engine is down: its timers stop.
    LinkDown {
        /// The engine.
        engine: u64,
    },
    /// Time passed (timers are due).
    Tick,
    /// A delivered block is stored durably: the report that tells its sender goes out now.
    Stored {
        /// Its session.
        session: SessionId,
    },
    /// A delivered block was refused by the host (store full, malformed): the session is
    /// cancelled, so the sender sends it again later.
    Refused {
        /// Its session.
        session: SessionId,
    },
}

/// What the engine asks of the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send a segment to an engine.
    Transmit {
        /// The engine.
        to: u64,
        /// The segment.
        bytes: Vec<u8>,
        /// A report, acknowledgement, cancellation or retransmission: the host should send
        /// it ahead of first transmissions waiting for the link's rate, or every round of
        /// recovery waits behind the whole queue.
        urgent: bool,
    },
    /// A block arrived whole.
    Deliver {
        /// The sending engine.
        from: u64,
        /// The session: tell the engine [`Event::Stored`] once the block is durable (only
        /// then does the sender hear it arrived), or [`Event::Refused`].
        session: SessionId,
        /// The block.
        block: Vec<u8>,
    },
    /// A block was reported received in full.
    Sent {
        /// The host's name for it.
        id: u64,
    },
    /// A block could not be sent.
    Failed {
        /// The host's name for it.
        id: u64,
        /// Why.
        reason: CancelReason,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Timer {
    deadline: u64,
    /// Left when the link went down (the timer is suspended).
    suspended: Option<u64>,
    tries: u32,
}

#[derive(Debug)]
struct Outbound {
    id: u64,
    to: u64,
    block: Vec<u8>,
    /// Bytes of the block that are red (the rest is green).
    red_len: u64,
    next_checkpoint: u64,
    /// The last checkpoint sent and its timer: (serial, report serial, its data bytes,
    /// the segment, timer).
    checkpoint: Option<(u64, u64, u64, Vec<u8>, Timer)>,
    /// Serial numbers of the reports acted on (RFC 5326 §6.13: a report received again is
    /// only acknowledged; sending its gaps again would answer it twice).
    reports_seen: std::collections::BTreeSet<u64>,
}

#[derive(Debug, Default)]
struct Inbound {
    /// The bytes from offset 0 that arrived without a gap: segments in order (the usual
    /// case) are appended here, so the delivered block is this buffer, not a copy of it.
    contig: Vec<u8>,
    /// Received pieces past a gap, by offset (none of them starts inside `contig`).
    pieces: BTreeMap<u64, Vec<u8>>,
    /// The red part's length, once its end arrived.
    red_len: Option<u64>,
    next_report: u64,
    /// Reports sent and not acknowledged: serial -> (bytes, timer).
    reports: BTreeMap<u64, (Vec<u8>, Timer)>,
    /// Checkpoints answered: checkpoint serial -> report serial (the last few), so a
    /// checkpoint received again gets its report again (RFC 5326 §6.8 (b)), not a new one.
    answered: BTreeMap<u64, u64>,
    delivered: bool,
    /// The host has stored the delivered block: reports may say it arrived.
    stored: bool,
    /// The last checkpoint seen, which a report after storing answers.
    last_checkpoint: u64,
    /// The block's length, once its last segment arrived.
    block_len: Option<u64>,
    /// Where green data begins, once some arrived.
    green_from: Option<u64>,
    /// Bytes held in `contig` and `pieces`.
    held: u64,
    /// When a segment of this session last arrived.
    last_heard: u64,
}

impl Inbound {
    /// The received ranges, merged.
    fn ranges(&self) -> Vec<(u64, u64)> {
        let mut out: Vec<(u64, u64)> = Vec::new();
        if !self.contig.is_empty() {
            out.push((0, self.contig.len() as u64));
        }
        for (off, data) in &self.pieces {
            let end = off + data.len() as u64;
            match out.last_mut() {
                Some(last) if *off <= last.1 => last.1 = last.1.max(end),
                _ => out.push((*off, end)),
            }
        }
        out
    }

    /// Keeps the bytes of a data segment at `offset`: appended to the gapless prefix when
    /// they continue it (with any held pieces that then continue it too), else held as a
    /// piece unless one starts at the same offset. Returns the bytes newly held and the
    /// bytes of pieces no longer held apart (now part of the prefix, or repeating it).
    fn take_piece(&mut self, offset: u64, data: &[u8]) -> (u64, u64) {
        if offset > self.contig.len() as u64 {
            if self.pieces.contains_key(&offset) {
                return (0, 0);
            }
            self.pieces.insert(offset, data.to_vec());
            return (data.len() as u64, 0);
        }
        let before = self.contig.len();
        self.extend_contig(offset, data);
        // Pieces that now start inside the prefix continue it (or repeat it).
        let mut released = 0u64;
        while let Some(entry) = self.pieces.first_entry() {
            if *entry.key() > self.contig.len() as u64 {
                break;
            }
            let (off, piece) = entry.remove_entry();
            released += piece.len() as u64;
            self.extend_contig(off, &piece);
        }
        ((self.contig.len() - before) as u64, released)
    }

    /// Appends the part of `data` (at `offset`, not past the prefix's end) that lies past
    /// the end of the prefix.
    fn extend_contig(&mut self, offset: u64, data: &[u8]) {
        let skip = (self.contig.len() as u64).saturating_sub(offset);
        if let Some(new) = usize::try_from(skip).ok().and_then(|s| data.get(s..)) {
            self.contig.extend_from_slice(new);
        }
    }

    /// Delivered, and the host has not yet said it stored the block.
    fn awaiting_host(&self) -> bool {
        self.delivered && !self.stored
    }

    /// True when the bytes `0..len` have all arrived.
    fn covers(&self, len: u64) -> bool {
        let r = self.ranges();
        len == 0 || (r.len() == 1 && r.first().is_some_and(|(s, e)| *s == 0 && *e >= len))
    }

    /// The whole block, red and green, has arrived.
    fn complete(&self) -> bool {
        match (self.red_len, self.block_len) {
            (Some(red), Some(len)) if len > red => self.covers(len),
            (Some(red), _) => red > 0 && self.covers(red),
            (None, _) => false,
        }
    }
}

/// What the engine knows of the link to a peer engine.
#[derive(Debug, Clone, Copy, Default)]
struct PeerLink {
    owlt_ms: u64,
    up: bool,
    /// Bytes per second (0: as fast as the host sends).
    rate: u64,
    /// While up: when the segments handed to the host so far will have left, at `rate`,
    /// in microseconds (a segment takes a fraction of a millisecond at a fast rate).
    free_at: u64,
    /// While up: when the urgent ones handed so far will have left (they go first), µs.
    urgent_free_at: u64,
    /// While down: microseconds of segments waiting to leave at the next contact.
    backlog: u64,
    /// Client data bytes per segment to this engine, when not the engine's default.
    max_segment: Option<usize>,
    /// The share of segments this link loses, from reports of first passes.
    loss: LossEstimate,
}

impl PeerLink {
    /// When (in ms) a segment handed over at `now` (ms) leaves.
    fn departure(&self, now: u64, urgent: bool) -> u64 {
        let now_us = now.saturating_mul(1000);
        let at_us = match (self.up, urgent) {
            (true, true) => self.urgent_free_at.max(now_us),
            (true, false) => self.free_at.max(now_us),
            (false, _) => now_us + self.backlog,
        };
        at_us.div_ceil(1000)
    }
}

/// An LTP engine.
#[derive(Debug)]
pub struct Engine {
    cfg: EngineConfig,
    next_session: u64,
    outbound: BTreeMap<u64, Outbound>,
    inbound: BTreeMap<SessionId, Inbound>,
    /// Peer engines: one-way light time, link up.
    links: BTreeMap<u64, PeerLink>,
    /// The time of the event being handled.
    now: u64,
    actions: VecDeque<Action>,
    /// Sessions received whole and closed, with their red length and the serial of their
    /// last report (one claiming it all): a checkpoint sent again
    /// (the report was lost) is answered with a full report. Bounded, oldest forgotten.
    closed: BTreeMap<SessionId, (u64, u64)>,
    closed_order: VecDeque<SessionId>,
    /// Segments refused as malformed.
    pub malformed: u64,
    /// Inbound sessions dropped after hearing nothing for too long.
    pub timed_out: u64,
    /// Client data bytes put in data segments, first sends and again (one copy of each).
    pub data_bytes_sent: u64,
    /// Client data bytes of the second copies sent on lossy links ([`super::redundancy`]).
    pub redundant_bytes_sent: u64,
    /// Bytes held by all inbound sessions.
    held: u64,
}

/// Report serial numbers remembered per outbound session.
const MAX_REPORTS_SEEN: usize = 256;

/// Checkpoints answered remembered per inbound session.
const MAX_ANSWERED: usize = 64;

/// Closed sessions remembered.
const MAX_CLOSED: usize = 4096;

/// A report claiming the whole red part of `len` bytes.
fn full_report(serial: u64, checkpoint_serial: u64, len: u64) -> Content<'static> {
    Content::Report {
        serial,
        checkpoint_serial,
        upper: len,
        lower: 0,
        claims: if len > 0 {
            vec![Claim {
                offset: 0,
                length: len,
            }]
        } else {
            Vec::new()
        },
    }
}

fn seg(session: SessionId, content: Content<'_>) -> Vec<u8> {
    Segment {
        session,
        content,
        header_ext: Vec::new(),
        trailer_ext: Vec::new(),
    }
    .encode()
}

impl Engine {
    /// A new engine.
    pub fn new(cfg: EngineConfig) -> Self {
        Self {
            cfg,
            next_session: 1,
            outbound: BTreeMap::new(),
            inbound: BTreeMap::new(),
            links: BTreeMap::new(),
            now: 0,
            actions: VecDeque::new(),
            closed: BTreeMap::new(),
            closed_order: VecDeque::new(),
            malformed: 0,
            timed_out: 0,
            data_bytes_sent: 0,
            redundant_bytes_sent: 0,
            held: 0,
        }
    }

    /// The next action.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// How long an inbound session from `engine` may hear nothing: as long as its sender
    /// would keep sending a checkpoint again (each retry a round trip and the margin).
    fn idle_limit(&self, engine: u64) -> u64 {
        let owlt = self.links.get(&engine).map_or(0, |l| l.owlt_ms);
        (u64::from(self.cfg.max_retries) + 1) * (2 * owlt + self.cfg.timer_margin_ms)
    }

    /// Client data bytes per segment to `engine`.
    fn segment_size(&self, engine: u64) -> usize {
        self.links
            .get(&engine)
            .and_then(|l| l.max_segment)
            .unwrap_or(self.cfg.max_segment)
            .max(1)
    }

    /// How many times checkpoints and reports to `engine` go out: more than once on a
    /// lossy link ([`super::redundancy`]).
    fn copies(&self, engine: u64) -> usize {
        self.links
            .get(&engine)
            .map_or(1, |l| l.loss.copies(self.cfg.redundancy_from_ppm))
    }

    /// How many times a recovery round's data to `engine` goes out at `now`: as
    /// [`Self::copies`] while what is queued for the link leaves within a round trip (the
    /// link would soon be idle), else once (copies would delay first transmissions).
    fn data_copies(&self, engine: u64, now: u64) -> usize {
        let Some(l) = self.links.get(&engine) else {
            return 1;
        };
        // While the link is down, what waits for the next contact counts the same way.
        let queued_ms = l.departure(now, false).saturating_sub(now);
        if queued_ms > 2 * l.owlt_ms {
            1
        } else {
            self.copies(engine)
        }
    }

    /// Counts a report of a first pass to or from `engine`: `missing` of `span` bytes.
    fn note_loss(&mut self, engine: u64, missing: u64, span: u64) {
        if let Some(l) = self.links.get_mut(&engine) {
            l.loss.note(missing, span);
        }
    }

    /// The loss estimated for the link to `engine`, in parts per million.
    pub fn loss_ppm(&self, engine: u64) -> u64 {
        self.links.get(&engine).map_or(0, |l| l.loss.ppm())
    }

    fn up(&self, engine: u64) -> bool {
        self.links.get(&engine).is_some_and(|l| l.up)
    }

    /// A timer for a segment just handed over (in the urgent lane or not).
    fn timer(&self, engine: u64, now: u64, urgent: bool) -> Timer {
        let l = self.links.get(&engine).copied().unwrap_or_default();
        let round = 2 * l.owlt_ms + self.cfg.timer_margin_ms;
        let departure = l.departure(now, urgent);
        Timer {
            deadline: departure + round,
            suspended: (!l.up).then_some(departure - now + round),
            tries: 0,
        }
    }

    /// Hands a segment to the host in the urgent lane.
    fn transmit(&mut self, to: u64, bytes: Vec<u8>) {
        self.transmit_lane(to, bytes, true);
    }

    fn transmit_lane(&mut self, to: u64, bytes: Vec<u8>, urgent: bool) {
        if let Some(l) = self.links.get_mut(&to).filter(|l| l.rate > 0) {
            let us = (bytes.len() as u64 * 1_000_000).div_ceil(l.rate);
            let now_us = self.now.saturating_mul(1000);
            if l.up {
                // Everything queued waits behind an urgent segment; it waits only behind
                // other urgent ones.
                if urgent {
                    l.urgent_free_at = l.urgent_free_at.max(now_us) + us;
                }
                l.free_at = l.free_at.max(now_us) + us;
            } else {
                l.backlog += us;
            }
        }
        self.actions
            .push_back(Action::Transmit { to, bytes, urgent });
    }

    /// When [`Event::Tick`] should next come.
    pub fn next_timeout(&self) -> Option<u64> {
        let out = self
            .outbound
            .values()
            .filter_map(|o| o.checkpoint.as_ref())
            .filter(|c| c.4.suspended.is_none())
            .map(|c| c.4.deadline);
        let inb = self
            .inbound
            .values()
            .flat_map(|i| i.reports.values())
            .filter(|r| r.1.suspended.is_none() && r.1.tries < self.cfg.max_retries)
            .map(|r| r.1.deadline);
        let idle = self
            .inbound
            .iter()
            .filter(|(s, i)| self.up(s.originator) && !i.awaiting_host())
            .map(|(s, i)| i.last_heard + self.idle_limit(s.originator));
        out.chain(inb).chain(idle).min()
    }

    /// Handles one event.
    pub fn handle(&mut self, now: u64, event: Event) {
        self.now = now;
        match event {
            Event::Send { id, to, block } => {
                let red = block.len() as u64;
                self.send(now, id, to, block, red);
            }
            Event::SendGreen { id, to, block } => self.send(now, id, to, block, 0),
            Event::Datagram { from, bytes } => match Segment::decode(&bytes) {
                Ok(s) => self.segment(now, from, s),
                Err(_) => self.malformed += 1,
            },
            Event::LinkUp { engine, owlt_ms } => {
                let l = self.links.entry(engine).or_default();
                l.owlt_ms = owlt_ms;
                if !l.up {
                    l.up = true;
                    l.free_at = now * 1000 + l.backlog;
                    l.urgent_free_at = now * 1000;
                    l.backlog = 0;
                }
                self.resume(now, engine);
            }
            Event::Rate {
                engine,
                bytes_per_sec,
            } => self.links.entry(engine).or_default().rate = bytes_per_sec,
            Event::SegmentSize { engine, bytes } => {
                self.links.entry(engine).or_default().max_segment = Some(bytes.max(1));
            }
            Event::LinkDown { engine } => {
                let l = self.links.entry(engine).or_default();
                if l.up {
                    l.up = false;
                    l.backlog = l.free_at.saturating_sub(now * 1000);
                }
                self.suspend(now, engine);
            }
            Event::Tick => self.timers(now),
            Event::Stored { session } => self.stored(now, session),
            Event::Refused { session } => {
                if self.drop_inbound(session).is_some() {
                    self.cancel_inbound(session.originator, session, CancelReason::SystemCancelled);
                }
            }
        }
    }

    /// The host stored a delivered block: the full report goes out, with its timer.
    fn stored(&mut self, now: u64, session: SessionId) {
        let timer = self.timer(session.originator, now, true);
        let Some(i) = self.inbound.get_mut(&session) else {
            return;
        };
        if !i.delivered || i.stored {
            return;
        }
        if i.red_len == Some(0) {
            // All green: nobody waits for a report.
            self.drop_inbound(session);
            return;
        }
        i.stored = true;
        let len = i.red_len.unwrap_or(0);
        let serial = i.next_report.max(1);
        i.next_report = serial + 1;
        let bytes = seg(session, full_report(serial, i.last_checkpoint, len));
        i.reports.insert(serial, (bytes.clone(), timer));
        self.transmit(session.originator, bytes);
    }

    fn send(&mut self, now: u64, id: u64, to: u64, block: Vec<u8>, red_len: u64) {
        if block.len() as u64 > self.cfg.max_block || self.outbound.len() >= self.cfg.max_sessions {
            self.actions.push_back(Action::Failed {
                id,
                reason: CancelReason::SystemCancelled,
            });
            return;
        }
        let number = self.next_session;
        self.next_session += 1;
        self.outbound.insert(
            number,
            Outbound {
                id,
                to,
                block,
                red_len,
                next_checkpoint: 1,
                checkpoint: None,
                reports_seen: std::collections::BTreeSet::new(),
            },
        );
        if red_len > 0 {
            self.send_ranges(now, number, &[(0, red_len)], 0);
        }
        self.send_green(number);
        if red_len == 0 {
            // Nothing to wait for: an all-green block is done once handed to the link.
            if let Some(o) = self.outbound.remove(&number) {
                self.actions.push_back(Action::Sent { id: o.id });
            }
        }
    }

    /// Sends the green part of a block once, the last segment marking the end of the block.
    fn send_green(&mut self, number: u64) {
        let Some(o) = self.outbound.get(&number) else {
            return;
        };
        let (to, total, mut at) = (o.to, o.block.len() as u64, o.red_len);
        let max = self.segment_size(to) as u64;
        let session = SessionId {
            originator: self.cfg.engine_id,
            number,
        };
        let mut segments = Vec::new();
        while at < total {
            let end = (at + max).min(total);
            segments.push(seg(
                session,
                Content::Data {
                    red: false,
                    checkpoint: None,
                    end_of_red: false,
                    end_of_block: end == total,
                    client_service: 1,
                    offset: at,
                    data: o.block.get(at as usize..end as usize).unwrap_or_default(),
                },
            ));
            at = end;
        }
        self.data_bytes_sent += total - o.red_len;
        for bytes in segments {
            self.transmit_lane(to, bytes, false);
        }
    }

    /// Sends the `ranges` of a block's red part; the very last segment is a checkpoint
    /// answering report `report_serial` (0 for the first pass), and its timer starts.
    fn send_ranges(&mut self, now: u64, number: u64, ranges: &[(u64, u64)], report_serial: u64) {
        let Some(o) = self.outbound.get(&number) else {
            return;
        };
        let peer = o.to;
        let max = self.segment_size(peer) as u64;
        let (red_len, total) = (o.red_len, o.block.len() as u64);
        let serial = o.next_checkpoint;
        let session = SessionId {
            originator: self.cfg.engine_id,
            number,
        };
        let mut segments = Vec::new();
        let (mut data_bytes, mut checkpoint_bytes) = (0u64, 0u64);
        let last_range = ranges.len().saturating_sub(1);
        for (r, (from, to)) in ranges.iter().enumerate() {
            let mut at = *from;
            loop {
                let end = (at + max).min(*to);
                let last = r == last_range && end >= *to;
                let data = o.block.get(at as usize..end as usize).unwrap_or_default();
                data_bytes += data.len() as u64;
                checkpoint_bytes = data.len() as u64;
                segments.push(seg(
                    session,
                    Content::Data {
                        red: true,
                        checkpoint: last.then_some(Checkpoint {
                            serial,
                            report_serial,
                        }),
                        end_of_red: end == red_len && last,
                        end_of_block: end == total && last,
                        client_service: 1,
                        offset: at,
                        data,
                    },
                ));
                if end >= *to {
                    break;
                }
                at = end;
            }
        }
        self.data_bytes_sent += data_bytes;
        let checkpoint = segments.last().cloned();
        // A first pass queues behind other first passes; sending gaps again goes ahead.
        let urgent = report_serial > 0;
        // On a lossy link a recovery round goes twice, and every checkpoint: the round's
        // data, its copy, then the checkpoint and its copy, so a burst of loss takes one
        // copy of a segment, not both, and the checkpoint is answered only once both
        // copies of the data had their chance (a report between them would ask for what
        // the second copy brings).
        let (copies, data_copies) = (
            self.copies(peer),
            if urgent {
                self.data_copies(peer, now)
            } else {
                1
            },
        );
        let mut order = segments;
        if copies > 1 || data_copies > 1 {
            if let Some(cp) = order.pop() {
                let data = order.clone();
                for _ in 1..data_copies {
                    self.redundant_bytes_sent += data_bytes - checkpoint_bytes;
                    order.extend(data.iter().cloned());
                }
                let cps = copies.max(data_copies);
                self.redundant_bytes_sent += checkpoint_bytes * (cps as u64 - 1);
                order.extend(std::iter::repeat_n(cp, cps));
            }
        }
        for bytes in order {
            self.transmit_lane(peer, bytes, urgent);
        }
        // The timer runs from when the checkpoint will have left (after what is queued).
        let timer = self.timer(peer, now, urgent);
        if let (Some(o), Some(cp)) = (self.outbound.get_mut(&number), checkpoint) {
            o.next_checkpoint += 1;
            o.checkpoint = Some((serial, report_serial, checkpoint_bytes, cp, timer));
        }
    }

    fn segment(&mut self, now: u64, from: u64, s: Segment<'_>) {
        let session = s.session;
        match s.content {
            Content::Data {
                red,
                checkpoint,
                end_of_red,
                end_of_block,
                offset,
                data,
                ..
            } => self.data(
                now,
                from,
                session,
                red,
                checkpoint,
                (end_of_red, end_of_block),
                offset,
                data,
            ),
            Content::Report {
                serial,
                checkpoint_serial,
                upper,
                lower,
                claims,
            } => self.report(
                now,
                from,
                session,
                (serial, checkpoint_serial),
                (lower, upper),
                &claims,
            ),
            Content::ReportAck { serial } => {
                if let Some(i) = self.inbound.get_mut(&session) {
                    i.reports.remove(&serial);
                    // Closed once a report claiming it all was acknowledged: one sent after
                    // the host stored the block, not an earlier one acknowledged late.
                    if i.delivered && i.stored && i.reports.is_empty() {
                        let (len, last) = (i.red_len.unwrap_or(0), i.next_report.saturating_sub(1));
                        self.drop_inbound(session);
                        self.remember_closed(session, len, last);
                    }
                }
            }
            Content::Cancel { by_sender, reason } => {
                let ack = seg(
                    session,
                    Content::CancelAck {
                        to_sender: by_sender,
                    },
                );
                if by_sender {
                    self.drop_inbound(session);
                } else if session.originator == self.cfg.engine_id {
                    if let Some(o) = self.outbound.remove(&session.number) {
                        self.actions.push_back(Action::Failed { id: o.id, reason });
                    }
                }
                self.transmit(from, ack);
            }
            Content::CancelAck { .. } => {}
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn data(
        &mut self,
        now: u64,
        from: u64,
        session: SessionId,
        red: bool,
        checkpoint: Option<Checkpoint>,
        (end_of_red, end_of_block): (bool, bool),
        offset: u64,
        data: &[u8],
    ) {
        let end = offset + data.len() as u64;
        if let Some(&(len, last)) = self.closed.get(&session) {
            // Its last report again (RFC 5326 §6.8 (b)): a serial of its own would be new to
            // the sender only if that report was lost, and a serial the sender saw for a
            // partial report would be taken for that one and only acknowledged.
            if let Some(cp) = checkpoint {
                self.transmit(from, seg(session, full_report(last.max(1), cp.serial, len)));
            }
            return;
        }
        let miscoloured = self.inbound.get(&session).is_some_and(|i| {
            if red {
                i.green_from.is_some_and(|g| end > g)
            } else {
                i.red_len.is_some_and(|r| offset < r)
            }
        });
        let full = self.held + data.len() as u64 > self.cfg.max_inbound_bytes;
        if miscoloured || full || end > self.cfg.max_block {
            let reason = if miscoloured {
                CancelReason::Miscolored
            } else {
                CancelReason::SystemCancelled
            };
            self.drop_inbound(session);
            self.cancel_inbound(from, session, reason);
            return;
        }
        if !self.inbound.contains_key(&session) && self.inbound.len() >= self.cfg.max_sessions {
            self.cancel_inbound(from, session, CancelReason::SystemCancelled);
            return;
        }
        let timer = self.timer(from, now, true);
        let mut report_out = None;
        let mut first_pass = None;
        let i = self.inbound.entry(session).or_default();
        i.last_heard = now;
        if !i.delivered && !data.is_empty() {
            let (added, released) = i.take_piece(offset, data);
            i.held = (i.held + added).saturating_sub(released);
            self.held = (self.held + added).saturating_sub(released);
        }
        if end_of_red {
            i.red_len = Some(end);
        }
        if !red {
            i.green_from = Some(i.green_from.map_or(offset, |g| g.min(offset)));
            if offset == 0 {
                // Green from the first byte: the red part is empty.
                i.red_len = Some(0);
            }
        }
        if end_of_block {
            i.block_len = Some(end);
        }
        if let Some(cp) = checkpoint {
            i.last_checkpoint = cp.serial;
        }
        // A checkpoint answered before (sent again, or its second copy): its report goes
        // again if not yet acknowledged, and no new one is made (RFC 5326 §6.8 (b)).
        let repeated = checkpoint
            .and_then(|cp| i.answered.get(&cp.serial).copied())
            .map(|serial| i.reports.get(&serial).map(|(bytes, _)| bytes.clone()));
        let checkpoint = checkpoint.filter(|_| repeated.is_none());
        let completes = !i.delivered && i.complete();
        // No report may say the whole block arrived before the host has stored it: a crash in
        // between would lose a block its sender counts as delivered. Such a report waits for
        // [`Event::Stored`].
        let hold = completes || (i.delivered && !i.stored);
        if let Some(cp) = checkpoint.filter(|_| !hold) {
            // A report of everything received up to the checkpoint's end.
            let claims: Vec<Claim> = if i.delivered {
                vec![Claim {
                    offset: 0,
                    length: i.red_len.unwrap_or(end),
                }]
            } else {
                let upper = i.red_len.unwrap_or(0).max(end);
                i.ranges()
                    .into_iter()
                    .filter(|(s, _)| *s < upper)
                    .map(|(s, e)| Claim {
                        offset: s,
                        length: e.min(upper) - s,
                    })
                    .collect()
            };
            let upper = i.red_len.unwrap_or(0).max(end);
            if cp.report_serial == 0 && !i.delivered {
                let claimed: u64 = claims.iter().map(|c| c.length).sum();
                first_pass = Some((upper.saturating_sub(claimed), upper));
            }
            let serial = i.next_report.max(1);
            i.next_report = serial + 1;
            i.answered.insert(cp.serial, serial);
            while i.answered.len() > MAX_ANSWERED {
                i.answered.pop_first();
            }
            let bytes = seg(
                session,
                Content::Report {
                    serial,
                    checkpoint_serial: cp.serial,
                    upper,
                    lower: 0,
                    claims,
                },
            );
            i.reports.insert(serial, (bytes.clone(), timer));
            report_out = Some(bytes);
        }
        if completes {
            let len = i.block_len.unwrap_or(0).max(i.red_len.unwrap_or(0)) as usize;
            // Complete means one gapless range from 0, which is the prefix: it is the block.
            let mut block = std::mem::take(&mut i.contig);
            block.resize(len, 0);
            for (off, piece) in &i.pieces {
                let start = *off as usize;
                let stop = (start + piece.len()).min(len);
                if let (Some(dst), Some(src)) = (
                    block.get_mut(start..stop),
                    piece.get(..stop.saturating_sub(start)),
                ) {
                    dst.copy_from_slice(src);
                }
            }
            i.delivered = true;
            i.pieces.clear();
            self.held = self.held.saturating_sub(i.held);
            i.held = 0;
            self.actions.push_back(Action::Deliver {
                from,
                session,
                block,
            });
        }
        if let Some((missing, span)) = first_pass {
            self.note_loss(from, missing, span);
        }
        if let Some(bytes) = report_out {
            for _ in 1..self.copies(from) {
                self.transmit(from, bytes.clone());
            }
            self.transmit(from, bytes);
        }
        if let Some(Some(bytes)) = repeated {
            self.transmit(from, bytes);
        }
    }

    /// A report (`serial`, answering checkpoint `checkpoint_serial`) of the bytes
    /// `lower..upper`: acknowledged, and its gaps sent again.
    fn report(
        &mut self,
        now: u64,
        from: u64,
        session: SessionId,
        (serial, checkpoint_serial): (u64, u64),
        (lower, upper): (u64, u64),
        claims: &[Claim],
    ) {
        // Always acknowledge a report (RFC 5326 §6.13), also a repeated one.
        self.transmit(from, seg(session, Content::ReportAck { serial }));
        if session.originator != self.cfg.engine_id {
            return;
        }
        let Some(o) = self.outbound.get_mut(&session.number) else {
            return;
        };
        if !o.reports_seen.insert(serial) {
            return;
        }
        while o.reports_seen.len() > MAX_REPORTS_SEEN {
            o.reports_seen.pop_first();
        }
        // Reports speak of the red part only (RFC 5326 §6.13): green data is never resent.
        let total = o.red_len;
        // The gaps between the claims, within the report's bounds.
        let mut gaps = Vec::new();
        let mut at = lower;
        for c in claims {
            let start = lower + c.offset;
            if start > at {
                gaps.push((at, start));
            }
            at = start + c.length;
        }
        if at < upper {
            gaps.push((at, upper));
        }
        if gaps.is_empty() && upper >= total {
            let id = o.id;
            self.outbound.remove(&session.number);
            self.actions.push_back(Action::Sent { id });
            return;
        }
        // The first pass's checkpoint has serial 1: what its report lacks, the link lost.
        let first_pass = (checkpoint_serial == 1).then(|| {
            let missing: u64 = gaps.iter().map(|(a, b)| b - a).sum();
            (missing, upper.saturating_sub(lower))
        });
        if upper < total {
            gaps.push((upper, total));
        }
        o.checkpoint = None;
        if let Some((missing, span)) = first_pass {
            self.note_loss(from, missing, span);
        }
        self.send_ranges(now, session.number, &gaps, serial);
    }

    fn timers(&mut self, now: u64) {
        let max = self.cfg.max_retries;
        let margin = self.cfg.timer_margin_ms;
        // A timer sent again runs from when its segment will have left, a round trip on.
        let due: BTreeMap<u64, u64> = self
            .links
            .iter()
            .map(|(e, l)| (*e, l.departure(now, true) + 2 * l.owlt_ms + margin))
            .collect();
        let round = |e: u64| due.get(&e).copied().unwrap_or(now + margin);
        let mut cancel = Vec::new();
        let mut resend = Vec::new();
        let mut resend_bytes = 0u64;
        for (number, o) in self.outbound.iter_mut() {
            if let Some((_, _, checkpoint_bytes, bytes, t)) = o.checkpoint.as_mut() {
                if t.suspended.is_none() && t.deadline <= now {
                    if t.tries >= max {
                        cancel.push(*number);
                        continue;
                    }
                    t.tries += 1;
                    t.deadline = round(o.to);
                    resend_bytes += *checkpoint_bytes;
                    resend.push((o.to, bytes.clone(), *checkpoint_bytes));
                }
            }
        }
        for (session, i) in self.inbound.iter_mut() {
            for (bytes, t) in i.reports.values_mut() {
                if t.suspended.is_none() && t.deadline <= now && t.tries < max {
                    t.tries += 1;
                    t.deadline = round(session.originator);
                    resend.push((session.originator, bytes.clone(), 0));
                }
            }
        }
        for number in cancel {
            if let Some(o) = self.outbound.remove(&number) {
                let session = SessionId {
                    originator: self.cfg.engine_id,
                    number,
                };
                let reason = CancelReason::RetransmissionLimit;
                self.transmit(
                    o.to,
                    seg(
                        session,
                        Content::Cancel {
                            by_sender: true,
                            reason,
                        },
                    ),
                );
                self.actions.push_back(Action::Failed { id: o.id, reason });
            }
        }
        self.data_bytes_sent += resend_bytes;
        for (to, bytes, data_bytes) in resend {
            // Sent again on a timer: twice on a lossy link, like the first time.
            for _ in 1..self.copies(to) {
                self.redundant_bytes_sent += data_bytes;
                self.transmit(to, bytes.clone());
            }
            self.transmit(to, bytes);
        }
        // Inbound sessions gone quiet while their link is up: the sender has given up (or
        // never meant to finish). One the host still has to store is kept.
        let idle: Vec<SessionId> = self
            .inbound
            .iter()
            .filter(|(s, i)| {
                self.up(s.originator)
                    && !i.awaiting_host()
                    && now >= i.last_heard + self.idle_limit(s.originator)
            })
            .map(|(s, _)| *s)
            .collect();
        for session in idle {
            if let Some(i) = self.drop_inbound(session) {
                self.timed_out += 1;
                if i.delivered {
                    let last = i.next_report.saturating_sub(1);
                    self.remember_closed(session, i.red_len.unwrap_or(0), last);
                }
            }
        }
    }

    /// Forgets an inbound session, and the bytes it held.
    fn drop_inbound(&mut self, session: SessionId) -> Option<Inbound> {
        let i = self.inbound.remove(&session)?;
        self.held = self.held.saturating_sub(i.held);
        Some(i)
    }

    /// Cancels an inbound session as its receiver (RFC 5326 §6.19: cancel from the block
    /// receiver).
    fn cancel_inbound(&mut self, to: u64, session: SessionId, reason: CancelReason) {
        let cancel = Content::Cancel {
            by_sender: false,
            reason,
        };
        self.transmit(to, seg(session, cancel));
    }

    /// Remembers a session received whole, so a checkpoint sent again gets a full report.
    fn remember_closed(&mut self, session: SessionId, len: u64, last_report: u64) {
        self.closed.insert(session, (len, last_report));
        self.closed_order.push_back(session);
        while self.closed_order.len() > MAX_CLOSED {
            if let Some(old) = self.closed_order.pop_front() {
                self.closed.remove(&old);
            }
        }
    }

    /// Runs `f` on every timer of sessions with `engine`.
    fn each_timer(&mut self, engine: u64, mut f: impl FnMut(&mut Timer)) {
        for o in self.outbound.values_mut().filter(|o| o.to == engine) {
            if let Some(c) = o.checkpoint.as_mut() {
                f(&mut c.4);
            }
        }
        for (session, i) in self.inbound.iter_mut() {
            if session.originator == engine {
                for (_, t) in i.reports.values_mut() {
                    f(t);
                }
            }
        }
    }

    /// The link to `engine` went down: its timers keep what they had left.
    fn suspend(&mut self, now: u64, engine: u64) {
        self.each_timer(engine, |t| {
            if t.suspended.is_none() {
                t.suspended = Some(t.deadline.saturating_sub(now));
            }
        });
    }

    /// The link to `engine` came back: its timers run on from what they had left, and its
    /// inbound sessions' silence counts from now.
    fn resume(&mut self, now: u64, engine: u64) {
        for (s, i) in self.inbound.iter_mut() {
            if s.originator == engine {
                i.last_heard = now;
            }
        }
        self.each_timer(engine, |t| {
            if let Some(left) = t.suspended.take() {
                t.deadline = now + left;
            }
        });
    }
}

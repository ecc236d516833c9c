//! Two LTP engines (RFC 5326) in virtual time over a link with one-way delay and loss: blocks
//! arrive whole; the red part is sent again only where reports show gaps (the bytes are
//! counted); a contact that closes mid-session suspends the timers and the session finishes
//! at the next contact without restarting, where unsuspended timers would have given up.

// Test code: a panic is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;

use transports::ltp::engine::{Action, Engine, EngineConfig, Event};
use transports::ltp::segment::{Content, Segment};

const OWLT: u64 = 2_000;

struct Net {
    engines: [Engine; 2],
    /// (arrival time, sequence) -> (to engine index, from id, bytes).
    wire: BTreeMap<(u64, u64), (usize, u64, Vec<u8>)>,
    seq: u64,
    now: u64,
    rng: u64,
    loss: f64,
    up: bool,
    delivered: Vec<Vec<u8>>,
    sent: Vec<u64>,
    failed: Vec<u64>,
    /// Red data bytes A put on the wire, and those lost.
    data_bytes: u64,
    data_lost: u64,
    checkpoints_resent: u64,
    /// Checkpoints A sent, (session, serial), copies counted once: one per round.
    rounds: std::collections::BTreeSet<(u64, u64)>,
    /// When A last heard a block was received in full.
    sent_at: u64,
    /// The receiving host stores what is delivered at once.
    store: bool,
}

impl Net {
    fn new(loss: f64, max_retries: u32) -> Self {
        Self::with_redundancy(loss, max_retries, EngineConfig::new(0).redundancy_from_ppm)
    }

    /// Engines that send recovery twice from `redundancy_from_ppm` of loss.
    fn with_redundancy(loss: f64, max_retries: u32, redundancy_from_ppm: u32) -> Self {
        let cfg = |id| {
            let mut c = EngineConfig::new(id);
            c.max_segment = 1000;
            c.max_retries = max_retries;
            c.redundancy_from_ppm = redundancy_from_ppm;
            c
        };
        let mut n = Net {
            engines: [Engine::new(cfg(1)), Engine::new(cfg(2))],
            wire: BTreeMap::new(),
            seq: 0,
            now: 0,
            rng: 0x1234_5678,
            loss,
            up: true,
            delivered: Vec::new(),
            sent: Vec::new(),
            failed: Vec::new(),
            data_bytes: 0,
            data_lost: 0,
            checkpoints_resent: 0,
            rounds: std::collections::BTreeSet::new(),
            sent_at: 0,
            store: true,
        };
        n.engines[0].handle(
            0,
            Event::LinkUp {
                engine: 2,
                owlt_ms: OWLT,
            },
        );
        n.engines[1].handle(
            0,
            Event::LinkUp {
                engine: 1,
                owlt_ms: OWLT,
            },
        );
        n
    }

    fn lose(&mut self) -> bool {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        ((self.rng % 10_000) as f64) < self.loss * 10_000.0
    }

    fn drain(&mut self, e: usize) {
        let mut seen_checkpoints = std::collections::BTreeSet::new();
        while let Some(a) = self.engines[e].poll_action() {
            match a {
                Action::Transmit { bytes, .. } => {
                    let lost = !self.up || self.lose();
                    if e == 0 {
                        if let Ok(Segment {
                            session,
                            content:
                                Content::Data {
                                    data, checkpoint, ..
                                },
                            ..
                        }) = Segment::decode(&bytes)
                        {
                            self.data_bytes += data.len() as u64;
                            if lost {
                                self.data_lost += data.len() as u64;
                            }
                            if let Some(c) = checkpoint {
                                self.rounds.insert((session.number, c.serial));
                                if !seen_checkpoints.insert(c.serial) {
                                    self.checkpoints_resent += 1;
                                }
                            }
                        }
                    }
                    if !lost {
                        self.seq += 1;
                        let from = if e == 0 { 1 } else { 2 };
                        self.wire
                            .insert((self.now + OWLT, self.seq), (1 - e, from, bytes));
                    }
                }
                Action::Deliver { block, session, .. } => {
                    self.delivered.push(block);
                    if self.store {
                        self.engines[e].handle(self.now, Event::Stored { session });
                    }
                }
                Action::Sent { id } => {
                    self.sent.push(id);
                    self.sent_at = self.now;
                }
                Action::Failed { id, .. } => self.failed.push(id),
            }
        }
    }

    /// Hands `blocks` to A at time 0, for B, with their indexes as IDs.
    fn send_all(&mut self, blocks: &[Vec<u8>]) {
        for (i, b) in blocks.iter().enumerate() {
            self.engines[0].handle(
                0,
                Event::Send {
                    id: i as u64,
                    to: 2,
                    block: b.clone(),
                },
            );
        }
    }

    /// Runs until `until` or until nothing is left to happen.
    fn run(&mut self, until: u64) {
        loop {
            self.drain(0);
            self.drain(1);
            let next_wire = self.wire.keys().next().map(|k| k.0);
            let next_timer = self.engines.iter().filter_map(Engine::next_timeout).min();
            let next = match (next_wire, next_timer) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => match a.or(b) {
                    Some(t) => t,
                    None => return,
                },
            };
            if next > until {
                self.now = until;
                return;
            }
            self.now = self.now.max(next);
            while let Some((&(at, seq), _)) = self.wire.iter().next() {
                if at > self.now {
                    break;
                }
                let (to, from, bytes) = self.wire.remove(&(at, seq)).unwrap();
                self.engines[to].handle(self.now, Event::Datagram { from, bytes });
            }
            for e in &mut self.engines {
                e.handle(self.now, Event::Tick);
            }
        }
    }
}

fn block(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(13).wrapping_add(seed))
        .collect()
}

#[test]
fn rfc5326_6_blocks_arrive_whole_and_only_gaps_are_sent_again() {
    let mut n = Net::new(0.05, 20);
    let blocks: Vec<Vec<u8>> = (0..5).map(|i| block(100_000 + i * 777, i as u8)).collect();
    n.send_all(&blocks);
    n.run(10_000_000);
    let mut got = n.delivered.clone();
    got.sort();
    let mut want = blocks.clone();
    want.sort();
    assert_eq!(got, want);
    n.sent.sort_unstable();
    assert_eq!(
        n.sent,
        vec![0, 1, 2, 3, 4],
        "every block reported received in full"
    );
    assert!(n.failed.is_empty());
    let first: u64 = blocks.iter().map(|b| b.len() as u64).sum();
    assert_eq!(
        n.engines[0].data_bytes_sent + n.engines[0].redundant_bytes_sent,
        n.data_bytes,
        "the engine counts the data bytes it sends, and the second copies apart"
    );
    // Sent again for what was lost (the second copies on this lossy link left aside).
    let again = n.engines[0].data_bytes_sent - first;
    eprintln!(
        "{first} bytes in 5 blocks, 5% loss: {} lost, {again} sent again, {} checkpoints resent, done at {} ms",
        n.data_lost, n.checkpoints_resent, n.now
    );
    // Exactly the lost ranges went again, plus the data of checkpoints sent again when their
    // report was lost (at most one segment each).
    assert!(n.data_lost > 10_000, "{} bytes lost", n.data_lost);
    assert!(
        again <= n.data_lost + n.checkpoints_resent * 1000,
        "{again} bytes sent again for {} lost ({} checkpoints resent)",
        n.data_lost,
        n.checkpoints_resent
    );
}

#[test]
fn rfc5326_6_a_contact_that_closes_mid_session_resumes_at_the_next() {
    // Three retries: with timers running through a 100 s outage, the session would give up.
    let mut n = Net::new(0.0, 3);
    let b = block(50_000, 9);
    n.engines[0].handle(
        0,
        Event::Send {
            id: 7,
            to: 2,
            block: b.clone(),
        },
    );
    n.drain(0);
    // The contact closes before anything arrives: everything on the wire is lost.
    n.up = false;
    n.wire.clear();
    n.engines[0].handle(0, Event::LinkDown { engine: 2 });
    n.engines[1].handle(0, Event::LinkDown { engine: 1 });
    n.run(100_000);
    assert!(n.failed.is_empty(), "timers ran while the link was down");
    assert!(n.delivered.is_empty());
    // The next contact.
    n.up = true;
    n.engines[0].handle(
        100_000,
        Event::LinkUp {
            engine: 2,
            owlt_ms: OWLT,
        },
    );
    n.engines[1].handle(
        100_000,
        Event::LinkUp {
            engine: 1,
            owlt_ms: OWLT,
        },
    );
    n.now = 100_000;
    n.run(1_000_000);
    assert_eq!(n.delivered, vec![b]);
    assert_eq!(n.sent, vec![7]);
    assert!(n.failed.is_empty());
}

#[test]
fn rfc5326_6_hostile_segments_are_counted_not_fatal() {
    let mut e = Engine::new(EngineConfig::new(2));
    e.handle(
        0,
        Event::Datagram {
            from: 1,
            bytes: vec![0xff; 40],
        },
    );
    e.handle(
        0,
        Event::Datagram {
            from: 1,
            bytes: vec![],
        },
    );
    assert_eq!(e.malformed, 2);
    // A segment claiming data past the block limit cancels its session.
    let mut cfg = EngineConfig::new(2);
    cfg.max_block = 1000;
    let mut e = Engine::new(cfg);
    let far = Segment {
        session: transports::ltp::segment::SessionId {
            originator: 1,
            number: 1,
        },
        content: Content::Data {
            red: true,
            checkpoint: None,
            end_of_red: false,
            end_of_block: false,
            client_service: 1,
            offset: 5000,
            data: b"x",
        },
        header_ext: vec![],
        trailer_ext: vec![],
    };
    e.handle(
        0,
        Event::Datagram {
            from: 1,
            bytes: far.encode(),
        },
    );
    match e.poll_action() {
        Some(Action::Transmit { bytes, .. }) => assert!(matches!(
            Segment::decode(&bytes).unwrap().content,
            Content::Cancel {
                by_sender: false,
                ..
            }
        )),
        other => panic!("{other:?}"),
    }
}

#[test]
fn rfc5326_6_a_block_counts_as_sent_only_once_the_receiver_stored_it() {
    let mut n = Net::new(0.0, 20);
    n.store = false;
    let b = block(30_000, 4);
    n.engines[0].handle(
        0,
        Event::Send {
            id: 1,
            to: 2,
            block: b.clone(),
        },
    );
    n.run(60_000);
    assert_eq!(n.delivered, vec![b]);
    assert!(
        n.sent.is_empty(),
        "no report may say it arrived before it is stored"
    );
    // The host stores it: the report goes, and the sender hears.
    let session = transports::ltp::segment::SessionId {
        originator: 1,
        number: 1,
    };
    n.engines[1].handle(n.now, Event::Stored { session });
    n.run(200_000);
    assert_eq!(n.sent, vec![1]);
    assert_eq!(n.delivered.len(), 1, "delivered once");
}

fn data_segment(number: u64, red: bool, offset: u64, data: &[u8], eob: bool) -> Vec<u8> {
    Segment {
        session: transports::ltp::segment::SessionId {
            originator: 1,
            number,
        },
        content: Content::Data {
            red,
            checkpoint: None,
            end_of_red: false,
            end_of_block: eob,
            client_service: 1,
            offset,
            data,
        },
        header_ext: vec![],
        trailer_ext: vec![],
    }
    .encode()
}

fn cancels(e: &mut Engine) -> Vec<transports::ltp::segment::CancelReason> {
    let mut out = Vec::new();
    while let Some(a) = e.poll_action() {
        if let Action::Transmit { bytes, .. } = a {
            if let Content::Cancel { reason, .. } = Segment::decode(&bytes).unwrap().content {
                out.push(reason);
            }
        }
    }
    out
}

#[test]
fn rfc5326_1_1_green_blocks_go_once_unacknowledged_and_arrive_whole_or_not_at_all() {
    // Loss-free: a green block arrives whole; its sender counted it sent at once, and no
    // report or retransmission crossed.
    let mut n = Net::new(0.0, 20);
    let b = block(25_000, 9);
    n.engines[0].handle(
        0,
        Event::SendGreen {
            id: 5,
            to: 2,
            block: b.clone(),
        },
    );
    n.drain(0);
    assert_eq!(n.sent, vec![5], "sent once handed to the link");
    n.run(60_000);
    assert_eq!(n.delivered, vec![b]);
    assert_eq!(n.data_bytes, 25_000, "every byte once, none again");
    assert_eq!(n.checkpoints_resent, 0);

    // Lossy: green blocks that lose a segment are never delivered, never resent, and their
    // sessions time out at the receiver.
    let mut n = Net::new(0.05, 3);
    for id in 0..20u64 {
        n.engines[0].handle(
            0,
            Event::SendGreen {
                id,
                to: 2,
                block: block(10_000, id as u8),
            },
        );
    }
    n.run(10 * 60_000);
    assert_eq!(n.sent.len(), 20);
    assert!(n.data_lost > 0);
    assert_eq!(n.data_bytes, 200_000, "no green byte was sent twice");
    assert!(
        !n.delivered.is_empty() && n.delivered.len() < 20,
        "{}",
        n.delivered.len()
    );
    for d in &n.delivered {
        assert!(
            (0..20u8).any(|s| *d == block(10_000, s)),
            "whole blocks only"
        );
    }
    assert_eq!(
        n.engines[1].timed_out as usize,
        20 - n.delivered.len(),
        "each incomplete green session timed out"
    );
}

#[test]
fn rfc5326_6_21_miscoloured_data_cancels_the_session() {
    let mut e = Engine::new(EngineConfig::new(2));
    // Green from offset 0, then red after it: miscoloured.
    e.handle(
        0,
        Event::Datagram {
            from: 1,
            bytes: data_segment(1, false, 0, b"gggg", false),
        },
    );
    assert!(cancels(&mut e).is_empty());
    e.handle(
        0,
        Event::Datagram {
            from: 1,
            bytes: data_segment(1, true, 4, b"rrrr", false),
        },
    );
    assert_eq!(
        cancels(&mut e),
        vec![transports::ltp::segment::CancelReason::Miscolored]
    );
}

#[test]
fn rfc5326_6_inbound_bytes_are_bounded_and_quiet_sessions_time_out() {
    let mut cfg = EngineConfig::new(2);
    cfg.max_inbound_bytes = 10_000;
    let mut e = Engine::new(cfg);
    e.handle(
        0,
        Event::LinkUp {
            engine: 1,
            owlt_ms: 100,
        },
    );
    // Red segments of many sessions that never end: held up to the bound, then refused.
    for number in 1..=30u64 {
        e.handle(
            0,
            Event::Datagram {
                from: 1,
                bytes: data_segment(number, true, 0, &[7; 1000], false),
            },
        );
    }
    let refused = cancels(&mut e);
    assert_eq!(
        refused.len(),
        20,
        "10 sessions of 1,000 bytes fit, 20 do not"
    );
    // Nothing more arrives: the sessions are dropped once a sender would have given up.
    let limit = (u64::from(EngineConfig::new(2).max_retries) + 1) * (2 * 100 + 1000);
    assert!(e.next_timeout().is_some_and(|t| t <= limit));
    e.handle(limit - 1, Event::Tick);
    assert_eq!(e.timed_out, 0);
    e.handle(limit, Event::Tick);
    assert_eq!(e.timed_out, 10);
    // Room again.
    e.handle(
        limit,
        Event::Datagram {
            from: 1,
            bytes: data_segment(99, true, 0, &[7; 1000], false),
        },
    );
    assert!(cancels(&mut e).is_empty());
    // While the link is down, a quiet session is not dropped.
    e.handle(limit, Event::LinkDown { engine: 1 });
    e.handle(limit * 10, Event::Tick);
    assert_eq!(e.timed_out, 10);
    e.handle(
        limit * 10,
        Event::LinkUp {
            engine: 1,
            owlt_ms: 100,
        },
    );
    e.handle(limit * 10 + limit - 1, Event::Tick);
    assert_eq!(e.timed_out, 10, "silence counts from the link's return");
    e.handle(limit * 11, Event::Tick);
    assert_eq!(e.timed_out, 11);
}

#[test]
fn rfc5326_6_2_timers_count_from_when_a_paced_segment_leaves() {
    // 10,000 bytes at 1,000 bytes/s leave over 10 s: the checkpoint's timer runs from then,
    // so a host pacing at the contact's rate sees no early retransmission.
    let mut e = Engine::new(EngineConfig::new(1));
    e.handle(
        0,
        Event::LinkUp {
            engine: 2,
            owlt_ms: 500,
        },
    );
    e.handle(
        0,
        Event::Rate {
            engine: 2,
            bytes_per_sec: 1000,
        },
    );
    e.handle(
        0,
        Event::Send {
            id: 1,
            to: 2,
            block: vec![1; 10_000],
        },
    );
    let wire: u64 = std::iter::from_fn(|| e.poll_action())
        .map(|a| match a {
            Action::Transmit { bytes, .. } => bytes.len() as u64,
            _ => 0,
        })
        .sum();
    let leaves = (wire * 1000).div_ceil(1000);
    let round = 2 * 500 + EngineConfig::new(1).timer_margin_ms;
    assert_eq!(e.next_timeout(), Some(leaves + round));
    // Without a rate, the timer runs from the handover.
    let mut e = Engine::new(EngineConfig::new(1));
    e.handle(
        0,
        Event::LinkUp {
            engine: 2,
            owlt_ms: 500,
        },
    );
    e.handle(
        0,
        Event::Send {
            id: 1,
            to: 2,
            block: vec![1; 10_000],
        },
    );
    assert_eq!(e.next_timeout(), Some(round));
}

#[test]
fn rfc5326_6_13_a_report_received_again_is_acknowledged_only_and_gaps_go_urgent() {
    // Sending recovery twice (this report says 40% was lost) is tested on its own below.
    let mut cfg = EngineConfig::new(1);
    cfg.redundancy_from_ppm = u32::MAX;
    let mut e = Engine::new(cfg);
    e.handle(
        0,
        Event::LinkUp {
            engine: 2,
            owlt_ms: 100,
        },
    );
    e.handle(
        0,
        Event::Send {
            id: 1,
            to: 2,
            block: vec![5; 5000],
        },
    );
    let first: Vec<bool> = std::iter::from_fn(|| e.poll_action())
        .filter_map(|a| match a {
            Action::Transmit { urgent, .. } => Some(urgent),
            _ => None,
        })
        .collect();
    assert!(
        !first.is_empty() && first.iter().all(|u| !u),
        "a first pass is not urgent"
    );
    let report = Segment {
        session: transports::ltp::segment::SessionId {
            originator: 1,
            number: 1,
        },
        content: Content::Report {
            serial: 7,
            checkpoint_serial: 1,
            upper: 5000,
            lower: 0,
            claims: vec![transports::ltp::segment::Claim {
                offset: 0,
                length: 3000,
            }],
        },
        header_ext: vec![],
        trailer_ext: vec![],
    }
    .encode();
    let answer = |e: &mut Engine| -> (usize, usize, bool) {
        e.handle(
            10,
            Event::Datagram {
                from: 2,
                bytes: report.clone(),
            },
        );
        let (mut acks, mut data, mut all_urgent) = (0, 0, true);
        while let Some(a) = e.poll_action() {
            if let Action::Transmit { bytes, urgent, .. } = a {
                all_urgent &= urgent;
                match Segment::decode(&bytes).unwrap().content {
                    Content::ReportAck { serial: 7 } => acks += 1,
                    Content::Data { .. } => data += 1,
                    other => panic!("{other:?}"),
                }
            }
        }
        (acks, data, all_urgent)
    };
    let (acks, data, urgent) = answer(&mut e);
    assert_eq!(
        (acks, data),
        (1, 2),
        "the gap 3000..5000 goes again, in two 1,400-byte segments"
    );
    assert!(urgent, "recovery goes ahead of first passes");
    assert_eq!(
        answer(&mut e),
        (1, 0, true),
        "the same report again: acknowledged only"
    );
}

#[test]
fn rfc5326_6_segments_out_of_order_overlapping_and_repeated_make_the_block_once() {
    // Green segments (no reports needed) arriving out of order, overlapping and repeated:
    // the block delivered is exactly the bytes sent, once.
    let b = block(25, 3);
    let mut e = Engine::new(EngineConfig::new(2));
    for (offset, end, eob) in [
        (10usize, 20usize, false),
        (0, 5, false),
        (10, 20, false),
        (3, 12, false),
        (20, 25, true),
        (0, 5, false),
    ] {
        e.handle(
            0,
            Event::Datagram {
                from: 1,
                bytes: data_segment(7, false, offset as u64, &b[offset..end], eob),
            },
        );
    }
    let mut delivered = Vec::new();
    while let Some(a) = e.poll_action() {
        if let Action::Deliver { block, .. } = a {
            delivered.push(block);
        }
    }
    assert_eq!(delivered, vec![b]);
}

/// Five blocks over a link losing `loss` of its segments, recovery sent twice from
/// `redundancy_from_ppm`: when the last block was reported whole (ms), the checkpoints sent
/// (one per round, copies apart), and the second copies' data bytes.
fn five_blocks(loss: f64, redundancy_from_ppm: u32) -> (u64, usize, u64) {
    let mut n = Net::with_redundancy(loss, 20, redundancy_from_ppm);
    let blocks: Vec<Vec<u8>> = (0..5).map(|i| block(200_000 + i * 333, i as u8)).collect();
    n.send_all(&blocks);
    n.run(10_000_000);
    assert_eq!(n.sent.len(), 5, "every block reported received in full");
    let mut got = n.delivered.clone();
    got.sort();
    let mut want = blocks;
    want.sort();
    assert_eq!(got, want);
    assert!(n.failed.is_empty());
    (n.sent_at, n.rounds.len(), n.engines[0].redundant_bytes_sent)
}

#[test]
fn rfc5326_6_8_on_a_lossy_link_recovery_goes_twice_and_takes_fewer_rounds() {
    let (once_at, once_rounds, once_extra) = five_blocks(0.05, u32::MAX);
    let (twice_at, twice_rounds, twice_extra) = five_blocks(0.05, 10_000);
    eprintln!(
        "5% loss: once {once_rounds} rounds, done at {once_at} ms; twice {twice_rounds} rounds, \
         done at {twice_at} ms, {twice_extra} bytes sent as second copies"
    );
    assert_eq!(once_extra, 0, "turned off, nothing goes twice");
    assert!(twice_extra > 0, "a 5% lossy link gets second copies");
    // The second copies are of recovery rounds and checkpoints only: far less than the
    // blocks (1 MB) themselves.
    assert!(
        twice_extra < 200_000,
        "{twice_extra} bytes of second copies"
    );
    assert!(
        twice_rounds < once_rounds,
        "{twice_rounds} rounds, {once_rounds} without"
    );
    assert!(
        twice_at < once_at,
        "done at {twice_at} ms, {once_at} without"
    );
    // A clean link sends everything once.
    let (_, clean_rounds, clean_extra) = five_blocks(0.0, 10_000);
    assert_eq!((clean_rounds, clean_extra), (5, 0));
}

#[test]
fn rfc5326_6_8_a_checkpoint_received_again_gets_the_same_report_again() {
    let mut e = Engine::new(EngineConfig::new(2));
    e.handle(
        0,
        Event::LinkUp {
            engine: 1,
            owlt_ms: 100,
        },
    );
    let session = transports::ltp::segment::SessionId {
        originator: 1,
        number: 9,
    };
    let cp = Segment {
        session,
        content: Content::Data {
            red: true,
            checkpoint: Some(transports::ltp::segment::Checkpoint {
                serial: 1,
                report_serial: 0,
            }),
            end_of_red: true,
            end_of_block: true,
            client_service: 1,
            offset: 4000,
            data: &[1; 1000],
        },
        header_ext: vec![],
        trailer_ext: vec![],
    }
    .encode();
    let reports = |e: &mut Engine, at: u64| -> Vec<u64> {
        e.handle(
            at,
            Event::Datagram {
                from: 1,
                bytes: cp.clone(),
            },
        );
        std::iter::from_fn(|| e.poll_action())
            .filter_map(|a| match a {
                Action::Transmit { bytes, .. } => match Segment::decode(&bytes).unwrap().content {
                    Content::Report { serial, .. } => Some(serial),
                    _ => None,
                },
                _ => None,
            })
            .collect()
    };
    let first = reports(&mut e, 10);
    assert!(!first.is_empty());
    let serial = first[0];
    assert!(first.iter().all(|s| *s == serial), "{first:?}");
    // The same checkpoint again (a copy, or sent again): the same report, not a new serial.
    let again = reports(&mut e, 20);
    assert_eq!(again, vec![serial]);
}

//! The Ethernet framing and its reliable transfer, in virtual time: bundles from one byte to
//! megabytes cross a wire that drops frames, each arrives whole, the sender hears "sent"
//! only after the receiver stored it, and only the frames missing go again. Hostile frames
//! are typed errors; the receiver's memory stays within its bounds.

// Test code: a panic is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;

use proptest::prelude::*;
use transports::ether::frame::{Body, Frame, FrameError, Mac, ETHERTYPE};
use transports::ether::link::{Action, EtherConfig, EtherLink, Event};

const A: Mac = [2, 0, 0, 0, 0, 1];
const B: Mac = [2, 0, 0, 0, 0, 2];
const WIRE_MS: u64 = 1;

struct Wire {
    ends: [EtherLink; 2],
    /// (arrival, seq) -> (to end, frame).
    flight: BTreeMap<(u64, u64), (usize, Vec<u8>)>,
    seq: u64,
    now: u64,
    rng: u64,
    loss: f64,
    delivered: Vec<Vec<u8>>,
    sent: Vec<(u64, bool)>,
    frames_lost: u64,
    /// Frames end 1 sent to end 0.
    frames_to_a: u64,
    store: bool,
}

impl Wire {
    fn new(loss: f64) -> Self {
        Wire {
            ends: [
                EtherLink::new(EtherConfig::new(A)),
                EtherLink::new(EtherConfig::new(B)),
            ],
            flight: BTreeMap::new(),
            seq: 0,
            now: 0,
            rng: 0x9e37_79b9,
            loss,
            delivered: Vec::new(),
            sent: Vec::new(),
            frames_lost: 0,
            frames_to_a: 0,
            store: true,
        }
    }

    fn lose(&mut self) -> bool {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        ((self.rng % 10_000) as f64) < self.loss * 10_000.0
    }

    fn drain(&mut self, e: usize) {
        while let Some(a) = self.ends[e].poll_action() {
            match a {
                Action::Transmit(frame) => {
                    if e == 1 {
                        self.frames_to_a += 1;
                    }
                    if self.lose() {
                        self.frames_lost += 1;
                    } else {
                        self.seq += 1;
                        self.flight
                            .insert((self.now + WIRE_MS, self.seq), (1 - e, frame));
                    }
                }
                Action::Deliver {
                    from,
                    transfer,
                    bundle,
                } => {
                    self.delivered.push(bundle);
                    if self.store {
                        self.ends[e].handle(self.now, Event::Stored { from, transfer });
                    }
                }
                Action::Sent { tag, ok } => self.sent.push((tag, ok)),
            }
        }
    }

    fn run(&mut self, until: u64) {
        loop {
            self.drain(0);
            self.drain(1);
            let next_wire = self.flight.keys().next().map(|k| k.0);
            let next_timer = self.ends.iter().filter_map(EtherLink::next_timeout).min();
            let Some(next) = [next_wire, next_timer].into_iter().flatten().min() else {
                return;
            };
            if next > until {
                self.now = until;
                return;
            }
            self.now = self.now.max(next);
            while let Some((&(at, seq), _)) = self.flight.iter().next() {
                if at > self.now {
                    break;
                }
                let (to, frame) = self.flight.remove(&(at, seq)).unwrap();
                self.ends[to].handle(self.now, Event::Frame(frame));
            }
            for e in &mut self.ends {
                e.handle(self.now, Event::Tick);
            }
        }
    }
}

fn bundle(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed))
        .collect()
}

#[test]
fn bundles_of_every_size_cross_a_lossy_wire_whole_and_are_sent_once_stored() {
    let piece = EtherConfig::new(A).piece();
    let sizes = [0, 1, piece - 1, piece, piece + 1, 100_000, 3 << 20];
    let mut w = Wire::new(0.05);
    for (i, len) in sizes.iter().enumerate() {
        w.ends[0].handle(
            0,
            Event::Send {
                tag: i as u64,
                to: B,
                bundle: bundle(*len, i as u8),
            },
        );
    }
    w.run(600_000);
    let mut got = w.delivered.clone();
    got.sort();
    let mut want: Vec<_> = sizes
        .iter()
        .enumerate()
        .map(|(i, l)| bundle(*l, i as u8))
        .collect();
    want.sort();
    assert_eq!(got, want);
    let mut sent = w.sent.clone();
    sent.sort_unstable();
    assert_eq!(
        sent,
        (0..sizes.len() as u64)
            .map(|t| (t, true))
            .collect::<Vec<_>>()
    );
    let c = w.ends[0].counters;
    assert!(w.frames_lost > 0);
    // Frames sent again: those lost, plus probes when an ack itself was lost.
    assert!(
        c.resent <= w.frames_lost * 2 + 20,
        "{} frames resent for {} lost",
        c.resent,
        w.frames_lost
    );
    println!("{} frames lost, {} resent", w.frames_lost, c.resent);
}

#[test]
fn a_bundle_counts_as_sent_only_once_the_receiver_stored_it_and_a_lost_ack_is_repeated() {
    let mut w = Wire::new(0.0);
    w.store = false;
    w.ends[0].handle(
        0,
        Event::Send {
            tag: 7,
            to: B,
            bundle: bundle(10_000, 1),
        },
    );
    w.run(50);
    assert_eq!(w.delivered.len(), 1);
    assert!(w.sent.is_empty(), "not stored yet: not sent");
    w.ends[1].handle(
        w.now,
        Event::Stored {
            from: A,
            transfer: 1,
        },
    );
    w.run(1_000);
    assert_eq!(w.sent, vec![(7, true)]);
    // A duplicate last frame (a probe whose "done" was lost) is answered "done" again.
    let probe = Frame {
        dst: B,
        src: A,
        transfer: 1,
        body: Body::Data {
            index: 6,
            count: 7,
            total: 10_000,
            data: &[0; 1000],
        },
    };
    w.ends[1].handle(w.now, Event::Frame(probe.encode()));
    match w.ends[1].poll_action() {
        Some(Action::Transmit(f)) => {
            let f = Frame::decode(&f).unwrap();
            assert_eq!((f.transfer, f.body), (1, Body::Done { more: vec![] }));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(w.delivered.len(), 1, "not delivered twice");
}

#[test]
fn a_peer_that_never_answers_is_given_up_after_the_retries() {
    let mut link = EtherLink::new(EtherConfig::new(A));
    link.handle(
        0,
        Event::Send {
            tag: 3,
            to: B,
            bundle: vec![1; 100],
        },
    );
    let mut now = 0;
    let mut outcome = None;
    while outcome.is_none() {
        now = link.next_timeout().expect("a timer while sending");
        link.handle(now, Event::Tick);
        while let Some(a) = link.poll_action() {
            if let Action::Sent { tag, ok } = a {
                outcome = Some((tag, ok));
            }
        }
    }
    assert_eq!(outcome, Some((3, false)));
    let cfg = EtherConfig::new(A);
    assert!(now >= cfg.rto_ms * 60, "backed off: {now} ms");
    assert_eq!(link.next_timeout(), None);
}

#[test]
fn hostile_frames_are_typed_errors_and_the_receiver_stays_within_bounds() {
    let data = |index, count, total, d: &'static [u8]| {
        Frame {
            dst: B,
            src: A,
            transfer: 9,
            body: Body::Data {
                index,
                count,
                total,
                data: d,
            },
        }
        .encode()
    };
    let mut other = data(0, 1, 1, b"x");
    other[12] = 0x08;
    other[13] = 0x00;
    assert_eq!(Frame::decode(&other), Err(FrameError::EtherType(0x0800)));
    assert!(matches!(
        Frame::decode(&data(3, 3, 100, b"x")),
        Err(FrameError::Inconsistent { .. })
    ));
    assert!(matches!(
        Frame::decode(&data(0, 50, 10, b"x")),
        Err(FrameError::Inconsistent { .. })
    ));
    let full = data(0, 2, 2000, b"abc");
    assert_eq!(
        Frame::decode(&full[..full.len() - 1]),
        Err(FrameError::Truncated)
    );
    let mut padded = full.clone();
    padded.extend_from_slice(&[0; 40]);
    assert!(
        Frame::decode(&padded).is_ok(),
        "Ethernet padding is allowed"
    );
    assert_eq!(u16::from_be_bytes([full[12], full[13]]), ETHERTYPE);

    // Bounds: transfers that never finish fill the inbound table, then frames are dropped;
    // quiet transfers are dropped after the idle time.
    let mut cfg = EtherConfig::new(B);
    cfg.max_inbound = 4;
    cfg.max_inbound_bytes = 1 << 20;
    let mut link = EtherLink::new(cfg);
    for t in 0..10u64 {
        let f = Frame {
            dst: B,
            src: A,
            transfer: t,
            body: Body::Data {
                index: 0,
                count: 2,
                total: 2000,
                data: &[1; 1000],
            },
        };
        link.handle(0, Event::Frame(f.encode()));
    }
    assert_eq!(link.counters.dropped, 6);
    // Tiny pieces claiming a huge count are refused outright.
    let tiny = Frame {
        dst: B,
        src: A,
        transfer: 99,
        body: Body::Data {
            index: 0,
            count: 1_000_000,
            total: 1_000_000,
            data: b"x",
        },
    };
    link.handle(0, Event::Frame(tiny.encode()));
    assert_eq!(link.counters.malformed, 1);
    link.handle(cfg.idle_ms, Event::Tick);
    assert_eq!(link.counters.timed_out, 4);
    assert_eq!(link.next_timeout(), None);
}

proptest! {
    #[test]
    fn any_bytes_decode_to_a_frame_or_an_error(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = Frame::decode(&bytes);
        let mut link = EtherLink::new(EtherConfig::new(B));
        link.handle(0, Event::Frame(bytes));
        link.handle(1_000_000, Event::Tick);
    }

    #[test]
    fn encoded_frames_decode_to_themselves(
        transfer in any::<u64>(),
        index in 0u32..100,
        extra in 1u32..100,
        data in proptest::collection::vec(any::<u8>(), 1..300),
        missing in proptest::collection::vec((0u32..50, 1u32..50), 0..10),
    ) {
        let count = index + extra;
        let total = (count as usize * data.len()) as u32;
        let f = Frame { dst: B, src: A, transfer, body: Body::Data { index, count, total, data: &data } };
        let fb = f.encode();
        prop_assert_eq!(Frame::decode(&fb), Ok(f));
        let ack = Frame { dst: A, src: B, transfer, body: Body::Ack { count: 200, complete: false, missing: missing.clone() } };
        let ab = ack.encode();
        prop_assert_eq!(Frame::decode(&ab), Ok(ack));
        let more: Vec<u64> = missing.iter().map(|(a, b)| u64::from(*a) << 32 | u64::from(*b)).collect();
        let done = Frame { dst: A, src: B, transfer, body: Body::Done { more } };
        let db = done.encode();
        prop_assert_eq!(Frame::decode(&db), Ok(done));
    }
}

#[test]
fn the_fuzzers_seed_frames_decode_and_feed_a_link() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/ether_frame");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let mut link = EtherLink::new(EtherConfig::new(B));
        for chunk in bytes.split(|b| *b == 0xA5) {
            let _ = Frame::decode(chunk);
            link.handle(0, Event::Frame(chunk.to_vec()));
        }
        seen += 1;
    }
    assert!(seen >= 4);
}

#[test]
fn the_dones_of_one_round_go_together_and_each_bundle_counts_as_sent() {
    let mut w = Wire::new(0.0);
    for tag in 0..300u64 {
        w.ends[0].handle(
            0,
            Event::Send {
                tag,
                to: B,
                bundle: bundle(1024, tag as u8),
            },
        );
    }
    w.run(1_000);
    assert_eq!(w.delivered.len(), 300);
    assert_eq!(w.sent.len(), 300);
    assert!(w.sent.iter().all(|(_, ok)| *ok));
    // 300 data frames one way; the "done"s of a round share frames (128 to a frame at most).
    assert!(
        w.frames_to_a < 100,
        "{} frames carried 300 dones",
        w.frames_to_a
    );
    println!("300 one-frame bundles: {} frames back", w.frames_to_a);
}

//! Encode and decode rates of our BPv7 codec and of `bp7` (dtn7-rs), in the same run.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//!
//! `cargo bench -p bundle-agent --no-default-features --bench codec` prints a Markdown table: bundles per second
//! for payloads of 3 B, 1 KiB, 64 KiB and 1 MiB with CRC none, CRC-16 and CRC-32C. Each cell
//! is the median of 7 timed rounds of 150 ms after a warm-up; the rounds of the five
//! measurements of a row alternate, so a slow spell of the machine falls on all of them. `CODEC_BENCH_QUICK=1` shortens the
//! rounds (for CI smoke runs; its figures are noisy).
//!
//! What is measured:
//! - ours decode: `BundleView::decode`, which checks every CRC and every RFC 9171 rule and
//!   leaves the payload in the input buffer;
//! - bp7 decode: `bp7::Bundle::try_from(&[u8])`, which does not check CRCs and copies the
//!   payload; "bp7 decode+crc" adds `crc_valid()`, the check ours always makes;
//! - ours encode: `BundleBuilder::build` (rule checks, one payload copy, CRCs);
//! - bp7 encode: `Bundle::to_cbor` on a prepared bundle (CRCs, one payload copy).

use std::hint::black_box;
use std::time::{Duration, Instant};

use bp7::flags::BlockControlFlags;
use bundle_agent::wire::{
    BundleBuilder, BundleView, CrcType, CreationTimestamp, DecodeOptions, DtnTime, Eid,
};

/// Rounds per cell; each codec's figure is the median of its rounds.
const ROUNDS: usize = 7;

/// One codec operation under measurement: warmed up, with a batch size that takes about a
/// tenth of a round, and the rate of each round so far.
struct Timed<F: FnMut()> {
    f: F,
    batch: u64,
    rates: Vec<f64>,
}

impl<F: FnMut()> Timed<F> {
    fn new(round: Duration, mut f: F) -> Self {
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < round / 4 {
            f();
            n += 1;
        }
        let per = start.elapsed().as_secs_f64() / n.max(1) as f64;
        let batch = ((round.as_secs_f64() / 10.0) / per).max(1.0) as u64;
        Self {
            f,
            batch,
            rates: Vec::new(),
        }
    }

    /// Runs for one round and records the rate.
    fn round(&mut self, round: Duration) {
        let t = Instant::now();
        let mut done = 0;
        while t.elapsed() < round {
            for _ in 0..self.batch {
                (self.f)();
            }
            done += self.batch;
        }
        self.rates.push(done as f64 / t.elapsed().as_secs_f64());
    }

    fn median(&mut self) -> f64 {
        self.rates.sort_by(f64::total_cmp);
        self.rates[self.rates.len() / 2]
    }
}

fn human(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2} M", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.1} k", r / 1e3)
    } else {
        format!("{r:.0}")
    }
}

fn main() {
    let quick = std::env::var_os("CODEC_BENCH_QUICK").is_some();
    let round = if quick {
        Duration::from_millis(40)
    } else {
        Duration::from_millis(150)
    };
    let sizes: [(usize, &str); 4] = [
        (3, "3 B"),
        (1024, "1 KiB"),
        (64 * 1024, "64 KiB"),
        (1024 * 1024, "1 MiB"),
    ];
    let crcs = [
        (CrcType::None, bp7::crc::CRC_NO, "none"),
        (CrcType::Crc16, bp7::crc::CRC_16, "CRC-16"),
        (CrcType::Crc32c, bp7::crc::CRC_32, "CRC-32C"),
    ];
    println!(
        "| payload | CRC | ours decode/s | bp7 decode/s | bp7 decode+crc/s | vs bp7 decode | vs bp7 decode+crc | ours encode/s | bp7 encode/s | encode speedup |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (size, label) in sizes {
        let payload: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
        for (ours_crc, bp7_crc, crc_label) in crcs {
            let builder = BundleBuilder::new(
                Eid::ipn(2, 1),
                Eid::ipn(1, 0),
                CreationTimestamp::new(DtnTime(800_000_000_000), 7),
            )
            .crc(ours_crc)
            .hop_count(32, 0)
            .payload(&payload);
            let opts = if ours_crc == CrcType::None {
                DecodeOptions::lenient()
            } else {
                DecodeOptions::default()
            };
            let ours_bytes = builder
                .to_bundle()
                .encode_with(&opts)
                .expect("bench bundle encodes");

            let primary = bp7::primary::PrimaryBlockBuilder::default()
                .destination("ipn:2.1".try_into().expect("eid"))
                .source("ipn:1.0".try_into().expect("eid"))
                .report_to("ipn:1.0".try_into().expect("eid"))
                .creation_timestamp(bp7::CreationTimestamp::with_time_and_seq(
                    800_000_000_000,
                    7,
                ))
                .lifetime(Duration::from_millis(86_400_000))
                .build()
                .expect("bp7 primary");
            let mut bp7_bundle = bp7::Bundle::new(
                primary,
                vec![
                    bp7::canonical::new_hop_count_block(2, BlockControlFlags::empty(), 32),
                    bp7::canonical::new_payload_block(BlockControlFlags::empty(), payload.clone()),
                ],
            );
            bp7_bundle.set_crc(bp7_crc);
            let bp7_bytes = bp7_bundle.to_cbor();
            // Same bundle, same bytes: the comparison is like for like.
            assert_eq!(
                ours_bytes, bp7_bytes,
                "both codecs must emit the same bundle"
            );

            let mut ours_dec = Timed::new(round, || {
                let v = BundleView::decode_with(black_box(&ours_bytes), &opts).expect("decodes");
                black_box(v.payload().len());
            });
            let mut bp7_dec = Timed::new(round, || {
                let b =
                    bp7::Bundle::try_from(black_box(bp7_bytes.as_slice())).expect("bp7 decodes");
                black_box(b);
            });
            let mut bp7_dec_crc = Timed::new(round, || {
                let mut b =
                    bp7::Bundle::try_from(black_box(bp7_bytes.as_slice())).expect("bp7 decodes");
                assert!(b.crc_valid());
                black_box(b);
            });
            let mut ours_enc = Timed::new(round, || {
                black_box(black_box(&builder).build_with(&opts).expect("encodes"));
            });
            let mut bp7_enc = Timed::new(round, || {
                black_box(black_box(&mut bp7_bundle).to_cbor());
            });
            // Rounds alternate between the codecs, so a slow spell of this shared VM
            // falls on both sides of each ratio.
            for _ in 0..ROUNDS {
                ours_dec.round(round);
                bp7_dec.round(round);
                bp7_dec_crc.round(round);
                ours_enc.round(round);
                bp7_enc.round(round);
            }
            let (ours_dec, bp7_dec, bp7_dec_crc) =
                (ours_dec.median(), bp7_dec.median(), bp7_dec_crc.median());
            let (ours_enc, bp7_enc) = (ours_enc.median(), bp7_enc.median());
            println!(
                "| {label} | {crc_label} | {} | {} | {} | {:.1}x | {:.1}x | {} | {} | {:.1}x |",
                human(ours_dec),
                human(bp7_dec),
                human(bp7_dec_crc),
                ours_dec / bp7_dec,
                ours_dec / bp7_dec_crc,
                human(ours_enc),
                human(bp7_enc),
                ours_enc / bp7_enc
            );
        }
    }
}

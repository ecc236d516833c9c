//! Fuzz smoke test on stable Rust: every fuzz target's checks run over its seed corpus in
//! `fuzz/corpus/<target>/seed-*`, and over every truncation and a sweep of single-bit flips
//! of each seed. The fuzzers themselves run with `cargo +nightly fuzz run` (see README).

// Test code: a panic is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;

use bundle_agent::fuzz_checks;

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("seed-"))
        })
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    out.sort();
    assert!(out.len() >= 3, "{target}: the seed corpus is missing");
    out
}

fn sweep(target: &str, check: fn(&[u8])) {
    for (_name, seed) in seeds(target) {
        check(&seed);
        for cut in 0..seed.len() {
            check(&seed[..cut]);
        }
        for i in 0..seed.len() {
            for bit in [0x01u8, 0x10, 0x80] {
                let mut m = seed.clone();
                m[i] ^= bit;
                check(&m);
            }
        }
    }
}

#[test]
fn bundle_decode_seeds_and_mutations() {
    sweep("bundle_decode", fuzz_checks::bundle_decoder);
}

#[test]
fn eid_parse_seeds_and_mutations() {
    sweep("eid_parse", fuzz_checks::eid_parser);
}

#[test]
fn bpsec_seeds_and_mutations() {
    sweep("bpsec", fuzz_checks::bpsec_processing);
}

#[test]
fn fragment_seeds_and_mutations() {
    sweep("fragment", fuzz_checks::fragment_round_trip);
}

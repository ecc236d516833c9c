//! Reed-Solomon encoding and decoding with `reed-solomon-simd` (what the crate uses) and
//! `reed-solomon-erasure`, in one run, on 1 MiB shards for k = 10, m = 4 and k = 32, m = 8;
//! and BLAKE3 hashing. Decoding rebuilds a stripe whose first m data shards are lost (the
//! worst case: as much recovery as the code allows). Throughput counts the stripe's data
//! bytes. Prints a Markdown table.
//!
//!     cargo bench -p erasure-store --bench coding
//!
//! `CODING_BENCH_QUICK=1` uses 64 KiB shards and fewer rounds (for CI).

// A benchmark: a panic is a failed run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Instant;

use erasure_store::Layout;
use reed_solomon_erasure::galois_8::ReedSolomon;

fn gbps(bytes: u64, secs: f64) -> String {
    format!("{:.2}", bytes as f64 / secs.max(1e-12) / 1e9)
}

fn time(rounds: u32, mut f: impl FnMut()) -> f64 {
    f(); // warm up
    let t = Instant::now();
    for _ in 0..rounds {
        f();
    }
    t.elapsed().as_secs_f64() / f64::from(rounds)
}

fn main() {
    let quick = std::env::var_os("CODING_BENCH_QUICK").is_some();
    let (shard, rounds) = if quick { (64 << 10, 3) } else { (1 << 20, 10) };
    println!("| code | shard | crate | encode GB/s | decode GB/s |\n|---|---|---|---|---|");
    for (k, m) in [(10u32, 4u32), (32, 8)] {
        let data: Vec<u8> = (0..(k as usize * shard))
            .map(|i| (i as u32).wrapping_mul(2_654_435_761) as u8)
            .collect();
        let bytes = data.len() as u64;
        let layout = Layout::new(bytes, k, m, shard as u32).unwrap();

        // reed-solomon-simd, through the crate's own stripe code.
        let shards = layout.encode_stripe(&data).unwrap();
        let enc = time(rounds, || {
            std::hint::black_box(layout.encode_stripe(&data).unwrap());
        });
        let survivors: Vec<(usize, &[u8])> = (m as usize..(k + m) as usize)
            .map(|i| (i, shards[i].as_slice()))
            .collect();
        let dec = time(rounds, || {
            let out = layout.decode_stripe(0, &survivors).unwrap();
            std::hint::black_box(out);
        });
        assert_eq!(layout.decode_stripe(0, &survivors).unwrap(), data);
        println!(
            "| k={k}, m={m} | {} KiB | reed-solomon-simd | {} | {} |",
            shard >> 10,
            gbps(bytes, enc),
            gbps(bytes, dec)
        );

        // reed-solomon-erasure on the same data.
        let rs = ReedSolomon::new(k as usize, m as usize).unwrap();
        let mut theirs: Vec<Vec<u8>> = shards[..k as usize].to_vec();
        theirs.extend((0..m).map(|_| vec![0u8; shard]));
        let enc = time(rounds, || {
            rs.encode(&mut theirs).unwrap();
        });
        // It rebuilds in place: each round starts from a fresh copy, whose making is timed
        // apart and taken off.
        let fresh = || -> Vec<Option<Vec<u8>>> {
            let mut p: Vec<Option<Vec<u8>>> = theirs.iter().cloned().map(Some).collect();
            for s in p.iter_mut().take(m as usize) {
                *s = None;
            }
            p
        };
        let copy = time(rounds, || {
            std::hint::black_box(fresh());
        });
        let dec = time(rounds, || {
            let mut partial = fresh();
            rs.reconstruct_data(&mut partial).unwrap();
            std::hint::black_box(partial);
        }) - copy;
        println!(
            "| k={k}, m={m} | {} KiB | reed-solomon-erasure | {} | {} |",
            shard >> 10,
            gbps(bytes, enc),
            gbps(bytes, dec)
        );
    }
    let big: Vec<u8> = (0..(if quick { 16 << 20 } else { 256 << 20 }))
        .map(|i: usize| (i as u32).wrapping_mul(2_654_435_761) as u8)
        .collect();
    let h = time(rounds.min(5), || {
        std::hint::black_box(blake3::hash(&big));
    });
    println!(
        "\nBLAKE3 (one thread) over {} MiB: {} GB/s",
        big.len() >> 20,
        gbps(big.len() as u64, h)
    );
}

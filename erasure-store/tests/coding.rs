//! Reed-Solomon striping: a blob rebuilds from every k-subset of its shards for a small
//! (k, m), from random k-subsets for larger ones, and a corrupted shard is caught by its
//! hash in the manifest. `reed-solomon-erasure` rebuilds the same stripes too (the benchmark
//! compares the two).

// Test code: a panic is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use erasure_store::{Layout, Manifest};
use proptest::prelude::*;

fn blob(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 9) as u8)
        .collect()
}

/// Every subset of `n` items with `k` members, as index lists.
fn subsets(n: usize, k: usize) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    for mask in 0u32..(1 << n) {
        if mask.count_ones() as usize == k {
            out.push((0..n).filter(|i| mask & (1 << i) != 0).collect());
        }
    }
    out
}

fn rebuild(layout: &Layout, shards: &[Vec<u8>], pick: &dyn Fn(u64) -> Vec<usize>) -> Vec<u8> {
    let per = layout.per_stripe() as usize;
    let mut out = Vec::new();
    for s in 0..layout.stripes() {
        let chosen: Vec<(usize, &[u8])> = pick(s)
            .into_iter()
            .map(|i| (i, shards[s as usize * per + i].as_slice()))
            .collect();
        out.extend(layout.decode_stripe(s, &chosen).unwrap());
    }
    out
}

#[test]
fn every_k_subset_rebuilds_a_small_code() {
    // Two and a half stripes of k = 4, m = 3: 35 subsets per stripe.
    let data = blob(4 * 256 * 2 + 700, 1);
    let layout = Layout::new(data.len() as u64, 4, 3, 256).unwrap();
    assert_eq!(layout.stripes(), 3);
    let shards = layout.encode(&data).unwrap();
    let all = subsets(7, 4);
    assert_eq!(all.len(), 35);
    for subset in &all {
        let got = rebuild(&layout, &shards, &|_| subset.clone());
        assert_eq!(got, data, "subset {subset:?}");
    }
    // Three shards are not enough.
    let three: Vec<(usize, &[u8])> = [0, 4, 6]
        .iter()
        .map(|&i| (i, shards[i].as_slice()))
        .collect();
    assert!(layout.decode_stripe(0, &three).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn random_k_subsets_rebuild_larger_codes(
        (k, m) in prop_oneof![Just((10u32, 4u32)), Just((32, 8)), Just((16, 16))],
        len in 1usize..200_000,
        seed in any::<u64>(),
    ) {
        let data = blob(len, seed as u8);
        let layout = Layout::new(len as u64, k, m, 4096).unwrap();
        let shards = layout.encode(&data).unwrap();
        let per = (k + m) as usize;
        let pick = |s: u64| -> Vec<usize> {
            // A seeded shuffle of the stripe's shards, the first k taken.
            let mut idx: Vec<usize> = (0..per).collect();
            let mut x = seed ^ (s + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            for i in (1..per).rev() {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                idx.swap(i, (x % (i as u64 + 1)) as usize);
            }
            idx.truncate(k as usize);
            idx
        };
        prop_assert_eq!(rebuild(&layout, &shards, &pick), data);
    }
}

#[test]
fn a_corrupted_shard_is_caught_by_its_hash() {
    let data = blob(50_000, 9);
    let layout = Layout::new(data.len() as u64, 10, 4, 1024).unwrap();
    let manifest = Manifest::of(&data, layout).unwrap();
    let shards = layout.encode(&data).unwrap();
    assert_eq!(shards.len() as u64, layout.shards());
    for (i, s) in shards.iter().enumerate() {
        assert!(manifest.verifies(i as u64, s));
        for at in [0, s.len() / 2, s.len() - 1] {
            let mut bad = s.clone();
            bad[at] ^= 0x40;
            assert!(!manifest.verifies(i as u64, &bad), "shard {i} byte {at}");
        }
    }
    assert!(
        !manifest.verifies(shards.len() as u64, &shards[0]),
        "no such shard"
    );
    assert_eq!(manifest.blob, erasure_store::Hash::of(&data));
}

#[test]
fn reed_solomon_erasure_rebuilds_the_same_stripes() {
    use reed_solomon_erasure::galois_8::ReedSolomon;
    let data = blob(10 * 512, 3);
    let layout = Layout::new(data.len() as u64, 10, 4, 512).unwrap();
    let ours = layout.encode(&data).unwrap();
    let rs = ReedSolomon::new(10, 4).unwrap();
    let mut theirs: Vec<Vec<u8>> = ours[..10].to_vec();
    theirs.extend((0..4).map(|_| vec![0u8; 512]));
    rs.encode(&mut theirs).unwrap();
    for lost in subsets(14, 4).into_iter().step_by(37) {
        let mut partial: Vec<Option<Vec<u8>>> = theirs.iter().cloned().map(Some).collect();
        for i in &lost {
            partial[*i] = None;
        }
        rs.reconstruct(&mut partial).unwrap();
        let got: Vec<u8> = partial[..10]
            .iter()
            .flat_map(|s| s.clone().unwrap())
            .collect();
        assert_eq!(got, data, "lost {lost:?}");
    }
}

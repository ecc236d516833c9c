//! Fragmentation (RFC 9171 §5.8) and reassembly (§5.9), on encoded bundles that go through
//! the strict decoder, with properties over random sizes, limits, orders and duplicates.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bundle_agent::fragment::{fragment, reassemble, FragmentError, Reassembly, ReassemblyError};
use bundle_agent::wire::{
    BlockFlags, BlockType, Bundle, BundleBuilder, BundleFlags, BundleView, CreationTimestamp,
    DecodeOptions, DtnTime, Eid,
};
use proptest::prelude::*;

fn bundle(payload: &[u8]) -> Bundle {
    BundleBuilder::new(
        Eid::ipn(3, 1),
        Eid::ipn(1, 0),
        CreationTimestamp::new(DtnTime(800_000_000_000), 4),
    )
    .hop_count(30, 2)
    .block(
        BlockType(200),
        BlockFlags(BlockFlags::REPLICATE_IN_EVERY_FRAGMENT),
        vec![7; 5],
    )
    .block(BlockType(201), BlockFlags(0), vec![9; 40])
    .payload(payload)
    .to_bundle()
}

fn decode_all(frags: &[Vec<u8>]) -> Vec<Bundle> {
    frags
        .iter()
        .map(|f| BundleView::decode(f).expect("fragment decodes").to_bundle())
        .collect()
}

fn adu(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 253) as u8).collect()
}

#[test]
fn rfc9171_5_8_a_bundle_that_fits_is_not_fragmented() {
    let b = bundle(b"small");
    let out = fragment(&b, 10_000, &DecodeOptions::default()).unwrap();
    assert_eq!(out, vec![b.encode().unwrap()]);
}

#[test]
fn rfc9171_5_8_fragments_fit_carry_adu_offsets_and_replicate_only_flagged_blocks() {
    let payload = adu(5000);
    let b = bundle(&payload);
    let frags = fragment(&b, 700, &DecodeOptions::default()).unwrap();
    assert!(frags.len() > 7);
    let decoded = decode_all(&frags);
    let mut expect_offset = 0u64;
    for (i, (bytes, f)) in frags.iter().zip(&decoded).enumerate() {
        assert!(bytes.len() <= 700, "fragment {i} is {} bytes", bytes.len());
        assert!(f.primary.flags.is_fragment());
        let info = f.primary.fragment.unwrap();
        assert_eq!(info.total_adu_length, 5000);
        assert_eq!(info.offset, expect_offset);
        expect_offset += f.payload().unwrap().len() as u64;
        let has = |t: u64| f.blocks.iter().any(|b| b.block_type == BlockType(t));
        assert!(has(200), "replicated block in fragment {i}");
        assert_eq!(has(201), i == 0, "unflagged block only in the first");
        assert_eq!(has(10), i == 0, "hop count only in the first");
    }
    assert_eq!(expect_offset, 5000);
}

#[test]
fn rfc9171_5_8_must_not_fragment_is_honoured() {
    let mut b = bundle(&adu(3000));
    b.primary.flags = b.primary.flags.with(BundleFlags::MUST_NOT_FRAGMENT, true);
    assert_eq!(
        fragment(&b, 1000, &DecodeOptions::default()),
        Err(FragmentError::MustNotFragment)
    );
}

#[test]
fn rfc9171_5_8_a_limit_smaller_than_the_blocks_is_an_error() {
    let b = bundle(&adu(3000));
    assert!(matches!(
        fragment(&b, 60, &DecodeOptions::default()),
        Err(FragmentError::NoRoom { limit: 60, .. })
    ));
}

#[test]
fn rfc9171_5_9_reassembly_from_refragmented_overlapping_and_duplicate_fragments() {
    let payload = adu(9000);
    let b = bundle(&payload);
    let opts = DecodeOptions::default();
    let coarse = decode_all(&fragment(&b, 4000, &opts).unwrap());
    // Fragment the second coarse fragment again: offsets stay relative to the ADU.
    let fine = decode_all(&fragment(&coarse[1], 900, &opts).unwrap());
    assert_eq!(
        fine[0].primary.fragment.unwrap().offset,
        coarse[1].primary.fragment.unwrap().offset
    );
    let mut all: Vec<Bundle> = coarse.clone();
    all.extend(fine.iter().cloned());
    all.push(coarse[0].clone());
    all.reverse();
    let Reassembly::Complete(whole) = reassemble(&all).unwrap() else {
        panic!("complete")
    };
    assert_eq!(whole, b);
    // The fine pieces instead of the coarse middle work as well.
    let mut mixed = vec![coarse[0].clone(), coarse[2].clone()];
    mixed.extend(fine);
    let Reassembly::Complete(whole) = reassemble(&mixed).unwrap() else {
        panic!("complete")
    };
    assert_eq!(whole.payload().unwrap(), &payload[..]);
}

#[test]
fn rfc9171_5_9_missing_bytes_leave_it_incomplete() {
    let b = bundle(&adu(3000));
    let frags = decode_all(&fragment(&b, 1000, &DecodeOptions::default()).unwrap());
    let without_middle: Vec<Bundle> = frags
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, f)| f.clone())
        .collect();
    let Reassembly::Incomplete { covered, total } = reassemble(&without_middle).unwrap() else {
        panic!("incomplete")
    };
    assert_eq!(total, 3000);
    assert_eq!(covered, frags[0].payload().unwrap().len() as u64);
    let without_first = &frags[1..];
    assert_eq!(
        reassemble(without_first).unwrap(),
        Reassembly::Incomplete {
            covered: 0,
            total: 3000
        }
    );
}

#[test]
fn rfc9171_5_9_disagreeing_overlaps_and_totals_are_errors() {
    let b = bundle(&adu(3000));
    let opts = DecodeOptions::default();
    let frags = decode_all(&fragment(&b, 1000, &opts).unwrap());
    let mut forged = frags[1].clone();
    let p = forged
        .blocks
        .iter_mut()
        .find(|x| x.block_type == BlockType::PAYLOAD)
        .unwrap();
    let mut data = p.data.to_vec();
    data[0] ^= 0xff;
    p.data = data.into();
    let mut all = frags.clone();
    all.push(forged);
    assert!(matches!(
        reassemble(&all),
        Err(ReassemblyError::OverlapMismatch(_))
    ));
    let mut liar = frags[2].clone();
    liar.primary.fragment.as_mut().unwrap().total_adu_length = 1 << 40;
    let mut all = frags.clone();
    all.push(liar);
    assert!(matches!(
        reassemble(&all),
        Err(ReassemblyError::TotalMismatch(..))
    ));
    assert_eq!(reassemble(&[b]), Err(ReassemblyError::NotAFragment));
}

#[test]
fn rfc9171_5_9_a_huge_declared_total_allocates_nothing() {
    let b = bundle(&adu(3000));
    let mut frags = decode_all(&fragment(&b, 1000, &DecodeOptions::default()).unwrap());
    for f in &mut frags {
        f.primary.fragment.as_mut().unwrap().total_adu_length = u64::MAX / 2;
    }
    assert!(matches!(
        reassemble(&frags).unwrap(),
        Reassembly::Incomplete { covered: 3000, .. }
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn fragments_in_any_order_with_duplicates_reassemble_to_the_original(
        len in 1usize..20_000,
        limit in 200usize..5_000,
        seed in any::<u64>(),
    ) {
        let b = bundle(&adu(len));
        let opts = DecodeOptions::default();
        let encoded = fragment(&b, limit, &opts).unwrap();
        let whole = b.encode().unwrap();
        if whole.len() <= limit {
            prop_assert_eq!(encoded, vec![whole]);
            return Ok(());
        }
        prop_assert!(encoded.iter().all(|f| f.len() <= limit));
        let frags = decode_all(&encoded);
        // A deterministic shuffle with a duplicate of every third fragment.
        let mut all: Vec<Bundle> = frags.clone();
        all.extend(frags.iter().step_by(3).cloned());
        let mut s = seed;
        for i in (1..all.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            all.swap(i, (s >> 33) as usize % (i + 1));
        }
        let Reassembly::Complete(whole) = reassemble(&all).unwrap() else {
            panic!("complete")
        };
        prop_assert_eq!(whole, b);
    }
}

//! Differential tests against `bp7` 0.12 (the BPv7 codec of dtn7-rs): bundles built by bp7
//! decode with ours to the same fields, and bundles built by ours decode with bp7 to the
//! same fields, across CRC types, EID schemes and extension blocks. Where bp7 accepts what
//! RFC 9171 forbids, a test below says so and cites the section.

// Test code: a panic is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use bp7::flags::{BlockControlFlags, BundleControlFlags};
use bp7::{canonical, crc as bp7crc, primary, CreationTimestamp as Bp7Ts, EndpointID};
use bundle_agent::wire::{
    BlockFlags, BundleBuilder, BundleFlags, BundleView, CrcType, CreationTimestamp, DecodeError,
    DecodeOptions, DtnTime, Eid,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Case {
    dst: String,
    src: String,
    crc: CrcType,
    time: u64,
    seq: u64,
    lifetime_ms: u64,
    flags: u64,
    hop: Option<(u8, u8)>,
    age: Option<u64>,
    prev: Option<String>,
    payload: Vec<u8>,
}

fn eid_text() -> impl Strategy<Value = String> {
    prop_oneof![
        (1u32..100_000, 0u64..100_000).prop_map(|(n, s)| format!("ipn:{n}.{s}")),
        ("[a-z][a-z0-9]{0,10}", "[a-z0-9]{0,8}").prop_map(|(n, d)| format!("dtn://{n}/{d}")),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (
        (
            eid_text(),
            eid_text(),
            prop_oneof![
                Just(CrcType::None),
                Just(CrcType::Crc16),
                Just(CrcType::Crc32c)
            ],
        ),
        (1u64..1u64 << 40, 0u64..1000, 1u64..1u64 << 35),
        prop::collection::vec(any::<bool>(), 4),
        (
            prop::option::of((1u8..=255, 0u8..=255)),
            prop::option::of(0u64..1u64 << 40),
            prop::option::of(eid_text()),
        ),
        prop::collection::vec(any::<u8>(), 0..2048),
    )
        .prop_map(
            |((dst, src, crc), (time, seq, lifetime_ms), flags, (hop, age, prev), payload)| Case {
                dst,
                src,
                crc,
                time,
                seq,
                // bp7 keeps lifetimes as a Duration and writes them in whole milliseconds.
                lifetime_ms,
                flags: [
                    BundleFlags::MUST_NOT_FRAGMENT,
                    BundleFlags::REPORT_DELIVERY,
                    BundleFlags::REPORT_RECEPTION,
                    BundleFlags::APP_ACK_REQUESTED,
                ]
                .iter()
                .zip(flags)
                .filter(|(_, on)| *on)
                .fold(0, |a, (f, _)| a | f),
                hop,
                age,
                prev,
                payload,
            },
        )
}

fn bp7_crc(c: CrcType) -> u8 {
    match c {
        CrcType::None => bp7crc::CRC_NO,
        CrcType::Crc16 => bp7crc::CRC_16,
        CrcType::Crc32c => bp7crc::CRC_32,
    }
}

fn build_with_bp7(c: &Case) -> Vec<u8> {
    let p = primary::PrimaryBlockBuilder::default()
        .destination(EndpointID::try_from(c.dst.as_str()).unwrap())
        .source(EndpointID::try_from(c.src.as_str()).unwrap())
        .report_to(EndpointID::try_from(c.src.as_str()).unwrap())
        .bundle_control_flags(c.flags)
        .creation_timestamp(Bp7Ts::with_time_and_seq(c.time, c.seq))
        .lifetime(Duration::from_millis(c.lifetime_ms))
        .build()
        .unwrap();
    let mut blocks = Vec::new();
    let mut n = 2;
    if let Some((limit, count)) = c.hop {
        let b = canonical::new_canonical_block(
            canonical::HOP_COUNT_BLOCK,
            n,
            0,
            canonical::CanonicalData::HopCount(limit, count),
        );
        blocks.push(b);
        n += 1;
    }
    if let Some(age) = c.age {
        blocks.push(canonical::new_bundle_age_block(
            n,
            BlockControlFlags::empty(),
            age,
        ));
        n += 1;
    }
    if let Some(prev) = &c.prev {
        blocks.push(canonical::new_previous_node_block(
            n,
            BlockControlFlags::empty(),
            EndpointID::try_from(prev.as_str()).unwrap(),
        ));
    }
    blocks.push(canonical::new_payload_block(
        BlockControlFlags::empty(),
        c.payload.clone(),
    ));
    let mut b = bp7::Bundle::new(p, blocks);
    b.set_crc(bp7_crc(c.crc));
    b.calculate_crc();
    b.to_cbor()
}

fn build_with_ours(c: &Case) -> Vec<u8> {
    let mut b = BundleBuilder::new(
        c.dst.parse().unwrap(),
        c.src.parse().unwrap(),
        CreationTimestamp::new(DtnTime(c.time), c.seq),
    )
    .crc(c.crc)
    .flags(BundleFlags(c.flags))
    .lifetime_ms(c.lifetime_ms)
    .payload(&c.payload);
    if let Some((limit, count)) = c.hop {
        b = b.hop_count(u64::from(limit), u64::from(count));
    }
    if let Some(age) = c.age {
        b = b.bundle_age_ms(age);
    }
    if let Some(prev) = &c.prev {
        b = b.previous_node(&prev.parse().unwrap());
    }
    if c.crc == CrcType::None {
        b.to_bundle()
            .encode_with(&DecodeOptions::lenient())
            .unwrap()
    } else {
        b.build().unwrap()
    }
}

fn opts(c: &Case) -> DecodeOptions {
    if c.crc == CrcType::None {
        DecodeOptions::lenient()
    } else {
        DecodeOptions::default()
    }
}

fn check_ours(c: &Case, bytes: &[u8]) -> Result<(), TestCaseError> {
    let v = BundleView::decode_with(bytes, &opts(c))
        .map_err(|e| TestCaseError::fail(format!("ours refused: {e}")))?;
    let p = v.primary();
    prop_assert_eq!(p.destination.to_string(), c.dst.clone());
    prop_assert_eq!(p.source.to_string(), c.src.clone());
    prop_assert_eq!(p.report_to.to_string(), c.src.clone());
    prop_assert_eq!(p.crc_type, c.crc);
    prop_assert_eq!(p.flags.0, c.flags);
    prop_assert_eq!(p.creation, CreationTimestamp::new(DtnTime(c.time), c.seq));
    prop_assert_eq!(p.lifetime_ms, c.lifetime_ms);
    prop_assert_eq!(v.payload(), &c.payload[..]);
    prop_assert_eq!(
        v.hop_count().map(|h| (h.limit, h.count)),
        c.hop.map(|(l, n)| (u64::from(l), u64::from(n)))
    );
    prop_assert_eq!(v.bundle_age_ms(), c.age);
    prop_assert_eq!(v.previous_node().map(Eid::to_string), c.prev.clone());
    prop_assert!(v.blocks().iter().all(|b| b.crc_type == c.crc));
    Ok(())
}

fn check_bp7(c: &Case, bytes: &[u8]) -> Result<(), TestCaseError> {
    let mut b = bp7::Bundle::try_from(bytes)
        .map_err(|e| TestCaseError::fail(format!("bp7 refused: {e}")))?;
    prop_assert!(b.crc_valid());
    prop_assert_eq!(b.primary.destination.to_string(), c.dst.clone());
    prop_assert_eq!(b.primary.source.to_string(), c.src.clone());
    prop_assert_eq!(b.primary.bundle_control_flags, c.flags);
    prop_assert_eq!(b.primary.creation_timestamp.dtntime(), c.time);
    prop_assert_eq!(b.primary.creation_timestamp.seqno(), c.seq);
    prop_assert_eq!(b.primary.lifetime, Duration::from_millis(c.lifetime_ms));
    prop_assert_eq!(b.payload().map(|p| p.as_slice()), Some(&c.payload[..]));
    let hop = b
        .extension_block_by_type(bp7::canonical::HOP_COUNT_BLOCK)
        .and_then(|x| x.hop_count_get());
    prop_assert_eq!(hop, c.hop);
    let age = b
        .extension_block_by_type(bp7::canonical::BUNDLE_AGE_BLOCK)
        .and_then(|x| x.bundle_age_get());
    prop_assert_eq!(age.map(|a| a as u64), c.age);
    prop_assert_eq!(b.previous_node().map(|e| e.to_string()), c.prev.clone());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn bp7_built_bundles_decode_with_ours(c in case()) {
        let bytes = build_with_bp7(&c);
        check_ours(&c, &bytes)?;
        // And our canonical re-encoding of them is byte-identical: both follow RFC 9171's
        // deterministic encoding.
        let v = BundleView::decode_with(&bytes, &opts(&c)).unwrap();
        prop_assert!(v.is_canonical());
        prop_assert_eq!(v.to_bundle().encode_with(&opts(&c)).unwrap(), bytes);
    }

    #[test]
    fn our_bundles_decode_with_bp7(c in case()) {
        let bytes = build_with_ours(&c);
        check_bp7(&c, &bytes)?;
        check_ours(&c, &bytes)?;
    }
}

fn sample() -> Vec<u8> {
    BundleBuilder::new(
        Eid::ipn(2, 1),
        Eid::ipn(1, 1),
        CreationTimestamp::new(DtnTime(1000), 0),
    )
    .payload(b"hello")
    .hop_count(8, 0)
    .build()
    .unwrap()
}

/// RFC 9171 §4.1: "the bundle MUST have exactly one payload block ... the last block".
/// bp7 decodes a bundle whose payload block is followed by another block; ours refuses.
#[test]
fn rfc9171_4_1_bp7_accepts_payload_not_last() {
    let mut b = bp7::Bundle::try_from(sample().as_slice()).unwrap();
    b.canonicals.reverse(); // payload first, hop count last
    b.set_crc(bp7crc::CRC_32);
    let bytes = b.to_cbor();
    assert!(
        bp7::Bundle::try_from(bytes.as_slice()).is_ok(),
        "bp7 behaviour changed"
    );
    assert!(matches!(
        BundleView::decode(&bytes),
        Err(DecodeError::PayloadNotLast(_))
    ));
}

/// RFC 9171 §4.1: a bundle is one CBOR array; bytes after its break are not part of it.
/// bp7 (serde_cbor::from_slice) refuses trailing data too; both agree here.
#[test]
fn rfc9171_4_1_trailing_bytes_refused_by_both() {
    let mut bytes = sample();
    bytes.push(0x00);
    assert!(bp7::Bundle::try_from(bytes.as_slice()).is_err());
    assert_eq!(
        BundleView::decode(&bytes).unwrap_err(),
        DecodeError::TrailingBytes(1)
    );
}

/// RFC 9171 §4.2.1: a CRC that does not match means the block is corrupt. bp7 decodes such
/// a bundle without complaint (CRCs are only checked if the caller asks with `crc_valid`);
/// ours refuses it while decoding.
#[test]
fn rfc9171_4_2_1_bp7_decodes_a_corrupt_crc_unless_asked() {
    let mut bytes = sample();
    let pos = bytes.windows(5).position(|w| w == b"hello").unwrap();
    bytes[pos] = b'j';
    let mut b = bp7::Bundle::try_from(bytes.as_slice()).expect("bp7 decodes it");
    assert!(!b.crc_valid());
    assert!(matches!(
        BundleView::decode(&bytes),
        Err(DecodeError::CrcMismatch { .. })
    ));
}

/// RFC 9171 §4.3.2: block numbers are unique within a bundle. bp7 decodes duplicates.
#[test]
fn rfc9171_4_3_2_bp7_accepts_duplicate_block_numbers() {
    let mut b = bp7::Bundle::try_from(sample().as_slice()).unwrap();
    let extra = canonical::new_bundle_age_block(2, BlockControlFlags::empty(), 5);
    b.canonicals.insert(0, extra); // hop count is block 2 as well
    b.set_crc(bp7crc::CRC_32);
    let bytes = b.to_cbor();
    assert!(
        bp7::Bundle::try_from(bytes.as_slice()).is_ok(),
        "bp7 behaviour changed"
    );
    assert_eq!(
        BundleView::decode(&bytes).unwrap_err(),
        DecodeError::DuplicateBlockNumber(2)
    );
}

#[test]
fn block_flags_survive_both_ways() {
    let b = BundleBuilder::new(
        Eid::ipn(2, 1),
        Eid::ipn(1, 1),
        CreationTimestamp::new(DtnTime(9), 0),
    )
    .payload(b"x")
    .payload_flags(BlockFlags(
        BlockFlags::REPLICATE_IN_EVERY_FRAGMENT | BlockFlags::DELETE_BUNDLE_IF_UNPROCESSABLE,
    ))
    .build()
    .unwrap();
    let bp = bp7::Bundle::try_from(b.as_slice()).unwrap();
    assert_eq!(bp.canonicals[0].block_control_flags, 0x05);
    let flags = BlockControlFlags::from_bits_truncate(bp.canonicals[0].block_control_flags);
    assert!(flags.contains(BlockControlFlags::BLOCK_DELETE_BUNDLE));
    let _ = BundleControlFlags::empty();
}

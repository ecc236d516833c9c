//! RFC 9171 §4 conformance of the decoder on hostile input: each broken rule is its own
//! named error, nothing panics, and nothing is allocated from a declared length.

// Test code: a panic is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bundle_agent::wire::cbor::{Writer, BREAK, INDEFINITE_ARRAY};
use bundle_agent::wire::{
    BlockFlags, BlockRef, BlockType, BundleBuilder, BundleFlags, BundleView, CrcType,
    CreationTimestamp, DecodeError, DecodeOptions, DtnTime, Eid, FlagRule, Location, PrimaryBlock,
};

fn primary() -> PrimaryBlock {
    PrimaryBlock::new(
        Eid::ipn(2, 1),
        Eid::ipn(1, 1),
        CreationTimestamp::new(DtnTime(1_000), 0),
        60_000,
    )
}

fn block(t: u64, n: u64, data: &[u8]) -> BlockRef<'_> {
    BlockRef {
        block_type: BlockType(t),
        number: n,
        flags: BlockFlags(0),
        crc_type: CrcType::Crc32c,
        data,
    }
}

/// Encodes without any rule checks, to build broken bundles.
fn raw(primary: &PrimaryBlock, blocks: &[BlockRef<'_>]) -> Vec<u8> {
    let mut w = Writer::new();
    w.raw(&[INDEFINITE_ARRAY]);
    primary.encode(&mut w);
    for b in blocks {
        b.encode(&mut w);
    }
    w.raw(&[BREAK]);
    w.into_vec()
}

fn err(bytes: &[u8]) -> DecodeError {
    BundleView::decode(bytes).expect_err("must be refused")
}

#[test]
fn a_valid_bundle_decodes_and_its_payload_is_not_copied() {
    let payload = vec![0xabu8; 4096];
    let bytes = BundleBuilder::new(
        Eid::ipn(2, 1),
        Eid::ipn(1, 1),
        CreationTimestamp::new(DtnTime(5), 1),
    )
    .payload(&payload)
    .hop_count(16, 0)
    .build()
    .unwrap();
    let view = BundleView::decode(&bytes).unwrap();
    let p = view.payload();
    assert_eq!(p, &payload[..]);
    // The payload slice points into the input buffer.
    let range = bytes.as_ptr_range();
    assert!(range.contains(&p.as_ptr()));
    assert_eq!(view.hop_count().unwrap().limit, 16);
    assert!(view.is_canonical());
}

#[test]
fn rfc9171_4_1_trailing_bytes() {
    let mut b = raw(&primary(), &[block(1, 1, b"x")]);
    b.extend_from_slice(&[0, 0]);
    assert_eq!(err(&b), DecodeError::TrailingBytes(2));
}

#[test]
fn rfc9171_4_3_2_duplicate_block_numbers() {
    let b = raw(
        &primary(),
        &[block(7, 2, &[0]), block(200, 2, b""), block(1, 1, b"x")],
    );
    assert_eq!(err(&b), DecodeError::DuplicateBlockNumber(2));
}

#[test]
fn rfc9171_4_1_two_payload_blocks() {
    let b = raw(&primary(), &[block(1, 1, b"x"), block(1, 1, b"y")]);
    assert_eq!(err(&b), DecodeError::TwoPayloadBlocks(1));
}

#[test]
fn rfc9171_4_1_payload_not_last() {
    let b = raw(&primary(), &[block(1, 1, b"x"), block(200, 2, b"")]);
    assert_eq!(err(&b), DecodeError::PayloadNotLast(2));
    assert_eq!(
        err(&b).to_string(),
        "block 2: follows the payload block, which must be last (RFC 9171 §4.1)"
    );
}

#[test]
fn rfc9171_4_1_no_payload_block() {
    let b = raw(&primary(), &[block(200, 2, b"")]);
    assert_eq!(err(&b), DecodeError::NoPayloadBlock);
    assert_eq!(err(&raw(&primary(), &[])), DecodeError::NoPayloadBlock);
}

#[test]
fn rfc9171_4_3_3_payload_block_number_is_one() {
    let b = raw(&primary(), &[block(1, 5, b"x")]);
    assert_eq!(err(&b), DecodeError::PayloadBlockNumber(5));
}

#[test]
fn rfc9171_4_3_2_block_number_zero() {
    let b = raw(&primary(), &[block(200, 0, b""), block(1, 1, b"x")]);
    assert_eq!(
        err(&b),
        DecodeError::BlockNumberZero(Location::BlockIndex(0))
    );
}

#[test]
fn rfc9171_4_2_1_wrong_crc_names_the_block() {
    let mut b = raw(&primary(), &[block(200, 3, b"abc"), block(1, 1, b"x")]);
    // Flip a data byte of block 3 ("abc").
    let pos = b.windows(3).position(|w| w == b"abc").unwrap();
    b[pos] ^= 0x20;
    let e = err(&b);
    assert_eq!(
        e,
        DecodeError::CrcMismatch {
            at: Location::Block(3),
            crc: CrcType::Crc32c
        }
    );
    assert_eq!(e.to_string(), "block 3: CRC-32C mismatch");
    // The primary block's CRC too, with CRC-16.
    let mut p = primary();
    p.crc_type = CrcType::Crc16;
    let mut b = raw(&p, &[block(1, 1, b"x")]);
    b[3] ^= 0x04; // "must not fragment" in the primary block's flags
    assert_eq!(
        err(&b),
        DecodeError::CrcMismatch {
            at: Location::Primary,
            crc: CrcType::Crc16
        }
    );
}

/// `verify_crc: false` is for bytes the node checked or built itself: the sums are not
/// computed, but the CRC field's form still is checked and every other rule still holds.
#[test]
fn rfc9171_4_2_1_own_bytes_skip_the_sums_not_the_rules() {
    let own = DecodeOptions {
        verify_crc: false,
        ..DecodeOptions::default()
    };
    let mut b = raw(&primary(), &[block(200, 3, b"abc"), block(1, 1, b"x")]);
    let pos = b.windows(3).position(|w| w == b"abc").unwrap();
    b[pos] ^= 0x20;
    assert!(matches!(
        BundleView::decode_with(&b, &DecodeOptions::default()),
        Err(DecodeError::CrcMismatch { .. })
    ));
    let view = BundleView::decode_with(&b, &own).unwrap();
    assert_eq!(view.payload(), b"x");
    // A CRC field of the wrong length is still refused.
    let mut short = raw(&primary(), &[block(1, 1, b"x")]);
    let tail = short.len() - 6; // 0x44 and four CRC bytes, then the break
    assert_eq!(short[tail], 0x44);
    short[tail] = 0x43;
    short.remove(tail + 1);
    assert!(matches!(
        BundleView::decode_with(&short, &own),
        Err(DecodeError::CrcLength { found: 3, .. })
    ));
    // So is a block that breaks another rule (block number zero).
    let zero = raw(&primary(), &[block(200, 0, b"abc"), block(1, 1, b"x")]);
    assert!(BundleView::decode_with(&zero, &own).is_err());
}

#[test]
fn rfc9171_4_2_1_unknown_crc_type() {
    let mut b = raw(&primary(), &[block(1, 1, b"x")]);
    b[4] = 0x03; // primary: [version, flags, crc type -> 3, ...]
    assert_eq!(
        err(&b),
        DecodeError::UnknownCrcType {
            at: Location::Primary,
            code: 3
        }
    );
}

#[test]
fn rfc9171_4_3_1_version_must_be_7() {
    let mut b = raw(&primary(), &[block(1, 1, b"x")]);
    b[2] = 0x06;
    assert_eq!(err(&b), DecodeError::Version(6));
}

#[test]
fn rfc9171_4_2_5_eid_of_the_wrong_shape() {
    let mut p = primary();
    p.crc_type = CrcType::None;
    let mut b = raw(&p, &[block(1, 1, b"x")]);
    // destination [2,[2,1]] -> [3,[2,1]]: unknown scheme.
    let pos = b
        .windows(4)
        .position(|w| w == [0x82, 0x02, 0x82, 0x02])
        .unwrap();
    b[pos + 1] = 0x03;
    let e = BundleView::decode_with(&b, &DecodeOptions::lenient()).unwrap_err();
    assert!(
        matches!(
            e,
            DecodeError::Eid {
                at: Location::Primary,
                field: "destination",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn rfc9171_4_3_1_primary_crc_required_without_bib() {
    let mut p = primary();
    p.crc_type = CrcType::None;
    assert_eq!(
        err(&raw(&p, &[block(1, 1, b"x")])),
        DecodeError::PrimaryCrcMissing
    );
}

#[test]
fn rfc9171_4_4_2_zero_creation_time_needs_bundle_age() {
    let mut p = primary();
    p.creation = CreationTimestamp::new(DtnTime::UNKNOWN, 3);
    let e = err(&raw(&p, &[block(1, 1, b"x")]));
    assert_eq!(e, DecodeError::BundleAgeMissing);
    assert_eq!(
        e.to_string(),
        "primary block: creation time 0 with bundle age block absent (RFC 9171 §4.2.7, §4.4.2)"
    );
    let age = bundle_agent::wire::block::bundle_age_data(10);
    assert!(BundleView::decode(&raw(&p, &[block(7, 2, &age), block(1, 1, b"x")])).is_ok());
}

#[test]
fn rfc9171_4_4_at_most_one_of_each_extension_block() {
    let age = bundle_agent::wire::block::bundle_age_data(10);
    let b = raw(
        &primary(),
        &[block(7, 2, &age), block(7, 3, &age), block(1, 1, b"x")],
    );
    assert_eq!(
        err(&b),
        DecodeError::DuplicateExtension {
            number: 3,
            kind: "bundle age"
        }
    );
}

#[test]
fn rfc9171_4_2_3_flag_rules() {
    let mut p = primary();
    p.flags = BundleFlags(BundleFlags::ADMIN_RECORD | BundleFlags::REPORT_DELIVERY);
    assert_eq!(
        err(&raw(&p, &[block(1, 1, b"x")])),
        DecodeError::BundleFlags(FlagRule::AdminRecordReports)
    );
    let mut p = primary();
    p.source = Eid::Null;
    assert_eq!(
        err(&raw(&p, &[block(1, 1, b"x")])),
        DecodeError::BundleFlags(FlagRule::AnonymousFragmentable)
    );
}

#[test]
fn rfc9171_4_2_4_admin_record_blocks_must_not_ask_for_reports() {
    let mut p = primary();
    p.flags = BundleFlags(BundleFlags::ADMIN_RECORD);
    let mut b = block(1, 1, b"x");
    b.flags = BlockFlags(BlockFlags::REPORT_IF_UNPROCESSABLE);
    assert_eq!(err(&raw(&p, &[b])), DecodeError::AdminRecordBlockReport(1));
}

#[test]
fn rfc9171_5_8_fragment_within_adu() {
    let bytes = BundleBuilder::new(
        Eid::ipn(2, 1),
        Eid::ipn(1, 1),
        CreationTimestamp::new(DtnTime(5), 1),
    )
    .payload(b"0123456789")
    .fragment(95, 100)
    .build();
    assert_eq!(
        bytes.unwrap_err(),
        DecodeError::FragmentBeyondAdu {
            offset: 95,
            len: 10,
            total: 100
        }
    );
    let ok = BundleBuilder::new(
        Eid::ipn(2, 1),
        Eid::ipn(1, 1),
        CreationTimestamp::new(DtnTime(5), 1),
    )
    .payload(b"0123456789")
    .fragment(90, 100)
    .build()
    .unwrap();
    let v = BundleView::decode(&ok).unwrap();
    assert_eq!(v.id().fragment, Some((90, 10)));
}

#[test]
fn rfc9171_4_4_3_hop_limit_out_of_range() {
    let hc = bundle_agent::wire::HopCount {
        limit: 300,
        count: 0,
    }
    .to_data();
    assert_eq!(
        err(&raw(&primary(), &[block(10, 2, &hc), block(1, 1, b"x")])),
        DecodeError::HopLimit {
            number: 2,
            limit: 300
        }
    );
}

#[test]
fn limits_refuse_before_work() {
    let bytes = raw(&primary(), &[block(1, 1, &[0u8; 100])]);
    let opts = DecodeOptions {
        max_bundle_size: 64,
        ..DecodeOptions::default()
    };
    assert!(matches!(
        BundleView::decode_with(&bytes, &opts),
        Err(DecodeError::TooLarge { .. })
    ));
    let many: Vec<u8> = vec![0u8; 0];
    let mut blocks: Vec<BlockRef<'_>> = (2..80).map(|n| block(200, n, &many)).collect();
    blocks.push(block(1, 1, b"x"));
    assert_eq!(
        err(&raw(&primary(), &blocks)),
        DecodeError::TooManyBlocks { limit: 64 }
    );
}

#[test]
fn declared_lengths_are_checked_against_the_input() {
    // A payload block that declares a 4 GiB byte string in a 60-byte input.
    let mut b = raw(&primary(), &[block(1, 1, b"")]);
    let pos = b.len() - 7; // 0x40 head of the empty payload data, then the CRC field and break
    assert_eq!(b[pos], 0x40);
    b.splice(pos..=pos, [0x5a, 0xff, 0xff, 0xff, 0xff]);
    assert!(matches!(
        err(&b),
        DecodeError::Cbor {
            at: Location::Block(1),
            ..
        }
    ));
}

#[test]
fn not_an_array_and_truncation() {
    assert_eq!(err(&[0x01]), DecodeError::NotAnArray);
    let b = raw(&primary(), &[block(1, 1, b"x")]);
    for cut in 0..b.len() {
        assert!(
            BundleView::decode(&b[..cut]).is_err(),
            "prefix of {cut} bytes accepted"
        );
    }
}

#[test]
fn rfc9171_4_1_definite_outer_array_is_accepted_but_not_canonical() {
    let mut b = raw(&primary(), &[block(1, 1, b"x")]);
    b[0] = 0x82;
    b.pop();
    let v = BundleView::decode(&b).unwrap();
    assert!(!v.is_canonical());
    let strict = DecodeOptions {
        accept_definite_outer_array: false,
        ..DecodeOptions::default()
    };
    assert_eq!(
        BundleView::decode_with(&b, &strict).unwrap_err(),
        DecodeError::DefiniteOuterArray
    );
}

#[test]
fn unknown_blocks_are_kept_with_their_flags() {
    let mut unknown = block(192, 4, b"opaque");
    unknown.flags = BlockFlags(BlockFlags::DISCARD_IF_UNPROCESSABLE);
    let b = raw(&primary(), &[unknown, block(1, 1, b"x")]);
    let v = BundleView::decode(&b).unwrap();
    let blk = v.block(4).unwrap();
    assert!(!blk.block_type.is_known());
    assert_eq!(v.data(blk), b"opaque");
    assert_eq!(
        blk.flags.unknown_block_disposition().0,
        bundle_agent::wire::UnknownBlockDisposition::DiscardBlock
    );
}

mod received_security_blocks {
    use super::*;
    use bundle_agent::bpsec::asb::{bytes_value, uint_value};
    use bundle_agent::bpsec::AbstractSecurityBlock;
    use bundle_agent::wire::SecurityRule;

    fn asb(
        context_id: i64,
        targets: Vec<u64>,
        result_len: usize,
        params: Vec<(u64, Vec<u8>)>,
    ) -> Vec<u8> {
        AbstractSecurityBlock {
            results: targets
                .iter()
                .map(|_| vec![(1, bytes_value(&vec![0u8; result_len]))])
                .collect(),
            targets,
            context_id,
            source: Eid::ipn(1, 0),
            parameters: params,
        }
        .encode()
    }

    fn with(security: &[BlockRef<'_>]) -> DecodeError {
        let mut blocks = security.to_vec();
        blocks.push(block(7, 4, &[0x0a]));
        blocks.push(block(1, 1, b"x"));
        err(&raw(&primary(), &blocks))
    }

    #[test]
    fn rfc9172_3_8_bcb_targeting_the_primary_block() {
        let data = asb(2, vec![0], 16, vec![]);
        assert_eq!(
            with(&[block(12, 2, &data)]),
            DecodeError::Security {
                block: 2,
                rule: SecurityRule::BcbTargetsPrimary
            }
        );
        assert_eq!(
            with(&[block(12, 2, &data)]).to_string(),
            "block 2: BCB targets the primary block (RFC 9172 §3.8)"
        );
    }

    #[test]
    fn rfc9173_3_bib_result_length_must_match_its_algorithm() {
        let data = asb(1, vec![1], 32, vec![(1, uint_value(7))]);
        assert_eq!(
            with(&[block(11, 2, &data)]),
            DecodeError::Security {
                block: 2,
                rule: SecurityRule::ResultLength {
                    target: 1,
                    found: 32,
                    expected: 64,
                    algorithm: "HMAC 512/512"
                }
            }
        );
        // Without a SHA variant parameter the default is HMAC 384/384 (RFC 9173 §3.3.1).
        let data = asb(1, vec![1], 32, vec![]);
        assert!(matches!(
            with(&[block(11, 2, &data)]),
            DecodeError::Security {
                rule: SecurityRule::ResultLength { expected: 48, .. },
                ..
            }
        ));
        let data = asb(2, vec![1], 12, vec![]);
        assert!(matches!(
            with(&[block(12, 2, &data)]),
            DecodeError::Security {
                rule: SecurityRule::ResultLength { expected: 16, .. },
                ..
            }
        ));
    }

    #[test]
    fn rfc9172_3_6_targets_exist_and_are_served_once() {
        let missing = asb(1, vec![9], 48, vec![]);
        assert_eq!(
            with(&[block(11, 2, &missing)]),
            DecodeError::Security {
                block: 2,
                rule: SecurityRule::TargetMissing(9)
            }
        );
        let a = asb(1, vec![1], 48, vec![]);
        let b = asb(1, vec![1], 48, vec![]);
        assert_eq!(
            with(&[block(11, 2, &a), block(11, 3, &b)]),
            DecodeError::Security {
                block: 3,
                rule: SecurityRule::DuplicateService {
                    target: 1,
                    kind: "BIB",
                    other: 2
                }
            }
        );
        let on_bib = asb(1, vec![2], 48, vec![]);
        assert_eq!(
            with(&[block(11, 2, &a), block(11, 3, &on_bib)]),
            DecodeError::Security {
                block: 3,
                rule: SecurityRule::TargetsSecurityBlock {
                    kind: "BIB",
                    target: 2
                }
            }
        );
    }

    #[test]
    fn malformed_asb_is_a_block_data_error() {
        assert!(matches!(
            with(&[block(11, 2, &[0x80])]),
            DecodeError::BlockData {
                number: 2,
                kind: "BIB",
                ..
            }
        ));
    }
}

#[test]
fn rfc9171_4_2_3_fragment_flag_must_match_fragment_fields() {
    let mut p = primary();
    p.flags = BundleFlags(BundleFlags::IS_FRAGMENT);
    // Encoded with the flag but without the two fragment fields: an array-length error.
    assert!(matches!(
        err(&raw(&p, &[block(1, 1, b"x")])),
        DecodeError::ArrayLength {
            at: Location::Primary,
            ..
        }
    ));
    // A value that disagrees is refused by the encoder.
    let b = bundle_agent::wire::Bundle {
        primary: p,
        blocks: vec![bundle_agent::wire::CanonicalBlock::new(
            BlockType::PAYLOAD,
            1,
            CrcType::Crc32c,
            b"x".to_vec(),
        )],
    };
    assert_eq!(
        b.encode().unwrap_err(),
        DecodeError::BundleFlags(FlagRule::FragmentFieldsMismatch)
    );
}

#[test]
fn rfc9171_5_6_step_4_unknown_blocks_kept_removed_or_fatal() {
    let mut keep = block(192, 2, b"k");
    keep.flags = BlockFlags(BlockFlags::REPLICATE_IN_EVERY_FRAGMENT);
    let mut drop = block(193, 3, b"d");
    drop.flags =
        BlockFlags(BlockFlags::DISCARD_IF_UNPROCESSABLE | BlockFlags::REPORT_IF_UNPROCESSABLE);
    let bytes = raw(&primary(), &[keep, drop, block(1, 1, b"x")]);
    let mut b = BundleView::decode(&bytes).unwrap().to_bundle();
    let out = b.apply_unknown_block_rules();
    assert_eq!(
        out,
        bundle_agent::wire::UnknownBlocksOutcome {
            delete_bundle: false,
            removed: vec![3],
            report: true
        }
    );
    assert_eq!(
        b.blocks.iter().map(|b| b.number).collect::<Vec<_>>(),
        vec![2, 1]
    );
    let mut fatal = block(194, 4, b"f");
    fatal.flags = BlockFlags(BlockFlags::DELETE_BUNDLE_IF_UNPROCESSABLE);
    let bytes = raw(&primary(), &[fatal, block(1, 1, b"x")]);
    let mut b = BundleView::decode(&bytes).unwrap().to_bundle();
    assert!(b.apply_unknown_block_rules().delete_bundle);
}

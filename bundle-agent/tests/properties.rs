//! Property tests: any bundle the builder emits decodes to the same value; any byte string
//! fed to the decoders yields `Ok` or a typed error (never a panic), including valid bundles
//! with bytes flipped, cut or inserted.

// Test code: a panic is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bundle_agent::bpsec::AbstractSecurityBlock;
use bundle_agent::wire::{
    AdminRecord, BlockFlags, BlockType, Bundle, BundleFlags, BundleView, CanonicalBlock, CrcType,
    CreationTimestamp, DecodeOptions, DtnTime, Eid, FragmentInfo, IpnEid, PrimaryBlock,
};
use proptest::prelude::*;

fn eid() -> impl Strategy<Value = Eid> {
    prop_oneof![
        (any::<u32>(), any::<u64>()).prop_map(|(n, s)| Eid::ipn(n, s)),
        (1u32..u32::MAX, any::<u32>(), any::<u64>()).prop_map(|(a, n, s)| Eid::Ipn(IpnEid {
            allocator: a,
            node: n,
            service: s
        })),
        ("[!-.0-~]{1,12}", "[!-~]{0,12}")
            .prop_map(|(n, d)| Eid::dtn(&n, &d).expect("generated dtn EID is valid")),
    ]
}

fn crc() -> impl Strategy<Value = CrcType> {
    prop_oneof![
        Just(CrcType::None),
        Just(CrcType::Crc16),
        Just(CrcType::Crc32c)
    ]
}

fn bundle() -> impl Strategy<Value = Bundle> {
    let primary = (
        eid(),
        eid(),
        eid(),
        crc(),
        any::<u64>(),
        1u64..u64::MAX,
        any::<u64>(),
        any::<bool>(),
        0u64..0x8_0000,
    )
        .prop_map(
            |(dst, src, rpt, crc, seq, time, lifetime, frag, flags)| PrimaryBlock {
                flags: BundleFlags(
                    flags
                        & !(BundleFlags::IS_FRAGMENT
                            | BundleFlags::ADMIN_RECORD
                            | BundleFlags::MUST_NOT_FRAGMENT),
                )
                .with(BundleFlags::IS_FRAGMENT, frag),
                crc_type: crc,
                destination: dst,
                source: src,
                report_to: rpt,
                creation: CreationTimestamp::new(DtnTime(time), seq),
                lifetime_ms: lifetime,
                fragment: frag.then_some(FragmentInfo {
                    offset: 0,
                    total_adu_length: u64::MAX,
                }),
            },
        );
    let extension = (
        prop_oneof![13u64..200, 193u64..u64::MAX],
        any::<u8>(),
        crc(),
        prop::collection::vec(any::<u8>(), 0..64),
    );
    (
        primary,
        prop::collection::vec(extension, 0..6),
        any::<u8>(),
        crc(),
        prop::collection::vec(any::<u8>(), 0..4096),
    )
        .prop_map(|(primary, ext, pflags, pcrc, payload)| {
            let mut blocks: Vec<CanonicalBlock> = ext
                .into_iter()
                .enumerate()
                .map(|(i, (t, f, c, data))| {
                    CanonicalBlock::new(BlockType(t), i as u64 + 2, c, data)
                        .with_flags(BlockFlags(u64::from(f)))
                })
                .collect();
            blocks.push(
                CanonicalBlock::new(BlockType::PAYLOAD, 1, pcrc, payload)
                    .with_flags(BlockFlags(u64::from(pflags))),
            );
            Bundle { primary, blocks }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn builder_output_decodes_to_the_same_value(b in bundle()) {
        let opts = DecodeOptions::lenient();
        let bytes = b.encode_with(&opts).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let view = BundleView::decode_with(&bytes, &opts).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(view.is_canonical());
        prop_assert_eq!(view.to_bundle(), b);
        // Re-encoding the decoded value gives the same bytes.
        prop_assert_eq!(view.to_bundle().encode_with(&opts).unwrap(), bytes);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = BundleView::decode(&bytes);
        let _ = BundleView::decode_with(&bytes, &DecodeOptions::lenient());
        let _ = AbstractSecurityBlock::decode(&bytes);
        let _ = AdminRecord::decode(&bytes);
        if let Ok(s) = std::str::from_utf8(&bytes) {
            let _ = s.parse::<Eid>();
        }
    }

    #[test]
    fn mutated_bundles_never_panic(b in bundle(), edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8)) {
        let opts = DecodeOptions::lenient();
        let mut bytes = b.encode_with(&opts).unwrap();
        for (at, v, kind) in edits {
            if bytes.is_empty() { break; }
            let i = at.index(bytes.len());
            match kind {
                0 => bytes[i] ^= v | 1,
                1 => bytes.truncate(i),
                _ => bytes.insert(i, v),
            }
        }
        if let Ok(v) = BundleView::decode_with(&bytes, &opts) {
            // Whatever is accepted re-encodes and decodes again.
            let again = v.to_bundle().encode_with(&opts).unwrap();
            prop_assert_eq!(BundleView::decode_with(&again, &opts).unwrap().to_bundle(), v.to_bundle());
        }
    }
}

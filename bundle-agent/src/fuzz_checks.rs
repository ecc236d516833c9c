//! The bodies of the fuzz targets in `fuzz/`, kept here so that the default test suite can
//! run them over the seed corpus on stable Rust, and the fuzzers (nightly, `cargo fuzz`)
//! explore from there. Each takes arbitrary bytes and asserts the decoders' invariants:
//! no panic, and whatever is accepted re-encodes to something that decodes to the same value.

use crate::bpsec::{decrypt_bcb, verify_bib, AbstractSecurityBlock};
use crate::wire::cbor::Reader;
use crate::wire::{AdminRecord, BlockType, BundleView, DecodeOptions, Eid};

/// Bundle decoder: strict and lenient; accepted bundles round-trip.
pub fn bundle_decoder(data: &[u8]) {
    for opts in [DecodeOptions::default(), DecodeOptions::lenient()] {
        let Ok(view) = BundleView::decode_with(data, &opts) else {
            continue;
        };
        let payload = view.payload();
        assert!(
            payload.is_empty() || data.as_ptr_range().contains(&payload.as_ptr()),
            "payload was copied"
        );
        let value = view.to_bundle();
        let again = value.encode_with(&opts);
        assert!(
            again.is_ok(),
            "accepted bundle does not re-encode: {again:?}"
        );
        if let Ok(bytes) = again {
            let back = BundleView::decode_with(&bytes, &opts).map(|v| v.to_bundle());
            assert_eq!(
                back.as_ref().ok(),
                Some(&value),
                "re-encoded bundle decodes differently"
            );
            if view.is_canonical() {
                assert_eq!(bytes, data, "a canonical bundle re-encodes to other bytes");
            }
        }
    }
}

/// EID parser: text and CBOR forms round-trip.
pub fn eid_parser(data: &[u8]) {
    if let Ok(text) = core::str::from_utf8(data) {
        if let Ok(eid) = text.parse::<Eid>() {
            let printed = eid.to_string();
            assert_eq!(
                printed.parse::<Eid>().ok(),
                Some(eid.clone()),
                "text form does not round-trip"
            );
            let cbor = eid.to_cbor();
            assert_eq!(
                Eid::decode(&mut Reader::new(&cbor, 4)).ok(),
                Some(eid),
                "CBOR form does not round-trip"
            );
        }
    }
    if let Ok(eid) = Eid::decode(&mut Reader::new(data, 4)) {
        let cbor = eid.to_cbor();
        assert_eq!(
            Eid::decode(&mut Reader::new(&cbor, 4)).ok(),
            Some(eid.clone()),
            "CBOR form does not round-trip"
        );
        assert_eq!(
            eid.to_string().parse::<Eid>().ok(),
            Some(eid),
            "decoded EID does not print and parse back"
        );
    }
}

/// BPSec processing: ASBs, BIB verification and BCB decryption on hostile bundles.
pub fn bpsec_processing(data: &[u8]) {
    if let Ok(asb) = AbstractSecurityBlock::decode(data) {
        let again = AbstractSecurityBlock::decode(&asb.encode());
        assert_eq!(again.as_ref().ok(), Some(&asb), "ASB does not round-trip");
    }
    let _ = AdminRecord::decode(data);
    let Ok(view) = BundleView::decode_with(data, &DecodeOptions::lenient()) else {
        return;
    };
    let bundle = view.to_bundle();
    let keys: [&[u8]; 2] = [&[0x1a; 16], &[0x71; 32]];
    for b in bundle
        .blocks
        .iter()
        .filter(|b| b.block_type == BlockType::BIB)
    {
        for k in keys {
            let _ = verify_bib(&bundle, b.number, k);
        }
    }
    for b in bundle
        .blocks
        .iter()
        .filter(|b| b.block_type == BlockType::BCB)
    {
        for k in keys {
            let mut copy = bundle.clone();
            if decrypt_bcb(&mut copy, b.number, k).is_ok() {
                assert!(
                    copy.block(b.number).is_none(),
                    "a processed BCB stays in the bundle"
                );
            } else {
                assert_eq!(copy, bundle, "a failed decryption changed the bundle");
            }
        }
    }
}

/// Fragmentation and reassembly (RFC 9171 §5.8, §5.9): the first byte picks a size limit, the
/// rest is a bundle. Whatever decodes and is not itself a fragment is cut into pieces that
/// each fit the limit and decode, and the pieces, in reverse order and with the first one
/// twice, reassemble to the very same bundle.
pub fn fragment_round_trip(data: &[u8]) {
    use crate::fragment::{fragment, reassemble, Reassembly};
    let Some((&limit_byte, rest)) = data.split_first() else {
        return;
    };
    let opts = DecodeOptions::lenient();
    let Ok(view) = BundleView::decode_with(rest, &opts) else {
        return;
    };
    let bundle = view.to_bundle();
    if bundle.primary.fragment.is_some() {
        return;
    }
    let limit = 48 + usize::from(limit_byte) * 4;
    let Ok(pieces) = fragment(&bundle, limit, &opts) else {
        return;
    };
    if pieces.len() == 1 {
        return;
    }
    let mut parts = Vec::new();
    for p in &pieces {
        assert!(
            p.len() <= limit,
            "a fragment of {} bytes over {limit}",
            p.len()
        );
        let v = BundleView::decode_with(p, &opts);
        assert!(v.is_ok(), "a fragment does not decode: {v:?}");
        if let Ok(v) = v {
            parts.push(v.to_bundle());
        }
    }
    parts.reverse();
    if let Some(first) = parts.last().cloned() {
        parts.push(first);
    }
    let result = reassemble(&parts);
    assert!(
        matches!(&result, Ok(Reassembly::Complete(whole)) if *whole == bundle),
        "fragments did not reassemble to the bundle: {result:?}"
    );
}

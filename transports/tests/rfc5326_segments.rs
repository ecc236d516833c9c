//! LTP segments (RFC 5326 §3) under hostile input: random datagrams never panic, and what
//! decodes re-encodes to the same segment; random well-formed data and report segments
//! round-trip; the fuzz target's seeds decode.

// Test code: a panic is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use proptest::prelude::*;
use transports::ltp::segment::{Checkpoint, Claim, Content, Segment, SessionId};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn rfc5326_3_random_datagrams_never_panic(
        kind in 0u8..16,
        rest in proptest::collection::vec(any::<u8>(), 0..120),
    ) {
        let mut d = vec![kind];
        d.extend(rest);
        if let Ok(s) = Segment::decode(&d) {
            let again = s.encode();
            prop_assert_eq!(Segment::decode(&again), Ok(s));
        }
    }

    #[test]
    fn rfc5326_3_2_data_and_reports_round_trip(
        originator in any::<u64>(),
        number in any::<u64>(),
        offset in 0u64..1 << 40,
        data in proptest::collection::vec(any::<u8>(), 0..300),
        checkpoint in proptest::option::of((1u64..1000, 0u64..1000)),
        gaps in proptest::collection::vec((0u64..500, 1u64..500), 0..20),
    ) {
        let session = SessionId { originator, number };
        let seg = Segment {
            session,
            content: Content::Data {
                red: true,
                checkpoint: checkpoint.map(|(serial, report_serial)| Checkpoint { serial, report_serial }),
                end_of_red: false,
                end_of_block: false,
                client_service: 1,
                offset,
                data: &data,
            },
            header_ext: vec![],
            trailer_ext: vec![],
        };
        let bytes = seg.encode();
        prop_assert_eq!(Segment::decode(&bytes), Ok(seg.clone()));
        let mut at = 0;
        let claims: Vec<Claim> = gaps
            .iter()
            .map(|(gap, length)| {
                let c = Claim { offset: at + gap, length: *length };
                at = c.offset + c.length;
                c
            })
            .collect();
        let report = Segment {
            session,
            content: Content::Report {
                serial: 1,
                checkpoint_serial: 2,
                upper: 10_000 + at,
                lower: 10_000,
                claims,
            },
            header_ext: vec![],
            trailer_ext: vec![],
        };
        let bytes = report.encode();
        prop_assert_eq!(Segment::decode(&bytes), Ok(report.clone()));
    }
}

#[test]
fn the_fuzz_seeds_decode() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/ltp_segment");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("seed-")
        {
            let bytes = std::fs::read(&path).unwrap();
            Segment::decode(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            seen += 1;
        }
    }
    assert!(seen >= 2);
}

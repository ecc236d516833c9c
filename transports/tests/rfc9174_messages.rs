//! RFC 9174 message encoding and the streaming decoder on split, oversized and hostile input.

// Test code: a panic is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use proptest::prelude::*;
use transports::tcpcl::codes::{self, SEGMENT_END, SEGMENT_START, TRANSFER_LENGTH_ITEM};
use transports::tcpcl::*;

fn enc(m: &Message<'_>) -> Vec<u8> {
    let mut v = Vec::new();
    m.encode(&mut v);
    v
}

fn samples(data: &[u8]) -> Vec<Message<'_>> {
    vec![
        Message::SessInit(SessInit {
            keepalive_secs: 30,
            segment_mru: 1 << 20,
            transfer_mru: 1 << 30,
            node_id: "ipn:1.0".into(),
            extensions: vec![ExtensionItem {
                flags: 0,
                item_type: 0x7fff,
                value: vec![1, 2],
            }],
        }),
        Message::XferSegment {
            flags: SEGMENT_START,
            transfer_id: 7,
            extensions: vec![ExtensionItem {
                flags: codes::ITEM_CRITICAL,
                item_type: TRANSFER_LENGTH_ITEM,
                value: 3u64.to_be_bytes().to_vec(),
            }],
            data,
        },
        Message::XferSegment {
            flags: SEGMENT_END,
            transfer_id: 7,
            extensions: vec![],
            data,
        },
        Message::XferAck {
            flags: SEGMENT_END,
            transfer_id: 7,
            acknowledged: 6,
        },
        Message::XferRefuse {
            reason: RefuseReason::NoResources,
            transfer_id: 8,
        },
        Message::Keepalive,
        Message::SessTerm {
            flags: 0,
            reason: TermReason::IdleTimeout,
        },
        Message::MsgReject {
            reason: RejectReason::Unexpected,
            rejected_type: 0x02,
        },
    ]
}

#[test]
fn rfc9174_4_2_contact_header() {
    let h = ContactHeader::ours(true);
    assert_eq!(h.encode(), [b'd', b't', b'n', b'!', 4, 1]);
    assert_eq!(ContactHeader::decode(&h.encode()).unwrap(), h);
    assert_eq!(
        ContactHeader::decode(b"dtn!\x03\x00"),
        Err(ContactError::Version(3))
    );
    assert_eq!(
        ContactHeader::decode(b"GET / "),
        Err(ContactError::BadMagic)
    );
}

#[test]
fn rfc9174_5_2_2_segment_layout() {
    let m = Message::XferSegment {
        flags: SEGMENT_END,
        transfer_id: 1,
        extensions: vec![],
        data: b"ab",
    };
    // type, flags, transfer ID (8), data length (8), data
    assert_eq!(hex(&enc(&m)), "0101000000000000000100000000000000026162");
    let m = Message::XferSegment {
        flags: SEGMENT_START,
        transfer_id: 1,
        extensions: vec![],
        data: b"",
    };
    // A START segment carries the (here empty) transfer extension items.
    assert_eq!(
        hex(&enc(&m)),
        "01020000000000000001000000000000000000000000"
    );
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn every_message_round_trips_and_every_prefix_asks_for_more() {
    let limits = DecodeLimits::default();
    for m in samples(b"xyz") {
        let bytes = enc(&m);
        assert_eq!(
            decode(&bytes, &limits).unwrap(),
            Decoded::Message(m.clone(), bytes.len())
        );
        for cut in 0..bytes.len() {
            match decode(&bytes[..cut], &limits).unwrap() {
                Decoded::NeedMore(n) => assert!(
                    n > cut && n <= bytes.len(),
                    "{m:?}: prefix {cut} asks for {n}"
                ),
                other => panic!("{m:?}: prefix of {cut} bytes decoded as {other:?}"),
            }
        }
    }
}

#[test]
fn rfc9174_5_1_2_unknown_type_is_rejected() {
    let e = decode(&[0x42, 0, 0], &DecodeLimits::default()).unwrap_err();
    assert_eq!(e, ProtocolError::UnknownType(0x42));
    assert_eq!(
        e.response(),
        ErrorResponse::Reject(RejectReason::TypeUnknown)
    );
}

#[test]
fn oversized_segment_is_refused_before_its_data_arrives() {
    let limits = DecodeLimits {
        segment_mru: 1000,
        ..DecodeLimits::default()
    };
    let mut header = Vec::new();
    message::encode_segment_header(&mut header, SEGMENT_END, 3, &[], u64::MAX);
    let e = decode(&header, &limits).unwrap_err();
    assert_eq!(
        e,
        ProtocolError::SegmentTooLarge {
            len: u64::MAX,
            mru: 1000
        }
    );
    assert_eq!(
        e.response(),
        ErrorResponse::Terminate(TermReason::ResourceExhaustion)
    );
}

#[test]
fn oversized_or_malformed_extensions_are_refused() {
    let limits = DecodeLimits {
        max_extensions: 16,
        ..DecodeLimits::default()
    };
    let big = Message::XferSegment {
        flags: SEGMENT_START,
        transfer_id: 1,
        extensions: vec![ExtensionItem {
            flags: 0,
            item_type: 9,
            value: vec![0; 40],
        }],
        data: b"",
    };
    assert!(matches!(
        decode(&enc(&big), &limits),
        Err(ProtocolError::ExtensionsTooLarge { len: 45, limit: 16 })
    ));
    // Items length 4 but one item needs 5 bytes of header.
    let mut bad = vec![0x01, SEGMENT_START];
    bad.extend_from_slice(&1u64.to_be_bytes());
    bad.extend_from_slice(&4u32.to_be_bytes());
    bad.extend_from_slice(&[0, 0, 1, 0]);
    bad.extend_from_slice(&0u64.to_be_bytes());
    assert_eq!(
        decode(&bad, &DecodeLimits::default()),
        Err(ProtocolError::MalformedExtensions)
    );
}

proptest! {
    #[test]
    fn arbitrary_bytes_decode_or_fail_without_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let limits = DecodeLimits { segment_mru: 128, max_extensions: 64 };
        match decode(&bytes, &limits) {
            Ok(Decoded::Message(m, used)) => {
                prop_assert!(used <= bytes.len());
                // What decodes re-encodes to the same bytes.
                prop_assert_eq!(enc(&m), bytes[..used].to_vec());
            }
            Ok(Decoded::NeedMore(n)) => prop_assert!(n > bytes.len()),
            Err(_) => {}
        }
    }
}

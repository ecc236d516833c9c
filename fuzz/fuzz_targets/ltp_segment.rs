//! LTP segments from the network (RFC 5326 §3): any datagram is refused with an error or
//! decoded, never a panic; what decodes encodes to bytes that decode to the same segment.
#![no_main]

use libfuzzer_sys::fuzz_target;
use transports::ltp::segment::Segment;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = Segment::decode(data) {
        let again = s.encode();
        assert_eq!(Segment::decode(&again).as_ref(), Ok(&s));
    }
});

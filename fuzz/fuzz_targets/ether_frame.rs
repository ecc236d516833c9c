//! Ethernet frames of our EtherType from the pod LAN: any frame is refused with an error or
//! decoded, never a panic; what decodes encodes to bytes that decode to the same frame; and
//! a receiving link fed the input cut into frames keeps its bounds and never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use transports::ether::frame::Frame;
use transports::ether::link::{EtherConfig, EtherLink, Event};

fuzz_target!(|data: &[u8]| {
    if let Ok(f) = Frame::decode(data) {
        let again = f.encode();
        assert_eq!(Frame::decode(&again).as_ref(), Ok(&f));
    }
    let mut cfg = EtherConfig::new([2, 0, 0, 0, 0, 2]);
    cfg.max_inbound = 8;
    cfg.max_inbound_bytes = 1 << 16;
    let mut link = EtherLink::new(cfg);
    for (now, chunk) in data.split(|b| *b == 0xA5).enumerate() {
        link.handle(now as u64, Event::Frame(chunk.to_vec()));
        while link.poll_action().is_some() {}
    }
    link.handle(u64::MAX / 2, Event::Tick);
    while link.poll_action().is_some() {}
});

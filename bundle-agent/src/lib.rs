//! The bundle layer of the DTN federation stack: the BPv7 wire format (RFC 9171) and Bundle
//! Protocol Security (RFC 9172, RFC 9173). No I/O and no clock live here; later issues add
//! the sans-IO bundle protocol agent and its store beside these modules.

pub mod bpsec;
pub mod fuzz_checks;
pub mod wire;

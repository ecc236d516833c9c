//! The bundle layer of the DTN federation stack: the BPv7 wire format (RFC 9171), Bundle
//! Protocol Security (RFC 9172, RFC 9173), the bundle protocol agent, fragmentation and
//! reassembly, and the bundle store. No sockets, threads or clock
//! live here; the store is the one synchronous dependency (ARCHITECTURE §3).

pub mod agent;
pub mod bpsec;
pub mod fragment;
pub mod fuzz_checks;
pub mod store;
pub mod wire;

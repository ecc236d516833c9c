//! LTP, the Licklider Transmission Protocol (RFC 5326), the convergence layer for deep-space
//! links: one-way light time of minutes, scheduled contacts, no handshakes.
//!
//! - [`sdnv`]: self-delimiting numeric values (RFC 6256), LTP's integers.
//! - [`segment`]: every segment type of RFC 5326 §3, decoded with bounds and typed errors.
//!
//! Started: the wire format. The engine (sessions, checkpoints and reports, retransmission of
//! missing ranges, cancellation, timers suspended while the link is down) is next.

pub mod sdnv;
pub mod segment;

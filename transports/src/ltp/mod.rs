//! LTP, the Licklider Transmission Protocol (RFC 5326), the convergence layer for deep-space
//! links: one-way light time of minutes, scheduled contacts, no handshakes.
//!
//! - [`sdnv`]: self-delimiting numeric values (RFC 6256), LTP's integers.
//! - [`segment`]: every segment type of RFC 5326 §3, decoded with bounds and typed errors.
//! - [`engine`]: the sans-IO engine: red-part sessions, checkpoints and reports, sending
//!   again exactly the ranges a report lacks, cancellation, timers suspended while a link is
//!   down.
//! - [`redundancy`]: on a lossy link, recovery rounds, checkpoints and reports sent twice.
//!
//! The UDP edge is in `dtnd` (`tools::dtnd::ltp_link`): engine IDs per peer, contacts from
//! the contact plan (light time and rate each), block aggregation. Not built: discretionary
//! checkpoints inside a pass (each pass ends in one checkpoint).

pub mod engine;
pub mod redundancy;
pub mod sdnv;
pub mod segment;

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
//! The UDP edge is in `dtnd` (`tools::dtnd::ltp_link`). Not yet: links scheduled by the
//! contact plan, rates per contact, green data, several checkpoints per pass.

pub mod engine;
pub mod redundancy;
pub mod sdnv;
pub mod segment;

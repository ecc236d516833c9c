//! Twin state (ARCHITECTURE §8): digital twins as `yrs` documents. A node edits its replica
//! locally and sends each peer a **delta**: the updates since the state vector it last learned
//! from that peer, as a bundle payload. Applying a delta is idempotent and order-free, so
//! duplicates, loss (repaired by a later delta) and reordering are harmless, and replicas
//! converge however late the bundles arrive.
//!
//! - [`twin`]: a replica of one twin: partitions by scope, deltas, what it knows of its
//!   peers, limits.
//! - [`fields`]: typed fields (values, texts, lists, counters) and the edits on them.
//! - [`policy`]: tiers and the sovereignty policy (how far up each field may travel).
//! - [`check`]: the bounded check of a peer's update before yrs decodes it.
//! - [`deletions`]: deletions as ranges: their digest, and only the new ones in a delta.
//! - [`message`]: the delta's envelope on the wire.
//! - [`service`]: a node's twins: subscriptions, persistence in the node's store, history,
//!   and the bundles to send, as a sans-IO state machine.

pub mod check;
pub mod deletions;
pub mod fields;
pub mod message;
pub mod policy;
pub mod service;
pub mod twin;

pub use check::CheckError;
pub use fields::{Edit, Field, Kind, Value};
pub use message::{DeltaMessage, MessageError};
pub use policy::{Policy, Tier};
pub use service::{Change, Follow, Outgoing, ServiceConfig, TwinService};
pub use twin::{Applied, Journal, Limits, Twin, TwinError};

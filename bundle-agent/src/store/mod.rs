//! Durable bundle storage behind one trait, [`BundleStore`], with two implementations:
//! `RocksStore` (RocksDB on disk, for `dtnd`; cargo feature `rocksdb`, on by default) and
//! [`MemoryStore`] (for tests and the simulator). One conformance suite (`tests/store_conformance.rs`) runs against both.
//!
//! Durability is explicit: writes are staged, and [`BundleStore::sync`] makes everything
//! written before it durable at once (group commit). The agent acknowledges a bundle (a
//! TCPCL XFER_ACK, an API 2xx) only after the `sync` that covers it has returned, which is
//! what ARCHITECTURE §4 step 3 and §5 require: a `kill -9` loses nothing acknowledged.
//!
//! The store also keeps endpoint registrations and a forwarding log per bundle (the source
//! of `dtnctl trace`), and enforces a byte quota: a bundle that does not fit is refused with
//! [`StoreError::QuotaExceeded`] and nothing already stored is touched.

// Records, registrations and logs are encoded only by the RocksDB store.
#[cfg_attr(not(feature = "rocksdb"), allow(dead_code))]
mod codec;
#[cfg(feature = "rocksdb")]
mod log_retention;
mod memory;
#[cfg(feature = "rocksdb")]
mod recent;
#[cfg(feature = "rocksdb")]
mod rocks;
#[cfg(feature = "rocksdb")]
mod value_log;

pub use codec::{bundle_key, decode_bundle_key};
pub use memory::MemoryStore;
#[cfg(feature = "rocksdb")]
pub use rocks::{RocksOptions, RocksStore};

use thiserror::Error;

use crate::wire::{BundleId, DtnTime, Eid};

/// Retention constraints of RFC 9171 §5: reasons a node keeps a bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Retention(pub u8);

impl Retention {
    /// Waiting to be delivered to a local endpoint (RFC 9171 §5.7: "dispatch pending").
    pub const DISPATCH_PENDING: u8 = 0x01;
    /// Waiting to be forwarded (RFC 9171 §5.4: "forward pending").
    pub const FORWARD_PENDING: u8 = 0x02;
    /// A fragment waiting for the rest of its ADU (RFC 9171 §5.9: "reassembly pending").
    pub const REASSEMBLY_PENDING: u8 = 0x04;

    /// True when no constraint remains, so the bundle may be discarded (RFC 9171 §5.11).
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// True when `bit` is set.
    pub fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }
}

/// What the store keeps beside a bundle's bytes: enough to rebuild the agent's queues on
/// start without decoding every bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleRecord {
    /// The bundle's ID.
    pub id: BundleId,
    /// Its destination.
    pub destination: Eid,
    /// When its lifetime ends.
    pub expires_at: DtnTime,
    /// When this node received it.
    pub received_at: DtnTime,
    /// Encoded size in bytes.
    pub size: u64,
    /// Why it is kept.
    pub retention: Retention,
    /// The status reports it asked for (the report request bits of RFC 9171 §4.2.3), or 0
    /// when it cannot be reported on (an administrative record, or report-to `dtn:none`).
    /// Lets the agent skip reading a bundle back when it leaves without a report to send.
    pub reports: u64,
    /// Its priority (its priority block; normal without one): links take higher first.
    pub priority: u8,
}

/// Whether an insert stored a new bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// Stored (durable after the next `sync`).
    New,
    /// A bundle with this ID is already stored; nothing changed (duplicate suppression).
    Duplicate,
}

/// How a registered endpoint wants its bundles (RFC 9171 §3.1, §5.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryMode {
    /// Deliver as bundles arrive (pushed to a connected application).
    Active,
    /// Keep until the application asks.
    Passive,
}

/// An application's registration of an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The endpoint.
    pub endpoint: Eid,
    /// How bundles are delivered.
    pub mode: DeliveryMode,
}

/// One event in a bundle's life at this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// When it happened.
    pub at: DtnTime,
    /// What happened.
    pub event: LogEvent,
}

/// Events of the forwarding log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEvent {
    /// Received from a peer (or `None` from a local application).
    Received {
        /// The previous node, when known.
        from: Option<Eid>,
    },
    /// Forwarded to a next hop.
    Forwarded {
        /// The next hop.
        to: Eid,
    },
    /// Delivered to a local endpoint.
    Delivered {
        /// The endpoint.
        endpoint: Eid,
    },
    /// Deleted, with a status report reason code (RFC 9171 §6.1.1).
    Deleted {
        /// The reason code.
        reason: u64,
    },
}

/// Space used and allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreUsage {
    /// Bundles stored.
    pub bundles: u64,
    /// Bytes of bundles stored.
    pub bytes: u64,
    /// Most bytes of bundles allowed.
    pub quota: u64,
}

/// Why a store operation failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The bundle would exceed the byte quota; nothing was changed.
    #[error("store full: {needed} bytes needed, {available} of the {quota}-byte quota free")]
    QuotaExceeded {
        /// Bytes the bundle needs.
        needed: u64,
        /// Bytes free.
        available: u64,
        /// The quota.
        quota: u64,
    },
    /// The database failed.
    #[error("database: {0}")]
    Database(String),
    /// Stored data could not be read back.
    #[error("corrupt store entry: {0}")]
    Corrupt(String),
}

/// Refuses a bundle of `needed` bytes when `used` plus it would pass `quota`.
pub(crate) fn check_quota(used: u64, quota: u64, needed: u64) -> Result<(), StoreError> {
    let available = quota.saturating_sub(used);
    if needed > available {
        return Err(StoreError::QuotaExceeded {
            needed,
            available,
            quota,
        });
    }
    Ok(())
}

/// A service state entry: key and value.
pub type StateEntry = (Vec<u8>, Vec<u8>);

/// Durable storage of bundles, registrations and the forwarding log.
pub trait BundleStore {
    /// Stores a bundle and its record, atomically. Refuses, changing nothing, when the
    /// bundle would exceed the quota. Durable after the next [`BundleStore::sync`].
    fn insert(&mut self, record: &BundleRecord, bytes: &[u8]) -> Result<Inserted, StoreError>;

    /// Makes every change made so far durable (group commit).
    fn sync(&mut self) -> Result<(), StoreError>;

    /// A bundle's bytes.
    fn get(&self, id: &BundleId) -> Result<Option<Vec<u8>>, StoreError>;

    /// A bundle's record.
    fn record(&self, id: &BundleId) -> Result<Option<BundleRecord>, StoreError>;

    /// Replaces the record of a stored bundle (its retention constraints change as it is
    /// forwarded and delivered). Returns false when no such bundle is stored.
    fn update_record(&mut self, record: &BundleRecord) -> Result<bool, StoreError>;

    /// Removes a bundle, its record and its index entries. Its log stays (for `trace`).
    fn remove(&mut self, id: &BundleId) -> Result<bool, StoreError>;

    /// IDs of the stored fragments of the bundle `whole` (same source and creation
    /// timestamp; `whole`'s own fragment field is ignored), by offset, then length: the parts
    /// reassembly (RFC 9171 §5.9) puts together.
    fn fragments_of(&self, whole: &BundleId) -> Result<Vec<BundleId>, StoreError>;

    /// IDs of at most `limit` bundles whose lifetime ends at or before `at`, earliest first.
    fn expiring(&self, at: DtnTime, limit: usize) -> Result<Vec<BundleId>, StoreError>;

    /// Every record, for rebuilding queues on start.
    fn records(&self) -> Result<Vec<BundleRecord>, StoreError>;

    /// Space used and allowed.
    fn usage(&self) -> StoreUsage;

    /// Adds or replaces a registration.
    fn put_registration(&mut self, registration: &Registration) -> Result<(), StoreError>;

    /// Removes a registration; false when there was none.
    fn remove_registration(&mut self, endpoint: &Eid) -> Result<bool, StoreError>;

    /// Every registration.
    fn registrations(&self) -> Result<Vec<Registration>, StoreError>;

    /// Appends to a bundle's forwarding log.
    fn log(&mut self, id: &BundleId, entry: &LogEntry) -> Result<(), StoreError>;

    /// A bundle's forwarding log, oldest first.
    fn log_for(&self, id: &BundleId) -> Result<Vec<LogEntry>, StoreError>;

    /// Stores a service's state under `key` (twin documents; keys are prefixed by the
    /// service, e.g. `twin/`), replacing what was there. Durable after the next
    /// [`BundleStore::sync`], in the same commit as the bundles it goes with.
    fn put_state(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError>;

    /// Removes the service state under `key` (nothing when there is none).
    fn delete_state(&mut self, key: &[u8]) -> Result<(), StoreError>;

    /// Every service state entry whose key starts with `prefix`, in key order.
    fn state_with_prefix(&self, prefix: &[u8]) -> Result<Vec<StateEntry>, StoreError>;
}

//! Bundles held in memory until delivered or forwarded, instead of stored first.
//!
//! Most bundles leave in the turn of the node's loop that brought them: lent to a push
//! subscriber that waits for their endpoint, taken at once by an active registration (the
//! echo service, twins, blobs), or handed to a link with room to the next hop. Storing one
//! first cost an insert and a remove (six RocksDB writes, and for a large bundle a value-log
//! write of every byte) for a bundle gone a moment later. So the agent holds such a bundle in
//! memory, **unacknowledged**, and it ends one of two ways:
//! - delivered (RFC 9171 §5.7) or forwarded and acknowledged by the next hop (§5.4, which
//!   acknowledges only what it made durable): its reception and its end are logged, and its
//!   own acknowledgement waits for the next commit, which makes that log durable. The bundle
//!   is never written here: it is durable where it went, and nothing is left to keep.
//! - not settled in time: stored like any other bundle ("spilled") and acknowledged at the
//!   next commit. That is when the commit comes and the bundle is not lent, not on its way to
//!   the next hop, and no application is at work on its endpoint (none of the endpoint's held
//!   bundles is lent out: a push subscriber writing a batch asks for the next once it is
//!   written); when the application gives it back or the link fails it; or when it is still
//!   held [`HOLD_MS`] after it arrived.
//!
//! Either way nothing is acknowledged before it is durable, as stored or as delivered, so a
//! crash loses nothing: the sender of a held bundle still has it and sends it again. A
//! duplicate that arrives while the first copy is held waits with it (its acknowledgement
//! rides on the first's). What is held is bounded ([`HELD_MAX_BYTES`], [`HELD_MAX`]); past
//! that, bundles are stored as before.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use super::AckToken;
use crate::store::BundleRecord;
use crate::wire::{BundleId, DtnTime, Eid};

/// Most payload bytes held at once.
pub(super) const HELD_MAX_BYTES: usize = 64 << 20;
/// Most bundles held at once.
pub(super) const HELD_MAX: usize = 4096;
/// A held bundle not settled this long after it arrived is stored (milliseconds). Its
/// sender waits for its acknowledgement meanwhile (an application for its API call), so
/// this is short: long enough for a next hop on a fast link to take a bundle that queued
/// behind a full window, short enough that a slow link costs an application little.
pub(super) const HOLD_MS: u64 = 200;

/// One held bundle.
#[derive(Debug)]
pub(super) struct Held {
    /// Its bytes, as received.
    pub(super) bytes: Bytes,
    /// The record it is stored with if it spills.
    pub(super) record: BundleRecord,
    /// The node it came from, for the log.
    pub(super) from: Option<Eid>,
    /// Acknowledgements waiting on it (its own, and any duplicate's).
    pub(super) tokens: Vec<AckToken>,
}

/// The held bundles, by ID.
#[derive(Debug, Default)]
pub(super) struct HeldBundles {
    bundles: BTreeMap<BundleId, Held>,
    /// When each is due to be stored, earliest first.
    due: BTreeSet<(DtnTime, BundleId)>,
    bytes: usize,
}

/// When a held bundle is due to be stored: [`HOLD_MS`] after it arrived, or when its
/// lifetime ends if that is sooner.
fn due(held: &Held) -> DtnTime {
    let record = &held.record;
    DtnTime(
        record
            .received_at
            .0
            .saturating_add(HOLD_MS)
            .min(record.expires_at.0),
    )
}

impl HeldBundles {
    /// True when a bundle of `len` bytes may be held.
    pub(super) fn has_room(&self, len: usize) -> bool {
        self.bundles.len() < HELD_MAX && self.bytes.saturating_add(len) <= HELD_MAX_BYTES
    }

    /// Holds `held` as `id`.
    pub(super) fn put(&mut self, id: BundleId, held: Held) {
        self.bytes += held.bytes.len();
        self.due.insert((due(&held), id.clone()));
        if let Some(old) = self.bundles.insert(id.clone(), held) {
            self.bytes -= old.bytes.len();
            self.due.remove(&(due(&old), id));
        }
    }

    /// True when `id` is held.
    pub(super) fn contains(&self, id: &BundleId) -> bool {
        self.bundles.contains_key(id)
    }

    /// The bytes of `id`, when held.
    pub(super) fn bytes(&self, id: &BundleId) -> Option<Bytes> {
        self.bundles.get(id).map(|h| h.bytes.clone())
    }

    /// The record of `id`, when held.
    pub(super) fn record(&self, id: &BundleId) -> Option<&BundleRecord> {
        self.bundles.get(id).map(|h| &h.record)
    }

    /// Adds an acknowledgement to wait on `id`; false when it is not held.
    pub(super) fn wait_on(&mut self, id: &BundleId, token: AckToken) -> bool {
        match self.bundles.get_mut(id) {
            Some(h) => {
                h.tokens.push(token);
                true
            }
            None => false,
        }
    }

    /// Takes `id` out.
    pub(super) fn take(&mut self, id: &BundleId) -> Option<Held> {
        let held = self.bundles.remove(id)?;
        self.bytes -= held.bytes.len();
        self.due.remove(&(due(&held), id.clone()));
        Some(held)
    }

    /// The IDs of the bundles for which `pick` is true.
    pub(super) fn ids_where(
        &self,
        mut pick: impl FnMut(&BundleId, &Held) -> bool,
    ) -> Vec<BundleId> {
        self.bundles
            .iter()
            .filter(|(id, h)| pick(id, h))
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// When the first held bundle is due to be stored (held too long, or expired).
    pub(super) fn next_due(&self) -> Option<DtnTime> {
        self.due.first().map(|(at, _)| *at)
    }

    /// The held bundles due to be stored at `now`.
    pub(super) fn due_at(&self, now: DtnTime) -> Vec<BundleId> {
        self.due
            .iter()
            .take_while(|(at, _)| *at <= now)
            .map(|(_, id)| id.clone())
            .collect()
    }

    /// How many bundles are held.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.bundles.len()
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_id as id;
    use super::*;
    use crate::store::Retention;

    fn held(seq: u64, len: usize, at: u64) -> Held {
        Held {
            bytes: Bytes::from(vec![0; len]),
            record: BundleRecord {
                id: id(seq),
                destination: Eid::ipn(2, 1),
                expires_at: DtnTime(u64::MAX),
                received_at: DtnTime(at),
                size: len as u64,
                retention: Retention(Retention::DISPATCH_PENDING),
                reports: 0,
                priority: 1,
            },
            from: None,
            tokens: vec![seq],
        }
    }

    #[test]
    fn room_is_bounded_by_bytes_and_count() {
        let mut h = HeldBundles::default();
        assert!(h.has_room(HELD_MAX_BYTES));
        assert!(!h.has_room(HELD_MAX_BYTES + 1));
        h.put(id(1), held(1, HELD_MAX_BYTES - 10, 0));
        assert!(h.has_room(10));
        assert!(!h.has_room(11));
        let taken = h.take(&id(1)).map(|t| t.bytes.len());
        assert_eq!(taken, Some(HELD_MAX_BYTES - 10));
        assert!(h.has_room(HELD_MAX_BYTES));
        for seq in 0..HELD_MAX as u64 {
            h.put(id(seq), held(seq, 1, 0));
        }
        assert!(!h.has_room(1), "full by count");
    }

    #[test]
    fn duplicates_wait_on_the_held_copy_and_the_oldest_is_due_first() {
        let mut h = HeldBundles::default();
        h.put(id(1), held(1, 5, 700));
        h.put(id(2), held(2, 5, 300));
        assert!(h.wait_on(&id(1), 99));
        assert!(!h.wait_on(&id(3), 98), "not held");
        assert_eq!(h.next_due(), Some(DtnTime(300 + HOLD_MS)));
        assert_eq!(
            h.ids_where(|_, x| x.record.received_at.0 < 500),
            vec![id(2)]
        );
        assert_eq!(h.due_at(DtnTime(300 + HOLD_MS)), vec![id(2)]);
        assert_eq!(h.take(&id(1)).map(|x| x.tokens), Some(vec![1, 99]));
        assert_eq!(h.len(), 1);
        assert_eq!(h.due.len(), 1, "the due index follows");
        assert!(h.contains(&id(2)) && !h.contains(&id(1)));
        assert_eq!(h.bytes(&id(2)).map(|b| b.len()), Some(5));
    }
}

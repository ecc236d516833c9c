//! The records of the bundles the RocksDB store took in most recently, held in memory with
//! where their bytes are.
//!
//! A bundle passing through a node is read back several times in a short stay: its record
//! when a link has room for it, its bytes to transmit them, its record and value-log
//! pointer again when the next hop acknowledges it and it is removed. Each of those is a
//! RocksDB point lookup through a memtable full of the tombstones earlier bundles left.
//! Served from here (records, and pointers of value-log bundles; the bytes of a small
//! bundle kept inside RocksDB are still read from it) they cost a hash lookup. The set is bounded (oldest out first), so
//! bundles queued for an absent peer still live on disk only; what it holds mirrors what
//! the store wrote, entry by entry, and is only ever a shortcut to the same answer.

use std::collections::{HashMap, VecDeque};

use super::value_log::ValuePtr;
use super::BundleRecord;

/// A bundle's record and, when its bytes are in the value log, their pointer.
struct Entry {
    record: BundleRecord,
    pointer: Option<ValuePtr>,
    /// Which push onto `order` this entry belongs to.
    generation: u64,
}

/// At most `capacity` records, keyed by bundle key.
pub(crate) struct RecentRecords {
    entries: HashMap<Vec<u8>, Entry>,
    /// Keys oldest first; an item whose generation no longer matches its entry is stale.
    order: VecDeque<(Vec<u8>, u64)>,
    next_generation: u64,
    capacity: usize,
}

impl RecentRecords {
    /// An empty set holding at most `capacity` records.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            order: VecDeque::new(),
            next_generation: 0,
            capacity,
        }
    }

    /// The record stored under `key` and its value-log pointer, when held here.
    pub(crate) fn get(&self, key: &[u8]) -> Option<(&BundleRecord, Option<ValuePtr>)> {
        self.entries.get(key).map(|e| (&e.record, e.pointer))
    }

    /// Holds `record` (just written under `key`), dropping the oldest beyond capacity.
    pub(crate) fn put(&mut self, key: Vec<u8>, record: BundleRecord, pointer: Option<ValuePtr>) {
        if self.capacity == 0 {
            return;
        }
        let generation = self.next_generation;
        self.next_generation += 1;
        self.order.push_back((key.clone(), generation));
        self.entries.insert(
            key,
            Entry {
                record,
                pointer,
                generation,
            },
        );
        // Every entry has its item in `order`, so bounding `order` bounds both.
        while self.order.len() > self.capacity {
            let Some((old, generation)) = self.order.pop_front() else {
                break;
            };
            if self
                .entries
                .get(&old)
                .is_some_and(|e| e.generation == generation)
            {
                self.entries.remove(&old);
            }
        }
    }

    /// Replaces the record held under `key`, if one is.
    pub(crate) fn set_record(&mut self, key: &[u8], record: &BundleRecord) {
        if let Some(e) = self.entries.get_mut(key) {
            e.record = record.clone();
        }
    }

    /// Replaces the value-log pointer held under `key` (its bytes were copied forward).
    pub(crate) fn set_pointer(&mut self, key: &[u8], pointer: ValuePtr) {
        if let Some(e) = self.entries.get_mut(key) {
            e.pointer = Some(pointer);
        }
    }

    /// Forgets `key` (its bundle was removed).
    pub(crate) fn remove(&mut self, key: &[u8]) {
        self.entries.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Retention;
    use crate::wire::{BundleId, CreationTimestamp, DtnTime, Eid};

    fn record(seq: u64) -> BundleRecord {
        BundleRecord {
            id: BundleId {
                source: Eid::ipn(1, 0),
                creation: CreationTimestamp::new(DtnTime(1), seq),
                fragment: None,
            },
            destination: Eid::ipn(2, 1),
            expires_at: DtnTime(9),
            received_at: DtnTime(1),
            size: seq,
            retention: Retention(Retention::FORWARD_PENDING),
            reports: 0,
            priority: 1,
        }
    }

    #[test]
    fn holds_at_most_its_capacity_oldest_out_first() {
        let mut r = RecentRecords::new(3);
        for seq in 0..5u8 {
            r.put(vec![seq], record(u64::from(seq)), None);
        }
        assert!(r.get(&[0]).is_none() && r.get(&[1]).is_none());
        assert_eq!(r.get(&[4]).map(|(rec, _)| rec.size), Some(4));
        assert_eq!(r.entries.len(), 3);
        assert!(r.order.len() <= 3);
    }

    #[test]
    fn a_key_put_again_is_not_evicted_by_its_stale_place_in_line() {
        let mut r = RecentRecords::new(2);
        r.put(vec![1], record(1), None);
        r.remove(&[1]);
        r.put(vec![2], record(2), None);
        // Putting [1] again pops its stale first item without taking the new entry.
        r.put(vec![1], record(11), None);
        r.put(vec![3], record(3), None);
        assert_eq!(r.get(&[1]).map(|(rec, _)| rec.size), Some(11));
        assert!(r.get(&[2]).is_none());
        assert_eq!(r.entries.len(), 2);
    }

    #[test]
    fn updates_reach_only_keys_held() {
        let mut r = RecentRecords::new(2);
        r.put(vec![1], record(1), None);
        let mut changed = record(1);
        changed.retention = Retention(Retention::DISPATCH_PENDING);
        r.set_record(&[1], &changed);
        r.set_record(&[9], &changed);
        assert_eq!(
            r.get(&[1]).map(|(rec, _)| rec.retention),
            Some(changed.retention)
        );
        assert!(r.get(&[9]).is_none());
        assert_eq!(RecentRecords::new(0).get(&[1]).map(|_| ()), None);
    }
}

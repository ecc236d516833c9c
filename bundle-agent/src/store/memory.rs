//! An in-memory [`BundleStore`] for tests and the simulator. It keeps the same keys as the
//! RocksDB store, so iteration orders agree, and `sync` is a no-op: memory is as durable as
//! it gets.

use std::collections::BTreeMap;

use crate::wire::{BundleId, DtnTime, Eid};

use super::codec::{
    bundle_key, decode_bundle_key, decode_expiry_key, expiry_key, fragments_prefix,
};
use super::{
    BundleRecord, BundleStore, Inserted, LogEntry, Registration, StateEntry, StoreError, StoreUsage,
};

/// Bundles, records, indexes, registrations and logs in ordered maps.
#[derive(Debug, Clone)]
pub struct MemoryStore {
    bundles: BTreeMap<Vec<u8>, (BundleRecord, Vec<u8>)>,
    by_expiry: BTreeMap<Vec<u8>, ()>,
    registrations: BTreeMap<Vec<u8>, Registration>,
    logs: BTreeMap<Vec<u8>, Vec<LogEntry>>,
    state: BTreeMap<Vec<u8>, Vec<u8>>,
    bytes: u64,
    quota: u64,
}

impl MemoryStore {
    /// An empty store that holds at most `quota` bytes of bundles.
    pub fn new(quota: u64) -> Self {
        Self {
            bundles: BTreeMap::new(),
            by_expiry: BTreeMap::new(),
            registrations: BTreeMap::new(),
            state: BTreeMap::new(),
            logs: BTreeMap::new(),
            bytes: 0,
            quota,
        }
    }
}

impl BundleStore for MemoryStore {
    fn insert(&mut self, record: &BundleRecord, bytes: &[u8]) -> Result<Inserted, StoreError> {
        let key = bundle_key(&record.id);
        if self.bundles.contains_key(&key) {
            return Ok(Inserted::Duplicate);
        }
        let needed = bytes.len() as u64;
        super::check_quota(self.bytes, self.quota, needed)?;
        let mut record = record.clone();
        record.size = needed;
        self.by_expiry
            .insert(expiry_key(record.expires_at, &key), ());
        self.bundles.insert(key, (record, bytes.to_vec()));
        self.bytes += needed;
        Ok(Inserted::New)
    }

    fn sync(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    fn get(&self, id: &BundleId) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.bundles.get(&bundle_key(id)).map(|(_, b)| b.clone()))
    }

    fn record(&self, id: &BundleId) -> Result<Option<BundleRecord>, StoreError> {
        Ok(self.bundles.get(&bundle_key(id)).map(|(r, _)| r.clone()))
    }

    fn update_record(&mut self, record: &BundleRecord) -> Result<bool, StoreError> {
        let key = bundle_key(&record.id);
        let Some((old, _)) = self.bundles.get(&key) else {
            return Ok(false);
        };
        let old = old.clone();
        self.by_expiry.remove(&expiry_key(old.expires_at, &key));
        self.by_expiry
            .insert(expiry_key(record.expires_at, &key), ());
        if let Some((r, _)) = self.bundles.get_mut(&key) {
            *r = BundleRecord {
                size: old.size,
                ..record.clone()
            };
        }
        Ok(true)
    }

    fn remove(&mut self, id: &BundleId) -> Result<bool, StoreError> {
        let key = bundle_key(id);
        let Some((record, bytes)) = self.bundles.remove(&key) else {
            return Ok(false);
        };
        self.by_expiry.remove(&expiry_key(record.expires_at, &key));
        self.bytes = self.bytes.saturating_sub(bytes.len() as u64);
        Ok(true)
    }

    fn fragments_of(&self, whole: &BundleId) -> Result<Vec<BundleId>, StoreError> {
        let prefix = fragments_prefix(whole);
        self.bundles
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| decode_bundle_key(k))
            .collect()
    }

    fn expiring(&self, at: DtnTime, limit: usize) -> Result<Vec<BundleId>, StoreError> {
        let mut out = Vec::new();
        for (k, _) in self.by_expiry.iter().take(limit) {
            let (t, id) = decode_expiry_key(k)?;
            if t > at {
                break;
            }
            out.push(id);
        }
        Ok(out)
    }

    fn records(&self) -> Result<Vec<BundleRecord>, StoreError> {
        Ok(self.bundles.values().map(|(r, _)| r.clone()).collect())
    }

    fn usage(&self) -> StoreUsage {
        StoreUsage {
            bundles: self.bundles.len() as u64,
            bytes: self.bytes,
            quota: self.quota,
        }
    }

    fn put_registration(&mut self, registration: &Registration) -> Result<(), StoreError> {
        self.registrations
            .insert(registration.endpoint.to_cbor(), registration.clone());
        Ok(())
    }

    fn remove_registration(&mut self, endpoint: &Eid) -> Result<bool, StoreError> {
        Ok(self.registrations.remove(&endpoint.to_cbor()).is_some())
    }

    fn registrations(&self) -> Result<Vec<Registration>, StoreError> {
        Ok(self.registrations.values().cloned().collect())
    }

    fn log(&mut self, id: &BundleId, entry: &LogEntry) -> Result<(), StoreError> {
        self.logs
            .entry(bundle_key(id))
            .or_default()
            .push(entry.clone());
        Ok(())
    }

    fn log_for(&self, id: &BundleId) -> Result<Vec<LogEntry>, StoreError> {
        Ok(self.logs.get(&bundle_key(id)).cloned().unwrap_or_default())
    }

    fn put_state(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.state.insert(key.to_vec(), value.to_vec());
        Ok(())
    }

    fn delete_state(&mut self, key: &[u8]) -> Result<(), StoreError> {
        self.state.remove(key);
        Ok(())
    }

    fn state_with_prefix(&self, prefix: &[u8]) -> Result<Vec<StateEntry>, StoreError> {
        Ok(self
            .state
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}

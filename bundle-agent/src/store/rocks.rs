//! The RocksDB [`BundleStore`] used by `dtnd`: one database per node, one column family per
//! kind of entry (ARCHITECTURE §5). A bundle of 4 KiB or more is written once, to the
//! value log beside the database ([`super::value_log`]), and the `bundles` family keeps a
//! pointer to it; smaller bundles are kept in the family itself.
//!
//! Writes go to the write-ahead log's buffer in memory; [`BundleStore::sync`] syncs the
//! value log, then writes that buffer out and fsyncs it, which is the group commit point
//! after which a bundle may be acknowledged. Every insert and removal is one atomic write
//! batch.
//!
//! Four things keep the per-bundle cost low. Forwarding-log entries wait in memory and ride
//! in the next write batch (an insertion, a removal, or the sync), so a bundle's arrival and
//! departure cost one write each, log included. A bundle has one index entry (expiry);
//! fragments are found by their own keys. The records of the bundles stored last are held
//! in memory ([`super::recent`]), so reading one's record and removing it need no lookup. And
//! scans of the expiry index start from a remembered floor instead of the start, so they do
//! not wade through the tombstones that every removed bundle leaves until compaction.

use std::cell::RefCell;
use std::path::Path;

use rocksdb::{
    ColumnFamily, ColumnFamilyDescriptor, Direction, IteratorMode, Options, WriteBatch,
    WriteOptions, DB,
};

use crate::wire::{BundleId, DtnTime, Eid};

use super::codec::{
    bundle_key, decode_bundle_key, decode_expiry_key, decode_log, decode_record,
    decode_registration, encode_log, encode_record, encode_registration, expiry_key,
    fragments_prefix,
};
use super::log_retention::{self, split_keep_until, with_keep_until, LogClock};
use super::recent::RecentRecords;
use super::value_log::{
    decode_value, encode_inline, StoredValue, ValueLog, ValueLogLimits, ValuePtr,
};
use super::{
    BundleRecord, BundleStore, Inserted, LogEntry, Registration, StateEntry, StoreError, StoreUsage,
};

/// Tuning of a [`RocksStore`] beyond its quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RocksOptions {
    /// Bundles of at least this many bytes go to the value log (written once); smaller
    /// ones stay in the database.
    pub value_log_min: usize,
    /// Size at which a value-log segment file is sealed and the next one started.
    pub segment_bytes: u64,
    /// Bytes of released values the sealed segments may hold before segments at most
    /// half live are copied forward. The log's disk use stays within twice the bytes of
    /// bundles it holds (or those plus this slack) plus the segment being written.
    pub gc_slack: u64,
    /// Milliseconds a forwarding-log entry is kept after its time, or after its bundle's
    /// expiry when that is later ([`super::log_retention`]).
    pub log_retention: u64,
}

impl RocksOptions {
    /// The default log retention: a week.
    pub const LOG_RETENTION: u64 = 7 * 24 * 60 * 60 * 1000;
}

impl Default for RocksOptions {
    /// 4 KiB, 64 MiB segments, 256 MiB of slack, a week of log.
    fn default() -> Self {
        Self {
            value_log_min: 4096,
            segment_bytes: 64 << 20,
            gc_slack: 256 << 20,
            log_retention: Self::LOG_RETENTION,
        }
    }
}

/// How often RocksDB recompacts a forwarding-log file that nothing else made it compact,
/// so its expired entries go: once a day.
const LOG_COMPACTION_SECONDS: u64 = 24 * 60 * 60;

const CF_BUNDLES: &str = "bundles";
const CF_RECORDS: &str = "records";
const CF_BY_EXPIRY: &str = "by_expiry";
const CF_REGISTRATIONS: &str = "registrations";
const CF_LOG: &str = "forwarding_log";
/// Services' own state: CRDT twin documents (keys `twin/...`), later blob metadata.
const CF_STATE: &str = "service_state";
const FAMILIES: [&str; 6] = [
    CF_BUNDLES,
    CF_RECORDS,
    CF_BY_EXPIRY,
    CF_REGISTRATIONS,
    CF_LOG,
    CF_STATE,
];
/// Families older versions kept and this one drops on open: a destination index, which
/// cost every bundle two writes and served only reassembly (now a scan of the fragments'
/// own keys in `records`).
const RETIRED_FAMILIES: [&str; 1] = ["by_destination"];

fn db_err(e: rocksdb::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

/// The column family `name` of `db`.
fn family<'a>(db: &'a DB, name: &str) -> Result<&'a ColumnFamily, StoreError> {
    db.cf_handle(name)
        .ok_or_else(|| StoreError::Database(format!("column family {name} missing")))
}

/// Calls `f` with the key and pointer of every bundle whose bytes are in the value log.
fn for_each_pointer(db: &DB, mut f: impl FnMut(Box<[u8]>, ValuePtr)) -> Result<(), StoreError> {
    for item in db.iterator_cf(family(db, CF_BUNDLES)?, IteratorMode::Start) {
        let (key, value) = item.map_err(db_err)?;
        if let StoredValue::Pointer(ptr) = decode_value(&value)? {
            f(key, ptr);
        }
    }
    Ok(())
}

/// A RocksDB database of bundles.
pub struct RocksStore {
    db: DB,
    bundles: u64,
    bytes: u64,
    quota: u64,
    next_log_seq: u64,
    /// Log entries (key, value) not written yet; they join the next write batch.
    pending_log: Vec<(Vec<u8>, Vec<u8>)>,
    /// True when something was written since the last sync.
    unsynced: bool,
    /// Every live key of the expiry index sorts at or after this one. (A cell: a scan,
    /// which only reads, moves it.)
    expiry_floor: RefCell<Vec<u8>>,
    /// Where bundles of `value_log_min` bytes or more are written.
    values: ValueLog,
    value_log_min: usize,
    /// Bundles dropped on open because their bytes never became durable.
    dropped_on_open: u64,
    /// The records of the bundles stored last, so their short stay costs fewer lookups.
    recent: RecentRecords,
    /// The latest log entry's time, which the log's compaction filter goes by.
    log_clock: LogClock,
}

/// Records [`RocksStore`] keeps in memory: more than a link's window of bundles in flight
/// (about 1 MiB of memory).
const RECENT_RECORDS: usize = 4096;

/// Most log entries held back before they are written on their own.
const MAX_PENDING_LOG: usize = 1024;
/// Sorts after every expiry index key (8 bytes of time, then a bundle key that starts with
/// a CBOR array head, never 0xFF).
const PAST_EVERY_EXPIRY_KEY: [u8; 9] = [0xFF; 9];

impl core::fmt::Debug for RocksStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RocksStore")
            .field("path", &self.db.path())
            .field("bundles", &self.bundles)
            .finish()
    }
}

impl Drop for RocksStore {
    /// A clean close writes out what the WAL buffer still holds.
    fn drop(&mut self) {
        let _ = self.sync();
    }
}

impl RocksStore {
    /// Opens (creating if needed) the database in `path`, holding at most `quota` bytes of
    /// bundles, with the default [`RocksOptions`]. Counts what is stored, so a reopened
    /// store knows its usage.
    pub fn open(path: &Path, quota: u64) -> Result<Self, StoreError> {
        Self::open_with(path, quota, RocksOptions::default())
    }

    /// [`RocksStore::open`] with other options. The value log lives in `path/values`.
    pub fn open_with(path: &Path, quota: u64, options: RocksOptions) -> Result<Self, StoreError> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_max_open_files(256);
        opts.set_keep_log_file_num(4);
        // Writes fill RocksDB's WAL buffer without a system call each; `sync` writes the
        // buffer and fsyncs it in one go. Nothing is acknowledged before that sync, so what
        // a crash can lose was never promised to anyone.
        opts.set_manual_wal_flush(true);
        let log_clock = LogClock::default();
        let families = FAMILIES.iter().map(|name| {
            let mut cf = Options::default();
            if *name == CF_BUNDLES {
                // Only bundles written before the value log existed, or kept in the
                // database by a `value_log_min` over 4 KiB, land in blob files.
                cf.set_enable_blob_files(true);
                cf.set_min_blob_size(4096);
            }
            if *name == CF_LOG {
                cf.set_compaction_filter(
                    "forwarding-log-retention",
                    log_retention::filter(log_clock.clone(), options.log_retention),
                );
                cf.set_periodic_compaction_seconds(LOG_COMPACTION_SECONDS);
            }
            ColumnFamilyDescriptor::new(*name, cf)
        });
        // A database from an older version has families this one no longer keeps: they
        // must be opened to be dropped.
        let existing = DB::list_cf(&opts, path).unwrap_or_default();
        let retired: Vec<&str> = RETIRED_FAMILIES
            .into_iter()
            .filter(|name| existing.iter().any(|e| e == name))
            .collect();
        let families = families.chain(
            retired
                .iter()
                .map(|name| ColumnFamilyDescriptor::new(*name, Options::default())),
        );
        let mut db = DB::open_cf_descriptors(&opts, path, families).map_err(db_err)?;
        for name in retired {
            db.drop_cf(name).map_err(db_err)?;
        }
        let values = ValueLog::open(
            &path.join("values"),
            ValueLogLimits {
                segment_bytes: options.segment_bytes,
                gc_slack: options.gc_slack,
            },
        )?;
        let mut store = Self {
            db,
            bundles: 0,
            bytes: 0,
            quota,
            next_log_seq: 0,
            pending_log: Vec::new(),
            unsynced: false,
            expiry_floor: RefCell::new(Vec::new()),
            values,
            value_log_min: options.value_log_min.max(1),
            dropped_on_open: 0,
            recent: RecentRecords::new(RECENT_RECORDS),
            log_clock,
        };
        store.adopt_values()?;
        for record in store.records()? {
            store.bundles += 1;
            store.bytes += record.size;
        }
        let log = store.cf(CF_LOG)?;
        if let Some(item) = store.db.iterator_cf(log, IteratorMode::End).next() {
            let (key, _) = item.map_err(db_err)?;
            let seq = key
                .len()
                .checked_sub(8)
                .and_then(|at| key.get(at..))
                .and_then(|b| <[u8; 8]>::try_from(b).ok());
            store.next_log_seq = seq.map_or(0, |b| u64::from_be_bytes(b).wrapping_add(1));
        }
        Ok(store)
    }

    /// Bundles dropped on open because their value-log bytes never became durable (they
    /// were written but not committed when the node stopped, so never acknowledged).
    pub fn dropped_on_open(&self) -> u64 {
        self.dropped_on_open
    }

    /// Value-log segment files, their bytes on disk, and the bytes of them still live.
    pub fn value_log_usage(&self) -> (usize, u64, u64) {
        self.values.usage()
    }

    /// Compacts the forwarding log now, dropping the entries past their retention
    /// (RocksDB does it on its own as files compact, and at least daily).
    pub fn compact_log(&mut self) -> Result<(), StoreError> {
        if !self.pending_log.is_empty() {
            self.write(WriteBatch::default())?;
        }
        self.db
            .compact_range_cf(self.cf(CF_LOG)?, None::<&[u8]>, None::<&[u8]>);
        Ok(())
    }

    /// On open: counts every value-log pointer in its segment, removes the bundles whose
    /// pointers lead nowhere, and deletes segments nothing points into.
    fn adopt_values(&mut self) -> Result<(), StoreError> {
        let mut dangling = Vec::new();
        let values = &mut self.values;
        for_each_pointer(&self.db, |key, ptr| {
            if !values.adopt(&ptr) {
                dangling.push(key);
            }
        })?;
        // Before the sync below, which may collect garbage: a segment that collection
        // empties must wait for the commit of its moved pointers.
        self.values.finish_open()?;
        for key in dangling {
            let mut batch = WriteBatch::default();
            batch.delete_cf(self.cf(CF_BUNDLES)?, &key);
            if let Some(v) = self
                .db
                .get_pinned_cf(self.cf(CF_RECORDS)?, &key)
                .map_err(db_err)?
            {
                let old = decode_record(&key, &v)?;
                self.delete_expiry(&mut batch, &old, &key)?;
            }
            batch.delete_cf(self.cf(CF_RECORDS)?, &key);
            self.write(batch)?;
            self.dropped_on_open += 1;
        }
        self.sync()
    }

    /// The value-log pointer stored for `key`, if its bytes are in the log.
    fn pointer(&self, key: &[u8]) -> Result<Option<ValuePtr>, StoreError> {
        match self
            .db
            .get_pinned_cf(self.cf(CF_BUNDLES)?, key)
            .map_err(db_err)?
        {
            Some(v) => match decode_value(&v)? {
                StoredValue::Pointer(ptr) => Ok(Some(ptr)),
                StoredValue::Inline(_) => Ok(None),
            },
            None => Ok(None),
        }
    }

    /// Copies the live values of one mostly released segment to the current one, when
    /// the garbage has passed the slack. Its file goes after the next commit. A segment
    /// that cannot be copied (a value in it is unreadable) stays where it is and is not
    /// tried again: the commit this follows has succeeded either way.
    fn collect_garbage(&mut self) {
        let Some(victim) = self.values.gc_victim() else {
            return;
        };
        if self.move_segment(victim).is_err() {
            self.values.spare(victim);
        }
    }

    /// Copies the live values of segment `victim` to the current one and points the
    /// database at the copies; the victim's values are released.
    fn move_segment(&mut self, victim: u64) -> Result<(), StoreError> {
        let mut moved = Vec::new();
        for_each_pointer(&self.db, |key, ptr| {
            if ptr.segment == victim {
                moved.push((key, ptr));
            }
        })?;
        let mut batch = WriteBatch::default();
        let mut fresh = Vec::with_capacity(moved.len());
        let mut copied = Ok(());
        for (key, old) in &moved {
            match self.values.read(old).and_then(|b| self.values.append(&b)) {
                Ok(new) => {
                    fresh.push(new);
                    batch.put_cf(self.cf(CF_BUNDLES)?, key, new.encode());
                }
                Err(e) => {
                    copied = Err(e);
                    break;
                }
            }
        }
        if let Err(e) = copied.and_then(|()| self.write(batch)) {
            for new in &fresh {
                self.values.release(new);
            }
            return Err(e);
        }
        for ((key, old), new) in moved.iter().zip(&fresh) {
            self.values.release(old);
            self.recent.set_pointer(key, *new);
        }
        Ok(())
    }

    /// Adds the deletion of `record`'s expiry index entry to `batch`.
    fn delete_expiry(
        &self,
        batch: &mut WriteBatch,
        record: &BundleRecord,
        key: &[u8],
    ) -> Result<(), StoreError> {
        batch.delete_cf(self.cf(CF_BY_EXPIRY)?, expiry_key(record.expires_at, key));
        Ok(())
    }

    fn cf(&self, name: &str) -> Result<&ColumnFamily, StoreError> {
        family(&self.db, name)
    }

    /// Adds the expiry index entry of `record` to `batch`.
    fn put_expiry(
        &mut self,
        batch: &mut WriteBatch,
        record: &BundleRecord,
        key: &[u8],
    ) -> Result<(), StoreError> {
        let expiry = expiry_key(record.expires_at, key);
        batch.put_cf(self.cf(CF_BY_EXPIRY)?, &expiry, []);
        let floor = self.expiry_floor.get_mut();
        if expiry < *floor {
            *floor = expiry;
        }
        Ok(())
    }

    /// Writes `batch`, with the log entries held back so far, without an fsync.
    fn write(&mut self, mut batch: WriteBatch) -> Result<(), StoreError> {
        if !self.pending_log.is_empty() {
            let log = self.cf(CF_LOG)?;
            for (k, v) in &self.pending_log {
                batch.put_cf(log, k, v);
            }
        }
        let mut wo = WriteOptions::default();
        wo.set_sync(false);
        self.db.write_opt(batch, &wo).map_err(db_err)?;
        self.pending_log.clear();
        self.unsynced = true;
        Ok(())
    }

    /// Decodes every entry of a column family.
    fn scan<T>(
        &self,
        family: &str,
        decode: impl Fn(&[u8], &[u8]) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.cf(family)?, IteratorMode::Start) {
            let (k, v) = item.map_err(db_err)?;
            out.push(decode(&k, &v)?);
        }
        Ok(out)
    }

    fn keys_from(
        &self,
        family: &str,
        from: &[u8],
    ) -> impl Iterator<Item = Result<Box<[u8]>, StoreError>> + '_ {
        let cf = self.cf(family);
        let iter = cf.map(|cf| {
            self.db
                .iterator_cf(cf, IteratorMode::From(from, Direction::Forward))
        });
        let (ok, err) = match iter {
            Ok(i) => (Some(i), None),
            Err(e) => (None, Some(Err(e))),
        };
        err.into_iter().chain(
            ok.into_iter()
                .flatten()
                .map(|item| item.map(|(k, _)| k).map_err(db_err)),
        )
    }
}

impl BundleStore for RocksStore {
    fn insert(&mut self, record: &BundleRecord, bytes: &[u8]) -> Result<Inserted, StoreError> {
        let key = bundle_key(&record.id);
        if self.recent.get(&key).is_some()
            || self
                .db
                .get_pinned_cf(self.cf(CF_RECORDS)?, &key)
                .map_err(db_err)?
                .is_some()
        {
            return Ok(Inserted::Duplicate);
        }
        let needed = bytes.len() as u64;
        super::check_quota(self.bytes, self.quota, needed)?;
        let record = BundleRecord {
            size: needed,
            ..record.clone()
        };
        let mut batch = WriteBatch::default();
        let ptr = if bytes.len() >= self.value_log_min {
            let ptr = self.values.append(bytes)?;
            batch.put_cf(self.cf(CF_BUNDLES)?, &key, ptr.encode());
            Some(ptr)
        } else {
            batch.put_cf(self.cf(CF_BUNDLES)?, &key, encode_inline(bytes));
            None
        };
        batch.put_cf(self.cf(CF_RECORDS)?, &key, encode_record(&record));
        self.put_expiry(&mut batch, &record, &key)?;
        if let Err(e) = self.write(batch) {
            if let Some(ptr) = ptr {
                self.values.release(&ptr);
            }
            return Err(e);
        }
        self.bundles += 1;
        self.bytes += needed;
        self.recent.put(key, record, ptr);
        Ok(Inserted::New)
    }

    fn sync(&mut self) -> Result<(), StoreError> {
        if !self.pending_log.is_empty() {
            self.write(WriteBatch::default())?;
        }
        if !self.unsynced {
            return Ok(());
        }
        // The value log first: a durable pointer must point at durable bytes.
        self.values.sync()?;
        self.db.flush_wal(true).map_err(db_err)?;
        self.unsynced = false;
        self.values.after_commit()?;
        self.collect_garbage();
        Ok(())
    }

    fn get(&self, id: &BundleId) -> Result<Option<Vec<u8>>, StoreError> {
        let key = bundle_key(id);
        if let Some((_, Some(ptr))) = self.recent.get(&key) {
            return self.values.read(&ptr).map(Some);
        }
        let Some(value) = self
            .db
            .get_pinned_cf(self.cf(CF_BUNDLES)?, &key)
            .map_err(db_err)?
        else {
            return Ok(None);
        };
        match decode_value(&value)? {
            StoredValue::Inline(bytes) => Ok(Some(bytes.to_vec())),
            StoredValue::Pointer(ptr) => self.values.read(&ptr).map(Some),
        }
    }

    fn record(&self, id: &BundleId) -> Result<Option<BundleRecord>, StoreError> {
        let key = bundle_key(id);
        if let Some((record, _)) = self.recent.get(&key) {
            return Ok(Some(record.clone()));
        }
        match self
            .db
            .get_pinned_cf(self.cf(CF_RECORDS)?, &key)
            .map_err(db_err)?
        {
            Some(v) => decode_record(&key, &v).map(Some),
            None => Ok(None),
        }
    }

    fn update_record(&mut self, record: &BundleRecord) -> Result<bool, StoreError> {
        let Some(old) = self.record(&record.id)? else {
            return Ok(false);
        };
        let key = bundle_key(&record.id);
        let record = BundleRecord {
            size: old.size,
            ..record.clone()
        };
        let mut batch = WriteBatch::default();
        if old.expires_at != record.expires_at {
            self.delete_expiry(&mut batch, &old, &key)?;
            self.put_expiry(&mut batch, &record, &key)?;
        }
        batch.put_cf(self.cf(CF_RECORDS)?, &key, encode_record(&record));
        self.write(batch)?;
        self.recent.set_record(&key, &record);
        Ok(true)
    }

    fn remove(&mut self, id: &BundleId) -> Result<bool, StoreError> {
        let key = bundle_key(id);
        let (old, ptr) = match self.recent.get(&key) {
            Some((record, ptr)) => (record.clone(), ptr),
            None => {
                let Some(old) = self.record(id)? else {
                    return Ok(false);
                };
                (old, self.pointer(&key)?)
            }
        };
        let mut batch = WriteBatch::default();
        batch.delete_cf(self.cf(CF_BUNDLES)?, &key);
        batch.delete_cf(self.cf(CF_RECORDS)?, &key);
        self.delete_expiry(&mut batch, &old, &key)?;
        self.write(batch)?;
        self.recent.remove(&key);
        if let Some(ptr) = ptr {
            self.values.release(&ptr);
        }
        self.bundles = self.bundles.saturating_sub(1);
        self.bytes = self.bytes.saturating_sub(old.size);
        Ok(true)
    }

    fn fragments_of(&self, whole: &BundleId) -> Result<Vec<BundleId>, StoreError> {
        let prefix = fragments_prefix(whole);
        let mut out = Vec::new();
        for key in self.keys_from(CF_RECORDS, &prefix) {
            let key = key?;
            if !key.starts_with(&prefix) {
                break;
            }
            out.push(decode_bundle_key(&key)?);
        }
        Ok(out)
    }

    fn expiring(&self, at: DtnTime, limit: usize) -> Result<Vec<BundleId>, StoreError> {
        let mut out = Vec::new();
        let mut first = None;
        let floor = self.expiry_floor.borrow().clone();
        for key in self.keys_from(CF_BY_EXPIRY, &floor).take(limit) {
            let key = key?;
            let (t, id) = decode_expiry_key(&key)?;
            if first.is_none() {
                first = Some(key);
            }
            if t > at {
                break;
            }
            out.push(id);
        }
        // Nothing live sorts before the first key found: the next scan starts there.
        *self.expiry_floor.borrow_mut() =
            first.map_or_else(|| PAST_EVERY_EXPIRY_KEY.to_vec(), Vec::from);
        Ok(out)
    }

    fn records(&self) -> Result<Vec<BundleRecord>, StoreError> {
        self.scan(CF_RECORDS, decode_record)
    }

    fn usage(&self) -> StoreUsage {
        StoreUsage {
            bundles: self.bundles,
            bytes: self.bytes,
            quota: self.quota,
        }
    }

    fn put_registration(&mut self, registration: &Registration) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        batch.put_cf(
            self.cf(CF_REGISTRATIONS)?,
            registration.endpoint.to_cbor(),
            encode_registration(registration),
        );
        self.write(batch)
    }

    fn remove_registration(&mut self, endpoint: &Eid) -> Result<bool, StoreError> {
        let key = endpoint.to_cbor();
        let cf = self.cf(CF_REGISTRATIONS)?;
        if self.db.get_pinned_cf(cf, &key).map_err(db_err)?.is_none() {
            return Ok(false);
        }
        let mut batch = WriteBatch::default();
        batch.delete_cf(cf, key);
        self.write(batch)?;
        Ok(true)
    }

    fn registrations(&self) -> Result<Vec<Registration>, StoreError> {
        self.scan(CF_REGISTRATIONS, decode_registration)
    }

    fn log(&mut self, id: &BundleId, entry: &LogEntry) -> Result<(), StoreError> {
        let mut key = bundle_key(id);
        // While the bundle is alive its log serves duplicate suppression: keep it at least
        // that long.
        let value = match self.recent.get(&key) {
            Some((record, _)) => with_keep_until(record.expires_at, &encode_log(entry)),
            None => encode_log(entry),
        };
        self.log_clock.advance(entry.at);
        // Sequence numbers follow the entries' time (4,096 a millisecond before they run
        // ahead of it), so entries logged after a restart sort after those before it even
        // when the newest key on disk is not the highest number.
        self.next_log_seq = self.next_log_seq.max(entry.at.0.saturating_mul(4096));
        key.extend_from_slice(&self.next_log_seq.to_be_bytes());
        self.pending_log.push((key, value));
        self.next_log_seq = self.next_log_seq.wrapping_add(1);
        if self.pending_log.len() >= MAX_PENDING_LOG {
            self.write(WriteBatch::default())?;
        }
        Ok(())
    }

    fn log_for(&self, id: &BundleId) -> Result<Vec<LogEntry>, StoreError> {
        let prefix = bundle_key(id);
        let mut out = Vec::new();
        for item in self.db.iterator_cf(
            self.cf(CF_LOG)?,
            IteratorMode::From(&prefix, Direction::Forward),
        ) {
            let (k, v) = item.map_err(db_err)?;
            if !k.starts_with(&prefix) || k.len() != prefix.len() + 8 {
                break;
            }
            out.push(decode_log(split_keep_until(&v).1)?);
        }
        // Entries held back come after every written one (their sequence numbers are higher).
        for (k, v) in &self.pending_log {
            if k.len() == prefix.len() + 8 && k.starts_with(&prefix) {
                out.push(decode_log(split_keep_until(v).1)?);
            }
        }
        Ok(out)
    }

    fn put_state(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_STATE)?, key, value);
        self.write(batch)
    }

    fn delete_state(&mut self, key: &[u8]) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        batch.delete_cf(self.cf(CF_STATE)?, key);
        self.write(batch)
    }

    fn state_with_prefix(&self, prefix: &[u8]) -> Result<Vec<StateEntry>, StoreError> {
        let mut out = Vec::new();
        for item in self.db.iterator_cf(
            self.cf(CF_STATE)?,
            IteratorMode::From(prefix, Direction::Forward),
        ) {
            let (k, v) = item.map_err(db_err)?;
            if !k.starts_with(prefix) {
                break;
            }
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }
}

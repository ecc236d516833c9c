//! The value log of the RocksDB store: bundle bytes written once, to append-only segment
//! files beside the database, with RocksDB keeping only a small pointer to them.
//!
//! Why: stored in RocksDB itself, a 1 MiB bundle was copied into a write batch, written to
//! the write-ahead log, copied into the memtable, and written again to a blob file when the
//! memtable was flushed: twice to disk and four times in memory. Through the value log it is
//! written once (one `write`, made durable by the group commit's `fdatasync`), and read back
//! with one `pread` when the agent needs it again. The layout follows the key-value
//! separation of WiscKey (Lu et al., FAST '16), which RocksDB's own blob files also use.
//!
//! Durability order: [`ValueLog::sync`] runs before RocksDB's WAL is synced, so a pointer
//! made durable always points at durable bytes. A segment whose last value was released is
//! deleted only by [`ValueLog::after_commit`], after the WAL sync that made the releases
//! durable, so a crash never leaves a durable pointer to a deleted file.
//!
//! Space: values are released as bundles leave, and a segment file is deleted once none of
//! its values is live. A few long-lived bundles could pin many mostly empty segments, so
//! [`ValueLog::gc_victim`] names a sealed segment worth copying forward once the garbage
//! passes a bound; the store moves its live values to the current segment.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::StoreError;

/// Tag of a stored value that holds the bundle bytes themselves.
const TAG_INLINE: u8 = 0x00;
/// Tag of a stored value that points into the value log.
const TAG_POINTER: u8 = 0x01;
/// Length of an encoded pointer: tag, segment, offset, length, CRC-32C.
const POINTER_LEN: usize = 1 + 8 + 8 + 8 + 4;
/// Segment files end in this.
const SUFFIX: &str = ".vlog";
/// Read handles kept open at most (segments being read back, besides the current one).
const MAX_READERS: usize = 32;

/// Where a value lives in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ValuePtr {
    /// The segment file's number.
    pub segment: u64,
    /// Byte offset in it.
    pub offset: u64,
    /// Length of the value.
    pub len: u64,
    /// CRC-32C of the value, checked when it is read back.
    pub crc: u32,
}

/// A value of the `bundles` column family, decoded.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum StoredValue<'a> {
    /// The bytes themselves.
    Inline(&'a [u8]),
    /// A pointer into the value log.
    Pointer(ValuePtr),
}

impl ValuePtr {
    /// The column family value that stands for this pointer.
    pub fn encode(&self) -> [u8; POINTER_LEN] {
        let mut out = [0u8; POINTER_LEN];
        out[0] = TAG_POINTER;
        out[1..9].copy_from_slice(&self.segment.to_be_bytes());
        out[9..17].copy_from_slice(&self.offset.to_be_bytes());
        out[17..25].copy_from_slice(&self.len.to_be_bytes());
        out[25..29].copy_from_slice(&self.crc.to_be_bytes());
        out
    }
}

/// The column family value that holds `bytes` inline.
pub(crate) fn encode_inline(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 1);
    out.push(TAG_INLINE);
    out.extend_from_slice(bytes);
    out
}

/// Reads a `bundles` column family value. Values written before the value log existed
/// are the bundle bytes untagged: a bundle is a CBOR array, whose first byte is never one
/// of the tags.
pub(crate) fn decode_value(value: &[u8]) -> Result<StoredValue<'_>, StoreError> {
    match value.split_first() {
        Some((&TAG_INLINE, rest)) => Ok(StoredValue::Inline(rest)),
        Some((&TAG_POINTER, rest)) => {
            let field = |at: usize| -> Option<u64> {
                Some(u64::from_be_bytes(rest.get(at..at + 8)?.try_into().ok()?))
            };
            let crc = rest
                .get(24..28)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(u32::from_be_bytes);
            match (
                field(0),
                field(8),
                field(16),
                crc,
                rest.len() == POINTER_LEN - 1,
            ) {
                (Some(segment), Some(offset), Some(len), Some(crc), true) => {
                    Ok(StoredValue::Pointer(ValuePtr {
                        segment,
                        offset,
                        len,
                        crc,
                    }))
                }
                _ => Err(StoreError::Corrupt(format!(
                    "value-log pointer of {} bytes",
                    value.len()
                ))),
            }
        }
        _ => Ok(StoredValue::Inline(value)),
    }
}

/// What is known of one segment file.
#[derive(Debug, Default, Clone, Copy)]
struct Segment {
    /// Bytes in the file.
    len: u64,
    /// Bytes of live values in it.
    live: u64,
    /// Live values in it.
    refs: u64,
}

/// The segment being appended to.
#[derive(Debug)]
struct Current {
    id: u64,
    file: File,
}

/// Tuning of the value log.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ValueLogLimits {
    /// A segment is sealed and a new one started once it holds this many bytes.
    pub segment_bytes: u64,
    /// Garbage (bytes of released values in sealed segments that still exist) tolerated
    /// before segments are copied forward.
    pub gc_slack: u64,
}

/// Append-only segment files of bundle bytes.
#[derive(Debug)]
pub(crate) struct ValueLog {
    dir: PathBuf,
    limits: ValueLogLimits,
    segments: BTreeMap<u64, Segment>,
    current: Option<Current>,
    /// Sealed segments written since the last sync (the current one is synced as well).
    unsynced: Vec<File>,
    /// Appends since the last sync, to the current segment.
    dirty: bool,
    /// A segment file was created since the last sync (the directory needs syncing).
    created: bool,
    /// Segments with no live value, deleted after the next commit.
    doomed: Vec<u64>,
    readers: RefCell<HashMap<u64, File>>,
    next_id: u64,
    /// Segments garbage collection failed on, left out of it from then on.
    spared: Vec<u64>,
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Database(format!("value log: {what} {}: {e}", path.display()))
}

impl ValueLog {
    /// Opens the value log in `dir` (created if missing). Every segment starts with no live
    /// value: the store then [`ValueLog::adopt`]s each pointer it holds, and
    /// [`ValueLog::finish_open`] deletes what none adopted.
    pub fn open(dir: &Path, limits: ValueLogLimits) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| io_err("create", dir, e))?;
        let mut segments = BTreeMap::new();
        for entry in std::fs::read_dir(dir).map_err(|e| io_err("list", dir, e))? {
            let entry = entry.map_err(|e| io_err("list", dir, e))?;
            let name = entry.file_name();
            let Some(id) = name
                .to_str()
                .and_then(|n| n.strip_suffix(SUFFIX))
                .and_then(|n| u64::from_str_radix(n, 16).ok())
            else {
                continue;
            };
            let len = entry
                .metadata()
                .map_err(|e| io_err("stat", &entry.path(), e))?
                .len();
            segments.insert(
                id,
                Segment {
                    len,
                    ..Segment::default()
                },
            );
        }
        let next_id = segments.keys().next_back().map_or(1, |id| id + 1);
        Ok(Self {
            dir: dir.to_owned(),
            limits,
            segments,
            current: None,
            unsynced: Vec::new(),
            dirty: false,
            created: false,
            doomed: Vec::new(),
            readers: RefCell::new(HashMap::new()),
            next_id,
            spared: Vec::new(),
        })
    }

    fn path(&self, id: u64) -> PathBuf {
        self.dir.join(format!("{id:016x}{SUFFIX}"))
    }

    /// Counts a pointer found in the database while opening. False when it points past
    /// what its segment holds, or at no segment: its bytes never became durable (it was
    /// never acknowledged), and the store drops the bundle.
    pub fn adopt(&mut self, ptr: &ValuePtr) -> bool {
        match self.segments.get_mut(&ptr.segment) {
            Some(s)
                if ptr
                    .offset
                    .checked_add(ptr.len)
                    .is_some_and(|end| end <= s.len) =>
            {
                s.live += ptr.len;
                s.refs += 1;
                true
            }
            _ => false,
        }
    }

    /// Deletes the segments no pointer was adopted into (values of bundles removed before
    /// a crash, or written but never committed). New values go to a new segment.
    pub fn finish_open(&mut self) -> Result<(), StoreError> {
        let empty: Vec<u64> = self
            .segments
            .iter()
            .filter(|(_, s)| s.refs == 0)
            .map(|(id, _)| *id)
            .collect();
        for id in empty {
            self.segments.remove(&id);
            let path = self.path(id);
            std::fs::remove_file(&path).map_err(|e| io_err("delete", &path, e))?;
        }
        Ok(())
    }

    /// Appends `bytes` (not yet durable: see [`ValueLog::sync`]).
    pub fn append(&mut self, bytes: &[u8]) -> Result<ValuePtr, StoreError> {
        let full = self.current.as_ref().is_some_and(|c| {
            self.segments
                .get(&c.id)
                .is_some_and(|s| s.len >= self.limits.segment_bytes)
        });
        if full || self.current.is_none() {
            self.start_segment()?;
        }
        let Some(current) = self.current.as_mut() else {
            return Err(StoreError::Database("value log: no segment".into()));
        };
        let seg = self.segments.entry(current.id).or_default();
        let ptr = ValuePtr {
            segment: current.id,
            offset: seg.len,
            len: bytes.len() as u64,
            crc: crc32c::crc32c(bytes),
        };
        if let Err(e) = current.file.write_all(bytes) {
            // The file may hold part of the value, so nothing more goes into it (the
            // values before stay readable).
            let id = current.id;
            self.seal();
            return Err(io_err("append to", &self.path(id), e));
        }
        seg.len += ptr.len;
        seg.live += ptr.len;
        seg.refs += 1;
        self.dirty = true;
        Ok(ptr)
    }

    /// Seals the current segment (it is synced with the next commit).
    fn seal(&mut self) {
        if let Some(old) = self.current.take() {
            if self.dirty {
                self.unsynced.push(old.file);
                self.dirty = false;
            }
            if self.segments.get(&old.id).is_some_and(|s| s.refs == 0) {
                self.doomed.push(old.id);
            }
        }
    }

    fn start_segment(&mut self) -> Result<(), StoreError> {
        self.seal();
        let id = self.next_id;
        self.next_id += 1;
        let path = self.path(id);
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .read(true)
            .open(&path)
            .map_err(|e| io_err("create", &path, e))?;
        self.segments.insert(id, Segment::default());
        self.current = Some(Current { id, file });
        self.created = true;
        Ok(())
    }

    /// Reads a value back, checking its length against its segment and its CRC.
    pub fn read(&self, ptr: &ValuePtr) -> Result<Vec<u8>, StoreError> {
        let seg = self.segments.get(&ptr.segment).ok_or_else(|| {
            StoreError::Corrupt(format!("value-log segment {} missing", ptr.segment))
        })?;
        if ptr
            .offset
            .checked_add(ptr.len)
            .is_none_or(|end| end > seg.len)
        {
            return Err(StoreError::Corrupt(format!(
                "value-log pointer past the end of segment {}",
                ptr.segment
            )));
        }
        let len = usize::try_from(ptr.len)
            .map_err(|_| StoreError::Corrupt("value-log value too long".into()))?;
        let mut out = vec![0u8; len];
        let path = self.path(ptr.segment);
        let mut read = |f: &File| f.read_exact_at(&mut out, ptr.offset);
        match self.current.as_ref().filter(|c| c.id == ptr.segment) {
            Some(c) => read(&c.file),
            None => {
                let mut readers = self.readers.borrow_mut();
                if !readers.contains_key(&ptr.segment) {
                    if readers.len() >= MAX_READERS {
                        readers.clear();
                    }
                    let f = File::open(&path).map_err(|e| io_err("open", &path, e))?;
                    readers.insert(ptr.segment, f);
                }
                match readers.get(&ptr.segment) {
                    Some(f) => read(f),
                    None => return Err(StoreError::Database("value log: no reader".into())),
                }
            }
        }
        .map_err(|e| io_err("read", &path, e))?;
        if crc32c::crc32c(&out) != ptr.crc {
            return Err(StoreError::Corrupt(format!(
                "value at {}:{} fails its CRC",
                ptr.segment, ptr.offset
            )));
        }
        Ok(out)
    }

    /// Releases a value (its bundle is being removed). Its segment is deleted after the
    /// next commit once nothing in it is live, unless it is still being appended to.
    pub fn release(&mut self, ptr: &ValuePtr) {
        let current = self.current.as_ref().map(|c| c.id);
        if let Some(s) = self.segments.get_mut(&ptr.segment) {
            s.live = s.live.saturating_sub(ptr.len);
            s.refs = s.refs.saturating_sub(1);
            if s.refs == 0 && current != Some(ptr.segment) && !self.doomed.contains(&ptr.segment) {
                self.doomed.push(ptr.segment);
            }
        }
    }

    /// Makes every append so far durable: the first half of the group commit, before the
    /// database's WAL is synced.
    pub fn sync(&mut self) -> Result<(), StoreError> {
        for f in self.unsynced.drain(..) {
            f.sync_data().map_err(|e| io_err("sync", &self.dir, e))?;
        }
        if self.dirty {
            if let Some(c) = &self.current {
                c.file
                    .sync_data()
                    .map_err(|e| io_err("sync", &self.path(c.id), e))?;
            }
            self.dirty = false;
        }
        if self.created {
            File::open(&self.dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| io_err("sync", &self.dir, e))?;
            self.created = false;
        }
        Ok(())
    }

    /// After the commit (the WAL sync that made the releases durable): deletes the
    /// segments nothing points into any more.
    pub fn after_commit(&mut self) -> Result<(), StoreError> {
        for id in std::mem::take(&mut self.doomed) {
            if self.segments.get(&id).is_some_and(|s| s.refs == 0) {
                self.segments.remove(&id);
                self.readers.borrow_mut().remove(&id);
                let path = self.path(id);
                std::fs::remove_file(&path).map_err(|e| io_err("delete", &path, e))?;
            }
        }
        Ok(())
    }

    /// A sealed segment to copy forward: when the sealed segments hold more garbage than
    /// the slack allows, the one with the least live data, if at most half of it is live.
    pub fn gc_victim(&self) -> Option<u64> {
        let current = self.current.as_ref().map(|c| c.id);
        let sealed = self
            .segments
            .iter()
            .filter(|(id, s)| Some(**id) != current && s.refs > 0 && !self.spared.contains(id));
        let garbage: u64 = sealed
            .clone()
            .map(|(_, s)| s.len.saturating_sub(s.live))
            .sum();
        if garbage <= self.limits.gc_slack {
            return None;
        }
        sealed
            .filter(|(_, s)| s.live.saturating_mul(2) <= s.len)
            .min_by_key(|(_, s)| s.live)
            .map(|(id, _)| *id)
    }

    /// Leaves segment `id` out of garbage collection (copying it forward failed).
    pub fn spare(&mut self, id: u64) {
        if !self.spared.contains(&id) {
            self.spared.push(id);
        }
    }

    /// Files and bytes the log holds on disk, and bytes of them live.
    pub fn usage(&self) -> (usize, u64, u64) {
        let len = self.segments.values().map(|s| s.len).sum();
        let live = self.segments.values().map(|s| s.live).sum();
        (self.segments.len(), len, live)
    }
}

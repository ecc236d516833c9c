//! The node's blobs on disk: `blobs/HASH` holds a blob's bytes, `refs/HASH` how many holders
//! it has (a put of a blob already stored adds one; a delete takes one, and the last removes
//! it). A blob is written to a temporary file, synced, and renamed into place, so a crash
//! never leaves a partial blob under its address; its bytes are hashed on the way in and
//! again when read back, so a blob damaged on disk is reported, never returned. A quota
//! bounds the bytes stored.
//!
//! This is storage, the one synchronous dependency the protocol logic calls directly (as the
//! bundle store is for the agent).

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::hash::Hash;

/// Why the store refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The blob would pass the quota; nothing was stored.
    #[error("blob store full: {needed} bytes needed, {available} of the {quota}-byte quota free")]
    QuotaExceeded {
        /// Bytes the blob needs.
        needed: u64,
        /// Bytes free.
        available: u64,
        /// The quota.
        quota: u64,
    },
    /// No such blob.
    #[error("no blob {0}")]
    NotFound(Hash),
    /// The bytes on disk no longer hash to the address.
    #[error("blob {0} is damaged on disk (its bytes hash to {1})")]
    Damaged(Hash, Hash),
    /// The file system failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> StoreError {
    let what = what.into();
    move |source| StoreError::Io { what, source }
}

/// One stored blob, as listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobInfo {
    /// Its address.
    pub hash: Hash,
    /// Its size.
    pub size: u64,
    /// Its holders.
    pub refs: u32,
}

/// A blob being written (see [`BlobStore::writer`]).
#[derive(Debug)]
pub struct BlobWriter {
    file: fs::File,
    tmp: PathBuf,
    hasher: blake3::Hasher,
    written: u64,
}

impl BlobWriter {
    /// Appends bytes.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.hasher.update(bytes);
        self.written += bytes.len() as u64;
        self.file.write_all(bytes).map_err(io("writing a blob"))
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.written
    }

    /// True when nothing was written.
    pub fn is_empty(&self) -> bool {
        self.written == 0
    }
}

/// Blobs in a directory.
#[derive(Debug)]
pub struct BlobStore {
    dir: PathBuf,
    quota: u64,
    blobs: BTreeMap<Hash, BlobInfo>,
    used: u64,
    next_tmp: u64,
}

impl BlobStore {
    /// Opens (or creates) the store in `dir`, holding at most `quota` bytes. Temporary files
    /// left by a crash are removed.
    pub fn open(dir: &Path, quota: u64) -> Result<Self, StoreError> {
        for sub in ["blobs", "refs", "tmp", "records"] {
            fs::create_dir_all(dir.join(sub)).map_err(io(format!("creating {}", dir.display())))?;
        }
        for e in fs::read_dir(dir.join("tmp")).map_err(io("reading tmp"))? {
            let e = e.map_err(io("reading tmp"))?;
            let _ = fs::remove_file(e.path());
        }
        let mut blobs = BTreeMap::new();
        let mut used = 0;
        for e in fs::read_dir(dir.join("blobs")).map_err(io("reading blobs"))? {
            let e = e.map_err(io("reading blobs"))?;
            let Some(hash) = e.file_name().to_str().and_then(|n| n.parse::<Hash>().ok()) else {
                continue;
            };
            let size = e.metadata().map_err(io("reading blobs"))?.len();
            let refs = fs::read_to_string(dir.join("refs").join(hash.to_hex()))
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(1);
            used += size;
            blobs.insert(hash, BlobInfo { hash, size, refs });
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            quota,
            blobs,
            used,
            next_tmp: 0,
        })
    }

    /// Bytes stored and allowed.
    pub fn usage(&self) -> (u64, u64) {
        (self.used, self.quota)
    }

    fn blob_path(&self, h: &Hash) -> PathBuf {
        self.dir.join("blobs").join(h.to_hex())
    }

    fn write_refs(&self, info: &BlobInfo) -> Result<(), StoreError> {
        let tmp = self
            .dir
            .join("tmp")
            .join(format!("refs-{}", info.hash.to_hex()));
        fs::write(&tmp, info.refs.to_string()).map_err(io("writing refs"))?;
        fs::rename(&tmp, self.dir.join("refs").join(info.hash.to_hex())).map_err(io("writing refs"))
    }

    fn check_quota(&self, needed: u64) -> Result<(), StoreError> {
        let available = self.quota.saturating_sub(self.used);
        if needed > available {
            return Err(StoreError::QuotaExceeded {
                needed,
                available,
                quota: self.quota,
            });
        }
        Ok(())
    }

    /// Stores `bytes`; returns their address. Storing a blob already held adds a holder.
    pub fn put(&mut self, bytes: &[u8]) -> Result<Hash, StoreError> {
        let hash = Hash::of(bytes);
        if let Some(info) = self.blobs.get_mut(&hash) {
            info.refs += 1;
            let info = *info;
            self.write_refs(&info)?;
            return Ok(hash);
        }
        self.put_reader(bytes.len() as u64, &mut &bytes[..])
    }

    /// Stores `size` bytes read from `reader`, hashing them on the way. A blob that could
    /// never fit is refused before anything is written; one that does not fit now is refused
    /// once its address shows it is not already stored.
    pub fn put_reader(&mut self, size: u64, reader: &mut dyn Read) -> Result<Hash, StoreError> {
        if size > self.quota {
            self.check_quota(size)?;
        }
        let mut w = self.writer()?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = reader.read(&mut buf).map_err(io("reading a blob"))?;
            if n == 0 {
                break;
            }
            if w.written + n as u64 > size {
                let _ = fs::remove_file(&w.tmp);
                return Err(StoreError::Io {
                    what: "storing a blob".into(),
                    source: std::io::Error::other(format!("more than the {size} bytes declared")),
                });
            }
            w.write(buf.get(..n).unwrap_or_default())?;
        }
        self.commit(w)
    }

    /// A new blob to write piece by piece (while reading others); [`BlobStore::commit`]
    /// stores it under its address.
    pub fn writer(&mut self) -> Result<BlobWriter, StoreError> {
        self.next_tmp += 1;
        let tmp = self.dir.join("tmp").join(format!("blob-{}", self.next_tmp));
        let file = fs::File::create(&tmp).map_err(io("creating a blob"))?;
        Ok(BlobWriter {
            file,
            tmp,
            hasher: blake3::Hasher::new(),
            written: 0,
        })
    }

    /// Stores what `w` holds under its address (adding a holder when it is already stored).
    pub fn commit(&mut self, w: BlobWriter) -> Result<Hash, StoreError> {
        let BlobWriter {
            file,
            tmp,
            hasher,
            written,
        } = w;
        file.sync_all().map_err(io("syncing a blob"))?;
        drop(file);
        let hash = Hash(*hasher.finalize().as_bytes());
        if let Some(info) = self.blobs.get_mut(&hash) {
            info.refs += 1;
            let info = *info;
            let _ = fs::remove_file(&tmp);
            self.write_refs(&info)?;
            return Ok(hash);
        }
        if let Err(e) = self.check_quota(written) {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        fs::rename(&tmp, self.blob_path(&hash)).map_err(io("storing a blob"))?;
        let info = BlobInfo {
            hash,
            size: written,
            refs: 1,
        };
        self.write_refs(&info)?;
        if let Ok(d) = fs::File::open(self.dir.join("blobs")) {
            let _ = d.sync_all();
        }
        self.used += written;
        self.blobs.insert(hash, info);
        Ok(hash)
    }

    /// True when the blob is stored.
    pub fn has(&self, h: &Hash) -> bool {
        self.blobs.contains_key(h)
    }

    /// A stored blob's size and holders.
    pub fn info(&self, h: &Hash) -> Option<BlobInfo> {
        self.blobs.get(h).copied()
    }

    /// Every stored blob, by address.
    pub fn list(&self) -> Vec<BlobInfo> {
        self.blobs.values().copied().collect()
    }

    /// Where a stored blob's bytes are (to stream them; check them against the address).
    pub fn path(&self, h: &Hash) -> Option<PathBuf> {
        self.has(h).then(|| self.blob_path(h))
    }

    /// A blob's bytes, checked against its address.
    pub fn get(&self, h: &Hash) -> Result<Vec<u8>, StoreError> {
        if !self.has(h) {
            return Err(StoreError::NotFound(*h));
        }
        let bytes = fs::read(self.blob_path(h)).map_err(io(format!("reading blob {h}")))?;
        let got = Hash::of(&bytes);
        if got != *h {
            return Err(StoreError::Damaged(*h, got));
        }
        Ok(bytes)
    }

    /// Reads `len` bytes of a blob from `offset` (not checked: use [`BlobStore::get`] or the
    /// shards' hashes for that).
    pub fn read_range(&self, h: &Hash, offset: u64, len: u64) -> Result<Vec<u8>, StoreError> {
        use std::io::{Seek, SeekFrom};
        let info = self.info(h).ok_or(StoreError::NotFound(*h))?;
        let len = len.min(info.size.saturating_sub(offset));
        let mut f = fs::File::open(self.blob_path(h)).map_err(io(format!("reading blob {h}")))?;
        f.seek(SeekFrom::Start(offset))
            .map_err(io(format!("reading blob {h}")))?;
        let mut out = vec![0u8; len as usize];
        f.read_exact(&mut out)
            .map_err(io(format!("reading blob {h}")))?;
        Ok(out)
    }

    fn record_path(&self, kind: &str, h: &Hash) -> PathBuf {
        self.dir
            .join("records")
            .join(format!("{kind}-{}", h.to_hex()))
    }

    /// Keeps a small record about a blob (a transfer in progress: `kind` says which side,
    /// `text` its peer), written whole or not at all.
    pub fn put_record(&self, kind: &str, h: &Hash, text: &str) -> Result<(), StoreError> {
        let tmp = self
            .dir
            .join("tmp")
            .join(format!("record-{kind}-{}", h.to_hex()));
        fs::write(&tmp, text).map_err(io("writing a record"))?;
        fs::rename(&tmp, self.record_path(kind, h)).map_err(io("writing a record"))
    }

    /// Every record of `kind`.
    pub fn records(&self, kind: &str) -> Result<Vec<(Hash, String)>, StoreError> {
        let mut out = Vec::new();
        let prefix = format!("{kind}-");
        for e in fs::read_dir(self.dir.join("records")).map_err(io("reading records"))? {
            let e = e.map_err(io("reading records"))?;
            let name = e.file_name();
            let Some(hash) = name
                .to_str()
                .and_then(|n| n.strip_prefix(&prefix))
                .and_then(|h| h.parse::<Hash>().ok())
            else {
                continue;
            };
            let text = fs::read_to_string(e.path()).map_err(io("reading a record"))?;
            out.push((hash, text));
        }
        out.sort();
        Ok(out)
    }

    /// Removes a record (nothing when there is none).
    pub fn delete_record(&self, kind: &str, h: &Hash) {
        let _ = fs::remove_file(self.record_path(kind, h));
    }

    /// Takes away one holder; the last one removes the blob. Returns the holders left.
    pub fn delete(&mut self, h: &Hash) -> Result<u32, StoreError> {
        let mut info = self.info(h).ok_or(StoreError::NotFound(*h))?;
        info.refs = info.refs.saturating_sub(1);
        if info.refs > 0 {
            self.write_refs(&info)?;
            self.blobs.insert(*h, info);
            return Ok(info.refs);
        }
        fs::remove_file(self.blob_path(h)).map_err(io(format!("deleting blob {h}")))?;
        let _ = fs::remove_file(self.dir.join("refs").join(h.to_hex()));
        self.used = self.used.saturating_sub(info.size);
        self.blobs.remove(h);
        Ok(0)
    }
}

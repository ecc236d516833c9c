//! The manifest of a coded blob: its address, size, layout and every shard's hash. It is
//! itself a small blob (its address is the hash of its bytes) and travels first, so a
//! receiver can check each shard as it arrives.
//!
//! Encoding: `BLOBMAN1`, the blob's hash (32 bytes), its size (u64), k, m and the shard size
//! (u32 each, all big-endian), then the hash of every shard in order (32 bytes each). The
//! decoder checks the layout and that exactly that many hashes follow before it keeps
//! anything, so a manifest claiming an absurd size is refused without allocating for it.

use crate::code::{CodeError, Layout};
use crate::hash::Hash;

/// The first bytes of a manifest.
pub const MAGIC: &[u8; 8] = b"BLOBMAN1";

const HEADER: usize = 8 + 32 + 8 + 4 + 4 + 4;

/// Why bytes are not a manifest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// It does not start with [`MAGIC`].
    #[error("not a blob manifest")]
    NotAManifest,
    /// Shorter than its header.
    #[error("manifest truncated")]
    Truncated,
    /// The layout is impossible.
    #[error("manifest: {0}")]
    Layout(#[from] CodeError),
    /// The blob is larger than this node takes.
    #[error("manifest: a blob of {size} bytes, more than the {limit} allowed")]
    TooLarge {
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The hashes that follow do not match the layout's shard count.
    #[error("manifest: {declared} shards by its layout, {present} hashes present")]
    ShardCount {
        /// Shards the layout has.
        declared: u64,
        /// Hashes in the bytes.
        present: u64,
    },
}

/// A decoded manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The blob's address.
    pub blob: Hash,
    /// How it is cut.
    pub layout: Layout,
    /// Each shard's hash, in shard order.
    pub shards: Vec<Hash>,
}

fn be32(b: &[u8], at: usize) -> u32 {
    let mut x = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        x.copy_from_slice(s);
    }
    u32::from_be_bytes(x)
}

impl Manifest {
    /// The manifest of `blob` cut by `layout` (the shards are made and hashed, one stripe at
    /// a time).
    pub fn of(blob: &[u8], layout: Layout) -> Result<Self, CodeError> {
        let mut shards = Vec::with_capacity(layout.shards() as usize);
        for s in 0..layout.stripes() {
            let (from, len) = layout.stripe_range(s);
            let data = blob
                .get(from as usize..(from + len) as usize)
                .ok_or_else(|| CodeError::Layout("blob shorter than its layout".into()))?;
            shards.extend(layout.encode_stripe(data)?.iter().map(|sh| Hash::of(sh)));
        }
        Ok(Self {
            blob: Hash::of(blob),
            layout,
            shards,
        })
    }

    /// Encodes it.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + 32 * self.shards.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.blob.0);
        out.extend_from_slice(&self.layout.size.to_be_bytes());
        out.extend_from_slice(&self.layout.k.to_be_bytes());
        out.extend_from_slice(&self.layout.m.to_be_bytes());
        out.extend_from_slice(&self.layout.shard_size.to_be_bytes());
        for h in &self.shards {
            out.extend_from_slice(&h.0);
        }
        out
    }

    /// Its own address.
    pub fn hash(&self) -> Hash {
        Hash::of(&self.encode())
    }

    /// Decodes a manifest of a blob of at most `max_size` bytes.
    pub fn decode(bytes: &[u8], max_size: u64) -> Result<Self, ManifestError> {
        let rest = bytes
            .strip_prefix(MAGIC.as_slice())
            .ok_or(ManifestError::NotAManifest)?;
        if bytes.len() < HEADER {
            return Err(ManifestError::Truncated);
        }
        let mut blob = [0u8; 32];
        blob.copy_from_slice(rest.get(..32).ok_or(ManifestError::Truncated)?);
        let mut size = [0u8; 8];
        size.copy_from_slice(rest.get(32..40).ok_or(ManifestError::Truncated)?);
        let layout = Layout {
            size: u64::from_be_bytes(size),
            k: be32(rest, 40),
            m: be32(rest, 44),
            shard_size: be32(rest, 48),
        };
        layout.check()?;
        if layout.size > max_size {
            return Err(ManifestError::TooLarge {
                size: layout.size,
                limit: max_size,
            });
        }
        let hashes = rest.get(52..).unwrap_or_default();
        let present = (hashes.len() / 32) as u64;
        if hashes.len() % 32 != 0 || present != layout.shards() {
            return Err(ManifestError::ShardCount {
                declared: layout.shards(),
                present,
            });
        }
        let shards = hashes
            .chunks_exact(32)
            .map(|c| {
                let mut h = [0u8; 32];
                h.copy_from_slice(c);
                Hash(h)
            })
            .collect();
        Ok(Self {
            blob: Hash(blob),
            layout,
            shards,
        })
    }

    /// True when `bytes` are shard number `index` (their hash is the one listed).
    pub fn verifies(&self, index: u64, bytes: &[u8]) -> bool {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.shards.get(i))
            .is_some_and(|h| *h == Hash::of(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_hostile_manifests() {
        let blob: Vec<u8> = (0..5000u32).map(|i| (i * 7) as u8).collect();
        let m = Manifest::of(&blob, Layout::new(5000, 4, 2, 1024).unwrap()).unwrap();
        assert_eq!(m.shards.len(), 12);
        let bytes = m.encode();
        assert_eq!(Manifest::decode(&bytes, 1 << 20), Ok(m.clone()));
        assert!(matches!(
            Manifest::decode(&bytes, 100),
            Err(ManifestError::TooLarge { .. })
        ));
        for cut in 0..bytes.len() {
            assert!(
                Manifest::decode(&bytes[..cut], 1 << 20).is_err(),
                "cut {cut}"
            );
        }
        // An absurd size with few hashes: refused before anything is kept.
        let mut absurd = bytes.clone();
        absurd[40..48].copy_from_slice(&(1u64 << 60).to_be_bytes());
        assert!(matches!(
            Manifest::decode(&absurd, u64::MAX),
            Err(ManifestError::ShardCount { .. })
        ));
        let mut zero_k = bytes;
        zero_k[48..52].copy_from_slice(&0u32.to_be_bytes());
        assert!(matches!(
            Manifest::decode(&zero_k, u64::MAX),
            Err(ManifestError::Layout(_))
        ));
    }
}

//! Striping and Reed-Solomon coding. A blob is cut into stripes of `k` data shards of
//! `shard_size` bytes (the last stripe padded with zeros), and each stripe gets `m` parity
//! shards; any `k` of a stripe's `k + m` shards rebuild it. Shards are numbered across the
//! blob: shard `i` of stripe `s` is number `s * (k + m) + i`, data shards first.

use std::collections::BTreeMap;

use reed_solomon_simd::{ReedSolomonDecoder, ReedSolomonEncoder};

/// Most shards in a stripe (k + m): the GF(2^8) limit of classic Reed-Solomon, which keeps
/// stripes interchangeable with other implementations.
pub const MAX_STRIPE_SHARDS: u32 = 256;

/// Largest shard: 64 MiB.
pub const MAX_SHARD: u32 = 64 << 20;

/// Shards are whole multiples of this (the SIMD coder works on 64-byte blocks).
pub const SHARD_ALIGN: u32 = 64;

/// The working set coded at once, all shards of a stripe together. The coder passes over it
/// several times, and slices this size stay in cache where whole 1 MiB shards do not (k = 32,
/// m = 8 on whole shards ran at half the speed); each slice costs a fixed setup, so slices
/// are not made smaller than they need. Reed-Solomon works column by column, so coding
/// slices apart gives the very same shards.
const WORKING_SET: usize = 2 << 20;

/// The (offset, length) slices of a shard of `size` bytes in a stripe of `shards` shards.
fn slices(size: usize, shards: usize) -> impl Iterator<Item = (usize, usize)> {
    let slice = (WORKING_SET / shards.max(1)).max(16 << 10) / 64 * 64;
    (0..size)
        .step_by(slice)
        .map(move |off| (off, slice.min(size - off)))
}

fn coder(e: reed_solomon_simd::Error) -> CodeError {
    CodeError::Coder(e.to_string())
}

/// Why coding failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// k, m or the shard size out of range.
    #[error("bad layout: {0}")]
    Layout(String),
    /// Fewer than k shards of a stripe.
    #[error("stripe {stripe}: {have} shards, {need} needed")]
    NotEnough {
        /// The stripe.
        stripe: u64,
        /// Shards given.
        have: usize,
        /// k.
        need: usize,
    },
    /// A shard of the wrong size, or an index outside the stripe.
    #[error("stripe {stripe}: shard {index} is not a shard of this layout")]
    BadShard {
        /// The stripe.
        stripe: u64,
        /// Its index in the stripe.
        index: usize,
    },
    /// The coder refused.
    #[error("Reed-Solomon: {0}")]
    Coder(String),
}

/// An erasure code as a sender asks for it: k data and m parity shards per stripe, shards of
/// at most `shard` bytes (smaller for a small blob).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code {
    /// Data shards per stripe.
    pub k: u32,
    /// Parity shards per stripe.
    pub m: u32,
    /// Largest shard.
    pub shard: u32,
}

/// How a blob is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Blob size in bytes.
    pub size: u64,
    /// Data shards per stripe.
    pub k: u32,
    /// Parity shards per stripe.
    pub m: u32,
    /// Bytes per shard.
    pub shard_size: u32,
}

fn round_up(n: u64, to: u64) -> u64 {
    n.div_ceil(to).saturating_mul(to)
}

impl Layout {
    /// The layout for a blob of `size` bytes with `k` data and `m` parity shards per stripe
    /// and shards of at most `max_shard` bytes (smaller when the blob is small).
    pub fn new(size: u64, k: u32, m: u32, max_shard: u32) -> Result<Self, CodeError> {
        let max_shard = u64::from(max_shard.clamp(SHARD_ALIGN, MAX_SHARD));
        let max_shard = max_shard - max_shard % u64::from(SHARD_ALIGN);
        let per_shard = round_up(size.div_ceil(u64::from(k.max(1))), u64::from(SHARD_ALIGN))
            .clamp(u64::from(SHARD_ALIGN), max_shard);
        let layout = Layout {
            size,
            k,
            m,
            shard_size: u32::try_from(per_shard).unwrap_or(MAX_SHARD),
        };
        layout.check()?;
        Ok(layout)
    }

    /// Checks the numbers (also for a layout read from a peer's manifest).
    pub fn check(&self) -> Result<(), CodeError> {
        if self.k == 0 {
            return Err(CodeError::Layout("k must be at least 1".into()));
        }
        // In u64: a peer's manifest may name k and m near 2^32 (found by fuzzing).
        let n = u64::from(self.k) + u64::from(self.m);
        if n > u64::from(MAX_STRIPE_SHARDS) {
            return Err(CodeError::Layout(format!(
                "k + m = {n} is more than {MAX_STRIPE_SHARDS}"
            )));
        }
        if self.shard_size == 0 || self.shard_size > MAX_SHARD || self.shard_size % SHARD_ALIGN != 0
        {
            return Err(CodeError::Layout(format!(
                "shard size {} must be a multiple of {SHARD_ALIGN} up to {MAX_SHARD}",
                self.shard_size
            )));
        }
        Ok(())
    }

    /// Shards per stripe.
    pub fn per_stripe(&self) -> u32 {
        self.k + self.m
    }

    /// Data bytes per stripe.
    pub fn stripe_bytes(&self) -> u64 {
        u64::from(self.k) * u64::from(self.shard_size)
    }

    /// Stripes (at least one, also for an empty blob).
    pub fn stripes(&self) -> u64 {
        self.size.div_ceil(self.stripe_bytes()).max(1)
    }

    /// Shards in all.
    pub fn shards(&self) -> u64 {
        self.stripes() * u64::from(self.per_stripe())
    }

    /// The blob's bytes in stripe `s`: offset and length.
    pub fn stripe_range(&self, s: u64) -> (u64, u64) {
        let start = s.saturating_mul(self.stripe_bytes()).min(self.size);
        let end = start.saturating_add(self.stripe_bytes()).min(self.size);
        (start, end - start)
    }

    /// Encodes one stripe: `data` is the blob's bytes in it (at most `stripe_bytes`); returns
    /// its k data shards (zero-padded) and m parity shards.
    pub fn encode_stripe(&self, data: &[u8]) -> Result<Vec<Vec<u8>>, CodeError> {
        let size = self.shard_size as usize;
        if data.len() as u64 > self.stripe_bytes() {
            return Err(CodeError::Layout("stripe data longer than a stripe".into()));
        }
        let mut shards: Vec<Vec<u8>> = (0..self.k as usize)
            .map(|i| {
                let mut s = vec![0u8; size];
                let from = (i * size).min(data.len());
                let to = ((i + 1) * size).min(data.len());
                if let (Some(dst), Some(src)) = (s.get_mut(..to - from), data.get(from..to)) {
                    dst.copy_from_slice(src);
                }
                s
            })
            .collect();
        if self.m > 0 {
            let mut parity = vec![vec![0u8; size]; self.m as usize];
            let mut encoder = None::<ReedSolomonEncoder>;
            for (off, len) in slices(size, self.per_stripe() as usize) {
                let enc = match encoder.as_mut() {
                    Some(e) => {
                        e.reset(self.k as usize, self.m as usize, len)
                            .map_err(coder)?;
                        e
                    }
                    None => encoder.insert(
                        ReedSolomonEncoder::new(self.k as usize, self.m as usize, len)
                            .map_err(coder)?,
                    ),
                };
                for s in &shards {
                    enc.add_original_shard(s.get(off..off + len).unwrap_or_default())
                        .map_err(coder)?;
                }
                let result = enc.encode().map_err(coder)?;
                for (p, r) in parity.iter_mut().zip(result.recovery_iter()) {
                    if let Some(dst) = p.get_mut(off..off + len) {
                        dst.copy_from_slice(r);
                    }
                }
            }
            shards.extend(parity);
        }
        Ok(shards)
    }

    /// Rebuilds stripe `s` from at least k of its shards, given as (index in the stripe,
    /// bytes); returns the blob's bytes in it.
    pub fn decode_stripe(&self, s: u64, shards: &[(usize, &[u8])]) -> Result<Vec<u8>, CodeError> {
        let k = self.k as usize;
        let size = self.shard_size as usize;
        for (index, bytes) in shards {
            if *index >= self.per_stripe() as usize || bytes.len() != size {
                return Err(CodeError::BadShard {
                    stripe: s,
                    index: *index,
                });
            }
        }
        let mut data: Vec<Option<&[u8]>> = vec![None; k];
        for (index, bytes) in shards {
            if let Some(slot) = data.get_mut(*index) {
                *slot = Some(bytes);
            }
        }
        let have_data = data.iter().filter(|d| d.is_some()).count();
        let mut distinct: Vec<usize> = shards.iter().map(|(i, _)| *i).collect();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() < k {
            return Err(CodeError::NotEnough {
                stripe: s,
                have: distinct.len(),
                need: k,
            });
        }
        let mut rebuilt: BTreeMap<usize, Vec<u8>> = BTreeMap::new();
        if have_data < k {
            for (i, d) in data.iter().enumerate() {
                if d.is_none() {
                    rebuilt.insert(i, vec![0u8; size]);
                }
            }
            let mut decoder = None::<ReedSolomonDecoder>;
            for (off, len) in slices(size, self.per_stripe() as usize) {
                let dec = match decoder.as_mut() {
                    Some(d) => {
                        d.reset(k, self.m as usize, len).map_err(coder)?;
                        d
                    }
                    None => decoder
                        .insert(ReedSolomonDecoder::new(k, self.m as usize, len).map_err(coder)?),
                };
                let mut added = std::collections::BTreeSet::new();
                for (i, b) in shards {
                    if !added.insert(*i) {
                        continue;
                    }
                    let part = b.get(off..off + len).unwrap_or_default();
                    if *i < k {
                        dec.add_original_shard(*i, part).map_err(coder)?;
                    } else {
                        dec.add_recovery_shard(*i - k, part).map_err(coder)?;
                    }
                }
                let result = dec.decode().map_err(coder)?;
                for (i, r) in result.restored_original_iter() {
                    if let Some(dst) = rebuilt.get_mut(&i).and_then(|v| v.get_mut(off..off + len)) {
                        dst.copy_from_slice(r);
                    }
                }
            }
        }
        let (_, len) = self.stripe_range(s);
        let mut out = Vec::with_capacity(len as usize);
        for (i, d) in data.iter().enumerate() {
            let shard: &[u8] = match d {
                Some(b) => b,
                None => rebuilt
                    .get(&i)
                    .map(Vec::as_slice)
                    .ok_or(CodeError::NotEnough {
                        stripe: s,
                        have: distinct.len(),
                        need: k,
                    })?,
            };
            let want = (len as usize).saturating_sub(out.len()).min(size);
            out.extend_from_slice(shard.get(..want).unwrap_or(shard));
            if out.len() as u64 >= len {
                break;
            }
        }
        Ok(out)
    }

    /// Every shard of a blob held in memory (for small blobs and tests).
    pub fn encode(&self, blob: &[u8]) -> Result<Vec<Vec<u8>>, CodeError> {
        let mut out = Vec::new();
        for s in 0..self.stripes() {
            let (from, len) = self.stripe_range(s);
            let data = blob
                .get(from as usize..(from + len) as usize)
                .ok_or_else(|| CodeError::Layout("blob shorter than its layout".into()))?;
            out.extend(self.encode_stripe(data)?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_fit_the_blob() {
        let l = Layout::new(1000, 4, 2, 1 << 20).unwrap();
        assert_eq!(l.shard_size, 256);
        assert_eq!(l.stripes(), 1);
        let l = Layout::new(10 << 20, 4, 2, 1 << 20).unwrap();
        assert_eq!((l.shard_size, l.stripes(), l.shards()), (1 << 20, 3, 18));
        assert_eq!(l.stripe_range(2), (8 << 20, 2 << 20));
        assert_eq!(Layout::new(0, 3, 1, 4096).unwrap().stripes(), 1);
        assert!(Layout::new(10, 0, 1, 4096).is_err());
        assert!(Layout::new(10, 200, 100, 4096).is_err());
        let huge = Layout {
            size: 1,
            k: u32::MAX,
            m: u32::MAX,
            shard_size: 64,
        };
        assert!(huge.check().is_err());
    }
}

//! The bundle payloads of a blob transfer, each starting with 8 magic bytes:
//!
//! - a manifest (`BLOBMAN1`, see [`crate::manifest`]), sent first;
//! - `BLOBSHD1`, the manifest's hash (32 bytes), the shard's number (u64) and its bytes;
//! - `BLOBREQ1`, the manifest's hash, a count (u32) and that many shard numbers (u64): the
//!   receiver asks again for shards it is missing;
//! - `BLOBDONE` and the manifest's hash: the receiver has the blob, the sender may forget it.
//!
//! Integers are big-endian. Lengths are checked against the bytes present before anything is
//! kept.

use crate::hash::Hash;
use crate::manifest::MAGIC as MANIFEST;

/// A shard.
pub const SHARD: &[u8; 8] = b"BLOBSHD1";
/// A request for shards.
pub const REQUEST: &[u8; 8] = b"BLOBREQ1";
/// The blob arrived.
pub const DONE: &[u8; 8] = b"BLOBDONE";

/// Most shard numbers in one request.
pub const MAX_REQUEST: usize = 65_536;

/// A decoded payload, borrowing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message<'a> {
    /// A manifest (its bytes).
    Manifest(&'a [u8]),
    /// A shard.
    Shard {
        /// The manifest it belongs to.
        manifest: Hash,
        /// Its number.
        index: u64,
        /// Its bytes.
        bytes: &'a [u8],
    },
    /// A request for shards.
    Request {
        /// The manifest.
        manifest: Hash,
        /// The shard numbers.
        shards: Vec<u64>,
    },
    /// The blob arrived.
    Done(Hash),
}

/// Why a payload is not a blob message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Unknown magic.
    #[error("not a blob transfer message")]
    Unknown,
    /// Shorter than it says.
    #[error("blob message truncated")]
    Truncated,
    /// A request naming more shards than allowed, or bytes left over.
    #[error("malformed blob request")]
    BadRequest,
}

fn hash_at(b: &[u8]) -> Result<Hash, WireError> {
    let mut h = [0u8; 32];
    h.copy_from_slice(b.get(..32).ok_or(WireError::Truncated)?);
    Ok(Hash(h))
}

impl<'a> Message<'a> {
    /// Decodes a payload.
    pub fn decode(p: &'a [u8]) -> Result<Self, WireError> {
        let (magic, rest) = p.split_first_chunk::<8>().ok_or(WireError::Unknown)?;
        match magic {
            m if m == MANIFEST => Ok(Message::Manifest(p)),
            m if m == SHARD => {
                let manifest = hash_at(rest)?;
                let (index, bytes) = rest
                    .get(32..)
                    .and_then(|r| r.split_first_chunk::<8>())
                    .ok_or(WireError::Truncated)?;
                Ok(Message::Shard {
                    manifest,
                    index: u64::from_be_bytes(*index),
                    bytes,
                })
            }
            m if m == REQUEST => {
                let manifest = hash_at(rest)?;
                let (count, list) = rest
                    .get(32..)
                    .and_then(|r| r.split_first_chunk::<4>())
                    .ok_or(WireError::Truncated)?;
                let count = u32::from_be_bytes(*count) as usize;
                if count > MAX_REQUEST || list.len() != count * 8 {
                    return Err(WireError::BadRequest);
                }
                let shards = list
                    .chunks_exact(8)
                    .map(|c| {
                        let mut x = [0u8; 8];
                        x.copy_from_slice(c);
                        u64::from_be_bytes(x)
                    })
                    .collect();
                Ok(Message::Request { manifest, shards })
            }
            m if m == DONE && rest.len() == 32 => Ok(Message::Done(hash_at(rest)?)),
            m if m == DONE => Err(WireError::Truncated),
            _ => Err(WireError::Unknown),
        }
    }

    /// Encodes a message (a manifest's bytes go as they are).
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Message::Manifest(b) => b.to_vec(),
            Message::Shard {
                manifest,
                index,
                bytes,
            } => {
                let mut out = Vec::with_capacity(48 + bytes.len());
                out.extend_from_slice(SHARD);
                out.extend_from_slice(&manifest.0);
                out.extend_from_slice(&index.to_be_bytes());
                out.extend_from_slice(bytes);
                out
            }
            Message::Request { manifest, shards } => {
                let mut out = Vec::with_capacity(44 + 8 * shards.len());
                out.extend_from_slice(REQUEST);
                out.extend_from_slice(&manifest.0);
                out.extend_from_slice(&(shards.len() as u32).to_be_bytes());
                for s in shards {
                    out.extend_from_slice(&s.to_be_bytes());
                }
                out
            }
            Message::Done(h) => {
                let mut out = DONE.to_vec();
                out.extend_from_slice(&h.0);
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refusals() {
        let h = Hash::of(b"m");
        for m in [
            Message::Shard {
                manifest: h,
                index: 7,
                bytes: b"abc",
            },
            Message::Request {
                manifest: h,
                shards: vec![1, 5, 9],
            },
            Message::Done(h),
        ] {
            let bytes = m.encode();
            assert_eq!(Message::decode(&bytes), Ok(m));
            for cut in 0..40.min(bytes.len()) {
                assert!(Message::decode(&bytes[..cut]).is_err(), "cut {cut}");
            }
        }
        let mut lying = Message::Request {
            manifest: h,
            shards: vec![1],
        }
        .encode();
        lying[40..44].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(Message::decode(&lying), Err(WireError::BadRequest));
        assert_eq!(Message::decode(b"HELLO WORLD"), Err(WireError::Unknown));
    }
}

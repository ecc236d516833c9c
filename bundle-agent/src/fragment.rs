//! Fragmentation (RFC 9171 §5.8) and reassembly (§5.9).
//!
//! [`fragment`] cuts a bundle whose encoding exceeds what a link can carry into fragments
//! that each fit: every fragment has the primary block with the is-fragment flag, the offset
//! of its payload in the original application data unit (ADU) and the ADU's total length;
//! blocks flagged "replicate in every fragment" go in every fragment, every other block only
//! in the first (§5.8). A fragment may be fragmented again: offsets stay relative to the ADU.
//!
//! [`reassemble`] puts an ADU back together from fragments of one bundle (same source and
//! creation timestamp), whatever their order, overlaps or duplicates, once their payloads
//! cover the whole ADU. It allocates the ADU only once the fragments' own bytes cover it, so a
//! declared total length never sizes a buffer by itself.

use bytes::Bytes;

use crate::wire::{
    BlockFlags, BlockType, Bundle, BundleFlags, CanonicalBlock, DecodeError, DecodeOptions,
    FragmentInfo,
};

/// Why a bundle could not be fragmented.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FragmentError {
    /// The bundle's "must not be fragmented" flag is set (RFC 9171 §4.2.3).
    #[error("the bundle must not be fragmented")]
    MustNotFragment,
    /// Security blocks are not carried across fragments by this node: their targets and
    /// results would no longer match (RFC 9172 leaves this to the security policy).
    #[error("the bundle carries BPSec blocks, which this node does not fragment")]
    SecurityBlocks,
    /// Even an empty payload would not fit.
    #[error(
        "the limit of {limit} bytes leaves no room for payload (the blocks alone take {overhead})"
    )]
    NoRoom {
        /// The size limit.
        limit: usize,
        /// The size of a fragment with an empty payload.
        overhead: usize,
    },
    /// The bundle has no payload block.
    #[error("the bundle has no payload block")]
    NoPayload,
    /// A fragment failed the encoder's rules.
    #[error(transparent)]
    Encode(#[from] DecodeError),
}

/// Encodes `bundle`, cut into fragments of at most `limit` bytes each when it does not fit.
/// Returns the encoded bundle unchanged (one item) when it fits.
pub fn fragment(
    bundle: &Bundle,
    limit: usize,
    opts: &DecodeOptions,
) -> Result<Vec<Vec<u8>>, FragmentError> {
    let whole = bundle.encode_with(opts)?;
    if whole.len() <= limit {
        return Ok(vec![whole]);
    }
    if bundle.primary.flags.has(BundleFlags::MUST_NOT_FRAGMENT) {
        return Err(FragmentError::MustNotFragment);
    }
    if bundle
        .blocks
        .iter()
        .any(|b| b.block_type == BlockType::BIB || b.block_type == BlockType::BCB)
    {
        return Err(FragmentError::SecurityBlocks);
    }
    let payload = bundle.payload().ok_or(FragmentError::NoPayload)?;
    let (base, total) = match bundle.primary.fragment {
        Some(f) => (f.offset, f.total_adu_length),
        None => (0, payload.len() as u64),
    };
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < payload.len() || out.is_empty() {
        let first = at == 0;
        let make = |len: usize| piece(bundle, first, base + at as u64, total, payload, at, len);
        let overhead = make(0).encode_with(opts)?.len();
        if overhead >= limit {
            return Err(FragmentError::NoRoom { limit, overhead });
        }
        // The payload's byte-string head grows with its length: shrink until it fits.
        let mut len = (limit - overhead).min(payload.len() - at);
        let bytes = loop {
            let bytes = make(len).encode_with(opts)?;
            if bytes.len() <= limit {
                break bytes;
            }
            let excess = bytes.len() - limit;
            if excess >= len {
                return Err(FragmentError::NoRoom { limit, overhead });
            }
            len -= excess;
        };
        out.push(bytes);
        at += len;
        if len == 0 {
            break;
        }
    }
    Ok(out)
}

/// One fragment of `bundle`: payload bytes `at..at + len`, at ADU offset `offset`.
fn piece(
    bundle: &Bundle,
    first: bool,
    offset: u64,
    total: u64,
    payload: &[u8],
    at: usize,
    len: usize,
) -> Bundle {
    let mut primary = bundle.primary.clone();
    primary.flags = primary.flags.with(BundleFlags::IS_FRAGMENT, true);
    primary.fragment = Some(FragmentInfo {
        offset,
        total_adu_length: total,
    });
    let blocks = bundle
        .blocks
        .iter()
        .filter(|b| {
            b.block_type == BlockType::PAYLOAD
                || first
                || b.flags.has(BlockFlags::REPLICATE_IN_EVERY_FRAGMENT)
        })
        .map(|b| {
            if b.block_type == BlockType::PAYLOAD {
                CanonicalBlock {
                    data: Bytes::copy_from_slice(payload.get(at..at + len).unwrap_or(&[])),
                    wire: None,
                    ..b.clone()
                }
            } else {
                b.clone()
            }
        })
        .collect();
    Bundle { primary, blocks }
}

/// What [`reassemble`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reassembly {
    /// The ADU is whole: the original bundle, no longer a fragment.
    Complete(Bundle),
    /// Bytes of the ADU are still missing.
    Incomplete {
        /// Bytes covered so far.
        covered: u64,
        /// The ADU's length.
        total: u64,
    },
}

/// Why fragments could not be reassembled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReassemblyError {
    /// A bundle given is not a fragment.
    #[error("not a fragment")]
    NotAFragment,
    /// Fragments disagree on the ADU's total length.
    #[error("fragments disagree on the total ADU length ({0} and {1})")]
    TotalMismatch(u64, u64),
    /// Overlapping fragments disagree on the bytes they share.
    #[error("overlapping fragments carry different bytes at ADU offset {0}")]
    OverlapMismatch(u64),
    /// No fragments were given.
    #[error("no fragments")]
    Empty,
}

/// Reassembles fragments of one bundle (RFC 9171 §5.9). Overlaps must agree byte for byte;
/// duplicates are harmless.
pub fn reassemble(fragments: &[Bundle]) -> Result<Reassembly, ReassemblyError> {
    let mut parts: Vec<(u64, &Bundle, &[u8])> = Vec::with_capacity(fragments.len());
    let mut total = None;
    for f in fragments {
        let info = f.primary.fragment.ok_or(ReassemblyError::NotAFragment)?;
        match total {
            None => total = Some(info.total_adu_length),
            Some(t) if t != info.total_adu_length => {
                return Err(ReassemblyError::TotalMismatch(t, info.total_adu_length))
            }
            Some(_) => {}
        }
        parts.push((info.offset, f, f.payload().unwrap_or(&[])));
    }
    let total = total.ok_or(ReassemblyError::Empty)?;
    parts.sort_by_key(|(offset, _, p)| (*offset, core::cmp::Reverse(p.len())));
    // First pass: how much of the ADU is covered, without allocating anything.
    let mut covered = 0u64;
    for (offset, _, p) in &parts {
        if *offset > covered {
            break;
        }
        covered = covered.max(offset.saturating_add(p.len() as u64));
    }
    if covered < total || parts.first().is_none_or(|(o, _, _)| *o != 0) {
        let covered = if parts.first().is_some_and(|(o, _, _)| *o == 0) {
            covered.min(total)
        } else {
            0
        };
        return Ok(Reassembly::Incomplete { covered, total });
    }
    // The fragments' own bytes cover `total`, so this allocation is bounded by input.
    let mut adu: Vec<u8> = Vec::with_capacity(usize::try_from(total).unwrap_or(usize::MAX));
    for (offset, _, p) in &parts {
        let end = offset.saturating_add(p.len() as u64).min(total);
        let have = adu.len() as u64;
        if end <= *offset {
            continue;
        }
        // Bytes shared with what is already assembled must agree.
        let shared_end = have.min(end);
        if *offset < shared_end {
            let from = (*offset) as usize;
            let to = shared_end as usize;
            let theirs = p.get(..to - from).unwrap_or(&[]);
            if adu.get(from..to) != Some(theirs) {
                return Err(ReassemblyError::OverlapMismatch(*offset));
            }
        }
        if end > have {
            let skip = (have - offset) as usize;
            let take = (end - have) as usize;
            adu.extend_from_slice(p.get(skip..skip + take).unwrap_or(&[]));
        }
    }
    let first = parts
        .iter()
        .find(|(o, _, _)| *o == 0)
        .map(|(_, b, _)| *b)
        .ok_or(ReassemblyError::Empty)?;
    let mut primary = first.primary.clone();
    primary.flags = primary.flags.with(BundleFlags::IS_FRAGMENT, false);
    primary.fragment = None;
    let mut payload = Some(adu);
    let blocks = first
        .blocks
        .iter()
        .map(|b| {
            if b.block_type == BlockType::PAYLOAD {
                CanonicalBlock {
                    data: payload.take().unwrap_or_default().into(),
                    wire: None,
                    ..b.clone()
                }
            } else {
                b.clone()
            }
        })
        .collect();
    Ok(Reassembly::Complete(Bundle { primary, blocks }))
}

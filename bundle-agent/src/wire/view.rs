//! A checked, zero-copy view over a received bundle (RFC 9171 §4.1).
//!
//! [`BundleView::decode`] walks the bytes once, checks every CRC and every rule of
//! [`super::rules`], and records where each block and its data sit. The payload stays where
//! it arrived: [`BundleView::payload`] is a slice of the input. [`BundleMeta`] is the same
//! information without the borrow, for keeping next to an owned buffer.

use core::ops::Range;

use bytes::Bytes;

use super::block::{BlockMeta, BlockRef, CanonicalBlock, HopCount};
use super::bundle::{Bundle, BundleId};
use super::cbor::{ArrayLen, Reader};
use super::eid::Eid;
use super::error::{DecodeError, Location};
use super::primary::PrimaryBlock;
use super::rules::{check_bundle, DecodeOptions, Extensions};

/// Everything learned by decoding a bundle, as offsets into its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleMeta {
    /// The primary block's fields.
    pub primary: PrimaryBlock,
    /// The primary block's encoding.
    pub primary_range: Range<usize>,
    /// Canonical blocks in wire order; the payload block is last. Up to four sit inline,
    /// so decoding a common bundle allocates nothing.
    pub blocks: Blocks,
    /// Values of the extension blocks and the security targets.
    pub extensions: Extensions,
    /// False when the input used a definite-length outer array or non-shortest integers.
    pub canonical: bool,
}

/// The canonical blocks of a decoded bundle.
pub type Blocks = smallvec::SmallVec<[BlockMeta; 4]>;

/// A decoded bundle borrowing its bytes.
#[derive(Debug, Clone)]
pub struct BundleView<'a> {
    bytes: &'a [u8],
    meta: BundleMeta,
}

impl<'a> BundleView<'a> {
    /// Decodes with the default (strict) options.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        Self::decode_with(bytes, &DecodeOptions::default())
    }

    /// Decodes with explicit limits and leniency.
    #[inline]
    pub fn decode_with(bytes: &'a [u8], opts: &DecodeOptions) -> Result<Self, DecodeError> {
        Ok(Self {
            bytes,
            meta: BundleMeta::decode(bytes, opts)?,
        })
    }

    /// A view from bytes and the meta they were decoded into.
    pub fn from_parts(bytes: &'a [u8], meta: BundleMeta) -> Self {
        Self { bytes, meta }
    }

    /// The bundle's bytes as received.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The decoded offsets.
    pub fn meta(&self) -> &BundleMeta {
        &self.meta
    }

    /// Gives up the borrow, keeping the offsets.
    pub fn into_meta(self) -> BundleMeta {
        self.meta
    }

    /// The primary block.
    pub fn primary(&self) -> &PrimaryBlock {
        &self.meta.primary
    }

    /// The primary block's encoded bytes.
    pub fn primary_bytes(&self) -> &'a [u8] {
        self.slice(self.meta.primary_range.clone())
    }

    /// Canonical blocks in wire order.
    pub fn blocks(&self) -> &[BlockMeta] {
        &self.meta.blocks
    }

    /// The block with this number.
    pub fn block(&self, number: u64) -> Option<&BlockMeta> {
        self.meta.blocks.iter().find(|b| b.number == number)
    }

    /// A block's type-specific data (borrowed from the input).
    pub fn data(&self, block: &BlockMeta) -> &'a [u8] {
        self.slice(block.data())
    }

    /// A block's whole encoding.
    pub fn block_bytes(&self, block: &BlockMeta) -> &'a [u8] {
        self.slice(block.range())
    }

    /// The payload block (always present and last).
    pub fn payload_block(&self) -> &BlockMeta {
        // The decoder guarantees a payload block, so the fallback is never taken.
        self.meta.blocks.last().unwrap_or(&BlockMeta::EMPTY)
    }

    /// The payload, borrowed from the input without a copy.
    pub fn payload(&self) -> &'a [u8] {
        self.data(self.payload_block())
    }

    /// From the previous node block.
    pub fn previous_node(&self) -> Option<&Eid> {
        self.meta.extensions.previous_node.as_ref()
    }

    /// From the bundle age block, in milliseconds.
    pub fn bundle_age_ms(&self) -> Option<u64> {
        self.meta.extensions.bundle_age_ms
    }

    /// From the hop count block.
    pub fn hop_count(&self) -> Option<HopCount> {
        self.meta.extensions.hop_count
    }

    /// True when the block's data is ciphertext of some BCB.
    pub fn is_encrypted(&self, number: u64) -> bool {
        self.meta.extensions.encrypted.contains(&number)
    }

    /// False when the bundle was not in RFC 9171 deterministic encoding.
    pub fn is_canonical(&self) -> bool {
        self.meta.canonical
    }

    /// The bundle ID (RFC 9171 §4.3.1, §5.9).
    pub fn id(&self) -> BundleId {
        BundleId::of(self.primary(), self.payload().len() as u64)
    }

    /// Blocks as borrowed references, for re-encoding or checks.
    pub fn block_refs(&self) -> Vec<BlockRef<'a>> {
        self.meta
            .blocks
            .iter()
            .map(|b| BlockRef {
                block_type: b.block_type,
                number: b.number,
                flags: b.flags,
                crc_type: b.crc_type,
                data: self.slice(b.data()),
            })
            .collect()
    }

    /// An owned copy of the bundle's contents.
    pub fn to_bundle(&self) -> Bundle {
        self.to_bundle_with(Bytes::copy_from_slice, |_| None)
    }

    /// The bundle's contents, owned, with every block's data shared with `held` rather than
    /// copied when `held` holds the very bytes this view was decoded from (else copied).
    /// This is how a received bundle is kept, cloned and forwarded without copying its
    /// payload.
    pub fn to_bundle_in(&self, held: &Bytes) -> Bundle {
        let same = held.as_ptr() == self.bytes.as_ptr() && held.len() == self.bytes.len();
        if !same {
            return self.to_bundle_with(Bytes::copy_from_slice, |_| None);
        }
        // Each block also keeps its whole encoding, shared too: forwarding it unchanged
        // then costs no CRC over its data ([`CanonicalBlock`]'s `wire`).
        self.to_bundle_with(
            |data| {
                if data.is_empty() {
                    Bytes::new()
                } else {
                    held.slice_ref(data)
                }
            },
            |whole| Some(held.slice_ref(whole)),
        )
    }

    fn to_bundle_with(
        &self,
        mut data_of: impl FnMut(&'a [u8]) -> Bytes,
        mut wire_of: impl FnMut(&'a [u8]) -> Option<Bytes>,
    ) -> Bundle {
        Bundle {
            primary: self.meta.primary.clone(),
            blocks: self
                .meta
                .blocks
                .iter()
                .map(|b| CanonicalBlock {
                    block_type: b.block_type,
                    number: b.number,
                    flags: b.flags,
                    crc_type: b.crc_type,
                    data: data_of(self.data(b)),
                    wire: wire_of(self.block_bytes(b)),
                })
                .collect(),
        }
    }

    fn slice(&self, r: Range<usize>) -> &'a [u8] {
        self.bytes.get(r).unwrap_or(&[])
    }
}

impl BundleMeta {
    /// Decodes and checks a bundle.
    #[inline]
    pub fn decode(bytes: &[u8], opts: &DecodeOptions) -> Result<Self, DecodeError> {
        // Block offsets are kept in 32 bits: 4 GiB is a hard limit whatever the options say.
        let limit = opts.max_bundle_size.min(u32::MAX as usize);
        if bytes.len() > limit {
            return Err(DecodeError::TooLarge {
                size: bytes.len(),
                limit,
            });
        }
        let at = Location::Bundle;
        let mut r = Reader::new(bytes, opts.max_depth);
        if bytes
            .first()
            .is_some_and(|b| b >> 5 != super::cbor::major::ARRAY)
        {
            return Err(DecodeError::NotAnArray);
        }
        let outer = r.array().map_err(DecodeError::cbor(at, 0))?;
        let definite = match outer {
            ArrayLen::Indefinite => None,
            ArrayLen::Definite(n) if opts.accept_definite_outer_array => Some(n),
            ArrayLen::Definite(_) => return Err(DecodeError::DefiniteOuterArray),
        };
        if definite.is_some_and(|n| n < 2) {
            return Err(DecodeError::NoPayloadBlock);
        }
        let start = r.position();
        let primary = PrimaryBlock::decode_checking(&mut r, opts.verify_crc)?;
        let primary_range = start..r.position();
        let mut blocks = Blocks::new();
        loop {
            match definite {
                None => {
                    let off = r.position();
                    if r.at_break().map_err(DecodeError::cbor(at, off))? {
                        break;
                    }
                }
                Some(n) if blocks.len() as u64 + 1 == n => break,
                Some(_) => {}
            }
            if blocks.len() >= opts.max_blocks {
                return Err(DecodeError::TooManyBlocks {
                    limit: opts.max_blocks,
                });
            }
            blocks.push(BlockMeta::decode_checking(
                &mut r,
                blocks.len(),
                opts.verify_crc,
            )?);
        }
        if r.remaining() != 0 {
            return Err(DecodeError::TrailingBytes(r.remaining()));
        }
        let as_ref = |b: &BlockMeta| BlockRef {
            block_type: b.block_type,
            number: b.number,
            flags: b.flags,
            crc_type: b.crc_type,
            data: bytes.get(b.data()).unwrap_or(&[]),
        };
        // Most bundles have a handful of blocks: check them from a stack array.
        let mut small = [BlockRef::EMPTY; 4];
        let heap: Vec<BlockRef<'_>>;
        let refs: &[BlockRef<'_>] = if blocks.len() <= small.len() {
            for (slot, b) in small.iter_mut().zip(&blocks) {
                *slot = as_ref(b);
            }
            small.get(..blocks.len()).unwrap_or(&[])
        } else {
            heap = blocks.iter().map(as_ref).collect();
            &heap
        };
        let extensions = check_bundle(&primary, refs, opts)?;
        Ok(Self {
            primary,
            primary_range,
            blocks,
            extensions,
            canonical: r.canonical() && definite.is_none(),
        })
    }
}

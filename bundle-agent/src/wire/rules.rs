//! The whole-bundle rules of RFC 9171 §4 that no single block can check by itself: exactly
//! one payload block, last, numbered 1 (§4.1, §4.3.3); unique, non-zero block numbers
//! (§4.3.2); at most one of each §4.4 extension block; the flag rules of §4.2.3 and §4.2.4;
//! a primary-block CRC unless a BIB covers it (§4.3.1); a bundle age block when the
//! creation time is zero (§4.2.7); fragments within their ADU (§5.8).
//!
//! The decoder and the encoder both call [`check_bundle`], so what the builder emits is
//! exactly what the decoder accepts.

use super::block::{
    parse_bundle_age, parse_hop_count, parse_previous_node, BlockRef, BlockType, HopCount,
};
use super::crc::CrcType;
use super::eid::Eid;
use super::error::DecodeError;
use super::flags::BlockFlags;
use super::primary::PrimaryBlock;
use super::time::DtnTime;

/// Limits and leniency for decoding. The defaults are strict where RFC 9171 says MUST and
/// accept what §4.1 allows a receiver to accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Largest bundle accepted, in bytes. The decoder never accepts 4 GiB or more, whatever
    /// this says: it keeps block offsets in 32 bits.
    pub max_bundle_size: usize,
    /// Most canonical blocks accepted.
    pub max_blocks: usize,
    /// Deepest CBOR nesting accepted inside skipped items.
    pub max_depth: usize,
    /// Accept a definite-length outer array (RFC 9171 §4.1 lets a receiver accept and
    /// normalise non-conformant structure).
    pub accept_definite_outer_array: bool,
    /// Refuse a primary block with CRC type none unless a BIB targets it (RFC 9171 §4.3.1).
    /// The RFC 9173 Appendix A examples break this rule, so tests of them turn it off.
    pub require_primary_crc: bool,
    /// Refuse a bundle whose creation time is zero and that has no bundle age block
    /// (RFC 9171 §4.2.7, §4.4.2). The RFC 9173 Appendix A examples break this rule too.
    pub require_bundle_age: bool,
    /// Check every block's CRC (RFC 9171 §4.2.1). Turned off only for bytes this node
    /// checked or built itself: a bundle read back from its own store or memory, or one its
    /// own API encoded a moment ago. Every other check still runs.
    pub verify_crc: bool,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self {
            max_bundle_size: 256 * 1024 * 1024,
            max_blocks: 64,
            max_depth: 16,
            accept_definite_outer_array: true,
            require_primary_crc: true,
            require_bundle_age: true,
            verify_crc: true,
        }
    }
}

impl DecodeOptions {
    /// Options that also accept a primary block without CRC and without BIB, and a zero
    /// creation time without bundle age block, as the RFC 9173 Appendix A examples and
    /// some deployed nodes produce. Every other rule still holds.
    pub fn lenient() -> Self {
        Self {
            require_primary_crc: false,
            require_bundle_age: false,
            ..Self::default()
        }
    }
}

/// What the whole-bundle check learned on the way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extensions {
    /// From the previous node block.
    pub previous_node: Option<Eid>,
    /// From the bundle age block, in milliseconds.
    pub bundle_age_ms: Option<u64>,
    /// From the hop count block.
    pub hop_count: Option<HopCount>,
    /// Block numbers that some BCB targets: their data is ciphertext.
    pub encrypted: Vec<u64>,
    /// True when some BIB targets the primary block.
    pub primary_signed: bool,
}

/// Checks every whole-bundle rule. `blocks` are the canonical blocks in wire order.
pub fn check_bundle(
    primary: &PrimaryBlock,
    blocks: &[BlockRef<'_>],
    opts: &DecodeOptions,
) -> Result<Extensions, DecodeError> {
    check_structure(blocks)?;
    let mut ext = Extensions::default();
    if blocks
        .iter()
        .any(|b| matches!(b.block_type, BlockType::BIB | BlockType::BCB))
    {
        let security = crate::bpsec::received::check_security_blocks(blocks)?;
        ext.encrypted = security.encrypted;
        ext.primary_signed = security.primary_signed;
    }
    let admin = primary.flags.is_admin_record();
    let mut age_present = false;
    for b in blocks {
        if admin && b.flags.has(BlockFlags::REPORT_IF_UNPROCESSABLE) {
            return Err(DecodeError::AdminRecordBlockReport(b.number));
        }
        let kind = match b.block_type {
            BlockType::PREVIOUS_NODE => "previous node",
            BlockType::BUNDLE_AGE => "bundle age",
            BlockType::HOP_COUNT => "hop count",
            _ => continue,
        };
        let already = blocks
            .iter()
            .take_while(|o| o.number != b.number)
            .any(|o| o.block_type == b.block_type);
        if already {
            return Err(DecodeError::DuplicateExtension {
                number: b.number,
                kind,
            });
        }
        if b.block_type == BlockType::BUNDLE_AGE {
            age_present = true;
        }
        if ext.encrypted.contains(&b.number) {
            continue;
        }
        match b.block_type {
            BlockType::PREVIOUS_NODE => {
                ext.previous_node = Some(parse_previous_node(b.data, b.number)?)
            }
            BlockType::BUNDLE_AGE => ext.bundle_age_ms = Some(parse_bundle_age(b.data, b.number)?),
            _ => ext.hop_count = Some(parse_hop_count(b.data, b.number)?),
        }
    }
    primary
        .flags
        .check(primary.source.is_null())
        .map_err(DecodeError::BundleFlags)?;
    if primary.flags.is_fragment() != primary.fragment.is_some() {
        return Err(DecodeError::BundleFlags(
            super::error::FlagRule::FragmentFieldsMismatch,
        ));
    }
    if opts.require_primary_crc && primary.crc_type == CrcType::None && !ext.primary_signed {
        return Err(DecodeError::PrimaryCrcMissing);
    }
    if opts.require_bundle_age && primary.creation.time == DtnTime::UNKNOWN && !age_present {
        return Err(DecodeError::BundleAgeMissing);
    }
    if let (Some(f), Some(p)) = (primary.fragment, blocks.last()) {
        let len = p.data.len() as u64;
        if f.offset
            .checked_add(len)
            .is_none_or(|end| end > f.total_adu_length)
        {
            return Err(DecodeError::FragmentBeyondAdu {
                offset: f.offset,
                len,
                total: f.total_adu_length,
            });
        }
    }
    Ok(ext)
}

/// Payload block present once, last, numbered 1; other numbers unique and non-zero.
fn check_structure(blocks: &[BlockRef<'_>]) -> Result<(), DecodeError> {
    let mut payload_seen = false;
    for (i, b) in blocks.iter().enumerate() {
        if b.number == 0 {
            return Err(DecodeError::BlockNumberZero(
                super::error::Location::BlockIndex(i),
            ));
        }
        if b.block_type == BlockType::PAYLOAD {
            if payload_seen {
                return Err(DecodeError::TwoPayloadBlocks(b.number));
            }
            if b.number != 1 {
                return Err(DecodeError::PayloadBlockNumber(b.number));
            }
            payload_seen = true;
        } else if payload_seen {
            return Err(DecodeError::PayloadNotLast(b.number));
        }
        if blocks
            .get(..i)
            .is_some_and(|before| before.iter().any(|o| o.number == b.number))
        {
            return Err(DecodeError::DuplicateBlockNumber(b.number));
        }
    }
    if payload_seen {
        Ok(())
    } else {
        Err(DecodeError::NoPayloadBlock)
    }
}

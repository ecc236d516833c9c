//! Canonical blocks (RFC 9171 §4.3.2) and the extension blocks of §4.4: previous node (6),
//! bundle age (7) and hop count (10). Block type codes live in one table, [`BlockType`].
//!
//! `[block type, block number, block processing control flags, crc type,
//!   block-type-specific data (byte string), (crc)?]`

use core::fmt;
use core::ops::Range;

use bytes::Bytes;

use super::cbor::{head_len, major, write_head, Reader, Writer};
use super::crc::CrcType;
use super::eid::Eid;
use super::error::{DecodeError, Location};
use super::flags::BlockFlags;
use super::primary::{append_crc, check_crc};

/// A block type code (RFC 9171 §9.1, RFC 9172 §11.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockType(pub u64);

impl BlockType {
    /// Payload block (RFC 9171 §4.3.3).
    pub const PAYLOAD: BlockType = BlockType(1);
    /// Previous node block (RFC 9171 §4.4.1).
    pub const PREVIOUS_NODE: BlockType = BlockType(6);
    /// Bundle age block (RFC 9171 §4.4.2).
    pub const BUNDLE_AGE: BlockType = BlockType(7);
    /// Hop count block (RFC 9171 §4.4.3).
    pub const HOP_COUNT: BlockType = BlockType(10);
    /// Block Integrity Block (RFC 9172 §3.7).
    pub const BIB: BlockType = BlockType(11);
    /// Block Confidentiality Block (RFC 9172 §3.8).
    pub const BCB: BlockType = BlockType(12);

    /// The registered name of this type, if it is one this codec knows.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            1 => "payload",
            6 => "previous node",
            7 => "bundle age",
            10 => "hop count",
            11 => "BIB",
            12 => "BCB",
            _ => return None,
        })
    }

    /// True for the types this codec processes; others are "unknown" in the sense of
    /// RFC 9171 §5.6 step 4 and are kept or dropped as their flags say.
    pub fn is_known(self) -> bool {
        self.name().is_some()
    }
}

impl fmt::Display for BlockType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{n} ({})", self.0),
            None => write!(f, "unknown ({})", self.0),
        }
    }
}

/// Hop count block contents (RFC 9171 §4.4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HopCount {
    /// Hop limit, 1..=255.
    pub limit: u64,
    /// Hops taken so far.
    pub count: u64,
}

impl HopCount {
    /// True when the count has passed the limit (RFC 9171 §5.4 step 3 deletes such bundles).
    pub fn exceeded(&self) -> bool {
        self.count > self.limit
    }

    /// Encoded block-type-specific data.
    pub fn to_data(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(6);
        w.array(2).uint(self.limit).uint(self.count);
        w.into_vec()
    }
}

/// Encoded bundle age block data: milliseconds as a CBOR unsigned integer.
pub fn bundle_age_data(age_ms: u64) -> Vec<u8> {
    let mut w = Writer::with_capacity(9);
    w.uint(age_ms);
    w.into_vec()
}

/// An owned canonical block.
#[derive(Debug, Clone)]
pub struct CanonicalBlock {
    /// Block type code.
    pub block_type: BlockType,
    /// Block number, unique in the bundle; 1 for the payload.
    pub number: u64,
    /// Block processing control flags.
    pub flags: BlockFlags,
    /// CRC type of this block.
    pub crc_type: CrcType,
    /// Block-type-specific data (the contents of the byte string). Shared, not copied,
    /// when the block comes from a received bundle held as [`Bytes`]
    /// ([`super::BundleView::to_bundle_in`]): a 1 MiB payload is not copied to be kept,
    /// cloned or forwarded.
    pub data: Bytes,
    /// The block's whole encoding as it arrived (CRC included), sharing its bytes with
    /// `data`: encoding the block again copies it rather than compute a CRC over a payload
    /// that did not change on its way through this node. Used only while it still matches
    /// the fields ([`CanonicalBlock::unchanged_wire`]), so editing a field is safe.
    pub(crate) wire: Option<Bytes>,
}

/// Blocks are equal when their fields are: how one was encoded before does not count.
impl PartialEq for CanonicalBlock {
    fn eq(&self, other: &Self) -> bool {
        self.as_ref() == other.as_ref()
    }
}

impl Eq for CanonicalBlock {}

impl CanonicalBlock {
    /// A block with no flags.
    pub fn new(
        block_type: BlockType,
        number: u64,
        crc_type: CrcType,
        data: impl Into<Bytes>,
    ) -> Self {
        Self {
            block_type,
            number,
            flags: BlockFlags::default(),
            crc_type,
            data: data.into(),
            wire: None,
        }
    }

    /// The block with these flags.
    pub fn with_flags(mut self, flags: BlockFlags) -> Self {
        self.flags = flags;
        self
    }

    /// The encoding the block arrived in, when encoding it now would give the same bytes:
    /// the head and fields as they are now, and `data` the very bytes inside it (not
    /// merely equal ones, so the CRC it carries was taken over them).
    pub(crate) fn unchanged_wire(&self) -> Option<&Bytes> {
        let wire = self.wire.as_ref()?;
        let fields = self.as_ref();
        if wire.len() != fields.encoded_len() {
            return None;
        }
        let mut head = Writer::with_capacity(40);
        fields.encode_head(&mut head);
        let data_at = head.len();
        let same_head = wire.get(..data_at) == Some(head.as_slice());
        let same_data =
            self.data.is_empty() || wire.as_ptr().wrapping_add(data_at) == self.data.as_ptr();
        (same_head && same_data).then_some(wire)
    }

    /// Borrowed form, for encoding.
    pub fn as_ref(&self) -> BlockRef<'_> {
        BlockRef {
            block_type: self.block_type,
            number: self.number,
            flags: self.flags,
            crc_type: self.crc_type,
            data: &self.data,
        }
    }
}

/// A canonical block whose data is borrowed; what the encoder consumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockRef<'a> {
    /// Block type code.
    pub block_type: BlockType,
    /// Block number.
    pub number: u64,
    /// Block processing control flags.
    pub flags: BlockFlags,
    /// CRC type.
    pub crc_type: CrcType,
    /// Block-type-specific data.
    pub data: &'a [u8],
}

impl BlockRef<'_> {
    /// A placeholder value (an empty payload block).
    pub const EMPTY: BlockRef<'static> = BlockRef {
        block_type: BlockType::PAYLOAD,
        number: 1,
        flags: BlockFlags(0),
        crc_type: CrcType::None,
        data: &[],
    };

    /// Encoded size of this block.
    pub fn encoded_len(&self) -> usize {
        1 + head_len(self.block_type.0)
            + head_len(self.number)
            + head_len(self.flags.0)
            + 1
            + head_len(self.data.len() as u64)
            + self.data.len()
            + match self.crc_type.value_len() {
                0 => 0,
                n => 1 + n,
            }
    }

    /// Appends the block's encoding, CRC included.
    pub fn encode(&self, w: &mut Writer) {
        let start = w.len();
        self.encode_head(w);
        w.raw(self.data);
        append_crc(w, start, self.crc_type);
    }

    /// Appends everything before the data: the array head, the four fields and the data's
    /// byte-string head.
    fn encode_head(&self, w: &mut Writer) {
        w.array(if self.crc_type == CrcType::None { 5 } else { 6 })
            .uint(self.block_type.0)
            .uint(self.number)
            .uint(self.flags.0)
            .uint(self.crc_type.code())
            .bytes_head(self.data.len());
    }
}

/// Where a decoded canonical block sits in the bundle's bytes. The payload is never copied:
/// [`BlockMeta::data`] is a range into the received buffer. Offsets are kept as `u32` (the
/// decoder refuses bundles of 4 GiB and more), so four blocks fit inline in a
/// [`super::view::BundleMeta`] and moving one is cheap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockMeta {
    /// Block type code.
    pub block_type: BlockType,
    /// Block number.
    pub number: u64,
    /// Block processing control flags.
    pub flags: BlockFlags,
    /// CRC type.
    pub crc_type: CrcType,
    /// Offset of the block's first byte.
    start: u32,
    /// Offset of the data's byte-string head.
    head: u32,
    /// Offset of the data's first byte.
    data_start: u32,
    /// Offset just past the data.
    data_end: u32,
    /// Offset just past the block (its CRC field included).
    end: u32,
}

impl BlockMeta {
    /// A block with no bytes behind it (a placeholder).
    pub(crate) const EMPTY: BlockMeta = BlockMeta {
        block_type: BlockType::PAYLOAD,
        number: 1,
        flags: BlockFlags(0),
        crc_type: CrcType::None,
        start: 0,
        head: 0,
        data_start: 0,
        data_end: 0,
        end: 0,
    };

    /// The whole block's encoding.
    pub fn range(&self) -> Range<usize> {
        self.start as usize..self.end as usize
    }

    /// The block-type-specific data, without its byte-string head.
    pub fn data(&self) -> Range<usize> {
        self.data_start as usize..self.data_end as usize
    }

    /// The block-type-specific data with its byte-string head (what BPSec calls the
    /// canonical form of the data, RFC 9172 §4).
    pub fn data_with_head(&self) -> Range<usize> {
        self.head as usize..self.data_end as usize
    }

    /// Length of the block-type-specific data.
    pub fn data_len(&self) -> usize {
        (self.data_end - self.data_start) as usize
    }

    /// Decodes a canonical block at the reader's position, checking its CRC.
    #[inline]
    pub fn decode(r: &mut Reader<'_>, index: usize) -> Result<Self, DecodeError> {
        Self::decode_checking(r, index, true)
    }

    /// [`BlockMeta::decode`], checking the CRC only when `verify_crc` says so.
    #[inline]
    pub(crate) fn decode_checking(
        r: &mut Reader<'_>,
        index: usize,
        verify_crc: bool,
    ) -> Result<Self, DecodeError> {
        let start = r.position();
        let mut at = Location::BlockIndex(index);
        let n = r.definite_array().map_err(DecodeError::cbor(at, start))?;
        let block_type = BlockType(uint(r, at)?);
        let number = uint(r, at)?;
        if number == 0 {
            return Err(DecodeError::BlockNumberZero(at));
        }
        at = Location::Block(number);
        let flags = BlockFlags(uint(r, at)?);
        let code = uint(r, at)?;
        let crc_type = CrcType::from_code(code).ok_or(DecodeError::UnknownCrcType { at, code })?;
        let expected = if crc_type == CrcType::None { 5 } else { 6 };
        if n != expected {
            let what = if expected == 5 {
                "5 (no CRC)"
            } else {
                "6 (with CRC)"
            };
            return Err(DecodeError::ArrayLength {
                at,
                found: n,
                expected: what,
            });
        }
        let head = r.position();
        let data = r.bytes_range().map_err(DecodeError::cbor(at, head))?;
        check_crc(r, start, crc_type, at, verify_crc)?;
        // The bundle decoder refuses inputs of 4 GiB and more, so every offset fits.
        let offset = |o: usize| u32::try_from(o).unwrap_or(u32::MAX);
        Ok(Self {
            block_type,
            number,
            flags,
            crc_type,
            start: offset(start),
            head: offset(head),
            data_start: offset(data.start),
            data_end: offset(data.end),
            end: offset(r.position()),
        })
    }
}

#[inline(always)]
fn uint(r: &mut Reader<'_>, at: Location) -> Result<u64, DecodeError> {
    let off = r.position();
    r.uint().map_err(DecodeError::cbor(at, off))
}

fn data_error(number: u64, kind: &'static str, reason: impl fmt::Display) -> DecodeError {
    DecodeError::BlockData {
        number,
        kind,
        reason: reason.to_string(),
    }
}

fn data_reader(data: &[u8]) -> Reader<'_> {
    Reader::new(data, 4)
}

fn expect_end(r: &Reader<'_>, number: u64, kind: &'static str) -> Result<(), DecodeError> {
    if r.remaining() != 0 {
        return Err(data_error(
            number,
            kind,
            format_args!("{} trailing bytes", r.remaining()),
        ));
    }
    Ok(())
}

/// Parses previous node block data: one EID (RFC 9171 §4.4.1).
pub fn parse_previous_node(data: &[u8], number: u64) -> Result<Eid, DecodeError> {
    let mut r = data_reader(data);
    let eid = Eid::decode(&mut r).map_err(|e| data_error(number, "previous node", e))?;
    expect_end(&r, number, "previous node")?;
    Ok(eid)
}

/// Block type of the copy count that spray-and-wait routing carries with a replica: a CBOR
/// unsigned integer, the copies the receiving node may hand out. 192 is in the range RFC
/// 9171 §9.1 leaves for private and experimental use; a node that does not know it keeps it
/// (its block processing flags are zero, §4.2.4).
pub const COPY_COUNT: BlockType = BlockType(192);

/// Encoded copy count block data.
pub fn copy_count_data(copies: u64) -> Vec<u8> {
    bundle_age_data(copies)
}

/// Parses copy count block data.
pub fn parse_copy_count(data: &[u8], number: u64) -> Result<u64, DecodeError> {
    let mut r = data_reader(data);
    let n = r.uint().map_err(|e| data_error(number, "copy count", e))?;
    expect_end(&r, number, "copy count")?;
    Ok(n)
}

/// Block type of a bundle's priority: a CBOR unsigned integer, [`PRIORITY_BULK`],
/// [`PRIORITY_NORMAL`] (a bundle without the block) or [`PRIORITY_EXPEDITED`], in the spirit
/// of the class of service of RFC 5050 §4.2 that BPv7 left out. Private use range (RFC 9171
/// §9.1); a node that does not know it keeps it and forwards in its own order.
pub const PRIORITY: BlockType = BlockType(193);
/// Bulk: goes after the others.
pub const PRIORITY_BULK: u8 = 0;
/// Normal: the default.
pub const PRIORITY_NORMAL: u8 = 1;
/// Expedited: goes first.
pub const PRIORITY_EXPEDITED: u8 = 2;

/// A priority by its name: `bulk`, `normal` or `expedited`.
pub fn priority_by_name(name: &str) -> Option<u8> {
    match name {
        "bulk" => Some(PRIORITY_BULK),
        "normal" => Some(PRIORITY_NORMAL),
        "expedited" => Some(PRIORITY_EXPEDITED),
        _ => None,
    }
}

/// The name of a priority.
pub fn priority_name(priority: u8) -> &'static str {
    match priority {
        PRIORITY_BULK => "bulk",
        PRIORITY_EXPEDITED => "expedited",
        _ => "normal",
    }
}

/// Encoded priority block data.
pub fn priority_data(priority: u8) -> Vec<u8> {
    bundle_age_data(u64::from(priority))
}

/// Parses priority block data; values above [`PRIORITY_EXPEDITED`] are an error.
pub fn parse_priority(data: &[u8], number: u64) -> Result<u8, DecodeError> {
    let mut r = data_reader(data);
    let p = r.uint().map_err(|e| data_error(number, "priority", e))?;
    expect_end(&r, number, "priority")?;
    match u8::try_from(p) {
        Ok(p) if p <= PRIORITY_EXPEDITED => Ok(p),
        _ => Err(data_error(
            number,
            "priority",
            format_args!("{p} is not 0, 1 or 2"),
        )),
    }
}

/// Parses bundle age block data: milliseconds (RFC 9171 §4.4.2).
pub fn parse_bundle_age(data: &[u8], number: u64) -> Result<u64, DecodeError> {
    let mut r = data_reader(data);
    let age = r.uint().map_err(|e| data_error(number, "bundle age", e))?;
    expect_end(&r, number, "bundle age")?;
    Ok(age)
}

/// Parses hop count block data: `[limit, count]`, limit in 1..=255 (RFC 9171 §4.4.3).
#[inline]
pub fn parse_hop_count(data: &[u8], number: u64) -> Result<HopCount, DecodeError> {
    // The usual encodings: a limit under 24 or under 256, a count under 24.
    let (limit, count) = match *data {
        [0x82, limit @ 0..=23, count @ 0..=23] => (limit, count),
        [0x82, 0x18, limit @ 24..=255, count @ 0..=23] => (limit, count),
        _ => return parse_hop_count_long(data, number),
    };
    if limit == 0 {
        return Err(DecodeError::HopLimit { number, limit: 0 });
    }
    Ok(HopCount {
        limit: u64::from(limit),
        count: u64::from(count),
    })
}

/// Hop count data in any other encoding, or the error that says what is wrong with it.
fn parse_hop_count_long(data: &[u8], number: u64) -> Result<HopCount, DecodeError> {
    let mut r = data_reader(data);
    let n = r
        .definite_array()
        .map_err(|e| data_error(number, "hop count", e))?;
    if n != 2 {
        return Err(data_error(
            number,
            "hop count",
            format_args!("array of {n} items; expected 2"),
        ));
    }
    let limit = r.uint().map_err(|e| data_error(number, "hop count", e))?;
    let count = r.uint().map_err(|e| data_error(number, "hop count", e))?;
    expect_end(&r, number, "hop count")?;
    if !(1..=255).contains(&limit) {
        return Err(DecodeError::HopLimit { number, limit });
    }
    Ok(HopCount { limit, count })
}

/// The byte-string head that precedes `len` bytes of block data.
pub fn bstr_head(len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(9);
    write_head(&mut v, major::BYTES, len as u64);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_len_matches_encoding() {
        for crc in [CrcType::None, CrcType::Crc16, CrcType::Crc32c] {
            for len in [0usize, 3, 23, 24, 300, 70_000] {
                let data = vec![7u8; len];
                let b = BlockRef {
                    block_type: BlockType(200),
                    number: 300,
                    flags: BlockFlags(0x11),
                    crc_type: crc,
                    data: &data,
                };
                let mut w = Writer::new();
                b.encode(&mut w);
                assert_eq!(w.len(), b.encoded_len());
                let meta = BlockMeta::decode(&mut Reader::new(w.as_slice(), 8), 0).unwrap();
                assert_eq!(meta.number, 300);
                assert_eq!(w.as_slice().get(meta.data()).unwrap(), &data[..]);
            }
        }
    }

    #[test]
    fn rfc9171_4_4_3_hop_limit_range() {
        assert_eq!(
            parse_hop_count(
                &HopCount {
                    limit: 30,
                    count: 2
                }
                .to_data(),
                4
            )
            .unwrap()
            .count,
            2
        );
        assert_eq!(
            parse_hop_count(&HopCount { limit: 0, count: 0 }.to_data(), 4),
            Err(DecodeError::HopLimit {
                number: 4,
                limit: 0
            })
        );
        assert_eq!(
            parse_hop_count(
                &HopCount {
                    limit: 256,
                    count: 0
                }
                .to_data(),
                4
            ),
            Err(DecodeError::HopLimit {
                number: 4,
                limit: 256
            })
        );
        assert!(HopCount { limit: 3, count: 4 }.exceeded());
    }

    #[test]
    fn extension_data_with_trailing_bytes_is_refused() {
        let mut d = bundle_age_data(5);
        d.push(0);
        assert!(matches!(
            parse_bundle_age(&d, 2),
            Err(DecodeError::BlockData { number: 2, .. })
        ));
    }
}

//! The primary bundle block (RFC 9171 §4.3.1): its value type, decoder and encoder.
//!
//! `[version, flags, crc type, destination, source, report-to, creation timestamp, lifetime,
//! (fragment offset, total ADU length)?, (crc)?]`: 8 items, plus 2 when the bundle is a
//! fragment, plus 1 when a CRC is present.

use super::cbor::{Reader, Writer};
use super::crc::CrcType;
use super::eid::Eid;
use super::error::{DecodeError, Location};
use super::flags::BundleFlags;
use super::time::{CreationTimestamp, DtnTime};

/// The only bundle protocol version this codec speaks.
pub const BP_VERSION: u64 = 7;

/// Fragment fields of the primary block (RFC 9171 §4.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FragmentInfo {
    /// Offset of this fragment's payload within the original ADU.
    pub offset: u64,
    /// Length of the original ADU.
    pub total_adu_length: u64,
}

/// The primary block's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrimaryBlock {
    /// Bundle processing control flags. The is-fragment bit must agree with `fragment`.
    pub flags: BundleFlags,
    /// CRC type of the primary block.
    pub crc_type: CrcType,
    /// Destination EID.
    pub destination: Eid,
    /// Source node ID (`dtn:none` for anonymous bundles).
    pub source: Eid,
    /// Where status reports go.
    pub report_to: Eid,
    /// Creation timestamp.
    pub creation: CreationTimestamp,
    /// Lifetime in milliseconds after creation.
    pub lifetime_ms: u64,
    /// Present exactly when the bundle is a fragment.
    pub fragment: Option<FragmentInfo>,
}

impl PrimaryBlock {
    /// A non-fragment primary block with no flags and a CRC-32C.
    pub fn new(
        destination: Eid,
        source: Eid,
        creation: CreationTimestamp,
        lifetime_ms: u64,
    ) -> Self {
        Self {
            flags: BundleFlags::default(),
            crc_type: CrcType::Crc32c,
            report_to: source.clone(),
            destination,
            source,
            creation,
            lifetime_ms,
            fragment: None,
        }
    }

    /// Decodes a primary block at the reader's position and checks its CRC. Returns the
    /// block and the CRC type. The flag rules that need the rest of the bundle are checked
    /// by the bundle decoder.
    #[inline]
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Self::decode_checking(r, true)
    }

    /// [`PrimaryBlock::decode`], checking the CRC only when `verify_crc` says so.
    #[inline]
    pub(crate) fn decode_checking(
        r: &mut Reader<'_>,
        verify_crc: bool,
    ) -> Result<Self, DecodeError> {
        let at = Location::Primary;
        let start = r.position();
        let n = r.definite_array().map_err(DecodeError::cbor(at, start))?;
        if !(8..=11).contains(&n) {
            return Err(DecodeError::ArrayLength {
                at,
                found: n,
                expected: "8 to 11",
            });
        }
        let version = uint(r, at)?;
        if version != BP_VERSION {
            return Err(DecodeError::Version(version));
        }
        let flags = BundleFlags(uint(r, at)?);
        let code = uint(r, at)?;
        let crc_type = CrcType::from_code(code).ok_or(DecodeError::UnknownCrcType { at, code })?;
        let expected =
            8 + if flags.is_fragment() { 2 } else { 0 } + u64::from(crc_type != CrcType::None);
        if n != expected {
            let what = match (flags.is_fragment(), crc_type != CrcType::None) {
                (false, false) => "8 (not a fragment, no CRC)",
                (false, true) => "9 (not a fragment, with CRC)",
                (true, false) => "10 (fragment, no CRC)",
                (true, true) => "11 (fragment, with CRC)",
            };
            return Err(DecodeError::ArrayLength {
                at,
                found: n,
                expected: what,
            });
        }
        let destination = eid(r, "destination")?;
        let source = eid(r, "source node ID")?;
        let report_to = eid(r, "report-to EID")?;
        let off = r.position();
        if r.definite_array().map_err(DecodeError::cbor(at, off))? != 2 {
            return Err(DecodeError::ArrayLength {
                at,
                found: n,
                expected: "2 in the creation timestamp",
            });
        }
        let creation = CreationTimestamp::new(DtnTime(uint(r, at)?), uint(r, at)?);
        let lifetime_ms = uint(r, at)?;
        let fragment = if flags.is_fragment() {
            Some(FragmentInfo {
                offset: uint(r, at)?,
                total_adu_length: uint(r, at)?,
            })
        } else {
            None
        };
        check_crc(r, start, crc_type, at, verify_crc)?;
        Ok(Self {
            flags,
            crc_type,
            destination,
            source,
            report_to,
            creation,
            lifetime_ms,
            fragment,
        })
    }

    /// Appends the canonical encoding, CRC included.
    pub fn encode(&self, w: &mut Writer) {
        let start = w.len();
        let n = 8
            + if self.fragment.is_some() { 2 } else { 0 }
            + u64::from(self.crc_type != CrcType::None);
        // The flags go out as they are: `check_bundle` refuses an is-fragment bit that
        // disagrees with `fragment` before anything is encoded.
        w.array(n)
            .uint(BP_VERSION)
            .uint(self.flags.0)
            .uint(self.crc_type.code());
        self.destination.encode(w);
        self.source.encode(w);
        self.report_to.encode(w);
        w.array(2)
            .uint(self.creation.time.0)
            .uint(self.creation.sequence)
            .uint(self.lifetime_ms);
        if let Some(f) = self.fragment {
            w.uint(f.offset).uint(f.total_adu_length);
        }
        append_crc(w, start, self.crc_type);
    }

    /// The canonical encoding as a new vector.
    pub fn to_cbor(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(64);
        self.encode(&mut w);
        w.into_vec()
    }
}

#[inline(always)]
fn uint(r: &mut Reader<'_>, at: Location) -> Result<u64, DecodeError> {
    let off = r.position();
    r.uint().map_err(DecodeError::cbor(at, off))
}

#[inline(always)]
fn eid(r: &mut Reader<'_>, field: &'static str) -> Result<Eid, DecodeError> {
    Eid::decode(r).map_err(|source| DecodeError::Eid {
        at: Location::Primary,
        field,
        source,
    })
}

/// Reads the CRC field that ends a block begun at `start` and, with `verify`, checks it.
/// Without, the field's form and length are still checked; only the sum is not computed.
pub(crate) fn check_crc(
    r: &mut Reader<'_>,
    start: usize,
    crc_type: CrcType,
    at: Location,
    verify: bool,
) -> Result<(), DecodeError> {
    if crc_type == CrcType::None {
        return Ok(());
    }
    let off = r.position();
    if crc_type == CrcType::Crc32c && verify {
        // The usual case: a 4-byte string with its one-byte head (0x44).
        if let Some([0x44, value @ ..]) = r.buffer().get(off..).and_then(|b| b.first_chunk::<5>()) {
            let covered = r.buffer().get(start..=off).unwrap_or(&[]);
            let matches =
                super::crc32c_hw::crc32c_with_zeros(covered, 4) == u32::from_be_bytes(*value);
            r.skip_known(5);
            return if matches {
                Ok(())
            } else {
                Err(DecodeError::CrcMismatch { at, crc: crc_type })
            };
        }
    }
    let value = r.bytes().map_err(DecodeError::cbor(at, off))?;
    if value.len() != crc_type.value_len() {
        return Err(DecodeError::CrcLength {
            at,
            crc: crc_type,
            found: value.len(),
            expected: crc_type.value_len(),
        });
    }
    if !verify {
        return Ok(());
    }
    let end = r.position() - value.len();
    let covered = r.buffer().get(start..end).unwrap_or(&[]);
    if !crc_type.compute(covered).matches(value) {
        return Err(DecodeError::CrcMismatch { at, crc: crc_type });
    }
    Ok(())
}

/// Appends the CRC field for a block begun at `start` (RFC 9171 §4.2.1).
pub(crate) fn append_crc(w: &mut Writer, start: usize, crc_type: CrcType) {
    let len = crc_type.value_len();
    if len == 0 {
        return;
    }
    // Byte-string head (0x42 or 0x44), then the value computed with the value bytes zero.
    w.raw(&[0x40 | len as u8]);
    let value = crc_type.compute(w.as_slice().get(start..).unwrap_or(&[]));
    w.raw(value.as_bytes());
}

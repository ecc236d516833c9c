//! Block CRCs of RFC 9171 §4.2.1: none, CRC-16 X.25 and CRC-32C (Castagnoli).
//!
//! The CRC of a block is computed over the block's whole CBOR encoding with the CRC value
//! bytes set to zero; the byte-string head of the CRC field keeps its value (RFC 9171
//! §4.3.1, clarified by erratum 8043). The value is stored big-endian in a byte string of 2
//! or 4 bytes. CRC-32C uses the `crc32c` crate, which picks SSE4.2 or ARMv8 CRC instructions
//! at run time and falls back to software; short blocks take the direct SSE4.2 path of
//! `crc32c_hw`.

use core::fmt;

/// The CRC type code of a block (RFC 9171 §4.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CrcType {
    /// 0: no CRC is present.
    #[default]
    None,
    /// 1: a standard X.25 CRC-16.
    Crc16,
    /// 2: a standard CRC32C (Castagnoli) CRC-32.
    Crc32c,
}

/// CRC-16/X-25 (= CRC-16/IBM-SDLC), slice-by-16 tables built at compile time.
static X25: crc::Crc<u16, crc::Table<16>> =
    crc::Crc::<u16, crc::Table<16>>::new(&crc::CRC_16_IBM_SDLC);

impl CrcType {
    /// The type for a wire code, or `None` for an unassigned code.
    pub fn from_code(code: u64) -> Option<Self> {
        match code {
            0 => Some(Self::None),
            1 => Some(Self::Crc16),
            2 => Some(Self::Crc32c),
            _ => None,
        }
    }

    /// The wire code.
    pub fn code(self) -> u64 {
        match self {
            Self::None => 0,
            Self::Crc16 => 1,
            Self::Crc32c => 2,
        }
    }

    /// Length in bytes of the CRC value.
    pub fn value_len(self) -> usize {
        match self {
            Self::None => 0,
            Self::Crc16 => 2,
            Self::Crc32c => 4,
        }
    }

    /// Computes the CRC over `covered` followed by `value_len()` zero bytes, big-endian.
    /// `covered` is the block's encoding up to, and including, the CRC field's head.
    pub fn compute(self, covered: &[u8]) -> CrcValue {
        match self {
            Self::None => CrcValue {
                len: 0,
                bytes: [0; 4],
            },
            Self::Crc16 => {
                let mut d = X25.digest();
                d.update(covered);
                d.update(&[0, 0]);
                let v = d.finalize().to_be_bytes();
                CrcValue {
                    len: 2,
                    bytes: [v[0], v[1], 0, 0],
                }
            }
            Self::Crc32c => {
                let v = super::crc32c_hw::crc32c_with_zeros(covered, 4);
                CrcValue {
                    len: 4,
                    bytes: v.to_be_bytes(),
                }
            }
        }
    }
}

impl fmt::Display for CrcType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::None => "none",
            Self::Crc16 => "CRC-16",
            Self::Crc32c => "CRC-32C",
        })
    }
}

/// A computed CRC value, as the bytes that go on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrcValue {
    len: usize,
    bytes: [u8; 4],
}

impl CrcValue {
    /// True when `wire` holds exactly this value.
    #[inline]
    pub fn matches(&self, wire: &[u8]) -> bool {
        match (self.len, wire) {
            (0, []) => true,
            (2, [a, b]) => [*a, *b] == [self.bytes[0], self.bytes[1]],
            (4, [a, b, c, d]) => [*a, *b, *c, *d] == self.bytes,
            _ => false,
        }
    }

    /// The big-endian value bytes (empty for CRC type none).
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_catalogue_check_values() {
        // The "check" value of each algorithm is its CRC over b"123456789".
        let d = X25.checksum(b"123456789");
        assert_eq!(d, 0x906e);
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
    }

    #[test]
    fn crc_includes_zeroed_value_bytes() {
        let v = CrcType::Crc32c.compute(b"abc");
        let mut manual = b"abc".to_vec();
        manual.extend_from_slice(&[0; 4]);
        assert_eq!(v.as_bytes(), crc32c::crc32c(&manual).to_be_bytes());
        assert_eq!(CrcType::None.compute(b"abc").as_bytes(), b"");
    }
}

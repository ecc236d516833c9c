//! A minimal, strict CBOR (RFC 8949) reader and writer for the subset BPv7 uses.
//!
//! BPv7 (RFC 9171 §4.1) encodes bundles in CBOR with a small vocabulary: unsigned integers,
//! byte and text strings, arrays (the bundle itself an indefinite-length one), booleans and
//! the break code. This reader works over a borrowed buffer and returns borrowed slices, so a
//! payload is never copied. Every length the input declares is checked against the bytes
//! actually left before it is used, and nesting is bounded, so hostile input costs at most
//! its own size.
//!
//! Non-preferred ("non-shortest") argument encodings are well-formed CBOR and are accepted,
//! but the reader remembers that it saw one (`canonical() == false`), because RFC 9171 §4.1
//! asks BPv7 encoders for deterministic encoding and operators want to know.

use thiserror::Error;

/// Why a CBOR item could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CborError {
    /// The input ended inside an item.
    #[error("input ends inside a CBOR item")]
    Truncated,
    /// An additional-information value of 28..=30 (reserved by RFC 8949 §3).
    #[error("reserved additional information {0}")]
    Reserved(u8),
    /// An item of another major type stood where `expected` was required.
    #[error("expected {expected}, found {}", type_name(*found))]
    UnexpectedType {
        /// What the grammar required here.
        expected: Expected,
        /// The initial byte of the item the input held.
        found: u8,
    },
    /// A string or array length larger than the bytes left.
    #[error("declared length exceeds the bytes left")]
    LengthExceedsInput,
    /// An integer outside the range this field allows.
    #[error("integer out of range")]
    IntegerRange,
    /// Indefinite-length strings are not used by BPv7 and are refused.
    #[error("indefinite-length string")]
    IndefiniteString,
    /// A text string that is not UTF-8.
    #[error("text string is not valid UTF-8")]
    InvalidUtf8,
    /// Arrays nested deeper than the configured limit.
    #[error("nesting deeper than the configured limit")]
    TooDeep,
    /// A break code where no indefinite-length item was open, or a missing break.
    #[error("unexpected break code")]
    UnexpectedBreak,
}

/// What the grammar required where a wrong item stood. One byte, so that errors stay small
/// and `Result`s of the hot read functions fit in registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// An unsigned integer.
    Uint,
    /// An integer of either sign.
    Int,
    /// A boolean.
    Bool,
    /// A byte string.
    Bytes,
    /// A text string.
    Text,
    /// An array.
    Array,
    /// A definite-length array.
    DefiniteArray,
}

impl core::fmt::Display for Expected {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Expected::Uint => "unsigned integer",
            Expected::Int => "integer",
            Expected::Bool => "boolean",
            Expected::Bytes => "byte string",
            Expected::Text => "text string",
            Expected::Array => "array",
            Expected::DefiniteArray => "definite-length array",
        })
    }
}

/// CBOR major types (RFC 8949 §3.1).
pub mod major {
    /// Unsigned integer.
    pub const UINT: u8 = 0;
    /// Negative integer.
    pub const NINT: u8 = 1;
    /// Byte string.
    pub const BYTES: u8 = 2;
    /// Text string.
    pub const TEXT: u8 = 3;
    /// Array.
    pub const ARRAY: u8 = 4;
    /// Map.
    pub const MAP: u8 = 5;
    /// Tag.
    pub const TAG: u8 = 6;
    /// Simple values, floats and break.
    pub const SIMPLE: u8 = 7;
}

/// The initial byte of an indefinite-length array.
pub const INDEFINITE_ARRAY: u8 = 0x9f;
/// The break code that closes an indefinite-length item.
pub const BREAK: u8 = 0xff;

fn type_name(initial: u8) -> &'static str {
    match initial >> 5 {
        major::UINT => "unsigned integer",
        major::NINT => "negative integer",
        major::BYTES => "byte string",
        major::TEXT => "text string",
        major::ARRAY if initial == INDEFINITE_ARRAY => "indefinite-length array",
        major::ARRAY => "array",
        major::MAP => "map",
        major::TAG => "tag",
        _ => match initial {
            0xf4 | 0xf5 => "boolean",
            0xf6 => "null",
            0xf7 => "undefined",
            0xff => "break",
            0xf9..=0xfb => "float",
            _ => "simple value",
        },
    }
}

/// Array length as read from a head: a count, or indefinite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArrayLen {
    /// A definite-length array of this many items.
    Definite(u64),
    /// An indefinite-length array, closed by a break code.
    Indefinite,
}

/// A cursor over a CBOR buffer. Reads return borrowed data.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    canonical: bool,
    max_depth: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf` that skips items nested at most `max_depth` deep.
    pub fn new(buf: &'a [u8], max_depth: usize) -> Self {
        Self {
            buf,
            pos: 0,
            canonical: true,
            max_depth,
        }
    }

    /// The offset of the next unread byte.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Moves past `n` bytes the caller has already looked at (through [`Reader::buffer`]).
    /// Never past the end.
    #[inline]
    pub fn skip_known(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.buf.len());
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// False once a non-preferred argument encoding was read.
    pub fn canonical(&self) -> bool {
        self.canonical
    }

    /// Notes that what was just read is valid but not the form the encoder writes, so the
    /// bundle would not re-encode to the same bytes.
    pub fn not_canonical(&mut self) {
        self.canonical = false;
    }

    /// The whole underlying buffer.
    pub fn buffer(&self) -> &'a [u8] {
        self.buf
    }

    /// The next byte, without consuming it.
    #[inline(always)]
    pub fn peek(&self) -> Result<u8, CborError> {
        self.buf.get(self.pos).copied().ok_or(CborError::Truncated)
    }

    #[inline]
    fn take(&mut self, n: usize) -> Result<&'a [u8], CborError> {
        let end = self.pos.checked_add(n).ok_or(CborError::Truncated)?;
        let s = self.buf.get(self.pos..end).ok_or(CborError::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    fn take_n<const N: usize>(&mut self) -> Result<[u8; N], CborError> {
        let s = self.take(N)?;
        <[u8; N]>::try_from(s).map_err(|_| CborError::Truncated)
    }

    /// Reads an item head: major type and argument. `None` as argument means indefinite.
    #[inline]
    fn head(&mut self) -> Result<(u8, Option<u64>), CborError> {
        let initial = *self.buf.get(self.pos).ok_or(CborError::Truncated)?;
        self.pos += 1;
        let info = initial & 0x1f;
        if info < 24 {
            return Ok((initial >> 5, Some(u64::from(info))));
        }
        self.head_long(initial)
    }

    /// The rest of a head whose argument follows the initial byte.
    #[inline]
    fn head_long(&mut self, initial: u8) -> Result<(u8, Option<u64>), CborError> {
        let major = initial >> 5;
        let arg = match initial & 0x1f {
            24 => {
                let v = u64::from(u8::from_be_bytes(self.take_n()?));
                self.canonical &= v >= 24;
                Some(v)
            }
            25 => {
                let v = u64::from(u16::from_be_bytes(self.take_n()?));
                self.canonical &= v > 0xff;
                Some(v)
            }
            26 => {
                let v = u64::from(u32::from_be_bytes(self.take_n()?));
                self.canonical &= v > 0xffff;
                Some(v)
            }
            27 => {
                let v = u64::from_be_bytes(self.take_n()?);
                self.canonical &= v > 0xffff_ffff;
                Some(v)
            }
            31 => None,
            info => return Err(CborError::Reserved(info)),
        };
        if arg.is_none() && matches!(major, major::UINT | major::NINT | major::TAG) {
            return Err(CborError::Reserved(31));
        }
        Ok((major, arg))
    }

    #[inline]
    fn expect(&self, want: u8, expected: Expected) -> Result<(), CborError> {
        let initial = self.peek()?;
        if initial >> 5 == want {
            Ok(())
        } else {
            Err(CborError::UnexpectedType {
                expected,
                found: initial,
            })
        }
    }

    /// Reads an unsigned integer.
    #[inline(always)]
    pub fn uint(&mut self) -> Result<u64, CborError> {
        match self.buf.get(self.pos) {
            Some(&initial) if initial < 24 => {
                self.pos += 1;
                Ok(u64::from(initial))
            }
            _ => self.uint_long(),
        }
    }

    /// An unsigned integer whose argument follows the initial byte (timestamps, lifetimes),
    /// or the error for what stands there instead.
    fn uint_long(&mut self) -> Result<u64, CborError> {
        let initial = self.peek()?;
        let rest = self.buf.get(self.pos + 1..).unwrap_or(&[]);
        // The argument, its length, and the smallest value that needs that length
        // (RFC 8949 §4.2.1).
        let (v, len, shortest_from) = match initial {
            24 => (u64::from(*rest.first().ok_or(CborError::Truncated)?), 1, 24),
            25 => {
                let b = rest.first_chunk::<2>().ok_or(CborError::Truncated)?;
                (u64::from(u16::from_be_bytes(*b)), 2, 0x100)
            }
            26 => {
                let b = rest.first_chunk::<4>().ok_or(CborError::Truncated)?;
                (u64::from(u32::from_be_bytes(*b)), 4, 0x1_0000)
            }
            27 => {
                let b = rest.first_chunk::<8>().ok_or(CborError::Truncated)?;
                (u64::from_be_bytes(*b), 8, 0x1_0000_0000)
            }
            28..=31 => return Err(CborError::Reserved(initial & 0x1f)),
            _ => {
                return Err(CborError::UnexpectedType {
                    expected: Expected::Uint,
                    found: initial,
                })
            }
        };
        self.canonical &= v >= shortest_from;
        self.pos += 1 + len;
        Ok(v)
    }

    /// Reads a signed integer (major type 0 or 1) that fits in an `i64`.
    pub fn int(&mut self) -> Result<i64, CborError> {
        let initial = self.peek()?;
        match initial >> 5 {
            major::UINT => i64::try_from(self.uint()?).map_err(|_| CborError::IntegerRange),
            major::NINT => {
                let (_, arg) = self.head()?;
                let n = arg.ok_or(CborError::Reserved(31))?;
                i64::try_from(n)
                    .map(|n| -1 - n)
                    .map_err(|_| CborError::IntegerRange)
            }
            _ => Err(CborError::UnexpectedType {
                expected: Expected::Int,
                found: initial,
            }),
        }
    }

    /// Skips one item and returns its encoded bytes.
    pub fn raw_item(&mut self) -> Result<&'a [u8], CborError> {
        let start = self.pos;
        self.skip()?;
        Ok(self.buf.get(start..self.pos).unwrap_or(&[]))
    }

    /// Reads a boolean.
    pub fn bool(&mut self) -> Result<bool, CborError> {
        match self.peek()? {
            0xf4 => {
                self.pos += 1;
                Ok(false)
            }
            0xf5 => {
                self.pos += 1;
                Ok(true)
            }
            other => Err(CborError::UnexpectedType {
                expected: Expected::Bool,
                found: other,
            }),
        }
    }

    #[inline]
    fn definite_len(&mut self) -> Result<usize, CborError> {
        let (_, arg) = self.head()?;
        let declared = arg.ok_or(CborError::IndefiniteString)?;
        let available = self.remaining();
        match usize::try_from(declared) {
            Ok(n) if n <= available => Ok(n),
            _ => Err(CborError::LengthExceedsInput),
        }
    }

    /// Reads a definite-length byte string and returns its contents, borrowed.
    #[inline(always)]
    pub fn bytes(&mut self) -> Result<&'a [u8], CborError> {
        // A string shorter than 24 bytes (a CRC value, most extension block data) has its
        // length in the initial byte.
        if let Some(&initial) = self.buf.get(self.pos) {
            if initial >> 5 == major::BYTES && initial & 0x1f < 24 {
                let start = self.pos + 1;
                let end = start + usize::from(initial & 0x1f);
                if let Some(s) = self.buf.get(start..end) {
                    self.pos = end;
                    return Ok(s);
                }
            }
        }
        self.bytes_long()
    }

    /// A byte string whose length follows the initial byte, or the error for what stands
    /// there instead.
    fn bytes_long(&mut self) -> Result<&'a [u8], CborError> {
        self.expect(major::BYTES, Expected::Bytes)?;
        let n = self.definite_len()?;
        self.take(n)
    }

    /// Reads a byte string and returns the offset range of its contents.
    #[inline(always)]
    pub fn bytes_range(&mut self) -> Result<core::ops::Range<usize>, CborError> {
        let s = self.bytes()?;
        Ok(self.pos - s.len()..self.pos)
    }

    /// Reads a definite-length text string, checked to be UTF-8.
    pub fn text(&mut self) -> Result<&'a str, CborError> {
        self.expect(major::TEXT, Expected::Text)?;
        let n = self.definite_len()?;
        core::str::from_utf8(self.take(n)?).map_err(|_| CborError::InvalidUtf8)
    }

    /// Reads an array head. A definite count is checked against the bytes left (every item
    /// takes at least one byte), so callers may trust it as an upper bound on work.
    #[inline]
    pub fn array(&mut self) -> Result<ArrayLen, CborError> {
        self.expect(major::ARRAY, Expected::Array)?;
        match self.head()?.1 {
            None => Ok(ArrayLen::Indefinite),
            Some(n) => {
                let available = self.remaining();
                if n > available as u64 {
                    return Err(CborError::LengthExceedsInput);
                }
                Ok(ArrayLen::Definite(n))
            }
        }
    }

    /// Reads a definite-length array head (BPv7 inner arrays are definite, RFC 9171 §4.1).
    #[inline(always)]
    pub fn definite_array(&mut self) -> Result<u64, CborError> {
        // Every BPv7 inner array has fewer than 24 items: the count is in the initial byte.
        if let Some(&initial) = self.buf.get(self.pos) {
            let n = usize::from(initial & 0x1f);
            if initial >> 5 == major::ARRAY && n < 24 && n < self.buf.len() - self.pos {
                self.pos += 1;
                return Ok(n as u64);
            }
        }
        self.definite_array_long()
    }

    /// A definite-length array head with its count after the initial byte, or the error for
    /// what stands there instead.
    fn definite_array_long(&mut self) -> Result<u64, CborError> {
        match self.array()? {
            ArrayLen::Definite(n) => Ok(n),
            ArrayLen::Indefinite => Err(CborError::UnexpectedType {
                expected: Expected::DefiniteArray,
                found: INDEFINITE_ARRAY,
            }),
        }
    }

    /// Consumes a break code if one is next; true when it did.
    pub fn at_break(&mut self) -> Result<bool, CborError> {
        if self.peek()? == BREAK {
            self.pos += 1;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    /// Skips one complete item of any type, bounded by the nesting limit.
    pub fn skip(&mut self) -> Result<(), CborError> {
        self.skip_at(0)
    }

    fn skip_at(&mut self, depth: usize) -> Result<(), CborError> {
        if depth > self.max_depth {
            return Err(CborError::TooDeep);
        }
        if self.peek()? == BREAK {
            return Err(CborError::UnexpectedBreak);
        }
        let (major, arg) = self.head()?;
        match major {
            major::UINT | major::NINT => Ok(()),
            major::BYTES | major::TEXT => {
                let declared = arg.ok_or(CborError::IndefiniteString)?;
                let available = self.remaining();
                match usize::try_from(declared) {
                    Ok(n) if n <= available => self.take(n).map(|_| ()),
                    _ => Err(CborError::LengthExceedsInput),
                }
            }
            major::ARRAY | major::MAP => {
                let per = if major == major::MAP { 2 } else { 1 };
                match arg {
                    Some(n) => {
                        let items = n.checked_mul(per).ok_or(CborError::Truncated)?;
                        if items > self.remaining() as u64 {
                            return Err(CborError::LengthExceedsInput);
                        }
                        for _ in 0..items {
                            self.skip_at(depth + 1)?;
                        }
                        Ok(())
                    }
                    None => loop {
                        if self.at_break()? {
                            return Ok(());
                        }
                        for _ in 0..per {
                            self.skip_at(depth + 1)?;
                        }
                    },
                }
            }
            major::TAG => self.skip_at(depth + 1),
            _ => match arg {
                // Simple values and floats: the head already consumed their bytes.
                Some(_) => Ok(()),
                None => Err(CborError::UnexpectedBreak),
            },
        }
    }
}

/// Appends CBOR items to a `Vec<u8>`, always in preferred (shortest) form.
#[derive(Debug, Default)]
pub struct Writer {
    buf: Vec<u8>,
}

/// Writes a head with the shortest argument encoding (RFC 8949 §4.2.1).
pub fn write_head(buf: &mut Vec<u8>, major: u8, arg: u64) {
    let m = major << 5;
    if arg < 24 {
        buf.push(m | arg as u8);
    } else if arg <= 0xff {
        buf.extend_from_slice(&[m | 24, arg as u8]);
    } else if arg <= 0xffff {
        buf.push(m | 25);
        buf.extend_from_slice(&(arg as u16).to_be_bytes());
    } else if arg <= 0xffff_ffff {
        buf.push(m | 26);
        buf.extend_from_slice(&(arg as u32).to_be_bytes());
    } else {
        buf.push(m | 27);
        buf.extend_from_slice(&arg.to_be_bytes());
    }
}

/// The encoded size of a head with this argument.
pub fn head_len(arg: u64) -> usize {
    match arg {
        0..=23 => 1,
        24..=0xff => 2,
        0x100..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// A writer that appends to `buf`.
    pub fn from_vec(buf: Vec<u8>) -> Self {
        Self { buf }
    }

    /// An empty writer with room for `n` bytes.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            buf: Vec::with_capacity(n),
        }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True when nothing was written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The written bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }

    /// Mutable access for in-place fix-ups (CRC fields).
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.buf
    }

    /// Takes the written bytes.
    pub fn into_vec(self) -> Vec<u8> {
        self.buf
    }

    /// An unsigned integer.
    pub fn uint(&mut self, v: u64) -> &mut Self {
        write_head(&mut self.buf, major::UINT, v);
        self
    }

    /// A boolean.
    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.buf.push(if v { 0xf5 } else { 0xf4 });
        self
    }

    /// A byte string.
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        write_head(&mut self.buf, major::BYTES, v.len() as u64);
        self.buf.extend_from_slice(v);
        self
    }

    /// The head of a byte string of `len` bytes, for a caller that writes the bytes itself.
    pub fn bytes_head(&mut self, len: usize) -> &mut Self {
        write_head(&mut self.buf, major::BYTES, len as u64);
        self
    }

    /// A text string.
    pub fn text(&mut self, v: &str) -> &mut Self {
        write_head(&mut self.buf, major::TEXT, v.len() as u64);
        self.buf.extend_from_slice(v.as_bytes());
        self
    }

    /// A signed integer.
    pub fn int(&mut self, v: i64) -> &mut Self {
        if v >= 0 {
            write_head(&mut self.buf, major::UINT, v as u64);
        } else {
            write_head(&mut self.buf, major::NINT, (-1 - v) as u64);
        }
        self
    }

    /// A definite-length array head of `n` items.
    pub fn array(&mut self, n: u64) -> &mut Self {
        write_head(&mut self.buf, major::ARRAY, n);
        self
    }

    /// Already-encoded CBOR, appended as is.
    pub fn raw(&mut self, v: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(v);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8949_appendix_a_unsigned_integers() {
        for (v, hex) in [
            (0u64, "00"),
            (23, "17"),
            (24, "1818"),
            (100, "1864"),
            (1000, "1903e8"),
            (1_000_000, "1a000f4240"),
            (1_000_000_000_000, "1b000000e8d4a51000"),
            (u64::MAX, "1bffffffffffffffff"),
        ] {
            let mut w = Writer::new();
            w.uint(v);
            assert_eq!(hex::encode(w.as_slice()), hex);
            let bytes = hex::decode(hex).unwrap();
            let mut r = Reader::new(&bytes, 8);
            assert_eq!(r.uint().unwrap(), v);
            assert!(r.canonical());
        }
    }

    #[test]
    fn non_preferred_integer_is_read_but_flagged() {
        let mut r = Reader::new(&[0x18, 0x05], 8);
        assert_eq!(r.uint().unwrap(), 5);
        assert!(!r.canonical());
    }

    #[test]
    fn declared_length_beyond_input_is_refused_without_allocating() {
        // A byte string that claims 2^63 bytes.
        let mut r = Reader::new(&[0x5b, 0x80, 0, 0, 0, 0, 0, 0, 0, 1], 8);
        assert!(matches!(r.bytes(), Err(CborError::LengthExceedsInput)));
        let mut r = Reader::new(&[0x9b, 0x80, 0, 0, 0, 0, 0, 0, 0], 8);
        assert!(matches!(r.array(), Err(CborError::LengthExceedsInput)));
    }

    #[test]
    fn skip_is_bounded_by_depth() {
        let deep = vec![0x81u8; 100];
        let mut r = Reader::new(&deep, 16);
        assert_eq!(r.skip(), Err(CborError::TooDeep));
    }

    #[test]
    fn reserved_info_and_bad_utf8_are_errors() {
        assert_eq!(Reader::new(&[0x1c], 8).uint(), Err(CborError::Reserved(28)));
        assert_eq!(
            Reader::new(&[0x62, 0xff, 0xfe], 8).text(),
            Err(CborError::InvalidUtf8)
        );
        assert_eq!(
            Reader::new(&[0x5f, 0xff], 8).bytes(),
            Err(CborError::IndefiniteString)
        );
    }
}

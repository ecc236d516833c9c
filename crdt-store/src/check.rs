//! A bounded structural check of yrs updates and state vectors (lib0 v1 encoding), made
//! before yrs sees a peer's bytes.
//!
//! Why: yrs's decoder trusts what an update declares. It reserves room for as many blocks,
//! map entries and array items as a count says (a 200-byte payload made it ask for 36 GB
//! and abort), reads strings without checking UTF-8, and adds clocks without checking for
//! overflow. So a peer's update is walked here first, in full, with every count checked
//! against the bytes left, every string checked as UTF-8 and every clock sum checked, and
//! only the content kinds a twin writes are allowed: deleted ranges, strings (text) and
//! scalar values (numbers, booleans, strings, null). Nested types, embeds, formatting,
//! binary, JSON, moves, sub-documents and any-maps or any-arrays are refused: a twin never
//! makes them, so a peer sending them is broken or hostile. Nothing here allocates.
//!
//! The layout walked is yrs 0.24's `Update::decode` and `Decode for StateVector`: for each
//! client, its structs (GC, skip, or an item with origins, parent and content), then the
//! delete set (per client, clock ranges).

/// Why bytes are not an update (or state vector) a twin accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    /// The bytes end inside a value.
    #[error("truncated in {0}")]
    Truncated(&'static str),
    /// A variable-length integer is longer than its type allows.
    #[error("{0}: integer too large")]
    Overflow(&'static str),
    /// A count is larger than the bytes left could hold.
    #[error("{what}: {declared} declared, only {left} bytes left")]
    TooMany {
        /// What was counted.
        what: &'static str,
        /// The count.
        declared: u64,
        /// Bytes left.
        left: usize,
    },
    /// A kind of content a twin never writes.
    #[error("{what} {tag} is not allowed in a twin update")]
    Unsupported {
        /// What kind of tag.
        what: &'static str,
        /// The tag.
        tag: u64,
    },
    /// A string is not UTF-8.
    #[error("a string is not UTF-8")]
    BadUtf8,
    /// Clocks would pass 2^32.
    #[error("clock overflow")]
    ClockOverflow,
    /// Bytes after the end.
    #[error("{0} bytes after the end")]
    Trailing(usize),
    /// An empty range or content.
    #[error("{0}: empty")]
    Empty(&'static str),
}

/// What a checked update holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shape {
    /// Structs (blocks) in it.
    pub structs: u64,
    /// Clients with entries in its delete set.
    pub deleted_clients: u64,
}

impl Shape {
    /// True when the update carries nothing: no structs, no deletions.
    pub fn is_empty(&self) -> bool {
        self.structs == 0 && self.deleted_clients == 0
    }
}

const GC: u8 = 0;
const SKIP: u8 = 10;
const HAS_ORIGIN: u8 = 0x80;
const HAS_RIGHT_ORIGIN: u8 = 0x40;
const HAS_PARENT_SUB: u8 = 0x20;
const CONTENT_DELETED: u8 = 1;
const CONTENT_STRING: u8 = 4;
const CONTENT_ANY: u8 = 8;

/// Checks an update; on success yrs can decode it without allocating more than a small
/// multiple of its size.
pub fn check_update(bytes: &[u8]) -> Result<Shape, CheckError> {
    let mut r = Reader { buf: bytes, pos: 0 };
    let mut shape = Shape::default();
    let clients = r.count("clients", 3)?;
    for _ in 0..clients {
        let structs = r.count("structs", 1)?;
        shape.structs += structs;
        let client = r.var_u32("client")?;
        let mut clock = u64::from(r.var_u32("clock")?);
        for _ in 0..structs {
            clock += check_struct(&mut r, client, clock)?;
            if clock > u64::from(u32::MAX) {
                return Err(CheckError::ClockOverflow);
            }
        }
    }
    let ds_clients = r.count("delete set clients", 2)?;
    shape.deleted_clients = ds_clients;
    for _ in 0..ds_clients {
        let _client = r.var_u32("delete set client")?;
        let ranges = r.count("delete set ranges", 2)?;
        for _ in 0..ranges {
            let start = u64::from(r.var_u32("deleted clock")?);
            let len = r.length("deleted length")?;
            if start + len > u64::from(u32::MAX) {
                return Err(CheckError::ClockOverflow);
            }
        }
    }
    r.end()?;
    Ok(shape)
}

/// Where the delete set of a checked update starts.
pub fn delete_set_offset(bytes: &[u8]) -> Result<usize, CheckError> {
    let mut r = Reader { buf: bytes, pos: 0 };
    let clients = r.count("clients", 3)?;
    for _ in 0..clients {
        let structs = r.count("structs", 1)?;
        let client = r.var_u32("client")?;
        let mut clock = u64::from(r.var_u32("clock")?);
        for _ in 0..structs {
            clock += check_struct(&mut r, client, clock)?;
        }
    }
    Ok(r.pos)
}

/// Checks a state vector (client and clock pairs).
pub fn check_state_vector(bytes: &[u8]) -> Result<(), CheckError> {
    let mut r = Reader { buf: bytes, pos: 0 };
    let n = r.count("state vector entries", 2)?;
    for _ in 0..n {
        r.var_u64("state vector client")?;
        r.var_u32("state vector clock")?;
    }
    r.end()
}

/// One struct of `client` at `clock`; returns its length in clock ticks.
fn check_struct(r: &mut Reader<'_>, client: u32, clock: u64) -> Result<u64, CheckError> {
    let info = r.u8("struct info")?;
    match info {
        GC | SKIP => return r.length("range length"),
        _ => {}
    }
    // An item's origins are items that existed when it was made: of its own client, only
    // earlier ones. (yrs indexes past the end of its block list for a later one.)
    for (flag, what) in [(HAS_ORIGIN, "origin"), (HAS_RIGHT_ORIGIN, "right origin")] {
        if info & flag != 0 {
            let origin_client = r.var_u32(what)?;
            let origin_clock = r.var_u32(what)?;
            if origin_client == client && u64::from(origin_clock) >= clock {
                return Err(CheckError::Unsupported {
                    what: "origin in the future of its own client at clock",
                    tag: u64::from(origin_clock),
                });
            }
        }
    }
    if info & (HAS_ORIGIN | HAS_RIGHT_ORIGIN) == 0 {
        // Twins have only root types: a parent is always named.
        match r.var_u32("parent info")? {
            1 => {
                r.string("parent name")?;
            }
            other => {
                return Err(CheckError::Unsupported {
                    what: "parent info",
                    tag: u64::from(other),
                })
            }
        }
        if info & HAS_PARENT_SUB != 0 {
            r.string("parent key")?;
        }
    }
    match info & 0x1f {
        CONTENT_DELETED => r.length("deleted length"),
        CONTENT_STRING => {
            let n = r.string("text")?.encode_utf16().count() as u64;
            nonzero(n, "text")
        }
        CONTENT_ANY => {
            let n = nonzero(r.count("values", 1)?, "values")?;
            for _ in 0..n {
                check_scalar(r)?;
            }
            Ok(n)
        }
        other => Err(CheckError::Unsupported {
            what: "content kind",
            tag: u64::from(other),
        }),
    }
}

/// A scalar value of lib0's `Any`: undefined, null, integer, float, big integer, boolean or
/// string. Maps, arrays and buffers are refused.
fn check_scalar(r: &mut Reader<'_>) -> Result<(), CheckError> {
    match r.u8("value tag")? {
        127 | 126 | 121 | 120 => Ok(()),
        125 => r.var_i64(),
        124 => r.take(4, "float32").map(|_| ()),
        123 | 122 => r.take(8, "float64").map(|_| ()),
        119 => r.string("string value").map(|_| ()),
        other => Err(CheckError::Unsupported {
            what: "value tag",
            tag: u64::from(other),
        }),
    }
}

/// Refuses an empty range or content: yrs never writes one, and computes the end of an empty
/// range as its start minus one (an overflow at clock 0, found by fuzzing).
fn nonzero(n: u64, what: &'static str) -> Result<u64, CheckError> {
    if n == 0 {
        return Err(CheckError::Empty(what));
    }
    Ok(n)
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn left(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, CheckError> {
        let b = *self.buf.get(self.pos).ok_or(CheckError::Truncated(what))?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], CheckError> {
        if n > self.left() {
            return Err(CheckError::Truncated(what));
        }
        let out = self
            .buf
            .get(self.pos..self.pos + n)
            .ok_or(CheckError::Truncated(what))?;
        self.pos += n;
        Ok(out)
    }

    /// An unsigned LEB128 integer of at most 64 bits.
    fn var_u64(&mut self, what: &'static str) -> Result<u64, CheckError> {
        let mut value: u64 = 0;
        for i in 0..10u32 {
            let b = self.u8(what)?;
            let bits = u64::from(b & 0x7f);
            if i == 9 && bits > 1 {
                return Err(CheckError::Overflow(what));
            }
            value |= bits << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(CheckError::Overflow(what))
    }

    fn var_u32(&mut self, what: &'static str) -> Result<u32, CheckError> {
        u32::try_from(self.var_u64(what)?).map_err(|_| CheckError::Overflow(what))
    }

    /// The length of a range of clocks: at least one.
    fn length(&mut self, what: &'static str) -> Result<u64, CheckError> {
        nonzero(u64::from(self.var_u32(what)?), what)
    }

    /// lib0's signed integer: six bits and a sign in the first byte, then seven bits a byte.
    /// Limited to nine bytes (62 bits), which every value yrs writes fits in.
    fn var_i64(&mut self) -> Result<(), CheckError> {
        for _ in 0..9 {
            if self.u8("integer value")? & 0x80 == 0 {
                return Ok(());
            }
        }
        Err(CheckError::Overflow("integer value"))
    }

    /// A count of things that each take at least `min_bytes`, checked against what is left.
    fn count(&mut self, what: &'static str, min_bytes: usize) -> Result<u64, CheckError> {
        let n = u64::from(self.var_u32(what)?);
        let left = self.left();
        if n.saturating_mul(min_bytes as u64) > left as u64 {
            return Err(CheckError::TooMany {
                what,
                declared: n,
                left,
            });
        }
        Ok(n)
    }

    fn string(&mut self, what: &'static str) -> Result<&'a str, CheckError> {
        let len = self.var_u64(what)?;
        let len = usize::try_from(len).map_err(|_| CheckError::Overflow(what))?;
        let bytes = self.take(len, what)?;
        std::str::from_utf8(bytes).map_err(|_| CheckError::BadUtf8)
    }

    fn end(&self) -> Result<(), CheckError> {
        match self.left() {
            0 => Ok(()),
            n => Err(CheckError::Trailing(n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::updates::encoder::Encode;
    use yrs::{Array, Doc, Map, ReadTxn, StateVector, Text, Transact};

    fn sample() -> Vec<u8> {
        let doc = Doc::with_client_id(7);
        let m = doc.get_or_insert_map("f");
        let t = doc.get_or_insert_text("t:notes");
        let a = doc.get_or_insert_array("l:log");
        {
            let mut txn = doc.transact_mut();
            m.insert(&mut txn, "temp", 21.5);
            m.insert(&mut txn, "count", 3);
            m.insert(&mut txn, "big", 1i64 << 40);
            m.insert(&mut txn, "on", true);
            m.insert(&mut txn, "name", "tile 3 ✓");
            m.insert(&mut txn, "temp", -4.0);
            t.insert(&mut txn, 0, "hello wörld 🌍");
            t.remove_range(&mut txn, 2, 3);
            a.push_back(&mut txn, "a");
            a.push_back(&mut txn, 2.5);
            a.remove(&mut txn, 0);
            m.remove(&mut txn, "on");
        }
        let txn = doc.transact();
        txn.encode_state_as_update_v1(&StateVector::default())
    }

    #[test]
    fn accepts_what_a_twin_writes() {
        let u = sample();
        let shape = check_update(&u).unwrap();
        assert!(shape.structs > 0 && shape.deleted_clients == 1);
        let empty = Doc::new()
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        assert!(check_update(&empty).unwrap().is_empty());
        let doc = Doc::with_client_id(9);
        let sv = doc.transact().state_vector().encode_v1();
        check_state_vector(&sv).unwrap();
    }

    #[test]
    fn refuses_every_truncation_and_trailing_bytes() {
        let u = sample();
        for cut in 0..u.len() {
            assert!(check_update(&u[..cut]).is_err(), "cut at {cut}");
        }
        let mut long = u.clone();
        long.push(0);
        assert_eq!(check_update(&long), Err(CheckError::Trailing(1)));
    }

    #[test]
    fn refuses_declared_counts_larger_than_the_bytes() {
        // One client declaring 2^32-1 structs in a ten-byte payload.
        let bytes = [1, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 0, 0, 0];
        assert!(matches!(
            check_update(&bytes),
            Err(CheckError::TooMany {
                what: "structs",
                ..
            })
        ));
        assert!(matches!(
            check_state_vector(&[0xff, 0xff, 0x03, 1, 1]),
            Err(CheckError::TooMany { .. })
        ));
    }

    #[test]
    fn refuses_empty_ranges() {
        // Found by fuzzing: a GC range of length 0 at clock 0 overflowed inside yrs.
        assert_eq!(
            check_update(&[1, 1, 0x25, 0, 0, 0, 0]),
            Err(CheckError::Empty("range length"))
        );
        assert_eq!(
            check_update(&[0, 1, 1, 1, 5, 0]),
            Err(CheckError::Empty("deleted length"))
        );
    }

    #[test]
    fn refuses_nested_types_and_bad_utf8() {
        let doc = Doc::with_client_id(1);
        let m = doc.get_or_insert_map("f");
        {
            let mut txn = doc.transact_mut();
            m.insert(&mut txn, "nested", yrs::MapPrelim::default());
        }
        let u = doc
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        assert!(matches!(
            check_update(&u),
            Err(CheckError::Unsupported { .. })
        ));
        // One struct: a string item under root "f" whose text is not UTF-8.
        let bad = [1, 1, 1, 0, 4, 1, 1, b'f', 2, 0xc3, 0x28, 0];
        assert_eq!(check_update(&bad), Err(CheckError::BadUtf8));
    }
}

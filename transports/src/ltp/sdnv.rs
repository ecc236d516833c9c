//! Self-delimiting numeric values (RFC 6256 §2): big-endian groups of seven bits, every byte
//! but the last with its high bit set. LTP uses them for every integer (RFC 5326 §3).
//! Values are limited to 64 bits; a longer or overflowing encoding is an error, never
//! truncated.

/// Why bytes are not an SDNV.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SdnvError {
    /// The bytes end before the last group.
    #[error("SDNV truncated")]
    Truncated,
    /// More than 64 bits.
    #[error("SDNV larger than 64 bits")]
    Overflow,
}

/// Appends `value` as an SDNV.
pub fn put(out: &mut Vec<u8>, value: u64) {
    let mut groups = [0u8; 10];
    let mut n = 0;
    let mut v = value;
    loop {
        if let Some(g) = groups.get_mut(n) {
            *g = (v & 0x7f) as u8;
        }
        n += 1;
        v >>= 7;
        if v == 0 {
            break;
        }
    }
    for i in (0..n).rev() {
        let g = groups.get(i).copied().unwrap_or(0);
        out.push(if i == 0 { g } else { g | 0x80 });
    }
}

/// Reads an SDNV from the front of `bytes`; returns it and the bytes after it.
pub fn get(bytes: &[u8]) -> Result<(u64, &[u8]), SdnvError> {
    let mut value: u64 = 0;
    for (i, b) in bytes.iter().enumerate() {
        if value > (u64::MAX >> 7) {
            return Err(SdnvError::Overflow);
        }
        value = (value << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            return Ok((value, bytes.get(i + 1..).unwrap_or_default()));
        }
    }
    Err(SdnvError::Truncated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6256_examples_and_limits() {
        // RFC 6256 §2.1: 0xABC encodes as 0x95 0x3C; 0x1234 as 0xA4 0x34; 0x7F as 0x7F.
        for (v, want) in [
            (0xabc_u64, vec![0x95, 0x3c]),
            (0x1234, vec![0xa4, 0x34]),
            (0x4234, vec![0x81, 0x84, 0x34]),
            (0x7f, vec![0x7f]),
            (0, vec![0]),
        ] {
            let mut out = Vec::new();
            put(&mut out, v);
            assert_eq!(out, want, "{v:#x}");
            assert_eq!(get(&out), Ok((v, &[][..])));
        }
        let mut max = Vec::new();
        put(&mut max, u64::MAX);
        assert_eq!(max.len(), 10);
        assert_eq!(get(&max).unwrap().0, u64::MAX);
        assert_eq!(get(&[0x82; 11]), Err(SdnvError::Overflow));
        assert_eq!(get(&[0x81, 0x80]), Err(SdnvError::Truncated));
        assert_eq!(get(&[]), Err(SdnvError::Truncated));
    }
}

//! A bundle's encoding held as a few shared pieces rather than one buffer.
//!
//! A node forwarding a bundle writes it again: RFC 9171 §4.4 has it add or update the
//! previous node, bundle age and hop count blocks. The payload block, nearly every byte of
//! a large bundle, goes out as it came, so the new encoding is the new small blocks plus
//! the payload block's received bytes, shared rather than copied. A convergence layer that
//! writes vectored (TCPCL, QUIC) sends the pieces as they are; one that needs a single
//! buffer asks for [`Encoded::to_vec`].

use bytes::Bytes;

/// A bundle's bytes, in order, as one or more shared pieces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Encoded {
    parts: Vec<Bytes>,
    len: usize,
}

impl Encoded {
    /// The pieces, in order; none is empty.
    pub fn parts(&self) -> &[Bytes] {
        &self.parts
    }

    /// Total length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends a piece (an empty one is dropped).
    pub fn push(&mut self, part: Bytes) {
        if !part.is_empty() {
            self.len += part.len();
            self.parts.push(part);
        }
    }

    /// The bytes in one buffer (a copy).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.len);
        for p in &self.parts {
            v.extend_from_slice(p);
        }
        v
    }

    /// The bytes as one shared buffer: no copy when there is one piece.
    pub fn into_bytes(mut self) -> Bytes {
        match self.parts.len() {
            0 => Bytes::new(),
            1 => self.parts.pop().unwrap_or_default(),
            _ => Bytes::from(self.to_vec()),
        }
    }

    /// The pieces that make up bytes `range` of the whole, sliced, not copied.
    pub fn slices(&self, range: core::ops::Range<usize>) -> impl Iterator<Item = Bytes> + '_ {
        let mut at = 0usize;
        self.parts.iter().filter_map(move |p| {
            let (start, end) = (at, at + p.len());
            at = end;
            let from = range.start.max(start);
            let to = range.end.min(end);
            (from < to).then(|| p.slice(from - start..to - start))
        })
    }
}

impl From<Vec<u8>> for Encoded {
    fn from(v: Vec<u8>) -> Self {
        Bytes::from(v).into()
    }
}

impl From<Bytes> for Encoded {
    fn from(b: Bytes) -> Self {
        let mut e = Encoded::default();
        e.push(b);
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_cover_exactly_the_range_asked() {
        let mut e = Encoded::default();
        for p in [&b"abc"[..], b"", b"defgh", b"i"] {
            e.push(Bytes::copy_from_slice(p));
        }
        assert_eq!(e.len(), 9);
        assert_eq!(e.parts().len(), 3, "the empty piece is dropped");
        assert_eq!(e.to_vec(), b"abcdefghi");
        for start in 0..=9 {
            for end in start..=9 {
                let got: Vec<u8> = e.slices(start..end).flat_map(|b| b.to_vec()).collect();
                assert_eq!(got, &b"abcdefghi"[start..end], "{start}..{end}");
                assert!(e.slices(start..end).all(|b| !b.is_empty()));
            }
        }
        assert_eq!(e.clone().into_bytes(), Bytes::from_static(b"abcdefghi"));
        let one = Encoded::from(b"xyz".to_vec());
        let ptr = one.parts()[0].as_ptr();
        assert_eq!(one.into_bytes().as_ptr(), ptr, "one piece is not copied");
    }
}

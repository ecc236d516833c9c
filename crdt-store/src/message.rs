//! The delta message, a bundle payload: `TWIN2`, the twin's name (u32 big-endian length,
//! then UTF-8), a count of partitions (one byte, at most one per tier), and per partition its
//! scope (a tier code), the sender's state vector of it and a digest of its deletions (so the
//! receiver learns what the sender has; the digest is eight bytes) and an update (yrs lib0 v1; empty for an acknowledgement), each with a u32
//! big-endian length. Every length is checked against the bytes that remain before anything
//! is read; nothing is allocated for what a peer merely declares. The same encoding, with
//! empty updates, stores what a node knows of a peer.

use crate::policy::Tier;

/// The first bytes of every delta message.
pub const MAGIC: &[u8] = b"TWIN2";

/// One partition of a message: the fields of one scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part<'a> {
    /// The scope of its fields.
    pub scope: Tier,
    /// The sender's state vector of this partition, encoded.
    pub state_vector: &'a [u8],
    /// A digest of the sender's deletions in it.
    pub deletions: u64,
    /// The update, encoded (empty: none).
    pub update: &'a [u8],
}

/// A decoded delta message, borrowing the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaMessage<'a> {
    /// The twin it is for.
    pub twin: &'a str,
    /// Its partitions, each scope at most once.
    pub parts: Vec<Part<'a>>,
}

/// Why a payload is not a delta message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// It does not start with [`MAGIC`].
    #[error("not a twin delta (no TWIN2 header)")]
    NotADelta,
    /// A length runs past the end.
    #[error("{field}: {declared} bytes declared, {left} left")]
    Truncated {
        /// The field.
        field: &'static str,
        /// Its declared length.
        declared: usize,
        /// Bytes left.
        left: usize,
    },
    /// Bytes after the last partition.
    #[error("{0} bytes after the last partition")]
    Trailing(usize),
    /// The twin's name is not UTF-8.
    #[error("twin name is not UTF-8")]
    BadName,
    /// A scope code that is no tier, or a scope twice.
    #[error("bad partition scope {0}")]
    BadScope(u8),
}

impl DeltaMessage<'_> {
    /// Encodes the message.
    pub fn encode(&self) -> Vec<u8> {
        let size: usize = self
            .parts
            .iter()
            .map(|p| 17 + p.state_vector.len() + p.update.len())
            .sum();
        let mut out = Vec::with_capacity(MAGIC.len() + 5 + self.twin.len() + size);
        out.extend_from_slice(MAGIC);
        put(&mut out, self.twin.as_bytes());
        out.push(self.parts.len() as u8);
        for p in &self.parts {
            out.push(p.scope.code());
            put(&mut out, p.state_vector);
            out.extend_from_slice(&p.deletions.to_be_bytes());
            put(&mut out, p.update);
        }
        out
    }
}

fn put(out: &mut Vec<u8>, field: &[u8]) {
    out.extend_from_slice(&(field.len() as u32).to_be_bytes());
    out.extend_from_slice(field);
}

impl<'a> DeltaMessage<'a> {
    /// Decodes a payload.
    pub fn decode(payload: &'a [u8]) -> Result<Self, MessageError> {
        let mut rest = payload.strip_prefix(MAGIC).ok_or(MessageError::NotADelta)?;
        let twin =
            std::str::from_utf8(field(&mut rest, "twin")?).map_err(|_| MessageError::BadName)?;
        let (&count, tail) = rest.split_first().ok_or(MessageError::Truncated {
            field: "partition count",
            declared: 1,
            left: 0,
        })?;
        rest = tail;
        let mut parts: Vec<Part<'a>> = Vec::new();
        for _ in 0..count.min(Tier::ALL.len() as u8 + 1) {
            let (&code, tail) = rest.split_first().ok_or(MessageError::Truncated {
                field: "partition scope",
                declared: 1,
                left: 0,
            })?;
            rest = tail;
            let scope = Tier::from_code(code).ok_or(MessageError::BadScope(code))?;
            if parts.iter().any(|p| p.scope == scope) {
                return Err(MessageError::BadScope(code));
            }
            let state_vector = field(&mut rest, "state vector")?;
            let (deletions, tail) =
                rest.split_first_chunk::<8>()
                    .ok_or(MessageError::Truncated {
                        field: "deletions digest",
                        declared: 8,
                        left: rest.len(),
                    })?;
            rest = tail;
            let update = field(&mut rest, "update")?;
            parts.push(Part {
                scope,
                state_vector,
                deletions: u64::from_be_bytes(*deletions),
                update,
            });
        }
        if !rest.is_empty() || usize::from(count) != parts.len() {
            return Err(MessageError::Trailing(rest.len()));
        }
        Ok(Self { twin, parts })
    }
}

/// Takes one length-prefixed field off the front of `rest`.
fn field<'a>(rest: &mut &'a [u8], name: &'static str) -> Result<&'a [u8], MessageError> {
    let (len, after) = rest
        .split_first_chunk::<4>()
        .ok_or(MessageError::Truncated {
            field: name,
            declared: 4,
            left: rest.len(),
        })?;
    let declared = u32::from_be_bytes(*len) as usize;
    if declared > after.len() {
        return Err(MessageError::Truncated {
            field: name,
            declared,
            left: after.len(),
        });
    }
    let (value, tail) = after.split_at(declared);
    *rest = tail;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_hostile_lengths() {
        let m = DeltaMessage {
            twin: "pod7/setpoints",
            parts: vec![
                Part {
                    scope: Tier::Pod,
                    state_vector: &[1, 2, 3],
                    deletions: 7,
                    update: &[9; 10],
                },
                Part {
                    scope: Tier::Planet,
                    state_vector: &[0],
                    deletions: 0,
                    update: &[],
                },
            ],
        };
        let bytes = m.encode();
        assert_eq!(DeltaMessage::decode(&bytes).unwrap(), m);
        assert_eq!(DeltaMessage::decode(b"HELLO"), Err(MessageError::NotADelta));
        let mut lying = b"TWIN2".to_vec();
        lying.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            DeltaMessage::decode(&lying),
            Err(MessageError::Truncated { field: "twin", .. })
        ));
        for cut in 0..bytes.len() {
            assert!(DeltaMessage::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(DeltaMessage::decode(&long), Err(MessageError::Trailing(1)));
        let mut twice = DeltaMessage {
            twin: "x",
            parts: vec![],
        };
        for _ in 0..2 {
            twice.parts.push(Part {
                scope: Tier::Hub,
                state_vector: &[],
                deletions: 0,
                update: &[],
            });
        }
        assert_eq!(
            DeltaMessage::decode(&twice.encode()),
            Err(MessageError::BadScope(2))
        );
    }
}

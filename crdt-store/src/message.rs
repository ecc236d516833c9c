//! The delta message, a bundle payload: `TWIN1`, then three length-prefixed fields (u32
//! big-endian lengths): the twin's name, the sender's state vector (so the receiver knows
//! what the sender has) and the update (yrs lib0 v1 encoding). Every length is checked
//! against the bytes that remain before anything is read; nothing is allocated for what a
//! peer merely declares.

/// The first bytes of every delta message.
pub const MAGIC: &[u8] = b"TWIN1";

/// A decoded delta message, borrowing the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaMessage<'a> {
    /// The twin it is for.
    pub twin: &'a str,
    /// The sender's state vector, encoded.
    pub state_vector: &'a [u8],
    /// The update, encoded.
    pub update: &'a [u8],
}

/// Why a payload is not a delta message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// It does not start with [`MAGIC`].
    #[error("not a twin delta (no TWIN1 header)")]
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
    /// Bytes after the update.
    #[error("{0} bytes after the update")]
    Trailing(usize),
    /// The twin's name is not UTF-8.
    #[error("twin name is not UTF-8")]
    BadName,
}

impl<'a> DeltaMessage<'a> {
    /// Encodes the message.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            MAGIC.len() + 12 + self.twin.len() + self.state_vector.len() + self.update.len(),
        );
        out.extend_from_slice(MAGIC);
        for field in [self.twin.as_bytes(), self.state_vector, self.update] {
            out.extend_from_slice(&(field.len() as u32).to_be_bytes());
            out.extend_from_slice(field);
        }
        out
    }

    /// Decodes a payload.
    pub fn decode(payload: &'a [u8]) -> Result<Self, MessageError> {
        let mut rest = payload.strip_prefix(MAGIC).ok_or(MessageError::NotADelta)?;
        let mut field = |name: &'static str| -> Result<&'a [u8], MessageError> {
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
            rest = tail;
            Ok(value)
        };
        let twin = std::str::from_utf8(field("twin")?).map_err(|_| MessageError::BadName)?;
        let state_vector = field("state vector")?;
        let update = field("update")?;
        if !rest.is_empty() {
            return Err(MessageError::Trailing(rest.len()));
        }
        Ok(Self {
            twin,
            state_vector,
            update,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_hostile_lengths() {
        let m = DeltaMessage {
            twin: "pod7/setpoints",
            state_vector: &[1, 2, 3],
            update: &[9; 10],
        };
        let bytes = m.encode();
        assert_eq!(DeltaMessage::decode(&bytes).unwrap(), m);
        assert_eq!(DeltaMessage::decode(b"HELLO"), Err(MessageError::NotADelta));
        let mut lying = b"TWIN1".to_vec();
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
    }
}

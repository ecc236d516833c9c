//! The two small messages of our QUIC convergence layer, as bytes: the hello each side sends
//! once on its own unidirectional stream when a connection opens, and the one-byte answer a
//! receiver writes back on a bundle's stream once the bundle is durable (or refused).
//!
//! There is no RFC for a BPv7 convergence layer over QUIC yet, so this framing is ours; it
//! borrows what TCPCLv4 (RFC 9174) negotiates in SESS_INIT: the node ID and the largest
//! transfer each side accepts. Decoding is bounded: the hello is read whole up to
//! [`MAX_HELLO`] bytes, and every field is checked against the bytes present.

use crate::tcpcl::RefuseReason;

/// ALPN protocol name for the QUIC convergence layer.
pub const ALPN: &[u8] = b"dtn-bpv7/1";

/// The hello's first bytes.
const MAGIC: &[u8; 4] = b"DTNQ";

/// The version of this framing.
pub const VERSION: u8 = 1;

/// Longest node ID a hello may carry (bytes of UTF-8).
pub const MAX_NODE_ID: usize = 1024;

/// Largest hello on the wire: magic, version, transfer MRU, length, node ID.
pub const MAX_HELLO: usize = 4 + 1 + 8 + 2 + MAX_NODE_ID;

/// What each side says once per connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// The sender's node ID.
    pub node_id: String,
    /// The largest bundle the sender accepts (its transfer MRU).
    pub transfer_mru: u64,
}

/// Why a hello was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HelloError {
    /// Not our magic: the peer speaks something else under our ALPN.
    #[error("hello: bad magic")]
    Magic,
    /// A framing version we do not speak.
    #[error("hello: version {0} is not supported (we speak {VERSION})")]
    Version(u8),
    /// Fewer bytes than the fields need.
    #[error("hello: truncated")]
    Truncated,
    /// More bytes than the fields declare.
    #[error("hello: {0} trailing bytes")]
    Trailing(usize),
    /// The node ID is empty, too long or not UTF-8.
    #[error("hello: node ID is empty, longer than {MAX_NODE_ID} bytes or not UTF-8")]
    NodeId,
}

impl Hello {
    /// The hello as bytes. A node ID longer than [`MAX_NODE_ID`] is an error for the caller
    /// to have prevented; it is cut to fit rather than sent whole.
    pub fn encode(&self) -> Vec<u8> {
        let id = self.node_id.as_bytes();
        let id = id.get(..id.len().min(MAX_NODE_ID)).unwrap_or(id);
        let mut out = Vec::with_capacity(15 + id.len());
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&self.transfer_mru.to_be_bytes());
        out.extend_from_slice(&(id.len() as u16).to_be_bytes());
        out.extend_from_slice(id);
        out
    }

    /// Reads a hello from exactly `bytes`.
    pub fn decode(bytes: &[u8]) -> Result<Self, HelloError> {
        let (magic, rest) = bytes
            .split_first_chunk::<4>()
            .ok_or(HelloError::Truncated)?;
        if magic != MAGIC {
            return Err(HelloError::Magic);
        }
        let (version, rest) = rest.split_first().ok_or(HelloError::Truncated)?;
        if *version != VERSION {
            return Err(HelloError::Version(*version));
        }
        let (mru, rest) = rest.split_first_chunk::<8>().ok_or(HelloError::Truncated)?;
        let (len, rest) = rest.split_first_chunk::<2>().ok_or(HelloError::Truncated)?;
        let len = usize::from(u16::from_be_bytes(*len));
        if len == 0 || len > MAX_NODE_ID {
            return Err(HelloError::NodeId);
        }
        let id = rest.get(..len).ok_or(HelloError::Truncated)?;
        if rest.len() > len {
            return Err(HelloError::Trailing(rest.len() - len));
        }
        let node_id = std::str::from_utf8(id).map_err(|_| HelloError::NodeId)?;
        Ok(Self {
            node_id: node_id.to_owned(),
            transfer_mru: u64::from_be_bytes(*mru),
        })
    }
}

/// The receiver's answer on a bundle's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Stored durably: the sender may count the bundle as delivered.
    Accepted,
    /// Refused, with TCPCLv4's reason codes (RFC 9174 §5.2.4).
    Refused(RefuseReason),
}

/// Longest answer on the wire.
pub const MAX_ANSWER: usize = 2;

impl Answer {
    /// The answer as bytes: `0` for accepted, `1` and the reason code for refused.
    pub fn encode(self) -> Vec<u8> {
        match self {
            Self::Accepted => vec![0],
            Self::Refused(r) => vec![1, r.code()],
        }
    }

    /// Reads an answer from exactly `bytes`; `None` when it is not one.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        match bytes {
            [0] => Some(Self::Accepted),
            [1, code] => Some(Self::Refused(RefuseReason::from_code(*code))),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_round_trips_and_rejects_each_fault_by_name() {
        let h = Hello {
            node_id: "ipn:7.0".into(),
            transfer_mru: 1 << 30,
        };
        let b = h.encode();
        assert_eq!(Hello::decode(&b), Ok(h));
        assert_eq!(Hello::decode(&b[..3]), Err(HelloError::Truncated));
        assert_eq!(Hello::decode(&b[..b.len() - 1]), Err(HelloError::Truncated));
        let mut long = b.clone();
        long.push(0);
        assert_eq!(Hello::decode(&long), Err(HelloError::Trailing(1)));
        let mut magic = b.clone();
        magic[0] = b'X';
        assert_eq!(Hello::decode(&magic), Err(HelloError::Magic));
        let mut version = b.clone();
        version[4] = 9;
        assert_eq!(Hello::decode(&version), Err(HelloError::Version(9)));
        let mut utf8 = b.clone();
        let last = utf8.len() - 1;
        utf8[last] = 0xff;
        assert_eq!(Hello::decode(&utf8), Err(HelloError::NodeId));
        let mut empty = b[..13].to_vec();
        empty.extend_from_slice(&[0, 0]);
        assert_eq!(Hello::decode(&empty), Err(HelloError::NodeId));
        let mut huge = b[..13].to_vec();
        huge.extend_from_slice(&u16::MAX.to_be_bytes());
        assert_eq!(Hello::decode(&huge), Err(HelloError::NodeId));
    }

    #[test]
    fn answers_round_trip_and_junk_is_none() {
        for a in [
            Answer::Accepted,
            Answer::Refused(RefuseReason::NoResources),
            Answer::Refused(RefuseReason::Completed),
        ] {
            assert_eq!(Answer::decode(&a.encode()), Some(a));
        }
        assert_eq!(Answer::decode(&[]), None);
        assert_eq!(Answer::decode(&[2]), None);
        assert_eq!(Answer::decode(&[0, 0]), None);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics() {
        let mut x: u32 = 12345;
        for n in 0..2000usize {
            let len = n % 40;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    (x >> 16) as u8
                })
                .collect();
            let _ = Hello::decode(&bytes);
            let _ = Answer::decode(&bytes);
        }
    }
}

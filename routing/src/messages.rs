//! What routers of neighbouring nodes tell each other, as bundle payloads to a node's
//! router endpoint: JSON with one key naming the kind, so routers of different kinds ignore
//! each other's messages. Decoding is bounded by the payload (itself bounded by the largest
//! bundle the node accepts) and returns a typed error, never panics.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A message between routers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouterMessage {
    /// Epidemic: the IDs of the bundles the sender holds for forwarding.
    Summary(Vec<String>),
    /// PRoPHET (RFC 6693 §2.1.2): the sender's delivery predictability for each node it
    /// knows.
    Predictabilities(BTreeMap<String, f64>),
}

/// Why a router message could not be read.
#[derive(Debug, thiserror::Error)]
#[error("router message: {0}")]
pub struct MessageError(String);

/// Most bytes of a router message read.
pub const MAX_MESSAGE: usize = 8 << 20;

impl RouterMessage {
    /// The payload.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Reads a router message.
pub fn decode(payload: &[u8]) -> Result<RouterMessage, MessageError> {
    if payload.len() > MAX_MESSAGE {
        return Err(MessageError(format!(
            "{} bytes, more than {MAX_MESSAGE}",
            payload.len()
        )));
    }
    serde_json::from_slice(payload).map_err(|e| MessageError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_garbage_is_an_error() {
        let m = RouterMessage::Summary(vec!["ipn:1.0/5/0".into()]);
        assert_eq!(decode(&m.encode()).unwrap(), m);
        let p = RouterMessage::Predictabilities([("ipn:3.0".to_string(), 0.5)].into());
        assert_eq!(decode(&p.encode()).unwrap(), p);
        for junk in [&b""[..], b"{", b"[1,2]", b"{\"summary\": 5}", &[0xff; 64]] {
            assert!(decode(junk).is_err());
        }
    }
}

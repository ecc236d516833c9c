//! A replica of one twin: a `yrs` document whose root map `fields` holds the twin's fields,
//! and, per peer, the state vector last learned from it. [`Twin::delta_for`] makes the
//! message for a peer (everything the peer is not known to have, merged into one update:
//! a backlog of hours goes as one delta); [`Twin::apply`] takes a peer's message, checks it
//! against the limits, merges it and learns what the peer has.

use std::collections::BTreeMap;

use bundle_agent::wire::Eid;
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{Any, Doc, Map, MapRef, Out, ReadTxn, StateVector, Transact, Update};

use crate::message::{DeltaMessage, MessageError};

/// A field's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Text.
    Text(String),
    /// A number.
    Number(f64),
    /// A flag.
    Bool(bool),
}

impl Value {
    fn to_any(&self) -> Any {
        match self {
            Value::Text(t) => Any::String(t.as_str().into()),
            Value::Number(n) => Any::Number(*n),
            Value::Bool(b) => Any::Bool(*b),
        }
    }

    fn from_out(out: Out) -> Option<Self> {
        match out {
            Out::Any(Any::String(s)) => Some(Value::Text(s.to_string())),
            Out::Any(Any::Number(n)) => Some(Value::Number(n)),
            Out::Any(Any::BigInt(n)) => Some(Value::Number(n as f64)),
            Out::Any(Any::Bool(b)) => Some(Value::Bool(b)),
            _ => None,
        }
    }
}

/// Bounds on what a replica takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest update accepted in a message, in bytes.
    pub max_update: usize,
    /// Largest document (its whole state, encoded), in bytes.
    pub max_document: usize,
}

impl Default for Limits {
    /// 1 MiB updates, 64 MiB documents.
    fn default() -> Self {
        Self {
            max_update: 1 << 20,
            max_document: 64 << 20,
        }
    }
}

/// Why a message or an edit was refused. The document is unchanged when this is returned.
#[derive(Debug, thiserror::Error)]
pub enum TwinError {
    /// The payload is not a delta message.
    #[error("{0}")]
    Message(#[from] MessageError),
    /// The message is for another twin.
    #[error("delta for twin {got:?}, this is {want:?}")]
    WrongTwin {
        /// The message's twin.
        got: String,
        /// This replica's twin.
        want: String,
    },
    /// The update is larger than allowed.
    #[error("update of {size} bytes, more than the limit of {limit}")]
    UpdateTooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The document would grow past its limit.
    #[error("document would reach {size} bytes, more than the limit of {limit}")]
    DocumentTooLarge {
        /// Its size after the change.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The update or state vector does not decode.
    #[error("malformed {what}: {why}")]
    Malformed {
        /// Which part.
        what: &'static str,
        /// The decoder's words.
        why: String,
    },
}

/// One replica of a twin.
#[derive(Debug)]
pub struct Twin {
    name: String,
    doc: Doc,
    fields: MapRef,
    peers: BTreeMap<Eid, StateVector>,
    limits: Limits,
}

impl Twin {
    /// An empty replica of the twin `name`. `replica` must differ between the replicas of one
    /// twin (it identifies this node's edits in the document).
    pub fn new(name: &str, replica: u64, limits: Limits) -> Self {
        let doc = Doc::with_client_id(replica);
        let fields = doc.get_or_insert_map("fields");
        Self {
            name: name.to_string(),
            doc,
            fields,
            peers: BTreeMap::new(),
            limits,
        }
    }

    /// The twin's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The whole document, encoded (what a peer knowing nothing would be sent).
    pub fn state(&self) -> Vec<u8> {
        self.doc
            .transact()
            .encode_state_as_update_v1(&StateVector::default())
    }

    /// Sets a field. Refused (and not applied) when the document would outgrow its limit.
    pub fn set(&mut self, key: &str, value: Value) -> Result<(), TwinError> {
        let size = self.state().len() + key.len() + 32;
        if size > self.limits.max_document {
            return Err(TwinError::DocumentTooLarge {
                size,
                limit: self.limits.max_document,
            });
        }
        let mut txn = self.doc.transact_mut();
        self.fields.insert(&mut txn, key, value.to_any());
        Ok(())
    }

    /// A field's value.
    pub fn get(&self, key: &str) -> Option<Value> {
        let txn = self.doc.transact();
        self.fields.get(&txn, key).and_then(Value::from_out)
    }

    /// Every field, ordered by key.
    pub fn fields(&self) -> BTreeMap<String, Value> {
        let txn = self.doc.transact();
        self.fields
            .iter(&txn)
            .filter_map(|(k, v)| Value::from_out(v).map(|v| (k.to_string(), v)))
            .collect()
    }

    /// The delta message for `peer`: what it is not known to have, as one update, with this
    /// replica's state vector. `None` when the peer is known to have everything.
    pub fn delta_for(&self, peer: &Eid) -> Option<Vec<u8>> {
        let txn = self.doc.transact();
        let mine = txn.state_vector();
        let theirs = self.peers.get(peer).cloned().unwrap_or_default();
        if theirs == mine {
            return None;
        }
        let update = txn.encode_state_as_update_v1(&theirs);
        let sv = mine.encode_v1();
        Some(
            DeltaMessage {
                twin: &self.name,
                state_vector: &sv,
                update: &update,
            }
            .encode(),
        )
    }

    /// Notes that `peer` has everything this replica has now (a delta to it was delivered).
    pub fn sent_to(&mut self, peer: &Eid, message: &[u8]) {
        if let Ok(m) = DeltaMessage::decode(message) {
            if let Ok(sv) = StateVector::decode_v1(m.state_vector) {
                let known = self.peers.entry(peer.clone()).or_default();
                known.merge(sv);
            }
        }
    }

    /// Merges a delta message from `peer` and learns what the peer has. Idempotent and
    /// order-free: a message applied twice, or late, changes nothing more.
    pub fn apply(&mut self, peer: &Eid, payload: &[u8]) -> Result<(), TwinError> {
        let m = DeltaMessage::decode(payload)?;
        if m.twin != self.name {
            return Err(TwinError::WrongTwin {
                got: m.twin.to_string(),
                want: self.name.clone(),
            });
        }
        if m.update.len() > self.limits.max_update {
            return Err(TwinError::UpdateTooLarge {
                size: m.update.len(),
                limit: self.limits.max_update,
            });
        }
        let size = self.state().len() + m.update.len();
        if size > self.limits.max_document {
            return Err(TwinError::DocumentTooLarge {
                size,
                limit: self.limits.max_document,
            });
        }
        let sv = StateVector::decode_v1(m.state_vector).map_err(|e| TwinError::Malformed {
            what: "state vector",
            why: e.to_string(),
        })?;
        let update = Update::decode_v1(m.update).map_err(|e| TwinError::Malformed {
            what: "update",
            why: e.to_string(),
        })?;
        self.doc
            .transact_mut()
            .apply_update(update)
            .map_err(|e| TwinError::Malformed {
                what: "update",
                why: e.to_string(),
            })?;
        self.peers.entry(peer.clone()).or_default().merge(sv);
        Ok(())
    }
}

//! A replica of one twin: one `yrs` document per scope of its fields (a partition, see
//! [`crate::policy`]), what this node knows each peer has, and the limits it enforces.
//!
//! Fields are laid out in a partition as [`crate::fields`] says. What a peer has of a
//! partition is its state vector and a digest of its deletions (deletions do not advance a
//! state vector, see [`crate::deletions`]).
//!
//! [`Twin::take_delta`] makes the message for a peer: per partition it may see, everything
//! the peer is not known (or assumed, after an earlier send) to have, merged into one update,
//! so a backlog of hours goes as one delta. [`Twin::apply`] checks a peer's message
//! ([`crate::check`]) before yrs sees it, merges it and learns what the peer has.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use bundle_agent::wire::Eid;
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{Doc, Map, ReadTxn, StateVector, Transact, Update};

use crate::check::{check_state_vector, check_update, CheckError};
use crate::deletions;
use crate::fields::{apply_edit, read_root, root_name, Edit, Field, Kind, Value, FIELDS};
use crate::message::{DeltaMessage, MessageError, Part};
use crate::policy::{Policy, Tier};

/// Bounds on what a replica takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest update accepted in a message (all partitions together), in bytes.
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
    /// The update or state vector is not one a twin accepts.
    #[error("malformed {what}: {why}")]
    Malformed {
        /// Which part.
        what: &'static str,
        /// Why.
        why: String,
    },
    /// The sovereignty policy forbids it.
    #[error("policy: {0}")]
    Policy(String),
    /// The edit does not fit the field.
    #[error("field {key:?} is {is}, not {wanted}")]
    KindMismatch {
        /// The field.
        key: String,
        /// What it is.
        is: &'static str,
        /// What the edit needs.
        wanted: &'static str,
    },
    /// No such field, list item or text range.
    #[error("{0}")]
    NotFound(String),
    /// A field name that is empty, too long or has control characters.
    #[error("bad field name {0:?}: 1 to 256 characters, no control characters")]
    BadField(String),
    /// yrs failed while merging a checked update; the replica must be reloaded from its
    /// store (the update was not kept).
    #[error("merging failed inside yrs ({0}); the replica is reloaded from its store")]
    Poisoned(String),
}

impl From<CheckError> for TwinError {
    fn from(e: CheckError) -> Self {
        TwinError::Malformed {
            what: "update",
            why: e.to_string(),
        }
    }
}

/// An update to keep in the store: the partition and its bytes (yrs lib0 v1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Journal {
    /// The partition.
    pub scope: Tier,
    /// The update.
    pub update: Vec<u8>,
}

/// What applying a peer's message did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Updates to keep in the store.
    pub journal: Vec<Journal>,
    /// The document changed.
    pub changed: bool,
    /// The message carried updates (not only state vectors): worth acknowledging.
    pub had_updates: bool,
}

/// What this replica knows of one peer, per partition.
#[derive(Debug, Clone, Default)]
struct Knowledge {
    /// What the peer said it has.
    known: BTreeMap<Tier, Seen>,
    /// What was sent to it since (assumed delivered until a resync).
    sent: BTreeMap<Tier, Seen>,
    /// The deletions it was sent (or said it has), so the next delta carries only new ones.
    sent_deletions: BTreeMap<Tier, Vec<deletions::Range>>,
}

/// What a peer has of one partition: a state vector, and the digest of its deletions.
#[derive(Debug, Clone)]
struct Seen {
    sv: StateVector,
    deletions: Option<u64>,
}

impl Default for Seen {
    /// A partition a peer has not reported: it has nothing of it.
    fn default() -> Self {
        Self {
            sv: StateVector::default(),
            deletions: Some(deletions::NONE),
        }
    }
}

impl Seen {
    /// Learns a later (or earlier: deletions only grow, so any digest equal to ours means
    /// the peer has all our deletions) report.
    fn learn(&mut self, sv: StateVector, deletions: u64) {
        self.sv.merge(sv);
        self.deletions = Some(deletions);
    }
}

/// True when `have` has everything `want` names.
fn covers(have: &StateVector, want: &StateVector) -> bool {
    want.iter()
        .all(|(client, clock)| have.get(client) >= *clock)
}

/// One replica of a twin.
#[derive(Debug)]
pub struct Twin {
    name: String,
    replica: u32,
    tier: Tier,
    policy: Policy,
    parts: BTreeMap<Tier, Doc>,
    peers: BTreeMap<Eid, Knowledge>,
    limits: Limits,
    size: usize,
}

impl Twin {
    /// An empty replica of the twin `name` on a node of `tier`. `replica` must differ between
    /// the replicas of one twin (it identifies this node's edits in the document).
    pub fn new(name: &str, replica: u32, tier: Tier, policy: Policy, limits: Limits) -> Self {
        Self {
            name: name.to_string(),
            replica,
            tier,
            policy,
            parts: BTreeMap::new(),
            peers: BTreeMap::new(),
            limits,
            size: 0,
        }
    }

    /// The twin's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The size of its state, roughly (exact after [`Twin::snapshot`]).
    pub fn size(&self) -> usize {
        self.size
    }

    fn part(&mut self, scope: Tier) -> &Doc {
        let replica = u64::from(self.replica);
        self.parts
            .entry(scope)
            .or_insert_with(|| Doc::with_client_id(replica))
    }

    /// The whole state, per partition (what to store as a snapshot); also makes
    /// [`Twin::size`] exact.
    pub fn snapshot(&mut self) -> Vec<Journal> {
        let out: Vec<Journal> = self
            .parts
            .iter()
            .map(|(scope, doc)| Journal {
                scope: *scope,
                update: doc
                    .transact()
                    .encode_state_as_update_v1(&StateVector::default()),
            })
            .collect();
        self.size = out.iter().map(|j| j.update.len()).sum();
        out
    }

    /// Merges an update from the store (a snapshot or a journal entry).
    pub fn restore(&mut self, journal: &Journal) -> Result<(), TwinError> {
        check_update(&journal.update)?;
        self.merge(journal.scope, &journal.update)?;
        Ok(())
    }

    /// Merges a checked update into a partition.
    fn merge(&mut self, scope: Tier, update: &[u8]) -> Result<bool, TwinError> {
        let decoded = Update::decode_v1(update).map_err(|e| TwinError::Malformed {
            what: "update",
            why: e.to_string(),
        })?;
        let doc = self.part(scope);
        let before = doc.transact().state_vector();
        let result = catch_unwind(AssertUnwindSafe(|| {
            let mut txn = doc.transact_mut();
            txn.apply_update(decoded)
        }));
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(TwinError::Poisoned(e.to_string())),
            Err(_) => return Err(TwinError::Poisoned("panic".to_string())),
        }
        let after = doc.transact().state_vector();
        self.size += update.len();
        Ok(before != after)
    }

    /// The field `key`, if it exists.
    pub fn get(&self, key: &str) -> Option<Field> {
        let doc = self.parts.get(&self.policy.scope(key))?;
        let txn = doc.transact();
        if let Some(v) = txn
            .get_map(FIELDS)
            .and_then(|f| f.get(&txn, key))
            .and_then(Value::from_out)
        {
            return Some(Field::Value(v));
        }
        read_root(&txn, &root_name(Kind::Counter, key), Kind::Counter)
            .or_else(|| read_root(&txn, &root_name(Kind::List, key), Kind::List))
            .or_else(|| read_root(&txn, &root_name(Kind::Text, key), Kind::Text))
    }

    /// Every field, ordered by key.
    pub fn fields(&self) -> BTreeMap<String, Field> {
        let mut out = BTreeMap::new();
        for doc in self.parts.values() {
            let txn = doc.transact();
            if let Some(f) = txn.get_map(FIELDS) {
                for (k, v) in f.iter(&txn) {
                    if let Some(v) = Value::from_out(v) {
                        out.insert(k.to_string(), Field::Value(v));
                    }
                }
            }
            let roots: Vec<String> = txn.root_refs().map(|(n, _)| n.to_string()).collect();
            for name in roots {
                let (kind, key) = match name.split_once(':') {
                    Some(("c", k)) => (Kind::Counter, k),
                    Some(("l", k)) => (Kind::List, k),
                    Some(("t", k)) => (Kind::Text, k),
                    _ => continue,
                };
                if let Some(field) = read_root(&txn, &name, kind) {
                    out.insert(key.to_string(), field);
                }
            }
        }
        out
    }

    /// The kind of the existing field `key` in the partition `doc`.
    fn kind_of(doc: &Doc, key: &str) -> Option<Kind> {
        let txn = doc.transact();
        if txn
            .get_map(FIELDS)
            .is_some_and(|f| f.get(&txn, key).is_some())
        {
            return Some(Kind::Value);
        }
        [Kind::Counter, Kind::List, Kind::Text]
            .into_iter()
            .find(|k| read_root(&txn, &root_name(*k, key), *k).is_some())
    }

    /// Applies local edits, all or none: refused when a field's scope does not reach this
    /// node's tier (a policy violation: the field may not exist here), when an edit does not
    /// fit its field, or when the document would outgrow its limit. Returns the updates to
    /// keep in the store.
    pub fn edit(&mut self, edits: &[Edit]) -> Result<Vec<Journal>, TwinError> {
        let mut grow = 0usize;
        for e in edits {
            let key = e.key();
            if key.is_empty() || key.chars().count() > 256 || key.chars().any(char::is_control) {
                return Err(TwinError::BadField(key.to_string()));
            }
            let scope = self.policy.scope(key);
            if scope < self.tier {
                return Err(TwinError::Policy(format!(
                    "field {key:?} of twin {:?} may not leave the {scope}, and this node is a {}",
                    self.name, self.tier
                )));
            }
            if let Some(doc) = self.parts.get(&scope) {
                if let Some(is) = Self::kind_of(doc, key) {
                    if is != e.kind() {
                        return Err(TwinError::KindMismatch {
                            key: key.to_string(),
                            is: is.name(),
                            wanted: e.kind().name(),
                        });
                    }
                }
            }
            grow += e.size() + 32;
        }
        if self.size + grow > self.limits.max_document {
            return Err(TwinError::DocumentTooLarge {
                size: self.size + grow,
                limit: self.limits.max_document,
            });
        }
        // Check what can only be checked against content before changing anything.
        for e in edits {
            self.check_target(e)?;
        }
        let mut by_scope: BTreeMap<Tier, Vec<&Edit>> = BTreeMap::new();
        for e in edits {
            by_scope
                .entry(self.policy.scope(e.key()))
                .or_default()
                .push(e);
        }
        let replica = self.replica;
        let mut journal = Vec::new();
        for (scope, edits) in by_scope {
            let doc = self.part(scope).clone();
            let mut txn = doc.transact_mut();
            for e in edits {
                apply_edit(&mut txn, replica, e);
            }
            let update = txn.encode_update_v1();
            drop(txn);
            self.size += update.len();
            journal.push(Journal { scope, update });
        }
        Ok(journal)
    }

    /// Refuses an edit whose list item or text range does not exist.
    fn check_target(&self, e: &Edit) -> Result<(), TwinError> {
        let current = self.get(e.key());
        match (e, current) {
            (Edit::Remove { key }, None) => Err(TwinError::NotFound(format!("no field {key:?}"))),
            (Edit::RemoveItem { key, index }, list) => {
                let len = match list {
                    Some(Field::List(l)) => l.len(),
                    _ => 0,
                };
                if (*index as usize) < len {
                    Ok(())
                } else {
                    Err(TwinError::NotFound(format!(
                        "list {key:?} has {len} items, no index {index}"
                    )))
                }
            }
            (Edit::InsertText { key, index, .. }, text)
            | (Edit::DeleteText { key, index, .. }, text) => {
                let chars = match text {
                    Some(Field::Text(t)) => t.chars().count(),
                    _ => 0,
                };
                let end = match e {
                    Edit::DeleteText { len, .. } => *index as usize + *len as usize,
                    _ => *index as usize,
                };
                if end <= chars {
                    Ok(())
                } else {
                    Err(TwinError::NotFound(format!(
                        "text {key:?} has {chars} characters, not {end}"
                    )))
                }
            }
            _ => Ok(()),
        }
    }

    /// The partitions `peer_tier` may be sent: those whose scope reaches it.
    fn visible(&self, peer_tier: Tier) -> impl Iterator<Item = (&Tier, &Doc)> {
        self.parts.iter().filter(move |(s, _)| **s >= peer_tier)
    }

    /// The message for `peer` (a node of `peer_tier`): per partition it may see, what it is
    /// neither known nor assumed to have, with this replica's state vectors. `None` when
    /// there is nothing to send, unless `ack` asks for the state vectors alone. What is sent
    /// is assumed delivered until [`Twin::resync`].
    pub fn take_delta(&mut self, peer: &Eid, peer_tier: Tier, ack: bool) -> Option<Vec<u8>> {
        let knowledge = self.peers.get(peer).cloned().unwrap_or_default();
        let mut svs = Vec::new();
        let mut updates = Vec::new();
        let mut any = false;
        let mut sent = Vec::new();
        for (scope, doc) in self.visible(peer_tier) {
            let current = deletions::ranges(doc);
            let deletions = deletions::digest(&current);
            let txn = doc.transact();
            let mine = txn.state_vector();
            let known = knowledge.known.get(scope).cloned().unwrap_or_default();
            let sent_before = knowledge.sent.get(scope).cloned().unwrap_or_default();
            let mut theirs = known.sv.clone();
            theirs.merge(sent_before.sv.clone());
            let has_deletions =
                known.deletions == Some(deletions) || sent_before.deletions == Some(deletions);
            let update = if covers(&theirs, &mine) && has_deletions {
                Vec::new()
            } else {
                any = true;
                let full = txn.encode_state_as_update_v1(&theirs);
                let already = if known.deletions == Some(deletions) {
                    Some(&current)
                } else {
                    knowledge.sent_deletions.get(scope)
                };
                // Only the deletions the peer was not sent; all of them after a resync.
                match already {
                    Some(old) => {
                        deletions::replace_delete_set(&full, &deletions::difference(&current, old))
                            .unwrap_or(full)
                    }
                    None => full,
                }
            };
            svs.push((*scope, mine.encode_v1(), deletions));
            updates.push(update);
            sent.push((*scope, mine, deletions, current));
        }
        if !any && !ack {
            return None;
        }
        let k = self.peers.entry(peer.clone()).or_default();
        for (scope, sv, deletions, ranges) in sent {
            k.sent.entry(scope).or_default().learn(sv, deletions);
            k.sent_deletions.insert(scope, ranges);
        }
        let parts = svs
            .iter()
            .zip(&updates)
            .map(|((scope, sv, deletions), update)| Part {
                scope: *scope,
                state_vector: sv,
                deletions: *deletions,
                update,
            })
            .collect();
        Some(
            DeltaMessage {
                twin: &self.name,
                parts,
            }
            .encode(),
        )
    }

    /// True when `peer` lacks something this replica has (by what it said it has).
    pub fn behind(&self, peer: &Eid, peer_tier: Tier) -> bool {
        let known = self.peers.get(peer).map(|k| &k.known);
        self.visible(peer_tier).any(|(scope, doc)| {
            let mine = doc.transact().state_vector();
            let nothing = Seen::default();
            let theirs = known.and_then(|k| k.get(scope)).unwrap_or(&nothing);
            !covers(&theirs.sv, &mine)
                || theirs.deletions != Some(deletions::digest(&deletions::ranges(doc)))
        })
    }

    /// Forgets what was sent to `peer` but not acknowledged, so the next delta carries it
    /// again (a lost bundle is repaired).
    pub fn resync(&mut self, peer: &Eid) {
        if let Some(k) = self.peers.get_mut(peer) {
            k.sent.clear();
            k.sent_deletions.clear();
        }
    }

    /// The peers this replica knows something of.
    pub fn peers(&self) -> impl Iterator<Item = &Eid> {
        self.peers.keys()
    }

    /// What `peer` is known to have, encoded for the store (a message without updates).
    pub fn knowledge(&self, peer: &Eid) -> Vec<u8> {
        let svs: Vec<(Tier, Vec<u8>, u64)> = self
            .peers
            .get(peer)
            .map(|k| {
                k.known
                    .iter()
                    .filter_map(|(s, seen)| Some((*s, seen.sv.encode_v1(), seen.deletions?)))
                    .collect()
            })
            .unwrap_or_default();
        DeltaMessage {
            twin: &self.name,
            parts: svs
                .iter()
                .map(|(scope, sv, deletions)| Part {
                    scope: *scope,
                    state_vector: sv,
                    deletions: *deletions,
                    update: &[],
                })
                .collect(),
        }
        .encode()
    }

    /// Takes back what [`Twin::knowledge`] stored.
    pub fn restore_knowledge(&mut self, peer: &Eid, stored: &[u8]) -> Result<(), TwinError> {
        let m = DeltaMessage::decode(stored)?;
        for p in m.parts {
            let sv = decode_sv(p.state_vector)?;
            let k = self.peers.entry(peer.clone()).or_default();
            k.known.entry(p.scope).or_default().learn(sv, p.deletions);
        }
        Ok(())
    }

    /// Merges a delta message from `peer` and learns what the peer has. Idempotent and
    /// order-free: a message applied twice, or late, changes nothing more. Everything is
    /// checked before anything is merged; on an error the document is as it was (except
    /// [`TwinError::Poisoned`], after which the replica must be reloaded).
    pub fn apply(&mut self, peer: &Eid, payload: &[u8]) -> Result<Applied, TwinError> {
        let m = DeltaMessage::decode(payload)?;
        if m.twin != self.name {
            return Err(TwinError::WrongTwin {
                got: m.twin.to_string(),
                want: self.name.clone(),
            });
        }
        let total: usize = m.parts.iter().map(|p| p.update.len()).sum();
        if total > self.limits.max_update {
            return Err(TwinError::UpdateTooLarge {
                size: total,
                limit: self.limits.max_update,
            });
        }
        if self.size + total > self.limits.max_document {
            return Err(TwinError::DocumentTooLarge {
                size: self.size + total,
                limit: self.limits.max_document,
            });
        }
        let mut checked = Vec::new();
        for p in &m.parts {
            if p.scope < self.tier {
                return Err(TwinError::Policy(format!(
                    "{peer} sent fields scoped to the {} to this {}: refused",
                    p.scope, self.tier
                )));
            }
            check_state_vector(p.state_vector).map_err(|e| TwinError::Malformed {
                what: "state vector",
                why: e.to_string(),
            })?;
            let sv = decode_sv(p.state_vector)?;
            let empty = p.update.is_empty() || check_update(p.update)?.is_empty();
            checked.push((p, sv, empty));
        }
        let mut applied = Applied::default();
        for (p, sv, empty) in checked {
            if !empty {
                applied.had_updates = true;
                if self.merge(p.scope, p.update)? {
                    applied.changed = true;
                }
                applied.journal.push(Journal {
                    scope: p.scope,
                    update: p.update.to_vec(),
                });
            }
            let k = self.peers.entry(peer.clone()).or_default();
            k.known.entry(p.scope).or_default().learn(sv, p.deletions);
        }
        Ok(applied)
    }
}

fn decode_sv(bytes: &[u8]) -> Result<StateVector, TwinError> {
    check_state_vector(bytes).map_err(|e| TwinError::Malformed {
        what: "state vector",
        why: e.to_string(),
    })?;
    StateVector::decode_v1(bytes).map_err(|e| TwinError::Malformed {
        what: "state vector",
        why: e.to_string(),
    })
}

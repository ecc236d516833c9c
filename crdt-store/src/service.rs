//! A node's twins as a sans-IO service: which twins it follows and with whom, local edits,
//! peers' deltas, persistence in the node's store, a bounded history per twin, and the
//! delta payloads to send. The host (`dtnd`, the simulator) turns [`Outgoing`] into bundles
//! to the peer's [`twin_endpoint`] and hands delivered payloads to [`TwinService::receive`];
//! time comes in as `now_ms`, storage through the [`BundleStore`] it already has.
//!
//! Sync: after each batch of work the host calls [`TwinService::flush`], which sends every
//! follower of a changed twin one delta (what it lacks, merged), and acknowledges deltas
//! that brought news (a message with state vectors only), so the sender learns what arrived.
//! What was sent is assumed delivered; every `resync_ms` a peer still behind by what it said
//! is sent its whole backlog again, which repairs lost bundles.
//!
//! Store layout (service state, keys under `twin/`): `twin/replica` (this node's replica
//! number, chosen once), and per twin `twin/d/NAME\0` then `s` + scope (a snapshot of a
//! partition), `j` + sequence (a journal entry: scope, update), `p` + peer (what the peer is
//! known to have) and `h` + sequence (a history entry). Journals are folded into snapshots
//! every `compact_after` entries. A crash loses nothing that the store committed, and what it
//! did not commit is sent again by the peer's resync.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bundle_agent::store::{BundleStore, StoreError};
use bundle_agent::wire::Eid;

use crate::fields::{Edit, Field};
use crate::policy::{glob, Policy, Tier};
use crate::twin::{Journal, Limits, Twin, TwinError};

/// The `ipn` service number of the twin endpoint.
pub const TWIN_SERVICE: u64 = 65;

/// Most changes kept for watchers between polls (older ones are dropped first).
const MAX_PENDING_CHANGES: usize = 4096;

/// Most keys named in one history entry (the rest are counted).
const MAX_KEYS_PER_CHANGE: usize = 64;

/// The twin endpoint of `node`: `ipn:N.65` or `dtn://name/twin`.
pub fn twin_endpoint(node: &Eid) -> Eid {
    node.service(TWIN_SERVICE, "twin")
}

/// A follow: twins matching `twin` are kept in sync with `peer`, a node of `tier`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Follow {
    /// Twin name pattern (`*` matches any run of characters).
    pub twin: String,
    /// The peer's node ID.
    pub peer: Eid,
    /// The peer's tier: it is sent only the fields whose scope reaches it.
    pub tier: Tier,
}

/// How the service is set up.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// This node's ID.
    pub node: Eid,
    /// This node's tier.
    pub tier: Tier,
    /// Bounds per twin.
    pub limits: Limits,
    /// Policies: twin name pattern and its policy; the first match applies, else open.
    pub policies: Vec<(String, Policy)>,
    /// Who follows what.
    pub follows: Vec<Follow>,
    /// How often a peer still behind is sent its backlog again, in milliseconds.
    pub resync_ms: u64,
    /// Journal entries per twin before they are folded into a snapshot.
    pub compact_after: u64,
    /// History entries kept per twin.
    pub history: u64,
    /// Most twins this node keeps.
    pub max_twins: usize,
}

impl ServiceConfig {
    /// Defaults for a node: 1 MiB updates, 64 MiB documents, resync every hour, 64 journal
    /// entries before a snapshot, 1,000 history entries, 10,000 twins.
    pub fn new(node: Eid, tier: Tier) -> Self {
        Self {
            node,
            tier,
            limits: Limits::default(),
            policies: Vec::new(),
            follows: Vec::new(),
            resync_ms: 3_600_000,
            compact_after: 64,
            history: 1000,
            max_twins: 10_000,
        }
    }
}

/// A delta for a peer, to send as a bundle payload to its [`twin_endpoint`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The peer's node ID.
    pub to: Eid,
    /// The twin.
    pub twin: String,
    /// The payload.
    pub payload: Vec<u8>,
}

/// A change to a twin, for history and watchers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The twin.
    pub twin: String,
    /// Its position in the twin's history.
    pub seq: u64,
    /// When, in milliseconds of the host's clock.
    pub at_ms: u64,
    /// Who made it: `None` for a local edit, else the peer whose delta merged.
    pub origin: Option<Eid>,
    /// The fields that changed (at most 64 named).
    pub keys: Vec<String>,
    /// How many fields changed in all.
    pub changed: u64,
}

/// Why the service refused something. Nothing changed when this is returned.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The twin refused it.
    #[error("{0}")]
    Twin(#[from] TwinError),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A delta for a twin this node does not follow with that peer.
    #[error("twin {twin:?} is not followed with {peer}: delta refused")]
    NotFollowed {
        /// The twin.
        twin: String,
        /// The sender.
        peer: Eid,
    },
    /// No such twin here.
    #[error("no twin {0:?} here")]
    NoSuchTwin(String),
    /// A twin name that is empty, too long or has control characters.
    #[error("bad twin name {0:?}: 1 to 128 characters, no control characters")]
    BadName(String),
    /// The node keeps as many twins as it may.
    #[error("this node already keeps {0} twins, its limit")]
    TooManyTwins(usize),
}

/// A twin as the service keeps it.
#[derive(Debug)]
struct Kept {
    twin: Twin,
    /// Journal entries since the last snapshot.
    journal_len: u64,
    next_journal: u64,
    next_history: u64,
}

/// A summary of one twin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwinInfo {
    /// Its name.
    pub name: String,
    /// How many fields it has.
    pub fields: usize,
    /// Its size, roughly, in bytes.
    pub size: usize,
    /// The peers it is followed with.
    pub peers: Vec<Eid>,
    /// Changes so far.
    pub changes: u64,
}

/// A node's twins.
#[derive(Debug)]
pub struct TwinService {
    cfg: ServiceConfig,
    replica: u32,
    twins: BTreeMap<String, Kept>,
    /// Twins changed since the last flush.
    dirty: BTreeSet<String>,
    /// (twin, peer) pairs owed an acknowledgement.
    acks: BTreeSet<(String, Eid)>,
    outbox: VecDeque<Outgoing>,
    changes: VecDeque<Change>,
    next_resync: Option<u64>,
}

fn twin_key(name: &str, kind: u8) -> Vec<u8> {
    let mut k = b"twin/d/".to_vec();
    k.extend_from_slice(name.as_bytes());
    k.push(0);
    k.push(kind);
    k
}

/// The sequence number at the end of a journal or history key.
fn seq_of(tail: &[u8]) -> Option<u64> {
    tail.try_into().ok().map(u64::from_be_bytes)
}

fn check_name(name: &str) -> Result<(), ServiceError> {
    if name.is_empty() || name.chars().count() > 128 || name.chars().any(char::is_control) {
        return Err(ServiceError::BadName(name.to_string()));
    }
    Ok(())
}

fn encode_change(c: &Change) -> Vec<u8> {
    let mut out = c.at_ms.to_be_bytes().to_vec();
    out.extend_from_slice(&c.changed.to_be_bytes());
    let origin = c
        .origin
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    out.extend_from_slice(origin.as_bytes());
    for k in &c.keys {
        out.push(0);
        out.extend_from_slice(k.as_bytes());
    }
    out
}

fn decode_change(twin: &str, seq: u64, bytes: &[u8]) -> Option<Change> {
    let (at, rest) = bytes.split_first_chunk::<8>()?;
    let (changed, rest) = rest.split_first_chunk::<8>()?;
    let text = std::str::from_utf8(rest).ok()?;
    let mut parts = text.split('\0');
    let origin = parts
        .next()
        .filter(|o| !o.is_empty())
        .and_then(|o| o.parse().ok());
    Some(Change {
        twin: twin.to_string(),
        seq,
        at_ms: u64::from_be_bytes(*at),
        origin,
        keys: parts.map(str::to_string).collect(),
        changed: u64::from_be_bytes(*changed),
    })
}

/// The keys whose fields differ between two views.
fn changed_keys(before: &BTreeMap<String, Field>, after: &BTreeMap<String, Field>) -> Vec<String> {
    let mut keys: Vec<String> = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(v))
        .map(|(k, _)| k.clone())
        .collect();
    keys.extend(before.keys().filter(|k| !after.contains_key(*k)).cloned());
    keys.sort();
    keys
}

impl TwinService {
    /// Opens the service over what `store` holds. `fresh_replica` is used as this node's
    /// replica number when the store has none yet (give a random one: two nodes must never
    /// share it); after that the stored one is kept.
    pub fn open<S: BundleStore + ?Sized>(
        cfg: ServiceConfig,
        store: &mut S,
        fresh_replica: u32,
    ) -> Result<Self, ServiceError> {
        let replica = match store.state_with_prefix(b"twin/replica")?.first() {
            Some((_, v)) => v
                .as_slice()
                .try_into()
                .map(u32::from_be_bytes)
                .map_err(|_| StoreError::Corrupt("twin replica number".into()))?,
            None => {
                store.put_state(b"twin/replica", &fresh_replica.to_be_bytes())?;
                fresh_replica
            }
        };
        let mut s = Self {
            cfg,
            replica,
            twins: BTreeMap::new(),
            dirty: BTreeSet::new(),
            acks: BTreeSet::new(),
            outbox: VecDeque::new(),
            changes: VecDeque::new(),
            next_resync: None,
        };
        let mut names = BTreeSet::new();
        for (k, _) in store.state_with_prefix(b"twin/d/")? {
            let rest = k.get(7..).unwrap_or_default();
            if let Some(end) = rest.iter().position(|b| *b == 0) {
                if let Ok(name) = std::str::from_utf8(rest.get(..end).unwrap_or_default()) {
                    names.insert(name.to_string());
                }
            }
        }
        for name in names {
            s.load(store, &name)?;
        }
        // Peers may have missed what was sent before the restart: everyone behind resyncs.
        s.dirty = s.twins.keys().cloned().collect();
        Ok(s)
    }

    /// This node's replica number.
    pub fn replica(&self) -> u32 {
        self.replica
    }

    /// The configuration.
    pub fn config(&self) -> &ServiceConfig {
        &self.cfg
    }

    fn policy_for(&self, name: &str) -> Policy {
        self.cfg
            .policies
            .iter()
            .find(|(p, _)| glob(p, name))
            .map(|(_, p)| p.clone())
            .unwrap_or_default()
    }

    fn follows_of<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Follow> + 'a {
        self.cfg.follows.iter().filter(move |f| glob(&f.twin, name))
    }

    /// An empty replica of twin `name` on this node.
    fn empty(&self, name: &str) -> Kept {
        Kept {
            twin: Twin::new(
                name,
                self.replica,
                self.cfg.tier,
                self.policy_for(name),
                self.cfg.limits,
            ),
            journal_len: 0,
            next_journal: 0,
            next_history: 0,
        }
    }

    /// Reads a twin back from the store.
    fn load<S: BundleStore + ?Sized>(&mut self, store: &S, name: &str) -> Result<(), ServiceError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("twin {name:?}: {what}"));
        let prefix = twin_key(name, b's');
        let prefix = prefix.get(..prefix.len() - 1).unwrap_or_default().to_vec();
        let mut kept = self.empty(name);
        for (k, v) in store.state_with_prefix(&prefix)? {
            let kind = *k.get(prefix.len()).ok_or_else(|| corrupt("key"))?;
            let tail = k.get(prefix.len() + 1..).unwrap_or_default();
            match kind {
                b's' => {
                    let scope = tail
                        .first()
                        .and_then(|c| Tier::from_code(*c))
                        .ok_or_else(|| corrupt("snapshot scope"))?;
                    kept.twin
                        .restore(&Journal { scope, update: v })
                        .map_err(|e| corrupt(&e.to_string()))?;
                }
                b'j' => {
                    let seq = seq_of(tail).ok_or_else(|| corrupt("journal key"))?;
                    let (code, update) = v.split_first().ok_or_else(|| corrupt("journal"))?;
                    let scope = Tier::from_code(*code).ok_or_else(|| corrupt("journal scope"))?;
                    kept.twin
                        .restore(&Journal {
                            scope,
                            update: update.to_vec(),
                        })
                        .map_err(|e| corrupt(&e.to_string()))?;
                    kept.journal_len += 1;
                    kept.next_journal = kept.next_journal.max(seq + 1);
                }
                b'p' => {
                    let peer: Eid = std::str::from_utf8(tail)
                        .ok()
                        .and_then(|p| p.parse().ok())
                        .ok_or_else(|| corrupt("peer key"))?;
                    kept.twin
                        .restore_knowledge(&peer, &v)
                        .map_err(|e| corrupt(&e.to_string()))?;
                }
                b'h' => {
                    let seq = seq_of(tail).ok_or_else(|| corrupt("history key"))?;
                    kept.next_history = kept.next_history.max(seq + 1);
                }
                _ => {}
            }
        }
        kept.twin.snapshot();
        self.twins.insert(name.to_string(), kept);
        Ok(())
    }

    /// Keeps updates in the store, folding the journal into snapshots when it is long.
    fn persist<S: BundleStore + ?Sized>(
        &mut self,
        store: &mut S,
        name: &str,
        journal: &[Journal],
    ) -> Result<(), ServiceError> {
        let compact_after = self.cfg.compact_after;
        let Some(kept) = self.twins.get_mut(name) else {
            return Ok(());
        };
        for j in journal {
            let mut key = twin_key(name, b'j');
            key.extend_from_slice(&kept.next_journal.to_be_bytes());
            let mut value = vec![j.scope.code()];
            value.extend_from_slice(&j.update);
            store.put_state(&key, &value)?;
            kept.next_journal += 1;
            kept.journal_len += 1;
        }
        if kept.journal_len >= compact_after {
            for j in kept.twin.snapshot() {
                let mut key = twin_key(name, b's');
                key.push(j.scope.code());
                store.put_state(&key, &j.update)?;
            }
            for (k, _) in store.state_with_prefix(&twin_key(name, b'j'))? {
                store.delete_state(&k)?;
            }
            kept.journal_len = 0;
        }
        Ok(())
    }

    /// Records a change in the twin's history and for watchers.
    fn record<S: BundleStore + ?Sized>(
        &mut self,
        store: &mut S,
        name: &str,
        now_ms: u64,
        origin: Option<Eid>,
        mut keys: Vec<String>,
    ) -> Result<Change, ServiceError> {
        let history = self.cfg.history;
        let kept = self
            .twins
            .get_mut(name)
            .ok_or_else(|| ServiceError::NoSuchTwin(name.to_string()))?;
        let changed = keys.len() as u64;
        keys.truncate(MAX_KEYS_PER_CHANGE);
        let change = Change {
            twin: name.to_string(),
            seq: kept.next_history,
            at_ms: now_ms,
            origin,
            keys,
            changed,
        };
        let mut key = twin_key(name, b'h');
        key.extend_from_slice(&change.seq.to_be_bytes());
        store.put_state(&key, &encode_change(&change))?;
        if let Some(old) = change.seq.checked_sub(history) {
            let mut key = twin_key(name, b'h');
            key.extend_from_slice(&old.to_be_bytes());
            store.delete_state(&key)?;
        }
        kept.next_history += 1;
        if self.changes.len() >= MAX_PENDING_CHANGES {
            self.changes.pop_front();
        }
        self.changes.push_back(change.clone());
        self.dirty.insert(name.to_string());
        Ok(change)
    }

    fn create(&mut self, name: &str) -> Result<(), ServiceError> {
        check_name(name)?;
        if self.twins.contains_key(name) {
            return Ok(());
        }
        if self.twins.len() >= self.cfg.max_twins {
            return Err(ServiceError::TooManyTwins(self.cfg.max_twins));
        }
        let kept = self.empty(name);
        self.twins.insert(name.to_string(), kept);
        Ok(())
    }

    /// Applies local edits to a twin (created if new), all or none.
    pub fn edit<S: BundleStore + ?Sized>(
        &mut self,
        now_ms: u64,
        store: &mut S,
        name: &str,
        edits: &[Edit],
    ) -> Result<Change, ServiceError> {
        let created = !self.twins.contains_key(name);
        self.create(name)?;
        let result = self
            .twins
            .get_mut(name)
            .map(|k| k.twin.edit(edits))
            .ok_or_else(|| ServiceError::NoSuchTwin(name.to_string()))?;
        let journal = match result {
            Ok(j) => j,
            Err(e) => {
                if created {
                    self.twins.remove(name);
                }
                return Err(e.into());
            }
        };
        self.persist(store, name, &journal)?;
        let mut keys: Vec<String> = edits.iter().map(|e| e.key().to_string()).collect();
        keys.sort();
        keys.dedup();
        self.record(store, name, now_ms, None, keys)
    }

    /// Takes a delta payload delivered from `source` (the bundle's source EID). Returns the
    /// change it made, if any.
    pub fn receive<S: BundleStore + ?Sized>(
        &mut self,
        now_ms: u64,
        store: &mut S,
        source: &Eid,
        payload: &[u8],
    ) -> Result<Option<Change>, ServiceError> {
        let peer = source.node_id();
        let m = crate::message::DeltaMessage::decode(payload).map_err(TwinError::from)?;
        let name = m.twin.to_string();
        if !self.follows_of(&name).any(|f| f.peer == peer) {
            return Err(ServiceError::NotFollowed { twin: name, peer });
        }
        let created = !self.twins.contains_key(&name);
        self.create(&name)?;
        let Some(kept) = self.twins.get_mut(&name) else {
            return Err(ServiceError::NoSuchTwin(name));
        };
        // Only a message with updates can change fields (an acknowledgement cannot): only
        // then is the view read, to name what changed.
        let before = m
            .parts
            .iter()
            .any(|p| !p.update.is_empty())
            .then(|| kept.twin.fields());
        let applied = match kept.twin.apply(&peer, payload) {
            Ok(a) => a,
            Err(e) => {
                if created {
                    self.twins.remove(&name);
                } else if matches!(e, TwinError::Poisoned(_)) {
                    // yrs failed mid-merge: the replica is rebuilt from what the store holds.
                    self.twins.remove(&name);
                    self.load(store, &name)?;
                }
                return Err(e.into());
            }
        };
        let knowledge = kept.twin.knowledge(&peer);
        let after = if applied.changed {
            Some(kept.twin.fields())
        } else {
            None
        };
        let mut pkey = twin_key(&name, b'p');
        pkey.extend_from_slice(peer.to_string().as_bytes());
        store.put_state(&pkey, &knowledge)?;
        self.persist(store, &name, &applied.journal)?;
        if applied.had_updates {
            self.acks.insert((name.clone(), peer.clone()));
        }
        match (before, after) {
            (Some(before), Some(after)) => {
                let keys = changed_keys(&before, &after);
                Ok(Some(self.record(store, &name, now_ms, Some(peer), keys)?))
            }
            _ => Ok(None),
        }
    }

    /// Queues a delta for every follower of a twin that changed since the last flush, and an
    /// acknowledgement for every delta that brought news; resyncs peers still behind when
    /// `resync_ms` has passed. Call after each batch of work; then drain
    /// [`TwinService::poll_outgoing`].
    pub fn flush(&mut self, now_ms: u64) {
        let resync_due = self.next_resync.is_none_or(|t| now_ms >= t);
        if resync_due {
            self.next_resync = Some(now_ms.saturating_add(self.cfg.resync_ms));
        }
        let names: Vec<String> = if resync_due {
            self.twins.keys().cloned().collect()
        } else {
            let mut n: BTreeSet<String> = std::mem::take(&mut self.dirty);
            n.extend(self.acks.iter().map(|(t, _)| t.clone()));
            n.into_iter().collect()
        };
        self.dirty.clear();
        let acks = std::mem::take(&mut self.acks);
        for name in names {
            let follows: Vec<Follow> = self.follows_of(&name).cloned().collect();
            let Some(kept) = self.twins.get_mut(&name) else {
                continue;
            };
            for f in follows {
                if resync_due && kept.twin.behind(&f.peer, f.tier) {
                    kept.twin.resync(&f.peer);
                }
                let ack = acks.contains(&(name.clone(), f.peer.clone()));
                if let Some(payload) = kept.twin.take_delta(&f.peer, f.tier, ack) {
                    self.outbox.push_back(Outgoing {
                        to: f.peer.clone(),
                        twin: name.clone(),
                        payload,
                    });
                }
            }
        }
    }

    /// The next delta to send.
    pub fn poll_outgoing(&mut self) -> Option<Outgoing> {
        self.outbox.pop_front()
    }

    /// The next change, for watchers.
    pub fn poll_change(&mut self) -> Option<Change> {
        self.changes.pop_front()
    }

    /// When [`TwinService::flush`] should next run for a resync.
    pub fn next_timeout(&self) -> Option<u64> {
        self.next_resync
    }

    /// Every twin, by name.
    pub fn list(&self) -> Vec<TwinInfo> {
        self.twins
            .iter()
            .map(|(name, k)| TwinInfo {
                name: name.clone(),
                fields: k.twin.fields().len(),
                size: k.twin.size(),
                peers: self.follows_of(name).map(|f| f.peer.clone()).collect(),
                changes: k.next_history,
            })
            .collect()
    }

    /// A twin's fields.
    pub fn get(&self, name: &str) -> Option<BTreeMap<String, Field>> {
        self.twins.get(name).map(|k| k.twin.fields())
    }

    /// A twin, for reading.
    pub fn twin(&self, name: &str) -> Option<&Twin> {
        self.twins.get(name).map(|k| &k.twin)
    }

    /// The last `limit` changes of a twin, oldest first.
    pub fn history<S: BundleStore + ?Sized>(
        &self,
        store: &S,
        name: &str,
        limit: usize,
    ) -> Result<Vec<Change>, ServiceError> {
        if !self.twins.contains_key(name) {
            return Err(ServiceError::NoSuchTwin(name.to_string()));
        }
        let prefix = twin_key(name, b'h');
        let entries = store.state_with_prefix(&prefix)?;
        let skip = entries.len().saturating_sub(limit);
        Ok(entries
            .into_iter()
            .skip(skip)
            .filter_map(|(k, v)| {
                let seq = seq_of(k.get(prefix.len()..)?)?;
                decode_change(name, seq, &v)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(twin_endpoint(&Eid::ipn(4, 0)).to_string(), "ipn:4.65");
        let d: Eid = "dtn://pod7/".parse().unwrap();
        assert_eq!(twin_endpoint(&d).to_string(), "dtn://pod7/twin");
    }

    #[test]
    fn change_round_trip() {
        let c = Change {
            twin: "t".into(),
            seq: 3,
            at_ms: 99,
            origin: Some(Eid::ipn(2, 0)),
            keys: vec!["a".into(), "b".into()],
            changed: 2,
        };
        assert_eq!(decode_change("t", 3, &encode_change(&c)), Some(c.clone()));
        let local = Change {
            origin: None,
            keys: vec![],
            ..c
        };
        assert_eq!(
            decode_change("t", 3, &encode_change(&local)),
            Some(local.clone())
        );
    }
}

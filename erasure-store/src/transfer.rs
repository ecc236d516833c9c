//! Blob transfers as a sans-IO state machine over the node's [`BlobStore`]: the sender cuts a
//! blob into shards and hands out one payload at a time (the manifest first, then every
//! shard, each stripe coded only when its first shard is due, so a large blob never sits in
//! memory); the receiver checks each shard against the manifest, keeps it in the store (a
//! shard is a blob too, under its own hash), rebuilds the blob once every stripe has k
//! shards, checks the whole against its address and says so (`BLOBDONE`). A receiver that
//! made no progress for `repair_after_ms` asks for exactly the shards each stripe still lacks
//! to reach k. Both sides keep a record per transfer in the store, so a restart resumes:
//! shards already stored are not asked for again.
//!
//! Time comes in as `now_ms`; payloads go out through [`Transfers::poll_outgoing`] and come in
//! through [`Transfers::receive`]. The host makes them bundles to and from the peer's blob
//! endpoint.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bundle_agent::wire::Eid;

use crate::code::{Code, CodeError, Layout};
use crate::hash::Hash;
use crate::manifest::{Manifest, ManifestError};
use crate::store::{BlobStore, StoreError};
use crate::wire::{Message, WireError, MAX_REQUEST};

/// Record kinds in the store.
const INBOUND: &str = "in";
const OUTBOUND: &str = "out";

/// Most bytes of shards that arrive before their manifest kept aside, unverified, in memory
/// (older ones are dropped and counted: they are asked for again once the manifest comes).
const MAX_EARLY_BYTES: usize = 64 << 20;

/// Most finished transfers remembered for status.
const MAX_FINISHED: usize = 1024;

/// How transfers behave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferConfig {
    /// Largest blob taken from a peer.
    pub max_blob: u64,
    /// A receiver that made no progress this long asks for what it lacks.
    pub repair_after_ms: u64,
    /// Most transfers in progress each way.
    pub max_transfers: usize,
}

impl Default for TransferConfig {
    /// 64 GiB blobs, repair after a minute without progress, 256 transfers.
    fn default() -> Self {
        Self {
            max_blob: 64 << 30,
            repair_after_ms: 60_000,
            max_transfers: 256,
        }
    }
}

/// A payload for a peer's blob endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The peer's node ID.
    pub to: Eid,
    /// The payload.
    pub payload: Vec<u8>,
}

/// Where a transfer stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// This node receives the blob.
    Receiving {
        /// The manifest's hash.
        manifest: Hash,
        /// The blob's address.
        blob: Hash,
        /// The sender.
        from: Eid,
        /// Verified shards stored.
        received: u64,
        /// Shards needed (k per stripe).
        needed: u64,
        /// Stripes with k shards.
        stripes_ready: u64,
        /// Stripes.
        stripes: u64,
        /// Shard bytes received.
        bytes: u64,
        /// When it started.
        started_ms: u64,
    },
    /// This node sends the blob.
    Sending {
        /// The manifest's hash.
        manifest: Hash,
        /// The blob's address.
        blob: Hash,
        /// The receiver.
        to: Eid,
        /// Shards handed out (first sends).
        sent: u64,
        /// Shards in all.
        total: u64,
        /// Shards sent again on request.
        resent: u64,
    },
    /// Done: received and checked here, or reported received by the peer.
    Complete {
        /// The manifest's hash.
        manifest: Hash,
        /// The blob's address.
        blob: Hash,
        /// The other node.
        peer: Eid,
        /// When.
        at_ms: u64,
    },
    /// Given up.
    Failed {
        /// The manifest's hash.
        manifest: Hash,
        /// Why.
        reason: String,
    },
}

/// Counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransferStats {
    /// Shards whose bytes did not match the manifest (discarded).
    pub corrupt: u64,
    /// Shards received twice.
    pub duplicates: u64,
    /// Shards asked for again by this node.
    pub requested: u64,
    /// Shards sent again on a peer's request.
    pub resent: u64,
    /// Shards dropped because their manifest had not come and the room for them was full.
    pub early_dropped: u64,
}

/// Why a payload or a request was refused.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// Not a blob message.
    #[error("{0}")]
    Wire(#[from] WireError),
    /// A bad manifest.
    #[error("{0}")]
    Manifest(#[from] ManifestError),
    /// The store failed or is full.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// Coding failed.
    #[error("{0}")]
    Code(#[from] CodeError),
    /// A shard number outside its manifest.
    #[error("shard {index} of a blob with {total} shards")]
    NoSuchShard {
        /// The number.
        index: u64,
        /// Shards in the manifest.
        total: u64,
    },
    /// A shard whose bytes do not match the manifest: discarded, counted.
    #[error("shard {0} does not match its hash in the manifest: discarded")]
    Corrupt(u64),
    /// Too many transfers at once.
    #[error("{0} transfers in progress, the limit")]
    TooMany(usize),
}

#[derive(Debug)]
struct Outbound {
    manifest: Manifest,
    manifest_bytes: Vec<u8>,
    to: Eid,
    manifest_sent: bool,
    next: u64,
    resend: BTreeSet<u64>,
    cache: Option<(u64, Vec<Vec<u8>>)>,
    resent: u64,
    /// When the receiver was last heard from (or the transfer started).
    heard: u64,
    /// The manifest went again after the last shard of the first pass (a lost manifest
    /// would otherwise leave the receiver unable to use what came).
    manifest_repeated: bool,
}

#[derive(Debug)]
struct Inbound {
    manifest: Manifest,
    from: Eid,
    have: Vec<bool>,
    per_stripe: Vec<u32>,
    received: u64,
    bytes: u64,
    started: u64,
    last_progress: u64,
    last_request: u64,
}

impl Inbound {
    fn new(manifest: Manifest, from: Eid, now: u64, store: &BlobStore) -> Self {
        let layout = manifest.layout;
        let per = u64::from(layout.per_stripe());
        let have: Vec<bool> = manifest.shards.iter().map(|h| store.has(h)).collect();
        let mut per_stripe = vec![0u32; layout.stripes() as usize];
        for (i, h) in have.iter().enumerate() {
            if *h {
                if let Some(c) = per_stripe.get_mut((i as u64 / per) as usize) {
                    *c += 1;
                }
            }
        }
        let received = have.iter().filter(|h| **h).count() as u64;
        Self {
            manifest,
            from,
            have,
            per_stripe,
            received,
            bytes: 0,
            started: now,
            last_progress: now,
            last_request: now,
        }
    }

    fn ready(&self) -> bool {
        let k = self.manifest.layout.k;
        self.per_stripe.iter().all(|c| *c >= k)
    }

    /// For each stripe short of k, the shards it lacks, as many as it needs, data first.
    fn missing(&self) -> Vec<u64> {
        let layout = self.manifest.layout;
        let per = u64::from(layout.per_stripe());
        let mut out = Vec::new();
        for (s, have) in self.per_stripe.iter().enumerate() {
            let mut need = layout.k.saturating_sub(*have);
            for i in 0..per {
                if need == 0 {
                    break;
                }
                let n = s as u64 * per + i;
                if !self.have.get(n as usize).copied().unwrap_or(true) {
                    out.push(n);
                    need -= 1;
                }
            }
        }
        out
    }

    fn progress(&self, manifest: Hash) -> Progress {
        let layout = self.manifest.layout;
        Progress::Receiving {
            manifest,
            blob: self.manifest.blob,
            from: self.from.clone(),
            received: self.received,
            needed: layout.stripes() * u64::from(layout.k),
            stripes_ready: self.per_stripe.iter().filter(|c| **c >= layout.k).count() as u64,
            stripes: layout.stripes(),
            bytes: self.bytes,
            started_ms: self.started,
        }
    }
}

/// A node's blob transfers, both ways.
#[derive(Debug)]
pub struct Transfers {
    cfg: TransferConfig,
    outbound: BTreeMap<Hash, Outbound>,
    inbound: BTreeMap<Hash, Inbound>,
    early: VecDeque<(Hash, u64, Vec<u8>)>,
    early_bytes: usize,
    control: VecDeque<Outgoing>,
    finished: BTreeMap<Hash, Progress>,
    finished_order: VecDeque<Hash>,
    stats: TransferStats,
}

fn stripe_shards(store: &BlobStore, m: &Manifest, s: u64) -> Result<Vec<Vec<u8>>, TransferError> {
    let (from, len) = m.layout.stripe_range(s);
    let data = store.read_range(&m.blob, from, len)?;
    Ok(m.layout.encode_stripe(&data)?)
}

impl Transfers {
    /// Transfers over `store`, resuming those its records name.
    pub fn open(
        cfg: TransferConfig,
        store: &BlobStore,
        now_ms: u64,
    ) -> Result<Self, TransferError> {
        let mut t = Self {
            cfg,
            outbound: BTreeMap::new(),
            inbound: BTreeMap::new(),
            early: VecDeque::new(),
            early_bytes: 0,
            control: VecDeque::new(),
            finished: BTreeMap::new(),
            finished_order: VecDeque::new(),
            stats: TransferStats::default(),
        };
        for (mh, from) in store.records(INBOUND)? {
            let (Ok(bytes), Ok(from)) = (store.get(&mh), from.parse::<Eid>()) else {
                store.delete_record(INBOUND, &mh);
                continue;
            };
            let manifest = Manifest::decode(&bytes, cfg.max_blob)?;
            let inbound = Inbound::new(manifest, from, now_ms, store);
            t.inbound.insert(mh, inbound);
        }
        for (mh, to) in store.records(OUTBOUND)? {
            let (Ok(bytes), Ok(to)) = (store.get(&mh), to.parse::<Eid>()) else {
                store.delete_record(OUTBOUND, &mh);
                continue;
            };
            let manifest = Manifest::decode(&bytes, u64::MAX)?;
            if !store.has(&manifest.blob) {
                store.delete_record(OUTBOUND, &mh);
                continue;
            }
            // What was handed out before the restart is in the bundle store; the receiver
            // asks for anything that did not arrive.
            let total = manifest.layout.shards();
            t.outbound.insert(
                mh,
                Outbound {
                    manifest,
                    manifest_bytes: bytes,
                    to,
                    manifest_sent: true,
                    next: total,
                    resend: BTreeSet::new(),
                    cache: None,
                    resent: 0,
                    heard: now_ms,
                    manifest_repeated: true,
                },
            );
        }
        Ok(t)
    }

    /// Counters so far.
    pub fn stats(&self) -> TransferStats {
        self.stats
    }

    /// Starts sending stored blob `blob` to `to` with `code`. Returns the manifest's hash, by
    /// which both ends know the transfer.
    pub fn send(
        &mut self,
        now_ms: u64,
        store: &mut BlobStore,
        blob: Hash,
        to: &Eid,
        code: Code,
    ) -> Result<Hash, TransferError> {
        if self.outbound.len() >= self.cfg.max_transfers {
            return Err(TransferError::TooMany(self.cfg.max_transfers));
        }
        let info = store.info(&blob).ok_or(StoreError::NotFound(blob))?;
        let layout = Layout::new(info.size, code.k, code.m, code.shard)?;
        let mut shards = Vec::with_capacity(layout.shards() as usize);
        let mut manifest = Manifest {
            blob,
            layout,
            shards: Vec::new(),
        };
        for s in 0..layout.stripes() {
            shards.extend(
                stripe_shards(store, &manifest, s)?
                    .iter()
                    .map(|b| Hash::of(b)),
            );
        }
        manifest.shards = shards;
        let bytes = manifest.encode();
        let mh = store.put(&bytes)?;
        store.put_record(OUTBOUND, &mh, &to.node_id().to_string())?;
        self.outbound.insert(
            mh,
            Outbound {
                manifest,
                manifest_bytes: bytes,
                to: to.node_id(),
                manifest_sent: false,
                next: 0,
                resend: BTreeSet::new(),
                cache: None,
                resent: 0,
                heard: now_ms,
                manifest_repeated: false,
            },
        );
        Ok(mh)
    }

    /// The next payload to send, if any: requests and completions first, then manifests,
    /// shards asked for again, and the shards of new transfers.
    pub fn poll_outgoing(&mut self, store: &BlobStore) -> Option<Outgoing> {
        if let Some(c) = self.control.pop_front() {
            return Some(c);
        }
        let mut failed = Vec::new();
        let mut out = None;
        for (mh, o) in self.outbound.iter_mut() {
            if !o.manifest_sent {
                o.manifest_sent = true;
                out = Some(Outgoing {
                    to: o.to.clone(),
                    payload: o.manifest_bytes.clone(),
                });
                break;
            }
            let total = o.manifest.layout.shards();
            let index = match o.resend.pop_first() {
                Some(i) => {
                    o.resent += 1;
                    self.stats.resent += 1;
                    i
                }
                None if o.next < total => {
                    o.next += 1;
                    o.next - 1
                }
                None if !o.manifest_repeated => {
                    o.manifest_repeated = true;
                    out = Some(Outgoing {
                        to: o.to.clone(),
                        payload: o.manifest_bytes.clone(),
                    });
                    break;
                }
                None => continue,
            };
            let per = u64::from(o.manifest.layout.per_stripe());
            let stripe = index / per;
            if o.cache.as_ref().is_none_or(|(s, _)| *s != stripe) {
                match stripe_shards(store, &o.manifest, stripe) {
                    Ok(shards) => o.cache = Some((stripe, shards)),
                    Err(e) => {
                        failed.push((*mh, e.to_string()));
                        continue;
                    }
                }
            }
            let Some(bytes) = o
                .cache
                .as_ref()
                .and_then(|(_, c)| c.get((index % per) as usize))
            else {
                continue;
            };
            out = Some(Outgoing {
                to: o.to.clone(),
                payload: Message::Shard {
                    manifest: *mh,
                    index,
                    bytes,
                }
                .encode(),
            });
            break;
        }
        for (mh, reason) in failed {
            self.outbound.remove(&mh);
            store.delete_record(OUTBOUND, &mh);
            self.finish(
                mh,
                Progress::Failed {
                    manifest: mh,
                    reason,
                },
            );
        }
        out
    }

    fn finish(&mut self, mh: Hash, p: Progress) {
        if self.finished.insert(mh, p).is_none() {
            self.finished_order.push_back(mh);
        }
        while self.finished_order.len() > MAX_FINISHED {
            if let Some(old) = self.finished_order.pop_front() {
                self.finished.remove(&old);
            }
        }
    }

    /// Takes a payload delivered to this node's blob endpoint from `source`. Returns the
    /// transfer's progress when it moved.
    pub fn receive(
        &mut self,
        now_ms: u64,
        store: &mut BlobStore,
        source: &Eid,
        payload: &[u8],
    ) -> Result<Option<Progress>, TransferError> {
        let peer = source.node_id();
        match Message::decode(payload)? {
            Message::Manifest(bytes) => self.manifest(now_ms, store, peer, bytes),
            Message::Shard {
                manifest,
                index,
                bytes,
            } => {
                if !self.inbound.contains_key(&manifest) {
                    if !self.finished.contains_key(&manifest) {
                        while self.early_bytes + bytes.len() > MAX_EARLY_BYTES {
                            let Some((_, _, old)) = self.early.pop_front() else {
                                break;
                            };
                            self.early_bytes -= old.len();
                            self.stats.early_dropped += 1;
                        }
                        if bytes.len() <= MAX_EARLY_BYTES {
                            self.early_bytes += bytes.len();
                            self.early.push_back((manifest, index, bytes.to_vec()));
                        }
                    }
                    return Ok(None);
                }
                self.shard(now_ms, store, manifest, index, bytes)
            }
            Message::Request { manifest, shards } => {
                if let Some(o) = self.outbound.get_mut(&manifest) {
                    if o.to == peer {
                        let total = o.manifest.layout.shards();
                        o.resend.extend(shards.into_iter().filter(|s| *s < total));
                        o.heard = now_ms;
                    }
                }
                Ok(None)
            }
            Message::Done(mh) => {
                let Some(o) = self.outbound.remove(&mh) else {
                    return Ok(None);
                };
                store.delete_record(OUTBOUND, &mh);
                let _ = store.delete(&mh);
                let p = Progress::Complete {
                    manifest: mh,
                    blob: o.manifest.blob,
                    peer,
                    at_ms: now_ms,
                };
                self.finish(mh, p.clone());
                Ok(Some(p))
            }
        }
    }

    fn manifest(
        &mut self,
        now_ms: u64,
        store: &mut BlobStore,
        from: Eid,
        bytes: &[u8],
    ) -> Result<Option<Progress>, TransferError> {
        let manifest = Manifest::decode(bytes, self.cfg.max_blob)?;
        let mh = Hash::of(bytes);
        if self.inbound.contains_key(&mh) {
            return Ok(None);
        }
        if store.has(&manifest.blob) {
            // Already here (an earlier transfer): tell the sender.
            self.control.push_back(Outgoing {
                to: from.clone(),
                payload: Message::Done(mh).encode(),
            });
            let p = Progress::Complete {
                manifest: mh,
                blob: manifest.blob,
                peer: from,
                at_ms: now_ms,
            };
            self.finish(mh, p.clone());
            return Ok(Some(p));
        }
        if self.inbound.len() >= self.cfg.max_transfers {
            return Err(TransferError::TooMany(self.cfg.max_transfers));
        }
        self.finished.remove(&mh);
        store.put(bytes)?;
        store.put_record(INBOUND, &mh, &from.to_string())?;
        let inbound = Inbound::new(manifest, from, now_ms, store);
        let mut progress = Some(inbound.progress(mh));
        self.inbound.insert(mh, inbound);
        // Shards that came first.
        let early: Vec<(u64, Vec<u8>)> = {
            let (mine, rest): (Vec<_>, Vec<_>) =
                self.early.drain(..).partition(|(h, _, _)| *h == mh);
            self.early = rest.into();
            self.early_bytes = self.early.iter().map(|(_, _, b)| b.len()).sum();
            mine.into_iter().map(|(_, i, b)| (i, b)).collect()
        };
        for (index, b) in early {
            if let Ok(Some(p)) = self.shard(now_ms, store, mh, index, &b) {
                progress = Some(p);
            }
        }
        Ok(progress)
    }

    fn shard(
        &mut self,
        now_ms: u64,
        store: &mut BlobStore,
        mh: Hash,
        index: u64,
        bytes: &[u8],
    ) -> Result<Option<Progress>, TransferError> {
        let Some(inb) = self.inbound.get_mut(&mh) else {
            return Ok(None);
        };
        let total = inb.manifest.layout.shards();
        if index >= total {
            return Err(TransferError::NoSuchShard { index, total });
        }
        if inb.have.get(index as usize).copied().unwrap_or(true) {
            self.stats.duplicates += 1;
            return Ok(None);
        }
        if !inb.manifest.verifies(index, bytes) {
            self.stats.corrupt += 1;
            return Err(TransferError::Corrupt(index));
        }
        store.put(bytes)?;
        if let Some(h) = inb.have.get_mut(index as usize) {
            *h = true;
        }
        let per = u64::from(inb.manifest.layout.per_stripe());
        if let Some(c) = inb.per_stripe.get_mut((index / per) as usize) {
            *c += 1;
        }
        inb.received += 1;
        inb.bytes += bytes.len() as u64;
        inb.last_progress = now_ms;
        if inb.ready() {
            return self.assemble(now_ms, store, mh).map(Some);
        }
        Ok(Some(inb.progress(mh)))
    }

    /// Rebuilds a blob whose every stripe has k shards, checks it against its address, and
    /// clears the transfer away.
    fn assemble(
        &mut self,
        now_ms: u64,
        store: &mut BlobStore,
        mh: Hash,
    ) -> Result<Progress, TransferError> {
        let Some(inb) = self.inbound.remove(&mh) else {
            return Err(TransferError::Wire(WireError::Unknown));
        };
        let m = &inb.manifest;
        let layout = m.layout;
        let per = u64::from(layout.per_stripe());
        let mut w = store.writer()?;
        for s in 0..layout.stripes() {
            let mut shards: Vec<(usize, Vec<u8>)> = Vec::with_capacity(layout.k as usize);
            for i in 0..per {
                if shards.len() >= layout.k as usize {
                    break;
                }
                let n = s * per + i;
                if inb.have.get(n as usize).copied().unwrap_or(false) {
                    if let Some(h) = m.shards.get(n as usize) {
                        shards.push((i as usize, store.get(h)?));
                    }
                }
            }
            let view: Vec<(usize, &[u8])> =
                shards.iter().map(|(i, b)| (*i, b.as_slice())).collect();
            w.write(&layout.decode_stripe(s, &view)?)?;
        }
        let got = store.commit(w)?;
        // The shards and the manifest are not needed any more.
        for (n, had) in inb.have.iter().enumerate() {
            if *had {
                if let Some(h) = m.shards.get(n) {
                    let _ = store.delete(h);
                }
            }
        }
        let _ = store.delete(&mh);
        store.delete_record(INBOUND, &mh);
        if got != m.blob {
            let _ = store.delete(&got);
            let p = Progress::Failed {
                manifest: mh,
                reason: format!(
                    "the rebuilt blob hashes to {got}, not {}: the manifest lies",
                    m.blob
                ),
            };
            self.finish(mh, p.clone());
            return Ok(p);
        }
        self.control.push_back(Outgoing {
            to: inb.from.clone(),
            payload: Message::Done(mh).encode(),
        });
        let p = Progress::Complete {
            manifest: mh,
            blob: m.blob,
            peer: inb.from.clone(),
            at_ms: now_ms,
        };
        self.finish(mh, p.clone());
        Ok(p)
    }

    /// Asks senders for the shards each stalled transfer lacks (no progress for
    /// `repair_after_ms`, and no request in that time either); and as a sender, announces
    /// the manifest again to a receiver not heard from for twice that (the manifest, or the
    /// receiver's completion, may have been lost: a receiver that has the blob answers
    /// again, one that lost the manifest starts and asks for its shards).
    pub fn tick(&mut self, now_ms: u64) {
        let after = self.cfg.repair_after_ms;
        for o in self.outbound.values_mut() {
            let sending = !o.resend.is_empty() || o.next < o.manifest.layout.shards();
            if !sending && now_ms.saturating_sub(o.heard) >= 2 * after {
                o.manifest_sent = false;
                o.heard = now_ms;
            }
        }
        for (mh, inb) in self.inbound.iter_mut() {
            let quiet = now_ms.saturating_sub(inb.last_progress.max(inb.last_request));
            if quiet < after {
                continue;
            }
            let missing = inb.missing();
            if missing.is_empty() {
                continue;
            }
            inb.last_request = now_ms;
            self.stats.requested += missing.len() as u64;
            for chunk in missing.chunks(MAX_REQUEST) {
                self.control.push_back(Outgoing {
                    to: inb.from.clone(),
                    payload: Message::Request {
                        manifest: *mh,
                        shards: chunk.to_vec(),
                    }
                    .encode(),
                });
            }
        }
    }

    /// When [`Transfers::tick`] should next run.
    pub fn next_timeout(&self) -> Option<u64> {
        let after = self.cfg.repair_after_ms;
        self.inbound
            .values()
            .map(|i| i.last_progress.max(i.last_request) + after)
            .chain(self.outbound.values().map(|o| o.heard + 2 * after))
            .min()
    }

    /// True when payloads wait in [`Transfers::poll_outgoing`].
    pub fn has_outgoing(&self) -> bool {
        !self.control.is_empty()
            || self.outbound.values().any(|o| {
                !o.manifest_sent
                    || !o.manifest_repeated
                    || !o.resend.is_empty()
                    || o.next < o.manifest.layout.shards()
            })
    }

    /// A transfer's progress, by its manifest's hash or its blob's address.
    pub fn status(&self, h: &Hash) -> Option<Progress> {
        self.list().into_iter().find(|p| match p {
            Progress::Receiving { manifest, blob, .. }
            | Progress::Sending { manifest, blob, .. }
            | Progress::Complete { manifest, blob, .. } => manifest == h || blob == h,
            Progress::Failed { manifest, .. } => manifest == h,
        })
    }

    /// Every transfer in progress, then the recently finished ones.
    pub fn list(&self) -> Vec<Progress> {
        let mut out: Vec<Progress> = self.inbound.iter().map(|(mh, i)| i.progress(*mh)).collect();
        out.extend(self.outbound.iter().map(|(mh, o)| Progress::Sending {
            manifest: *mh,
            blob: o.manifest.blob,
            to: o.to.clone(),
            sent: o.next,
            total: o.manifest.layout.shards(),
            resent: o.resent,
        }));
        out.extend(
            self.finished_order
                .iter()
                .rev()
                .filter_map(|h| self.finished.get(h).cloned()),
        );
        out
    }
}

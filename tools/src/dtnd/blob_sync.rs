//! Blobs inside the core: the node's blob store, the transfer machine over it, its endpoint
//! (`ipn:N.66` or `dtn://name/blob`, an active registration), and shard payloads turned
//! into bundles a batch at a time, so a large blob does not stall the node while it goes
//! out.

use std::path::Path;

use bundle_agent::wire::{BundleId, DtnTime, Eid};
use erasure_store::{BlobStore, Hash, Progress, Transfers};
use serde_json::{json, Value};

use super::blob_config::BlobConfig;

/// The `ipn` service number of the blob endpoint.
pub const BLOB_SERVICE: u64 = 66;

/// How long a shard bundle lives: a week.
const SHARD_LIFETIME_MS: u64 = 7 * 24 * 3_600_000;

/// Most payloads turned into bundles after one commit.
const BATCH: usize = 32;

/// The blob endpoint of `node`.
pub fn endpoint(node: &Eid) -> Eid {
    node.service(BLOB_SERVICE, "blob")
}

/// What the API asks of the blob store.
#[derive(Debug)]
pub enum BlobRequest {
    /// Store these bytes.
    Put {
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// Store a local file.
    PutFile {
        /// Its path.
        path: std::path::PathBuf,
    },
    /// Send a stored blob.
    Send {
        /// The blob.
        hash: Hash,
        /// The destination node.
        to: Eid,
        /// The code, when the request names one.
        code: Option<super::blob_config::Code>,
    },
    /// Every blob and transfer.
    List,
    /// One blob's or transfer's state.
    Status {
        /// The blob or manifest.
        hash: Hash,
    },
    /// Where a blob's bytes are.
    Locate {
        /// The blob.
        hash: Hash,
    },
    /// Take one holder away.
    Delete {
        /// The blob.
        hash: Hash,
    },
}

/// An answer to a [`BlobRequest`]: JSON, or the HTTP status and reason of a refusal.
pub type BlobReply = Result<Value, (axum::http::StatusCode, String)>;

/// Blobs as the core runs them.
#[derive(Debug)]
pub struct BlobSync {
    cfg: BlobConfig,
    store: BlobStore,
    transfers: Transfers,
    endpoint: Eid,
    sequence: u64,
}

/// A transfer's progress as JSON.
pub fn progress_json(p: &Progress) -> Value {
    match p {
        Progress::Receiving {
            manifest,
            blob,
            from,
            received,
            needed,
            stripes_ready,
            stripes,
            bytes,
            started_ms,
        } => json!({
            "state": "receiving", "manifest": manifest.to_hex(), "blob": blob.to_hex(),
            "peer": from.to_string(), "received": received, "needed": needed,
            "stripes_ready": stripes_ready, "stripes": stripes, "bytes": bytes,
            "started_ms": started_ms,
        }),
        Progress::Sending {
            manifest,
            blob,
            to,
            sent,
            total,
            resent,
        } => json!({
            "state": "sending", "manifest": manifest.to_hex(), "blob": blob.to_hex(),
            "peer": to.to_string(), "sent": sent, "total": total, "resent": resent,
        }),
        Progress::Complete {
            manifest,
            blob,
            peer,
            at_ms,
        } => json!({
            "state": "complete", "manifest": manifest.to_hex(), "blob": blob.to_hex(),
            "peer": peer.to_string(), "at_ms": at_ms,
        }),
        Progress::Failed { manifest, reason } => json!({
            "state": "failed", "manifest": manifest.to_hex(), "reason": reason,
        }),
    }
}

impl BlobSync {
    /// Opens the blob store in `dir`, resuming the transfers it records.
    pub fn open(cfg: BlobConfig, node: &Eid, dir: &Path, now: DtnTime) -> anyhow::Result<Self> {
        let store = BlobStore::open(dir, cfg.quota)?;
        let transfers = Transfers::open(cfg.transfer, &store, now.0)?;
        let (used, quota) = store.usage();
        tracing::info!(blobs = store.list().len(), used, quota, "blob store up");
        Ok(Self {
            cfg,
            store,
            transfers,
            endpoint: endpoint(node),
            sequence: 0,
        })
    }

    /// The blob endpoint of this node.
    pub fn endpoint(&self) -> &Eid {
        &self.endpoint
    }

    /// The store, for the API.
    pub fn store(&self) -> &BlobStore {
        &self.store
    }

    /// Stores bytes; returns their address.
    pub fn put(&mut self, bytes: &[u8]) -> Result<Hash, erasure_store::StoreError> {
        self.store.put(bytes)
    }

    /// Stores a local file; returns its address.
    pub fn put_file(&mut self, path: &Path) -> anyhow::Result<Hash> {
        let mut f = std::fs::File::open(path)?;
        let size = f.metadata()?.len();
        Ok(self.store.put_reader(size, &mut f)?)
    }

    /// Starts sending a stored blob to `to` with the request's code, else the destination's
    /// profile, else the default.
    pub fn send(
        &mut self,
        now: DtnTime,
        blob: Hash,
        to: &Eid,
        code: Option<super::blob_config::Code>,
    ) -> Result<Value, erasure_store::TransferError> {
        let c = code.unwrap_or_else(|| self.cfg.code_for(to));
        let mh = self.transfers.send(now.0, &mut self.store, blob, to, c)?;
        Ok(self
            .transfers
            .status(&mh)
            .map_or(Value::Null, |p| progress_json(&p)))
    }

    /// Every blob and transfer, as JSON.
    pub fn list(&self) -> Value {
        let blobs: Vec<Value> = self
            .store
            .list()
            .iter()
            .map(|b| json!({"hash": b.hash.to_hex(), "size": b.size, "refs": b.refs}))
            .collect();
        let transfers: Vec<Value> = self.transfers.list().iter().map(progress_json).collect();
        let (used, quota) = self.store.usage();
        let s = self.transfers.stats();
        json!({
            "blobs": blobs, "transfers": transfers, "used_bytes": used, "quota_bytes": quota,
            "stats": {
                "corrupt": s.corrupt, "duplicates": s.duplicates,
                "requested": s.requested, "resent": s.resent,
                "early_dropped": s.early_dropped,
            },
        })
    }

    /// A blob's or transfer's state, as JSON.
    pub fn status(&self, h: &Hash) -> Value {
        let transfer = self.transfers.status(h).map(|p| progress_json(&p));
        let stored = self
            .store
            .info(h)
            .map(|i| json!({"size": i.size, "refs": i.refs}));
        json!({"hash": h.to_hex(), "stored": stored, "transfer": transfer})
    }

    /// Deletes one holder of a blob; the holders left.
    pub fn delete(&mut self, h: &Hash) -> Result<u32, erasure_store::StoreError> {
        self.store.delete(h)
    }

    /// Carries out an API request.
    pub fn request(&mut self, now: DtnTime, req: BlobRequest) -> BlobReply {
        use axum::http::StatusCode;
        let bad = |e: &dyn std::fmt::Display| (StatusCode::BAD_REQUEST, e.to_string());
        let store_err = |e: erasure_store::StoreError| match e {
            erasure_store::StoreError::QuotaExceeded { .. } => {
                (StatusCode::INSUFFICIENT_STORAGE, e.to_string())
            }
            erasure_store::StoreError::NotFound(_) => (StatusCode::NOT_FOUND, e.to_string()),
            other => (StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
        };
        match req {
            BlobRequest::Put { bytes } => {
                let h = self.put(&bytes).map_err(store_err)?;
                Ok(json!({"hash": h.to_hex(), "size": bytes.len()}))
            }
            BlobRequest::PutFile { path } => {
                let h = self
                    .put_file(&path)
                    .map_err(|e| bad(&format!("{}: {e:#}", path.display())))?;
                let size = self.store.info(&h).map_or(0, |i| i.size);
                Ok(json!({"hash": h.to_hex(), "size": size}))
            }
            BlobRequest::Send { hash, to, code } => {
                self.send(now, hash, &to, code).map_err(|e| match e {
                    erasure_store::TransferError::Store(s) => store_err(s),
                    other => bad(&other),
                })
            }
            BlobRequest::List => Ok(self.list()),
            BlobRequest::Status { hash } => Ok(self.status(&hash)),
            BlobRequest::Locate { hash } => {
                match (self.store.path(&hash), self.store.info(&hash)) {
                    (Some(path), Some(info)) => {
                        Ok(json!({"path": path.display().to_string(), "size": info.size}))
                    }
                    _ => Err((StatusCode::NOT_FOUND, format!("no blob {hash} here"))),
                }
            }
            BlobRequest::Delete { hash } => {
                let left = self.delete(&hash).map_err(store_err)?;
                Ok(json!({"hash": hash.to_hex(), "refs": left}))
            }
        }
    }

    /// A payload delivered to the blob endpoint.
    pub fn deliver(&mut self, now: DtnTime, id: &BundleId, payload: &[u8]) {
        match self
            .transfers
            .receive(now.0, &mut self.store, &id.source, payload)
        {
            Ok(Some(Progress::Complete { blob, peer, .. })) => {
                tracing::info!(%blob, %peer, "blob transfer complete")
            }
            Ok(Some(Progress::Failed { manifest, reason })) => {
                tracing::warn!(%manifest, "blob transfer failed: {reason}")
            }
            Ok(_) => {}
            Err(e) => tracing::info!(bundle = %id, "blob payload refused: {e}"),
        }
    }

    /// Repair requests and announcements that are due.
    pub fn tick(&mut self, now: DtnTime) {
        self.transfers.tick(now.0);
    }

    /// True when payloads wait to go out.
    pub fn has_outgoing(&self) -> bool {
        self.transfers.has_outgoing()
    }

    /// Up to a batch of bundles to submit.
    pub fn bundles(&mut self, now: DtnTime) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while out.len() < BATCH {
            let Some(o) = self.transfers.poll_outgoing(&self.store) else {
                break;
            };
            self.sequence += 1;
            match super::internal::service_bundle(
                endpoint(&o.to),
                &self.endpoint,
                now,
                self.sequence,
                SHARD_LIFETIME_MS,
                &o.payload,
            ) {
                Ok(b) => out.push(b),
                Err(e) => tracing::error!("blob bundle: {e}"),
            }
        }
        out
    }
}

//! Twin sync inside the core: the `crdt-store` service over the node's own store, its
//! endpoint (`ipn:N.65` or `dtn://name/twin`, an active registration), deltas turned into
//! bundles, and edits answered only after the commit that makes them durable.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use bundle_agent::store::RocksStore;
use bundle_agent::wire::{BundleId, DtnTime, Eid};
use crdt_store::service::{twin_endpoint, Change, ServiceError};
use crdt_store::{Edit, ServiceConfig, TwinService};
use serde_json::{json, Value};
use tokio::sync::{broadcast, oneshot};

use super::core::TwinReply;
use super::twin_api::{change_json, field_json, kind_name, status_for};

/// How long a delta bundle lives: a week, longer than any outage between contacts.
const DELTA_LIFETIME_MS: u64 = 7 * 24 * 3_600_000;

/// Twin sync as the core runs it.
#[derive(Debug)]
pub struct TwinSync {
    service: TwinService,
    endpoint: Eid,
    sequence: u64,
    /// Edits applied but not yet committed, with their answers.
    waiting: Vec<(oneshot::Sender<TwinReply>, TwinReply)>,
    changes: broadcast::Sender<Value>,
}

fn refusal(e: &ServiceError) -> (StatusCode, String) {
    (status_for(e), e.to_string())
}

impl TwinSync {
    /// Opens the service over the store (a replica number is drawn at random on first use).
    pub fn open(
        cfg: ServiceConfig,
        store: &mut RocksStore,
        changes: broadcast::Sender<Value>,
    ) -> anyhow::Result<Self> {
        let fresh = u32::from_be_bytes(crate::cli_io::random_bytes::<4>()?);
        let endpoint = twin_endpoint(&cfg.node);
        let service = TwinService::open(cfg, store, fresh)?;
        tracing::info!(
            twins = service.list().len(),
            replica = service.replica(),
            tier = %service.config().tier,
            follows = service.config().follows.len(),
            "twin sync up"
        );
        Ok(Self {
            service,
            endpoint,
            sequence: 0,
            waiting: Vec::new(),
            changes,
        })
    }

    /// The twin endpoint of this node.
    pub fn endpoint(&self) -> &Eid {
        &self.endpoint
    }

    /// Every twin, as JSON.
    pub fn list(&self) -> Value {
        Value::Array(
            self.service
                .list()
                .into_iter()
                .map(|t| {
                    json!({
                        "name": t.name,
                        "fields": t.fields,
                        "size": t.size,
                        "peers": t.peers.iter().map(ToString::to_string).collect::<Vec<_>>(),
                        "changes": t.changes,
                    })
                })
                .collect(),
        )
    }

    /// One twin's fields and their kinds, as JSON.
    pub fn get(&self, name: &str) -> Option<Value> {
        let fields = self.service.get(name)?;
        let values: serde_json::Map<String, Value> = fields
            .iter()
            .map(|(k, f)| (k.clone(), field_json(f)))
            .collect();
        let kinds: serde_json::Map<String, Value> = fields
            .iter()
            .map(|(k, f)| (k.clone(), Value::from(kind_name(f))))
            .collect();
        Some(json!({ "name": name, "fields": values, "kinds": kinds }))
    }

    /// Applies local edits; the answer waits for the next commit.
    pub fn edit(
        &mut self,
        now: DtnTime,
        store: &mut RocksStore,
        name: &str,
        edits: &[Edit],
        reply: oneshot::Sender<TwinReply>,
    ) {
        let answer = match self.service.edit(now.0, store, name, edits) {
            Ok(change) => Ok(change_json(&change, None)),
            Err(e) => {
                tracing::info!(twin = name, "edit refused: {e}");
                Err(refusal(&e))
            }
        };
        self.waiting.push((reply, answer));
    }

    /// A twin's last changes, as JSON.
    pub fn history(&self, store: &RocksStore, name: &str, limit: usize) -> TwinReply {
        self.service
            .history(store, name, limit)
            .map(|h| Value::Array(h.iter().map(|c| change_json(c, None)).collect()))
            .map_err(|e| refusal(&e))
    }

    /// A delta delivered to the twin endpoint.
    pub fn deliver(&mut self, now: DtnTime, store: &mut RocksStore, id: &BundleId, payload: &[u8]) {
        match self.service.receive(now.0, store, &id.source, payload) {
            Ok(Some(c)) => {
                tracing::debug!(bundle = %id, twin = %c.twin, changed = c.changed, "twin delta merged")
            }
            Ok(None) => tracing::debug!(bundle = %id, "twin delta: nothing new"),
            Err(e) => tracing::warn!(bundle = %id, from = %id.source, "twin delta refused: {e}"),
        }
    }

    /// After a commit: answers the edits it made durable, tells watchers of the changes, and
    /// returns the delta bundles to submit.
    pub fn after_commit(&mut self, now: DtnTime) -> Vec<Vec<u8>> {
        for (reply, answer) in self.waiting.drain(..) {
            let _ = reply.send(answer);
        }
        let mut changes: Vec<Change> = Vec::new();
        while let Some(c) = self.service.poll_change() {
            changes.push(c);
        }
        if self.changes.receiver_count() > 0 {
            let mut views: BTreeMap<String, BTreeMap<String, crdt_store::Field>> = BTreeMap::new();
            for c in &changes {
                if !views.contains_key(&c.twin) {
                    if let Some(f) = self.service.get(&c.twin) {
                        views.insert(c.twin.clone(), f);
                    }
                }
                let _ = self.changes.send(change_json(c, views.get(&c.twin)));
            }
        }
        self.service.flush(now.0);
        let mut bundles = Vec::new();
        while let Some(out) = self.service.poll_outgoing() {
            self.sequence += 1;
            let built = super::internal::service_bundle(
                twin_endpoint(&out.to),
                &self.endpoint,
                now,
                self.sequence,
                DELTA_LIFETIME_MS,
                &out.payload,
            );
            match built {
                Ok(b) => {
                    tracing::debug!(twin = %out.twin, to = %out.to, bytes = out.payload.len(), "twin delta");
                    bundles.push(b);
                }
                Err(e) => tracing::error!(twin = %out.twin, "twin delta bundle: {e}"),
            }
        }
        bundles
    }
}

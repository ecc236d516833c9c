//! JSON views the API serves: stored bundles (list and one in detail) with their forwarding
//! logs. Read-only functions over the store, so the core stays about events.

use bundle_agent::store::{BundleRecord, BundleStore, LogEntry, LogEvent, Retention};
use bundle_agent::wire::{BundleId, BundleView, DecodeOptions, ReasonCode};
use serde_json::{json, Value};

use crate::bundle_json::BundleJson;

fn waiting_for(r: &BundleRecord) -> &'static str {
    if r.retention.has(Retention::DISPATCH_PENDING) {
        "delivery"
    } else if r.retention.has(Retention::REASSEMBLY_PENDING) {
        "reassembly"
    } else {
        "forwarding"
    }
}

/// One log entry in words.
pub fn log_entry(e: &LogEntry) -> Value {
    let what = match &e.event {
        LogEvent::Received { from: Some(n) } => format!("received from {n}"),
        LogEvent::Received { from: None } => "received from a local application".to_string(),
        LogEvent::Forwarded { to } => format!("forwarded to {to}"),
        LogEvent::Delivered { endpoint } => format!("delivered to {endpoint}"),
        LogEvent::Deleted { reason } => format!("deleted: {}", ReasonCode(*reason)),
    };
    json!({ "at_ms": e.at.0, "event": what })
}

fn summary<S: BundleStore>(store: &S, r: &BundleRecord) -> Value {
    json!({
        "id": r.id.to_string(),
        "destination": r.destination.to_string(),
        "size": r.size,
        "received_at_ms": r.received_at.0,
        "expires_at_ms": r.expires_at.0,
        "waiting_for": waiting_for(r),
        "log": store.log_for(&r.id).unwrap_or_default().iter().map(log_entry).collect::<Vec<_>>(),
    })
}

/// Every stored bundle, briefly.
pub fn bundle_list<S: BundleStore>(store: &S) -> anyhow::Result<Value> {
    let records = store.records()?;
    Ok(Value::Array(
        records.iter().map(|r| summary(store, r)).collect(),
    ))
}

/// One bundle in full: its record, its blocks decoded, its log. `None` when the store holds
/// neither the bundle nor a log for it.
pub fn bundle_show<S: BundleStore>(
    store: &S,
    id: &BundleId,
    decode: &DecodeOptions,
) -> anyhow::Result<Option<Value>> {
    let Some(record) = store.record(id)? else {
        let log = store.log_for(id)?;
        if log.is_empty() {
            return Ok(None);
        }
        // Gone from the store, but its history is known: say where it went.
        return Ok(Some(json!({
            "id": id.to_string(),
            "stored": false,
            "log": log.iter().map(log_entry).collect::<Vec<_>>(),
        })));
    };
    let mut v = summary(store, &record);
    if let Some(obj) = v.as_object_mut() {
        obj.insert("stored".into(), json!(true));
        if let Some(bytes) = store.get(id)? {
            if let Ok(view) = BundleView::decode_with(&bytes, decode) {
                obj.insert(
                    "bundle".into(),
                    serde_json::to_value(BundleJson::from_view(&view))?,
                );
            }
        }
    }
    Ok(Some(v))
}

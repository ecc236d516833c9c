//! JSON views the API serves: stored bundles (list and one in detail) with their forwarding
//! logs, routing explanations and contacts. Read-only functions, so the core stays about
//! events.

use bundle_agent::agent::{ContactView, Explanation, PlannedRoute};
use bundle_agent::store::{BundleRecord, BundleStore, LogEntry, LogEvent, Retention};
use bundle_agent::wire::{
    AdminRecord, BundleId, BundleView, DecodeOptions, DtnTime, Eid, ReasonCode,
};
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

/// One log entry: in words (`event`) and for scripts (`kind`, and `peer`, `endpoint` or
/// `reason_code`).
pub fn log_entry(e: &LogEntry) -> Value {
    match &e.event {
        LogEvent::Received { from: Some(n) } => json!({
            "at_ms": e.at.0, "event": format!("received from {n}"),
            "kind": "received", "peer": n.to_string(),
        }),
        LogEvent::Received { from: None } => json!({
            "at_ms": e.at.0, "event": "received from a local application",
            "kind": "received", "peer": null,
        }),
        LogEvent::Forwarded { to } => json!({
            "at_ms": e.at.0, "event": format!("forwarded to {to}"),
            "kind": "forwarded", "peer": to.to_string(),
        }),
        LogEvent::Delivered { endpoint } => json!({
            "at_ms": e.at.0, "event": format!("delivered to {endpoint}"),
            "kind": "delivered", "endpoint": endpoint.to_string(),
        }),
        LogEvent::Deleted { reason } => json!({
            "at_ms": e.at.0, "event": format!("deleted: {}", ReasonCode(*reason)),
            "kind": "deleted", "reason_code": reason,
        }),
    }
}

fn planned_route(r: &PlannedRoute) -> Value {
    json!({
        "arrival_ms": r.arrival.0,
        "confidence": r.confidence,
        "hops": r.hops.iter().map(|h| json!({
            "contact": h.contact,
            "from": h.from.to_string(),
            "to": h.to.to_string(),
            "send_at_ms": h.send_at.0,
            "arrive_at_ms": h.arrive_at.0,
        })).collect::<Vec<_>>(),
    })
}

/// The status reports (RFC 9171 §6.1) about bundle `id` that this node stores (they wait
/// for the application at their report-to endpoint): who reported what, and when.
pub fn reports_about<S: BundleStore>(
    store: &S,
    id: &BundleId,
    decode: &DecodeOptions,
) -> anyhow::Result<Value> {
    let mut out = Vec::new();
    for r in store.records()? {
        if !r.retention.has(Retention::DISPATCH_PENDING) {
            continue;
        }
        let Some(bytes) = store.get(&r.id)? else {
            continue;
        };
        let Ok(view) = BundleView::decode_with(&bytes, decode) else {
            continue;
        };
        if !view.primary().flags.is_admin_record() {
            continue;
        }
        let Ok(AdminRecord::StatusReport(report)) = AdminRecord::decode(view.payload()) else {
            continue;
        };
        if report.subject != *id {
            continue;
        }
        let reporter = view.primary().source.node_id().to_string();
        for (kind, item) in [
            ("received", &report.received),
            ("forwarded", &report.forwarded),
            ("delivered", &report.delivered),
            ("deleted", &report.deleted),
        ] {
            if !item.asserted {
                continue;
            }
            // The status time when the bundle asked for it, else when the report was made.
            let at = item.time.unwrap_or(view.primary().creation.time);
            out.push(json!({
                "node": reporter,
                "kind": kind,
                "at_ms": at.0,
                "reason": report.reason.to_string(),
                "report": r.id.to_string(),
            }));
        }
    }
    Ok(Value::Array(out))
}

/// A router's explanation of how a bundle of `size` bytes for `destination` would go, if
/// sent at `at`.
pub fn explanation(e: &Explanation, destination: &Eid, size: u64, at: DtnTime) -> Value {
    json!({
        "destination": destination.to_string(),
        "size": size,
        "at_ms": at.0,
        "router": e.router,
        "next_hop": e.next_hop.as_ref().map(ToString::to_string),
        "chosen": e.chosen.as_ref().map(planned_route),
        "alternatives": e.alternatives.iter().map(planned_route).collect::<Vec<_>>(),
        "rejected": e.rejected,
        "notes": e.notes,
    })
}

/// The contacts a router plans with, with whether each is past, on or to come at `now`.
pub fn contacts(list: &[ContactView], now: DtnTime) -> Value {
    Value::Array(
        list.iter()
            .map(|c| {
                let state = if c.end <= now {
                    "past"
                } else if c.start <= now {
                    "on"
                } else {
                    "future"
                };
                json!({
                    "id": c.id,
                    "from": c.from.to_string(),
                    "to": c.to.to_string(),
                    "start_ms": c.start.0,
                    "end_ms": c.end.0,
                    "rate": c.rate,
                    "owlt_ms": c.owlt_ms,
                    "confidence": c.confidence,
                    "residual": c.residual,
                    "state": state,
                })
            })
            .collect(),
    )
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

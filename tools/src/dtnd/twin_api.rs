//! The twin API of `dtnd` (twin state synced by deltas in bundles, see `crdt-store`):
//!
//! - `GET /twins`: every twin here: name, fields, size, peers, changes.
//! - `GET /twin?name=NAME`: its fields as JSON, and each field's kind.
//! - `POST /twin?name=NAME` with a JSON body of edits, applied all or none:
//!   `{"set": {"k": 1.5, "mode": "auto"}, "remove": ["old"], "add": {"starts": 1},
//!   "push": {"log": "filter changed"}, "text": {"notes": "whole new text"}}`.
//!   `200` with the change; `403` when the sovereignty policy forbids a field here, `409` when
//!   an edit does not fit a field's kind, `413` over a size limit, `400` otherwise.
//! - `GET /twin/history?name=NAME[&limit=N]`: its last changes, local and merged.
//! - `GET /twin/watch[?name=PATTERN]` (WebSocket): each change as it merges, as a JSON text
//!   message with the new values of the fields that changed.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use crdt_store::service::{Change, ServiceError};
use crdt_store::{Edit, Field, TwinError, Value as FieldValue};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tokio::sync::oneshot;

use super::api::ApiState;
use super::core::CoreMsg;

/// A field as JSON.
pub fn field_json(f: &Field) -> Value {
    match f {
        Field::Value(v) => value_json(v),
        Field::Text(t) => Value::String(t.clone()),
        Field::List(items) => Value::Array(items.iter().map(value_json).collect()),
        Field::Counter(n) => json!(n),
    }
}

fn value_json(v: &FieldValue) -> Value {
    match v {
        FieldValue::Text(t) => Value::String(t.clone()),
        FieldValue::Number(n) => json!(n),
        FieldValue::Bool(b) => Value::Bool(*b),
    }
}

/// A field's kind, as the API names it.
pub fn kind_name(f: &Field) -> &'static str {
    match f {
        Field::Value(_) => "value",
        Field::Text(_) => "text",
        Field::List(_) => "list",
        Field::Counter(_) => "counter",
    }
}

/// A change as JSON, with the new values of the fields named.
pub fn change_json(
    c: &Change,
    values: Option<&std::collections::BTreeMap<String, Field>>,
) -> Value {
    let mut v = json!({
        "twin": c.twin,
        "seq": c.seq,
        "at_ms": c.at_ms,
        "origin": c.origin.as_ref().map(ToString::to_string),
        "keys": c.keys,
        "changed": c.changed,
    });
    if let (Some(values), Some(obj)) = (values, v.as_object_mut()) {
        let now: Map<String, Value> = c
            .keys
            .iter()
            .map(|k| (k.clone(), values.get(k).map_or(Value::Null, field_json)))
            .collect();
        obj.insert("values".into(), Value::Object(now));
    }
    v
}

fn plain(v: &Value, what: &str) -> Result<FieldValue, String> {
    match v {
        Value::String(s) => Ok(FieldValue::Text(s.clone())),
        Value::Bool(b) => Ok(FieldValue::Bool(*b)),
        Value::Number(n) => n
            .as_f64()
            .map(FieldValue::Number)
            .ok_or_else(|| format!("{what}: number out of range")),
        _ => Err(format!(
            "{what}: a value is a string, a number or a boolean"
        )),
    }
}

/// The edits of a `POST /twin` body.
pub fn edits_from_json(body: &Value) -> Result<Vec<Edit>, String> {
    let obj = body
        .as_object()
        .ok_or("the body is a JSON object of edits: set, remove, add, push, text")?;
    let mut edits = Vec::new();
    for (op, arg) in obj {
        match (op.as_str(), arg) {
            ("set", Value::Object(m)) => {
                for (k, v) in m {
                    edits.push(Edit::Set {
                        key: k.clone(),
                        value: plain(v, &format!("set.{k}"))?,
                    });
                }
            }
            ("remove", Value::Array(keys)) => {
                for k in keys {
                    let key = k.as_str().ok_or("remove: a list of field names")?;
                    edits.push(Edit::Remove { key: key.into() });
                }
            }
            ("add", Value::Object(m)) => {
                for (k, v) in m {
                    let by = v
                        .as_f64()
                        .ok_or_else(|| format!("add.{k}: a number to add"))?;
                    edits.push(Edit::Add { key: k.clone(), by });
                }
            }
            ("push", Value::Object(m)) => {
                for (k, v) in m {
                    edits.push(Edit::Push {
                        key: k.clone(),
                        value: plain(v, &format!("push.{k}"))?,
                    });
                }
            }
            ("text", Value::Object(m)) => {
                for (k, v) in m {
                    let text = v
                        .as_str()
                        .ok_or_else(|| format!("text.{k}: the new text, a string"))?;
                    edits.push(Edit::SetText {
                        key: k.clone(),
                        text: text.into(),
                    });
                }
            }
            (op, _) => {
                return Err(format!(
                "{op:?}: unknown edit or wrong shape; use set {{k: v}}, remove [k], add {{k: n}}, \
                     push {{k: v}}, text {{k: \"...\"}}"
            ))
            }
        }
    }
    if edits.is_empty() {
        return Err("no edits".into());
    }
    Ok(edits)
}

/// The HTTP status for a refused edit.
pub fn status_for(e: &ServiceError) -> StatusCode {
    match e {
        ServiceError::Twin(TwinError::Policy(_)) => StatusCode::FORBIDDEN,
        ServiceError::Twin(TwinError::KindMismatch { .. }) => StatusCode::CONFLICT,
        ServiceError::Twin(
            TwinError::DocumentTooLarge { .. } | TwinError::UpdateTooLarge { .. },
        )
        | ServiceError::TooManyTwins(_) => StatusCode::PAYLOAD_TOO_LARGE,
        ServiceError::Twin(TwinError::NotFound(_)) | ServiceError::NoSuchTwin(_) => {
            StatusCode::NOT_FOUND
        }
        ServiceError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

fn gone() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, "node is shutting down").into_response()
}

async fn ask<T>(s: &ApiState, msg: impl FnOnce(oneshot::Sender<T>) -> CoreMsg) -> Option<T> {
    let (tx, rx) = oneshot::channel();
    s.core.send(msg(tx)).await.ok()?;
    rx.await.ok()
}

#[derive(Deserialize)]
pub(super) struct NameQuery {
    name: String,
    limit: Option<usize>,
}

/// `GET /twins`.
pub(super) async fn list(State(s): State<ApiState>) -> Response {
    match ask(&s, |reply| CoreMsg::TwinList { reply }).await {
        Some(v) => Json(v).into_response(),
        None => gone(),
    }
}

/// `GET /twin?name=`.
pub(super) async fn get(State(s): State<ApiState>, Query(q): Query<NameQuery>) -> Response {
    match ask(&s, |reply| CoreMsg::TwinGet {
        name: q.name.clone(),
        reply,
    })
    .await
    {
        Some(Some(v)) => Json(v).into_response(),
        Some(None) => (StatusCode::NOT_FOUND, format!("no twin {:?} here", q.name)).into_response(),
        None => gone(),
    }
}

/// `POST /twin?name=`.
pub(super) async fn edit(
    State(s): State<ApiState>,
    Query(q): Query<NameQuery>,
    body: axum::body::Bytes,
) -> Response {
    let body: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("body: {e}")).into_response(),
    };
    let edits = match edits_from_json(&body) {
        Ok(e) => e,
        Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
    };
    match ask(&s, |reply| CoreMsg::TwinEdit {
        name: q.name.clone(),
        edits,
        reply,
    })
    .await
    {
        Some(Ok(v)) => Json(v).into_response(),
        Some(Err((status, why))) => (status, why).into_response(),
        None => gone(),
    }
}

/// `GET /twin/history?name=`.
pub(super) async fn history(State(s): State<ApiState>, Query(q): Query<NameQuery>) -> Response {
    match ask(&s, |reply| CoreMsg::TwinHistory {
        name: q.name.clone(),
        limit: q.limit.unwrap_or(100).min(10_000),
        reply,
    })
    .await
    {
        Some(Ok(v)) => Json(v).into_response(),
        Some(Err((status, why))) => (status, why).into_response(),
        None => gone(),
    }
}

#[derive(Deserialize)]
pub(super) struct WatchQuery {
    name: Option<String>,
}

/// `GET /twin/watch` (WebSocket).
pub(super) async fn watch(
    State(s): State<ApiState>,
    Query(q): Query<WatchQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    let changes = s.twin_changes.subscribe();
    let pattern = q.name.unwrap_or_else(|| "*".into());
    ws.on_upgrade(move |socket| stream(socket, changes, pattern))
}

async fn stream(
    mut socket: WebSocket,
    mut changes: tokio::sync::broadcast::Receiver<Value>,
    pattern: String,
) {
    loop {
        tokio::select! {
            c = changes.recv() => match c {
                Ok(change) => {
                    let twin = change.get("twin").and_then(Value::as_str).unwrap_or_default();
                    if !crdt_store::policy::glob(&pattern, twin) {
                        continue;
                    }
                    if socket.send(Message::Text(change.to_string().into())).await.is_err() {
                        return;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    let note = json!({"lagged": n}).to_string();
                    if socket.send(Message::Text(note.into())).await.is_err() {
                        return;
                    }
                }
                Err(_) => return,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_parse_with_clear_errors() {
        let e = edits_from_json(&json!({
            "set": {"t": 21.5, "mode": "auto", "on": true},
            "remove": ["old"],
            "add": {"starts": 1},
            "push": {"log": "x"},
            "text": {"notes": "hi"}
        }))
        .unwrap();
        assert_eq!(e.len(), 7);
        assert!(edits_from_json(&json!({"set": {"x": [1]}}))
            .unwrap_err()
            .contains("string, a number or a boolean"));
        assert!(edits_from_json(&json!({"frob": 1}))
            .unwrap_err()
            .contains("unknown edit"));
        assert!(edits_from_json(&json!({}))
            .unwrap_err()
            .contains("no edits"));
        assert_eq!(field_json(&Field::Counter(3.0)), json!(3.0));
        assert_eq!(
            field_json(&Field::List(vec![FieldValue::Bool(true)])),
            json!([true])
        );
    }
}

//! The blob API of `dtnd` (erasure-coded, content-addressed blobs; see `erasure-store`):
//!
//! - `POST /blob` with the bytes as body, or `POST /blob?path=FILE` (a file on the node's
//!   machine, for blobs larger than a request body): stores it; answers its hash and size.
//! - `POST /blob/send?hash=H&to=NODE[&k=K&m=M&shard=BYTES]`: sends a stored blob as shards,
//!   each its own bundle; the code comes from the request, else the destination's profile,
//!   else the default.
//! - `GET /blob?hash=H`: the blob's bytes, checked against H (`&path=FILE` writes them to a
//!   file on the node's machine instead).
//! - `GET /blob/status?hash=H`: the blob (stored or not) and its transfer: shards received and
//!   needed, stripes ready, bytes, or shards sent.
//! - `GET /blobs`: every blob and transfer. `DELETE /blob?hash=H`: one holder less.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use erasure_store::Hash;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::oneshot;

use super::api::ApiState;
use super::blob_config::Code;
use super::blob_sync::{BlobReply, BlobRequest};
use super::core::CoreMsg;

async fn ask(s: &ApiState, req: BlobRequest) -> Response {
    let (reply, rx) = oneshot::channel();
    if s.core.send(CoreMsg::Blob { req, reply }).await.is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "node is shutting down").into_response();
    }
    answer(rx.await)
}

fn answer(r: Result<BlobReply, oneshot::error::RecvError>) -> Response {
    match r {
        Ok(Ok(v)) => Json(v).into_response(),
        Ok(Err((status, why))) => (status, why).into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "node is shutting down").into_response(),
    }
}

fn hash(text: &str) -> Result<Hash, Box<Response>> {
    text.parse()
        .map_err(|e| Box::new((StatusCode::BAD_REQUEST, format!("{e}")).into_response()))
}

#[derive(Deserialize)]
pub(super) struct PutQuery {
    path: Option<String>,
}

/// `POST /blob`.
pub(super) async fn put(
    State(s): State<ApiState>,
    Query(q): Query<PutQuery>,
    body: Bytes,
) -> Response {
    let req = match q.path {
        Some(p) => BlobRequest::PutFile { path: p.into() },
        None => BlobRequest::Put {
            bytes: body.to_vec(),
        },
    };
    ask(&s, req).await
}

#[derive(Deserialize)]
pub(super) struct SendQuery {
    hash: String,
    to: String,
    k: Option<u32>,
    m: Option<u32>,
    shard: Option<u32>,
}

/// `POST /blob/send`.
pub(super) async fn send(State(s): State<ApiState>, Query(q): Query<SendQuery>) -> Response {
    let h = match hash(&q.hash) {
        Ok(h) => h,
        Err(r) => return *r,
    };
    let to: bundle_agent::wire::Eid = match q.to.parse() {
        Ok(e) => e,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("to {:?}: {e}", q.to)).into_response(),
    };
    let code = match (q.k, q.m) {
        (Some(k), Some(m)) => Some(Code {
            k,
            m,
            shard: q.shard.unwrap_or(1 << 20),
        }),
        (None, None) => None,
        _ => return (StatusCode::BAD_REQUEST, "k and m go together").into_response(),
    };
    ask(&s, BlobRequest::Send { hash: h, to, code }).await
}

#[derive(Deserialize)]
pub(super) struct HashQuery {
    hash: String,
    path: Option<String>,
}

/// `GET /blob/status`.
pub(super) async fn status(State(s): State<ApiState>, Query(q): Query<HashQuery>) -> Response {
    match hash(&q.hash) {
        Ok(h) => ask(&s, BlobRequest::Status { hash: h }).await,
        Err(r) => *r,
    }
}

/// `DELETE /blob`.
pub(super) async fn delete(State(s): State<ApiState>, Query(q): Query<HashQuery>) -> Response {
    match hash(&q.hash) {
        Ok(h) => ask(&s, BlobRequest::Delete { hash: h }).await,
        Err(r) => *r,
    }
}

/// `GET /blobs`.
pub(super) async fn list(State(s): State<ApiState>) -> Response {
    ask(&s, BlobRequest::List).await
}

/// `GET /blob`: the bytes, read off the core's path and checked against the address.
pub(super) async fn get(State(s): State<ApiState>, Query(q): Query<HashQuery>) -> Response {
    let h = match hash(&q.hash) {
        Ok(h) => h,
        Err(r) => return *r,
    };
    let (reply, rx) = oneshot::channel();
    if s.core
        .send(CoreMsg::Blob {
            req: BlobRequest::Locate { hash: h },
            reply,
        })
        .await
        .is_err()
    {
        return (StatusCode::SERVICE_UNAVAILABLE, "node is shutting down").into_response();
    }
    let located: Value = match rx.await {
        Ok(Ok(v)) => v,
        other => return answer(other),
    };
    let Some(path) = located
        .get("path")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "no path").into_response();
    };
    let out = q.path.clone();
    let checked = tokio::task::spawn_blocking(move || -> Result<Option<Vec<u8>>, String> {
        let bytes = std::fs::read(&path).map_err(|e| format!("reading {path}: {e}"))?;
        if Hash::of(&bytes) != h {
            return Err(format!("blob {h} is damaged on disk"));
        }
        match out {
            Some(out) => {
                std::fs::write(&out, &bytes).map_err(|e| format!("writing {out}: {e}"))?;
                Ok(None)
            }
            None => Ok(Some(bytes)),
        }
    })
    .await;
    match checked {
        Ok(Ok(Some(bytes))) => bytes.into_response(),
        Ok(Ok(None)) => Json(located).into_response(),
        Ok(Err(why)) => (StatusCode::INTERNAL_SERVER_ERROR, why).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

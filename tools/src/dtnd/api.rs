//! The HTTP API for applications and `dtnctl`.
//!
//! - `POST /send?destination=EID[&lifetime=1h]` with the payload as body: builds a bundle from
//!   this node and answers `201` once it is durable, `4xx`/`507` when refused.
//! - `POST /register?endpoint=EID`: deliver bundles for this endpoint to this node's inbox.
//! - `GET /recv?endpoint=EID`: the next payload (`200`), or `204` when none is waiting.
//! - `GET /status`: node status as JSON.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bundle_agent::wire::{BundleBuilder, BundleFlags, CreationTimestamp, Eid};
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};

use super::core::CoreMsg;
use crate::cli_io::{dtn_now, parse_duration_ms};

/// Shared state of the handlers.
#[derive(Clone, Debug)]
pub struct ApiState {
    /// The core's inbox.
    pub core: mpsc::Sender<CoreMsg>,
    /// This node's ID, the source of bundles sent through the API.
    pub node_id: Eid,
    /// Sequence numbers for bundles created in the same millisecond.
    pub sequence: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// The routes.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/send", post(send))
        .route("/register", post(register))
        .route("/recv", get(recv))
        .route("/status", get(status))
        .with_state(state)
}

fn bad(msg: impl Into<String>) -> Response {
    (StatusCode::BAD_REQUEST, msg.into()).into_response()
}

fn unavailable() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, "node is shutting down").into_response()
}

#[derive(Deserialize)]
struct SendQuery {
    destination: String,
    lifetime: Option<String>,
}

async fn send(State(s): State<ApiState>, Query(q): Query<SendQuery>, body: Bytes) -> Response {
    let destination: Eid = match q.destination.parse() {
        Ok(e) => e,
        Err(e) => return bad(format!("destination {:?}: {e}", q.destination)),
    };
    let lifetime = match q.lifetime.as_deref().map(parse_duration_ms).transpose() {
        Ok(l) => l.unwrap_or(86_400_000),
        Err(e) => return bad(format!("lifetime: {e:#}")),
    };
    let seq = s
        .sequence
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let bytes = match BundleBuilder::new(
        destination,
        s.node_id.clone(),
        CreationTimestamp::new(dtn_now(), seq),
    )
    .lifetime_ms(lifetime)
    .flags(BundleFlags::default())
    .hop_count(32, 0)
    .payload(&body)
    .build()
    {
        Ok(b) => b,
        Err(e) => return bad(e.to_string()),
    };
    let (reply, rx) = oneshot::channel();
    if s.core.send(CoreMsg::Submit { bytes, reply }).await.is_err() {
        return unavailable();
    }
    match rx.await {
        Ok(Ok(id)) => (StatusCode::CREATED, id).into_response(),
        Ok(Err(why)) if why == "store full" => {
            (StatusCode::INSUFFICIENT_STORAGE, why).into_response()
        }
        Ok(Err(why)) => bad(why),
        Err(_) => unavailable(),
    }
}

#[derive(Deserialize)]
struct EndpointQuery {
    endpoint: String,
}

async fn register(State(s): State<ApiState>, Query(q): Query<EndpointQuery>) -> Response {
    let endpoint: Eid = match q.endpoint.parse() {
        Ok(e) => e,
        Err(e) => return bad(format!("endpoint {:?}: {e}", q.endpoint)),
    };
    if s.core.send(CoreMsg::Register { endpoint }).await.is_err() {
        return unavailable();
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn recv(State(s): State<ApiState>, Query(q): Query<EndpointQuery>) -> Response {
    let endpoint: Eid = match q.endpoint.parse() {
        Ok(e) => e,
        Err(e) => return bad(format!("endpoint {:?}: {e}", q.endpoint)),
    };
    let (reply, rx) = oneshot::channel();
    if s.core
        .send(CoreMsg::Fetch { endpoint, reply })
        .await
        .is_err()
    {
        return unavailable();
    }
    match rx.await {
        Ok(Some(payload)) => (StatusCode::OK, payload).into_response(),
        Ok(None) => StatusCode::NO_CONTENT.into_response(),
        Err(_) => unavailable(),
    }
}

async fn status(State(s): State<ApiState>) -> Response {
    let (reply, rx) = oneshot::channel();
    if s.core.send(CoreMsg::Status { reply }).await.is_err() {
        return unavailable();
    }
    match rx.await {
        Ok(v) => Json(v).into_response(),
        Err(_) => unavailable(),
    }
}

//! The HTTP API for applications and `dtnctl`.
//!
//! - `POST /send?destination=EID[&lifetime=1h][&report_to=EID][&reports=delivery,...]
//!   [&priority=bulk|normal|expedited]` with the
//!   payload as body: builds a bundle from this node and answers `201` once it is durable,
//!   `4xx`/`507` when refused. Status reports (RFC 9171 §6.1) arrive at `report_to` as payloads
//!   that `dtnctl bundle decode` can read as administrative records.
//! - `POST /register?endpoint=EID`: deliver bundles for this endpoint to this node's inbox.
//! - `GET /recv?endpoint=EID`: the next payload (`200`), or `204` when none is waiting.
//! - `GET /status`: node status as JSON.
//! - `GET /bundles`: the bundles stored here, with what each waits for and its log, as JSON.
//! - `GET /bundle?id=ID`: one bundle in full (blocks decoded, log), or its log once it has
//!   left; `404` when the node never saw it. `DELETE /bundle?id=ID` deletes it.
//! - `GET /reports?id=ID`: the status reports about bundle ID stored here (waiting at their
//!   report-to endpoint): reporting node, status, time.
//! - `GET /peers`: TCPCL sessions and UDP peers, with what was negotiated.
//! - `GET /metrics`: Prometheus metrics.
//! - `GET /route`, `GET /contacts`, `POST /contacts/reload`: routing explained, the contact
//!   plan (see [`super::routing_api`]).
//! - `GET /ws?endpoint=EID` (WebSocket): registers the endpoint and pushes each payload that
//!   arrives there as a binary message (see [`super::push`]).
//! - `GET /ws/send?destination=EID[&...]` (WebSocket, the parameters of `/send`): each binary
//!   message is a payload to send; each is answered in order (see [`super::submit`]).
//! - `GET /twins`, `GET|POST /twin?name=`, `GET /twin/history`, `GET /twin/watch`: twin
//!   state (see [`super::twin_api`]).
//! - `GET|POST|DELETE /blob`, `POST /blob/send`, `GET /blob/status`, `GET /blobs`: blobs (see
//!   [`super::blob_api`]).

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bundle_agent::wire::block::{priority_by_name, PRIORITY_NORMAL};
use bundle_agent::wire::{BundleBuilder, BundleFlags, BundleId, CreationTimestamp, Eid};
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
    /// Renders the metrics.
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    /// The contact plan file, when the node routes by one.
    pub plan: Option<std::sync::Arc<super::contacts::PlanSource>>,
    /// Twin changes as they merge, for `/twin/watch`.
    pub twin_changes: tokio::sync::broadcast::Sender<serde_json::Value>,
}

/// The largest payload `POST /send` takes, the decoder's default bundle size limit.
pub const MAX_PAYLOAD: usize = 256 * 1024 * 1024;

/// The routes.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/send", post(send))
        .route("/register", post(register))
        .route("/recv", get(recv))
        .route("/status", get(status))
        .route("/bundles", get(bundles))
        .route("/bundle", get(show).delete(delete))
        .route("/reports", get(reports))
        .route("/peers", get(peers))
        .route("/metrics", get(metrics))
        .route("/route", get(super::routing_api::explain))
        .route("/contacts", get(super::routing_api::contacts))
        .route("/contacts/reload", post(super::routing_api::reload))
        .route("/ws", get(super::push::websocket))
        .route("/ws/send", get(super::submit::websocket))
        .route("/twins", get(super::twin_api::list))
        .route(
            "/twin",
            get(super::twin_api::get).post(super::twin_api::edit),
        )
        .route("/twin/history", get(super::twin_api::history))
        .route("/twin/watch", get(super::twin_api::watch))
        .route(
            "/blob",
            get(super::blob_api::get)
                .post(super::blob_api::put)
                .delete(super::blob_api::delete),
        )
        .route("/blob/send", post(super::blob_api::send))
        .route("/blob/status", get(super::blob_api::status))
        .route("/blobs", get(super::blob_api::list))
        // A payload may be as large as a bundle the node accepts (256 MiB by default).
        .layer(axum::extract::DefaultBodyLimit::max(MAX_PAYLOAD))
        .with_state(state)
}

fn bad(msg: impl Into<String>) -> Response {
    (StatusCode::BAD_REQUEST, msg.into()).into_response()
}

fn unavailable() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, "node is shutting down").into_response()
}

#[derive(Deserialize)]
pub(super) struct SendQuery {
    destination: String,
    lifetime: Option<String>,
    /// Where status reports go (default: this node).
    report_to: Option<String>,
    /// Comma-separated statuses to report: reception, forwarding, delivery, deletion.
    reports: Option<String>,
    /// Source endpoint, one of this node's (default: the node ID).
    source: Option<String>,
    /// bulk, normal (default) or expedited: the order in which congested links take bundles.
    priority: Option<String>,
}

/// Bundle flags for a `reports=` list.
fn report_flags(list: &str) -> Result<u64, String> {
    let mut flags = 0;
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        flags |= match name {
            "reception" => BundleFlags::REPORT_RECEPTION,
            "forwarding" => BundleFlags::REPORT_FORWARDING,
            "delivery" => BundleFlags::REPORT_DELIVERY,
            "deletion" => BundleFlags::REPORT_DELETION,
            other => {
                return Err(format!(
                "reports: unknown status {other:?}; use reception, forwarding, delivery, deletion"
            ))
            }
        };
    }
    Ok(flags)
}

/// What `/send` and `/ws/send` make bundles from: the query, checked.
#[derive(Debug, Clone)]
pub(super) struct SendSpec {
    destination: Eid,
    source: Eid,
    report_to: Eid,
    lifetime_ms: u64,
    flags: BundleFlags,
    /// The bundles' priority.
    priority: u8,
}

impl SendSpec {
    /// Checks a send query; the error names the parameter.
    pub(super) fn parse(s: &ApiState, q: &SendQuery) -> Result<Self, String> {
        let destination: Eid = q
            .destination
            .parse()
            .map_err(|e| format!("destination {:?}: {e}", q.destination))?;
        let lifetime_ms = match q.lifetime.as_deref().map(parse_duration_ms).transpose() {
            Ok(l) => l.unwrap_or(86_400_000),
            Err(e) => return Err(format!("lifetime: {e:#}")),
        };
        let flags = BundleFlags(
            q.reports
                .as_deref()
                .map(report_flags)
                .transpose()?
                .unwrap_or(0),
        );
        let report_to = match q.report_to.as_deref().map(str::parse::<Eid>).transpose() {
            Ok(r) => r.unwrap_or_else(|| s.node_id.clone()),
            Err(e) => return Err(format!("report_to: {e}")),
        };
        let source = match q.source.as_deref().map(str::parse::<Eid>).transpose() {
            Ok(Some(src)) if src.node_id() == s.node_id => src,
            Ok(Some(src)) => return Err(format!("source {src}: not an endpoint of this node")),
            Ok(None) => s.node_id.clone(),
            Err(e) => return Err(format!("source: {e}")),
        };
        let priority = match q.priority.as_deref() {
            None => PRIORITY_NORMAL,
            Some(name) => priority_by_name(name)
                .ok_or_else(|| format!("priority {name:?}: use bulk, normal or expedited"))?,
        };
        Ok(Self {
            destination,
            source,
            report_to,
            lifetime_ms,
            flags,
            priority,
        })
    }

    /// A bundle carrying `payload`, and its ID.
    pub(super) fn build(&self, s: &ApiState, payload: &[u8]) -> Result<(Vec<u8>, String), String> {
        let seq = s
            .sequence
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let creation = CreationTimestamp::new(dtn_now(), seq);
        let bytes = BundleBuilder::new(self.destination.clone(), self.source.clone(), creation)
            .lifetime_ms(self.lifetime_ms)
            .flags(self.flags)
            .report_to(self.report_to.clone())
            .hop_count(32, 0)
            .priority(self.priority)
            .payload(payload)
            .build()
            .map_err(|e| e.to_string())?;
        let id = format!("{}/{}/{}", self.source, creation.time.0, creation.sequence);
        Ok((bytes, id))
    }
}

/// Hands a bundle to the core; `Ok` once it is durable, else why it was refused.
pub(super) async fn submit(
    s: &ApiState,
    bytes: Vec<u8>,
) -> Result<oneshot::Receiver<Result<(), String>>, ()> {
    let (reply, rx) = oneshot::channel();
    s.core
        .send(CoreMsg::Submit { bytes, reply })
        .await
        .map_err(|_| ())?;
    Ok(rx)
}

async fn send(State(s): State<ApiState>, Query(q): Query<SendQuery>, body: Bytes) -> Response {
    let (bytes, id) = match SendSpec::parse(&s, &q).and_then(|spec| spec.build(&s, &body)) {
        Ok(b) => b,
        Err(e) => return bad(e),
    };
    let Ok(rx) = submit(&s, bytes).await else {
        return unavailable();
    };
    match rx.await {
        Ok(Ok(())) => (StatusCode::CREATED, id).into_response(),
        Ok(Err(why)) if why == STORE_FULL => {
            (StatusCode::INSUFFICIENT_STORAGE, why).into_response()
        }
        Ok(Err(why)) => bad(why),
        Err(_) => unavailable(),
    }
}

/// The core's refusal when the store's quota is reached.
pub(super) const STORE_FULL: &str = "store full";

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
        .send(CoreMsg::Fetch {
            endpoint,
            max: 1,
            reply,
        })
        .await
        .is_err()
    {
        return unavailable();
    }
    match rx.await.map(|v| v.into_iter().next()) {
        Ok(Some(payload)) => (StatusCode::OK, payload).into_response(),
        Ok(None) => StatusCode::NO_CONTENT.into_response(),
        Err(_) => unavailable(),
    }
}

async fn status(State(s): State<ApiState>) -> Response {
    ask(&s, |reply| CoreMsg::Status { reply }).await
}

async fn bundles(State(s): State<ApiState>) -> Response {
    ask(&s, |reply| CoreMsg::Bundles { reply }).await
}

/// Sends `msg` to the core and waits for its JSON answer.
async fn ask(
    s: &ApiState,
    msg: impl FnOnce(oneshot::Sender<serde_json::Value>) -> CoreMsg,
) -> Response {
    let (reply, rx) = oneshot::channel();
    if s.core.send(msg(reply)).await.is_err() {
        return unavailable();
    }
    match rx.await {
        Ok(v) => Json(v).into_response(),
        Err(_) => unavailable(),
    }
}

#[derive(Deserialize)]
struct IdQuery {
    id: String,
}

fn bundle_id(q: &IdQuery) -> Result<BundleId, String> {
    q.id.parse()
        .map_err(|e: bundle_agent::wire::BundleIdError| e.to_string())
}

async fn reports(State(s): State<ApiState>, Query(q): Query<IdQuery>) -> Response {
    let id = match bundle_id(&q) {
        Ok(id) => id,
        Err(e) => return bad(e),
    };
    let (reply, rx) = oneshot::channel();
    if s.core.send(CoreMsg::Reports { id, reply }).await.is_err() {
        return unavailable();
    }
    match rx.await {
        Ok(v) => Json(v).into_response(),
        Err(_) => unavailable(),
    }
}

async fn show(State(s): State<ApiState>, Query(q): Query<IdQuery>) -> Response {
    let id = match bundle_id(&q) {
        Ok(id) => id,
        Err(e) => return bad(e),
    };
    let (reply, rx) = oneshot::channel();
    if s.core.send(CoreMsg::Show { id, reply }).await.is_err() {
        return unavailable();
    }
    match rx.await {
        Ok(Some(v)) => Json(v).into_response(),
        Ok(None) => (StatusCode::NOT_FOUND, format!("no bundle {}", q.id)).into_response(),
        Err(_) => unavailable(),
    }
}

async fn delete(State(s): State<ApiState>, Query(q): Query<IdQuery>) -> Response {
    let id = match bundle_id(&q) {
        Ok(id) => id,
        Err(e) => return bad(e),
    };
    let (reply, rx) = oneshot::channel();
    if s.core.send(CoreMsg::Delete { id, reply }).await.is_err() {
        return unavailable();
    }
    match rx.await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => (
            StatusCode::NOT_FOUND,
            format!("no stored bundle {} (or it is being sent right now)", q.id),
        )
            .into_response(),
        Err(_) => unavailable(),
    }
}

async fn peers(State(s): State<ApiState>) -> Response {
    ask(&s, |reply| CoreMsg::Peers { reply }).await
}

async fn metrics(State(s): State<ApiState>) -> Response {
    let (reply, rx) = oneshot::channel();
    if s.core.send(CoreMsg::Metrics { reply }).await.is_err() || rx.await.is_err() {
        return unavailable();
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.render(),
    )
        .into_response()
}

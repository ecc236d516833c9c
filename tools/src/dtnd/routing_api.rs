//! The API's routing endpoints, for `dtnctl route explain` and `dtnctl contacts`:
//!
//! - `GET /route?destination=EID[&size=BYTES][&at=TIME][&lifetime=1h]`: how the router would
//!   send such a bundle: next hop, the route and its contacts, expected arrival, the
//!   alternatives and what was rejected and why. `TIME` is a DTN time in milliseconds or
//!   `+DURATION` from now (`+90s`, `+2h`); default now. Default size 1 KiB, lifetime 1 day.
//! - `GET /contacts`: the contacts of the plan in force, with residual volume and state.
//! - `POST /contacts/reload`: read the contact plan file again (`409` when the node runs
//!   without one, `400` with the error when the new plan is invalid; the old one stays).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bundle_agent::wire::{DtnTime, Eid};
use serde::Deserialize;
use tokio::sync::oneshot;

use super::api::ApiState;
use super::core::CoreMsg;
use crate::cli_io::{dtn_now, parse_duration_ms};

/// Parameters of `GET /route`.
#[derive(Deserialize)]
pub(super) struct RouteQuery {
    destination: String,
    size: Option<u64>,
    at: Option<String>,
    lifetime: Option<String>,
}

/// A time parameter: DTN milliseconds, or `+DURATION` from `now`.
pub fn parse_time(text: &str, now: DtnTime) -> Result<DtnTime, String> {
    match text.strip_prefix('+') {
        Some(d) => parse_duration_ms(d)
            .map(|ms| DtnTime(now.0.saturating_add(ms)))
            .map_err(|e| format!("{e:#}")),
        None => text
            .parse::<u64>()
            .map(DtnTime)
            .map_err(|_| "expected DTN milliseconds or +DURATION (e.g. +90s)".to_string()),
    }
}

fn bad(msg: impl Into<String>) -> Response {
    (StatusCode::BAD_REQUEST, msg.into()).into_response()
}

fn gone() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, "node is shutting down").into_response()
}

pub(super) async fn explain(State(s): State<ApiState>, Query(q): Query<RouteQuery>) -> Response {
    let destination: Eid = match q.destination.parse() {
        Ok(e) => e,
        Err(e) => return bad(format!("destination {:?}: {e}", q.destination)),
    };
    let now = dtn_now();
    let at = match q.at.as_deref().map(|t| parse_time(t, now)).transpose() {
        Ok(at) => at,
        Err(e) => return bad(format!("at: {e}")),
    };
    let lifetime_ms = match q.lifetime.as_deref().map(parse_duration_ms).transpose() {
        Ok(l) => l.unwrap_or(86_400_000),
        Err(e) => return bad(format!("lifetime: {e:#}")),
    };
    let deadline = DtnTime(at.unwrap_or(now).0.saturating_add(lifetime_ms));
    let (reply, answer) = oneshot::channel();
    let msg = CoreMsg::Explain {
        destination,
        size: q.size.unwrap_or(1024),
        at,
        deadline,
        reply,
    };
    if s.core.send(msg).await.is_err() {
        return gone();
    }
    match answer.await {
        Ok(v) => Json(v).into_response(),
        Err(_) => gone(),
    }
}

pub(super) async fn contacts(State(s): State<ApiState>) -> Response {
    let (reply, answer) = oneshot::channel();
    if s.core.send(CoreMsg::Contacts { reply }).await.is_err() {
        return gone();
    }
    match answer.await {
        Ok(v) => Json(v).into_response(),
        Err(_) => gone(),
    }
}

pub(super) async fn reload(State(s): State<ApiState>) -> Response {
    let Some(plan) = s.plan.as_ref().map(Arc::clone) else {
        return (
            StatusCode::CONFLICT,
            "this node runs without a contact plan (start dtnd with --contact-plan FILE)",
        )
            .into_response();
    };
    match plan.reload().await {
        Ok(n) => Json(serde_json::json!({
            "path": plan.path.display().to_string(),
            "contacts": n,
        }))
        .into_response(),
        Err(e) => bad(format!("{e:#}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_absolute_or_relative() {
        assert_eq!(parse_time("5000", DtnTime(1)), Ok(DtnTime(5000)));
        assert_eq!(parse_time("+90s", DtnTime(1000)), Ok(DtnTime(91_000)));
        assert!(parse_time("soon", DtnTime(0)).is_err());
    }
}

//! WebSocket push delivery: `GET /ws?endpoint=EID` registers the endpoint and sends every
//! payload that arrives there as one binary message, oldest first, as soon as it arrives.
//! Delivery is two-phase: the core lends payloads, and a payload leaves the store only once
//! it was written to the socket (confirmed); what could not be written waits for the next
//! subscriber. A client that disconnects loses nothing it did not receive; after a crash of
//! the node it may see the last ones again (at least once, never lost).
//!
//! The core bumps a counter after each batch in which bundles were accepted; a subscriber
//! wakes on that, drains its inbox, and sleeps again: no polling.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use bundle_agent::wire::{BundleId, Eid};
use serde::Deserialize;
use tokio::sync::oneshot;

use super::api::ApiState;
use super::core::CoreMsg;

#[derive(Deserialize)]
pub(super) struct PushQuery {
    endpoint: String,
}

/// The `/ws` handler.
pub(super) async fn websocket(
    State(s): State<ApiState>,
    Query(q): Query<PushQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    let endpoint: Eid = match q.endpoint.parse() {
        Ok(e) => e,
        Err(e) => {
            return (
                axum::http::StatusCode::BAD_REQUEST,
                format!("endpoint {:?}: {e}", q.endpoint),
            )
                .into_response()
        }
    };
    // A message carries a whole payload, as large as the API accepts.
    ws.max_message_size(super::api::MAX_PAYLOAD)
        .max_frame_size(super::api::MAX_PAYLOAD)
        .on_upgrade(move |socket| push(s, endpoint, socket))
}

/// Up to this many payloads are lent per round trip to the core.
const BATCH: usize = 256;

async fn lend(s: &ApiState, endpoint: &Eid) -> Option<Vec<(BundleId, Vec<u8>)>> {
    let (reply, rx) = oneshot::channel();
    s.core
        .send(CoreMsg::Lend {
            endpoint: endpoint.clone(),
            max: BATCH,
            reply,
        })
        .await
        .ok()?;
    rx.await.ok()
}

/// Writes a lent batch to the socket and tells the core what was written. False when the
/// socket failed.
async fn write_batch(
    s: &ApiState,
    endpoint: &Eid,
    socket: &mut WebSocket,
    batch: Vec<(BundleId, Vec<u8>)>,
) -> bool {
    let mut delivered = Vec::with_capacity(batch.len());
    let mut given_back = Vec::new();
    for (id, payload) in batch {
        if given_back.is_empty() && socket.send(Message::Binary(payload.into())).await.is_ok() {
            delivered.push(id);
        } else {
            given_back.push(id);
        }
    }
    let ok = given_back.is_empty();
    let _ = s
        .core
        .send(CoreMsg::Confirm {
            endpoint: endpoint.clone(),
            delivered,
            given_back,
        })
        .await;
    ok
}

async fn push(s: ApiState, endpoint: Eid, mut socket: WebSocket) {
    if s.core
        .send(CoreMsg::Register {
            endpoint: endpoint.clone(),
        })
        .await
        .is_err()
    {
        return;
    }
    let mut arrivals = s.arrivals.clone();
    loop {
        // Drain what is waiting.
        loop {
            match lend(&s, &endpoint).await {
                Some(batch) if batch.is_empty() => break,
                Some(batch) => {
                    if !write_batch(&s, &endpoint, &mut socket, batch).await {
                        return;
                    }
                }
                None => return,
            }
        }
        tokio::select! {
            changed = arrivals.changed() => if changed.is_err() { return },
            msg = socket.recv() => match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

//! WebSocket push delivery: `GET /ws?endpoint=EID` registers the endpoint and sends every
//! payload that arrives there as one binary message, oldest first, as soon as it is stored.
//! A payload leaves the store only once it was written to the socket, so a client that
//! disconnects loses nothing that it did not receive (it may see the last one again).
//!
//! The core bumps a counter after each batch in which bundles were accepted; a subscriber
//! wakes on that, drains its inbox, and sleeps again: no polling.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use bundle_agent::wire::Eid;
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

/// Up to this many payloads are taken per round trip to the core (one store sync each).
const BATCH: usize = 256;

async fn fetch(s: &ApiState, endpoint: &Eid) -> Option<Vec<Vec<u8>>> {
    let (reply, rx) = oneshot::channel();
    s.core
        .send(CoreMsg::Fetch {
            endpoint: endpoint.clone(),
            max: BATCH,
            reply,
        })
        .await
        .ok()?;
    rx.await.ok()
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
            match fetch(&s, &endpoint).await {
                Some(batch) if batch.is_empty() => break,
                Some(batch) => {
                    for payload in batch {
                        if socket.send(Message::Binary(payload.into())).await.is_err() {
                            return;
                        }
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

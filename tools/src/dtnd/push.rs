//! WebSocket push delivery: `GET /ws?endpoint=EID` registers the endpoint and sends every
//! payload that arrives there as one binary message, oldest first, as soon as it arrives.
//! Delivery is two-phase: the core lends payloads, and a payload leaves the store only once
//! it was written to the socket (confirmed); what could not be written waits for the next
//! subscriber. A client that disconnects loses nothing it did not receive; after a crash of
//! the node it may see the last ones again (at least once, never lost).
//!
//! The subscriber keeps one request to lend it payloads at the core; the core answers it as
//! soon as something waits for the endpoint, in the same batch that received it (before the
//! store sync): no polling, and no sync on the way to the application.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use bundle_agent::wire::Eid;
use serde::Deserialize;
use tokio::sync::oneshot;

use super::api::ApiState;
use super::core::{CoreMsg, Lent};

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

/// Writes a lent batch to the socket and tells the core what was written. False when the
/// socket failed.
async fn write_batch(s: &ApiState, endpoint: &Eid, socket: &mut WebSocket, batch: Lent) -> bool {
    let mut delivered = Vec::with_capacity(batch.len());
    let mut given_back = Vec::new();
    for (id, payload) in batch {
        if given_back.is_empty() && socket.send(Message::Binary(payload)).await.is_ok() {
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

/// Parks a request for the next batch at the core; None when the core is gone.
async fn ask_to_lend(s: &ApiState, endpoint: &Eid) -> Option<oneshot::Receiver<Lent>> {
    let (reply, rx) = oneshot::channel();
    let lend = CoreMsg::Lend {
        endpoint: endpoint.clone(),
        max: BATCH,
        reply,
    };
    s.core.send(lend).await.ok().map(|()| rx)
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
    // One lend request is out at a time; the core answers it once payloads wait. The next
    // goes out as soon as a batch comes back, before that batch is written: what arrives
    // meanwhile is lent in the turn it arrives, and a bundle taken in its own turn is never
    // stored (the agent holds it until delivered).
    let mut pending: Option<oneshot::Receiver<Lent>> = None;
    loop {
        let rx = match pending.as_mut() {
            Some(rx) => rx,
            None => match ask_to_lend(&s, &endpoint).await {
                Some(rx) => pending.insert(rx),
                None => return,
            },
        };
        tokio::select! {
            batch = rx => {
                let Ok(batch) = batch else { return };
                pending = ask_to_lend(&s, &endpoint).await;
                if !write_batch(&s, &endpoint, &mut socket, batch).await {
                    break;
                }
            }
            msg = socket.recv() => match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    // Leaving with a request out: whatever answered it goes back to wait.
    if let Some(mut rx) = pending {
        rx.close();
        if let Ok(batch) = rx.try_recv() {
            let _ = s
                .core
                .send(CoreMsg::Confirm {
                    endpoint,
                    delivered: Vec::new(),
                    given_back: batch.into_iter().map(|(id, _)| id).collect(),
                })
                .await;
        }
    }
}

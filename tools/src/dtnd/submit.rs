//! WebSocket submission, for applications that send many bundles: `GET /ws/send` with the
//! query parameters of `POST /send` upgrades to a WebSocket on which every binary message is
//! one payload to send with those parameters. Each is answered, in the order sent, with a
//! text message: the bundle ID once the bundle is durable (what a `201` means on `/send`), or
//! `error: why` when it was refused (`error: store full` when the quota is reached).
//!
//! The client need not wait for one answer before sending the next: up to [`WINDOW`]
//! payloads (and [`WINDOW_BYTES`], 16 MiB) may be outstanding on one socket, beyond which
//! the node stops reading it until answers have gone out (backpressure, and a bound on
//! what one client can make it hold).
//! This saves an HTTP request per bundle and lets one client fill a whole group commit.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::stream::{FuturesOrdered, StreamExt};
use tokio::sync::oneshot;

use super::api::{submit, ApiState, SendQuery, SendSpec, MAX_PAYLOAD};

/// Most payloads outstanding (sent by the client, not yet answered) on one socket.
pub const WINDOW: usize = 1024;
/// Most payload bytes outstanding on one socket (one payload may always be, however large).
///
/// A quarter of what the agent holds unstored for bundles that leave at once
/// (`bundle_agent::agent::held`), so a few clients streaming large payloads to a link
/// that keeps up never push them into the store: with 64 MiB here, two clients streaming
/// 1 MiB payloads had the sending node store 520-670 of 1,000 bundles on their way out
/// (3.18-3.59 Gbit/s, `NODE_BENCH_WAYS=ws NODE_BENCH_ONLY=1m` of the node bench); with
/// 16 MiB none (4.07-4.50 Gbit/s). At a local socket's round trip, 16 MiB in flight is
/// still gigabytes a second for one client.
pub const WINDOW_BYTES: usize = 16 << 20;

/// The `/ws/send` handler: checks the parameters before upgrading, so a bad query is a 400.
pub(super) async fn websocket(
    State(s): State<ApiState>,
    Query(q): Query<SendQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    let spec = match SendSpec::parse(&s, &q) {
        Ok(spec) => spec,
        Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
    };
    ws.max_message_size(MAX_PAYLOAD)
        .max_frame_size(MAX_PAYLOAD)
        .on_upgrade(move |socket| stream(s, spec, socket))
}

/// One answer to come (the text, and the payload bytes it frees in the window): the bundle
/// ID, or the error already known, once the core's verdict is in.
type Answer = std::pin::Pin<Box<dyn std::future::Future<Output = (String, usize)> + Send>>;

fn answer(
    id: String,
    bytes: usize,
    verdict: Option<oneshot::Receiver<Result<(), String>>>,
) -> Answer {
    Box::pin(async move {
        let text = match verdict {
            None => id,
            Some(rx) => match rx.await {
                Ok(Ok(())) => id,
                Ok(Err(why)) => format!("error: {why}"),
                Err(_) => "error: node is shutting down".to_string(),
            },
        };
        (text, bytes)
    })
}

async fn stream(s: ApiState, spec: SendSpec, mut socket: WebSocket) {
    let mut outstanding: FuturesOrdered<Answer> = FuturesOrdered::new();
    let mut outstanding_bytes = 0usize;
    loop {
        let room = outstanding.len() < WINDOW
            && (outstanding.is_empty() || outstanding_bytes < WINDOW_BYTES);
        tokio::select! {
            // Answers first: they free the window.
            biased;
            Some((text, freed)) = outstanding.next(), if !outstanding.is_empty() => {
                outstanding_bytes = outstanding_bytes.saturating_sub(freed);
                if socket.send(Message::Text(text.into())).await.is_err() {
                    return;
                }
            }
            msg = socket.recv(), if room => match msg {
                Some(Ok(Message::Binary(payload))) => {
                    let size = payload.len();
                    let next = match spec.build(&s, &payload) {
                        Ok((bytes, id)) => {
                            drop(payload);
                            match submit(&s, bytes).await {
                                Ok(rx) => answer(id, size, Some(rx)),
                                Err(()) => return,
                            }
                        }
                        Err(e) => answer(format!("error: {e}"), size, None),
                    };
                    outstanding_bytes = outstanding_bytes.saturating_add(size);
                    outstanding.push_back(next);
                }
                Some(Ok(Message::Text(_))) => {
                    outstanding.push_back(answer(
                        "error: send payloads as binary messages".to_string(),
                        0,
                        None,
                    ));
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    // The client closed its side: the bundles it sent are still answered if it listens.
    while let Some((text, _)) = outstanding.next().await {
        if socket.send(Message::Text(text.into())).await.is_err() {
            return;
        }
    }
}

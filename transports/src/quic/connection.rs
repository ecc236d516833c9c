//! One QUIC connection as a convergence-layer session: the hello exchange, the peer's node
//! ID checked against its certificate, then a bundle per bidirectional stream in both
//! directions. It speaks the node's session interface ([`Command`] in, [`Upcall`] out), the
//! one TCPCLv4 sessions speak, so the node drives both alike.
//!
//! Limits: a bundle longer than our transfer MRU is refused while it is read, not after;
//! the bytes being read on all streams of a connection together stay under a budget (a
//! stream that would pass it is refused with "no resources" and the sender tries again
//! later); the number of streams a peer may open is QUIC's stream limit
//! ([`super::QuicConfig::max_streams`]); we send no more than the peer's transfer MRU and
//! keep no more than [`SessionConfig::max_outstanding`] bundles unacknowledged.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bundle_agent::wire::Encoded;
use bytes::Bytes;
use quinn::{Connection, ConnectionError, RecvStream, SendStream, VarInt, WriteError};
use rustls::pki_types::CertificateDer;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::hello::{Answer, Hello, MAX_ANSWER, MAX_HELLO};
use crate::tcpcl::connection::{Command, Upcall};
use crate::tcpcl::tls::node_ids_of;
use crate::tcpcl::{
    CloseReason, Negotiated, NodeIdAuth, RefuseReason, SendError, SessionConfig, TermReason,
};

/// A connection we opened, and whether its hello may go as 0-RTT early data.
pub struct Connected {
    /// The connection.
    pub conn: Connection,
    /// Present when the connection resumed a session and may send early data: resolves to
    /// whether the peer accepted it.
    pub early: Option<quinn::ZeroRttAccepted>,
}

impl std::fmt::Debug for Connected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connected")
            .field("peer", &self.conn.remote_address())
            .field("early", &self.early.is_some())
            .finish()
    }
}

/// Opens a connection to `addr` on `endpoint`, in 0-RTT when a session ticket for it is kept.
pub async fn connect(endpoint: &quinn::Endpoint, addr: SocketAddr) -> Result<Connected, String> {
    let connecting = endpoint
        .connect(addr, &addr.ip().to_string())
        .map_err(|e| format!("QUIC connect to {addr}: {e}"))?;
    match connecting.into_0rtt() {
        Ok((conn, accepted)) => Ok(Connected {
            conn,
            early: Some(accepted),
        }),
        Err(connecting) => Ok(Connected {
            conn: connecting
                .await
                .map_err(|e| format!("QUIC connect to {addr}: {e}"))?,
            early: None,
        }),
    }
}

/// What a connection is run with.
#[derive(Debug, Clone)]
pub struct QuicSession {
    /// The node's session limits and node ID (shared with TCPCLv4).
    pub session: SessionConfig,
    /// True when certificates are verified ([`super::QuicCrypto::authenticated`]).
    pub authenticated: bool,
    /// The keepalive interval, reported in [`Negotiated::keepalive_secs`].
    pub keepalive: Duration,
}

/// Bytes being read on one connection's streams at once, at most: enough for one transfer
/// of the largest size we accept, and never less than 64 MiB nor more than 1 GiB.
fn read_budget(transfer_mru: u64) -> u64 {
    transfer_mru.clamp(64 << 20, 1 << 30)
}

/// How a stream's task ended.
enum Done {
    Sent {
        id: u64,
        result: Result<(), RefuseReason>,
    },
    Received {
        id: u64,
        bundle: Result<Vec<u8>, String>,
        answer: SendStream,
    },
    Answered,
}

/// Runs `conn` until it closes; returns why.
pub async fn run_connection(
    conn: Connection,
    early: Option<quinn::ZeroRttAccepted>,
    setup: QuicSession,
    mut commands: mpsc::Receiver<Command>,
    upcalls: mpsc::Sender<Upcall>,
) -> CloseReason {
    let cfg = &setup.session;
    let hello =
        match tokio::time::timeout(cfg.setup_timeout, exchange_hellos(&conn, early, cfg)).await {
            Ok(Ok(h)) => h,
            Ok(Err(why)) => return fail(&conn, &upcalls, &why).await,
            Err(_) => return fail(&conn, &upcalls, "no hello before the setup timeout").await,
        };
    let node_id_auth = match authenticate(&conn, &hello, &setup) {
        Ok(a) => a,
        Err(why) => return fail(&conn, &upcalls, &why).await,
    };
    let negotiated = Negotiated {
        peer_node_id: hello.node_id.clone(),
        keepalive_secs: u16::try_from(setup.keepalive.as_secs()).unwrap_or(u16::MAX),
        send_segment: 0,
        peer_transfer_mru: hello.transfer_mru,
        tls: true,
        node_id_auth,
    };
    if upcalls.send(Upcall::Established(negotiated)).await.is_err() {
        conn.close(VarInt::from(TermReason::Unknown.code()), b"");
        return CloseReason::ConnectionLost;
    }

    let budget = Arc::new(AtomicU64::new(read_budget(cfg.transfer_mru)));
    let mut tasks: JoinSet<Done> = JoinSet::new();
    let mut answers: HashMap<u64, SendStream> = HashMap::new();
    let mut outstanding = 0usize;
    let (mut next_tx, mut next_rx) = (1u64, 1u64);
    loop {
        tokio::select! {
            cmd = commands.recv() => match cmd {
                None => return close(&conn, &upcalls, TermReason::Unknown).await,
                Some(Command::Close(reason)) => return close(&conn, &upcalls, reason).await,
                Some(Command::Send { tag, bundle }) => {
                    let len = bundle.len() as u64;
                    let result = if len > hello.transfer_mru {
                        Err(SendError::TooLarge { len, mru: hello.transfer_mru })
                    } else if outstanding >= cfg.max_outstanding {
                        Err(SendError::Busy(outstanding))
                    } else {
                        let id = next_tx;
                        next_tx += 1;
                        outstanding += 1;
                        tasks.spawn(transmit(conn.clone(), id, bundle));
                        Ok(id)
                    };
                    if upcalls.send(Upcall::Queued { tag, result }).await.is_err() {
                        return close(&conn, &upcalls, TermReason::Unknown).await;
                    }
                }
                Some(Command::Accept(id)) => {
                    if let Some(stream) = answers.remove(&id) {
                        tasks.spawn(answer(stream, Answer::Accepted));
                    }
                }
                Some(Command::Refuse(id, reason)) => {
                    if let Some(stream) = answers.remove(&id) {
                        tasks.spawn(answer(stream, Answer::Refused(reason)));
                    }
                }
            },
            incoming = conn.accept_bi() => match incoming {
                Ok((send, recv)) => {
                    let id = next_rx;
                    next_rx += 1;
                    tasks.spawn(receive(id, send, recv, cfg.transfer_mru, budget.clone()));
                }
                Err(e) => {
                    let reason = closed_by(e);
                    let _ = upcalls.send(Upcall::Closed(reason.clone())).await;
                    return reason;
                }
            },
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                let up = match done {
                    Ok(Done::Sent { id, result }) => {
                        outstanding = outstanding.saturating_sub(1);
                        Some(match result {
                            Ok(()) => Upcall::Acked(id),
                            Err(reason) => Upcall::Failed(id, reason),
                        })
                    }
                    Ok(Done::Received { id, bundle: Ok(bundle), answer }) => {
                        answers.insert(id, answer);
                        Some(Upcall::Received { transfer_id: id, bundle })
                    }
                    Ok(Done::Received { id, bundle: Err(why), .. }) => {
                        tracing::debug!(transfer = id, "QUIC bundle stream dropped: {why}");
                        None
                    }
                    Ok(Done::Answered) => None,
                    Err(e) => {
                        tracing::warn!("QUIC stream task ended abnormally: {e}");
                        None
                    }
                };
                if let Some(up) = up {
                    if upcalls.send(up).await.is_err() {
                        return close(&conn, &upcalls, TermReason::Unknown).await;
                    }
                }
            }
        }
    }
}

/// Sends our hello and reads the peer's.
async fn exchange_hellos(
    conn: &Connection,
    early: Option<quinn::ZeroRttAccepted>,
    cfg: &SessionConfig,
) -> Result<Hello, String> {
    let ours = Hello {
        node_id: cfg.node_id.clone(),
        transfer_mru: cfg.transfer_mru,
    }
    .encode();
    let send = async {
        send_hello(conn, &ours).await?;
        if let Some(accepted) = early {
            if !accepted.await {
                // Early data was refused and with it our hello: send it again, now in 1-RTT.
                send_hello(conn, &ours).await?;
            }
        }
        Ok::<(), String>(())
    };
    let recv = async {
        let mut stream = conn.accept_uni().await.map_err(|e| e.to_string())?;
        let bytes = stream
            .read_to_end(MAX_HELLO)
            .await
            .map_err(|e| format!("hello: {e}"))?;
        Hello::decode(&bytes).map_err(|e| e.to_string())
    };
    let (sent, theirs) = tokio::join!(send, recv);
    sent?;
    theirs
}

async fn send_hello(conn: &Connection, hello: &[u8]) -> Result<(), String> {
    let mut s = conn.open_uni().await.map_err(|e| e.to_string())?;
    s.write_all(hello).await.map_err(|e| e.to_string())?;
    s.finish().map_err(|e| e.to_string())
}

/// The NODE-ID check of RFC 9174 §4.4.3, applied to QUIC's certificates.
fn authenticate(
    conn: &Connection,
    hello: &Hello,
    setup: &QuicSession,
) -> Result<NodeIdAuth, String> {
    if !setup.authenticated {
        return Ok(NodeIdAuth::NoTls);
    }
    let ids = conn
        .peer_identity()
        .and_then(|any| any.downcast::<Vec<CertificateDer<'static>>>().ok())
        .and_then(|certs| certs.first().map(|leaf| node_ids_of(leaf.as_ref())))
        .unwrap_or_default();
    if ids.is_empty() {
        if setup.session.require_node_id_auth {
            return Err(format!(
                "peer {} has no NODE-ID in its certificate",
                hello.node_id
            ));
        }
        return Ok(NodeIdAuth::Absent);
    }
    if ids.contains(&hello.node_id) {
        Ok(NodeIdAuth::Success)
    } else {
        Err(format!(
            "peer says it is {} but its certificate names {}",
            hello.node_id,
            ids.join(", ")
        ))
    }
}

/// Ends a connection that failed to set up.
async fn fail(conn: &Connection, upcalls: &mpsc::Sender<Upcall>, why: &str) -> CloseReason {
    tracing::warn!(peer = %conn.remote_address(), "QUIC session refused: {why}");
    conn.close(
        VarInt::from(TermReason::ContactFailure.code()),
        why.as_bytes(),
    );
    let reason = CloseReason::TlsFailed(why.to_owned());
    let _ = upcalls.send(Upcall::Closed(reason.clone())).await;
    reason
}

/// Ends the connection on our side with `reason`.
async fn close(
    conn: &Connection,
    upcalls: &mpsc::Sender<Upcall>,
    reason: TermReason,
) -> CloseReason {
    conn.close(VarInt::from(reason.code()), b"");
    let why = CloseReason::Terminated {
        reason,
        by_peer: false,
    };
    let _ = upcalls.send(Upcall::Closed(why.clone())).await;
    why
}

/// Why the connection ended, from the error that ended it.
fn closed_by(e: ConnectionError) -> CloseReason {
    match e {
        ConnectionError::ApplicationClosed(c) => CloseReason::Terminated {
            reason: TermReason::from_code(u8::try_from(c.error_code.into_inner()).unwrap_or(0)),
            by_peer: true,
        },
        _ => CloseReason::ConnectionLost,
    }
}

/// Sends one bundle on a new stream and waits for the answer.
async fn transmit(conn: Connection, id: u64, bundle: Encoded) -> Done {
    let result = async {
        let (mut send, mut recv) = conn
            .open_bi()
            .await
            .map_err(|_| RefuseReason::SessionTerminating)?;
        for part in bundle.parts() {
            send.write_chunk(part.clone()).await.map_err(refusal)?;
        }
        send.finish()
            .map_err(|_| RefuseReason::SessionTerminating)?;
        let answer = recv
            .read_to_end(MAX_ANSWER)
            .await
            .map_err(|_| RefuseReason::SessionTerminating)?;
        match Answer::decode(&answer) {
            Some(Answer::Accepted) => Ok(()),
            Some(Answer::Refused(r)) => Err(r),
            None => Err(RefuseReason::Unknown),
        }
    }
    .await;
    Done::Sent { id, result }
}

/// A write error as the refusal it stands for: a stream the peer stopped carries its
/// refusal code.
fn refusal(e: WriteError) -> RefuseReason {
    match e {
        WriteError::Stopped(code) => {
            RefuseReason::from_code(u8::try_from(code.into_inner()).unwrap_or(0))
        }
        _ => RefuseReason::SessionTerminating,
    }
}

/// Reads one bundle from a stream the peer opened, within `limit` bytes and the connection's
/// read budget.
async fn receive(
    id: u64,
    mut answer: SendStream,
    mut recv: RecvStream,
    limit: u64,
    budget: Arc<AtomicU64>,
) -> Done {
    // The stream's pieces as quinn hands them over (no copy), joined once at the end into
    // a buffer of the exact size: appending each to a growing vector copied a 1 MiB bundle
    // about three times over.
    let mut pieces: Vec<Bytes> = Vec::new();
    let mut taken = 0u64;
    let outcome = loop {
        match recv.read_chunk(usize::MAX, true).await {
            Ok(Some(chunk)) => {
                let n = chunk.bytes.len() as u64;
                if taken + n > limit {
                    break Err((
                        RefuseReason::NotAcceptable,
                        format!("longer than {limit} bytes"),
                    ));
                }
                let took = budget.fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                    left.checked_sub(n)
                });
                if took.is_err() {
                    break Err((
                        RefuseReason::NoResources,
                        "read budget exhausted".to_owned(),
                    ));
                }
                taken += n;
                pieces.push(chunk.bytes);
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err((RefuseReason::Unknown, e.to_string())),
        }
    };
    let bundle = match outcome {
        Ok(()) => Ok(join(&pieces, taken)),
        Err(e) => Err(e),
    };
    drop(pieces);
    budget.fetch_add(taken, Ordering::AcqRel);
    match bundle {
        Ok(bundle) => Done::Received {
            id,
            bundle: Ok(bundle),
            answer,
        },
        Err((reason, why)) => {
            let _ = recv.stop(VarInt::from(reason.code()));
            let _ = answer.write_all(&Answer::Refused(reason).encode()).await;
            let _ = answer.finish();
            Done::Received {
                id,
                bundle: Err(why),
                answer,
            }
        }
    }
}

/// `pieces` of `len` bytes in all, one after the other in one buffer.
fn join(pieces: &[Bytes], len: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    for p in pieces {
        out.extend_from_slice(p);
    }
    out
}

/// Writes our answer on a received bundle's stream.
async fn answer(mut stream: SendStream, a: Answer) -> Done {
    let _ = stream.write_all(&a.encode()).await;
    let _ = stream.finish();
    Done::Answered
}

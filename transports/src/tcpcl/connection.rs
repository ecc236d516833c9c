//! The tokio edge of a TCPCLv4 session: it owns the TCP stream, feeds the sans-IO
//! [`Session`] with received bytes and the time, writes what it asks to send, and talks to
//! the rest of the node over two channels: [`Command`]s in, [`Upcall`]s out.
//!
//! TLS is not wired in yet: sessions run with `can_tls = false`, and a configuration that
//! requires TLS is refused before connecting.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::codes::{RefuseReason, TermReason};
use super::session::{
    CloseReason, Negotiated, Role, SendError, Session, SessionConfig, SessionEvent,
};

/// What the node asks of a session.
#[derive(Debug)]
pub enum Command {
    /// Send a bundle; the result (transfer ID or refusal) comes back as an upcall.
    Send {
        /// The caller's tag, echoed in the upcall.
        tag: u64,
        /// The bundle.
        bundle: Vec<u8>,
    },
    /// The bundle of this transfer is durable: acknowledge it.
    Accept(u64),
    /// Refuse the bundle of this transfer.
    Refuse(u64, RefuseReason),
    /// End the session.
    Close(TermReason),
}

/// What a session tells the node.
#[derive(Debug, PartialEq, Eq)]
pub enum Upcall {
    /// The session is up.
    Established(Negotiated),
    /// A queued bundle got this transfer ID, or could not be sent.
    Queued {
        /// The caller's tag.
        tag: u64,
        /// The transfer ID, or why it was refused.
        result: Result<u64, SendError>,
    },
    /// A bundle arrived; answer with `Command::Accept` or `Command::Refuse`.
    Received {
        /// Transfer ID.
        transfer_id: u64,
        /// The bundle.
        bundle: Vec<u8>,
    },
    /// The peer acknowledged one of our bundles.
    Acked(u64),
    /// One of our bundles failed.
    Failed(u64, RefuseReason),
    /// The session ended.
    Closed(CloseReason),
}

/// Runs one session on `stream` until it closes. Returns why it closed.
pub async fn run_session(
    mut stream: TcpStream,
    mut cfg: SessionConfig,
    role: Role,
    mut commands: mpsc::Receiver<Command>,
    upcalls: mpsc::Sender<Upcall>,
) -> CloseReason {
    let _ = stream.set_nodelay(true);
    cfg.can_tls = false;
    let start = Instant::now();
    let now = || start.elapsed();
    let mut session = Session::new(cfg, role);
    session.start(now());
    let mut buf = vec![0u8; 64 * 1024];
    let mut commands_open = true;
    loop {
        // Drain what the session has to say.
        while let Some(event) = session.poll_event() {
            let up = match event {
                SessionEvent::Transmit(bytes) => {
                    if stream.write_all(&bytes).await.is_err() {
                        session.on_connection_lost();
                    }
                    continue;
                }
                SessionEvent::StartTls { .. } => {
                    session.close(now(), TermReason::ContactFailure);
                    continue;
                }
                SessionEvent::Established(n) => Upcall::Established(n),
                SessionEvent::Received {
                    transfer_id,
                    bundle,
                } => Upcall::Received {
                    transfer_id,
                    bundle,
                },
                SessionEvent::Acked { transfer_id } => Upcall::Acked(transfer_id),
                SessionEvent::Failed {
                    transfer_id,
                    reason,
                } => Upcall::Failed(transfer_id, reason),
                SessionEvent::Rejected { .. } => continue,
                SessionEvent::Closed(reason) => {
                    let _ = stream.shutdown().await;
                    let _ = upcalls.send(Upcall::Closed(reason.clone())).await;
                    return reason;
                }
            };
            if upcalls.send(up).await.is_err() {
                session.close(now(), TermReason::Unknown);
            }
        }
        let deadline = session.next_timeout().map(|d| start + d);
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => session.on_connection_lost(),
                Ok(n) => session.on_bytes(now(), buf.get(..n).unwrap_or(&[])),
            },
            cmd = commands.recv(), if commands_open => match cmd {
                Some(Command::Send { tag, bundle }) => {
                    let result = session.send(now(), bundle);
                    if upcalls.send(Upcall::Queued { tag, result }).await.is_err() {
                        session.close(now(), TermReason::Unknown);
                    }
                }
                Some(Command::Accept(id)) => session.accept(now(), id),
                Some(Command::Refuse(id, reason)) => session.refuse(now(), id, reason),
                Some(Command::Close(reason)) => session.close(now(), reason),
                None => commands_open = false,
            },
            () = sleep => session.on_timeout(now()),
        }
    }
}

/// Connects to `addr` and runs an active session there.
pub async fn connect(
    addr: std::net::SocketAddr,
    cfg: SessionConfig,
    connect_timeout: Duration,
    commands: mpsc::Receiver<Command>,
    upcalls: mpsc::Sender<Upcall>,
) -> std::io::Result<CloseReason> {
    let stream = tokio::time::timeout(connect_timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
    Ok(run_session(stream, cfg, Role::Active, commands, upcalls).await)
}

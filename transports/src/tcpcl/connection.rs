//! The tokio edge of a TCPCLv4 session: it owns the TCP stream, feeds the sans-IO
//! [`Session`] with received bytes and the time, writes what it asks to send, and talks to
//! the rest of the node over two channels: [`Command`]s in, [`Upcall`]s out.
//!
//! The session starts on the plain TCP stream; when both contact headers offer TLS it pauses,
//! the edge runs the rustls handshake ([`super::tls`]) on the same connection, tells the session
//! the peer certificate's NODE-IDs, and carries on over the encrypted stream.

use std::time::Duration;

use std::sync::Arc;

use bundle_agent::wire::Encoded;
use bytes::Bytes;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::codes::{RefuseReason, TermReason};
use super::session::{
    CloseReason, Negotiated, Role, SendError, Session, SessionConfig, SessionEvent,
};
use super::tls::{peer_node_ids, PrefixStream, TlsContext};

/// What the node asks of a session.
#[derive(Debug)]
pub enum Command {
    /// Send a bundle; the result (transfer ID or refusal) comes back as an upcall.
    Send {
        /// The caller's tag, echoed in the upcall.
        tag: u64,
        /// The bundle: one buffer (`Vec<u8>` converts) or shared pieces, sent as they are.
        bundle: Encoded,
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

/// TLS for a session: the context, and the name the active side dialled (used only when the
/// context checks host names, RFC 9174 §4.4.3).
#[derive(Debug, Clone)]
pub struct SessionTls {
    /// Certificates, keys and trust.
    pub context: Arc<TlsContext>,
    /// The peer's name or address as dialled.
    pub server_name: ServerName<'static>,
}

/// How one phase of a session ended.
enum Phase {
    /// The session closed for this reason.
    Closed(CloseReason),
    /// The session asked for TLS; these bytes arrived after the contact header.
    StartTls(Vec<u8>),
}

/// The session, its clock and its channels: what carries over from the plain phase to the
/// TLS phase of one connection.
struct Driver {
    session: Session,
    start: Instant,
    commands: mpsc::Receiver<Command>,
    commands_open: bool,
    upcalls: mpsc::Sender<Upcall>,
    buf: Vec<u8>,
}

impl Driver {
    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    /// Feeds the session from `stream` until it closes or asks for TLS.
    async fn run<S: AsyncRead + AsyncWrite + Unpin>(&mut self, stream: &mut S) -> Phase {
        // Messages the session wants sent, written together with one vectored write.
        let mut out: Vec<Bytes> = Vec::new();
        loop {
            while let Some(event) = self.session.poll_event() {
                if let SessionEvent::Transmit(bytes) = event {
                    out.push(bytes);
                    continue;
                }
                // Everything queued goes out before the session's next step is acted on.
                if write_all_vectored(stream, &mut out).await.is_err() {
                    self.session.on_connection_lost();
                }
                let up = match event {
                    SessionEvent::Transmit(_) => continue,
                    SessionEvent::StartTls { leftover } => {
                        if stream.flush().await.is_err() {
                            self.session.on_connection_lost();
                            continue;
                        }
                        return Phase::StartTls(leftover);
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
                        let _ = self.upcalls.send(Upcall::Closed(reason.clone())).await;
                        return Phase::Closed(reason);
                    }
                };
                if self.upcalls.send(up).await.is_err() {
                    let now = self.now();
                    self.session.close(now, TermReason::Unknown);
                }
            }
            if !out.is_empty() {
                if write_all_vectored(stream, &mut out).await.is_err() {
                    self.session.on_connection_lost();
                }
                continue;
            }
            let deadline = self.session.next_timeout().map(|d| self.start + d);
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending::<()>().await,
                }
            };
            // A large segment's data is read straight into its transfer.
            let mut direct = self.session.lend_data_buffer(DIRECT_READ_FROM);
            let woke = tokio::select! {
                read = read_some(stream, &mut self.buf, direct.as_mut()) => Woke::Read(read),
                cmd = self.commands.recv(), if self.commands_open => Woke::Command(cmd),
                () = sleep => Woke::Timeout,
            };
            let now = self.now();
            // The lent buffer goes back first, with what was read into it (if anything).
            if let Some((data, _)) = direct {
                let read = match &woke {
                    Woke::Read(Ok(Read::Direct(n))) => *n,
                    _ => 0,
                };
                self.session.data_read(now, data, read);
            }
            match woke {
                Woke::Read(Ok(Read::Direct(0) | Read::Buffered(0)) | Err(_)) => {
                    self.session.on_connection_lost();
                }
                Woke::Read(Ok(Read::Direct(_))) => {} // handed over just above
                Woke::Read(Ok(Read::Buffered(n))) => {
                    self.session.on_bytes(now, self.buf.get(..n).unwrap_or(&[]));
                }
                Woke::Command(cmd) => match cmd {
                    Some(Command::Send { tag, bundle }) => {
                        let result = self.session.send(now, bundle);
                        if self
                            .upcalls
                            .send(Upcall::Queued { tag, result })
                            .await
                            .is_err()
                        {
                            self.session.close(now, TermReason::Unknown);
                        }
                    }
                    Some(Command::Accept(id)) => self.session.accept(now, id),
                    Some(Command::Refuse(id, reason)) => self.session.refuse(now, id, reason),
                    Some(Command::Close(reason)) => self.session.close(now, reason),
                    None => self.commands_open = false,
                },
                Woke::Timeout => self.session.on_timeout(now),
            }
        }
    }

    /// Ends a session whose TLS handshake failed: the peer is told nothing more (the
    /// connection is unusable), the node gets the failures and the close.
    async fn tls_failed(&mut self, why: String) -> CloseReason {
        self.session.on_connection_lost();
        while let Some(event) = self.session.poll_event() {
            if let SessionEvent::Failed {
                transfer_id,
                reason,
            } = event
            {
                let _ = self.upcalls.send(Upcall::Failed(transfer_id, reason)).await;
            }
        }
        let reason = CloseReason::TlsFailed(why);
        let _ = self.upcalls.send(Upcall::Closed(reason.clone())).await;
        reason
    }
}

/// Bytes read from the connection at most per read: large enough that a 1 MiB segment takes
/// a few reads, not dozens.
const READ_BUFFER: usize = 256 << 10;

/// Segment data still due from which it is read straight into its transfer; a shorter
/// tail is read into the read buffer with the messages after it, in one system call.
const DIRECT_READ_FROM: usize = 64 << 10;

/// What woke the session's loop.
enum Woke {
    Read(std::io::Result<Read>),
    Command(Option<Command>),
    Timeout,
}

/// Where a read put its bytes.
enum Read {
    /// Into the session's transfer (segment data); 0 at end of stream.
    Direct(usize),
    /// Into the read buffer; 0 at end of stream.
    Buffered(usize),
}

/// Reads once: into `direct`'s buffer, at most its due count, when there is one, else
/// into `buf`. Cancel-safe (a read that did not complete took nothing).
async fn read_some<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut [u8],
    direct: Option<&mut (Vec<u8>, usize)>,
) -> std::io::Result<Read> {
    match direct {
        Some((data, due)) => {
            let mut room = bytes::BufMut::limit(&mut *data, (*due).min(READ_BUFFER * 4));
            stream.read_buf(&mut room).await.map(Read::Direct)
        }
        None => stream.read(buf).await.map(Read::Buffered),
    }
}

/// Writes every buffer of `bufs`, in order, with as few vectored writes as the stream allows,
/// and empties `bufs` (also on error: the connection is then unusable anyway).
async fn write_all_vectored<S: AsyncWrite + Unpin>(
    stream: &mut S,
    bufs: &mut Vec<Bytes>,
) -> std::io::Result<()> {
    let result = write_slices(stream, bufs).await;
    bufs.clear();
    result
}

async fn write_slices<S: AsyncWrite + Unpin>(
    stream: &mut S,
    bufs: &[Bytes],
) -> std::io::Result<()> {
    let mut slices: Vec<std::io::IoSlice<'_>> =
        bufs.iter().map(|b| std::io::IoSlice::new(b)).collect();
    let mut rest: &mut [std::io::IoSlice<'_>] = slices.as_mut_slice();
    while !rest.is_empty() {
        let n = stream.write_vectored(rest).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        std::io::IoSlice::advance_slices(&mut rest, n);
    }
    Ok(())
}

/// Runs one session on `stream` until it closes. Returns why it closed. With `tls`, the
/// session offers TLS in its contact header and runs the handshake when both sides can
/// (RFC 9174 §4.2, §4.4); without it, it never offers TLS.
pub async fn run_session(
    mut stream: TcpStream,
    mut cfg: SessionConfig,
    role: Role,
    tls: Option<SessionTls>,
    commands: mpsc::Receiver<Command>,
    upcalls: mpsc::Sender<Upcall>,
) -> CloseReason {
    let _ = stream.set_nodelay(true);
    cfg.can_tls = tls.is_some();
    if tls.is_none() && cfg.require_tls {
        let reason = CloseReason::TlsFailed("TLS is required but not configured".into());
        let _ = upcalls.send(Upcall::Closed(reason.clone())).await;
        return reason;
    }
    let setup_timeout = cfg.setup_timeout;
    let mut d = Driver {
        session: Session::new(cfg, role),
        start: Instant::now(),
        commands,
        commands_open: true,
        upcalls,
        buf: vec![0u8; READ_BUFFER],
    };
    let now = d.now();
    d.session.start(now);
    let leftover = match d.run(&mut stream).await {
        Phase::Closed(reason) => return reason,
        Phase::StartTls(leftover) => leftover,
    };
    let Some(tls) = tls else {
        // Unreachable: the session asks for TLS only when we offered it.
        return d
            .tls_failed("TLS requested but not configured".into())
            .await;
    };
    let stream = PrefixStream::new(leftover, stream);
    let handshake = async {
        match role {
            Role::Active => tls.context.connect(tls.server_name.clone(), stream).await,
            Role::Passive => tls.context.accept(stream).await,
        }
    };
    let mut stream = match tokio::time::timeout(setup_timeout, handshake).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return d.tls_failed(format!("TLS handshake: {e}")).await,
        Err(_) => return d.tls_failed("TLS handshake timed out".into()).await,
    };
    let now = d.now();
    d.session.on_tls_established(now, peer_node_ids(&stream));
    match d.run(&mut stream).await {
        Phase::Closed(reason) => reason,
        Phase::StartTls(_) => d.tls_failed("TLS requested twice".into()).await,
    }
}

/// Connects to `addr` and runs an active session there.
pub async fn connect(
    addr: std::net::SocketAddr,
    cfg: SessionConfig,
    tls: Option<SessionTls>,
    connect_timeout: Duration,
    commands: mpsc::Receiver<Command>,
    upcalls: mpsc::Sender<Upcall>,
) -> std::io::Result<CloseReason> {
    let stream = tokio::time::timeout(connect_timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
    Ok(run_session(stream, cfg, Role::Active, tls, commands, upcalls).await)
}

//! Session links (TCPCLv4 and QUIC): the listeners that accept peers, and the peers `dtnd`
//! keeps a session with, reconnecting after a session ends. Both kinds of session speak the
//! same commands and upcalls, so the core drives them alike; only how a session is opened
//! differs ([`Dial`]).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bundle_agent::agent::LinkId;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use transports::quic::QuicSession;
use transports::tcpcl::connection::{run_session, Command, SessionTls, Upcall};
use transports::tcpcl::tls::TlsContext;
use transports::tcpcl::{Role, SessionConfig};

use super::core::CoreMsg;

/// Hands out link numbers.
#[derive(Debug, Clone, Default)]
pub struct LinkIds(Arc<AtomicU64>);

impl LinkIds {
    /// The next unused link number.
    pub fn next(&self) -> LinkId {
        self.0.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// What every TCPCL session of this node is set up with.
#[derive(Debug, Clone)]
pub struct TcpclSetup {
    /// Session parameters.
    pub cfg: SessionConfig,
    /// TLS material, when the node has it.
    pub tls: Option<Arc<TlsContext>>,
}

impl TcpclSetup {
    fn tls_for(&self, addr: SocketAddr) -> Option<SessionTls> {
        self.tls.as_ref().map(|context| SessionTls {
            context: context.clone(),
            server_name: addr.ip().into(),
        })
    }
}

/// Room in a session's command queue: the agent's window of transmissions per link
/// ([`bundle_agent::agent::LINK_WINDOW`]) plus acknowledgements of the transfers received and
/// not yet answered, with margin. The core never waits on this queue.
const SESSION_COMMANDS: usize = 4096;

/// What every QUIC connection of this node is set up with: the endpoint (one UDP socket for
/// all peers, both ways) and the session limits.
#[derive(Debug, Clone)]
pub struct QuicSetup {
    /// The endpoint.
    pub endpoint: transports::quic::quinn::Endpoint,
    /// Limits, node ID and authentication.
    pub session: QuicSession,
}

/// How a peer is reached.
#[derive(Debug, Clone)]
pub enum Dial {
    /// Over TCPCLv4.
    Tcpcl(TcpclSetup),
    /// Over QUIC.
    Quic(QuicSetup),
}

impl Dial {
    /// The convergence layer's name, as `/peers` reports it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Tcpcl(_) => "tcpcl",
            Self::Quic(_) => "quic",
        }
    }

    /// Connects once and runs the session until it ends; `Err` when no connection was made.
    /// A connection made after `stopped` turned true is dropped unused.
    async fn once(
        &self,
        addr: SocketAddr,
        ids: &LinkIds,
        core: &mpsc::Sender<CoreMsg>,
        stopped: impl Fn() -> bool,
    ) -> Result<(), String> {
        match self {
            Self::Tcpcl(setup) => {
                let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
                if stopped() {
                    return Ok(());
                }
                let link = ids.next();
                tracing::info!(link, %addr, "TCPCL session to peer");
                session(
                    stream,
                    setup.cfg.clone(),
                    setup.tls_for(addr),
                    Role::Active,
                    link,
                    core.clone(),
                )
                .await;
            }
            Self::Quic(setup) => {
                let c = transports::quic::connect(&setup.endpoint, addr).await?;
                if stopped() {
                    c.conn.close(0u32.into(), b"");
                    return Ok(());
                }
                let link = ids.next();
                tracing::info!(link, %addr, zero_rtt = c.early.is_some(), "QUIC connection to peer");
                quic_session(
                    c.conn,
                    c.early,
                    setup.session.clone(),
                    true,
                    link,
                    core.clone(),
                )
                .await;
            }
        }
        Ok(())
    }
}

/// Tells the core of a new session, relays its upcalls while `run` drives it, and returns
/// when it has ended.
async fn relay<F>(
    link: LinkId,
    addr: SocketAddr,
    outbound: bool,
    cl: &'static str,
    core: mpsc::Sender<CoreMsg>,
    run: impl FnOnce(mpsc::Receiver<Command>, mpsc::Sender<Upcall>) -> F,
) where
    F: std::future::Future<Output = transports::tcpcl::CloseReason>,
{
    let (cmd_tx, cmd_rx) = mpsc::channel(SESSION_COMMANDS);
    let (up_tx, mut up_rx) = mpsc::channel(256);
    if core
        .send(CoreMsg::SessionUp {
            link,
            commands: cmd_tx,
            addr,
            outbound,
            cl,
        })
        .await
        .is_err()
    {
        return;
    }
    let relay = {
        let core = core.clone();
        tokio::spawn(async move {
            while let Some(up) = up_rx.recv().await {
                let closed = matches!(up, Upcall::Closed(_));
                if core.send(CoreMsg::Session { link, up }).await.is_err() || closed {
                    break;
                }
            }
        })
    };
    let reason = run(cmd_rx, up_tx).await;
    tracing::info!(link, cl, ?reason, "session closed");
    let _ = relay.await;
}

/// Runs one QUIC connection as a session of the node.
async fn quic_session(
    conn: transports::quic::quinn::Connection,
    early: Option<transports::quic::quinn::ZeroRttAccepted>,
    setup: QuicSession,
    outbound: bool,
    link: LinkId,
    core: mpsc::Sender<CoreMsg>,
) {
    let addr = conn.remote_address();
    relay(link, addr, outbound, "quic", core, |commands, upcalls| {
        transports::quic::run_connection(conn, early, setup, commands, upcalls)
    })
    .await;
}

/// Accepts QUIC connections until the endpoint closes.
pub async fn listen_quic(setup: QuicSetup, ids: LinkIds, core: mpsc::Sender<CoreMsg>) {
    while let Some(incoming) = setup.endpoint.accept().await {
        let (session, ids, core) = (setup.session.clone(), ids.clone(), core.clone());
        tokio::spawn(async move {
            let from = incoming.remote_address();
            match incoming.await {
                Ok(conn) => {
                    let link = ids.next();
                    tracing::info!(link, %from, "QUIC connection accepted");
                    quic_session(conn, None, session, false, link, core).await;
                }
                Err(e) => tracing::info!(%from, "QUIC handshake failed: {e}"),
            }
        });
    }
}

/// Runs one TCPCL session on `stream` and relays its upcalls to the core.
async fn session(
    stream: TcpStream,
    cfg: SessionConfig,
    tls: Option<SessionTls>,
    role: Role,
    link: LinkId,
    core: mpsc::Sender<CoreMsg>,
) {
    let Ok(addr) = stream.peer_addr() else {
        return;
    };
    relay(
        link,
        addr,
        role == Role::Active,
        "tcpcl",
        core,
        |commands, upcalls| run_session(stream, cfg, role, tls, commands, upcalls),
    )
    .await;
}

/// Accepts TCPCLv4 sessions until the listener fails.
pub async fn listen(
    listener: TcpListener,
    setup: TcpclSetup,
    ids: LinkIds,
    core: mpsc::Sender<CoreMsg>,
) {
    loop {
        match listener.accept().await {
            Ok((stream, addr)) => {
                let link = ids.next();
                tracing::info!(link, %addr, "TCPCL session accepted");
                tokio::spawn(session(
                    stream,
                    setup.cfg.clone(),
                    setup.tls_for(addr),
                    Role::Passive,
                    link,
                    core.clone(),
                ));
            }
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Keeps a session with a peer, reconnecting with backoff: for ever for a static peer, or
/// until `stop` turns true for a scheduled contact (the core closes the session itself).
pub async fn keep_peer(
    addr: SocketAddr,
    dial: Dial,
    ids: LinkIds,
    core: mpsc::Sender<CoreMsg>,
    mut stop: Option<tokio::sync::watch::Receiver<bool>>,
) {
    let stopped = |stop: &Option<tokio::sync::watch::Receiver<bool>>| {
        stop.as_ref().is_some_and(|s| *s.borrow())
    };
    let mut backoff = Duration::from_millis(200);
    loop {
        if stopped(&stop) {
            return;
        }
        match dial.once(addr, &ids, &core, || stopped(&stop)).await {
            Ok(()) => backoff = Duration::from_millis(200),
            Err(e) => tracing::debug!(%addr, cl = dial.name(), "connect failed: {e}"),
        }
        if core.is_closed() || stopped(&stop) {
            return;
        }
        match stop.as_mut() {
            Some(s) => {
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = s.changed() => {}
                }
            }
            None => tokio::time::sleep(backoff).await,
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

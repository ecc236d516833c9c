//! TCPCLv4 links: the listener that accepts peers, and the static peers `dtnd` keeps a
//! session with, reconnecting after a session ends.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bundle_agent::agent::LinkId;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use transports::tcpcl::connection::{run_session, SessionTls, Upcall};
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

/// Runs one session on `stream` and relays its upcalls to the core.
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
    let (cmd_tx, cmd_rx) = mpsc::channel(SESSION_COMMANDS);
    let (up_tx, mut up_rx) = mpsc::channel(256);
    if core
        .send(CoreMsg::SessionUp {
            link,
            commands: cmd_tx,
            addr,
            outbound: role == Role::Active,
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
    let reason = run_session(stream, cfg, role, tls, cmd_rx, up_tx).await;
    tracing::info!(link, ?reason, "TCPCL session closed");
    let _ = relay.await;
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
    setup: TcpclSetup,
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
        match TcpStream::connect(addr).await {
            Ok(_) if stopped(&stop) => return,
            Ok(stream) => {
                backoff = Duration::from_millis(200);
                let link = ids.next();
                tracing::info!(link, %addr, "TCPCL session to static peer");
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
            Err(e) => tracing::debug!(%addr, "connect failed: {e}"),
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

//! `dtnd`: the node daemon. Parse flags, open the store, bind, run, stop on SIGINT/SIGTERM.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use bundle_agent::agent::Router;
use bundle_agent::store::{RocksOptions, RocksStore};
use clap::Parser;
use tools::dtnd::{api, contacts, core, links, Config, Flags, RouterKind};
use transports::tcpcl::tls::TlsContext;
use transports::tcpcl::SessionConfig;

async fn run(cfg: Config) -> anyhow::Result<()> {
    let node_id = cfg.node_id.clone();
    let plan = match &cfg.contact_plan {
        Some(path) => {
            let plan = contacts::load_plan(path, tools::cli_io::dtn_now())?;
            tracing::info!(path = %path.display(), contacts = plan.contacts().len(), "contact plan loaded");
            Some((path.clone(), plan))
        }
        None => None,
    };
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating {}", cfg.data_dir.display()))?;
    let store_options = RocksOptions {
        log_retention: cfg.log_retention_ms,
        ..RocksOptions::default()
    };
    let store = RocksStore::open_with(&cfg.data_dir.join("store"), cfg.store_quota, store_options)
        .with_context(|| format!("opening the store in {}", cfg.data_dir.display()))?;
    if store.dropped_on_open() > 0 {
        tracing::warn!(
            bundles = store.dropped_on_open(),
            "store: bundles whose bytes were written but never committed (never acknowledged) were dropped"
        );
    }
    let tcpcl = tokio::net::TcpListener::bind(cfg.tcpcl_listen)
        .await
        .with_context(|| format!("binding TCPCL {}", cfg.tcpcl_listen))?;
    let http = tokio::net::TcpListener::bind(cfg.api_listen)
        .await
        .with_context(|| format!("binding API {}", cfg.api_listen))?;
    tracing::info!(node = %node_id, tcpcl = %tcpcl.local_addr()?, api = %http.local_addr()?, "dtnd up");

    let (core_tx, core_rx) = tokio::sync::mpsc::channel(1024);
    let mut session_cfg = SessionConfig::new(&node_id.to_string());
    let mut tls = None;
    if let Some(t) = &cfg.tls {
        let context = TlsContext::from_options(&t.options).context("loading TLS material")?;
        session_cfg.require_tls = t.require;
        session_cfg.require_node_id_auth = t.require_node_id;
        tls = Some(Arc::new(context));
        tracing::info!(require = t.require, "TCPCL TLS enabled");
    }
    let quic = match &cfg.quic {
        Some(q) => {
            let crypto = match &cfg.tls {
                Some(t) => transports::quic::QuicCrypto::from_options(&t.options)
                    .context("loading TLS material for QUIC")?,
                None => transports::quic::QuicCrypto::ephemeral(&node_id.to_string())
                    .context("making a QUIC certificate")?,
            };
            let tuning = transports::quic::QuicConfig {
                keepalive: q.keepalive,
                idle_timeout: q.idle_timeout,
                max_udp_payload: q.max_udp_payload,
                ..Default::default()
            };
            let endpoint = transports::quic::endpoint(q.listen, &crypto, &tuning)
                .with_context(|| format!("binding QUIC {}", q.listen))?;
            tracing::info!(quic = %endpoint.local_addr()?, authenticated = crypto.authenticated, peers = q.peers.len(), "QUIC convergence layer up");
            if !crypto.authenticated {
                tracing::warn!("QUIC without --tls-cert/--tls-key/--tls-ca: encrypted, but peers are not authenticated");
            }
            Some(links::QuicSetup {
                endpoint,
                session: transports::quic::QuicSession {
                    session: session_cfg.clone(),
                    authenticated: crypto.authenticated,
                    keepalive: q.keepalive,
                },
            })
        }
        None => None,
    };
    let setup = links::TcpclSetup {
        cfg: session_cfg,
        tls,
    };
    let ids = links::LinkIds::default();
    tokio::spawn(links::listen(
        tcpcl,
        setup.clone(),
        ids.clone(),
        core_tx.clone(),
    ));
    for peer in &cfg.peers {
        tokio::spawn(links::keep_peer(
            *peer,
            links::Dial::Tcpcl(setup.clone()),
            ids.clone(),
            core_tx.clone(),
            None,
        ));
    }
    // Peers the contact plan names are opened and closed by it; the others stay up.
    let mut scheduled: Vec<(bundle_agent::wire::Eid, std::net::SocketAddr, links::Dial)> = cfg
        .contact_peers
        .iter()
        .map(|(n, a)| (n.clone(), *a, links::Dial::Tcpcl(setup.clone())))
        .collect();
    if let (Some(q), Some(quic)) = (&cfg.quic, &quic) {
        tokio::spawn(links::listen_quic(
            quic.clone(),
            ids.clone(),
            core_tx.clone(),
        ));
        for (node, addr) in &q.peers {
            let named = match (node, &plan) {
                (Some(n), Some((_, plan))) => plan
                    .contacts()
                    .iter()
                    .any(|c| c.from == node_id && c.to == *n),
                _ => false,
            };
            match node {
                Some(n) if named => {
                    scheduled.push((n.clone(), *addr, links::Dial::Quic(quic.clone())))
                }
                _ => {
                    tokio::spawn(links::keep_peer(
                        *addr,
                        links::Dial::Quic(quic.clone()),
                        ids.clone(),
                        core_tx.clone(),
                        None,
                    ));
                }
            }
        }
    }
    let router: Box<dyn Router> = match (cfg.router, &plan) {
        (RouterKind::Cgr, Some((_, plan))) => Box::new(routing::WithFallback::new(
            routing::CgrRouter::new(node_id.clone(), plan.clone()),
            cfg.routes.clone(),
        )),
        (RouterKind::Epidemic, _) => Box::new(routing::EpidemicRouter::new(node_id.clone())),
        (RouterKind::SprayAndWait(copies), _) => {
            Box::new(routing::SprayAndWaitRouter::new(node_id.clone(), copies))
        }
        (RouterKind::Prophet, _) => Box::new(routing::ProphetRouter::new(
            node_id.clone(),
            routing::ProphetParams::default(),
        )),
        _ => Box::new(cfg.routes.clone()),
    };
    tracing::info!(router = ?cfg.router, "routing");
    // LTP peers the plan names are up only during their contacts.
    let ltp_scheduled: Vec<bundle_agent::wire::Eid> = match (&cfg.ltp, &plan) {
        (Some(l), Some((_, plan))) => l
            .peers
            .iter()
            .filter(|p| {
                plan.contacts()
                    .iter()
                    .any(|c| c.from == node_id && c.to == p.node)
            })
            .map(|p| p.node.clone())
            .collect(),
        _ => Vec::new(),
    };
    let plan_source = match plan {
        Some((path, plan)) => {
            let (schedule_tx, schedule_rx) = tokio::sync::watch::channel(Arc::new(plan));
            tokio::spawn(contacts::schedule(
                node_id.clone(),
                scheduled,
                ltp_scheduled.clone(),
                schedule_rx,
                ids.clone(),
                core_tx.clone(),
            ));
            let source = Arc::new(contacts::PlanSource {
                path,
                node_id: node_id.clone(),
                core: core_tx.clone(),
                schedule: schedule_tx,
                reloading: tokio::sync::Mutex::new(()),
                cgr: (cfg.router == RouterKind::Cgr).then(|| cfg.routes.clone()),
            });
            tokio::spawn(reload_on_sighup(source.clone()));
            Some(source)
        }
        None => None,
    };
    let ticker = core_tx.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            every.tick().await;
            if ticker.send(core::CoreMsg::Tick).await.is_err() {
                return;
            }
        }
    });
    let (twin_changes, _) = tokio::sync::broadcast::channel(1024);
    let state = api::ApiState {
        core: core_tx.clone(),
        node_id: node_id.clone(),
        sequence: Arc::default(),
        metrics: tools::dtnd::metrics::install()?,
        plan: plan_source,
        twin_changes: twin_changes.clone(),
    };
    tokio::spawn(async move {
        if let Err(e) = axum::serve(http, api::router(state)).await {
            tracing::error!("API server stopped: {e}");
        }
    });
    let udp = match &cfg.udp {
        Some(u) => {
            let socket = transports::udp::UdpLink::bind(u.listen, u.max_datagram)
                .await
                .with_context(|| format!("binding UDP {}", u.listen))?;
            tracing::info!(udp = %socket.local_addr()?, max_datagram = u.max_datagram, "UDP convergence layer up");
            let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
            tokio::spawn(socket.clone().receive(tx));
            let relay = core_tx.clone();
            tokio::spawn(async move {
                while let Some((from, bytes)) = rx.recv().await {
                    if relay
                        .send(core::CoreMsg::Datagram { from, bytes })
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            });
            let peers = u
                .peers
                .iter()
                .map(|(node, addr)| (ids.next(), node.clone(), *addr))
                .collect();
            Some(core::UdpLinks { socket, peers })
        }
        None => None,
    };
    let ltp = match &cfg.ltp {
        Some(l) => {
            let socket =
                transports::udp::UdpLink::bind(l.listen, transports::udp::MAX_IPV4_DATAGRAM)
                    .await
                    .with_context(|| format!("binding LTP {}", l.listen))?;
            tracing::info!(ltp = %socket.local_addr()?, engine = l.engine, peers = l.peers.len(), "LTP convergence layer up");
            let (tx, mut rx) = tokio::sync::mpsc::channel(4096);
            tokio::spawn(socket.clone().receive(tx));
            let relay = core_tx.clone();
            tokio::spawn(async move {
                while let Some((from, bytes)) = rx.recv().await {
                    if relay
                        .send(core::CoreMsg::LtpDatagram { from, bytes })
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            });
            let links = l.peers.iter().map(|p| (ids.next(), p)).collect();
            Some(tools::dtnd::ltp_link::LtpLinks::new(
                l,
                &socket,
                links,
                &ltp_scheduled,
                tools::cli_io::dtn_now().0,
            ))
        }
        None => None,
    };
    let ether = match &cfg.ether {
        Some(e) => ether_layer(e, cfg.udp.is_some(), &ids, &core_tx)?,
        None => None,
    };
    let mut p2p = None;
    if cfg.discovery {
        let offer = transports::discovery::Offer {
            node_id: node_id.to_string(),
            tcpcl_port: Some(cfg.tcpcl_listen.port()).filter(|p| *p != 0),
            ether_mac: ether.as_ref().map(|e| e.mac),
            udp_port: cfg.udp.as_ref().map(|u| u.listen.port()),
        };
        let (found_tx, found_rx) = tokio::sync::mpsc::channel(256);
        let (carried_tx, mut carried_rx) = tokio::sync::mpsc::channel(256);
        let d = transports::discovery::Discovery::start(
            offer,
            std::time::Duration::from_secs(10),
            found_tx,
            transports::discovery::Carry {
                events: carried_tx,
                max_bundle: tools::dtnd::p2p_link::MAX_BUNDLE,
            },
        )
        .map_err(|e| anyhow::anyhow!("discovery: {e}"))?;
        let relay = core_tx.clone();
        tokio::spawn(async move {
            while let Some(c) = carried_rx.recv().await {
                if relay.send(core::CoreMsg::Carried(c)).await.is_err() {
                    return;
                }
            }
        });
        p2p = Some(tools::dtnd::p2p_link::P2pLinks::new(d.commands.clone()));
        tracing::info!(peer_id = %d.peer_id, "discovery on: mDNS on the LAN");
        let local = tools::dtnd::discovery::Local {
            node_id: node_id.clone(),
            ether_interface: ether.as_ref().map(|e| e.interface.clone()),
            tcpcl: setup.clone(),
        };
        tokio::spawn(tools::dtnd::discovery::open_links(
            local,
            found_rx,
            ids.clone(),
            core_tx.clone(),
        ));
    }
    let setup = core::CoreSetup {
        node_id,
        router,
        lenient: cfg.lenient,
        udp,
        twins: cfg.twins.clone(),
        twin_changes,
        blobs: (cfg.blobs.clone(), cfg.data_dir.join("blobs")),
        ltp,
        ether,
        p2p,
    };
    let core = core::run(setup, store, core_rx);
    tokio::select! {
        r = core => r,
        _ = shutdown() => {
            tracing::info!("shutting down");
            Ok(())
        }
    }
}

/// Opens the Ethernet layer: AF_XDP, else AF_PACKET (unless the settings insist on one),
/// else none, with the bundles to its peers left to the UDP layer; each step down is logged
/// with its reason.
fn ether_layer(
    e: &tools::dtnd::ether_config::EtherSettings,
    have_udp: bool,
    ids: &links::LinkIds,
    core_tx: &tokio::sync::mpsc::Sender<core::CoreMsg>,
) -> anyhow::Result<Option<tools::dtnd::ether_link::EtherLinks>> {
    use transports::ether::socket::{FrameSocket, Want};
    let socket = match FrameSocket::open(&e.interface, e.want) {
        Ok(s) => s,
        Err(err) if matches!(e.want, Want::Auto(_)) => {
            let then = if have_udp {
                "bundles to its peers take the UDP layer"
            } else {
                "no UDP layer is configured either: its peers are unreachable"
            };
            tracing::error!(interface = %e.interface, "Ethernet layer unavailable ({err}); {then}");
            return Ok(None);
        }
        Err(err) => return Err(err).with_context(|| format!("Ethernet layer on {}", e.interface)),
    };
    match &socket.fallback {
        Some(why) => {
            tracing::warn!(interface = %e.interface, path = %socket.path, "Ethernet layer up on AF_PACKET: {why}")
        }
        None => tracing::info!(interface = %e.interface, path = %socket.path, "Ethernet layer up"),
    }
    let peers = e
        .peers
        .iter()
        .map(|(node, mac)| (ids.next(), node.clone(), *mac))
        .collect();
    Ok(Some(tools::dtnd::ether_link::EtherLinks::start(
        socket,
        core_tx.clone(),
        peers,
    )))
}

/// SIGHUP reloads the contact plan; an invalid one is logged and the old one stays.
async fn reload_on_sighup(source: Arc<contacts::PlanSource>) {
    let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
        return;
    };
    while hup.recv().await.is_some() {
        if let Err(e) = source.reload().await {
            tracing::error!("contact plan not reloaded: {e:#}");
        }
    }
}

async fn shutdown() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}

fn main() -> ExitCode {
    tools::dtnd::malloc::tune();
    let cfg = match Config::load(&Flags::parse()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

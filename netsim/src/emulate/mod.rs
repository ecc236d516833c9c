//! The emulator: the scenario run by real `dtnd` processes, each in a network namespace of
//! its own as root, else all on loopback ([`hosts`]), in real time, with a userspace relay
//! between the two ends of every link applying the link's rate, delay, loss and up/down
//! windows to the real traffic: a TCP relay ([`proxy`]) for TCPCLv4 links, a datagram relay
//! ([`datagram`]) for QUIC and LTP links, and a frame switch ([`frames`]) for Ethernet links,
//! whose nodes find each other by discovery (mDNS) as on a real pod LAN (each link's
//! convergence layer is its profile's unless the scenario names one). The traffic is sent and
//! received through the daemons' HTTP APIs, and the same [`Report`] is made of it, so an
//! emulated and a simulated run of one scenario can be compared.
//!
//! Real time: a scenario of ten minutes takes ten minutes (runs are capped, see
//! [`Options::max_duration_ms`]). Loss cuts a connection (see [`proxy`]); a link that comes
//! up is used once `dtnd` reconnects (its backoff reaches 5 s).

// Node, link and flow numbers come from the checked scenario, and the vectors here are built
// one entry per node, link or flow: indexing them cannot fail. The payload header slices are
// of a buffer at least 12 bytes long.
#![allow(clippy::indexing_slicing)]

pub mod datagram;
pub mod frames;
pub mod hosts;
pub mod offload;
pub mod ports;
pub mod proxy;
pub mod veth;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use bundle_agent::wire::{BundleId, Eid};

use crate::link::{ConvergenceLayer, LinkModel};
use crate::report::{Observations, Report};
use crate::rng::Rng;
use crate::scenario::{RouterSpec, Scenario, Schedule, START_MS};
use datagram::DatagramRelay;
use frames::{FrameSwitch, SwitchLink};
use hosts::{Hosts, Isolation, ETHER_INTERFACE};
use proxy::LinkRelay;

/// How to run an emulation.
#[derive(Debug, Clone)]
pub struct Options {
    /// The `dtnd` binary.
    pub dtnd: PathBuf,
    /// Where the daemons keep their stores and the plan file.
    pub work_dir: PathBuf,
    /// Longest scenario accepted (it runs in real time).
    pub max_duration_ms: u64,
    /// Where the daemons run: a namespace each (as root), or loopback.
    pub isolation: Isolation,
}

/// Why an emulation failed.
#[derive(Debug, thiserror::Error)]
pub enum EmulateError {
    /// The scenario is too long to run in real time.
    #[error("the scenario lasts {0} ms; the emulator runs in real time and takes at most {1} ms (raise --max-duration)")]
    TooLong(u64, u64),
    /// A daemon or a relay could not start.
    #[error("{0}")]
    Start(String),
    /// Interrupted (SIGINT or SIGTERM, see [`stop_on_signals`]); everything was cleaned up.
    #[error("interrupted after {0} ms of the scenario; daemons stopped, namespaces removed")]
    Interrupted(u64),
}

/// Set when SIGINT or SIGTERM arrives once [`stop_on_signals`] is in place.
static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    // Only an atomic store: all a signal handler may safely do here.
    STOP.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Makes SIGINT and SIGTERM end a running emulation early, with its daemons stopped and its
/// namespaces and veths removed, instead of killing the process where it stands (for the
/// `netsim` command; a library caller keeps its own handling unless it asks for this).
#[allow(unsafe_code)]
pub fn stop_on_signals() {
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: `on_signal` is an `extern "C" fn(c_int)`, the type signal(2) expects, and
        // it only stores to an atomic, which is async-signal-safe.
        unsafe {
            libc::signal(sig, handler);
        }
    }
}

fn free_port() -> Result<u16, EmulateError> {
    ports::free_port().map_err(|e| EmulateError::Start(format!("no free port: {e}")))
}

fn http() -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::config::Config::builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build(),
    )
}

/// A `dtnd` process, killed when dropped.
#[derive(Debug)]
struct Daemon {
    child: Child,
    api: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The flags that give a node its router.
fn router_flags(spec: &RouterSpec, plan: Option<&Path>) -> Vec<String> {
    let routes = |t: &bundle_agent::agent::RouteTable| -> Vec<String> {
        t.routes()
            .iter()
            .flat_map(|r| {
                [
                    "--route".to_string(),
                    format!("{}={}@{}", r.pattern.as_str(), r.via, r.priority),
                ]
            })
            .collect()
    };
    match spec {
        RouterSpec::Static(t) => routes(t),
        RouterSpec::Cgr(t) => {
            let mut v = vec!["--router".into(), "cgr".into()];
            if let Some(p) = plan {
                v.push("--contact-plan".into());
                v.push(p.display().to_string());
            }
            v.extend(routes(t));
            v
        }
        RouterSpec::Epidemic => vec!["--router".into(), "epidemic".into()],
        RouterSpec::SprayAndWait(n) => vec![
            "--router".into(),
            "spray-and-wait".into(),
            "--spray-copies".into(),
            n.to_string(),
        ],
        RouterSpec::Prophet => vec!["--router".into(), "prophet".into()],
    }
}

/// The scenario's plan as a plan file whose times count from `epoch_ms` (now).
fn plan_file(s: &Scenario, epoch_ms: u64) -> String {
    let mut out = format!("epoch_ms = {epoch_ms}\n");
    for c in s.plan.iter().flat_map(|p| p.contacts()) {
        out.push_str(&format!(
            "[[contact]]\nfrom = \"{}\"\nto = \"{}\"\nstart = {}\nend = {}\nrate = {}\nowlt = {}\nconfidence = {}\n",
            c.from,
            c.to,
            (c.start.0 - START_MS) / 1000,
            (c.end.0 - START_MS) / 1000,
            c.rate,
            c.owlt_ms / 1000,
            c.confidence
        ));
    }
    out
}

/// The current DTN time from the system clock.
fn dtn_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
        .saturating_sub(946_684_800_000)
}

/// A UDP port free on loopback (so free in a fresh namespace too), at `ip`.
fn free_udp_port(ip: IpAddr) -> Result<SocketAddr, EmulateError> {
    Ok(SocketAddr::new(ip, free_port()?))
}

/// A link's relay: TCP for TCPCL, datagrams for QUIC and LTP, a link of the frame switch
/// for the Ethernet layer.
#[derive(Debug)]
enum Relay {
    Tcp(LinkRelay),
    Datagram(DatagramRelay),
    Frame(usize),
}

impl Relay {
    fn set_up(&self, up: bool, switch: Option<&FrameSwitch>) {
        match self {
            Self::Tcp(r) => r.set_up(up),
            Self::Datagram(r) => r.set_up(up),
            Self::Frame(l) => {
                if let Some(s) = switch {
                    s.set_up(*l, up);
                }
            }
        }
    }

    /// Bytes carried each way (a to b, b to a).
    fn carried(&self, switch: Option<&FrameSwitch>) -> [u64; 2] {
        let get = |c: &[std::sync::atomic::AtomicU64; 2]| {
            [0, 1].map(|d| c[d].load(std::sync::atomic::Ordering::Relaxed))
        };
        match self {
            Self::Tcp(r) => get(&r.bytes),
            Self::Datagram(r) => get(&r.stats.bytes),
            Self::Frame(l) => switch
                .and_then(|s| s.stats(*l))
                .map_or([0, 0], |s| get(&s.bytes)),
        }
    }

    fn stop(&self) {
        match self {
            Self::Tcp(r) => r.stop(),
            Self::Datagram(r) => r.stop(),
            Self::Frame(_) => {}
        }
    }
}

/// The datagram layers each node runs, and the flags they give it.
#[derive(Debug)]
struct Layers {
    /// Where each node's daemon listens.
    ips: Vec<IpAddr>,
    quic: Vec<Option<SocketAddr>>,
    /// LTP address, and the longest delay and lowest rate of the node's LTP links.
    ltp: Vec<Option<(SocketAddr, u64, u64)>>,
    /// Peer flags per node.
    args: Vec<Vec<String>>,
}

impl Layers {
    fn new(ips: Vec<IpAddr>) -> Self {
        let n = ips.len();
        Self {
            ips,
            quic: vec![None; n],
            ltp: vec![None; n],
            args: vec![Vec::new(); n],
        }
    }

    /// Node `i`'s QUIC address (one endpoint for all its QUIC links).
    fn quic(&mut self, i: usize) -> Result<SocketAddr, EmulateError> {
        if let Some(a) = self.quic[i] {
            return Ok(a);
        }
        let a = free_udp_port(self.ips[i])?;
        self.quic[i] = Some(a);
        Ok(a)
    }

    /// Node `i`'s LTP address, noting the link's delay and rate for its timers and pacing.
    fn ltp(&mut self, i: usize, model: &LinkModel) -> Result<SocketAddr, EmulateError> {
        let (a, delay, rate) = match self.ltp[i] {
            Some(v) => v,
            None => (free_udp_port(self.ips[i])?, 0, u64::MAX),
        };
        self.ltp[i] = Some((a, delay.max(model.delay_ms), rate.min(model.rate)));
        Ok(a)
    }

    /// The flags for node `i`: its listeners, engine, light time and rate, then its peers.
    fn flags(&self, i: usize) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(a) = self.quic[i] {
            out.extend(["--quic-listen".to_string(), a.to_string()]);
        }
        if let Some((a, delay, rate)) = self.ltp[i] {
            out.extend([
                "--ltp-listen".to_string(),
                a.to_string(),
                "--ltp-engine".into(),
                (i + 1).to_string(),
                "--ltp-owlt".into(),
                format!("{delay}ms"),
                "--ltp-rate".into(),
                rate.to_string(),
            ]);
        }
        out.extend(self.args[i].iter().cloned());
        out
    }
}

/// What happens next in the emulation, at a time from the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Next {
    Link(usize, bool),
    Send(usize),
}

/// Runs `scenario` with real daemons. `progress` gets the elapsed and total milliseconds.
pub fn emulate(
    scenario: &Scenario,
    opts: &Options,
    mut progress: impl FnMut(u64, u64),
) -> Result<Report, EmulateError> {
    if scenario.duration_ms > opts.max_duration_ms {
        return Err(EmulateError::TooLong(
            scenario.duration_ms,
            opts.max_duration_ms,
        ));
    }
    let n = scenario.nodes.len();
    let (mut hosts, why) = Hosts::place(n, opts.isolation);
    if let Some(e) = why {
        eprintln!("netsim: the daemons share loopback: a namespace each needs root ({e})");
    }
    let mut tcpcl = Vec::with_capacity(n);
    let mut apis = Vec::with_capacity(n);
    for h in &hosts.nodes {
        // In a namespace of its own, a daemon has every port to itself.
        let (t, a) = match h.netns {
            Some(_) => (4556, 8080),
            None => (free_port()?, free_port()?),
        };
        tcpcl.push(SocketAddr::new(h.ip, t));
        apis.push(format!("http://{}", SocketAddr::new(h.ip, a)));
    }
    // Relays: node a dials the relay of each of its links; b is dialled by the relay.
    let mut relays = Vec::new();
    let mut peers: Vec<Vec<SocketAddr>> = vec![Vec::new(); n];
    let windows = |l: usize| -> Vec<(u64, u64)> {
        let spec = &scenario.links[l];
        let (a, b) = (&scenario.nodes[spec.a].id, &scenario.nodes[spec.b].id);
        let mut w: Vec<(u64, u64)> = scenario
            .plan
            .iter()
            .flat_map(|p| p.contacts())
            .filter(|c| (c.from == *a && c.to == *b) || (c.from == *b && c.to == *a))
            .map(|c| (c.start.0 - START_MS, c.end.0 - START_MS))
            .collect();
        w.sort_unstable();
        w
    };
    let mut schedule: Vec<(u64, Next)> = Vec::new();
    let mut layers = Layers::new(hosts.nodes.iter().map(|h| h.ip).collect());
    // Ethernet links: a veth pair per node that has one, its end in the node's namespace,
    // and one frame switch for them all. Without namespaces those links run over TCPCLv4,
    // and it is said.
    let mut ether_nodes: Vec<usize> = scenario
        .links
        .iter()
        .filter(|s| s.cl == ConvergenceLayer::Ether)
        .flat_map(|s| [s.a, s.b])
        .collect();
    ether_nodes.sort_unstable();
    ether_nodes.dedup();
    let ether = if ether_nodes.is_empty() {
        None
    } else if !hosts.isolated() {
        eprintln!("netsim: Ethernet links run over TCPCLv4: they need the nodes in namespaces");
        None
    } else {
        Some(
            hosts
                .ether_ports(&ether_nodes)
                .map_err(EmulateError::Start)?,
        )
    };
    let port_of = |i: usize| ether_nodes.iter().position(|x| *x == i).unwrap_or(0);
    let mut switch_links: Vec<SwitchLink> = Vec::new();
    for (l, spec) in scenario.links.iter().enumerate() {
        let up = spec.schedule != Schedule::Plan;
        let rng = Rng::stream(scenario.seed, &format!("relay {l}"));
        let start = |e: std::io::Error| EmulateError::Start(format!("link relay: {e}"));
        let (id_a, id_b) = (&scenario.nodes[spec.a].id, &scenario.nodes[spec.b].id);
        // Relays listen where node a reaches them (node b reaches that address too).
        let bind = hosts.nodes[spec.a].relay_ip;
        let cl = match (spec.cl, &ether) {
            (ConvergenceLayer::Ether, None) => ConvergenceLayer::Tcpcl,
            (cl, _) => cl,
        };
        let relay = match cl {
            // No peers configured: the two find each other by mDNS across the switch.
            ConvergenceLayer::Ether => {
                switch_links.push(SwitchLink {
                    a: port_of(spec.a),
                    b: port_of(spec.b),
                    loss: spec.model.loss,
                    up,
                    rate: spec.model.rate,
                    delay: Duration::from_millis(spec.model.delay_ms),
                });
                Relay::Frame(switch_links.len() - 1)
            }
            ConvergenceLayer::Tcpcl => {
                let r = LinkRelay::start_on(bind, tcpcl[spec.b], spec.model.clone(), up, rng)
                    .map_err(start)?;
                peers[spec.a].push(r.addr);
                Relay::Tcp(r)
            }
            ConvergenceLayer::Quic => {
                let (qa, qb) = (layers.quic(spec.a)?, layers.quic(spec.b)?);
                let r = DatagramRelay::start_on(bind, qa, qb, spec.model.clone(), up, rng)
                    .map_err(start)?;
                layers.args[spec.a].extend(["--quic-peer".into(), format!("{id_b}={}", r.addr)]);
                Relay::Datagram(r)
            }
            ConvergenceLayer::Ltp => {
                let (la, lb) = (
                    layers.ltp(spec.a, &spec.model)?,
                    layers.ltp(spec.b, &spec.model)?,
                );
                let r = DatagramRelay::start_on(bind, la, lb, spec.model.clone(), up, rng)
                    .map_err(start)?;
                // Engine IDs: a node's index plus one.
                layers.args[spec.a].extend([
                    "--ltp-peer".into(),
                    format!("{id_b}={}@{}", spec.b + 1, r.addr),
                ]);
                layers.args[spec.b].extend([
                    "--ltp-peer".into(),
                    format!("{id_a}={}@{}", spec.a + 1, r.addr),
                ]);
                Relay::Datagram(r)
            }
        };
        relays.push(relay);
        match spec.schedule {
            Schedule::Always => {}
            Schedule::Plan => {
                for (s, e) in windows(l) {
                    schedule.push((s, Next::Link(l, true)));
                    schedule.push((e, Next::Link(l, false)));
                }
            }
            Schedule::Outages => {
                if let Some((mean_up, mean_down)) = spec.model.outages {
                    let mut rng = Rng::stream(scenario.seed, &format!("link {l}"));
                    let (mut t, mut up) = (0u64, true);
                    while t < scenario.duration_ms {
                        let mean = if up { mean_up } else { mean_down };
                        t += rng.exponential(mean as f64).max(1.0) as u64;
                        up = !up;
                        schedule.push((t, Next::Link(l, up)));
                    }
                }
            }
        }
    }
    let switch = match &ether {
        Some(ports) => {
            // With an Ethernet interface, discovery is on by default (`--discovery auto`).
            for i in &ether_nodes {
                layers.args[*i].extend(["--ether-interface".into(), ETHER_INTERFACE.into()]);
            }
            let s = FrameSwitch::start(ports, &switch_links, scenario.seed)
                .map_err(|e| EmulateError::Start(format!("frame switch: {e}")))?;
            Some(s)
        }
        None => None,
    };
    let epoch = dtn_now_ms() + 3_000;
    let plan_path = opts.work_dir.join("plan.toml");
    if scenario.plan.is_some() {
        std::fs::write(&plan_path, plan_file(scenario, epoch))
            .map_err(|e| EmulateError::Start(format!("writing {}: {e}", plan_path.display())))?;
    }
    let mut daemons = Vec::with_capacity(n);
    for (i, node) in scenario.nodes.iter().enumerate() {
        let mut args = vec![
            "--node-id".to_string(),
            node.id.to_string(),
            "--data-dir".into(),
            opts.work_dir.join(format!("node{i}")).display().to_string(),
            "--tcpcl-listen".into(),
            tcpcl[i].to_string(),
            "--api-listen".into(),
            apis[i].trim_start_matches("http://").to_string(),
        ];
        for p in &peers[i] {
            args.push("--peer".into());
            args.push(p.to_string());
        }
        args.extend(layers.flags(i));
        args.extend(router_flags(
            &node.router,
            scenario.plan.as_ref().map(|_| plan_path.as_path()),
        ));
        let log_path = opts.work_dir.join(format!("node{i}.log"));
        let log = std::fs::File::create(&log_path)
            .map_err(|e| EmulateError::Start(format!("{}: {e}", log_path.display())))?;
        let child = hosts
            .command(i, &opts.dtnd)
            .args(&args)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| EmulateError::Start(format!("starting {}: {e}", opts.dtnd.display())))?;
        daemons.push(Daemon {
            child,
            api: apis[i].clone(),
        });
    }
    let agent = http();
    for d in &daemons {
        let deadline = Instant::now() + Duration::from_secs(20);
        while agent.get(format!("{}/status", d.api)).call().is_err() {
            if Instant::now() > deadline {
                return Err(EmulateError::Start(format!(
                    "dtnd at {} did not come up",
                    d.api
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    for f in &scenario.flows {
        let api = &daemons[f.to_node].api;
        let _ = agent
            .post(format!("{api}/register"))
            .query("endpoint", f.to.to_string())
            .send_empty();
    }
    // Traffic times, drawn like the simulator's.
    for (i, f) in scenario.flows.iter().enumerate() {
        let mut rng = Rng::stream(scenario.seed, &format!("flow {i}"));
        let mut t = f.start_ms;
        while t < f.stop_ms.min(scenario.duration_ms) {
            schedule.push((t, Next::Send(i)));
            t += if f.random {
                rng.exponential(f.every_ms as f64).max(1.0) as u64
            } else {
                f.every_ms
            };
        }
    }
    schedule.sort();
    // Wait for the plan's epoch, so plan times and emulation times agree.
    while dtn_now_ms() < epoch {
        std::thread::sleep(Duration::from_millis(5));
    }
    let started = Instant::now();
    let mut obs = Observations::new(scenario);
    for (l, spec) in scenario.links.iter().enumerate() {
        if spec.schedule != Schedule::Plan {
            obs.link_change(l, true, START_MS);
        }
    }
    let mut sent: BTreeMap<(u32, u64), BundleId> = BTreeMap::new();
    let mut sequence: Vec<u64> = vec![0; scenario.flows.len()];
    let mut endpoints: Vec<(usize, Eid)> = scenario
        .flows
        .iter()
        .map(|f| (f.to_node, f.to.clone()))
        .collect();
    endpoints.sort();
    endpoints.dedup();
    let mut next = schedule.into_iter().peekable();
    let mut last_sample = 0u64;
    let mut peaks = vec![(0u64, 0u64); n];
    loop {
        let elapsed = started.elapsed().as_millis() as u64;
        if elapsed >= scenario.duration_ms {
            break;
        }
        if STOP.load(std::sync::atomic::Ordering::Relaxed) {
            for r in &relays {
                r.stop();
            }
            // The daemons, the switch and the namespaces go as this returns.
            return Err(EmulateError::Interrupted(elapsed));
        }
        while let Some(&(t, what)) = next.peek() {
            if t > elapsed {
                break;
            }
            next.next();
            match what {
                Next::Link(l, up) => {
                    if let Some(r) = relays.get(l) {
                        r.set_up(up, switch.as_ref());
                        obs.link_change(l, up, START_MS + t);
                    }
                }
                Next::Send(i) => {
                    let f = &scenario.flows[i];
                    let seq = sequence[i];
                    sequence[i] += 1;
                    let mut payload = vec![0u8; (f.size as usize).max(12)];
                    payload[..4].copy_from_slice(&(i as u32).to_be_bytes());
                    payload[4..12].copy_from_slice(&seq.to_be_bytes());
                    let api = &daemons[f.from].api;
                    let now = START_MS + started.elapsed().as_millis() as u64;
                    if let Ok(mut r) = agent
                        .post(format!("{api}/send"))
                        .query("destination", f.to.to_string())
                        .query("lifetime", format!("{}ms", f.lifetime_ms))
                        .query(
                            "priority",
                            bundle_agent::wire::block::priority_name(f.priority),
                        )
                        .send(&payload[..])
                    {
                        if r.status().as_u16() == 201 {
                            if let Ok(Ok(id)) = r
                                .body_mut()
                                .read_to_string()
                                .map(|t| t.trim().parse::<BundleId>())
                            {
                                let dest = scenario.nodes[f.to_node].id.clone();
                                obs.generated(id.clone(), i, dest, now);
                                sent.insert((i as u32, seq), id);
                            }
                        }
                    }
                }
            }
        }
        for (node, endpoint) in &endpoints {
            let api = &daemons[*node].api;
            while let Ok(mut r) = agent
                .get(format!("{api}/recv"))
                .query("endpoint", endpoint.to_string())
                .call()
            {
                if r.status().as_u16() != 200 {
                    break;
                }
                let Ok(body) = r.body_mut().read_to_vec() else {
                    break;
                };
                let now = START_MS + started.elapsed().as_millis() as u64;
                if let (Some(f), Some(s)) = (body.get(..4), body.get(4..12)) {
                    let flow = u32::from_be_bytes(f.try_into().unwrap_or([0; 4]));
                    let seq = u64::from_be_bytes(s.try_into().unwrap_or([0; 8]));
                    if let Some(id) = sent.get(&(flow, seq)) {
                        obs.delivered(id, now);
                    }
                }
            }
        }
        if elapsed >= last_sample + (scenario.duration_ms / 50).max(1000) {
            last_sample = elapsed;
            let mut stored: BTreeMap<String, u64> = BTreeMap::new();
            for (i, d) in daemons.iter().enumerate() {
                if let Ok(mut r) = agent.get(format!("{}/status", d.api)).call() {
                    if let Ok(v) = r.body_mut().read_to_vec().map(|b| {
                        serde_json::from_slice::<serde_json::Value>(&b).unwrap_or_default()
                    }) {
                        let bytes = v["stored_bytes"].as_u64().unwrap_or(0);
                        peaks[i].0 = peaks[i].0.max(bytes);
                        peaks[i].1 = v["stats"]["expired"].as_u64().unwrap_or(0);
                        *stored
                            .entry(scenario.nodes[i].tier.name().to_string())
                            .or_default() += bytes;
                    }
                }
            }
            obs.sample(elapsed, stored);
            progress(elapsed, scenario.duration_ms);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let ways = link_ways(&agent, &daemons, scenario);
    for (l, r) in relays.iter().enumerate() {
        r.stop();
        for (dir, bytes) in r.carried(switch.as_ref()).into_iter().enumerate() {
            obs.carried(l, dir, bytes);
        }
    }
    drop(daemons);
    let mut report = obs.report(scenario, &peaks, 0, START_MS + scenario.duration_ms);
    for (link, (layer, found_by)) in report.links.iter_mut().zip(ways) {
        link.layer = layer;
        link.found_by = found_by;
    }
    Ok(report)
}

/// For each link, the convergence layer its first node has to the other at the end, and how
/// it was found (the node's `/peers`).
fn link_ways(
    agent: &ureq::Agent,
    daemons: &[Daemon],
    scenario: &Scenario,
) -> Vec<(Option<String>, Option<String>)> {
    let peers: Vec<Vec<serde_json::Value>> = daemons
        .iter()
        .map(|d| {
            agent
                .get(format!("{}/peers", d.api))
                .call()
                .ok()
                .and_then(|mut r| r.body_mut().read_to_vec().ok())
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default()
        })
        .collect();
    scenario
        .links
        .iter()
        .map(|spec| {
            let b = scenario.nodes[spec.b].id.to_string();
            let row = peers[spec.a].iter().find(|p| p["node_id"] == b.as_str());
            let text = |key: &str| row.and_then(|p| p[key].as_str()).map(str::to_owned);
            (text("convergence_layer"), text("found_by"))
        })
        .collect()
}

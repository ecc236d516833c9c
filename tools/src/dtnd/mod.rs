//! `dtnd`, the node daemon: the sans-IO [`Agent`](bundle_agent::agent::Agent) over a RocksDB
//! store, TCPCLv4 sessions to peers, and an HTTP API for applications, all on tokio.
//!
//! One task (the core, [`core`]) owns the agent and the store; sessions and API handlers talk
//! to it over channels. The core handles a batch of messages, commits the store once (group
//! commit), and only then lets the acknowledgements out.
//!
//! Configured by flags over a TOML file over defaults: static peers and routes (with
//! priorities), TCPCLv4 with optional TLS, UDP, a contact plan (contact graph routing, links
//! opened and closed on its schedule, [`contacts`]) or an opportunistic router. The HTTP
//! and WebSocket API ([`api`]) sends, registers, receives (poll and push), lists and shows
//! bundles, peers, status, metrics, routes ([`routing_api`]) and status reports. Twin state
//! ([`twin_sync`], [`twin_api`], [`twin_config`]) runs inside the core over the same store.

pub mod api;
pub mod blob_api;
pub mod blob_config;
pub mod blob_sync;
pub mod contacts;
pub mod core;
pub mod discovery;
pub mod echo;
pub mod ether_config;
pub mod ether_link;
pub mod internal;
pub mod links;
pub mod ltp_link;
pub mod malloc;
pub mod metrics;
pub mod p2p_link;
pub mod push;
pub mod quic_config;
pub mod routing_api;
pub mod submit;
pub mod twin_api;
pub mod twin_config;
pub mod twin_sync;
pub mod views;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{bail, Context};
use bundle_agent::agent::RouteTable;
use bundle_agent::wire::Eid;
use clap::Parser;
use serde::Deserialize;

/// Command-line flags of `dtnd`. Each overrides the same key of the `--config` file, which
/// overrides the built-in default.
#[derive(Debug, Clone, Default, Parser)]
#[command(name = "dtnd", version, about = "The DTN federation node daemon")]
pub struct Flags {
    /// TOML configuration file (see dtnd.example.toml); flags override its keys.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// This node's ID, e.g. ipn:1.0 or dtn://pod7/ [default: dtn://<host name>/].
    #[arg(long)]
    pub node_id: Option<String>,
    /// Where the bundle store lives [default: ./dtn-data].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Most bytes of bundles the store keeps; further bundles are refused [default: 10 GiB].
    #[arg(long)]
    pub store_quota: Option<u64>,
    /// How long a bundle's forwarding log (what `dtnctl trace` shows, and what duplicate
    /// suppression checks after the bundle left) is kept after its last event, or after
    /// the bundle's expiry when that is later: a number of ms, or with s, m, h or d
    /// [default: 7d].
    #[arg(long, value_name = "DURATION")]
    pub log_retention: Option<String>,
    /// TCPCLv4 listen address [default: 0.0.0.0:4556].
    #[arg(long)]
    pub tcpcl_listen: Option<SocketAddr>,
    /// HTTP API listen address [default: 127.0.0.1:3000].
    #[arg(long)]
    pub api_listen: Option<SocketAddr>,
    /// A peer to keep a TCPCLv4 session with (repeatable; added to the file's): HOST:PORT.
    #[arg(long = "peer", value_name = "ADDR")]
    pub peers: Vec<SocketAddr>,
    /// A static route (repeatable): PATTERN=NODE-ID[@PRIORITY], e.g. 'ipn:3.*=ipn:2.0' or
    /// 'ipn:3.*=ipn:5.0@200' (lower priority numbers are preferred; default 100; of equal
    /// priority, flags before the file's).
    #[arg(long = "route", value_name = "PATTERN=NODE")]
    pub routes: Vec<String>,
    /// Accept bundles whose primary block has no CRC and no BIB (dtn7-rs sends those).
    #[arg(long)]
    pub lenient: bool,
    /// PEM certificate chain for TCPCL TLS; its URI subjectAltName should be this node's ID.
    #[arg(long, value_name = "FILE", requires_all = ["tls_key", "tls_ca"])]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires_all = ["tls_cert", "tls_ca"])]
    pub tls_key: Option<PathBuf>,
    /// PEM CA certificates that peers' certificates must chain to.
    #[arg(long, value_name = "FILE", requires_all = ["tls_cert", "tls_key"])]
    pub tls_ca: Option<PathBuf>,
    /// Refuse TCPCL peers that do not do TLS.
    #[arg(long)]
    pub tls_require: bool,
    /// UDP convergence layer address, one bundle per datagram [default: off].
    #[arg(long, value_name = "ADDR")]
    pub udp_listen: Option<SocketAddr>,
    /// A peer reached over UDP (repeatable): NODE-ID=HOST:PORT, e.g. 'ipn:2.0=127.0.0.1:4556'.
    #[arg(long = "udp-peer", value_name = "NODE=ADDR")]
    pub udp_peers: Vec<String>,
    /// Largest bundle sent as one datagram; bigger ones are fragmented [default: 65507].
    #[arg(long, value_name = "BYTES")]
    pub udp_max_datagram: Option<usize>,
    /// Route by this contact plan (contact graph routing): our TOML or JSON format, an HDTN
    /// JSON plan, or an ION ionrc file (`a contact` / `a range`). Reloaded on SIGHUP and by
    /// `dtnctl contacts reload`.
    #[arg(long, value_name = "FILE")]
    pub contact_plan: Option<PathBuf>,
    /// A neighbour of the contact plan reached over TCPCL (repeatable): NODE-ID=HOST:PORT. A
    /// session to it is open only while the plan has a contact from this node to it.
    #[arg(long = "contact-peer", value_name = "NODE=ADDR")]
    pub contact_peers: Vec<String>,
    /// The router: static (the --route table), cgr (contact graph routing over the contact
    /// plan; --route entries serve the destinations the plan does not name), epidemic,
    /// spray-and-wait or prophet (copies to the peers met) [default: cgr with a contact plan,
    /// else static]. With an opportunistic router a contact plan only schedules the links.
    #[arg(long, value_name = "NAME")]
    pub router: Option<String>,
    /// Copies a bundle made here starts with under spray-and-wait [default: 8].
    #[arg(long, value_name = "N")]
    pub spray_copies: Option<u64>,
    /// This node's tier: tile, pod, hub, region, global or planet. A twin field whose
    /// sovereignty scope is below it may not be written or received here [default: tile].
    #[arg(long, value_name = "TIER")]
    pub tier: Option<String>,
    /// Keep twins matching TWIN (`*` matches anything) in sync with a peer node (repeatable):
    /// TWIN=NODE-ID[@TIER], e.g. 'pod7/*=dtn://hub1/@hub'. The peer's tier decides which
    /// fields it is sent [default tier: planet, i.e. only unrestricted fields].
    #[arg(long = "twin-follow", value_name = "TWIN=NODE[@TIER]")]
    pub twin_follows: Vec<String>,
    /// A sovereignty rule (repeatable): TWIN:FIELD=SCOPE, e.g. 'pod7/*:raw.*=pod' keeps raw
    /// readings of pod 7's twins inside the pod. The first rule matching a field decides.
    #[arg(long = "twin-policy", value_name = "TWIN:FIELD=SCOPE")]
    pub twin_policies: Vec<String>,
    /// How often a twin peer that has not acknowledged everything is sent its backlog again
    /// (30s, 10m, 1h) [default: 1h].
    #[arg(long, value_name = "DURATION")]
    pub twin_resync: Option<String>,
    /// Most bytes of blobs kept (under DATA_DIR/blobs) [default: 10 GiB].
    #[arg(long, value_name = "BYTES")]
    pub blob_quota: Option<u64>,
    /// How long a blob transfer without progress waits before asking for the shards it
    /// lacks (10s, 1m, 1h) [default: 60s].
    #[arg(long, value_name = "DURATION")]
    pub blob_repair: Option<String>,
    /// The erasure code of blobs sent, unless the request or a [[blobs.profile]] for the
    /// destination names one: K,M data and parity shards per stripe [default: 10,4].
    #[arg(long, value_name = "K,M")]
    pub blob_code: Option<String>,
    /// LTP (RFC 5326) convergence layer address, for long-haul links [default: off].
    #[arg(long, value_name = "ADDR")]
    pub ltp_listen: Option<SocketAddr>,
    /// This node's LTP engine ID [default: the ipn node number].
    #[arg(long, value_name = "N")]
    pub ltp_engine: Option<u64>,
    /// A peer reached over LTP (repeatable):
    /// NODE-ID=ENGINE@HOST:PORT[,green][,segment=BYTES][,aggregate=BYTES], e.g.
    /// 'ipn:5.0=5@10.0.0.5:1113,segment=8000'. With ',green' every bundle goes to it as green
    /// data (once, unacknowledged); otherwise all red. 'segment' sets its segment size (its
    /// link's MTU); 'aggregate' packs bundles handed over together into blocks of up to that
    /// many bytes, a session for many small bundles. A peer the contact plan names is up only during its
    /// contacts (timers suspended between them, light time and rate from the contact).
    #[arg(long = "ltp-peer", value_name = "NODE=ENGINE@ADDR")]
    pub ltp_peers: Vec<String>,
    /// One-way light time to the LTP peers, for the retransmission timers [default: 0s].
    #[arg(long, value_name = "DURATION")]
    pub ltp_owlt: Option<String>,
    /// Client data bytes per LTP segment [default: 1400].
    #[arg(long, value_name = "BYTES")]
    pub ltp_segment: Option<usize>,
    /// Bytes per second LTP sends to each peer not scheduled by the contact plan (a
    /// scheduled peer gets its contact's rate) [default: 0, unpaced].
    #[arg(long, value_name = "BYTES")]
    pub ltp_rate: Option<u64>,
    /// QUIC convergence layer address (UDP), for lossy wireless hops and backhaul
    /// [default: off]. TLS 1.3 with the --tls-* certificates; without them, encrypted with a
    /// certificate made at start but not authenticated.
    #[arg(long, value_name = "ADDR")]
    pub quic_listen: Option<SocketAddr>,
    /// A peer reached over QUIC (repeatable): [NODE-ID=]HOST:PORT. With a node ID that the
    /// contact plan names, the connection is open only during its contacts.
    #[arg(long = "quic-peer", value_name = "[NODE=]ADDR")]
    pub quic_peers: Vec<String>,
    /// How often a quiet QUIC connection is kept alive [default: 2s].
    #[arg(long, value_name = "DURATION")]
    pub quic_keepalive: Option<String>,
    /// How long a QUIC connection may hear nothing before it is closed; shorter outages keep
    /// it and its bundles in flight [default: 30s].
    #[arg(long, value_name = "DURATION")]
    pub quic_idle_timeout: Option<String>,
    /// Largest UDP payload QUIC's path MTU discovery tries (1200-65527), and the largest
    /// this node accepts: 1452 suits an Ethernet path; jumbo frames (9000-byte MTU: 8952) or
    /// loopback (65527) carry more, and fewer, larger packets cost less CPU per byte. Above
    /// 6550 packets are sent one per system call (no segmentation offload) [default: 1452].
    #[arg(long, value_name = "BYTES")]
    pub quic_mtu: Option<u16>,
    /// Ethernet convergence layer on this interface, for a pod LAN [default: off]: bundles
    /// in frames of EtherType 0x88B5, acknowledged and sent again when a frame is lost. Uses
    /// AF_XDP (needs CAP_NET_RAW, CAP_BPF and CAP_NET_ADMIN: root), else AF_PACKET (needs
    /// CAP_NET_RAW); where neither opens, it is logged and bundles take the UDP layer.
    #[arg(long, value_name = "IF")]
    pub ether_interface: Option<String>,
    /// A peer on the Ethernet LAN (repeatable): NODE-ID=MAC, e.g. 'ipn:2.0=02:00:00:00:00:02'.
    #[arg(long = "ether-peer", value_name = "NODE=MAC")]
    pub ether_peers: Vec<String>,
    /// The socket under the Ethernet layer: auto (AF_XDP, else AF_PACKET), xdp (AF_XDP or
    /// fail), packet (AF_PACKET) [default: auto].
    #[arg(long, value_name = "auto|xdp|packet")]
    pub ether_socket: Option<String>,
    /// Where the XDP program runs: auto (in the driver where it supports XDP, else generic),
    /// native, generic [default: auto].
    #[arg(long, value_name = "auto|native|generic")]
    pub ether_xdp_mode: Option<String>,
    /// Find peers on the LAN with mDNS (libp2p) and open links to them without configuration
    /// (the Ethernet layer where both share it, else TCPCL): auto (on where there is a pod
    /// LAN: with --ether-interface, or on a tile or pod node, see --tier), on, off
    /// [default: auto].
    #[arg(long, value_name = "auto|on|off")]
    pub discovery: Option<String>,
}

/// One UDP peer of the configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerEntry {
    /// The peer's node ID.
    pub node_id: String,
    /// Where its convergence layer (UDP, or TCPCL for a contact peer) listens.
    pub addr: SocketAddr,
}

/// UDP settings after merging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpConfig {
    /// Bound address.
    pub listen: SocketAddr,
    /// Peers: node ID and address.
    pub peers: Vec<(Eid, SocketAddr)>,
    /// Largest datagram sent.
    pub max_datagram: usize,
}

/// The `[tls]` table of the configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFile {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
    /// PEM CA certificates to trust.
    pub ca: PathBuf,
    /// Refuse peers that do not do TLS [default: false].
    #[serde(default)]
    pub require: bool,
    /// Refuse a peer whose certificate has no NODE-ID (URI subjectAltName) [default: true].
    #[serde(default = "yes")]
    pub require_node_id: bool,
    /// Refuse a connecting peer that presents no certificate [default: true].
    #[serde(default = "yes")]
    pub require_client_cert: bool,
    /// Also check the dialled IP address against the server certificate [default: false].
    #[serde(default)]
    pub verify_host: bool,
}

fn yes() -> bool {
    true
}

/// TCPCL TLS settings after merging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// Files and verification policy.
    pub options: transports::tcpcl::tls::TlsOptions,
    /// Refuse peers without TLS.
    pub require: bool,
    /// Refuse peers whose certificate carries no NODE-ID.
    pub require_node_id: bool,
}

/// The configuration file: every key optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileConfig {
    /// See [`Flags::node_id`].
    pub node_id: Option<String>,
    /// See [`Flags::data_dir`].
    pub data_dir: Option<PathBuf>,
    /// See [`Flags::store_quota`].
    pub store_quota: Option<u64>,
    /// See [`Flags::log_retention`].
    pub log_retention: Option<String>,
    /// See [`Flags::tcpcl_listen`].
    pub tcpcl_listen: Option<SocketAddr>,
    /// See [`Flags::api_listen`].
    pub api_listen: Option<SocketAddr>,
    /// Static peers.
    pub peers: Vec<SocketAddr>,
    /// Static routes: `[[routes]] pattern = "ipn:3.*"  via = "ipn:2.0"`.
    pub routes: Vec<RouteEntry>,
    /// See [`Flags::lenient`].
    pub lenient: bool,
    /// TCPCL TLS.
    pub tls: Option<TlsFile>,
    /// See [`Flags::udp_listen`].
    pub udp_listen: Option<SocketAddr>,
    /// UDP peers: `[[udp_peers]] node_id = "ipn:2.0"  addr = "10.0.0.2:4556"`.
    pub udp_peers: Vec<PeerEntry>,
    /// See [`Flags::udp_max_datagram`].
    pub udp_max_datagram: Option<usize>,
    /// See [`Flags::contact_plan`].
    pub contact_plan: Option<PathBuf>,
    /// Contact plan neighbours: `[[contact_peers]] node_id = "ipn:2.0"  addr = "10.0.0.2:4556"`.
    pub contact_peers: Vec<PeerEntry>,
    /// See [`Flags::router`].
    pub router: Option<String>,
    /// See [`Flags::spray_copies`].
    pub spray_copies: Option<u64>,
    /// See [`Flags::tier`].
    pub tier: Option<String>,
    /// Twin sync: follows, policies, resync, limits.
    pub twins: twin_config::TwinsFile,
    /// Blobs: quota, repair, codes.
    pub blobs: blob_config::BlobsFile,
    /// See [`Flags::ltp_listen`].
    pub ltp_listen: Option<SocketAddr>,
    /// See [`Flags::ltp_engine`].
    pub ltp_engine: Option<u64>,
    /// See [`Flags::ltp_owlt`].
    pub ltp_owlt: Option<String>,
    /// See [`Flags::ltp_segment`].
    pub ltp_segment: Option<usize>,
    /// See [`Flags::ltp_rate`].
    pub ltp_rate: Option<u64>,
    /// LTP peers: `[[ltp_peers]] node_id = "ipn:5.0"  engine = 5  addr = "10.0.0.5:1113"`.
    pub ltp_peers: Vec<LtpPeerEntry>,
    /// See [`Flags::quic_listen`].
    pub quic_listen: Option<SocketAddr>,
    /// QUIC peers: `[[quic_peers]] addr = "10.0.0.2:4557"  node_id = "ipn:2.0"`.
    pub quic_peers: Vec<quic_config::QuicPeerEntry>,
    /// See [`Flags::quic_keepalive`].
    pub quic_keepalive: Option<String>,
    /// See [`Flags::quic_idle_timeout`].
    pub quic_idle_timeout: Option<String>,
    /// See [`Flags::quic_mtu`].
    pub quic_mtu: Option<u16>,
    /// See [`Flags::ether_interface`].
    pub ether_interface: Option<String>,
    /// Ethernet peers: `[[ether_peers]] node_id = "ipn:2.0"  mac = "02:00:00:00:00:02"`.
    pub ether_peers: Vec<ether_config::EtherPeerEntry>,
    /// See [`Flags::ether_socket`].
    pub ether_socket: Option<String>,
    /// See [`Flags::ether_xdp_mode`].
    pub ether_xdp_mode: Option<String>,
    /// See [`Flags::discovery`].
    pub discovery: Option<String>,
}

/// One LTP peer of the configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LtpPeerEntry {
    /// The peer's node ID.
    pub node_id: String,
    /// Its LTP engine ID.
    pub engine: u64,
    /// Its LTP (UDP) address.
    pub addr: SocketAddr,
    /// Send it every bundle as green data: once, unacknowledged [default: false].
    #[serde(default)]
    pub green: bool,
    /// Client data bytes per segment to it [default: ltp_segment].
    pub segment: Option<usize>,
    /// Pack bundles handed over together into blocks of up to this many bytes
    /// [default: 0, a block per bundle].
    pub aggregate: Option<u64>,
}

/// Which router `dtnd` routes with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouterKind {
    /// Static routes.
    Static,
    /// Contact graph routing over the contact plan.
    Cgr,
    /// Epidemic.
    Epidemic,
    /// Binary spray-and-wait with this many copies.
    SprayAndWait(u64),
    /// PRoPHET.
    Prophet,
}

/// One static route of the configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteEntry {
    /// EID pattern: exact, or a prefix ending in `*`.
    pub pattern: String,
    /// Node ID of the next hop.
    pub via: String,
    /// Lower is preferred [default: 100]: of the matching routes, the most preferred one
    /// whose next hop has a link up is used.
    #[serde(default = "default_priority")]
    pub priority: u32,
}

fn default_priority() -> u32 {
    bundle_agent::agent::DEFAULT_PRIORITY
}

/// The settings `dtnd` runs with, after flags, file and defaults are merged and checked.
#[derive(Debug, Clone)]
pub struct Config {
    /// This node's ID.
    pub node_id: Eid,
    /// Store directory.
    pub data_dir: PathBuf,
    /// Store quota in bytes.
    pub store_quota: u64,
    /// Forwarding-log retention in milliseconds.
    pub log_retention_ms: u64,
    /// TCPCLv4 listen address.
    pub tcpcl_listen: SocketAddr,
    /// HTTP API listen address.
    pub api_listen: SocketAddr,
    /// Static peers.
    pub peers: Vec<SocketAddr>,
    /// Static routes.
    pub routes: RouteTable,
    /// Lenient decoding.
    pub lenient: bool,
    /// TCPCL TLS, when configured.
    pub tls: Option<TlsConfig>,
    /// The UDP convergence layer, when configured.
    pub udp: Option<UdpConfig>,
    /// The contact plan file, when routing by one.
    pub contact_plan: Option<PathBuf>,
    /// Contact plan neighbours and their TCPCL addresses.
    pub contact_peers: Vec<(Eid, SocketAddr)>,
    /// The router.
    pub router: RouterKind,
    /// Twin sync.
    pub twins: crdt_store::ServiceConfig,
    /// Blobs.
    pub blobs: blob_config::BlobConfig,
    /// The LTP convergence layer, when on.
    pub ltp: Option<ltp_link::LtpConfig>,
    /// The QUIC convergence layer, when on.
    pub quic: Option<quic_config::QuicSettings>,
    /// The Ethernet convergence layer, when on.
    pub ether: Option<ether_config::EtherSettings>,
    /// Whether peers are found on the LAN.
    pub discovery: bool,
}

impl Config {
    /// Merges flags over the file (if any) over defaults, and validates; an error names the
    /// key and the source it came from.
    pub fn load(flags: &Flags) -> anyhow::Result<Self> {
        let file = match &flags.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                toml::from_str::<FileConfig>(&text)
                    .with_context(|| format!("{}", path.display()))?
            }
            None => FileConfig::default(),
        };
        Self::merge(flags, file)
    }

    /// Merges already-parsed flags and file settings.
    pub fn merge(flags: &Flags, file: FileConfig) -> anyhow::Result<Self> {
        let node_text = match flags.node_id.clone().or(file.node_id.clone()) {
            Some(t) => t,
            None => {
                let host =
                    std::fs::read_to_string("/etc/hostname").unwrap_or_else(|_| "localhost".into());
                format!("dtn://{}/", host.trim())
            }
        };
        let node_id: Eid = node_text
            .parse()
            .map_err(|e| anyhow::anyhow!("node_id {node_text:?}: {e}"))?;
        if !node_id.is_node_id() {
            bail!("node_id {node_text:?}: not a node ID (use ipn:N.0 or dtn://name/)");
        }
        let ltp = ltp_config(flags, &file, &node_id)?;
        let quic = quic_config::quic_config(flags, &file)?;
        let ether = ether_config::ether_config(flags, &file)?;
        let discovery = match flags
            .discovery
            .as_deref()
            .or(file.discovery.as_deref())
            .unwrap_or("auto")
            .parse::<discovery::DiscoveryMode>()
            .map_err(|e| anyhow::anyhow!(e))?
        {
            discovery::DiscoveryMode::Auto => {
                let tier = flags.tier.as_deref().or(file.tier.as_deref());
                ether.is_some() || tier.is_some_and(discovery::on_a_pod_lan)
            }
            discovery::DiscoveryMode::On => true,
            discovery::DiscoveryMode::Off => false,
        };
        let store_quota = flags
            .store_quota
            .or(file.store_quota)
            .unwrap_or(10 * 1024 * 1024 * 1024);
        if store_quota == 0 {
            bail!("store_quota: must be more than 0 bytes");
        }
        let log_retention_ms = match flags.log_retention.as_ref().or(file.log_retention.as_ref()) {
            Some(d) => crate::cli_io::parse_duration_ms(d)
                .with_context(|| format!("log_retention {d:?}"))?,
            None => bundle_agent::store::RocksOptions::LOG_RETENTION,
        };
        let mut routes = RouteTable::default();
        for r in &flags.routes {
            let (pattern, via) = r
                .split_once('=')
                .with_context(|| format!("--route {r:?}: expected PATTERN=NODE-ID[@PRIORITY]"))?;
            let (via, priority) = match via.rsplit_once('@') {
                Some((via, p)) => (
                    via,
                    p.parse::<u32>()
                        .map_err(|e| anyhow::anyhow!("--route {r:?}: priority: {e}"))?,
                ),
                None => (via, bundle_agent::agent::DEFAULT_PRIORITY),
            };
            routes.add_with_priority(
                pattern,
                via.parse()
                    .map_err(|e| anyhow::anyhow!("--route {r:?}: next hop: {e}"))?,
                priority,
            );
        }
        for (i, r) in file.routes.iter().enumerate() {
            routes.add_with_priority(
                &r.pattern,
                r.via
                    .parse()
                    .map_err(|e| anyhow::anyhow!("routes[{i}].via {:?}: {e}", r.via))?,
                r.priority,
            );
        }
        let tls = match (&flags.tls_cert, &flags.tls_key, &flags.tls_ca, file.tls) {
            (Some(cert), Some(key), Some(ca), file_tls) => {
                let mut options = transports::tcpcl::tls::TlsOptions::new(cert, key, ca);
                let mut require_node_id = true;
                if let Some(f) = &file_tls {
                    options.verify_host = f.verify_host;
                    options.require_client_cert = f.require_client_cert;
                    require_node_id = f.require_node_id;
                }
                Some(TlsConfig {
                    options,
                    require: flags.tls_require || file_tls.is_some_and(|f| f.require),
                    require_node_id,
                })
            }
            (None, None, None, Some(f)) => {
                let mut options = transports::tcpcl::tls::TlsOptions::new(f.cert, f.key, f.ca);
                options.verify_host = f.verify_host;
                options.require_client_cert = f.require_client_cert;
                Some(TlsConfig {
                    options,
                    require: flags.tls_require || f.require,
                    require_node_id: f.require_node_id,
                })
            }
            (None, None, None, None) if flags.tls_require => {
                bail!("--tls-require: needs --tls-cert, --tls-key and --tls-ca (or a [tls] table)")
            }
            (None, None, None, None) => None,
            _ => bail!("--tls-cert, --tls-key and --tls-ca go together"),
        };
        let udp_peers = node_addrs(&file.udp_peers, "udp_peers", &flags.udp_peers, "--udp-peer")?;
        if let Some((node, _)) = udp_peers.iter().find(|(n, _)| !n.is_node_id()) {
            bail!("UDP peer {node}: not a node ID (use ipn:N.0 or dtn://name/)");
        }
        let contact_peers = node_addrs(
            &file.contact_peers,
            "contact_peers",
            &flags.contact_peers,
            "--contact-peer",
        )?;
        if let Some((node, _)) = contact_peers.iter().find(|(n, _)| !n.is_node_id()) {
            bail!("contact peer {node}: not a node ID (use ipn:N.0 or dtn://name/)");
        }
        let contact_plan = flags.contact_plan.clone().or(file.contact_plan);
        if contact_plan.is_none() && !contact_peers.is_empty() {
            bail!("contact peers are configured but no contact_plan file");
        }
        let copies = flags.spray_copies.or(file.spray_copies).unwrap_or(8);
        if copies == 0 {
            bail!("spray_copies: must be at least 1");
        }
        let router = match flags.router.clone().or(file.router).as_deref() {
            None if contact_plan.is_some() => RouterKind::Cgr,
            None | Some("static") => RouterKind::Static,
            Some("cgr") => RouterKind::Cgr,
            Some("epidemic") => RouterKind::Epidemic,
            Some("spray-and-wait") => RouterKind::SprayAndWait(copies),
            Some("prophet") => RouterKind::Prophet,
            Some(other) => bail!(
                "router {other:?}: unknown; use static, cgr, epidemic, spray-and-wait or prophet"
            ),
        };
        if router == RouterKind::Cgr && contact_plan.is_none() {
            bail!("router \"cgr\": needs a contact plan (--contact-plan FILE)");
        }
        if !matches!(router, RouterKind::Static | RouterKind::Cgr)
            && (!flags.routes.is_empty() || !file.routes.is_empty())
        {
            bail!(
                "static routes apply only to routers \"static\" and \"cgr\" (with the other \
                 routers a bundle still goes straight to its destination over a link that is up)"
            );
        }
        let max_datagram = flags
            .udp_max_datagram
            .or(file.udp_max_datagram)
            .unwrap_or(transports::udp::MAX_IPV4_DATAGRAM);
        if !(64..=transports::udp::MAX_IPV4_DATAGRAM).contains(&max_datagram) {
            bail!("udp_max_datagram {max_datagram}: must be between 64 and 65507 bytes");
        }
        let udp = match flags.udp_listen.or(file.udp_listen) {
            Some(listen) => Some(UdpConfig {
                listen,
                peers: udp_peers,
                max_datagram,
            }),
            None if !udp_peers.is_empty() => {
                bail!("UDP peers are configured but no udp_listen address")
            }
            None => None,
        };
        let twins = twin_config::merge(
            &node_id,
            flags.tier.as_deref().or(file.tier.as_deref()),
            &flags.twin_follows,
            &flags.twin_policies,
            flags.twin_resync.as_deref(),
            file.twins,
        )?;
        let blobs = blob_config::merge(
            flags.blob_quota,
            flags.blob_repair.as_deref(),
            flags.blob_code.as_deref(),
            file.blobs,
        )?;
        let mut peers = file.peers;
        peers.extend(flags.peers.iter().copied());
        Ok(Self {
            node_id,
            data_dir: flags
                .data_dir
                .clone()
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("./dtn-data")),
            store_quota,
            log_retention_ms,
            tcpcl_listen: flags
                .tcpcl_listen
                .or(file.tcpcl_listen)
                .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 4556))),
            api_listen: flags
                .api_listen
                .or(file.api_listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 3000))),
            peers,
            routes,
            lenient: flags.lenient || file.lenient,
            tls,
            udp,
            contact_plan,
            contact_peers,
            router,
            twins,
            blobs,
            ltp,
            quic,
            ether,
            discovery,
        })
    }
}

/// `NODE-ID=HOST:PORT` pairs from the file's table `key` and the repeatable `flag`; errors
/// name the entry.
/// The LTP settings from the flags.
/// The LTP settings: flags over the file's keys.
/// An LTP segment size, checked: one datagram.
fn segment_size(what: &str, bytes: usize) -> anyhow::Result<usize> {
    if !(64..=65_000).contains(&bytes) {
        bail!("{what} {bytes}: between 64 and 65000 bytes (one datagram)");
    }
    Ok(bytes)
}

fn ltp_config(
    flags: &Flags,
    file: &FileConfig,
    node: &Eid,
) -> anyhow::Result<Option<ltp_link::LtpConfig>> {
    let Some(listen) = flags.ltp_listen.or(file.ltp_listen) else {
        if !flags.ltp_peers.is_empty() || !file.ltp_peers.is_empty() {
            bail!("LTP peers are configured but no ltp_listen address (--ltp-listen)");
        }
        return Ok(None);
    };
    let engine = match (flags.ltp_engine.or(file.ltp_engine), node) {
        (Some(e), _) => e,
        (None, Eid::Ipn(i)) => u64::from(i.node),
        (None, _) => bail!("--ltp-engine N: a dtn node has no number to take as its engine ID"),
    };
    let mut peers = Vec::new();
    for (i, p) in file.ltp_peers.iter().enumerate() {
        let node: Eid = p
            .node_id
            .parse()
            .map_err(|e| anyhow::anyhow!("ltp_peers[{i}].node_id {:?}: {e}", p.node_id))?;
        let segment = p
            .segment
            .map(|s| segment_size(&format!("ltp_peers[{i}].segment"), s))
            .transpose()?;
        peers.push(ltp_link::LtpPeer {
            node: node.node_id(),
            engine: p.engine,
            addr: p.addr,
            green: p.green,
            segment,
            aggregate: p.aggregate.unwrap_or(0),
        });
    }
    for p in &flags.ltp_peers {
        let what = || {
            format!(
                "--ltp-peer {p:?}: expected NODE-ID=ENGINE@HOST:PORT[,green][,segment=BYTES][,aggregate=BYTES]"
            )
        };
        let mut parts = p.split(',');
        let spec = parts.next().unwrap_or_default();
        let (mut green, mut segment, mut aggregate) = (false, None, 0);
        for opt in parts {
            match opt.split_once('=') {
                None if opt == "green" => green = true,
                Some(("segment", n)) => {
                    let n: usize = n.parse().with_context(what)?;
                    segment = Some(segment_size(&format!("--ltp-peer {p:?} segment"), n)?);
                }
                Some(("aggregate", n)) => aggregate = n.parse().with_context(what)?,
                _ => return Err(anyhow::anyhow!(what()).context(format!("option {opt:?}"))),
            }
        }
        let (node, rest) = spec.split_once('=').with_context(what)?;
        let (engine, addr) = rest.split_once('@').with_context(what)?;
        let node: Eid = node
            .parse()
            .map_err(|e| anyhow::anyhow!("--ltp-peer {p:?}: node ID: {e}"))?;
        peers.push(ltp_link::LtpPeer {
            node: node.node_id(),
            engine: engine.parse().with_context(what)?,
            addr: addr.parse().with_context(what)?,
            green,
            segment,
            aggregate,
        });
    }
    let owlt_ms = match flags.ltp_owlt.as_ref().or(file.ltp_owlt.as_ref()) {
        Some(d) => {
            crate::cli_io::parse_duration_ms(d).with_context(|| format!("--ltp-owlt {d:?}"))?
        }
        None => 0,
    };
    let segment = segment_size(
        "--ltp-segment",
        flags.ltp_segment.or(file.ltp_segment).unwrap_or(1400),
    )?;
    Ok(Some(ltp_link::LtpConfig {
        listen,
        engine,
        peers,
        owlt_ms,
        segment,
        rate: flags.ltp_rate.or(file.ltp_rate).unwrap_or(0),
    }))
}

fn node_addrs(
    file: &[PeerEntry],
    key: &str,
    flags: &[String],
    flag: &str,
) -> anyhow::Result<Vec<(Eid, SocketAddr)>> {
    let mut out = Vec::new();
    for (i, p) in file.iter().enumerate() {
        let node: Eid = p
            .node_id
            .parse()
            .map_err(|e| anyhow::anyhow!("{key}[{i}].node_id {:?}: {e}", p.node_id))?;
        out.push((node, p.addr));
    }
    for p in flags {
        let (node, addr) = p
            .split_once('=')
            .with_context(|| format!("{flag} {p:?}: expected NODE-ID=HOST:PORT"))?;
        let node: Eid = node
            .parse()
            .map_err(|e| anyhow::anyhow!("{flag} {p:?}: node ID: {e}"))?;
        let addr: SocketAddr = addr
            .parse()
            .map_err(|e| anyhow::anyhow!("{flag} {p:?}: address: {e}"))?;
        out.push((node, addr));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_config_is_valid() {
        let text = include_str!("../../../dtnd.example.toml");
        let file: FileConfig = toml::from_str(text).unwrap();
        let c = Config::merge(&Flags::default(), file).unwrap();
        assert_eq!(c.node_id.to_string(), "ipn:1.0");
        assert_eq!(c.peers.len(), 1);
        assert_eq!(c.log_retention_ms, 7 * 86_400_000);
    }

    #[test]
    fn log_retention_from_flags_or_file_with_clear_errors() {
        let merge = |flags: Flags, file: &str| {
            Config::merge(&flags, toml::from_str::<FileConfig>(file).unwrap())
        };
        let file = "node_id = \"ipn:1.0\"\nlog_retention = \"2h\"\n";
        assert_eq!(
            merge(Flags::default(), file).unwrap().log_retention_ms,
            7_200_000
        );
        let flags = Flags {
            log_retention: Some("30m".into()),
            ..Flags::default()
        };
        assert_eq!(merge(flags, file).unwrap().log_retention_ms, 1_800_000);
        let e = merge(
            Flags::default(),
            "node_id = \"ipn:1.0\"\nlog_retention = \"1y\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("log_retention \"1y\""), "{e}");
    }

    #[test]
    fn ltp_flags_with_clear_errors() {
        let merge = |flags: Flags| {
            Config::merge(
                &flags,
                toml::from_str::<FileConfig>("node_id = \"ipn:7.0\"").unwrap(),
            )
        };
        let ok = merge(Flags {
            ltp_listen: Some("127.0.0.1:1113".parse().unwrap()),
            ltp_peers: vec!["ipn:5.0=5@127.0.0.1:1114".into()],
            ltp_owlt: Some("2s".into()),
            ..Flags::default()
        })
        .unwrap()
        .ltp
        .unwrap();
        assert_eq!((ok.engine, ok.owlt_ms, ok.peers[0].engine), (7, 2000, 5));
        let err = |flags: Flags| merge(flags).unwrap_err().to_string();
        assert!(err(Flags {
            ltp_peers: vec!["ipn:5.0=5@127.0.0.1:1114".into()],
            ..Flags::default()
        })
        .contains("no ltp_listen"));
        // The same from the file, the flags' engine over the file's.
        let file: FileConfig = toml::from_str(
            "node_id = \"ipn:7.0\"\nltp_listen = \"127.0.0.1:1113\"\nltp_engine = 70\n\
             ltp_owlt = \"1m\"\n[[ltp_peers]]\nnode_id = \"ipn:5.0\"\nengine = 5\naddr = \"127.0.0.1:1114\"\n",
        )
        .unwrap();
        let from_file = Config::merge(
            &Flags {
                ltp_engine: Some(71),
                ..Flags::default()
            },
            file,
        )
        .unwrap()
        .ltp
        .unwrap();
        assert_eq!((from_file.engine, from_file.owlt_ms), (71, 60_000));
        assert_eq!(from_file.peers.len(), 1);
        assert!(err(Flags {
            ltp_listen: Some("127.0.0.1:1113".parse().unwrap()),
            ltp_peers: vec!["ipn:5.0@127.0.0.1:1114".into()],
            ..Flags::default()
        })
        .contains("NODE-ID=ENGINE@HOST:PORT"));
    }

    #[test]
    fn the_router_follows_the_plan_and_flags_with_clear_errors() {
        let merge = |flags: Flags, file: &str| {
            Config::merge(&flags, toml::from_str::<FileConfig>(file).unwrap())
        };
        let plan = "node_id = \"ipn:1.0\"\ncontact_plan = \"plan.toml\"\n";
        assert_eq!(
            merge(Flags::default(), plan).unwrap().router,
            RouterKind::Cgr
        );
        assert_eq!(
            merge(Flags::default(), "node_id = \"ipn:1.0\"")
                .unwrap()
                .router,
            RouterKind::Static
        );
        let spray = Flags {
            router: Some("spray-and-wait".into()),
            spray_copies: Some(4),
            ..Flags::default()
        };
        assert_eq!(
            merge(spray, plan).unwrap().router,
            RouterKind::SprayAndWait(4),
            "a plan with another router only schedules links"
        );
        let e = |flags: Flags, file: &str| merge(flags, file).unwrap_err().to_string();
        let cgr = Flags {
            router: Some("cgr".into()),
            ..Flags::default()
        };
        assert!(e(cgr, "node_id = \"ipn:1.0\"").contains("needs a contact plan"));
        let odd = Flags {
            router: Some("flood".into()),
            ..Flags::default()
        };
        assert!(e(odd, "node_id = \"ipn:1.0\"").contains("router \"flood\": unknown"));
        let both = "node_id = \"ipn:1.0\"\nrouter = \"epidemic\"\n[[routes]]\npattern = \"*\"\nvia = \"ipn:2.0\"\n";
        assert!(e(Flags::default(), both).contains("static routes apply only"));
        let fallback = "node_id = \"ipn:1.0\"\ncontact_plan = \"p.toml\"\n[[routes]]\npattern = \"*\"\nvia = \"ipn:2.0\"\n";
        assert_eq!(
            merge(Flags::default(), fallback).unwrap().router,
            RouterKind::Cgr,
            "CGR with a static fallback"
        );
        let peers = "node_id = \"ipn:1.0\"\n[[contact_peers]]\nnode_id = \"ipn:2.0\"\naddr = \"127.0.0.1:1\"\n";
        assert!(e(Flags::default(), peers).contains("no contact_plan"));
    }

    #[test]
    fn bad_keys_and_values_are_named() {
        let e = toml::from_str::<FileConfig>("node_idd = \"ipn:1.0\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `node_idd`"), "{e}");
        let e = toml::from_str::<FileConfig>("tcpcl_listen = \"nowhere\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("tcpcl_listen"), "{e}");
        let file = FileConfig {
            node_id: Some("ipn:1.5".into()),
            ..FileConfig::default()
        };
        let e = Config::merge(&Flags::default(), file)
            .unwrap_err()
            .to_string();
        assert!(e.contains("node_id \"ipn:1.5\": not a node ID"), "{e}");
    }

    #[test]
    fn the_tls_table_sets_files_and_policy() {
        let file: FileConfig = toml::from_str(
            "[tls]\ncert = \"a.crt\"\nkey = \"a.key\"\nca = \"ca.crt\"\nrequire = true\nrequire_node_id = false\n",
        )
        .unwrap();
        let c = Config::merge(&Flags::default(), file).unwrap();
        let tls = c.tls.unwrap();
        assert!(tls.require);
        assert!(!tls.require_node_id);
        assert!(tls.options.require_client_cert);
        assert_eq!(tls.options.cert, PathBuf::from("a.crt"));
        let e = toml::from_str::<FileConfig>("[tls]\ncert = \"a.crt\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing field `key`"), "{e}");
        let flags = Flags {
            tls_require: true,
            ..Flags::default()
        };
        let e = Config::merge(&flags, FileConfig::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("--tls-require: needs"), "{e}");
    }

    #[test]
    fn flags_override_the_file() {
        let file = FileConfig {
            node_id: Some("ipn:1.0".into()),
            api_listen: Some("127.0.0.1:4000".parse().unwrap()),
            ..FileConfig::default()
        };
        let flags = Flags {
            api_listen: Some("127.0.0.1:5000".parse().unwrap()),
            ..Flags::default()
        };
        let c = Config::merge(&flags, file).unwrap();
        assert_eq!(c.api_listen.port(), 5000);
        assert_eq!(c.node_id.to_string(), "ipn:1.0");
        assert_eq!(c.tcpcl_listen.port(), 4556);
    }
}

//! `dtnd`, the node daemon: the sans-IO [`Agent`](bundle_agent::agent::Agent) over a RocksDB
//! store, TCPCLv4 sessions to peers, and an HTTP API for applications, all on tokio.
//!
//! One task (the core, [`core`]) owns the agent and the store; sessions and API handlers talk
//! to it over channels. The core handles a batch of messages, commits the store once (group
//! commit), and only then lets the acknowledgements out.
//!
//! This first version: static peers and routes from flags, TCPCLv4 without TLS, an HTTP API
//! to send, register and receive. Not yet: configuration file, UDP, WebSocket push, metrics,
//! listing bundles and peers, ping.

pub mod api;
pub mod core;
pub mod links;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

/// Command-line configuration of `dtnd`.
#[derive(Debug, Clone, Parser)]
#[command(name = "dtnd", version, about = "The DTN federation node daemon")]
pub struct Config {
    /// This node's ID, e.g. ipn:1.0 or dtn://pod7/ (default: dtn://<host name>/).
    #[arg(long)]
    pub node_id: Option<String>,
    /// Where the bundle store lives.
    #[arg(long, default_value = "./dtn-data")]
    pub data_dir: PathBuf,
    /// Most bytes of bundles the store keeps; further bundles are refused.
    #[arg(long, default_value_t = 10 * 1024 * 1024 * 1024)]
    pub store_quota: u64,
    /// TCPCLv4 listen address.
    #[arg(long, default_value = "0.0.0.0:4556")]
    pub tcpcl_listen: SocketAddr,
    /// HTTP API listen address.
    #[arg(long, default_value = "127.0.0.1:3000")]
    pub api_listen: SocketAddr,
    /// A peer to keep a TCPCLv4 session with (repeatable): HOST:PORT.
    #[arg(long = "peer", value_name = "ADDR")]
    pub peers: Vec<SocketAddr>,
    /// A static route (repeatable): PATTERN=NODE-ID, e.g. 'ipn:3.*=ipn:2.0'.
    #[arg(long = "route", value_name = "PATTERN=NODE")]
    pub routes: Vec<String>,
    /// Accept bundles whose primary block has no CRC and no BIB (dtn7-rs sends those).
    #[arg(long)]
    pub lenient: bool,
}

impl Config {
    /// The node ID, with the host name default applied and checked.
    pub fn node_id(&self) -> anyhow::Result<bundle_agent::wire::Eid> {
        let text = match &self.node_id {
            Some(t) => t.clone(),
            None => {
                let host =
                    std::fs::read_to_string("/etc/hostname").unwrap_or_else(|_| "localhost".into());
                format!("dtn://{}/", host.trim())
            }
        };
        let eid: bundle_agent::wire::Eid = text
            .parse()
            .map_err(|e| anyhow::anyhow!("--node-id {text:?}: {e}"))?;
        if !eid.is_node_id() {
            anyhow::bail!("--node-id {text:?}: not a node ID (use ipn:N.0 or dtn://name/)");
        }
        Ok(eid)
    }
}

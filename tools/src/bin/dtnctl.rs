//! `dtnctl`: the operator CLI of the DTN federation stack.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tools::blob_cli::{self, BlobCommand};
use tools::bundle_cli::{self, BundleCommand};
use tools::bundles_cli::{self, BundlesCommand};
use tools::cert_cli;
use tools::node_cli::{self, ApiArgs, PeersArgs, RecvArgs, SendArgs, StatusArgs};
use tools::ping_cli::{self, PingArgs};
use tools::route_cli::{self, ContactsArgs, RouteCommand};
use tools::trace_cli::{self, TraceArgs};
use tools::twin_cli::{self, TwinCommand};

/// Operate DTN nodes and inspect, build and secure BPv7 bundles.
#[derive(Debug, Parser)]
#[command(
    name = "dtnctl",
    version,
    about = "Operate DTN nodes (send, receive, ping, peers, stored bundles, certificates) and inspect, build and secure BPv7 bundles",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    api: ApiArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Work with bundle files offline: decode, encode, sign, encrypt, verify, decrypt.
    #[command(subcommand)]
    Bundle(Box<BundleCommand>),
    /// Send a bundle through a running dtnd; succeeds once the node has stored it durably.
    Send(SendArgs),
    /// Register an endpoint on a running dtnd and print the payloads that arrive there.
    Recv(RecvArgs),
    /// Show a running dtnd's status.
    Status(StatusArgs),
    /// Inspect the bundles a running dtnd stores: list, show one, delete one.
    #[command(subcommand)]
    Bundles(BundlesCommand),
    /// Round trips to a node's echo service, with RTT min/avg/max like ping.
    Ping(PingArgs),
    /// List a running dtnd's peers: TCPCL sessions and UDP peers.
    Peers(PeersArgs),
    /// Ask a running dtnd how it would route a bundle, and why.
    #[command(subcommand)]
    Route(RouteCommand),
    /// List the contacts of a running dtnd's contact plan (or `contacts reload` it).
    Contacts(ContactsArgs),
    /// Show where a bundle went: the forwarding logs of every node reachable, in time order.
    Trace(TraceArgs),
    /// Digital twins: list, get, set, watch changes merge, history.
    #[command(subcommand)]
    Twin(TwinCommand),
    /// Blobs: store a file, send it as erasure-coded shards, watch it arrive, get it back.
    #[command(subcommand)]
    Blob(BlobCommand),
    /// Make a CA and node certificates for TCPCL TLS (node ID as URI subjectAltName).
    #[command(subcommand)]
    Cert(cert_cli::CertCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Bundle(cmd) => bundle_cli::run(cmd),
        Command::Send(a) => node_cli::send(&cli.api, a),
        Command::Recv(a) => node_cli::recv(&cli.api, a),
        Command::Status(a) => node_cli::status(&cli.api, a),
        Command::Bundles(c) => bundles_cli::bundles(&cli.api, c),
        Command::Ping(a) => ping_cli::ping(&cli.api, a),
        Command::Peers(a) => node_cli::peers(&cli.api, a),
        Command::Route(c) => route_cli::route(&cli.api, c),
        Command::Contacts(a) => route_cli::contacts(&cli.api, a),
        Command::Trace(a) => trace_cli::trace(&cli.api, a),
        Command::Twin(c) => twin_cli::twin(&cli.api, c),
        Command::Blob(c) => blob_cli::blob(&cli.api, c),
        Command::Cert(c) => cert_cli::run(c),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

//! `dtnctl`: the operator CLI of the DTN federation stack.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tools::bundle_cli::{self, BundleCommand};

/// Operate DTN nodes and inspect, build and secure BPv7 bundles.
#[derive(Debug, Parser)]
#[command(name = "dtnctl", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Work with bundle files offline: decode, encode, sign, encrypt, verify, decrypt.
    #[command(subcommand)]
    Bundle(BundleCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Bundle(cmd) => bundle_cli::run(cmd),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

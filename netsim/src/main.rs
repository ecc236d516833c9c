//! `netsim`: run a scenario in virtual time and print what happened.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};
use netsim::{Scenario, Simulator};

/// Simulate DTN networks with the real node code, in virtual time.
#[derive(Debug, Parser)]
#[command(name = "netsim", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a scenario with real `dtnd` processes in real time, with a userspace link emulator
    /// between linked nodes (rate, delay, loss, up/down windows). As root each daemon gets a
    /// network namespace of its own, and Ethernet (PoE) links are a frame switch whose nodes
    /// find each other by mDNS; else the daemons share loopback and Ethernet links use
    /// TCPCLv4. Gives the same report as `run`, to compare the two.
    Emulate {
        /// The scenario file.
        scenario: PathBuf,
        /// The dtnd binary [default: next to this netsim, else dtnd on PATH].
        #[arg(long)]
        dtnd: Option<PathBuf>,
        /// Longest scenario to run in real time.
        #[arg(long, default_value = "10m")]
        max_duration: String,
        /// Also write the report as JSON to this file ('-' for standard output only).
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// No progress on standard error.
        #[arg(long, short)]
        quiet: bool,
        /// Run every daemon on loopback even as root: no namespaces, and Ethernet links over
        /// TCPCLv4.
        #[arg(long)]
        loopback: bool,
        /// Keep the daemons' stores and logs (`nodeN.log`; RUST_LOG sets their level, warn
        /// by default) in DIR instead of a temporary directory removed at the end.
        #[arg(long, value_name = "DIR")]
        keep: Option<PathBuf>,
    },
    /// Run a scenario in the simulator: every node runs the real agent, store (in memory) and
    /// router; the clock jumps from event to event. The same scenario and seed always give
    /// the same report.
    Run {
        /// The scenario file (TOML; see netsim/scenarios/ and the `scenario` module docs).
        scenario: PathBuf,
        /// Seed for every random stream (default: the scenario's).
        #[arg(long)]
        seed: Option<u64>,
        /// Also write the report as JSON to this file ('-' for standard output only).
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// Also draw the report as SVG plots (latency.svg, deliveries.svg, store.svg) in DIR.
        #[arg(long, value_name = "DIR")]
        plots: Option<PathBuf>,
        /// No progress on standard error.
        #[arg(long, short)]
        quiet: bool,
    },
}

fn run(
    path: &PathBuf,
    seed: Option<u64>,
    json: Option<&PathBuf>,
    plots: Option<&PathBuf>,
    quiet: bool,
) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut scenario = Scenario::from_toml(&text).with_context(|| path.display().to_string())?;
    if let Some(s) = seed {
        scenario.seed = s;
    }
    let started = Instant::now();
    let mut last = Instant::now();
    let sim = Simulator::new(scenario)?;
    let report = sim.run(|done, total| {
        if !quiet && last.elapsed().as_millis() >= 500 {
            last = Instant::now();
            eprint!(
                "\r{:5.1}% of virtual time, {:.1} s",
                100.0 * done as f64 / total.max(1) as f64,
                started.elapsed().as_secs_f64()
            );
            let _ = std::io::stderr().flush();
        }
    })?;
    if !quiet {
        eprintln!(
            "\rdone in {:.2} s of wall-clock time          ",
            started.elapsed().as_secs_f64()
        );
    }
    if let Some(dir) = plots {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for (name, svg) in netsim::plot::plots(&report) {
            let file = dir.join(name);
            std::fs::write(&file, svg).with_context(|| format!("writing {}", file.display()))?;
        }
    }
    print_report(&report, json)
}

fn emulate(
    path: &PathBuf,
    dtnd: Option<&PathBuf>,
    max_duration: &str,
    json: Option<&PathBuf>,
    quiet: bool,
    loopback: bool,
    keep: Option<&PathBuf>,
) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let scenario = Scenario::from_toml(&text).with_context(|| path.display().to_string())?;
    let max_duration_ms = netsim::scenario::duration_ms(max_duration)
        .map_err(|e| anyhow::anyhow!("--max-duration {e}"))?;
    let dtnd = match dtnd {
        Some(p) => p.clone(),
        None => std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(|d| d.join("dtnd")))
            .filter(|p| p.exists())
            .unwrap_or_else(|| PathBuf::from("dtnd")),
    };
    let work_dir = match keep {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("netsim-emulate-{}", std::process::id())),
    };
    std::fs::create_dir_all(&work_dir)
        .with_context(|| format!("creating {}", work_dir.display()))?;
    let opts = netsim::emulate::Options {
        dtnd,
        work_dir: work_dir.clone(),
        max_duration_ms,
        isolation: if loopback {
            netsim::emulate::hosts::Isolation::Loopback
        } else {
            netsim::emulate::hosts::Isolation::Auto
        },
    };
    netsim::emulate::stop_on_signals();
    let result = netsim::emulate::emulate(&scenario, &opts, |done, total| {
        if !quiet {
            eprint!(
                "\r{:5.1}% of the scenario's time",
                100.0 * done as f64 / total.max(1) as f64
            );
            let _ = std::io::stderr().flush();
        }
    });
    if keep.is_none() {
        let _ = std::fs::remove_dir_all(&work_dir);
    }
    let report = result?;
    if !quiet {
        eprintln!();
    }
    print_report(&report, json)
}

/// Prints the report as a table, and writes it as JSON when asked ('-': JSON only, to
/// standard output).
fn print_report(report: &netsim::Report, json: Option<&PathBuf>) -> anyhow::Result<()> {
    match json {
        Some(p) if p.as_os_str() == "-" => println!("{}", report.to_json()),
        Some(p) => {
            std::fs::write(p, report.to_json())
                .with_context(|| format!("writing {}", p.display()))?;
            print!("{}", report.to_table());
        }
        None => print!("{}", report.to_table()),
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Run {
            scenario,
            seed,
            json,
            plots,
            quiet,
        } => run(scenario, *seed, json.as_ref(), plots.as_ref(), *quiet),
        Command::Emulate {
            scenario,
            dtnd,
            max_duration,
            json,
            quiet,
            loopback,
            keep,
        } => emulate(
            scenario,
            dtnd.as_ref(),
            max_duration,
            json.as_ref(),
            *quiet,
            *loopback,
            keep.as_ref(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

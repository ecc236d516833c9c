//! `dtnctl bundle encode`: build a bundle from flags or JSON.

use anyhow::{bail, Context, Result};
use bundle_agent::wire::{
    BlockFlags, BundleBuilder, BundleFlags, CreationTimestamp, DecodeOptions, DtnTime, Eid,
};
use clap::Args;

use crate::bundle_json::{crc_from_name, BundleJson};
use crate::cli_io::{dtn_now, parse_duration_ms, read_input, write_binary};

/// Arguments of `dtnctl bundle encode`.
#[derive(Debug, Args)]
pub struct EncodeArgs {
    /// Read the bundle from this JSON file (- for standard input) instead of the flags.
    #[arg(long, conflicts_with_all = ["destination", "source", "payload", "payload_file"])]
    json: Option<String>,
    /// Destination EID, e.g. ipn:2.1 or dtn://hub/twin.
    #[arg(short, long, required_unless_present = "json")]
    destination: Option<Eid>,
    /// Source node ID, e.g. ipn:1.0; dtn:none makes an anonymous bundle.
    #[arg(short, long, required_unless_present = "json")]
    source: Option<Eid>,
    /// Where status reports go (default: the source).
    #[arg(long)]
    report_to: Option<Eid>,
    /// Creation time in ms since 2000-01-01 (default: now; 0 adds a bundle age block).
    #[arg(long)]
    creation_time_ms: Option<u64>,
    /// Creation sequence number.
    #[arg(long, default_value_t = 0)]
    sequence: u64,
    /// Lifetime: a number with unit ms, s, m, h or d.
    #[arg(long, default_value = "1d")]
    lifetime: String,
    /// CRC of every block: none, crc16 or crc32c.
    #[arg(long, default_value = "crc32c")]
    crc: String,
    /// Bundle flag to set (repeatable): must-not-fragment, app-ack-requested,
    /// status-time-requested, report-reception, report-forwarding, report-delivery,
    /// report-deletion, admin-record.
    #[arg(long = "flag", value_name = "NAME")]
    flags: Vec<String>,
    /// Add a hop count block with this hop limit (1..=255).
    #[arg(long)]
    hop_limit: Option<u64>,
    /// Add a bundle age block with this age in ms.
    #[arg(long)]
    bundle_age_ms: Option<u64>,
    /// Add a previous node block naming this node.
    #[arg(long)]
    previous_node: Option<Eid>,
    /// Payload given as text.
    #[arg(long, conflicts_with = "payload_file")]
    payload: Option<String>,
    /// Payload read from a file (- for standard input).
    #[arg(long)]
    payload_file: Option<String>,
    /// Largest payload read from a file, in bytes.
    #[arg(long, default_value_t = 256 * 1024 * 1024)]
    max_size: usize,
    /// Output file, or - for standard output.
    #[arg(short, long, default_value = "-")]
    output: String,
}

fn flag_bits(names: &[String]) -> Result<u64> {
    let mut bits = 0;
    for n in names {
        let Some((bit, _)) = BundleFlags::NAMES.iter().find(|(_, name)| name == n) else {
            let known: Vec<&str> = BundleFlags::NAMES
                .iter()
                .map(|(_, n)| *n)
                .filter(|n| *n != "is-fragment")
                .collect();
            bail!("unknown bundle flag {n:?}; known: {}", known.join(", "));
        };
        if *bit == BundleFlags::IS_FRAGMENT {
            bail!("is-fragment is set by giving fragment fields in --json input, not as a flag");
        }
        bits |= bit;
    }
    Ok(bits)
}

pub(super) fn run(a: &EncodeArgs) -> Result<()> {
    let bytes = if let Some(path) = &a.json {
        let text = read_input(path, a.max_size)?;
        let json: BundleJson = serde_json::from_slice(&text)
            .with_context(|| format!("{path}: not a bundle in JSON"))?;
        json.to_bundle()?.encode_with(&DecodeOptions::default())?
    } else {
        let (Some(dst), Some(src)) = (&a.destination, &a.source) else {
            bail!("--destination and --source are required without --json");
        };
        let payload = match (&a.payload, &a.payload_file) {
            (Some(t), None) => t.as_bytes().to_vec(),
            (None, Some(f)) => read_input(f, a.max_size)?,
            _ => Vec::new(),
        };
        let time = a.creation_time_ms.map_or_else(dtn_now, DtnTime);
        let mut b = BundleBuilder::new(
            dst.clone(),
            src.clone(),
            CreationTimestamp::new(time, a.sequence),
        )
        .crc(crc_from_name(&a.crc)?)
        .lifetime_ms(parse_duration_ms(&a.lifetime)?)
        .flags(BundleFlags(flag_bits(&a.flags)?))
        .payload_flags(BlockFlags(0))
        .payload(&payload);
        if let Some(r) = &a.report_to {
            b = b.report_to(r.clone());
        }
        if let Some(limit) = a.hop_limit {
            b = b.hop_count(limit, 0);
        }
        match (a.bundle_age_ms, time) {
            (Some(age), _) => b = b.bundle_age_ms(age),
            (None, DtnTime::UNKNOWN) => b = b.bundle_age_ms(0),
            _ => {}
        }
        if let Some(p) = &a.previous_node {
            b = b.previous_node(p);
        }
        b.build()?
    };
    write_binary(&a.output, &bytes)
}

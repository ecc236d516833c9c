//! `dtnctl bundle decode`: the bundle inspector.

use std::fmt::Write as _;

use anyhow::Result;
use bundle_agent::bpsec::AbstractSecurityBlock;
use bundle_agent::wire::{AdminRecord, BlockMeta, BlockType, BundleView};
use clap::Args;

use super::InputArgs;
use crate::bundle_json::BundleJson;

/// Arguments of `dtnctl bundle decode`.
#[derive(Debug, Args)]
pub struct DecodeArgs {
    #[command(flatten)]
    input: InputArgs,
    /// Print JSON (the form `dtnctl bundle encode --json` reads back).
    #[arg(long)]
    json: bool,
    /// Print at most this many payload bytes in the readable form.
    #[arg(long, default_value_t = 256)]
    preview: usize,
}

pub(super) fn run(a: &DecodeArgs) -> Result<()> {
    let bytes = a.input.read()?;
    let view = BundleView::decode_with(&bytes, &a.input.options())?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&BundleJson::from_view(&view))?
        );
    } else {
        print!("{}", render(&view, a.preview));
    }
    Ok(())
}

fn preview(data: &[u8], limit: usize) -> String {
    let shown = data.get(..limit.min(data.len())).unwrap_or(data);
    let more = if data.len() > shown.len() {
        format!(" ... ({} more bytes)", data.len() - shown.len())
    } else {
        String::new()
    };
    match std::str::from_utf8(shown) {
        Ok(s) if s.chars().all(|c| !c.is_control() || c == '\n' || c == '\t') => {
            format!("{s:?}{more}")
        }
        _ => format!("hex {}{more}", hex::encode(shown)),
    }
}

fn duration(ms: u64) -> String {
    let s = ms / 1000;
    format!(
        "{}d {}h {}m {}.{:03}s",
        s / 86_400,
        (s / 3600) % 24,
        (s / 60) % 60,
        s % 60,
        ms % 1000
    )
}

fn block_detail(view: &BundleView<'_>, b: &BlockMeta, limit: usize, out: &mut String) {
    let data = view.data(b);
    if view.is_encrypted(b.number) {
        let _ = writeln!(out, "  ciphertext ({} bytes)", data.len());
        return;
    }
    match b.block_type {
        BlockType::HOP_COUNT => {
            if let Some(h) = view.hop_count() {
                let _ = writeln!(out, "  hop limit {}, hop count {}", h.limit, h.count);
            }
        }
        BlockType::BUNDLE_AGE => {
            if let Some(a) = view.bundle_age_ms() {
                let _ = writeln!(out, "  age {a} ms");
            }
        }
        BlockType::PREVIOUS_NODE => {
            if let Some(e) = view.previous_node() {
                let _ = writeln!(out, "  previous node {e}");
            }
        }
        BlockType::BIB | BlockType::BCB => {
            if let Ok(asb) = AbstractSecurityBlock::decode(data) {
                let _ = writeln!(
                    out,
                    "  targets {:?}, security context {}, source {}",
                    asb.targets, asb.context_id, asb.source
                );
                for (id, v) in &asb.parameters {
                    let _ = writeln!(out, "  parameter {id} = {}", hex::encode(v));
                }
                for (t, r) in asb.targets.iter().zip(&asb.results) {
                    for (id, v) in r {
                        let _ =
                            writeln!(out, "  result for target {t}: id {id} = {}", hex::encode(v));
                    }
                }
            }
        }
        BlockType::PAYLOAD if view.primary().flags.is_admin_record() => {
            match AdminRecord::decode(data) {
                Ok(AdminRecord::StatusReport(s)) => {
                    let mut said = Vec::new();
                    for (name, item) in [
                        ("received", s.received),
                        ("forwarded", s.forwarded),
                        ("delivered", s.delivered),
                        ("deleted", s.deleted),
                    ] {
                        if item.asserted {
                            said.push(match item.time {
                                Some(t) => format!("{name} at {t}"),
                                None => name.to_string(),
                            });
                        }
                    }
                    let _ = writeln!(
                        out,
                        "  status report on {}: {}; reason {}",
                        s.subject,
                        said.join(", "),
                        s.reason
                    );
                }
                Ok(AdminRecord::Other {
                    record_type,
                    content,
                }) => {
                    let _ = writeln!(
                        out,
                        "  administrative record type {record_type}, {} bytes",
                        content.len()
                    );
                }
                Err(e) => {
                    let _ = writeln!(out, "  payload flagged as administrative record, but: {e}");
                }
            }
        }
        _ => {
            let _ = writeln!(out, "  {}", preview(data, limit));
        }
    }
}

/// The readable form.
pub fn render(view: &BundleView<'_>, limit: usize) -> String {
    let p = view.primary();
    let mut out = String::new();
    let enc = if view.is_canonical() {
        "deterministic CBOR"
    } else {
        "non-deterministic CBOR"
    };
    let _ = writeln!(
        out,
        "bundle {}  ({} bytes, {enc})",
        view.id(),
        view.bytes().len()
    );
    let _ = writeln!(out, "primary block  CRC {}", p.crc_type);
    let _ = writeln!(out, "  destination  {}", p.destination);
    let _ = writeln!(out, "  source       {}", p.source);
    let _ = writeln!(out, "  report-to    {}", p.report_to);
    let _ = writeln!(
        out,
        "  created      {} ({} ms), sequence {}",
        p.creation.time, p.creation.time.0, p.creation.sequence
    );
    let _ = writeln!(
        out,
        "  lifetime     {} ms ({})",
        p.lifetime_ms,
        duration(p.lifetime_ms)
    );
    let _ = writeln!(
        out,
        "  flags        {:#x} {}",
        p.flags.0,
        p.flags.names().join(" ")
    );
    if let Some(f) = p.fragment {
        let _ = writeln!(
            out,
            "  fragment     offset {} of {} bytes",
            f.offset, f.total_adu_length
        );
    }
    for b in view.blocks() {
        let _ = writeln!(
            out,
            "block {}  {}  flags {:#x} {}  CRC {}  {} bytes",
            b.number,
            b.block_type,
            b.flags.0,
            b.flags.names().join(" "),
            b.crc_type,
            b.data_len()
        );
        block_detail(view, b, limit, &mut out);
    }
    out
}

//! The JSON form of a bundle, used by `dtnctl bundle decode --json` and accepted by
//! `dtnctl bundle encode --json`: what `decode --json` prints, `encode --json` reads back
//! to the same bytes. Numeric fields are authoritative; names (`flag_names`, `type_name`)
//! and decoded extras (`hop_count`, `asb`, ...) are for reading and ignored on input.

use anyhow::{bail, Context, Result};
use bundle_agent::bpsec::AbstractSecurityBlock;
use bundle_agent::wire::{
    AdminRecord, BlockFlags, BlockType, Bundle, BundleFlags, BundleView, CanonicalBlock, CrcType,
    CreationTimestamp, DtnTime, FragmentInfo, PrimaryBlock,
};
use serde::{Deserialize, Serialize};

/// A whole bundle.
#[derive(Debug, Serialize, Deserialize)]
pub struct BundleJson {
    /// Bundle ID, for reading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// True when the input was in deterministic encoding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canonical: Option<bool>,
    /// Encoded size in bytes, for reading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<usize>,
    /// Primary block.
    pub primary: PrimaryJson,
    /// Canonical blocks in wire order, payload last.
    pub blocks: Vec<BlockJson>,
}

/// The primary block.
#[derive(Debug, Serialize, Deserialize)]
pub struct PrimaryJson {
    /// Bundle processing control flags.
    #[serde(default)]
    pub flags: u64,
    /// Names of the set flags.
    #[serde(default, skip_deserializing)]
    pub flag_names: Vec<String>,
    /// "none", "crc16" or "crc32c".
    pub crc: String,
    /// Destination EID.
    pub destination: String,
    /// Source node ID.
    pub source: String,
    /// Report-to EID.
    pub report_to: String,
    /// Creation time, ms since 2000-01-01.
    pub creation_time_ms: u64,
    /// Creation time as UTC text, for reading.
    #[serde(default, skip_deserializing)]
    pub creation_time: String,
    /// Creation sequence number.
    #[serde(default)]
    pub sequence: u64,
    /// Lifetime in ms.
    pub lifetime_ms: u64,
    /// Fragment fields, for fragments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fragment: Option<FragmentJson>,
}

/// Fragment fields.
#[derive(Debug, Serialize, Deserialize)]
pub struct FragmentJson {
    /// Offset of this fragment's payload in the ADU.
    pub offset: u64,
    /// Length of the whole ADU.
    pub total_adu_length: u64,
}

/// A canonical block.
#[derive(Debug, Serialize, Deserialize)]
pub struct BlockJson {
    /// Block number.
    pub number: u64,
    /// Block type code.
    #[serde(rename = "type")]
    pub block_type: u64,
    /// Registered name of the type, for reading.
    #[serde(default, skip_deserializing)]
    pub type_name: String,
    /// Block processing control flags.
    #[serde(default)]
    pub flags: u64,
    /// Names of the set flags.
    #[serde(default, skip_deserializing)]
    pub flag_names: Vec<String>,
    /// "none", "crc16" or "crc32c".
    pub crc: String,
    /// Data length, for reading.
    #[serde(default, skip_deserializing)]
    pub length: usize,
    /// Block-type-specific data in hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_hex: Option<String>,
    /// Block-type-specific data as UTF-8 text (input only, instead of `data_hex`).
    #[serde(default, skip_serializing)]
    pub data_utf8: Option<String>,
    /// Decoded contents of known blocks, for reading.
    #[serde(default, skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub decoded: Option<serde_json::Value>,
}

/// Parses a CRC name.
pub fn crc_from_name(s: &str) -> Result<CrcType> {
    Ok(
        match s.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "none" | "0" => CrcType::None,
            "crc16" | "16" | "1" => CrcType::Crc16,
            "crc32c" | "crc32" | "32" | "2" => CrcType::Crc32c,
            other => bail!("unknown CRC type {other:?}; use none, crc16 or crc32c"),
        },
    )
}

/// The CRC name used in JSON.
pub fn crc_name(c: CrcType) -> &'static str {
    match c {
        CrcType::None => "none",
        CrcType::Crc16 => "crc16",
        CrcType::Crc32c => "crc32c",
    }
}

fn decoded(
    view: &BundleView<'_>,
    number: u64,
    block_type: BlockType,
    data: &[u8],
) -> Option<serde_json::Value> {
    use serde_json::json;
    if view.is_encrypted(number) {
        let bcb = view
            .blocks()
            .iter()
            .filter(|b| b.block_type == BlockType::BCB)
            .find(|b| {
                AbstractSecurityBlock::decode(view.data(b))
                    .is_ok_and(|a| a.targets.contains(&number))
            })
            .map(|b| b.number);
        return Some(json!({ "encrypted_by": bcb }));
    }
    match block_type {
        BlockType::HOP_COUNT => view.hop_count().map(|h| json!({ "limit": h.limit, "count": h.count })),
        BlockType::BUNDLE_AGE => view.bundle_age_ms().map(|a| json!({ "age_ms": a })),
        BlockType::PREVIOUS_NODE => view.previous_node().map(|e| json!({ "node": e.to_string() })),
        BlockType::BIB | BlockType::BCB => AbstractSecurityBlock::decode(data).ok().map(|a| {
            json!({
                "targets": a.targets,
                "context_id": a.context_id,
                "source": a.source.to_string(),
                "parameters": a.parameters.iter().map(|(id, v)| json!({"id": id, "value_cbor_hex": hex::encode(v)})).collect::<Vec<_>>(),
                "results": a.results.iter().map(|r| r.iter().map(|(id, v)| json!({"id": id, "value_cbor_hex": hex::encode(v)})).collect::<Vec<_>>()).collect::<Vec<_>>(),
            })
        }),
        BlockType::PAYLOAD if view.primary().flags.is_admin_record() => Some(match AdminRecord::decode(data) {
            Ok(AdminRecord::StatusReport(s)) => json!({
                "status_report": {
                    "received": s.received.asserted, "forwarded": s.forwarded.asserted,
                    "delivered": s.delivered.asserted, "deleted": s.deleted.asserted,
                    "reason_code": s.reason.0, "reason": s.reason.to_string(),
                    "subject": s.subject.to_string(),
                }
            }),
            Ok(AdminRecord::Other { record_type, .. }) => json!({ "record_type": record_type }),
            Err(e) => json!({ "error": e.to_string() }),
        }),
        _ => None,
    }
}

impl BundleJson {
    /// The JSON form of a decoded bundle.
    pub fn from_view(view: &BundleView<'_>) -> Self {
        let p = view.primary();
        let blocks = view
            .blocks()
            .iter()
            .map(|b| {
                let data = view.data(b);
                BlockJson {
                    number: b.number,
                    block_type: b.block_type.0,
                    type_name: b.block_type.name().unwrap_or("unknown").to_string(),
                    flags: b.flags.0,
                    flag_names: b.flags.names(),
                    crc: crc_name(b.crc_type).into(),
                    length: data.len(),
                    data_hex: Some(hex::encode(data)),
                    data_utf8: None,
                    decoded: decoded(view, b.number, b.block_type, data),
                }
            })
            .collect();
        Self {
            id: Some(view.id().to_string()),
            canonical: Some(view.is_canonical()),
            size: Some(view.bytes().len()),
            primary: PrimaryJson {
                flags: p.flags.0,
                flag_names: p.flags.names(),
                crc: crc_name(p.crc_type).into(),
                destination: p.destination.to_string(),
                source: p.source.to_string(),
                report_to: p.report_to.to_string(),
                creation_time_ms: p.creation.time.0,
                creation_time: p.creation.time.to_string(),
                sequence: p.creation.sequence,
                lifetime_ms: p.lifetime_ms,
                fragment: p.fragment.map(|f| FragmentJson {
                    offset: f.offset,
                    total_adu_length: f.total_adu_length,
                }),
            },
            blocks,
        }
    }

    /// The bundle value this JSON describes.
    pub fn to_bundle(&self) -> Result<Bundle> {
        let p = &self.primary;
        let eid =
            |field: &str, s: &str| s.parse().with_context(|| format!("primary.{field}: {s:?}"));
        let primary = PrimaryBlock {
            flags: BundleFlags(p.flags),
            crc_type: crc_from_name(&p.crc).context("primary.crc")?,
            destination: eid("destination", &p.destination)?,
            source: eid("source", &p.source)?,
            report_to: eid("report_to", &p.report_to)?,
            creation: CreationTimestamp::new(DtnTime(p.creation_time_ms), p.sequence),
            lifetime_ms: p.lifetime_ms,
            fragment: p.fragment.as_ref().map(|f| FragmentInfo {
                offset: f.offset,
                total_adu_length: f.total_adu_length,
            }),
        };
        let mut blocks = Vec::with_capacity(self.blocks.len());
        for (i, b) in self.blocks.iter().enumerate() {
            let data = match (&b.data_hex, &b.data_utf8) {
                (Some(h), None) => {
                    hex::decode(h).with_context(|| format!("blocks[{i}].data_hex is not hex"))?
                }
                (None, Some(t)) => t.as_bytes().to_vec(),
                (None, None) => Vec::new(),
                (Some(_), Some(_)) => bail!("blocks[{i}]: give data_hex or data_utf8, not both"),
            };
            let crc = crc_from_name(&b.crc).with_context(|| format!("blocks[{i}].crc"))?;
            blocks.push(
                CanonicalBlock::new(BlockType(b.block_type), b.number, crc, data)
                    .with_flags(BlockFlags(b.flags)),
            );
        }
        Ok(Bundle { primary, blocks })
    }
}

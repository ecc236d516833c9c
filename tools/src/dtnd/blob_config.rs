//! Blob settings of `dtnd`: where blobs live and how many bytes, how long a stalled transfer
//! waits before asking for what it lacks, and the erasure code per destination (a link
//! profile) or by default, from flags (`--blob-quota`, `--blob-repair`, `--blob-code`) and the
//! `[blobs]` table of the configuration file. A request may name its own code.

use anyhow::{bail, Context, Result};
use bundle_agent::wire::Eid;
use erasure_store::TransferConfig;
use serde::Deserialize;

use crate::cli_io::parse_duration_ms;

/// The `[blobs]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BlobsFile {
    /// Most bytes of blobs kept [default: 10 GiB].
    pub quota: Option<u64>,
    /// How long a transfer without progress waits before asking again [default: 60s].
    pub repair: Option<String>,
    /// Data shards per stripe [default: 10].
    pub k: Option<u32>,
    /// Parity shards per stripe [default: 4].
    pub m: Option<u32>,
    /// Largest shard in bytes [default: 1 MiB].
    pub shard_size: Option<u32>,
    /// Largest blob taken from a peer [default: 64 GiB].
    pub max_blob: Option<u64>,
    /// Codes for blobs sent to particular nodes: `[[blobs.profile]] peer = "ipn:5.0"  k = 32
    /// m = 16` (a lossy deep-space link wants more parity).
    pub profile: Vec<ProfileEntry>,
}

/// A code for one destination.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileEntry {
    /// The destination node.
    pub peer: String,
    /// Data shards per stripe.
    pub k: u32,
    /// Parity shards per stripe.
    pub m: u32,
    /// Largest shard in bytes.
    pub shard_size: Option<u32>,
}

pub use erasure_store::Code;

/// Blob settings after merging.
#[derive(Debug, Clone)]
pub struct BlobConfig {
    /// Most bytes of blobs kept.
    pub quota: u64,
    /// Transfer behaviour.
    pub transfer: TransferConfig,
    /// The code used when neither the request nor a profile names one.
    pub default_code: Code,
    /// Codes per destination node.
    pub profiles: Vec<(Eid, Code)>,
}

impl BlobConfig {
    /// The code for a blob sent to `to`.
    pub fn code_for(&self, to: &Eid) -> Code {
        let node = to.node_id();
        self.profiles
            .iter()
            .find(|(p, _)| *p == node)
            .map_or(self.default_code, |(_, c)| *c)
    }
}

fn check(code: Code, what: &str) -> Result<Code> {
    erasure_store::Layout {
        size: 0,
        k: code.k,
        m: code.m,
        shard_size: code.shard.max(64) / 64 * 64,
    }
    .check()
    .with_context(|| what.to_string())?;
    Ok(code)
}

/// Parses `K,M` (as in `--blob-code 10,4`).
pub fn parse_code(text: &str, shard: u32) -> Result<Code> {
    let (k, m) = text
        .split_once(',')
        .with_context(|| format!("code {text:?}: expected K,M (e.g. 10,4)"))?;
    let k = k
        .trim()
        .parse()
        .with_context(|| format!("code {text:?}: k"))?;
    let m = m
        .trim()
        .parse()
        .with_context(|| format!("code {text:?}: m"))?;
    check(Code { k, m, shard }, &format!("code {text:?}"))
}

/// Merges flags over the file.
pub fn merge(
    quota: Option<u64>,
    repair: Option<&str>,
    code: Option<&str>,
    file: BlobsFile,
) -> Result<BlobConfig> {
    let shard = file.shard_size.unwrap_or(1 << 20);
    let default_code = match code {
        Some(c) => parse_code(c, shard)?,
        None => check(
            Code {
                k: file.k.unwrap_or(10),
                m: file.m.unwrap_or(4),
                shard,
            },
            "blobs.k / blobs.m / blobs.shard_size",
        )?,
    };
    let mut transfer = TransferConfig::default();
    if let Some(r) = repair.or(file.repair.as_deref()) {
        transfer.repair_after_ms =
            parse_duration_ms(r).with_context(|| format!("blob repair {r:?}"))?;
        if transfer.repair_after_ms == 0 {
            bail!("blob repair: must be more than 0");
        }
    }
    if let Some(n) = file.max_blob {
        transfer.max_blob = n;
    }
    let mut profiles = Vec::new();
    for (i, p) in file.profile.iter().enumerate() {
        let what = format!("blobs.profile[{i}]");
        let peer: Eid = p
            .peer
            .parse()
            .map_err(|e| anyhow::anyhow!("{what}.peer {:?}: {e}", p.peer))?;
        let code = check(
            Code {
                k: p.k,
                m: p.m,
                shard: p.shard_size.unwrap_or(shard),
            },
            &what,
        )?;
        profiles.push((peer.node_id(), code));
    }
    Ok(BlobConfig {
        quota: quota.or(file.quota).unwrap_or(10 << 30),
        transfer,
        default_code,
        profiles,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_from_flags_file_and_profiles() {
        let file: BlobsFile =
            toml::from_str("k = 8\nm = 2\n[[profile]]\npeer = \"ipn:5.0\"\nk = 32\nm = 16\n")
                .unwrap();
        let c = merge(None, Some("5s"), None, file).unwrap();
        assert_eq!(
            c.default_code,
            Code {
                k: 8,
                m: 2,
                shard: 1 << 20
            }
        );
        assert_eq!(c.code_for(&Eid::ipn(5, 3)).m, 16);
        assert_eq!(c.code_for(&Eid::ipn(6, 0)).k, 8);
        assert_eq!(c.transfer.repair_after_ms, 5000);
        assert!(merge(None, None, Some("300,1"), BlobsFile::default()).is_err());
        assert!(merge(None, None, Some("x"), BlobsFile::default())
            .unwrap_err()
            .to_string()
            .contains("K,M"));
    }
}

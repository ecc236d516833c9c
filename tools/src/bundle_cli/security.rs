//! `dtnctl bundle sign | encrypt | verify | decrypt`: BPSec with the RFC 9173 contexts and
//! keys from a key file (one `NAME HEX-KEY` a line).

use anyhow::{anyhow, bail, Context, Result};
use bundle_agent::bpsec::target_rules::existing_security;
use bundle_agent::bpsec::{
    add_bcb, add_bib, decrypt_bcb, verify_bib, AbstractSecurityBlock, AesVariant, BcbSpec, BibSpec,
    KeyFile, KeyMaterial, KeyStore, ScopeFlags, ShaVariant,
};
use bundle_agent::wire::{BlockFlags, BlockType, Bundle, BundleView, DecodeOptions, Eid};
use clap::{Args, ValueEnum};

use super::InputArgs;
use crate::bundle_json::crc_from_name;
use crate::cli_io::{random_bytes, write_binary};

/// Key file and key choice shared by the security commands.
#[derive(Debug, Args)]
pub struct KeyArgs {
    /// Key file: one `NAME HEX-KEY` a line, `#` comments.
    #[arg(long, value_name = "FILE")]
    keys: String,
    /// Name of the key to use. Verify and decrypt default to the key named after the
    /// security source EID (for example `ipn:2.1`).
    #[arg(long, value_name = "NAME")]
    key: Option<String>,
}

impl KeyArgs {
    fn load(&self) -> Result<KeyFile> {
        let text = std::fs::read_to_string(&self.keys)
            .with_context(|| format!("reading key file {}", self.keys))?;
        KeyFile::parse(&text).with_context(|| format!("key file {}", self.keys))
    }
}

/// Options shared by sign and encrypt.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    keys: KeyArgs,
    /// Security source: the node adding the operation (default: the bundle's source).
    #[arg(long)]
    security_source: Option<Eid>,
    /// Block number to protect (repeatable; 0 is the primary block). Default: the payload.
    #[arg(long = "target", value_name = "N")]
    targets: Vec<u64>,
    /// Scope flags: 1 primary block, 2 target header, 4 security header (RFC 9173).
    #[arg(long, default_value_t = 7)]
    scope: u64,
    /// Number for the new security block (default: the next free one).
    #[arg(long)]
    block_number: Option<u64>,
    /// CRC of the new security block: none, crc16 or crc32c.
    #[arg(long, default_value = "crc32c")]
    crc: String,
    /// Generate a fresh random key for this operation and carry it wrapped (AES-KW) under
    /// the named key, as RFC 9173 allows.
    #[arg(long)]
    wrap: bool,
    /// Output file, or - for standard output.
    #[arg(short, long, default_value = "-")]
    output: String,
}

/// HMAC variant names.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum HmacName {
    /// HMAC 256/256.
    HmacSha256,
    /// HMAC 384/384 (RFC 9173 default).
    HmacSha384,
    /// HMAC 512/512.
    HmacSha512,
}

/// AES-GCM variant names.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AesName {
    /// AES-128-GCM.
    A128gcm,
    /// AES-256-GCM (RFC 9173 default).
    A256gcm,
}

/// Arguments of `dtnctl bundle sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    #[command(flatten)]
    apply: ApplyArgs,
    /// HMAC variant.
    #[arg(long, value_enum, default_value = "hmac-sha384")]
    variant: HmacName,
}

/// Arguments of `dtnctl bundle encrypt`.
#[derive(Debug, Args)]
pub struct EncryptArgs {
    #[command(flatten)]
    apply: ApplyArgs,
    /// AES-GCM variant.
    #[arg(long, value_enum, default_value = "a256gcm")]
    variant: AesName,
}

/// Arguments of `dtnctl bundle verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    keys: KeyArgs,
    /// Verify only this BIB.
    #[arg(long)]
    bib: Option<u64>,
}

/// Arguments of `dtnctl bundle decrypt`.
#[derive(Debug, Args)]
pub struct DecryptArgs {
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    keys: KeyArgs,
    /// Decrypt only this BCB.
    #[arg(long)]
    bcb: Option<u64>,
    /// Output file, or - for standard output.
    #[arg(short, long, default_value = "-")]
    output: String,
}

fn load_bundle(input: &InputArgs) -> Result<(Bundle, DecodeOptions)> {
    let bytes = input.read()?;
    let opts = input.options();
    let view = BundleView::decode_with(&bytes, &opts)?;
    Ok((view.to_bundle(), opts))
}

fn named_key<'k>(store: &'k KeyFile, name: &str, file: &str) -> Result<&'k [u8]> {
    store
        .key(name)
        .ok_or_else(|| anyhow!("no key named {name:?} in {file}"))
}

/// The key for a security block: `--key`, else the key named after its security source.
fn key_for<'k>(
    args: &KeyArgs,
    store: &'k KeyFile,
    bundle: &Bundle,
    block: u64,
) -> Result<&'k [u8]> {
    if let Some(name) = &args.key {
        return named_key(store, name, &args.keys);
    }
    let source = bundle
        .block(block)
        .and_then(|b| AbstractSecurityBlock::decode(&b.data).ok())
        .map(|a| a.source.to_string())
        .ok_or_else(|| {
            anyhow!("block {block}: cannot read its security source; name a key with --key")
        })?;
    store
        .key(&source)
        .ok_or_else(|| anyhow!("block {block}: no key named after its security source {source} in {}; name one with --key", args.keys))
}

fn apply(
    a: &ApplyArgs,
    op: impl FnOnce(&mut Bundle, &ApplyContext<'_>) -> Result<u64>,
) -> Result<()> {
    let (mut bundle, opts) = load_bundle(&a.input)?;
    let store = a.keys.load()?;
    let name = a
        .keys
        .key
        .as_deref()
        .ok_or_else(|| anyhow!("--key NAME is required to sign or encrypt"))?;
    let key = named_key(&store, name, &a.keys.keys)?;
    let content_key: [u8; 64] = random_bytes()?;
    let ctx = ApplyContext {
        targets: if a.targets.is_empty() {
            vec![1]
        } else {
            a.targets.clone()
        },
        source: a
            .security_source
            .clone()
            .unwrap_or_else(|| bundle.primary.source.clone()),
        scope: ScopeFlags(a.scope),
        crc: crc_from_name(&a.crc)?,
        key,
        content_key,
        wrap: a.wrap,
        block_number: a.block_number,
    };
    let number = op(&mut bundle, &ctx)?;
    let bytes = bundle.encode_with(&opts)?;
    write_binary(&a.output, &bytes)?;
    eprintln!("added block {number} over target(s) {:?}", ctx.targets);
    Ok(())
}

struct ApplyContext<'k> {
    targets: Vec<u64>,
    source: Eid,
    scope: ScopeFlags,
    crc: bundle_agent::wire::CrcType,
    key: &'k [u8],
    content_key: [u8; 64],
    wrap: bool,
    block_number: Option<u64>,
}

impl<'k> ApplyContext<'k> {
    fn material(&'k self, content_len: usize) -> KeyMaterial<'k> {
        if self.wrap {
            KeyMaterial::Wrapped {
                kek: self.key,
                content_key: self
                    .content_key
                    .get(..content_len)
                    .unwrap_or(&self.content_key),
            }
        } else {
            KeyMaterial::Direct(self.key)
        }
    }
}

pub(super) fn sign(a: &SignArgs) -> Result<()> {
    let variant = match a.variant {
        HmacName::HmacSha256 => ShaVariant::Hmac256,
        HmacName::HmacSha384 => ShaVariant::Hmac384,
        HmacName::HmacSha512 => ShaVariant::Hmac512,
    };
    apply(&a.apply, |bundle, c| {
        let spec = BibSpec {
            targets: c.targets.clone(),
            source: c.source.clone(),
            variant,
            scope: c.scope,
            block_number: c.block_number,
            flags: BlockFlags(0),
            crc_type: c.crc,
            key: c.material(variant.output_len()),
        };
        Ok(add_bib(bundle, &spec)?)
    })
}

pub(super) fn encrypt(a: &EncryptArgs) -> Result<()> {
    let variant = match a.variant {
        AesName::A128gcm => AesVariant::A128Gcm,
        AesName::A256gcm => AesVariant::A256Gcm,
    };
    apply(&a.apply, |bundle, c| {
        let spec = BcbSpec {
            targets: c.targets.clone(),
            source: c.source.clone(),
            variant,
            scope: c.scope,
            block_number: c.block_number,
            flags: BlockFlags(BlockFlags::REPLICATE_IN_EVERY_FRAGMENT),
            crc_type: c.crc,
            iv: random_bytes()?,
            key: c.material(variant.key_len()),
        };
        Ok(add_bcb(bundle, &spec)?)
    })
}

fn blocks_of(bundle: &Bundle, t: BlockType, only: Option<u64>) -> Result<Vec<u64>> {
    let all: Vec<u64> = bundle
        .blocks
        .iter()
        .filter(|b| b.block_type == t)
        .map(|b| b.number)
        .collect();
    match only {
        Some(n) if all.contains(&n) => Ok(vec![n]),
        Some(n) => bail!(
            "block {n}: not a {} in this bundle",
            if t == BlockType::BIB { "BIB" } else { "BCB" }
        ),
        None if all.is_empty() => bail!(
            "the bundle has no {}",
            if t == BlockType::BIB { "BIB" } else { "BCB" }
        ),
        None => Ok(all),
    }
}

pub(super) fn verify(a: &VerifyArgs) -> Result<()> {
    let (bundle, _) = load_bundle(&a.input)?;
    let store = a.keys.load()?;
    let mut failures = 0;
    let existing = existing_security(&bundle)?;
    for n in blocks_of(&bundle, BlockType::BIB, a.bib)? {
        if existing.iter().any(|s| s.number == n && s.asb.is_none()) {
            failures += 1;
            let bcb = existing
                .iter()
                .find(|s| {
                    s.block_type == BlockType::BCB
                        && s.asb.as_ref().is_some_and(|x| x.targets.contains(&n))
                })
                .map_or(0, |s| s.number);
            println!("block {n}: NOT CHECKED  encrypted by BCB {bcb}; decrypt first");
            continue;
        }
        let result =
            key_for(&a.keys, &store, &bundle, n).and_then(|k| Ok(verify_bib(&bundle, n, k)?));
        match result {
            Ok(v) => println!(
                "block {n}: OK  {} over target(s) {:?} from {}",
                v.variant.name(),
                v.targets,
                v.source
            ),
            Err(e) => {
                failures += 1;
                println!("block {n}: FAILED  {e}");
            }
        }
    }
    if failures > 0 {
        bail!("{failures} BIB(s) did not verify");
    }
    Ok(())
}

pub(super) fn decrypt(a: &DecryptArgs) -> Result<()> {
    let (mut bundle, opts) = load_bundle(&a.input)?;
    let store = a.keys.load()?;
    for n in blocks_of(&bundle, BlockType::BCB, a.bcb)? {
        let key = key_for(&a.keys, &store, &bundle, n)?;
        let targets = decrypt_bcb(&mut bundle, n, key)?;
        eprintln!("block {n}: decrypted target(s) {targets:?} and removed the BCB");
    }
    write_binary(&a.output, &bundle.encode_with(&opts)?)
}

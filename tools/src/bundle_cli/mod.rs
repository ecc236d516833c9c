//! `dtnctl bundle ...`: inspect, build and secure bundles offline, from files or pipes.

mod decode;
mod encode;
mod security;

use anyhow::Result;
use bundle_agent::wire::DecodeOptions;
use clap::{Args, Subcommand};

pub use decode::DecodeArgs;
pub use encode::EncodeArgs;
pub use security::{DecryptArgs, EncryptArgs, SignArgs, VerifyArgs};

/// Offline bundle tools.
#[derive(Debug, Subcommand)]
pub enum BundleCommand {
    /// Check a bundle against RFC 9171 and print it, readably or as JSON.
    ///
    /// Every CRC and block rule is checked; a bundle that breaks one is refused with the
    /// rule named (for example "block 3: CRC-32C mismatch") and exit status 1.
    Decode(DecodeArgs),
    /// Build a bundle from flags or from the JSON that `decode --json` prints.
    Encode(EncodeArgs),
    /// Add a Block Integrity Block (BIB-HMAC-SHA2, RFC 9173 §3).
    Sign(SignArgs),
    /// Encrypt blocks under a Block Confidentiality Block (BCB-AES-GCM, RFC 9173 §4).
    Encrypt(EncryptArgs),
    /// Check every BIB (or one) of a bundle; exit status 1 if any does not verify.
    Verify(VerifyArgs),
    /// Decrypt every BCB (or one) of a bundle and remove it.
    Decrypt(DecryptArgs),
}

/// Where a bundle comes from and how strictly it is read.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// Bundle file, or - for standard input.
    #[arg(default_value = "-")]
    pub input: String,
    /// Also accept a primary block without CRC and without BIB, and a zero creation time
    /// without bundle age block (RFC 9173 Appendix A and some deployed nodes do both).
    #[arg(long)]
    pub lenient: bool,
    /// Largest bundle accepted, in bytes.
    #[arg(long, default_value_t = 256 * 1024 * 1024)]
    pub max_size: usize,
}

impl InputArgs {
    /// Decoder options for these flags.
    pub fn options(&self) -> DecodeOptions {
        let base = if self.lenient {
            DecodeOptions::lenient()
        } else {
            DecodeOptions::default()
        };
        DecodeOptions {
            max_bundle_size: self.max_size,
            ..base
        }
    }

    /// Reads the input bytes.
    pub fn read(&self) -> Result<Vec<u8>> {
        crate::cli_io::read_input(&self.input, self.max_size)
    }
}

/// Runs a `dtnctl bundle` subcommand.
pub fn run(cmd: &BundleCommand) -> Result<()> {
    match cmd {
        BundleCommand::Decode(a) => decode::run(a),
        BundleCommand::Encode(a) => encode::run(a),
        BundleCommand::Sign(a) => security::sign(a),
        BundleCommand::Encrypt(a) => security::encrypt(a),
        BundleCommand::Verify(a) => security::verify(a),
        BundleCommand::Decrypt(a) => security::decrypt(a),
    }
}

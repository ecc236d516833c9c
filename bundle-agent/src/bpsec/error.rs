//! Errors of BPSec processing. Each names the block and the rule, for example
//! `block 2: BIB result for target 1 is 32 bytes; HMAC 512/512 makes 64`.

use thiserror::Error;

use super::asb::AsbError;
use crate::wire::DecodeError;

/// Why a security operation could not be applied, verified or reversed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum BpsecError {
    /// The bundle itself is invalid.
    #[error("{0}")]
    Bundle(#[from] DecodeError),
    /// A security block's ASB is malformed.
    #[error("block {block}: {source}")]
    Asb {
        /// Security block number.
        block: u64,
        /// What was wrong.
        source: AsbError,
    },
    /// No block with this number.
    #[error("block {0}: no such block")]
    NoSuchBlock(u64),
    /// The block is not a BIB (or BCB) as the operation requires.
    #[error("block {block}: not a {expected}")]
    WrongBlockType {
        /// The block.
        block: u64,
        /// "BIB" or "BCB".
        expected: &'static str,
    },
    /// The requested number for the new block is taken or reserved.
    #[error("block {0}: number is in use or reserved for the primary and payload blocks")]
    BlockNumberUnavailable(u64),
    /// A security operation with no targets (RFC 9172 §3.6).
    #[error("no security targets given (RFC 9172 §3.6)")]
    NoTargets,
    /// A target named twice (RFC 9172 §3.6).
    #[error("target {0} named twice (RFC 9172 §3.6)")]
    DuplicateTarget(u64),
    /// A target that is not in the bundle.
    #[error("target {0}: no such block in the bundle")]
    TargetMissing(u64),
    /// BIB over a BIB or BCB (RFC 9172 §3.7).
    #[error("target {0}: a BIB must not target a security block (RFC 9172 §3.7)")]
    BibTargetsSecurityBlock(u64),
    /// BCB over the primary block (RFC 9172 §3.8).
    #[error("target 0: a BCB must not target the primary block (RFC 9172 §3.8)")]
    BcbTargetsPrimary,
    /// BCB over a BCB (RFC 9172 §3.8).
    #[error("target {0}: a BCB must not target another BCB (RFC 9172 §3.8)")]
    BcbTargetsBcb(u64),
    /// BCB over a BIB that shares none of its targets (RFC 9172 §3.8).
    #[error("target {0}: a BCB may target a BIB only if it also targets a block that BIB protects (RFC 9172 §3.8)")]
    BcbOverUnrelatedBib(u64),
    /// BCB over a block that a BIB protects, without encrypting that BIB (RFC 9172 §3.9).
    #[error("target {target}: BIB {bib} protects it, so the BCB must target BIB {bib} too (RFC 9172 §3.9)")]
    BcbMustCoverBib {
        /// The plaintext target.
        target: u64,
        /// The BIB protecting it.
        bib: u64,
    },
    /// The same service twice on one target (RFC 9172 §3.2).
    #[error("target {target}: already protected by {service} block {existing} (RFC 9172 §3.2)")]
    DuplicateService {
        /// The target.
        target: u64,
        /// "BIB" or "BCB".
        service: &'static str,
        /// The existing security block.
        existing: u64,
    },
    /// A BIB over ciphertext (RFC 9172 §3.9).
    #[error("target {target}: already encrypted by BCB {bcb}; integrity must be added before confidentiality (RFC 9172 §3.9)")]
    IntegrityAfterConfidentiality {
        /// The target.
        target: u64,
        /// The BCB.
        bcb: u64,
    },
    /// BCB flags break RFC 9172 §3.8.
    #[error("BCB flags: {0} (RFC 9172 §3.8)")]
    BcbFlags(&'static str),
    /// A security context this implementation does not have.
    #[error("block {block}: unsupported security context {context}")]
    UnknownContext {
        /// Security block.
        block: u64,
        /// Context id.
        context: i64,
    },
    /// A parameter with a bad value.
    #[error("block {block}: parameter {id}: {reason}")]
    Parameter {
        /// Security block.
        block: u64,
        /// Parameter id.
        id: u64,
        /// What was wrong.
        reason: String,
    },
    /// A result missing or of the wrong type or length.
    #[error("block {block}: result for target {target}: {reason}")]
    Result {
        /// Security block.
        block: u64,
        /// The target.
        target: u64,
        /// What was wrong.
        reason: String,
    },
    /// The HMAC does not match (RFC 9173 §3).
    #[error("block {block}: {algorithm} over target {target} does not match; the target was altered or the key is wrong")]
    IntegrityCheckFailed {
        /// Security block.
        block: u64,
        /// The target.
        target: u64,
        /// Algorithm name.
        algorithm: &'static str,
    },
    /// AES-GCM authentication failed.
    #[error("block {block}: {algorithm} decryption of target {target} failed authentication; the ciphertext was altered or the key is wrong")]
    DecryptionFailed {
        /// Security block.
        block: u64,
        /// The target.
        target: u64,
        /// Algorithm name.
        algorithm: &'static str,
    },
    /// A key of the wrong length for the algorithm.
    #[error("key is {found} bytes; {algorithm} needs {expected}")]
    KeyLength {
        /// Algorithm name.
        algorithm: &'static str,
        /// Bytes required.
        expected: usize,
        /// Bytes given.
        found: usize,
    },
    /// AES key unwrap failed (wrong key-encryption key or corrupted wrapped key).
    #[error(
        "block {0}: AES key unwrap failed (RFC 3394 integrity check); wrong key-encryption key?"
    )]
    KeyUnwrap(u64),
    /// The target is ciphertext, so it cannot be verified yet.
    #[error("block {block}: target {target} is encrypted by BCB {bcb}; decrypt first")]
    TargetEncrypted {
        /// Security block.
        block: u64,
        /// The target.
        target: u64,
        /// The BCB.
        bcb: u64,
    },
}

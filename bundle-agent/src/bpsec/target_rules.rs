//! Which blocks a new security operation may target (RFC 9172 §3.2, §3.6 - §3.9).
//!
//! - every target exists, none is named twice, and there is at least one (§3.6);
//! - a target carries at most one integrity and one confidentiality service (§3.2);
//! - a BIB never targets a BIB or a BCB (§3.7), nor a block already encrypted (§3.9);
//! - a BCB never targets the primary block or a BCB (§3.8); it targets a BIB only when it
//!   also targets a block that BIB protects (§3.8), and when it encrypts a block a BIB
//!   protects it must encrypt that BIB too (§3.9);
//! - a BCB is replicated in every fragment and is never discarded unprocessed (§3.8).

use crate::wire::{BlockFlags, BlockType, Bundle};

use super::asb::AbstractSecurityBlock;
use super::error::BpsecError;

/// A security block already in the bundle, with its ASB decoded where readable.
#[derive(Debug, Clone)]
pub struct ExistingSecurity {
    /// Block number.
    pub number: u64,
    /// BIB or BCB.
    pub block_type: BlockType,
    /// The ASB; `None` for a BIB that a BCB has encrypted.
    pub asb: Option<AbstractSecurityBlock>,
}

/// Decodes every security block of the bundle. Encrypted BIBs are listed without ASB.
pub fn existing_security(bundle: &Bundle) -> Result<Vec<ExistingSecurity>, BpsecError> {
    let mut bcbs = Vec::new();
    for b in bundle
        .blocks
        .iter()
        .filter(|b| b.block_type == BlockType::BCB)
    {
        let asb = AbstractSecurityBlock::decode(&b.data).map_err(|source| BpsecError::Asb {
            block: b.number,
            source,
        })?;
        bcbs.push(ExistingSecurity {
            number: b.number,
            block_type: BlockType::BCB,
            asb: Some(asb),
        });
    }
    let encrypted = |n: u64| {
        bcbs.iter()
            .any(|s| s.asb.as_ref().is_some_and(|a| a.targets.contains(&n)))
    };
    let mut out = Vec::new();
    for b in bundle
        .blocks
        .iter()
        .filter(|b| b.block_type == BlockType::BIB)
    {
        let asb = if encrypted(b.number) {
            None
        } else {
            Some(
                AbstractSecurityBlock::decode(&b.data).map_err(|source| BpsecError::Asb {
                    block: b.number,
                    source,
                })?,
            )
        };
        out.push(ExistingSecurity {
            number: b.number,
            block_type: BlockType::BIB,
            asb,
        });
    }
    out.extend(bcbs);
    Ok(out)
}

fn covering(existing: &[ExistingSecurity], block_type: BlockType, target: u64) -> Option<u64> {
    existing
        .iter()
        .filter(|s| s.block_type == block_type)
        .find(|s| s.asb.as_ref().is_some_and(|a| a.targets.contains(&target)))
        .map(|s| s.number)
}

fn check_list(bundle: &Bundle, targets: &[u64]) -> Result<(), BpsecError> {
    if targets.is_empty() {
        return Err(BpsecError::NoTargets);
    }
    for (i, t) in targets.iter().enumerate() {
        if targets.get(..i).is_some_and(|before| before.contains(t)) {
            return Err(BpsecError::DuplicateTarget(*t));
        }
        if *t != 0 && bundle.block(*t).is_none() {
            return Err(BpsecError::TargetMissing(*t));
        }
    }
    Ok(())
}

/// Checks the targets of a new BIB.
pub fn check_bib_targets(bundle: &Bundle, targets: &[u64]) -> Result<(), BpsecError> {
    check_list(bundle, targets)?;
    let existing = existing_security(bundle)?;
    for &t in targets {
        if let Some(b) = bundle.block(t) {
            if matches!(b.block_type, BlockType::BIB | BlockType::BCB) {
                return Err(BpsecError::BibTargetsSecurityBlock(t));
            }
        }
        if let Some(existing) = covering(&existing, BlockType::BIB, t) {
            return Err(BpsecError::DuplicateService {
                target: t,
                service: "BIB",
                existing,
            });
        }
        if let Some(bcb) = covering(&existing, BlockType::BCB, t) {
            return Err(BpsecError::IntegrityAfterConfidentiality { target: t, bcb });
        }
    }
    Ok(())
}

/// Checks the targets and flags of a new BCB.
pub fn check_bcb_targets(
    bundle: &Bundle,
    targets: &[u64],
    flags: BlockFlags,
) -> Result<(), BpsecError> {
    check_list(bundle, targets)?;
    if !flags.has(BlockFlags::REPLICATE_IN_EVERY_FRAGMENT) {
        return Err(BpsecError::BcbFlags(
            "\"block must be replicated in every fragment\" must be set",
        ));
    }
    if flags.has(BlockFlags::DISCARD_IF_UNPROCESSABLE) {
        return Err(BpsecError::BcbFlags(
            "\"discard block if it can't be processed\" must not be set",
        ));
    }
    let existing = existing_security(bundle)?;
    for &t in targets {
        if t == 0 {
            return Err(BpsecError::BcbTargetsPrimary);
        }
        if let Some(existing) = covering(&existing, BlockType::BCB, t) {
            return Err(BpsecError::DuplicateService {
                target: t,
                service: "BCB",
                existing,
            });
        }
        match bundle.block(t).map(|b| b.block_type) {
            Some(BlockType::BCB) => return Err(BpsecError::BcbTargetsBcb(t)),
            Some(BlockType::BIB) => {
                let shares = existing
                    .iter()
                    .find(|s| s.number == t)
                    .and_then(|s| s.asb.as_ref())
                    .is_some_and(|a| a.targets.iter().any(|x| targets.contains(x)));
                if !shares {
                    return Err(BpsecError::BcbOverUnrelatedBib(t));
                }
            }
            _ => {
                if let Some(bib) = covering(&existing, BlockType::BIB, t) {
                    if !targets.contains(&bib) {
                        return Err(BpsecError::BcbMustCoverBib { target: t, bib });
                    }
                }
            }
        }
    }
    Ok(())
}

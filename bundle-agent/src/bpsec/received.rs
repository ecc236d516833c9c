//! Checks the security blocks of a received bundle before anything else trusts them:
//! every ASB well-formed (RFC 9172 §3.6), the targeting rules of RFC 9172 §3.2, §3.7 and
//! §3.8, and, for the RFC 9173 contexts, parameters and result lengths that fit the
//! algorithm. Keys are not needed; verifying and decrypting are separate steps.

use crate::wire::{BlockRef, BlockType, DecodeError, SecurityRule};

use super::asb::{read_bytes_value, read_uint_value, AbstractSecurityBlock};
use super::context::{
    bib_param, ShaVariant, CONTEXT_BCB_AES_GCM, CONTEXT_BIB_HMAC_SHA2, GCM_TAG_LEN, RESULT_ID,
};

/// What the checks learned.
#[derive(Debug, Default)]
pub struct SecuritySummary {
    /// Blocks that some BCB targets.
    pub encrypted: Vec<u64>,
    /// True when some BIB targets the primary block.
    pub primary_signed: bool,
}

fn rule(block: u64, rule: SecurityRule) -> DecodeError {
    DecodeError::Security { block, rule }
}

/// Checks every BIB and BCB in `blocks`.
pub fn check_security_blocks(blocks: &[BlockRef<'_>]) -> Result<SecuritySummary, DecodeError> {
    let mut summary = SecuritySummary::default();
    if !blocks
        .iter()
        .any(|b| matches!(b.block_type, BlockType::BIB | BlockType::BCB))
    {
        return Ok(summary);
    }
    let type_of = |n: u64| blocks.iter().find(|b| b.number == n).map(|b| b.block_type);
    // BCBs first: a BIB that a BCB encrypts holds ciphertext, not an ASB.
    let mut bcbs: Vec<(u64, AbstractSecurityBlock)> = Vec::new();
    for b in blocks.iter().filter(|b| b.block_type == BlockType::BCB) {
        let asb = decode(b, "BCB")?;
        for &t in &asb.targets {
            match type_of(t) {
                _ if t == 0 => return Err(rule(b.number, SecurityRule::BcbTargetsPrimary)),
                None => return Err(rule(b.number, SecurityRule::TargetMissing(t))),
                Some(BlockType::BCB) => {
                    return Err(rule(
                        b.number,
                        SecurityRule::TargetsSecurityBlock {
                            kind: "BCB",
                            target: t,
                        },
                    ))
                }
                _ => {}
            }
            served_once(b.number, "BCB", t, &bcbs)?;
        }
        if asb.context_id == CONTEXT_BCB_AES_GCM {
            check_results(b.number, &asb, |_| Ok((GCM_TAG_LEN, "AES-GCM")))?;
        }
        summary.encrypted.extend_from_slice(&asb.targets);
        bcbs.push((b.number, asb));
    }
    let mut bibs: Vec<(u64, AbstractSecurityBlock)> = Vec::new();
    for b in blocks
        .iter()
        .filter(|b| b.block_type == BlockType::BIB && !summary.encrypted.contains(&b.number))
    {
        let asb = decode(b, "BIB")?;
        for &t in &asb.targets {
            match type_of(t) {
                _ if t == 0 => summary.primary_signed = true,
                None => return Err(rule(b.number, SecurityRule::TargetMissing(t))),
                Some(BlockType::BIB | BlockType::BCB) => {
                    return Err(rule(
                        b.number,
                        SecurityRule::TargetsSecurityBlock {
                            kind: "BIB",
                            target: t,
                        },
                    ))
                }
                _ => {}
            }
            served_once(b.number, "BIB", t, &bibs)?;
        }
        if asb.context_id == CONTEXT_BIB_HMAC_SHA2 {
            let variant = sha_variant(b.number, &asb)?;
            check_results(b.number, &asb, |_| {
                Ok((variant.output_len(), variant.name()))
            })?;
        }
        bibs.push((b.number, asb));
    }
    // RFC 9172 §3.8 also lets a BCB target a BIB only when it shares a target with it; a
    // receiver cannot check that, because such a BIB is ciphertext. `add_bcb` enforces it.
    Ok(summary)
}

/// RFC 9172 §3.2: one security block of a kind per target.
fn served_once(
    block: u64,
    kind: &'static str,
    target: u64,
    earlier: &[(u64, AbstractSecurityBlock)],
) -> Result<(), DecodeError> {
    match earlier.iter().find(|(_, a)| a.targets.contains(&target)) {
        Some((other, _)) => Err(rule(
            block,
            SecurityRule::DuplicateService {
                target,
                kind,
                other: *other,
            },
        )),
        None => Ok(()),
    }
}

fn decode(b: &BlockRef<'_>, kind: &'static str) -> Result<AbstractSecurityBlock, DecodeError> {
    AbstractSecurityBlock::decode(b.data).map_err(|e| DecodeError::BlockData {
        number: b.number,
        kind,
        reason: e.to_string(),
    })
}

fn sha_variant(block: u64, asb: &AbstractSecurityBlock) -> Result<ShaVariant, DecodeError> {
    let Some(v) = asb.parameter(bib_param::SHA_VARIANT) else {
        return Ok(ShaVariant::Hmac384);
    };
    let code = read_uint_value(v).map_err(|e| {
        rule(
            block,
            SecurityRule::Context(format!("SHA variant parameter: {e}")),
        )
    })?;
    ShaVariant::from_code(code).ok_or_else(|| {
        rule(
            block,
            SecurityRule::Context(format!("unknown SHA variant {code}")),
        )
    })
}

fn check_results(
    block: u64,
    asb: &AbstractSecurityBlock,
    expected: impl Fn(u64) -> Result<(usize, &'static str), DecodeError>,
) -> Result<(), DecodeError> {
    for (t, results) in asb.targets.iter().zip(&asb.results) {
        let (len, algorithm) = expected(*t)?;
        let Some((_, value)) = results.iter().find(|(id, _)| *id == RESULT_ID) else {
            return Err(rule(
                block,
                SecurityRule::Context(format!("no result with id 1 for target {t}")),
            ));
        };
        let bytes = read_bytes_value(value).map_err(|e| {
            rule(
                block,
                SecurityRule::Context(format!("result for target {t}: {e}")),
            )
        })?;
        if bytes.len() != len {
            return Err(rule(
                block,
                SecurityRule::ResultLength {
                    target: *t,
                    found: bytes.len(),
                    expected: len,
                    algorithm,
                },
            ));
        }
    }
    Ok(())
}

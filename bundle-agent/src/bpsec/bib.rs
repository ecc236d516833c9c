//! BIB-HMAC-SHA2 (RFC 9173 §3): adding a Block Integrity Block and verifying one.

use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha384, Sha512};

use crate::wire::{BlockFlags, BlockType, Bundle, CanonicalBlock, CrcType, Eid};

use super::asb::{
    bytes_value, read_bytes_value, read_uint_value, uint_value, AbstractSecurityBlock,
};
use super::canonical::{ippt, BlockHeader};
use super::context::{bib_param, ScopeFlags, ShaVariant, CONTEXT_BIB_HMAC_SHA2, RESULT_ID};
use super::error::BpsecError;
use super::keys::{unwrap_key, wrap_key, KeyMaterial};
use super::target_rules::{check_bib_targets, existing_security};
use super::{insert_security_block, pick_block_number};

/// How to add a BIB.
#[derive(Debug, Clone)]
pub struct BibSpec<'k> {
    /// Blocks to protect (0 = primary block).
    pub targets: Vec<u64>,
    /// The security source: this node.
    pub source: Eid,
    /// HMAC variant.
    pub variant: ShaVariant,
    /// What besides the target data the HMAC covers.
    pub scope: ScopeFlags,
    /// Number for the new block; the next free one when `None`.
    pub block_number: Option<u64>,
    /// Block processing flags of the BIB.
    pub flags: BlockFlags,
    /// CRC type of the BIB.
    pub crc_type: CrcType,
    /// The key.
    pub key: KeyMaterial<'k>,
}

fn hmac(variant: ShaVariant, key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail; the fallback keeps
    // the code free of panics all the same.
    match variant {
        ShaVariant::Hmac256 => Hmac::<Sha256>::new_from_slice(key)
            .map(|m| m.chain_update(data).finalize().into_bytes().to_vec()),
        ShaVariant::Hmac384 => Hmac::<Sha384>::new_from_slice(key)
            .map(|m| m.chain_update(data).finalize().into_bytes().to_vec()),
        ShaVariant::Hmac512 => Hmac::<Sha512>::new_from_slice(key)
            .map(|m| m.chain_update(data).finalize().into_bytes().to_vec()),
    }
    .unwrap_or_default()
}

/// Adds a BIB over `spec.targets` and returns its block number.
pub fn add_bib(bundle: &mut Bundle, spec: &BibSpec<'_>) -> Result<u64, BpsecError> {
    check_bib_targets(bundle, &spec.targets)?;
    let number = pick_block_number(bundle, spec.block_number)?;
    let header = BlockHeader {
        block_type: BlockType::BIB,
        number,
        flags: spec.flags,
    };
    let (key, wrapped) = match spec.key {
        KeyMaterial::Direct(k) => (k, None),
        KeyMaterial::Wrapped { kek, content_key } => {
            (content_key, Some(wrap_key(kek, content_key)?))
        }
    };
    let mut results = Vec::with_capacity(spec.targets.len());
    for &t in &spec.targets {
        let plaintext = ippt(bundle, spec.scope, t, header)?;
        results.push(vec![(
            RESULT_ID,
            bytes_value(&hmac(spec.variant, key, &plaintext)),
        )]);
    }
    let mut parameters = vec![(bib_param::SHA_VARIANT, uint_value(spec.variant.code()))];
    if let Some(w) = wrapped {
        parameters.push((bib_param::WRAPPED_KEY, bytes_value(&w)));
    }
    parameters.push((bib_param::SCOPE_FLAGS, uint_value(spec.scope.0)));
    let asb = AbstractSecurityBlock {
        targets: spec.targets.clone(),
        context_id: CONTEXT_BIB_HMAC_SHA2,
        source: spec.source.clone(),
        parameters,
        results,
    };
    let block = CanonicalBlock {
        block_type: BlockType::BIB,
        number,
        flags: spec.flags,
        crc_type: spec.crc_type,
        data: asb.encode().into(),
        wire: None,
    };
    insert_security_block(bundle, block);
    Ok(number)
}

/// What a successful verification covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The BIB.
    pub block: u64,
    /// The targets whose HMACs matched.
    pub targets: Vec<u64>,
    /// The security source.
    pub source: Eid,
    /// The HMAC variant.
    pub variant: ShaVariant,
}

/// The BIB-HMAC-SHA2 parameters of a BIB, with RFC 9173 §3.3 defaults.
pub(crate) struct BibParameters {
    pub variant: ShaVariant,
    pub scope: ScopeFlags,
    pub wrapped_key: Option<Vec<u8>>,
}

pub(crate) fn bib_parameters(
    block: u64,
    asb: &AbstractSecurityBlock,
) -> Result<BibParameters, BpsecError> {
    if asb.context_id != CONTEXT_BIB_HMAC_SHA2 {
        return Err(BpsecError::UnknownContext {
            block,
            context: asb.context_id,
        });
    }
    let bad = |id: u64, reason: String| BpsecError::Parameter { block, id, reason };
    let mut p = BibParameters {
        variant: ShaVariant::Hmac384,
        scope: ScopeFlags::ALL,
        wrapped_key: None,
    };
    for (id, value) in &asb.parameters {
        match *id {
            bib_param::SHA_VARIANT => {
                let code = read_uint_value(value).map_err(|e| bad(*id, e.to_string()))?;
                p.variant = ShaVariant::from_code(code)
                    .ok_or_else(|| bad(*id, format!("unknown SHA variant {code}")))?;
            }
            bib_param::WRAPPED_KEY => {
                p.wrapped_key = Some(
                    read_bytes_value(value)
                        .map_err(|e| bad(*id, e.to_string()))?
                        .to_vec(),
                );
            }
            bib_param::SCOPE_FLAGS => {
                p.scope = ScopeFlags(read_uint_value(value).map_err(|e| bad(*id, e.to_string()))?);
            }
            other => {
                return Err(bad(
                    other,
                    "not a BIB-HMAC-SHA2 parameter (RFC 9173 §3.3)".into(),
                ))
            }
        }
    }
    Ok(p)
}

/// Verifies every target of the BIB numbered `block` with `key` (the HMAC key, or the
/// key-encryption key when the BIB carries a wrapped key).
pub fn verify_bib(bundle: &Bundle, block: u64, key: &[u8]) -> Result<Verified, BpsecError> {
    let b = bundle.block(block).ok_or(BpsecError::NoSuchBlock(block))?;
    if b.block_type != BlockType::BIB {
        return Err(BpsecError::WrongBlockType {
            block,
            expected: "BIB",
        });
    }
    let existing = existing_security(bundle)?;
    let encrypted_by = |n: u64| {
        existing
            .iter()
            .filter(|s| s.block_type == BlockType::BCB)
            .find(|s| s.asb.as_ref().is_some_and(|a| a.targets.contains(&n)))
            .map(|s| s.number)
    };
    if let Some(bcb) = encrypted_by(block) {
        return Err(BpsecError::TargetEncrypted {
            block,
            target: block,
            bcb,
        });
    }
    let asb = AbstractSecurityBlock::decode(&b.data)
        .map_err(|source| BpsecError::Asb { block, source })?;
    let params = bib_parameters(block, &asb)?;
    let unwrapped;
    let key = match &params.wrapped_key {
        Some(w) => {
            unwrapped = unwrap_key(block, key, w)?;
            &unwrapped[..]
        }
        None => key,
    };
    let header = BlockHeader {
        block_type: BlockType::BIB,
        number: block,
        flags: b.flags,
    };
    for (i, &t) in asb.targets.iter().enumerate() {
        if let Some(bcb) = encrypted_by(t) {
            return Err(BpsecError::TargetEncrypted {
                block,
                target: t,
                bcb,
            });
        }
        let result = asb
            .results
            .get(i)
            .and_then(|r| r.iter().find(|(id, _)| *id == RESULT_ID));
        let expected = result
            .ok_or_else(|| BpsecError::Result {
                block,
                target: t,
                reason: "no expected HMAC (result id 1)".into(),
            })
            .and_then(|(_, v)| {
                read_bytes_value(v).map_err(|e| BpsecError::Result {
                    block,
                    target: t,
                    reason: e.to_string(),
                })
            })?;
        if expected.len() != params.variant.output_len() {
            return Err(BpsecError::Result {
                block,
                target: t,
                reason: format!(
                    "{} bytes; {} makes {}",
                    expected.len(),
                    params.variant.name(),
                    params.variant.output_len()
                ),
            });
        }
        let plaintext = ippt(bundle, params.scope, t, header)?;
        let ok = match params.variant {
            ShaVariant::Hmac256 => Hmac::<Sha256>::new_from_slice(key)
                .is_ok_and(|m| m.chain_update(&plaintext).verify_slice(expected).is_ok()),
            ShaVariant::Hmac384 => Hmac::<Sha384>::new_from_slice(key)
                .is_ok_and(|m| m.chain_update(&plaintext).verify_slice(expected).is_ok()),
            ShaVariant::Hmac512 => Hmac::<Sha512>::new_from_slice(key)
                .is_ok_and(|m| m.chain_update(&plaintext).verify_slice(expected).is_ok()),
        };
        if !ok {
            return Err(BpsecError::IntegrityCheckFailed {
                block,
                target: t,
                algorithm: params.variant.name(),
            });
        }
    }
    Ok(Verified {
        block,
        targets: asb.targets.clone(),
        source: asb.source.clone(),
        variant: params.variant,
    })
}

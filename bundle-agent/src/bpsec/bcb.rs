//! BCB-AES-GCM (RFC 9173 §4): encrypting targets under a Block Confidentiality Block and
//! decrypting them again.

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm, Nonce, Tag};

use crate::wire::{BlockFlags, BlockType, Bundle, CanonicalBlock, CrcType, Eid};

use super::asb::{
    bytes_value, read_bytes_value, read_uint_value, uint_value, AbstractSecurityBlock,
};
use super::canonical::{aad, BlockHeader};
use super::context::{
    bcb_param, AesVariant, ScopeFlags, CONTEXT_BCB_AES_GCM, GCM_IV_LEN, GCM_TAG_LEN, RESULT_ID,
};
use super::error::BpsecError;
use super::keys::{unwrap_key, wrap_key, KeyMaterial};
use super::target_rules::check_bcb_targets;
use super::{insert_security_block, pick_block_number};

/// How to add a BCB.
#[derive(Debug, Clone)]
pub struct BcbSpec<'k> {
    /// Blocks to encrypt (never 0).
    pub targets: Vec<u64>,
    /// The security source: this node.
    pub source: Eid,
    /// AES variant.
    pub variant: AesVariant,
    /// What the AAD covers.
    pub scope: ScopeFlags,
    /// Number for the new block; the next free one when `None`.
    pub block_number: Option<u64>,
    /// Block processing flags (must include "replicate in every fragment").
    pub flags: BlockFlags,
    /// CRC type of the BCB.
    pub crc_type: CrcType,
    /// The 12-byte IV. It must never repeat under one key; callers draw it from a CSPRNG.
    pub iv: [u8; GCM_IV_LEN],
    /// The key.
    pub key: KeyMaterial<'k>,
}

enum Cipher {
    A128(Box<Aes128Gcm>),
    A256(Box<Aes256Gcm>),
}

impl Cipher {
    fn new(variant: AesVariant, key: &[u8]) -> Result<Self, BpsecError> {
        let wrong = || BpsecError::KeyLength {
            algorithm: variant.name(),
            expected: variant.key_len(),
            found: key.len(),
        };
        Ok(match variant {
            AesVariant::A128Gcm => Cipher::A128(Box::new(
                Aes128Gcm::new_from_slice(key).map_err(|_| wrong())?,
            )),
            AesVariant::A256Gcm => Cipher::A256(Box::new(
                Aes256Gcm::new_from_slice(key).map_err(|_| wrong())?,
            )),
        })
    }

    fn encrypt(&self, iv: &[u8; GCM_IV_LEN], aad: &[u8], data: &mut [u8]) -> Option<Tag> {
        let nonce = Nonce::from_slice(iv);
        match self {
            Cipher::A128(c) => c.encrypt_in_place_detached(nonce, aad, data).ok(),
            Cipher::A256(c) => c.encrypt_in_place_detached(nonce, aad, data).ok(),
        }
    }

    fn decrypt(&self, iv: &[u8; GCM_IV_LEN], aad: &[u8], data: &mut [u8], tag: &[u8]) -> bool {
        let nonce = Nonce::from_slice(iv);
        let tag = Tag::from_slice(tag);
        match self {
            Cipher::A128(c) => c.decrypt_in_place_detached(nonce, aad, data, tag).is_ok(),
            Cipher::A256(c) => c.decrypt_in_place_detached(nonce, aad, data, tag).is_ok(),
        }
    }
}

/// Encrypts `spec.targets` in place, adds the BCB and returns its block number.
pub fn add_bcb(bundle: &mut Bundle, spec: &BcbSpec<'_>) -> Result<u64, BpsecError> {
    check_bcb_targets(bundle, &spec.targets, spec.flags)?;
    let number = pick_block_number(bundle, spec.block_number)?;
    let header = BlockHeader {
        block_type: BlockType::BCB,
        number,
        flags: spec.flags,
    };
    let (key, wrapped) = match spec.key {
        KeyMaterial::Direct(k) => (k, None),
        KeyMaterial::Wrapped { kek, content_key } => {
            (content_key, Some(wrap_key(kek, content_key)?))
        }
    };
    let cipher = Cipher::new(spec.variant, key)?;
    // Compute every AAD before changing any block: the AAD never covers target data, but
    // doing it first keeps the operation all-or-nothing.
    let aads = spec
        .targets
        .iter()
        .map(|&t| aad(bundle, spec.scope, t, header))
        .collect::<Result<Vec<_>, _>>()?;
    let mut results = Vec::with_capacity(spec.targets.len());
    let mut ciphertexts = Vec::with_capacity(spec.targets.len());
    for (&t, aad) in spec.targets.iter().zip(&aads) {
        let mut data = bundle
            .block(t)
            .ok_or(BpsecError::TargetMissing(t))?
            .data
            .to_vec();
        let tag = cipher
            .encrypt(&spec.iv, aad, &mut data)
            .ok_or(BpsecError::KeyLength {
                algorithm: spec.variant.name(),
                expected: spec.variant.key_len(),
                found: key.len(),
            })?;
        results.push(vec![(RESULT_ID, bytes_value(tag.as_slice()))]);
        ciphertexts.push((t, data));
    }
    for (t, data) in ciphertexts {
        if let Some(b) = bundle.block_mut(t) {
            b.data = data.into();
        }
    }
    let mut parameters = vec![
        (bcb_param::IV, bytes_value(&spec.iv)),
        (bcb_param::AES_VARIANT, uint_value(spec.variant.code())),
    ];
    if let Some(w) = wrapped {
        parameters.push((bcb_param::WRAPPED_KEY, bytes_value(&w)));
    }
    parameters.push((bcb_param::SCOPE_FLAGS, uint_value(spec.scope.0)));
    let asb = AbstractSecurityBlock {
        targets: spec.targets.clone(),
        context_id: CONTEXT_BCB_AES_GCM,
        source: spec.source.clone(),
        parameters,
        results,
    };
    let block = CanonicalBlock {
        block_type: BlockType::BCB,
        number,
        flags: spec.flags,
        crc_type: spec.crc_type,
        data: asb.encode().into(),
        wire: None,
    };
    insert_security_block(bundle, block);
    Ok(number)
}

struct BcbParameters {
    iv: [u8; GCM_IV_LEN],
    variant: AesVariant,
    scope: ScopeFlags,
    wrapped_key: Option<Vec<u8>>,
}

fn bcb_parameters(block: u64, asb: &AbstractSecurityBlock) -> Result<BcbParameters, BpsecError> {
    if asb.context_id != CONTEXT_BCB_AES_GCM {
        return Err(BpsecError::UnknownContext {
            block,
            context: asb.context_id,
        });
    }
    let bad = |id: u64, reason: String| BpsecError::Parameter { block, id, reason };
    let mut iv = None;
    let mut p = BcbParameters {
        iv: [0; GCM_IV_LEN],
        variant: AesVariant::A256Gcm,
        scope: ScopeFlags::ALL,
        wrapped_key: None,
    };
    for (id, value) in &asb.parameters {
        match *id {
            bcb_param::IV => {
                let v = read_bytes_value(value).map_err(|e| bad(*id, e.to_string()))?;
                iv = Some(<[u8; GCM_IV_LEN]>::try_from(v).map_err(|_| {
                    bad(*id, format!("IV is {} bytes; this implementation uses the 12-byte IV of RFC 9173 §4.3.1", v.len()))
                })?);
            }
            bcb_param::AES_VARIANT => {
                let code = read_uint_value(value).map_err(|e| bad(*id, e.to_string()))?;
                p.variant = AesVariant::from_code(code)
                    .ok_or_else(|| bad(*id, format!("unknown AES variant {code}")))?;
            }
            bcb_param::WRAPPED_KEY => {
                p.wrapped_key = Some(
                    read_bytes_value(value)
                        .map_err(|e| bad(*id, e.to_string()))?
                        .to_vec(),
                );
            }
            bcb_param::SCOPE_FLAGS => {
                p.scope = ScopeFlags(read_uint_value(value).map_err(|e| bad(*id, e.to_string()))?)
            }
            other => {
                return Err(bad(
                    other,
                    "not a BCB-AES-GCM parameter (RFC 9173 §4.3)".into(),
                ))
            }
        }
    }
    p.iv = iv.ok_or_else(|| {
        bad(
            bcb_param::IV,
            "missing; RFC 9173 §4.3.1 requires an IV".into(),
        )
    })?;
    Ok(p)
}

/// Decrypts every target of the BCB numbered `block` with `key` (the content key, or the
/// key-encryption key when the BCB carries a wrapped key), then removes the BCB
/// (RFC 9172 §5.1.1). Returns the targets decrypted. On any failure nothing changes.
pub fn decrypt_bcb(bundle: &mut Bundle, block: u64, key: &[u8]) -> Result<Vec<u64>, BpsecError> {
    let b = bundle.block(block).ok_or(BpsecError::NoSuchBlock(block))?;
    if b.block_type != BlockType::BCB {
        return Err(BpsecError::WrongBlockType {
            block,
            expected: "BCB",
        });
    }
    let header = BlockHeader {
        block_type: BlockType::BCB,
        number: block,
        flags: b.flags,
    };
    let asb = AbstractSecurityBlock::decode(&b.data)
        .map_err(|source| BpsecError::Asb { block, source })?;
    let params = bcb_parameters(block, &asb)?;
    let unwrapped;
    let key = match &params.wrapped_key {
        Some(w) => {
            unwrapped = unwrap_key(block, key, w)?;
            &unwrapped[..]
        }
        None => key,
    };
    let cipher = Cipher::new(params.variant, key)?;
    let mut plaintexts = Vec::with_capacity(asb.targets.len());
    for (i, &t) in asb.targets.iter().enumerate() {
        let tag = asb
            .results
            .get(i)
            .and_then(|r| r.iter().find(|(id, _)| *id == RESULT_ID))
            .ok_or_else(|| BpsecError::Result {
                block,
                target: t,
                reason: "no authentication tag (result id 1)".into(),
            })
            .and_then(|(_, v)| {
                read_bytes_value(v).map_err(|e| BpsecError::Result {
                    block,
                    target: t,
                    reason: e.to_string(),
                })
            })?;
        if tag.len() != GCM_TAG_LEN {
            return Err(BpsecError::Result {
                block,
                target: t,
                reason: format!(
                    "authentication tag is {} bytes; RFC 9173 §4.4 requires {GCM_TAG_LEN}",
                    tag.len()
                ),
            });
        }
        let aad = aad(bundle, params.scope, t, header)?;
        let mut data = bundle
            .block(t)
            .ok_or(BpsecError::TargetMissing(t))?
            .data
            .to_vec();
        if !cipher.decrypt(&params.iv, &aad, &mut data, tag) {
            return Err(BpsecError::DecryptionFailed {
                block,
                target: t,
                algorithm: params.variant.name(),
            });
        }
        plaintexts.push((t, data));
    }
    for (t, data) in plaintexts {
        if let Some(b) = bundle.block_mut(t) {
            b.data = data.into();
        }
    }
    bundle.blocks.retain(|b| b.number != block);
    Ok(asb.targets)
}

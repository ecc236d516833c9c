//! The byte strings the RFC 9173 security contexts feed to their ciphers: the
//! Integrity-Protected Plaintext of BIB-HMAC-SHA2 (RFC 9173 §3.7) and the Additional
//! Authenticated Data of BCB-AES-GCM (RFC 9173 §4.7.2).
//!
//! Both start with the scope flags as a CBOR unsigned integer, then, as the flags say, the
//! primary block's canonical encoding, the target's header (type, number, flags as three
//! CBOR unsigned integers) and the security block's header. The IPPT then ends with the
//! target's canonical data: a canonical block's data as a CBOR byte string (head included,
//! RFC 9172 §4), or, when the target is the primary block, the primary block's encoding
//! wrapped in a byte string (RFC 9173 Appendix A.3.3.1).

use crate::wire::cbor::Writer;
use crate::wire::{BlockFlags, BlockType, Bundle};

use super::context::ScopeFlags;
use super::error::BpsecError;

/// Type, number and flags of a block, as the scope flags include them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockHeader {
    /// Block type.
    pub block_type: BlockType,
    /// Block number.
    pub number: u64,
    /// Block processing flags.
    pub flags: BlockFlags,
}

fn prefix(
    bundle: &Bundle,
    scope: ScopeFlags,
    target: u64,
    security: BlockHeader,
) -> Result<Writer, BpsecError> {
    let mut w = Writer::with_capacity(128);
    w.uint(scope.0);
    if scope.has(ScopeFlags::PRIMARY) {
        bundle.primary.encode(&mut w);
    }
    if scope.has(ScopeFlags::TARGET_HEADER) && target != 0 {
        let b = bundle
            .block(target)
            .ok_or(BpsecError::TargetMissing(target))?;
        w.uint(b.block_type.0).uint(b.number).uint(b.flags.0);
    }
    if scope.has(ScopeFlags::SECURITY_HEADER) {
        w.uint(security.block_type.0)
            .uint(security.number)
            .uint(security.flags.0);
    }
    Ok(w)
}

/// The IPPT of RFC 9173 §3.7 for one target of a BIB.
pub fn ippt(
    bundle: &Bundle,
    scope: ScopeFlags,
    target: u64,
    security: BlockHeader,
) -> Result<Vec<u8>, BpsecError> {
    let mut w = prefix(bundle, scope, target, security)?;
    if target == 0 {
        w.bytes(&bundle.primary.to_cbor());
    } else {
        let b = bundle
            .block(target)
            .ok_or(BpsecError::TargetMissing(target))?;
        w.bytes(&b.data);
    }
    Ok(w.into_vec())
}

/// The AAD of RFC 9173 §4.7.2 for one target of a BCB.
pub fn aad(
    bundle: &Bundle,
    scope: ScopeFlags,
    target: u64,
    security: BlockHeader,
) -> Result<Vec<u8>, BpsecError> {
    Ok(prefix(bundle, scope, target, security)?.into_vec())
}

//! Bundle Protocol Security (RFC 9172) with the default security contexts of RFC 9173:
//! BIB-HMAC-SHA2 for integrity and BCB-AES-GCM for confidentiality.
//!
//! Operations work on an owned [`Bundle`](crate::wire::Bundle): decode with
//! [`BundleView`](crate::wire::BundleView), take [`to_bundle`](crate::wire::BundleView::to_bundle),
//! apply, and encode. Randomness (IVs, content keys) is handed in by the caller.

pub mod asb;
pub mod bcb;
pub mod bib;
pub mod canonical;
pub mod context;
pub mod error;
pub mod keys;
pub mod received;
pub mod target_rules;

pub use asb::AbstractSecurityBlock;
pub use bcb::{add_bcb, decrypt_bcb, BcbSpec};
pub use bib::{add_bib, verify_bib, BibSpec, Verified};
pub use context::{AesVariant, ScopeFlags, ShaVariant};
pub use error::BpsecError;
pub use keys::{KeyFile, KeyMaterial, KeyStore};

use crate::wire::{BlockType, Bundle, CanonicalBlock};

/// The number for a new security block: the one asked for if free, or the next free one.
pub(crate) fn pick_block_number(bundle: &Bundle, wanted: Option<u64>) -> Result<u64, BpsecError> {
    match wanted {
        Some(n) if n <= 1 || bundle.block(n).is_some() => {
            Err(BpsecError::BlockNumberUnavailable(n))
        }
        Some(n) => Ok(n),
        None => Ok(bundle.next_block_number()),
    }
}

/// Places a security block after the security blocks already present, ahead of the other
/// extension blocks, as every example in RFC 9173 Appendix A does. RFC 9171 §4.1 fixes only
/// that the payload block is last.
pub(crate) fn insert_security_block(bundle: &mut Bundle, block: CanonicalBlock) {
    let at = bundle
        .blocks
        .iter()
        .rposition(|b| matches!(b.block_type, BlockType::BIB | BlockType::BCB))
        .map_or(0, |i| i + 1);
    bundle.blocks.insert(at, block);
}

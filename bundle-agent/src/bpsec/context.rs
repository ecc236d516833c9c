//! The default security contexts of RFC 9173: identifiers, parameters and variants, as
//! tables.

/// BIB-HMAC-SHA2 (RFC 9173 §3).
pub const CONTEXT_BIB_HMAC_SHA2: i64 = 1;
/// BCB-AES-GCM (RFC 9173 §4).
pub const CONTEXT_BCB_AES_GCM: i64 = 2;

/// BIB-HMAC-SHA2 parameter ids (RFC 9173 §3.3).
pub mod bib_param {
    /// SHA variant (default HMAC 384/384).
    pub const SHA_VARIANT: u64 = 1;
    /// Wrapped key.
    pub const WRAPPED_KEY: u64 = 2;
    /// Integrity scope flags (default 7).
    pub const SCOPE_FLAGS: u64 = 3;
}

/// BCB-AES-GCM parameter ids (RFC 9173 §4.3).
pub mod bcb_param {
    /// Initialization vector.
    pub const IV: u64 = 1;
    /// AES variant (default A256GCM).
    pub const AES_VARIANT: u64 = 2;
    /// Wrapped key.
    pub const WRAPPED_KEY: u64 = 3;
    /// AAD scope flags (default 7).
    pub const SCOPE_FLAGS: u64 = 4;
}

/// Result id of the expected HMAC (RFC 9173 §3.4) and of the authentication tag
/// (RFC 9173 §4.4).
pub const RESULT_ID: u64 = 1;

/// The HMAC variants of RFC 9173 §3.3.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShaVariant {
    /// 5: HMAC 256/256.
    Hmac256,
    /// 6: HMAC 384/384 (the default).
    Hmac384,
    /// 7: HMAC 512/512.
    Hmac512,
}

impl ShaVariant {
    /// The variant for a parameter value.
    pub fn from_code(code: u64) -> Option<Self> {
        match code {
            5 => Some(Self::Hmac256),
            6 => Some(Self::Hmac384),
            7 => Some(Self::Hmac512),
            _ => None,
        }
    }

    /// The parameter value.
    pub fn code(self) -> u64 {
        match self {
            Self::Hmac256 => 5,
            Self::Hmac384 => 6,
            Self::Hmac512 => 7,
        }
    }

    /// Length of the HMAC in bytes.
    pub fn output_len(self) -> usize {
        match self {
            Self::Hmac256 => 32,
            Self::Hmac384 => 48,
            Self::Hmac512 => 64,
        }
    }

    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Hmac256 => "HMAC 256/256",
            Self::Hmac384 => "HMAC 384/384",
            Self::Hmac512 => "HMAC 512/512",
        }
    }
}

/// The AES-GCM variants of RFC 9173 §4.3.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AesVariant {
    /// 1: A128GCM.
    A128Gcm,
    /// 3: A256GCM (the default).
    A256Gcm,
}

impl AesVariant {
    /// The variant for a parameter value.
    pub fn from_code(code: u64) -> Option<Self> {
        match code {
            1 => Some(Self::A128Gcm),
            3 => Some(Self::A256Gcm),
            _ => None,
        }
    }

    /// The parameter value.
    pub fn code(self) -> u64 {
        match self {
            Self::A128Gcm => 1,
            Self::A256Gcm => 3,
        }
    }

    /// Key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            Self::A128Gcm => 16,
            Self::A256Gcm => 32,
        }
    }

    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            Self::A128Gcm => "A128GCM",
            Self::A256Gcm => "A256GCM",
        }
    }
}

/// Scope flags for the IPPT (RFC 9173 §3.3.3) and AAD (RFC 9173 §4.3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScopeFlags(pub u64);

impl ScopeFlags {
    /// Include the primary block.
    pub const PRIMARY: u64 = 0x1;
    /// Include the target's header (type, number, flags).
    pub const TARGET_HEADER: u64 = 0x2;
    /// Include the security block's header.
    pub const SECURITY_HEADER: u64 = 0x4;
    /// The default: all three.
    pub const ALL: ScopeFlags = ScopeFlags(0x7);

    /// True when `bit` is set.
    pub fn has(self, bit: u64) -> bool {
        self.0 & bit != 0
    }
}

/// Length of the authentication tag RFC 9173 §4.4 requires (128 bits).
pub const GCM_TAG_LEN: usize = 16;
/// The IV length this implementation uses and accepts (96 bits, RFC 9173 §4.3.1).
pub const GCM_IV_LEN: usize = 12;

//! The contact header that opens a TCPCL session (RFC 9174 §4.2): the magic "dtn!", the
//! version, and flags.

use super::codes::CONTACT_CAN_TLS;

/// The four magic bytes every TCPCL contact header starts with.
pub const MAGIC: [u8; 4] = *b"dtn!";
/// The protocol version this implementation speaks.
pub const VERSION: u8 = 4;
/// Length of a contact header.
pub const CONTACT_HEADER_LEN: usize = 6;

/// A contact header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContactHeader {
    /// Version field.
    pub version: u8,
    /// The sender can do TLS.
    pub can_tls: bool,
}

/// Why a contact header is not acceptable (RFC 9174 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ContactError {
    /// The bytes are not "dtn!": not a TCPCL peer; close without a reply.
    #[error("not a TCPCL peer (bad magic)")]
    BadMagic,
    /// Another TCPCL version: reply SESS_TERM "version mismatch" (RFC 9174 §4.3).
    #[error("TCPCL version {0}, expected 4")]
    Version(u8),
}

impl ContactHeader {
    /// Our contact header.
    pub fn ours(can_tls: bool) -> Self {
        Self {
            version: VERSION,
            can_tls,
        }
    }

    /// The six bytes on the wire.
    pub fn encode(&self) -> [u8; CONTACT_HEADER_LEN] {
        let [a, b, c, d] = MAGIC;
        [
            a,
            b,
            c,
            d,
            self.version,
            if self.can_tls { CONTACT_CAN_TLS } else { 0 },
        ]
    }

    /// Reads a contact header from its six bytes.
    pub fn decode(bytes: &[u8; CONTACT_HEADER_LEN]) -> Result<Self, ContactError> {
        let [a, b, c, d, version, flags] = *bytes;
        if [a, b, c, d] != MAGIC {
            return Err(ContactError::BadMagic);
        }
        if version != VERSION {
            return Err(ContactError::Version(version));
        }
        Ok(Self {
            version,
            can_tls: flags & CONTACT_CAN_TLS != 0,
        })
    }
}

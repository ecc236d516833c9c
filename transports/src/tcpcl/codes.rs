//! The code tables of TCPCLv4 (RFC 9174 §9): message types, reason codes and flags, each in
//! one place with the section that defines it.

/// Message type codes (RFC 9174 §9.5, Table 10).
pub mod message_type {
    /// XFER_SEGMENT (§5.2.2).
    pub const XFER_SEGMENT: u8 = 0x01;
    /// XFER_ACK (§5.2.3).
    pub const XFER_ACK: u8 = 0x02;
    /// XFER_REFUSE (§5.2.4).
    pub const XFER_REFUSE: u8 = 0x03;
    /// KEEPALIVE (§5.1.1).
    pub const KEEPALIVE: u8 = 0x04;
    /// SESS_TERM (§6.1).
    pub const SESS_TERM: u8 = 0x05;
    /// MSG_REJECT (§5.1.2).
    pub const MSG_REJECT: u8 = 0x06;
    /// SESS_INIT (§4.6).
    pub const SESS_INIT: u8 = 0x07;
}

/// Contact header flag: the sender can use TLS (RFC 9174 §4.2).
pub const CONTACT_CAN_TLS: u8 = 0x01;
/// XFER_SEGMENT / XFER_ACK flag: last segment of the transfer (RFC 9174 §5.2.2).
pub const SEGMENT_END: u8 = 0x01;
/// XFER_SEGMENT / XFER_ACK flag: first segment of the transfer (RFC 9174 §5.2.2).
pub const SEGMENT_START: u8 = 0x02;
/// SESS_TERM flag: this SESS_TERM answers the peer's (RFC 9174 §6.1).
pub const TERM_REPLY: u8 = 0x01;
/// Extension item flag: the receiver must understand the item (RFC 9174 §4.8, §5.2.5).
pub const ITEM_CRITICAL: u8 = 0x01;
/// Transfer extension item type: Transfer Length (RFC 9174 §5.2.5.1).
pub const TRANSFER_LENGTH_ITEM: u16 = 0x0001;

macro_rules! reason_table {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $code:expr, $text:expr;)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
            /// A code this implementation does not know, kept as received.
            Other(u8),
        }

        impl $name {
            /// The reason for a wire code.
            pub fn from_code(code: u8) -> Self {
                match code {
                    $($code => Self::$variant,)*
                    other => Self::Other(other),
                }
            }

            /// The wire code.
            pub fn code(self) -> u8 {
                match self {
                    $(Self::$variant => $code,)*
                    Self::Other(c) => c,
                }
            }
        }

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                match self {
                    $(Self::$variant => f.write_str($text),)*
                    Self::Other(c) => write!(f, "unassigned reason {c:#04x}"),
                }
            }
        }
    };
}

reason_table! {
    /// SESS_TERM reason codes (RFC 9174 §6.1, Table 9).
    TermReason {
        /// 0x00 Unknown.
        Unknown = 0x00, "unknown";
        /// 0x01 Idle timeout.
        IdleTimeout = 0x01, "idle timeout";
        /// 0x02 Version mismatch.
        VersionMismatch = 0x02, "version mismatch";
        /// 0x03 Busy.
        Busy = 0x03, "busy";
        /// 0x04 Contact Failure.
        ContactFailure = 0x04, "contact failure";
        /// 0x05 Resource Exhaustion.
        ResourceExhaustion = 0x05, "resource exhaustion";
    }
}

reason_table! {
    /// MSG_REJECT reason codes (RFC 9174 §5.1.2, Table 5).
    RejectReason {
        /// 0x01 Message Type Unknown.
        TypeUnknown = 0x01, "message type unknown";
        /// 0x02 Message Unsupported.
        Unsupported = 0x02, "message unsupported";
        /// 0x03 Message Unexpected.
        Unexpected = 0x03, "message unexpected";
    }
}

reason_table! {
    /// XFER_REFUSE reason codes (RFC 9174 §5.2.4, Table 7).
    RefuseReason {
        /// 0x00 Unknown.
        Unknown = 0x00, "unknown";
        /// 0x01 Completed: the receiver already has the bundle.
        Completed = 0x01, "completed";
        /// 0x02 No Resources.
        NoResources = 0x02, "no resources";
        /// 0x03 Retransmit.
        Retransmit = 0x03, "retransmit";
        /// 0x04 Not Acceptable.
        NotAcceptable = 0x04, "not acceptable";
        /// 0x05 Extension Failure.
        ExtensionFailure = 0x05, "extension failure";
        /// 0x06 Session Terminating.
        SessionTerminating = 0x06, "session terminating";
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for c in 0..=255u8 {
            assert_eq!(TermReason::from_code(c).code(), c);
            assert_eq!(RejectReason::from_code(c).code(), c);
            assert_eq!(RefuseReason::from_code(c).code(), c);
        }
        assert_eq!(TermReason::from_code(5), TermReason::ResourceExhaustion);
        assert_eq!(RefuseReason::NoResources.to_string(), "no resources");
    }
}

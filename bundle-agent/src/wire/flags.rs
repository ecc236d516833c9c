//! Bundle processing control flags (RFC 9171 §4.2.3) and block processing control flags
//! (RFC 9171 §4.2.4). Unassigned bits are kept as received, so a node forwards what a newer
//! node set, but they are reported by [`BundleFlags::reserved`].

use super::error::FlagRule;

/// Bundle processing control flags (RFC 9171 §4.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct BundleFlags(pub u64);

impl BundleFlags {
    /// Bundle is a fragment.
    pub const IS_FRAGMENT: u64 = 0x01;
    /// Payload is an administrative record.
    pub const ADMIN_RECORD: u64 = 0x02;
    /// Bundle must not be fragmented.
    pub const MUST_NOT_FRAGMENT: u64 = 0x04;
    /// Acknowledgement by the user application is requested.
    pub const APP_ACK_REQUESTED: u64 = 0x20;
    /// Status time is requested in all status reports.
    pub const STATUS_TIME_REQUESTED: u64 = 0x40;
    /// Request reporting of bundle reception.
    pub const REPORT_RECEPTION: u64 = 0x4000;
    /// Request reporting of bundle forwarding.
    pub const REPORT_FORWARDING: u64 = 0x1_0000;
    /// Request reporting of bundle delivery.
    pub const REPORT_DELIVERY: u64 = 0x2_0000;
    /// Request reporting of bundle deletion.
    pub const REPORT_DELETION: u64 = 0x4_0000;
    /// All status report request flags.
    pub const ALL_REPORTS: u64 = Self::REPORT_RECEPTION
        | Self::REPORT_FORWARDING
        | Self::REPORT_DELIVERY
        | Self::REPORT_DELETION;
    /// Every assigned bit.
    pub const ASSIGNED: u64 = Self::IS_FRAGMENT
        | Self::ADMIN_RECORD
        | Self::MUST_NOT_FRAGMENT
        | Self::APP_ACK_REQUESTED
        | Self::STATUS_TIME_REQUESTED
        | Self::ALL_REPORTS;

    /// Names of the assigned flags, in bit order, for display.
    pub const NAMES: [(u64, &'static str); 9] = [
        (Self::IS_FRAGMENT, "is-fragment"),
        (Self::ADMIN_RECORD, "admin-record"),
        (Self::MUST_NOT_FRAGMENT, "must-not-fragment"),
        (Self::APP_ACK_REQUESTED, "app-ack-requested"),
        (Self::STATUS_TIME_REQUESTED, "status-time-requested"),
        (Self::REPORT_RECEPTION, "report-reception"),
        (Self::REPORT_FORWARDING, "report-forwarding"),
        (Self::REPORT_DELIVERY, "report-delivery"),
        (Self::REPORT_DELETION, "report-deletion"),
    ];

    /// True when every bit of `mask` is set.
    pub fn has(self, mask: u64) -> bool {
        self.0 & mask == mask
    }

    /// The flag value with `mask` set or cleared.
    pub fn with(self, mask: u64, on: bool) -> Self {
        if on {
            Self(self.0 | mask)
        } else {
            Self(self.0 & !mask)
        }
    }

    /// True for a fragment.
    pub fn is_fragment(self) -> bool {
        self.has(Self::IS_FRAGMENT)
    }

    /// True when the payload is an administrative record.
    pub fn is_admin_record(self) -> bool {
        self.has(Self::ADMIN_RECORD)
    }

    /// Bits set that RFC 9171 does not assign.
    pub fn reserved(self) -> u64 {
        self.0 & !Self::ASSIGNED
    }

    /// Names of the flags that are set (reserved bits as hex).
    pub fn names(self) -> Vec<String> {
        let mut v: Vec<String> = Self::NAMES
            .iter()
            .filter(|(m, _)| self.has(*m))
            .map(|(_, n)| (*n).to_string())
            .collect();
        if self.reserved() != 0 {
            v.push(format!("reserved:{:#x}", self.reserved()));
        }
        v
    }

    /// Checks the consistency rules of RFC 9171 §4.2.3 for a bundle whose source is
    /// `anonymous` (`dtn:none`) or not.
    pub fn check(self, anonymous: bool) -> Result<(), FlagRule> {
        if anonymous && !self.has(Self::MUST_NOT_FRAGMENT) {
            return Err(FlagRule::AnonymousFragmentable);
        }
        if anonymous && self.0 & Self::ALL_REPORTS != 0 {
            return Err(FlagRule::AnonymousReports);
        }
        if self.is_admin_record() && self.0 & Self::ALL_REPORTS != 0 {
            return Err(FlagRule::AdminRecordReports);
        }
        if self.is_fragment() && self.has(Self::MUST_NOT_FRAGMENT) {
            return Err(FlagRule::FragmentNotFragmentable);
        }
        Ok(())
    }
}

/// Block processing control flags (RFC 9171 §4.2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct BlockFlags(pub u64);

impl BlockFlags {
    /// Block must be replicated in every fragment.
    pub const REPLICATE_IN_EVERY_FRAGMENT: u64 = 0x01;
    /// Transmit a status report if the block can't be processed.
    pub const REPORT_IF_UNPROCESSABLE: u64 = 0x02;
    /// Delete the bundle if the block can't be processed.
    pub const DELETE_BUNDLE_IF_UNPROCESSABLE: u64 = 0x04;
    /// Discard the block if it can't be processed.
    pub const DISCARD_IF_UNPROCESSABLE: u64 = 0x10;
    /// Every assigned bit.
    pub const ASSIGNED: u64 = 0x17;

    /// Names of the assigned flags, for display.
    pub const NAMES: [(u64, &'static str); 4] = [
        (
            Self::REPLICATE_IN_EVERY_FRAGMENT,
            "replicate-in-every-fragment",
        ),
        (Self::REPORT_IF_UNPROCESSABLE, "report-if-unprocessable"),
        (
            Self::DELETE_BUNDLE_IF_UNPROCESSABLE,
            "delete-bundle-if-unprocessable",
        ),
        (Self::DISCARD_IF_UNPROCESSABLE, "discard-if-unprocessable"),
    ];

    /// True when every bit of `mask` is set.
    pub fn has(self, mask: u64) -> bool {
        self.0 & mask == mask
    }

    /// Names of the flags that are set (reserved bits as hex).
    pub fn names(self) -> Vec<String> {
        let mut v: Vec<String> = Self::NAMES
            .iter()
            .filter(|(m, _)| self.has(*m))
            .map(|(_, n)| (*n).to_string())
            .collect();
        if self.0 & !Self::ASSIGNED != 0 {
            v.push(format!("reserved:{:#x}", self.0 & !Self::ASSIGNED));
        }
        v
    }
}

/// What a node does with a block whose type it does not know (RFC 9171 §4.2.4, §5.6 step 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownBlockDisposition {
    /// Keep the block and forward it unchanged.
    Keep,
    /// Remove the block and forward the rest of the bundle.
    DiscardBlock,
    /// Delete the whole bundle.
    DeleteBundle,
}

impl BlockFlags {
    /// What RFC 9171 §5.6 step 4 says to do with this block if its type is unknown, and
    /// whether a "block unintelligible" status report is asked for.
    pub fn unknown_block_disposition(self) -> (UnknownBlockDisposition, bool) {
        let report = self.has(Self::REPORT_IF_UNPROCESSABLE);
        let action = if self.has(Self::DELETE_BUNDLE_IF_UNPROCESSABLE) {
            UnknownBlockDisposition::DeleteBundle
        } else if self.has(Self::DISCARD_IF_UNPROCESSABLE) {
            UnknownBlockDisposition::DiscardBlock
        } else {
            UnknownBlockDisposition::Keep
        };
        (action, report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9171_4_2_3_anonymous_and_admin_rules() {
        assert_eq!(
            BundleFlags(0).check(true),
            Err(FlagRule::AnonymousFragmentable)
        );
        assert_eq!(
            BundleFlags(BundleFlags::MUST_NOT_FRAGMENT | BundleFlags::REPORT_DELIVERY).check(true),
            Err(FlagRule::AnonymousReports)
        );
        assert_eq!(
            BundleFlags(BundleFlags::ADMIN_RECORD | BundleFlags::REPORT_RECEPTION).check(false),
            Err(FlagRule::AdminRecordReports)
        );
        assert_eq!(
            BundleFlags(BundleFlags::IS_FRAGMENT | BundleFlags::MUST_NOT_FRAGMENT).check(false),
            Err(FlagRule::FragmentNotFragmentable)
        );
        assert_eq!(
            BundleFlags(BundleFlags::MUST_NOT_FRAGMENT).check(true),
            Ok(())
        );
        assert_eq!(BundleFlags(0x80_0000).reserved(), 0x80_0000);
    }

    #[test]
    fn rfc9171_4_2_4_unknown_block_disposition() {
        assert_eq!(
            BlockFlags(0).unknown_block_disposition(),
            (UnknownBlockDisposition::Keep, false)
        );
        assert_eq!(
            BlockFlags(0x12).unknown_block_disposition(),
            (UnknownBlockDisposition::DiscardBlock, true)
        );
        assert_eq!(
            BlockFlags(0x14).unknown_block_disposition(),
            (UnknownBlockDisposition::DeleteBundle, false)
        );
    }
}

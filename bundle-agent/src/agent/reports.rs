//! Bundle status reports (RFC 9171 §6.1): which event a bundle asked to hear about, and the
//! administrative-record bundle that tells its report-to endpoint.

use crate::wire::{
    AdminRecord, BundleBuilder, BundleFlags, BundleId, CreationTimestamp, DtnTime, Eid,
    PrimaryBlock, ReasonCode, StatusItem, StatusReport,
};

/// The four statuses a report can assert (RFC 9171 §6.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The node received the bundle.
    Received,
    /// The node forwarded it.
    Forwarded,
    /// The node delivered it.
    Delivered,
    /// The node deleted it.
    Deleted,
}

impl Status {
    /// The bundle processing control flag that asks for this status.
    pub fn requested_by(self) -> u64 {
        match self {
            Status::Received => BundleFlags::REPORT_RECEPTION,
            Status::Forwarded => BundleFlags::REPORT_FORWARDING,
            Status::Delivered => BundleFlags::REPORT_DELIVERY,
            Status::Deleted => BundleFlags::REPORT_DELETION,
        }
    }
}

/// The status reports a bundle with this primary block can get: its report request bits,
/// or 0 when it is an administrative record or has nowhere to report to (RFC 9171 §6.1).
pub fn requested_reports(primary: &PrimaryBlock) -> u64 {
    if primary.flags.is_admin_record() || primary.report_to.is_null() {
        return 0;
    }
    [
        Status::Received,
        Status::Forwarded,
        Status::Delivered,
        Status::Deleted,
    ]
    .iter()
    .map(|s| s.requested_by())
    .filter(|bit| primary.flags.has(*bit))
    .fold(0, |all, bit| all | bit)
}

/// Lifetime of a status report bundle.
const REPORT_LIFETIME_MS: u64 = 86_400_000;

/// The status report bundle `node` sends about `subject`, or `None` when the subject did not
/// ask for this status, is itself an administrative record, or has nowhere to report to.
pub fn status_report(
    node: &Eid,
    subject: &PrimaryBlock,
    payload_len: u64,
    status: Status,
    reason: ReasonCode,
    now: DtnTime,
    sequence: u64,
) -> Option<Vec<u8>> {
    if subject.flags.is_admin_record()
        || !subject.flags.has(status.requested_by())
        || subject.report_to.is_null()
    {
        return None;
    }
    let time = subject
        .flags
        .has(BundleFlags::STATUS_TIME_REQUESTED)
        .then_some(now);
    let item = StatusItem::yes(time);
    let mut report = StatusReport {
        received: StatusItem::default(),
        forwarded: StatusItem::default(),
        delivered: StatusItem::default(),
        deleted: StatusItem::default(),
        reason,
        subject: BundleId::of(subject, payload_len),
    };
    match status {
        Status::Received => report.received = item,
        Status::Forwarded => report.forwarded = item,
        Status::Delivered => report.delivered = item,
        Status::Deleted => report.deleted = item,
    }
    let payload = AdminRecord::StatusReport(report).encode();
    BundleBuilder::new(
        subject.report_to.clone(),
        node.clone(),
        CreationTimestamp::new(now, sequence),
    )
    .flags(BundleFlags(BundleFlags::ADMIN_RECORD))
    .lifetime_ms(REPORT_LIFETIME_MS)
    .payload(&payload)
    .build()
    .ok()
}

//! Administrative records (RFC 9171 §6): the payload of a bundle whose "ADU is an
//! administrative record" flag is set. The one record type RFC 9171 defines is the bundle
//! status report (§6.1), with the reason codes of §6.1.1 and those RFC 9172 §11.2 adds.

use core::fmt;

use super::bundle::BundleId;
use super::cbor::{Reader, Writer};
use super::eid::Eid;
use super::error::EidError;
use super::time::{CreationTimestamp, DtnTime};
use thiserror::Error;

/// Record type code of a bundle status report (RFC 9171 §6.1).
pub const RECORD_TYPE_STATUS_REPORT: u64 = 1;

/// Status report reason codes: RFC 9171 §6.1.1 (0..=11) and RFC 9172 §11.2 (12..=16).
pub const REASON_CODES: [(u64, &str); 17] = [
    (0, "no additional information"),
    (1, "lifetime expired"),
    (2, "forwarded over unidirectional link"),
    (3, "transmission canceled"),
    (4, "depleted storage"),
    (5, "destination endpoint ID unavailable"),
    (6, "no known route to destination from here"),
    (7, "no timely contact with next node on route"),
    (8, "block unintelligible"),
    (9, "hop limit exceeded"),
    (10, "traffic pared"),
    (11, "block unsupported"),
    (12, "missing security operation"),
    (13, "unknown security operation"),
    (14, "unexpected security operation"),
    (15, "failed security operation"),
    (16, "conflicting security operation"),
];

/// A status report reason code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReasonCode(pub u64);

impl ReasonCode {
    /// 0: no additional information.
    pub const NO_INFORMATION: ReasonCode = ReasonCode(0);
    /// 1: lifetime expired.
    pub const LIFETIME_EXPIRED: ReasonCode = ReasonCode(1);
    /// 2: forwarded over unidirectional link.
    pub const UNIDIRECTIONAL_LINK: ReasonCode = ReasonCode(2);
    /// 3: transmission canceled.
    pub const TRANSMISSION_CANCELED: ReasonCode = ReasonCode(3);
    /// 4: depleted storage.
    pub const DEPLETED_STORAGE: ReasonCode = ReasonCode(4);
    /// 5: destination endpoint ID unavailable.
    pub const DESTINATION_UNAVAILABLE: ReasonCode = ReasonCode(5);
    /// 6: no known route to destination from here.
    pub const NO_ROUTE: ReasonCode = ReasonCode(6);
    /// 7: no timely contact with next node on route.
    pub const NO_TIMELY_CONTACT: ReasonCode = ReasonCode(7);
    /// 8: block unintelligible.
    pub const BLOCK_UNINTELLIGIBLE: ReasonCode = ReasonCode(8);
    /// 9: hop limit exceeded.
    pub const HOP_LIMIT_EXCEEDED: ReasonCode = ReasonCode(9);
    /// 10: traffic pared.
    pub const TRAFFIC_PARED: ReasonCode = ReasonCode(10);
    /// 11: block unsupported.
    pub const BLOCK_UNSUPPORTED: ReasonCode = ReasonCode(11);
    /// 12: missing security operation (RFC 9172).
    pub const MISSING_SECURITY_OPERATION: ReasonCode = ReasonCode(12);
    /// 13: unknown security operation (RFC 9172).
    pub const UNKNOWN_SECURITY_OPERATION: ReasonCode = ReasonCode(13);
    /// 14: unexpected security operation (RFC 9172).
    pub const UNEXPECTED_SECURITY_OPERATION: ReasonCode = ReasonCode(14);
    /// 15: failed security operation (RFC 9172).
    pub const FAILED_SECURITY_OPERATION: ReasonCode = ReasonCode(15);
    /// 16: conflicting security operation (RFC 9172).
    pub const CONFLICTING_SECURITY_OPERATION: ReasonCode = ReasonCode(16);

    /// The registered description, if the code is assigned.
    pub fn description(self) -> Option<&'static str> {
        REASON_CODES
            .iter()
            .find(|(c, _)| *c == self.0)
            .map(|(_, d)| *d)
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.description() {
            Some(d) => write!(f, "{d} ({})", self.0),
            None => write!(f, "unassigned ({})", self.0),
        }
    }
}

/// One status assertion: whether it holds, and when, if the bundle asked for times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatusItem {
    /// The reporting node asserts this status.
    pub asserted: bool,
    /// When, if "status time requested" was set and the status is asserted.
    pub time: Option<DtnTime>,
}

impl StatusItem {
    /// Asserted, with an optional time.
    pub fn yes(time: Option<DtnTime>) -> Self {
        Self {
            asserted: true,
            time,
        }
    }
}

/// A bundle status report (RFC 9171 §6.1.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    /// Reporting node received the bundle.
    pub received: StatusItem,
    /// Reporting node forwarded the bundle.
    pub forwarded: StatusItem,
    /// Reporting node delivered the bundle.
    pub delivered: StatusItem,
    /// Reporting node deleted the bundle.
    pub deleted: StatusItem,
    /// Why.
    pub reason: ReasonCode,
    /// The bundle reported on.
    pub subject: BundleId,
}

/// An administrative record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminRecord {
    /// Type 1.
    StatusReport(StatusReport),
    /// Another record type, kept as its encoded content.
    Other {
        /// Record type code.
        record_type: u64,
        /// The content item, still encoded.
        content: Vec<u8>,
    },
}

/// Why an administrative record could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum AdminRecordError {
    /// CBOR-level problem.
    #[error("administrative record: {0}")]
    Cbor(#[from] super::cbor::CborError),
    /// Wrong item count.
    #[error("administrative record: {what} has {found} items; expected {expected}")]
    Shape {
        /// Which array.
        what: &'static str,
        /// Items found.
        found: u64,
        /// What was expected.
        expected: &'static str,
    },
    /// A bad subject source EID.
    #[error("administrative record: subject source: {0}")]
    Eid(EidError),
    /// Bytes after the record.
    #[error("administrative record: {0} trailing bytes")]
    Trailing(usize),
}

fn status_item(r: &mut Reader<'_>) -> Result<StatusItem, AdminRecordError> {
    let n = r.definite_array()?;
    if !(1..=2).contains(&n) {
        return Err(AdminRecordError::Shape {
            what: "status item",
            found: n,
            expected: "1 or 2",
        });
    }
    let asserted = r.bool()?;
    let time = if n == 2 {
        Some(DtnTime(r.uint()?))
    } else {
        None
    };
    Ok(StatusItem { asserted, time })
}

impl AdminRecord {
    /// Decodes a bundle's payload as an administrative record.
    pub fn decode(payload: &[u8]) -> Result<Self, AdminRecordError> {
        let mut r = Reader::new(payload, 8);
        let n = r.definite_array()?;
        if n != 2 {
            return Err(AdminRecordError::Shape {
                what: "record",
                found: n,
                expected: "2",
            });
        }
        let record_type = r.uint()?;
        let rec = if record_type == RECORD_TYPE_STATUS_REPORT {
            let n = r.definite_array()?;
            if n != 4 && n != 6 {
                return Err(AdminRecordError::Shape {
                    what: "status report",
                    found: n,
                    expected: "4 or 6",
                });
            }
            let items = r.definite_array()?;
            if items != 4 {
                return Err(AdminRecordError::Shape {
                    what: "status information",
                    found: items,
                    expected: "4",
                });
            }
            let received = status_item(&mut r)?;
            let forwarded = status_item(&mut r)?;
            let delivered = status_item(&mut r)?;
            let deleted = status_item(&mut r)?;
            let reason = ReasonCode(r.uint()?);
            let source = Eid::decode(&mut r).map_err(AdminRecordError::Eid)?;
            let ts = r.definite_array()?;
            if ts != 2 {
                return Err(AdminRecordError::Shape {
                    what: "creation timestamp",
                    found: ts,
                    expected: "2",
                });
            }
            let creation = CreationTimestamp::new(DtnTime(r.uint()?), r.uint()?);
            let fragment = if n == 6 {
                Some((r.uint()?, r.uint()?))
            } else {
                None
            };
            AdminRecord::StatusReport(StatusReport {
                received,
                forwarded,
                delivered,
                deleted,
                reason,
                subject: BundleId {
                    source,
                    creation,
                    fragment,
                },
            })
        } else {
            AdminRecord::Other {
                record_type,
                content: r.raw_item()?.to_vec(),
            }
        };
        if r.remaining() != 0 {
            return Err(AdminRecordError::Trailing(r.remaining()));
        }
        Ok(rec)
    }

    /// Encodes the record as a payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(64);
        w.array(2);
        match self {
            AdminRecord::StatusReport(s) => {
                w.uint(RECORD_TYPE_STATUS_REPORT);
                w.array(if s.subject.fragment.is_some() { 6 } else { 4 });
                w.array(4);
                for item in [s.received, s.forwarded, s.delivered, s.deleted] {
                    match (item.asserted, item.time) {
                        (true, Some(t)) => {
                            w.array(2).bool(true).uint(t.0);
                        }
                        (asserted, _) => {
                            w.array(1).bool(asserted);
                        }
                    }
                }
                w.uint(s.reason.0);
                s.subject.source.encode(&mut w);
                w.array(2)
                    .uint(s.subject.creation.time.0)
                    .uint(s.subject.creation.sequence);
                if let Some((offset, len)) = s.subject.fragment {
                    w.uint(offset).uint(len);
                }
            }
            AdminRecord::Other {
                record_type,
                content,
            } => {
                w.uint(*record_type).raw(content);
            }
        }
        w.into_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9171_6_1_1_every_reason_code_roundtrips() {
        for (code, _) in REASON_CODES {
            let rec = AdminRecord::StatusReport(StatusReport {
                received: StatusItem::yes(Some(DtnTime(1000))),
                forwarded: StatusItem::default(),
                delivered: StatusItem::yes(None),
                deleted: StatusItem::default(),
                reason: ReasonCode(code),
                subject: BundleId {
                    source: Eid::ipn(9, 1),
                    creation: CreationTimestamp::new(DtnTime(5), 6),
                    fragment: if code % 2 == 0 { Some((10, 20)) } else { None },
                },
            });
            assert_eq!(AdminRecord::decode(&rec.encode()).unwrap(), rec);
        }
        assert_eq!(ReasonCode(9).to_string(), "hop limit exceeded (9)");
        assert_eq!(ReasonCode(99).to_string(), "unassigned (99)");
    }

    #[test]
    fn malformed_records_are_typed_errors() {
        assert!(matches!(
            AdminRecord::decode(&[0x81, 0x01]),
            Err(AdminRecordError::Shape { .. })
        ));
        assert!(matches!(
            AdminRecord::decode(&[0x82, 0x01, 0x80]),
            Err(AdminRecordError::Shape { .. })
        ));
        assert!(matches!(
            AdminRecord::decode(&[0x82, 0x05, 0x00, 0x00]),
            Err(AdminRecordError::Trailing(1))
        ));
    }
}

//! LTP segments (RFC 5326 §3): a header (version, type flags, session ID, extensions), the
//! content of its type (data, report, report acknowledgment, cancel, cancel acknowledgment),
//! and trailer extensions. Decoding borrows the datagram: client data and extension values
//! are slices of it. Every count and length is checked against the bytes present before it is
//! used, so a peer cannot make the decoder allocate or loop for what it merely declares.

use super::sdnv::{self, SdnvError};

/// Most reception claims one report segment may carry (each takes at least two bytes, so a
/// datagram holds fewer anyway; this bounds what an engine keeps per report).
pub const MAX_CLAIMS: u64 = 4096;

/// Why a datagram is not an LTP segment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SegmentError {
    /// Empty, or it ends inside a field.
    #[error("segment truncated in {0}")]
    Truncated(&'static str),
    /// An integer field is not a valid SDNV.
    #[error("{field}: {error}")]
    Sdnv {
        /// The field.
        field: &'static str,
        /// What is wrong.
        error: SdnvError,
    },
    /// RFC 5326 §3.1: the version is 0.
    #[error("LTP version {0}, only 0 is defined")]
    Version(u8),
    /// RFC 5326 §3.1.1: types 5, 6, 10 and 11 are undefined.
    #[error("undefined segment type {0}")]
    UndefinedType(u8),
    /// A length runs past the end of the datagram.
    #[error("{field}: {declared} bytes declared, {left} left")]
    TooLong {
        /// The field.
        field: &'static str,
        /// Its declared length.
        declared: u64,
        /// Bytes left.
        left: usize,
    },
    /// A report segment whose bounds or claims are inconsistent (RFC 5326 §3.2.2).
    #[error("report segment: {0}")]
    BadReport(&'static str),
    /// Bytes after the trailer.
    #[error("{0} bytes after the segment")]
    Trailing(usize),
}

/// A header or trailer extension (RFC 5326 §3.1.5): a tag and a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extension<'a> {
    /// Its tag.
    pub tag: u8,
    /// Its value.
    pub value: &'a [u8],
}

/// The session a segment belongs to (RFC 5326 §3.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId {
    /// The engine that opened it (the block sender).
    pub originator: u64,
    /// Its number at that engine.
    pub number: u64,
}

/// A data segment's checkpoint fields (types 1 to 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// Its serial number.
    pub serial: u64,
    /// The report it answers (0: none).
    pub report_serial: u64,
}

/// One reception claim of a report (RFC 5326 §3.2.2): `length` bytes from `offset`, both
/// relative to the report's lower bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    /// Offset from the lower bound.
    pub offset: u64,
    /// Bytes received.
    pub length: u64,
}

/// Why a session was cancelled (RFC 5326 §3.2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelReason {
    /// The client service cancelled.
    UserCancelled,
    /// The destination client service is unreachable.
    Unreachable,
    /// Retransmission limit exceeded.
    RetransmissionLimit,
    /// Red and green data mixed up.
    Miscolored,
    /// Cancelled by the engine.
    SystemCancelled,
    /// Too many retransmission cycles.
    RetransmissionCycles,
    /// A code RFC 5326 reserves.
    Reserved(u8),
}

impl CancelReason {
    /// From the wire code.
    pub fn from_code(c: u8) -> Self {
        match c {
            0 => Self::UserCancelled,
            1 => Self::Unreachable,
            2 => Self::RetransmissionLimit,
            3 => Self::Miscolored,
            4 => Self::SystemCancelled,
            5 => Self::RetransmissionCycles,
            other => Self::Reserved(other),
        }
    }

    /// The wire code.
    pub fn code(self) -> u8 {
        match self {
            Self::UserCancelled => 0,
            Self::Unreachable => 1,
            Self::RetransmissionLimit => 2,
            Self::Miscolored => 3,
            Self::SystemCancelled => 4,
            Self::RetransmissionCycles => 5,
            Self::Reserved(c) => c,
        }
    }
}

/// What a segment carries (RFC 5326 §3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content<'a> {
    /// Types 0 to 4 and 7: block data.
    Data {
        /// Red (reliable) or green.
        red: bool,
        /// A checkpoint (types 1 to 3).
        checkpoint: Option<Checkpoint>,
        /// The last red byte (types 2 and 3).
        end_of_red: bool,
        /// The last byte of the block (types 3 and 7).
        end_of_block: bool,
        /// The client service.
        client_service: u64,
        /// Where the data sits in the block.
        offset: u64,
        /// The data.
        data: &'a [u8],
    },
    /// Type 8: what the receiver has of the red part between two bounds.
    Report {
        /// Its serial number.
        serial: u64,
        /// The checkpoint it answers (0: none, an asynchronous report).
        checkpoint_serial: u64,
        /// The end of the range reported on.
        upper: u64,
        /// The start of the range reported on.
        lower: u64,
        /// What was received, in increasing order, not overlapping.
        claims: Vec<Claim>,
    },
    /// Type 9: a report arrived.
    ReportAck {
        /// The report's serial number.
        serial: u64,
    },
    /// Type 12 (from the sender) or 14 (from the receiver): the session is cancelled.
    Cancel {
        /// True for type 12.
        by_sender: bool,
        /// Why.
        reason: CancelReason,
    },
    /// Type 13 (to the sender) or 15 (to the receiver): a cancel arrived.
    CancelAck {
        /// True for type 13 (acknowledging a cancel from the sender).
        to_sender: bool,
    },
}

/// A decoded segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment<'a> {
    /// Its session.
    pub session: SessionId,
    /// Its content.
    pub content: Content<'a>,
    /// Header extensions.
    pub header_ext: Vec<Extension<'a>>,
    /// Trailer extensions.
    pub trailer_ext: Vec<Extension<'a>>,
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn sdnv(&mut self, field: &'static str) -> Result<u64, SegmentError> {
        let (v, rest) =
            sdnv::get(self.rest).map_err(|error| SegmentError::Sdnv { field, error })?;
        self.rest = rest;
        Ok(v)
    }

    fn byte(&mut self, field: &'static str) -> Result<u8, SegmentError> {
        let (&b, rest) = self
            .rest
            .split_first()
            .ok_or(SegmentError::Truncated(field))?;
        self.rest = rest;
        Ok(b)
    }

    fn bytes(&mut self, field: &'static str, n: u64) -> Result<&'a [u8], SegmentError> {
        let left = self.rest.len();
        let n = usize::try_from(n)
            .ok()
            .filter(|n| *n <= left)
            .ok_or(SegmentError::TooLong {
                field,
                declared: n,
                left,
            })?;
        let (out, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(out)
    }

    fn extensions(&mut self, count: u8) -> Result<Vec<Extension<'a>>, SegmentError> {
        let mut out = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            let tag = self.byte("extension tag")?;
            let len = self.sdnv("extension length")?;
            let value = self.bytes("extension value", len)?;
            out.push(Extension { tag, value });
        }
        Ok(out)
    }
}

impl<'a> Segment<'a> {
    /// Decodes one datagram.
    pub fn decode(datagram: &'a [u8]) -> Result<Self, SegmentError> {
        let mut r = Reader { rest: datagram };
        let first = r.byte("version and type")?;
        let version = first >> 4;
        if version != 0 {
            return Err(SegmentError::Version(version));
        }
        let kind = first & 0x0f;
        let session = SessionId {
            originator: r.sdnv("session originator")?,
            number: r.sdnv("session number")?,
        };
        let counts = r.byte("extension counts")?;
        let header_ext = r.extensions(counts >> 4)?;
        let content = match kind {
            0..=4 | 7 => {
                let client_service = r.sdnv("client service")?;
                let offset = r.sdnv("offset")?;
                let length = r.sdnv("length")?;
                let checkpoint = if (1..=3).contains(&kind) {
                    Some(Checkpoint {
                        serial: r.sdnv("checkpoint serial number")?,
                        report_serial: r.sdnv("report serial number")?,
                    })
                } else {
                    None
                };
                let data = r.bytes("client service data", length)?;
                if offset.checked_add(length).is_none() {
                    return Err(SegmentError::TooLong {
                        field: "offset",
                        declared: offset,
                        left: 0,
                    });
                }
                Content::Data {
                    red: kind <= 3,
                    checkpoint,
                    end_of_red: kind == 2 || kind == 3,
                    end_of_block: kind == 3 || kind == 7,
                    client_service,
                    offset,
                    data,
                }
            }
            8 => {
                let serial = r.sdnv("report serial number")?;
                let checkpoint_serial = r.sdnv("checkpoint serial number")?;
                let upper = r.sdnv("upper bound")?;
                let lower = r.sdnv("lower bound")?;
                if lower > upper {
                    return Err(SegmentError::BadReport("lower bound above upper bound"));
                }
                let count = r.sdnv("reception claim count")?;
                if count > MAX_CLAIMS || count > (r.rest.len() / 2) as u64 {
                    return Err(SegmentError::BadReport("more claims than fit"));
                }
                let mut claims = Vec::with_capacity(count as usize);
                let mut end = 0u64;
                for _ in 0..count {
                    let offset = r.sdnv("claim offset")?;
                    let length = r.sdnv("claim length")?;
                    let claim_end = offset
                        .checked_add(length)
                        .ok_or(SegmentError::BadReport("claim overflows"))?;
                    if length == 0 || offset < end || claim_end > upper - lower {
                        return Err(SegmentError::BadReport(
                            "claims must be non-empty, in order, not overlapping, within bounds",
                        ));
                    }
                    end = claim_end;
                    claims.push(Claim { offset, length });
                }
                Content::Report {
                    serial,
                    checkpoint_serial,
                    upper,
                    lower,
                    claims,
                }
            }
            9 => Content::ReportAck {
                serial: r.sdnv("report serial number")?,
            },
            12 | 14 => Content::Cancel {
                by_sender: kind == 12,
                reason: CancelReason::from_code(r.byte("cancel reason")?),
            },
            13 | 15 => Content::CancelAck {
                to_sender: kind == 13,
            },
            other => return Err(SegmentError::UndefinedType(other)),
        };
        let trailer_ext = r.extensions(counts & 0x0f)?;
        if !r.rest.is_empty() {
            return Err(SegmentError::Trailing(r.rest.len()));
        }
        Ok(Self {
            session,
            content,
            header_ext,
            trailer_ext,
        })
    }

    /// The segment type code (RFC 5326 §3.1.1).
    pub fn kind(&self) -> u8 {
        match &self.content {
            Content::Data {
                red: true,
                checkpoint: None,
                ..
            } => 0,
            Content::Data {
                red: true,
                end_of_red: false,
                ..
            } => 1,
            Content::Data {
                red: true,
                end_of_block: false,
                ..
            } => 2,
            Content::Data { red: true, .. } => 3,
            Content::Data {
                end_of_block: false,
                ..
            } => 4,
            Content::Data { .. } => 7,
            Content::Report { .. } => 8,
            Content::ReportAck { .. } => 9,
            Content::Cancel {
                by_sender: true, ..
            } => 12,
            Content::Cancel { .. } => 14,
            Content::CancelAck { to_sender: true } => 13,
            Content::CancelAck { .. } => 15,
        }
    }

    /// Encodes the segment (the extension counts are taken from the lists, at most 15 each).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32);
        out.push(self.kind());
        sdnv::put(&mut out, self.session.originator);
        sdnv::put(&mut out, self.session.number);
        let (h, t) = (
            self.header_ext.len().min(15),
            self.trailer_ext.len().min(15),
        );
        out.push(((h as u8) << 4) | t as u8);
        let put_ext = |out: &mut Vec<u8>, ext: &[Extension<'_>], n: usize| {
            for e in ext.iter().take(n) {
                out.push(e.tag);
                sdnv::put(out, e.value.len() as u64);
                out.extend_from_slice(e.value);
            }
        };
        put_ext(&mut out, &self.header_ext, h);
        match &self.content {
            Content::Data {
                checkpoint,
                client_service,
                offset,
                data,
                ..
            } => {
                sdnv::put(&mut out, *client_service);
                sdnv::put(&mut out, *offset);
                sdnv::put(&mut out, data.len() as u64);
                if let Some(c) = checkpoint {
                    sdnv::put(&mut out, c.serial);
                    sdnv::put(&mut out, c.report_serial);
                }
                out.extend_from_slice(data);
            }
            Content::Report {
                serial,
                checkpoint_serial,
                upper,
                lower,
                claims,
            } => {
                for v in [
                    *serial,
                    *checkpoint_serial,
                    *upper,
                    *lower,
                    claims.len() as u64,
                ] {
                    sdnv::put(&mut out, v);
                }
                for c in claims {
                    sdnv::put(&mut out, c.offset);
                    sdnv::put(&mut out, c.length);
                }
            }
            Content::ReportAck { serial } => sdnv::put(&mut out, *serial),
            Content::Cancel { reason, .. } => out.push(reason.code()),
            Content::CancelAck { .. } => {}
        }
        put_ext(&mut out, &self.trailer_ext, t);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> SessionId {
        SessionId {
            originator: 4,
            number: 300,
        }
    }

    fn all() -> Vec<Segment<'static>> {
        let data = |kind: u8| Content::Data {
            red: kind <= 3,
            checkpoint: (1..=3).contains(&kind).then_some(Checkpoint {
                serial: 7,
                report_serial: 0,
            }),
            end_of_red: kind == 2 || kind == 3,
            end_of_block: kind == 3 || kind == 7,
            client_service: 1,
            offset: 1000,
            data: b"bundle bytes",
        };
        let mut contents: Vec<Content<'static>> =
            [0, 1, 2, 3, 4, 7].into_iter().map(data).collect();
        contents.extend([
            Content::Report {
                serial: 9,
                checkpoint_serial: 7,
                upper: 5000,
                lower: 1000,
                claims: vec![
                    Claim {
                        offset: 0,
                        length: 1000,
                    },
                    Claim {
                        offset: 2000,
                        length: 2000,
                    },
                ],
            },
            Content::ReportAck { serial: 9 },
            Content::Cancel {
                by_sender: true,
                reason: CancelReason::Unreachable,
            },
            Content::Cancel {
                by_sender: false,
                reason: CancelReason::Reserved(200),
            },
            Content::CancelAck { to_sender: true },
            Content::CancelAck { to_sender: false },
        ]);
        contents
            .into_iter()
            .map(|content| Segment {
                session: session(),
                content,
                header_ext: vec![Extension {
                    tag: 0,
                    value: b"auth",
                }],
                trailer_ext: vec![],
            })
            .collect()
    }

    #[test]
    fn rfc5326_3_every_segment_type_round_trips() {
        let kinds: Vec<u8> = all().iter().map(Segment::kind).collect();
        assert_eq!(kinds, [0, 1, 2, 3, 4, 7, 8, 9, 12, 14, 13, 15]);
        for s in all() {
            let bytes = s.encode();
            assert_eq!(Segment::decode(&bytes), Ok(s.clone()), "type {}", s.kind());
            for cut in 0..bytes.len() {
                assert!(
                    Segment::decode(&bytes[..cut]).is_err(),
                    "type {} cut {cut}",
                    s.kind()
                );
            }
            let mut long = bytes.clone();
            long.push(0);
            assert_eq!(Segment::decode(&long), Err(SegmentError::Trailing(1)));
        }
    }

    #[test]
    fn rfc5326_3_1_hostile_headers_are_refused() {
        assert_eq!(
            Segment::decode(&[0x10, 1, 1, 0]),
            Err(SegmentError::Version(1))
        );
        for undefined in [5u8, 6, 10, 11] {
            assert_eq!(
                Segment::decode(&[undefined, 1, 1, 0]),
                Err(SegmentError::UndefinedType(undefined))
            );
        }
        // A data segment declaring 2^40 bytes in a ten-byte datagram.
        let mut lying = vec![0u8, 1, 1, 0, 1, 0];
        sdnv::put(&mut lying, 1 << 40);
        assert!(matches!(
            Segment::decode(&lying),
            Err(SegmentError::TooLong { .. })
        ));
    }

    #[test]
    fn rfc5326_3_2_2_inconsistent_reports_are_refused() {
        let report = |upper: u64, lower: u64, claims: &[(u64, u64)]| {
            let mut b = vec![8u8, 1, 1, 0, 1, 0];
            sdnv::put(&mut b, upper);
            sdnv::put(&mut b, lower);
            sdnv::put(&mut b, claims.len() as u64);
            for (o, l) in claims {
                sdnv::put(&mut b, *o);
                sdnv::put(&mut b, *l);
            }
            Segment::decode(&b).map(|_| ())
        };
        assert!(report(100, 0, &[(0, 50), (60, 40)]).is_ok());
        assert!(report(0, 100, &[]).is_err(), "lower above upper");
        assert!(report(100, 0, &[(0, 0)]).is_err(), "empty claim");
        assert!(
            report(100, 0, &[(50, 10), (10, 10)]).is_err(),
            "out of order"
        );
        assert!(report(100, 0, &[(0, 50), (40, 10)]).is_err(), "overlap");
        assert!(report(100, 50, &[(0, 60)]).is_err(), "past the bounds");
        // A claim count far beyond what the datagram holds.
        let mut b = vec![8u8, 1, 1, 0, 1, 0, 100, 0];
        sdnv::put(&mut b, u64::MAX);
        assert!(matches!(
            Segment::decode(&b),
            Err(SegmentError::BadReport(_))
        ));
    }
}

//! TCPCLv4 messages (RFC 9174 §4.6, §5, §6.1) and a streaming decoder over a receive buffer.
//!
//! [`decode`] looks at the bytes received so far and returns a whole message, or says how
//! many bytes it needs, or a typed error. It never allocates from a length the peer
//! declared: a segment longer than our Segment MRU or extension items longer than the limit
//! are errors before any byte of them is awaited, so the receive buffer stays bounded.
//! Segment data is borrowed from the buffer, not copied.

use thiserror::Error;

use super::codes::{
    message_type as mt, RefuseReason, RejectReason, TermReason, ITEM_CRITICAL, SEGMENT_START,
};

/// A session or transfer extension item (RFC 9174 §4.8, §5.2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionItem {
    /// Item flags; [`ITEM_CRITICAL`] means the receiver must understand it, or refuse.
    pub flags: u8,
    /// Item type code.
    pub item_type: u16,
    /// Item value.
    pub value: Vec<u8>,
}

impl ExtensionItem {
    /// True when the receiver must understand the item.
    pub fn is_critical(&self) -> bool {
        self.flags & ITEM_CRITICAL != 0
    }
}

/// SESS_INIT contents (RFC 9174 §4.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessInit {
    /// Keepalive interval in seconds; 0 disables keepalives.
    pub keepalive_secs: u16,
    /// Largest segment the sender accepts.
    pub segment_mru: u64,
    /// Largest transfer the sender accepts.
    pub transfer_mru: u64,
    /// The sender's node ID.
    pub node_id: String,
    /// Session extension items.
    pub extensions: Vec<ExtensionItem>,
}

/// A TCPCLv4 message. Segment data borrows from the receive buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message<'a> {
    /// SESS_INIT.
    SessInit(SessInit),
    /// XFER_SEGMENT.
    XferSegment {
        /// START / END flags.
        flags: u8,
        /// Transfer ID.
        transfer_id: u64,
        /// Transfer extension items (only on the START segment).
        extensions: Vec<ExtensionItem>,
        /// Segment data.
        data: &'a [u8],
    },
    /// XFER_ACK.
    XferAck {
        /// Flags of the segment acknowledged.
        flags: u8,
        /// Transfer ID.
        transfer_id: u64,
        /// Bytes of the transfer received so far.
        acknowledged: u64,
    },
    /// XFER_REFUSE.
    XferRefuse {
        /// Why.
        reason: RefuseReason,
        /// Transfer ID.
        transfer_id: u64,
    },
    /// KEEPALIVE.
    Keepalive,
    /// SESS_TERM.
    SessTerm {
        /// REPLY flag.
        flags: u8,
        /// Why.
        reason: TermReason,
    },
    /// MSG_REJECT.
    MsgReject {
        /// Why.
        reason: RejectReason,
        /// The header byte of the rejected message.
        rejected_type: u8,
    },
}

/// Limits the decoder enforces before waiting for more bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Our Segment MRU: the largest segment data we accept.
    pub segment_mru: u64,
    /// Largest total length of extension items (session or transfer) we accept.
    pub max_extensions: u32,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            segment_mru: 1 << 20,
            max_extensions: 64 * 1024,
        }
    }
}

/// Why received bytes are not an acceptable message. Each says what RFC 9174 makes the
/// receiver answer, in [`ProtocolError::response`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// An unknown message type code.
    #[error("unknown message type {0:#04x}")]
    UnknownType(u8),
    /// A segment longer than our Segment MRU.
    #[error("segment of {len} bytes exceeds our segment MRU of {mru}")]
    SegmentTooLarge {
        /// Declared data length.
        len: u64,
        /// Our limit.
        mru: u64,
    },
    /// Extension items longer than our limit.
    #[error("extension items of {len} bytes exceed the limit of {limit}")]
    ExtensionsTooLarge {
        /// Declared length.
        len: u32,
        /// Our limit.
        limit: u32,
    },
    /// Extension items whose lengths do not add up.
    #[error("malformed extension items")]
    MalformedExtensions,
    /// A node ID that is not UTF-8.
    #[error("node ID is not UTF-8")]
    NodeIdNotUtf8,
}

/// What RFC 9174 makes a receiver do about a protocol error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorResponse {
    /// Send MSG_REJECT and carry on (RFC 9174 §5.1.2).
    Reject(RejectReason),
    /// Terminate the session (RFC 9174 §6.1).
    Terminate(TermReason),
}

impl ProtocolError {
    /// The response RFC 9174 prescribes.
    pub fn response(&self) -> ErrorResponse {
        match self {
            // §5.1.2: an unknown message type is answered with MSG_REJECT. The length of an
            // unknown message cannot be known, so the session cannot continue after it; the
            // session layer terminates right after the reject.
            ProtocolError::UnknownType(_) => ErrorResponse::Reject(RejectReason::TypeUnknown),
            ProtocolError::SegmentTooLarge { .. } | ProtocolError::ExtensionsTooLarge { .. } => {
                ErrorResponse::Terminate(TermReason::ResourceExhaustion)
            }
            ProtocolError::MalformedExtensions | ProtocolError::NodeIdNotUtf8 => {
                ErrorResponse::Terminate(TermReason::ContactFailure)
            }
        }
    }
}

/// The outcome of looking at a receive buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A whole message that took this many bytes.
    Message(Message<'a>, usize),
    /// At least this many bytes in total are needed before a message can be read.
    NeedMore(usize),
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).and_then(|b| b.first().copied())
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2)
            .and_then(|b| b.try_into().ok())
            .map(u16::from_be_bytes)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_be_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_be_bytes)
    }
    /// Bytes needed beyond what is there to read `n` more.
    fn need(&self, n: usize) -> usize {
        self.pos.saturating_add(n)
    }
}

/// Parses extension items that fill `bytes` exactly.
fn parse_items(bytes: &[u8]) -> Result<Vec<ExtensionItem>, ProtocolError> {
    let mut c = Cursor { buf: bytes, pos: 0 };
    let mut items = Vec::new();
    while c.pos < bytes.len() {
        let flags = c.u8().ok_or(ProtocolError::MalformedExtensions)?;
        let item_type = c.u16().ok_or(ProtocolError::MalformedExtensions)?;
        let len = c.u16().ok_or(ProtocolError::MalformedExtensions)?;
        let value = c
            .take(usize::from(len))
            .ok_or(ProtocolError::MalformedExtensions)?;
        items.push(ExtensionItem {
            flags,
            item_type,
            value: value.to_vec(),
        });
    }
    Ok(items)
}

/// Reads extension items preceded by their u32 total length.
fn items<'a>(
    c: &mut Cursor<'a>,
    limits: &DecodeLimits,
) -> Result<Option<Vec<ExtensionItem>>, (ProtocolError, usize)> {
    let Some(len) = c.u32() else { return Ok(None) };
    if len > limits.max_extensions {
        return Err((
            ProtocolError::ExtensionsTooLarge {
                len,
                limit: limits.max_extensions,
            },
            0,
        ));
    }
    let Some(bytes) = c.take(len as usize) else {
        return Ok(None);
    };
    parse_items(bytes).map(Some).map_err(|e| (e, 0))
}

/// An XFER_SEGMENT up to its data (RFC 9174 §5.2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentHead {
    /// START / END flags.
    pub flags: u8,
    /// Transfer ID.
    pub transfer_id: u64,
    /// Transfer extension items (only on the START segment).
    pub extensions: Vec<ExtensionItem>,
    /// Length of the data that follows, at most the segment MRU.
    pub len: u64,
}

/// Decodes the head of the XFER_SEGMENT at the start of `buf` (whose first byte must be
/// its type): `Ok(Some((head, used)))`, or `Ok(None)` while the head is incomplete. The
/// data need not have arrived: a receiver takes it as it comes, straight into the
/// transfer, rather than wait for a whole segment (up to the segment MRU) in a buffer.
pub fn decode_segment_head(
    buf: &[u8],
    limits: &DecodeLimits,
) -> Result<Option<(SegmentHead, usize)>, ProtocolError> {
    let mut c = Cursor { buf, pos: 0 };
    if c.u8() != Some(mt::XFER_SEGMENT) {
        return Err(ProtocolError::UnknownType(
            buf.first().copied().unwrap_or(0),
        ));
    }
    Ok(segment_head(&mut c, limits)?.ok().map(|head| (head, c.pos)))
}

/// Reads an XFER_SEGMENT's fields after its type; `Ok(Err(need))` while incomplete.
fn segment_head(
    c: &mut Cursor<'_>,
    limits: &DecodeLimits,
) -> Result<Result<SegmentHead, usize>, ProtocolError> {
    let (Some(flags), Some(transfer_id)) = (c.u8(), c.u64()) else {
        return Ok(Err(c.need(9)));
    };
    let extensions = if flags & SEGMENT_START != 0 {
        match items(c, limits) {
            Ok(Some(v)) => v,
            Ok(None) => return Ok(Err(c.buf.len() + 1)),
            Err((e, _)) => return Err(e),
        }
    } else {
        Vec::new()
    };
    let Some(len) = c.u64() else {
        return Ok(Err(c.need(8)));
    };
    if len > limits.segment_mru {
        return Err(ProtocolError::SegmentTooLarge {
            len,
            mru: limits.segment_mru,
        });
    }
    Ok(Ok(SegmentHead {
        flags,
        transfer_id,
        extensions,
        len,
    }))
}

/// Looks for one message at the start of `buf`.
pub fn decode<'a>(buf: &'a [u8], limits: &DecodeLimits) -> Result<Decoded<'a>, ProtocolError> {
    let mut c = Cursor { buf, pos: 0 };
    let Some(kind) = c.u8() else {
        return Ok(Decoded::NeedMore(1));
    };
    // Fixed-size messages: the total length is known from the type.
    let fixed = match kind {
        mt::KEEPALIVE => Some(1),
        mt::XFER_ACK => Some(1 + 1 + 8 + 8),
        mt::XFER_REFUSE => Some(1 + 1 + 8),
        mt::SESS_TERM => Some(1 + 2),
        mt::MSG_REJECT => Some(1 + 2),
        mt::SESS_INIT | mt::XFER_SEGMENT => None,
        other => return Err(ProtocolError::UnknownType(other)),
    };
    if let Some(total) = fixed {
        if buf.len() < total {
            return Ok(Decoded::NeedMore(total));
        }
    }
    let more = |c: &Cursor<'_>, n: usize| Ok(Decoded::NeedMore(c.need(n)));
    let msg = match kind {
        mt::KEEPALIVE => Message::Keepalive,
        mt::XFER_ACK => {
            let (Some(flags), Some(transfer_id), Some(acknowledged)) = (c.u8(), c.u64(), c.u64())
            else {
                return more(&c, 0);
            };
            Message::XferAck {
                flags,
                transfer_id,
                acknowledged,
            }
        }
        mt::XFER_REFUSE => {
            let (Some(reason), Some(transfer_id)) = (c.u8(), c.u64()) else {
                return more(&c, 0);
            };
            Message::XferRefuse {
                reason: RefuseReason::from_code(reason),
                transfer_id,
            }
        }
        mt::SESS_TERM => {
            let (Some(flags), Some(reason)) = (c.u8(), c.u8()) else {
                return more(&c, 0);
            };
            Message::SessTerm {
                flags,
                reason: TermReason::from_code(reason),
            }
        }
        mt::MSG_REJECT => {
            let (Some(reason), Some(rejected_type)) = (c.u8(), c.u8()) else {
                return more(&c, 0);
            };
            Message::MsgReject {
                reason: RejectReason::from_code(reason),
                rejected_type,
            }
        }
        mt::SESS_INIT => {
            let (Some(keepalive_secs), Some(segment_mru), Some(transfer_mru), Some(id_len)) =
                (c.u16(), c.u64(), c.u64(), c.u16())
            else {
                return more(&c, 21 - c.pos.min(21));
            };
            let Some(id) = c.take(usize::from(id_len)) else {
                return more(&c, usize::from(id_len));
            };
            let node_id = core::str::from_utf8(id)
                .map_err(|_| ProtocolError::NodeIdNotUtf8)?
                .to_string();
            let extensions = match items(&mut c, limits) {
                Ok(Some(v)) => v,
                Ok(None) => return Ok(Decoded::NeedMore(buf.len() + 1)),
                Err((e, _)) => return Err(e),
            };
            Message::SessInit(SessInit {
                keepalive_secs,
                segment_mru,
                transfer_mru,
                node_id,
                extensions,
            })
        }
        _ => {
            // XFER_SEGMENT
            let head = match segment_head(&mut c, limits)? {
                Ok(head) => head,
                Err(need) => return Ok(Decoded::NeedMore(need)),
            };
            let n = head.len as usize;
            let Some(data) = c.take(n) else {
                return Ok(Decoded::NeedMore(c.need(n)));
            };
            Message::XferSegment {
                flags: head.flags,
                transfer_id: head.transfer_id,
                extensions: head.extensions,
                data,
            }
        }
    };
    Ok(Decoded::Message(msg, c.pos))
}

fn put_items(out: &mut Vec<u8>, items: &[ExtensionItem]) {
    let len: usize = items.iter().map(|i| 5 + i.value.len()).sum();
    out.extend_from_slice(&(len as u32).to_be_bytes());
    for i in items {
        out.push(i.flags);
        out.extend_from_slice(&i.item_type.to_be_bytes());
        out.extend_from_slice(&(i.value.len() as u16).to_be_bytes());
        out.extend_from_slice(&i.value);
    }
}

/// Appends the header of an XFER_SEGMENT (everything but the data), so the data can be
/// written from where it lies with a vectored write.
pub fn encode_segment_header(
    out: &mut Vec<u8>,
    flags: u8,
    transfer_id: u64,
    extensions: &[ExtensionItem],
    data_len: u64,
) {
    out.push(mt::XFER_SEGMENT);
    out.push(flags);
    out.extend_from_slice(&transfer_id.to_be_bytes());
    if flags & SEGMENT_START != 0 {
        put_items(out, extensions);
    }
    out.extend_from_slice(&data_len.to_be_bytes());
}

impl Message<'_> {
    /// Appends the encoded message.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Message::SessInit(s) => {
                out.push(mt::SESS_INIT);
                out.extend_from_slice(&s.keepalive_secs.to_be_bytes());
                out.extend_from_slice(&s.segment_mru.to_be_bytes());
                out.extend_from_slice(&s.transfer_mru.to_be_bytes());
                out.extend_from_slice(&(s.node_id.len() as u16).to_be_bytes());
                out.extend_from_slice(s.node_id.as_bytes());
                put_items(out, &s.extensions);
            }
            Message::XferSegment {
                flags,
                transfer_id,
                extensions,
                data,
            } => {
                encode_segment_header(out, *flags, *transfer_id, extensions, data.len() as u64);
                out.extend_from_slice(data);
            }
            Message::XferAck {
                flags,
                transfer_id,
                acknowledged,
            } => {
                out.push(mt::XFER_ACK);
                out.push(*flags);
                out.extend_from_slice(&transfer_id.to_be_bytes());
                out.extend_from_slice(&acknowledged.to_be_bytes());
            }
            Message::XferRefuse {
                reason,
                transfer_id,
            } => {
                out.push(mt::XFER_REFUSE);
                out.push(reason.code());
                out.extend_from_slice(&transfer_id.to_be_bytes());
            }
            Message::Keepalive => out.push(mt::KEEPALIVE),
            Message::SessTerm { flags, reason } => {
                out.extend_from_slice(&[mt::SESS_TERM, *flags, reason.code()])
            }
            Message::MsgReject {
                reason,
                rejected_type,
            } => out.extend_from_slice(&[mt::MSG_REJECT, reason.code(), *rejected_type]),
        }
    }
}

//! Our Ethernet framing for bundles on a pod LAN: bundles carried directly in Ethernet
//! frames with our own EtherType, cut into frames when larger than one, and acknowledged so a
//! dropped frame is sent again rather than losing its bundle silently.
//!
//! Every frame: destination and source MAC, EtherType [`ETHERTYPE`] (0x88B5, IEEE 802 "local
//! experimental"), then our header: version (1 byte), kind (1 byte), transfer number (8
//! bytes), and by kind:
//! - data: frame index (4), frame count (4), bundle length (4), this frame's data length (2),
//!   then the data. The length is explicit because Ethernet pads short frames.
//! - ack: frame count (4), whether the bundle is complete and stored (1), the number of
//!   missing ranges (1), then each range as first frame (4) and count (4).
//! - done: the number of further transfers (1), then each (8): the header's transfer and
//!   these are all complete and stored. One frame answers many small bundles, so a pod's
//!   stream of small bundles costs about one frame per bundle, not two.
//!
//! Decoding never trusts a declared size: counts and lengths are checked against the bytes
//! present and against each other, and a frame that breaks a rule is a typed error.

/// Our EtherType: IEEE 802 local experimental EtherType 1.
pub const ETHERTYPE: u16 = 0x88B5;

/// The framing version.
pub const VERSION: u8 = 1;

/// Ethernet header bytes: two MACs and the EtherType.
pub const ETH_HEADER: usize = 14;

/// Our header bytes common to every kind.
const COMMON: usize = 1 + 1 + 8;

/// Bytes of a data frame before its data.
pub const DATA_HEADER: usize = ETH_HEADER + COMMON + 4 + 4 + 4 + 2;

/// Most missing ranges one ack carries.
pub const MAX_RANGES: usize = 64;

/// Most further transfers one done frame carries.
pub const MAX_DONE_MORE: usize = 127;

/// Bytes of a done frame before its further transfers.
pub const DONE_HEADER: usize = ETH_HEADER + COMMON + 1;

/// A MAC address.
pub type Mac = [u8; 6];

/// One frame's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body<'a> {
    /// A piece of a bundle.
    Data {
        /// Its index among the bundle's frames.
        index: u32,
        /// How many frames the bundle has.
        count: u32,
        /// The bundle's length in bytes.
        total: u32,
        /// The piece.
        data: &'a [u8],
    },
    /// What the receiver has of a transfer.
    Ack {
        /// The transfer's frame count, as the receiver knows it.
        count: u32,
        /// The bundle arrived whole and is stored.
        complete: bool,
        /// Frames still missing: (first, how many).
        missing: Vec<(u32, u32)>,
    },
    /// Transfers complete and stored: the header's, and these.
    Done {
        /// The further transfers.
        more: Vec<u64>,
    },
}

/// A decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Destination MAC.
    pub dst: Mac,
    /// Source MAC.
    pub src: Mac,
    /// The sender's transfer number.
    pub transfer: u64,
    /// What it carries.
    pub body: Body<'a>,
}

/// Why a frame was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Shorter than its headers say.
    #[error("frame truncated")]
    Truncated,
    /// Another EtherType: not ours.
    #[error("EtherType {0:#06x} is not ours")]
    EtherType(u16),
    /// A version we do not speak.
    #[error("framing version {0}")]
    Version(u8),
    /// An unknown kind.
    #[error("frame kind {0}")]
    Kind(u8),
    /// Index, count and lengths disagree.
    #[error("data frame {index} of {count} for {total} bytes: {why}")]
    Inconsistent {
        /// The frame's index.
        index: u32,
        /// The declared count.
        count: u32,
        /// The declared bundle length.
        total: u32,
        /// What is wrong.
        why: &'static str,
    },
    /// An ack with more ranges than allowed or ranges past its count.
    #[error("ack: {0}")]
    BadAck(&'static str),
}

fn take<'a>(b: &mut &'a [u8], n: usize) -> Result<&'a [u8], FrameError> {
    let (head, rest) = b.split_at_checked(n).ok_or(FrameError::Truncated)?;
    *b = rest;
    Ok(head)
}

fn arr<const N: usize>(b: &mut &[u8]) -> Result<[u8; N], FrameError> {
    let (head, rest) = b.split_first_chunk::<N>().ok_or(FrameError::Truncated)?;
    *b = rest;
    Ok(*head)
}

fn u32_of(b: &mut &[u8]) -> Result<u32, FrameError> {
    Ok(u32::from_be_bytes(arr(b)?))
}

impl<'a> Frame<'a> {
    /// The frame's bytes (without the Ethernet FCS, which the NIC adds).
    pub fn encode(&self) -> Vec<u8> {
        let body = match &self.body {
            Body::Data { data, .. } => DATA_HEADER - ETH_HEADER - COMMON + data.len(),
            Body::Ack { missing, .. } => 6 + 8 * missing.len(),
            Body::Done { more } => 1 + 8 * more.len(),
        };
        let mut out = Vec::with_capacity(ETH_HEADER + COMMON + body);
        out.extend_from_slice(&self.dst);
        out.extend_from_slice(&self.src);
        out.extend_from_slice(&ETHERTYPE.to_be_bytes());
        out.push(VERSION);
        match &self.body {
            Body::Data {
                index,
                count,
                total,
                data,
            } => {
                out.push(0);
                out.extend_from_slice(&self.transfer.to_be_bytes());
                out.extend_from_slice(&index.to_be_bytes());
                out.extend_from_slice(&count.to_be_bytes());
                out.extend_from_slice(&total.to_be_bytes());
                out.extend_from_slice(&(data.len() as u16).to_be_bytes());
                out.extend_from_slice(data);
            }
            Body::Ack {
                count,
                complete,
                missing,
            } => {
                out.push(1);
                out.extend_from_slice(&self.transfer.to_be_bytes());
                out.extend_from_slice(&count.to_be_bytes());
                out.push(u8::from(*complete));
                let missing = missing.get(..missing.len().min(MAX_RANGES)).unwrap_or(&[]);
                out.push(missing.len() as u8);
                for (first, n) in missing {
                    out.extend_from_slice(&first.to_be_bytes());
                    out.extend_from_slice(&n.to_be_bytes());
                }
            }
            Body::Done { more } => {
                out.push(2);
                out.extend_from_slice(&self.transfer.to_be_bytes());
                let more = more.get(..more.len().min(MAX_DONE_MORE)).unwrap_or(&[]);
                out.push(more.len() as u8);
                for t in more {
                    out.extend_from_slice(&t.to_be_bytes());
                }
            }
        }
        out
    }

    /// Reads a frame; padding after the declared content is allowed (Ethernet pads).
    pub fn decode(bytes: &'a [u8]) -> Result<Self, FrameError> {
        let mut b = bytes;
        let dst: Mac = arr(&mut b)?;
        let src: Mac = arr(&mut b)?;
        let ethertype = u16::from_be_bytes(arr(&mut b)?);
        if ethertype != ETHERTYPE {
            return Err(FrameError::EtherType(ethertype));
        }
        let [version, kind] = arr(&mut b)?;
        if version != VERSION {
            return Err(FrameError::Version(version));
        }
        let transfer = u64::from_be_bytes(arr(&mut b)?);
        let body = match kind {
            0 => {
                let index = u32_of(&mut b)?;
                let count = u32_of(&mut b)?;
                let total = u32_of(&mut b)?;
                let len = usize::from(u16::from_be_bytes(arr(&mut b)?));
                let data = take(&mut b, len)?;
                let bad = |why| FrameError::Inconsistent {
                    index,
                    count,
                    total,
                    why,
                };
                if count == 0 || index >= count {
                    return Err(bad("index not below count"));
                }
                if data.is_empty() && total > 0 {
                    return Err(bad("empty piece"));
                }
                if u64::from(count) > u64::from(total).max(1) {
                    return Err(bad("more frames than bytes"));
                }
                Body::Data {
                    index,
                    count,
                    total,
                    data,
                }
            }
            1 => {
                let count = u32_of(&mut b)?;
                let [flag, n] = arr(&mut b)?;
                let complete = match flag {
                    0 => false,
                    1 => true,
                    _ => return Err(FrameError::BadAck("complete flag not 0 or 1")),
                };
                let n = usize::from(n);
                if n > MAX_RANGES {
                    return Err(FrameError::BadAck("too many ranges"));
                }
                let mut missing = Vec::with_capacity(n.min(b.len() / 8));
                for _ in 0..n {
                    let first = u32_of(&mut b)?;
                    let len = u32_of(&mut b)?;
                    if len == 0 || u64::from(first) + u64::from(len) > u64::from(count) {
                        return Err(FrameError::BadAck("range past the count"));
                    }
                    missing.push((first, len));
                }
                Body::Ack {
                    count,
                    complete,
                    missing,
                }
            }
            2 => {
                let [n] = arr(&mut b)?;
                let n = usize::from(n);
                if n > MAX_DONE_MORE {
                    return Err(FrameError::BadAck("too many transfers done"));
                }
                let mut more = Vec::with_capacity(n.min(b.len() / 8));
                for _ in 0..n {
                    more.push(u64::from_be_bytes(arr(&mut b)?));
                }
                Body::Done { more }
            }
            k => return Err(FrameError::Kind(k)),
        };
        Ok(Self {
            dst,
            src,
            transfer,
            body,
        })
    }
}

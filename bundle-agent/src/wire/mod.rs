//! The BPv7 wire format of RFC 9171 §4: endpoint IDs, CRCs, the primary and canonical
//! blocks, extension blocks, a zero-copy checked view for decoding, a builder for encoding,
//! and administrative records (§6).

pub mod admin;
pub mod block;
pub mod bundle;
pub mod cbor;
pub mod crc;
mod crc32c_hw;
pub mod eid;
pub mod encoded;
pub mod error;
pub mod flags;
pub mod primary;
pub mod rules;
pub mod time;
pub mod view;

pub use admin::{AdminRecord, ReasonCode, StatusItem, StatusReport};
pub use block::{BlockMeta, BlockRef, BlockType, CanonicalBlock, HopCount};
pub use bundle::{Bundle, BundleBuilder, BundleId, BundleIdError, UnknownBlocksOutcome};
pub use crc::CrcType;
pub use eid::{DtnEid, Eid, IpnEid};
pub use encoded::Encoded;
pub use error::{DecodeError, EidError, FlagRule, Location, SecurityRule};
pub use flags::{BlockFlags, BundleFlags, UnknownBlockDisposition};
pub use primary::{FragmentInfo, PrimaryBlock};
pub use rules::{DecodeOptions, Extensions};
pub use time::{parse_duration_ms, CreationTimestamp, DtnTime};
pub use view::{Blocks, BundleMeta, BundleView};

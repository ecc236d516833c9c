//! Typed decoding errors. Each rule of RFC 9171 that a bundle can break has its own variant,
//! and the message names the block and the rule, for example `block 3: CRC-32C mismatch`.

use core::fmt;

use thiserror::Error;

use super::cbor::CborError;
use super::crc::CrcType;

/// Where in a bundle a problem was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// The bundle as a whole (its outer array).
    Bundle,
    /// The primary block.
    Primary,
    /// The canonical block with this block number.
    Block(u64),
    /// The canonical block at this position (0 = first after the primary block), before its
    /// number could be read.
    BlockIndex(usize),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Bundle => f.write_str("bundle"),
            Location::Primary => f.write_str("primary block"),
            Location::Block(n) => write!(f, "block {n}"),
            Location::BlockIndex(i) => write!(f, "canonical block #{}", i + 1),
        }
    }
}

/// A malformed endpoint ID (RFC 9171 §4.2.5.1, RFC 9758).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EidError {
    /// CBOR-level problem inside the EID.
    #[error("{0}")]
    Cbor(#[from] CborError),
    /// The EID is not a 2-element array.
    #[error("EID is not a [scheme, SSP] pair")]
    NotAPair,
    /// A scheme code other than 1 (dtn) or 2 (ipn).
    #[error("unknown URI scheme code {0}")]
    UnknownScheme(u64),
    /// Text that is neither `dtn:` nor `ipn:`.
    #[error("unknown URI scheme in {0:?}; expected dtn: or ipn:")]
    UnknownTextScheme(String),
    /// A dtn SSP encoded as an integer other than 0 (`dtn:none`).
    #[error("dtn SSP integer {0}; only 0 (dtn:none) is defined")]
    DtnSspInteger(u64),
    /// A dtn SSP not starting with `//`.
    #[error("dtn EID must start with dtn://")]
    DtnMissingSlashes,
    /// A dtn SSP with no `/` after the node name.
    #[error("dtn EID needs a / after the node name")]
    DtnMissingDemuxSlash,
    /// `dtn:///...`.
    #[error("dtn EID has an empty node name")]
    DtnEmptyNodeName,
    /// A byte outside VCHAR (0x21..=0x7e).
    #[error("dtn EID contains byte 0x{0:02x}, which is not a visible ASCII character")]
    DtnInvalidChar(u8),
    /// An ipn SSP array that has neither 2 nor 3 elements.
    #[error("ipn SSP has {0} elements; expected 2 or 3")]
    IpnSspLength(u64),
    /// Text ipn EID not of the form `[allocator.]node.service`.
    #[error("ipn EID {0:?} is not [allocator.]node.service")]
    IpnTextShape(String),
    /// A component that is not a plain decimal number.
    #[error("ipn EID component {0:?} is not a decimal number without leading zeros")]
    IpnBadNumber(String),
    /// An allocator or node number beyond 32 bits, or a service beyond 64 bits.
    #[error("ipn EID number out of range (allocator and node are 32-bit, service 64-bit)")]
    IpnNumberTooLarge,
}

/// A rule of the bundle processing control flags (RFC 9171 §4.2.3) that a bundle breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum FlagRule {
    /// An anonymous bundle (source `dtn:none`) that may be fragmented.
    #[error("source is dtn:none but \"must not be fragmented\" is not set")]
    AnonymousFragmentable,
    /// An anonymous bundle that asks for status reports.
    #[error("source is dtn:none but status reports are requested")]
    AnonymousReports,
    /// An administrative record that asks for status reports.
    #[error("administrative record requests status reports")]
    AdminRecordReports,
    /// A fragment whose "must not be fragmented" flag is set.
    #[error("bundle is a fragment but \"must not be fragmented\" is set")]
    FragmentNotFragmentable,
    /// The is-fragment flag and the presence of the fragment fields disagree.
    #[error("\"bundle is a fragment\" flag disagrees with the fragment offset and total ADU length fields")]
    FragmentFieldsMismatch,
}

/// A rule of RFC 9172 that the security blocks of a received bundle break.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SecurityRule {
    /// A BCB over the primary block.
    #[error("BCB targets the primary block (RFC 9172 §3.8)")]
    BcbTargetsPrimary,
    /// A target number that no block has.
    #[error("security target {0} is not in the bundle (RFC 9172 §3.6)")]
    TargetMissing(u64),
    /// A BIB over a security block, or a BCB over a BCB.
    #[error("{kind} targets security block {target} (RFC 9172 §3.7, §3.8)")]
    TargetsSecurityBlock {
        /// "BIB" or "BCB".
        kind: &'static str,
        /// The target.
        target: u64,
    },
    /// A BCB over a BIB that protects none of the BCB's other targets.
    #[error("BCB targets BIB {0} without targeting a block that BIB protects (RFC 9172 §3.8)")]
    BcbOverUnrelatedBib(u64),
    /// Two security blocks of one kind over the same target.
    #[error("target {target} is also protected by {kind} block {other} (RFC 9172 §3.2)")]
    DuplicateService {
        /// The target.
        target: u64,
        /// "BIB" or "BCB".
        kind: &'static str,
        /// The other security block.
        other: u64,
    },
    /// A result of the wrong length for the context's algorithm.
    #[error(
        "result for target {target} is {found} bytes; {algorithm} makes {expected} (RFC 9173)"
    )]
    ResultLength {
        /// The target.
        target: u64,
        /// Bytes present.
        found: usize,
        /// Bytes the algorithm makes.
        expected: usize,
        /// Algorithm name.
        algorithm: &'static str,
    },
    /// A parameter or result the RFC 9173 context cannot use.
    #[error("{0} (RFC 9173)")]
    Context(String),
}

/// Why a byte string is not an acceptable bundle.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Malformed CBOR.
    #[error("{at}: malformed CBOR at byte {offset}: {source}")]
    Cbor {
        /// Where.
        at: Location,
        /// Byte offset of the item.
        offset: usize,
        /// What was wrong.
        source: CborError,
    },
    /// The input is larger than the configured maximum bundle size.
    #[error("bundle: {size} bytes exceeds the maximum bundle size of {limit} bytes")]
    TooLarge {
        /// Input size.
        size: usize,
        /// Configured limit.
        limit: usize,
    },
    /// More canonical blocks than the configured maximum.
    #[error("bundle: more than {limit} blocks")]
    TooManyBlocks {
        /// Configured limit.
        limit: usize,
    },
    /// The input is not a CBOR array (RFC 9171 §4.1).
    #[error("bundle: not a CBOR array (RFC 9171 §4.1)")]
    NotAnArray,
    /// A definite-length outer array, refused because the decoder is set to strict.
    #[error(
        "bundle: definite-length outer array; RFC 9171 §4.1 requires an indefinite-length array"
    )]
    DefiniteOuterArray,
    /// Bytes follow the bundle's closing break.
    #[error("bundle: {0} trailing bytes after the bundle")]
    TrailingBytes(usize),
    /// The bundle has no payload block (RFC 9171 §4.1).
    #[error("bundle: no payload block (RFC 9171 §4.1)")]
    NoPayloadBlock,
    /// A second payload block.
    #[error("block {0}: second payload block; a bundle has exactly one (RFC 9171 §4.1)")]
    TwoPayloadBlocks(u64),
    /// The payload block is followed by another block.
    #[error("block {0}: follows the payload block, which must be last (RFC 9171 §4.1)")]
    PayloadNotLast(u64),
    /// Two blocks share a number.
    #[error("block {0}: duplicate block number (RFC 9171 §4.3.2)")]
    DuplicateBlockNumber(u64),
    /// Payload block numbered other than 1.
    #[error("block {0}: payload block must have block number 1 (RFC 9171 §4.3.3)")]
    PayloadBlockNumber(u64),
    /// Canonical block numbered 0.
    #[error("{0}: block number 0 is reserved for the primary block (RFC 9171 §4.3.2)")]
    BlockNumberZero(Location),
    /// Wrong item count in a block array.
    #[error("{at}: array of {found} items; expected {expected}")]
    ArrayLength {
        /// Where.
        at: Location,
        /// Items present.
        found: u64,
        /// What the rule wants.
        expected: &'static str,
    },
    /// Unassigned CRC type code.
    #[error("{at}: unknown CRC type {code} (RFC 9171 §4.2.1)")]
    UnknownCrcType {
        /// Where.
        at: Location,
        /// The code.
        code: u64,
    },
    /// CRC field of the wrong length.
    #[error("{at}: {crc} value is {found} bytes; expected {expected}")]
    CrcLength {
        /// Where.
        at: Location,
        /// CRC type.
        crc: CrcType,
        /// Bytes found.
        found: usize,
        /// Bytes expected.
        expected: usize,
    },
    /// The CRC does not match.
    #[error("{at}: {crc} mismatch")]
    CrcMismatch {
        /// Where.
        at: Location,
        /// CRC type.
        crc: CrcType,
    },
    /// Bundle protocol version other than 7.
    #[error("primary block: version {0}; expected 7 (RFC 9171 §4.3.1)")]
    Version(u64),
    /// An endpoint ID that is malformed.
    #[error("{at}: {field}: {source}")]
    Eid {
        /// Where.
        at: Location,
        /// Which field held it.
        field: &'static str,
        /// What was wrong.
        source: EidError,
    },
    /// Primary block without CRC and without a BIB over it.
    #[error(
        "primary block: CRC type none, and no BIB targets the primary block (RFC 9171 §4.3.1)"
    )]
    PrimaryCrcMissing,
    /// Creation time zero and no bundle age block.
    #[error(
        "primary block: creation time 0 with bundle age block absent (RFC 9171 §4.2.7, §4.4.2)"
    )]
    BundleAgeMissing,
    /// A bundle processing control flag rule.
    #[error("primary block: {0} (RFC 9171 §4.2.3)")]
    BundleFlags(FlagRule),
    /// A security block breaks a rule of RFC 9172 or RFC 9173.
    #[error("block {block}: {rule}")]
    Security {
        /// The security block.
        block: u64,
        /// The rule.
        rule: SecurityRule,
    },
    /// Admin record bundle whose block asks for a status report on failure.
    #[error("block {0}: \"transmit status report if block can't be processed\" is set in an administrative record (RFC 9171 §4.2.4)")]
    AdminRecordBlockReport(u64),
    /// A second previous-node, bundle-age or hop-count block.
    #[error("block {number}: second {kind} block; at most one is allowed (RFC 9171 §4.4)")]
    DuplicateExtension {
        /// Block number of the second one.
        number: u64,
        /// The block kind.
        kind: &'static str,
    },
    /// Hop limit outside 1..=255.
    #[error("block {number}: hop limit {limit} outside 1..=255 (RFC 9171 §4.4.3)")]
    HopLimit {
        /// Block number.
        number: u64,
        /// The limit found.
        limit: u64,
    },
    /// A fragment whose payload reaches past the total ADU length.
    #[error("primary block: fragment offset {offset} + payload {len} bytes exceeds total ADU length {total} (RFC 9171 §5.8)")]
    FragmentBeyondAdu {
        /// Fragment offset.
        offset: u64,
        /// Payload length.
        len: u64,
        /// Total ADU length.
        total: u64,
    },
    /// The block-type-specific data of a known block type does not parse.
    #[error("block {number}: {kind} data: {reason}")]
    BlockData {
        /// Block number.
        number: u64,
        /// The block kind.
        kind: &'static str,
        /// What was wrong.
        reason: String,
    },
}

impl DecodeError {
    pub(crate) fn cbor(at: Location, offset: usize) -> impl FnOnce(CborError) -> DecodeError {
        move |source| DecodeError::Cbor { at, offset, source }
    }
}

//! An owned bundle value, its encoder, and a builder with sane defaults.
//!
//! The encoder emits RFC 9171 deterministic CBOR: an indefinite-length outer array
//! (§4.1), definite-length inner arrays, shortest integer heads, CRCs computed in place.
//! It refuses, with the same errors the decoder uses, any bundle that breaks a rule, so
//! everything it writes decodes back to the same value.

use core::fmt;

use bytes::Bytes;

use super::block::{bundle_age_data, BlockRef, BlockType, CanonicalBlock, HopCount};
use super::cbor::{Writer, BREAK, INDEFINITE_ARRAY};
use super::crc::CrcType;
use super::eid::Eid;
use super::encoded::Encoded;
use super::error::DecodeError;
use super::flags::{BlockFlags, BundleFlags, UnknownBlockDisposition};
use super::primary::{FragmentInfo, PrimaryBlock};
use super::rules::{check_bundle, DecodeOptions};
use super::time::CreationTimestamp;

/// An owned bundle: primary block and canonical blocks, payload last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// The primary block.
    pub primary: PrimaryBlock,
    /// Canonical blocks in wire order.
    pub blocks: Vec<CanonicalBlock>,
}

impl Bundle {
    /// The payload block's data, if there is a payload block.
    pub fn payload(&self) -> Option<&[u8]> {
        self.payload_bytes().map(|d| &d[..])
    }

    /// The payload block's data as shared bytes (cloning it does not copy the payload).
    pub fn payload_bytes(&self) -> Option<&Bytes> {
        self.blocks
            .iter()
            .find(|b| b.block_type == BlockType::PAYLOAD)
            .map(|b| &b.data)
    }

    /// The block with this number.
    pub fn block(&self, number: u64) -> Option<&CanonicalBlock> {
        self.blocks.iter().find(|b| b.number == number)
    }

    /// The block with this number, mutable.
    pub fn block_mut(&mut self, number: u64) -> Option<&mut CanonicalBlock> {
        self.blocks.iter_mut().find(|b| b.number == number)
    }

    /// Checks the rules and encodes. Primary blocks without CRC are accepted only when a
    /// BIB covers them or when `opts.require_primary_crc` is off.
    ///
    /// A block that arrived in bytes this bundle still shares and that has not changed
    /// since is copied as it came, CRC included, rather than encoded again.
    pub fn encode_with(&self, opts: &DecodeOptions) -> Result<Vec<u8>, DecodeError> {
        Ok(self.write(opts, false)?.into_bytes().into())
    }

    /// [`Bundle::encode_with`] as shared pieces: a large block that goes out as it came is
    /// not copied but shared with the bytes it came in ([`Encoded`]).
    pub fn encode_shared(&self, opts: &DecodeOptions) -> Result<Encoded, DecodeError> {
        self.write(opts, true)
    }

    /// Checks the rules and writes, reusing each block's received encoding where it holds.
    fn write(&self, opts: &DecodeOptions, share: bool) -> Result<Encoded, DecodeError> {
        let refs: Vec<BlockRef<'_>> = self.blocks.iter().map(CanonicalBlock::as_ref).collect();
        check_bundle(&self.primary, &refs, opts)?;
        let verbatim: Vec<Option<&Bytes>> = self
            .blocks
            .iter()
            .map(CanonicalBlock::unchanged_wire)
            .collect();
        Ok(write_bundle(&self.primary, &refs, &verbatim, share))
    }

    /// Checks the rules with default options and encodes.
    pub fn encode(&self) -> Result<Vec<u8>, DecodeError> {
        self.encode_with(&DecodeOptions::default())
    }

    /// The bundle ID.
    pub fn id(&self) -> BundleId {
        BundleId::of(&self.primary, self.payload().map_or(0, |p| p.len() as u64))
    }

    /// Applies RFC 9171 §5.6 step 4 to the blocks whose type this node does not know: each
    /// is kept, removed, or condemns the whole bundle, as its block processing flags
    /// (§4.2.4) say. The caller deletes the bundle when `delete_bundle` is set, and sends a
    /// "block unsupported" status report when `report` is set and the bundle asks for it.
    pub fn apply_unknown_block_rules(&mut self) -> UnknownBlocksOutcome {
        let mut outcome = UnknownBlocksOutcome::default();
        for b in self.blocks.iter().filter(|b| !b.block_type.is_known()) {
            let (action, report) = b.flags.unknown_block_disposition();
            outcome.report |= report;
            match action {
                UnknownBlockDisposition::Keep => {}
                UnknownBlockDisposition::DiscardBlock => outcome.removed.push(b.number),
                UnknownBlockDisposition::DeleteBundle => outcome.delete_bundle = true,
            }
        }
        if !outcome.delete_bundle {
            self.blocks.retain(|b| !outcome.removed.contains(&b.number));
        }
        outcome
    }

    /// The lowest block number not in use and greater than 1.
    pub fn next_block_number(&self) -> u64 {
        self.blocks
            .iter()
            .map(|b| b.number)
            .max()
            .unwrap_or(1)
            .max(1)
            + 1
    }
}

/// What [`Bundle::apply_unknown_block_rules`] decided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnknownBlocksOutcome {
    /// Some unknown block asks for the whole bundle to be deleted.
    pub delete_bundle: bool,
    /// Unknown blocks removed (none when the bundle is to be deleted).
    pub removed: Vec<u64>,
    /// Some unknown block asks for a status report.
    pub report: bool,
}

/// Checks and encodes a primary block and borrowed canonical blocks.
pub fn encode_parts(
    primary: &PrimaryBlock,
    blocks: &[BlockRef<'_>],
    opts: &DecodeOptions,
) -> Result<Vec<u8>, DecodeError> {
    check_bundle(primary, blocks, opts)?;
    Ok(write_bundle(primary, blocks, &[], false)
        .into_bytes()
        .into())
}

/// Blocks at least this large that go out as they came are shared, not copied, by
/// [`Bundle::encode_shared`]; smaller ones cost less to copy than to carry as a piece.
const SHARE_FROM: usize = 4096;

/// Writes a checked bundle. Block `i` is copied from `verbatim[i]` when that gives its
/// encoding, else encoded; with `share`, such a block of [`SHARE_FROM`] bytes or more is
/// a piece of its own, shared with the bytes it came in.
fn write_bundle(
    primary: &PrimaryBlock,
    blocks: &[BlockRef<'_>],
    verbatim: &[Option<&Bytes>],
    share: bool,
) -> Encoded {
    let verbatim = |i: usize| verbatim.get(i).copied().flatten();
    let shared = |i: usize| verbatim(i).filter(|w| share && w.len() >= SHARE_FROM);
    let size = 2
        + 64
        + blocks
            .iter()
            .enumerate()
            .filter(|(i, _)| shared(*i).is_none())
            .map(|(_, b)| b.encoded_len())
            .sum::<usize>();
    let mut out = Encoded::default();
    let mut w = Writer::with_capacity(size);
    w.raw(&[INDEFINITE_ARRAY]);
    primary.encode(&mut w);
    for (i, b) in blocks.iter().enumerate() {
        if let Some(wire) = shared(i) {
            let rest = size.saturating_sub(w.len());
            out.push(Bytes::from(
                std::mem::replace(&mut w, Writer::with_capacity(rest)).into_vec(),
            ));
            out.push(wire.clone());
        } else if let Some(wire) = verbatim(i) {
            w.raw(wire);
        } else {
            b.encode(&mut w);
        }
    }
    w.raw(&[BREAK]);
    out.push(Bytes::from(w.into_vec()));
    out
}

/// Identifies a bundle: source, creation timestamp and, for fragments, offset and payload
/// length (RFC 9171 §4.3.1 and §5.9).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BundleId {
    /// Source node ID.
    pub source: Eid,
    /// Creation timestamp.
    pub creation: CreationTimestamp,
    /// Fragment offset and payload length, for fragments.
    pub fragment: Option<(u64, u64)>,
}

impl BundleId {
    /// The ID of a bundle with this primary block and payload length.
    pub fn of(primary: &PrimaryBlock, payload_len: u64) -> Self {
        Self {
            source: primary.source.clone(),
            creation: primary.creation,
            fragment: primary.fragment.map(|f| (f.offset, payload_len)),
        }
    }
}

impl fmt::Display for BundleId {
    /// `source/creation-ms/sequence[/offset/length]`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}",
            self.source, self.creation.time.0, self.creation.sequence
        )?;
        if let Some((offset, len)) = self.fragment {
            write!(f, "/{offset}/{len}")?;
        }
        Ok(())
    }
}

/// Why text is not a bundle ID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a bundle ID (SOURCE/CREATION-MS/SEQUENCE[/OFFSET/LENGTH])")]
pub struct BundleIdError(pub String);

impl core::str::FromStr for BundleId {
    type Err = BundleIdError;

    /// Parses what `Display` prints. The source may itself contain `/` (`dtn://n/`), so the
    /// numbers are taken from the right: four when the rest is an EID (a fragment), else two.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || BundleIdError(s.to_string());
        let numbers = |parts: &[&str]| -> Option<Vec<u64>> {
            parts.iter().map(|p| p.parse::<u64>().ok()).collect()
        };
        let parts: Vec<&str> = s.rsplitn(5, '/').collect();
        if let [len, offset, seq, time, source] = parts.as_slice() {
            if let (Some(n), Ok(source)) = (numbers(&[time, seq, offset, len]), source.parse()) {
                if let [time, seq, offset, len] = n.as_slice() {
                    return Ok(Self {
                        source,
                        creation: CreationTimestamp::new(super::time::DtnTime(*time), *seq),
                        fragment: Some((*offset, *len)),
                    });
                }
            }
        }
        let parts: Vec<&str> = s.rsplitn(3, '/').collect();
        let [seq, time, source] = parts.as_slice() else {
            return Err(err());
        };
        let (Some(n), Ok(source)) = (numbers(&[time, seq]), source.parse::<Eid>()) else {
            return Err(err());
        };
        let [time, seq] = n.as_slice() else {
            return Err(err());
        };
        Ok(Self {
            source,
            creation: CreationTimestamp::new(super::time::DtnTime(*time), *seq),
            fragment: None,
        })
    }
}

/// Builds a bundle from a destination, a source and a payload, with defaults a node would
/// pick: CRC-32C on every block, a one-day lifetime, report-to the source, and extension
/// blocks only when asked for.
#[derive(Debug, Clone)]
pub struct BundleBuilder<'p> {
    primary: PrimaryBlock,
    extra: Vec<CanonicalBlock>,
    payload: &'p [u8],
    payload_flags: BlockFlags,
    crc_type: CrcType,
}

impl<'p> BundleBuilder<'p> {
    /// A builder for a bundle to `destination` from `source`, created at `creation`.
    pub fn new(destination: Eid, source: Eid, creation: CreationTimestamp) -> Self {
        Self {
            primary: PrimaryBlock::new(destination, source, creation, 86_400_000),
            extra: Vec::new(),
            payload: &[],
            payload_flags: BlockFlags::default(),
            crc_type: CrcType::Crc32c,
        }
    }

    /// Sets the payload.
    pub fn payload(mut self, payload: &'p [u8]) -> Self {
        self.payload = payload;
        self
    }

    /// Sets the lifetime in milliseconds.
    pub fn lifetime_ms(mut self, ms: u64) -> Self {
        self.primary.lifetime_ms = ms;
        self
    }

    /// Sets the report-to EID.
    pub fn report_to(mut self, eid: Eid) -> Self {
        self.primary.report_to = eid;
        self
    }

    /// Sets the bundle processing control flags (the fragment bit follows `fragment`).
    pub fn flags(mut self, flags: BundleFlags) -> Self {
        self.primary.flags = flags;
        self
    }

    /// Sets the CRC type of the primary block and of every block added after this call and
    /// of the payload block.
    pub fn crc(mut self, crc: CrcType) -> Self {
        self.primary.crc_type = crc;
        self.crc_type = crc;
        self
    }

    /// Makes this bundle a fragment.
    pub fn fragment(mut self, offset: u64, total_adu_length: u64) -> Self {
        self.primary.fragment = Some(FragmentInfo {
            offset,
            total_adu_length,
        });
        self.primary.flags = self.primary.flags.with(BundleFlags::IS_FRAGMENT, true);
        self
    }

    /// Sets the payload block's processing flags.
    pub fn payload_flags(mut self, flags: BlockFlags) -> Self {
        self.payload_flags = flags;
        self
    }

    fn next_number(&self) -> u64 {
        self.extra.iter().map(|b| b.number).max().unwrap_or(1) + 1
    }

    /// Adds a hop count block.
    pub fn hop_count(self, limit: u64, count: u64) -> Self {
        let data = HopCount { limit, count }.to_data();
        self.block(BlockType::HOP_COUNT, BlockFlags::default(), data)
    }

    /// Adds a bundle age block.
    pub fn bundle_age_ms(self, age: u64) -> Self {
        self.block(
            BlockType::BUNDLE_AGE,
            BlockFlags::default(),
            bundle_age_data(age),
        )
    }

    /// Adds a previous node block.
    pub fn previous_node(self, node: &Eid) -> Self {
        let data = node.to_cbor();
        self.block(BlockType::PREVIOUS_NODE, BlockFlags::default(), data)
    }

    /// Adds a priority block ([`super::block::PRIORITY`]), none for normal priority.
    pub fn priority(self, priority: u8) -> Self {
        if priority == super::block::PRIORITY_NORMAL {
            return self;
        }
        let data = super::block::priority_data(priority);
        self.block(super::block::PRIORITY, BlockFlags::default(), data)
    }

    /// Adds any extension block, numbered after the ones already added.
    pub fn block(mut self, block_type: BlockType, flags: BlockFlags, data: Vec<u8>) -> Self {
        let number = self.next_number();
        self.extra.push(CanonicalBlock {
            block_type,
            number,
            flags,
            crc_type: self.crc_type,
            data: data.into(),
            wire: None,
        });
        self
    }

    /// The primary block as configured so far.
    pub fn primary(&self) -> &PrimaryBlock {
        &self.primary
    }

    /// Checks the rules with default (strict) options and encodes.
    pub fn build(&self) -> Result<Vec<u8>, DecodeError> {
        self.build_with(&DecodeOptions::default())
    }

    /// Checks the rules with `opts` and encodes.
    pub fn build_with(&self, opts: &DecodeOptions) -> Result<Vec<u8>, DecodeError> {
        let mut refs: Vec<BlockRef<'_>> = self.extra.iter().map(CanonicalBlock::as_ref).collect();
        refs.push(BlockRef {
            block_type: BlockType::PAYLOAD,
            number: 1,
            flags: self.payload_flags,
            crc_type: self.crc_type,
            data: self.payload,
        });
        encode_parts(&self.primary, &refs, opts)
    }

    /// The owned value this builder describes (copies the payload).
    pub fn to_bundle(&self) -> Bundle {
        let mut blocks = self.extra.clone();
        blocks.push(CanonicalBlock {
            block_type: BlockType::PAYLOAD,
            number: 1,
            flags: self.payload_flags,
            crc_type: self.crc_type,
            data: Bytes::copy_from_slice(self.payload),
            wire: None,
        });
        Bundle {
            primary: self.primary.clone(),
            blocks,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::DtnTime;

    #[test]
    fn bundle_ids_print_and_parse_back() {
        let ids = [
            BundleId {
                source: Eid::ipn(1, 0),
                creation: CreationTimestamp::new(DtnTime(800_000), 3),
                fragment: None,
            },
            BundleId {
                source: Eid::ipn(1, 0),
                creation: CreationTimestamp::new(DtnTime(800_000), 3),
                fragment: Some((1000, 500)),
            },
            BundleId {
                source: "dtn://pod7/".parse().unwrap(),
                creation: CreationTimestamp::new(DtnTime(0), 0),
                fragment: None,
            },
            BundleId {
                source: "dtn://pod7/".parse().unwrap(),
                creation: CreationTimestamp::new(DtnTime(5), 6),
                fragment: Some((0, 9)),
            },
        ];
        for id in ids {
            assert_eq!(id.to_string().parse::<BundleId>().unwrap(), id, "{id}");
        }
        for bad in [
            "",
            "ipn:1.0",
            "ipn:1.0/x/1",
            "nonsense/1/2",
            "ipn:1.0/1/2/3",
        ] {
            assert!(bad.parse::<BundleId>().is_err(), "{bad}");
        }
    }

    /// A block kept from the bytes it came in is written again as it came: proven here by
    /// a CRC left wrong (decoded without checking sums) that re-encoding carries over
    /// untouched. Once a field or the data changes, the block is encoded and summed anew.
    #[test]
    fn unchanged_blocks_are_copied_changed_ones_encoded() {
        let creation = CreationTimestamp::new(DtnTime(1_000), 1);
        let good = BundleBuilder::new(Eid::ipn(2, 1), Eid::ipn(1, 1), creation)
            .hop_count(9, 0)
            .payload(b"the payload")
            .build()
            .unwrap();
        let mut bad = good.clone();
        let at = bad.windows(11).position(|w| w == b"the payload").unwrap();
        bad[at + 11 + 1] ^= 0xff; // the payload block's CRC, after its 0x44 head
        let bad = Bytes::from(bad);
        let strict = DecodeOptions::default();
        let own = DecodeOptions {
            verify_crc: false,
            ..DecodeOptions::default()
        };
        assert!(crate::wire::BundleView::decode_with(&bad, &strict).is_err());
        let view = crate::wire::BundleView::decode_with(&bad, &own).unwrap();

        let kept = view.to_bundle_in(&bad);
        assert_eq!(kept.encode_with(&strict).unwrap(), &bad[..]);

        let mut flagged = kept.clone();
        let payload = flagged.block_mut(1).unwrap();
        payload.flags = BlockFlags(BlockFlags::REPORT_IF_UNPROCESSABLE);
        let again = flagged.encode_with(&strict).unwrap();
        let decoded = crate::wire::BundleView::decode_with(&again, &strict).unwrap();
        assert_eq!(decoded.payload(), b"the payload");

        let mut replaced = kept.clone();
        replaced.block_mut(1).unwrap().data = Bytes::from_static(b"the payload");
        let again = replaced.encode_with(&strict).unwrap();
        assert_eq!(again, good, "equal data elsewhere in memory is summed anew");

        // Not shared with the bytes it was decoded from: nothing is reused.
        let copied = view.to_bundle();
        assert_eq!(copied.encode_with(&strict).unwrap(), good);
    }
}

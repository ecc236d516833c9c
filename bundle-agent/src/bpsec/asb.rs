//! The Abstract Security Block (RFC 9172 §3.6): the block-type-specific data shared by the
//! BIB and the BCB. It is a CBOR *sequence* (not an array) of: security targets, security
//! context id, security context flags, security source, optional parameters, results.
//! Parameter and result values are kept as encoded CBOR items; the security context
//! (RFC 9173) interprets them.

use thiserror::Error;

use crate::wire::cbor::{CborError, Reader, Writer};
use crate::wire::eid::Eid;
use crate::wire::error::EidError;

/// Security context flag bit 0: parameters are present (RFC 9172 §3.6).
pub const FLAG_PARAMETERS_PRESENT: u64 = 0x01;

/// An `[id, value]` pair with the value still encoded.
pub type IdValue = (u64, Vec<u8>);

/// The decoded Abstract Security Block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbstractSecurityBlock {
    /// Block numbers this block protects (0 is the primary block).
    pub targets: Vec<u64>,
    /// Security context id (RFC 9173: 1 = BIB-HMAC-SHA2, 2 = BCB-AES-GCM).
    pub context_id: i64,
    /// Security source: the node that added this operation.
    pub source: Eid,
    /// Context parameters, in wire order.
    pub parameters: Vec<IdValue>,
    /// One result list per target, in target order.
    pub results: Vec<Vec<IdValue>>,
}

/// Why an ASB is malformed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum AsbError {
    /// CBOR-level problem.
    #[error("{0}")]
    Cbor(#[from] CborError),
    /// Security source EID malformed.
    #[error("security source: {0}")]
    Source(EidError),
    /// No targets (RFC 9172 §3.6: at least one).
    #[error("no security targets (RFC 9172 §3.6)")]
    NoTargets,
    /// A target listed twice (RFC 9172 §3.6).
    #[error("security target {0} listed twice (RFC 9172 §3.6)")]
    DuplicateTarget(u64),
    /// Results not one per target (RFC 9172 §3.6).
    #[error("{results} result sets for {targets} targets (RFC 9172 §3.6)")]
    ResultCount {
        /// Targets listed.
        targets: usize,
        /// Result sets present.
        results: usize,
    },
    /// A parameter or result that is not an `[id, value]` pair.
    #[error("{0} is not an [id, value] pair")]
    NotAPair(&'static str),
    /// Unassigned context flag bits.
    #[error("unassigned security context flags {0:#x}")]
    ReservedFlags(u64),
    /// Bytes after the results.
    #[error("{0} trailing bytes after the security results")]
    Trailing(usize),
}

fn pairs(r: &mut Reader<'_>, what: &'static str) -> Result<Vec<IdValue>, AsbError> {
    let n = r.definite_array()?;
    let mut v = Vec::with_capacity(n.min(16) as usize);
    for _ in 0..n {
        if r.definite_array()? != 2 {
            return Err(AsbError::NotAPair(what));
        }
        let id = r.uint()?;
        v.push((id, r.raw_item()?.to_vec()));
    }
    Ok(v)
}

impl AbstractSecurityBlock {
    /// Decodes block-type-specific data as an ASB.
    pub fn decode(data: &[u8]) -> Result<Self, AsbError> {
        let mut r = Reader::new(data, 16);
        let n = r.definite_array()?;
        if n == 0 {
            return Err(AsbError::NoTargets);
        }
        let mut targets = Vec::with_capacity(n.min(64) as usize);
        for _ in 0..n {
            let t = r.uint()?;
            if targets.contains(&t) {
                return Err(AsbError::DuplicateTarget(t));
            }
            targets.push(t);
        }
        let context_id = r.int()?;
        let flags = r.uint()?;
        if flags & !FLAG_PARAMETERS_PRESENT != 0 {
            return Err(AsbError::ReservedFlags(flags));
        }
        let source = Eid::decode(&mut r).map_err(AsbError::Source)?;
        let parameters = if flags & FLAG_PARAMETERS_PRESENT != 0 {
            pairs(&mut r, "parameter")?
        } else {
            Vec::new()
        };
        let n = r.definite_array()?;
        let mut results = Vec::with_capacity(n.min(64) as usize);
        for _ in 0..n {
            results.push(pairs(&mut r, "result")?);
        }
        if results.len() != targets.len() {
            return Err(AsbError::ResultCount {
                targets: targets.len(),
                results: results.len(),
            });
        }
        if r.remaining() != 0 {
            return Err(AsbError::Trailing(r.remaining()));
        }
        Ok(Self {
            targets,
            context_id,
            source,
            parameters,
            results,
        })
    }

    /// Encodes as block-type-specific data. The parameters-present flag is set exactly when
    /// there are parameters.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(64);
        w.array(self.targets.len() as u64);
        for t in &self.targets {
            w.uint(*t);
        }
        w.int(self.context_id);
        w.uint(if self.parameters.is_empty() {
            0
        } else {
            FLAG_PARAMETERS_PRESENT
        });
        self.source.encode(&mut w);
        let write_pairs = |w: &mut Writer, list: &[IdValue]| {
            w.array(list.len() as u64);
            for (id, value) in list {
                w.array(2).uint(*id).raw(value);
            }
        };
        if !self.parameters.is_empty() {
            write_pairs(&mut w, &self.parameters);
        }
        w.array(self.results.len() as u64);
        for r in &self.results {
            write_pairs(&mut w, r);
        }
        w.into_vec()
    }

    /// The encoded value of parameter `id`.
    pub fn parameter(&self, id: u64) -> Option<&[u8]> {
        self.parameters
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, v)| &v[..])
    }

    /// The position of `target` in the target list.
    pub fn target_index(&self, target: u64) -> Option<usize> {
        self.targets.iter().position(|t| *t == target)
    }
}

/// Encodes an unsigned integer as a standalone CBOR item (a parameter value).
pub fn uint_value(v: u64) -> Vec<u8> {
    let mut w = Writer::with_capacity(9);
    w.uint(v);
    w.into_vec()
}

/// Encodes a byte string as a standalone CBOR item (a parameter or result value).
pub fn bytes_value(v: &[u8]) -> Vec<u8> {
    let mut w = Writer::with_capacity(v.len() + 9);
    w.bytes(v);
    w.into_vec()
}

/// Reads a standalone unsigned-integer value.
pub fn read_uint_value(v: &[u8]) -> Result<u64, CborError> {
    let mut r = Reader::new(v, 1);
    r.uint()
}

/// Reads a standalone byte-string value.
pub fn read_bytes_value(v: &[u8]) -> Result<&[u8], CborError> {
    let mut r = Reader::new(v, 1);
    r.bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9173_a_1_3_2_asb_roundtrip() {
        let hex = "810101018202820201828201078203008181820158403bdc69b3a34a2b5d3a8554368bd1e808f606219d2a10a846eae3886ae4ecc83c4ee550fdfb1cc636b904e2f1a73e303dcd4b6ccece003e95e8164dcc89a156e1";
        let bytes = hex::decode(hex).unwrap();
        let asb = AbstractSecurityBlock::decode(&bytes).unwrap();
        assert_eq!(asb.targets, vec![1]);
        assert_eq!(asb.context_id, 1);
        assert_eq!(asb.source.to_string(), "ipn:2.1");
        assert_eq!(asb.parameters.len(), 2);
        assert_eq!(asb.encode(), bytes);
    }

    #[test]
    fn rfc9172_3_6_malformed_asbs() {
        // No targets.
        assert_eq!(
            AbstractSecurityBlock::decode(&hex::decode("80").unwrap()),
            Err(AsbError::NoTargets)
        );
        // Duplicate target.
        assert_eq!(
            AbstractSecurityBlock::decode(&hex::decode("820101").unwrap()),
            Err(AsbError::DuplicateTarget(1))
        );
        // One target, zero result sets.
        let b = hex::decode("8101010082028202018 0".replace(' ', "")).unwrap();
        assert_eq!(
            AbstractSecurityBlock::decode(&b),
            Err(AsbError::ResultCount {
                targets: 1,
                results: 0
            })
        );
    }
}

//! Endpoint identifiers: `dtn:` (RFC 9171 §4.2.5.1.1) and `ipn:` (RFC 9171 §4.2.5.1.2 as
//! updated by RFC 9758), in their text and CBOR forms.
//!
//! CBOR form: `[scheme code, SSP]`. The dtn SSP is the text after `dtn:` (for example
//! `//node/demux`) or the unsigned integer 0 for `dtn:none`. The ipn SSP is
//! `[fully-qualified node number, service]` (2 elements, the allocator in the upper 32 bits
//! of the node number) or `[allocator, node, service]` (3 elements, RFC 9758 §6).

use core::fmt;
use core::str::FromStr;

use super::cbor::{Reader, Writer};
use super::error::EidError;

/// URI scheme code of `dtn` (RFC 9171 §9.7).
pub const SCHEME_DTN: u64 = 1;
/// URI scheme code of `ipn` (RFC 9171 §9.7).
pub const SCHEME_IPN: u64 = 2;
/// The node number RFC 9758 §3.3 reserves for "the local node" (`ipn:!.service`).
pub const IPN_LOCAL_NODE: u32 = u32::MAX;

/// An endpoint ID.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Eid {
    /// `dtn:none`, the null endpoint.
    Null,
    /// `dtn://node/demux`.
    Dtn(DtnEid),
    /// `ipn:[allocator.]node.service`.
    Ipn(IpnEid),
}

/// A `dtn://node-name/demux` EID, kept as its scheme-specific part.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DtnEid {
    /// The SSP, starting with `//`.
    ssp: Box<str>,
    /// Byte offset of the `/` that ends the node name.
    node_end: usize,
}

/// An `ipn` EID (RFC 9758).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpnEid {
    /// Allocator identifier; 0 for the default allocator.
    pub allocator: u32,
    /// Node number within the allocator's space.
    pub node: u32,
    /// Service number; 0 names the node itself.
    pub service: u64,
}

impl IpnEid {
    /// The fully-qualified node number: allocator in the upper 32 bits.
    pub fn fqnn(&self) -> u64 {
        (u64::from(self.allocator) << 32) | u64::from(self.node)
    }
}

impl DtnEid {
    /// Parses the SSP (the text after `dtn:`), which must be `//node-name/demux`.
    pub fn from_ssp(ssp: &str) -> Result<Self, EidError> {
        let rest = ssp.strip_prefix("//").ok_or(EidError::DtnMissingSlashes)?;
        let node_len = rest.find('/').ok_or(EidError::DtnMissingDemuxSlash)?;
        if node_len == 0 {
            return Err(EidError::DtnEmptyNodeName);
        }
        // node-name = 1*VCHAR and demux = *VCHAR (RFC 9171 §4.2.5.1.1).
        if let Some(c) = rest.bytes().find(|b| !(0x21..=0x7e).contains(b)) {
            return Err(EidError::DtnInvalidChar(c));
        }
        Ok(Self {
            ssp: ssp.into(),
            node_end: node_len + 2,
        })
    }

    /// The node name, without slashes.
    pub fn node_name(&self) -> &str {
        self.ssp.get(2..self.node_end).unwrap_or("")
    }

    /// The demultiplexing token after the node name's `/` (may be empty).
    pub fn demux(&self) -> &str {
        self.ssp.get(self.node_end + 1..).unwrap_or("")
    }

    /// The scheme-specific part, `//node/demux`.
    pub fn ssp(&self) -> &str {
        &self.ssp
    }
}

impl Eid {
    /// `ipn:node.service` in the default allocator.
    pub fn ipn(node: u32, service: u64) -> Self {
        Eid::Ipn(IpnEid {
            allocator: 0,
            node,
            service,
        })
    }

    /// `dtn://node/demux`.
    pub fn dtn(node: &str, demux: &str) -> Result<Self, EidError> {
        DtnEid::from_ssp(&format!("//{node}/{demux}")).map(Eid::Dtn)
    }

    /// True for `dtn:none`.
    pub fn is_null(&self) -> bool {
        matches!(self, Eid::Null)
    }

    /// True when this EID is a node ID (RFC 9171 §4.2.5.2): `ipn:N.0`, or a `dtn` EID whose
    /// demux is empty or starts with `~` as node-administered.
    pub fn is_node_id(&self) -> bool {
        match self {
            Eid::Null => false,
            Eid::Dtn(d) => d.demux().is_empty(),
            Eid::Ipn(i) => i.service == 0,
        }
    }

    /// The node ID of the node this endpoint lives on.
    pub fn node_id(&self) -> Eid {
        match self {
            Eid::Null => Eid::Null,
            Eid::Dtn(d) => Eid::Dtn(DtnEid {
                ssp: format!("//{}/", d.node_name()).into(),
                node_end: d.node_end,
            }),
            Eid::Ipn(i) => Eid::Ipn(IpnEid { service: 0, ..*i }),
        }
    }

    /// A service endpoint on the node this endpoint lives on: `ipn:N.service`, or
    /// `dtn://node/demux` (the node's services: echo, router, twin sync). `dtn:none` stays.
    pub fn service(&self, service: u64, demux: &str) -> Eid {
        match self {
            Eid::Null => Eid::Null,
            Eid::Ipn(i) => Eid::Ipn(IpnEid { service, ..*i }),
            Eid::Dtn(d) => Eid::dtn(d.node_name(), demux).unwrap_or_else(|_| self.node_id()),
        }
    }

    /// Reads the CBOR form `[scheme, ssp]`.
    #[inline(always)]
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, EidError> {
        // The usual shape, `ipn:node.service` with both numbers under 24, in five bytes.
        if let Some(&[0x82, 0x02, 0x82, node @ 0..=23, service @ 0..=23]) = r
            .buffer()
            .get(r.position()..)
            .and_then(|b| b.first_chunk::<5>())
        {
            r.skip_known(5);
            return Ok(Eid::ipn(u32::from(node), u64::from(service)));
        }
        if r.definite_array()? != 2 {
            return Err(EidError::NotAPair);
        }
        match r.uint()? {
            SCHEME_DTN => {
                if r.peek()? >> 5 == 0 {
                    return match r.uint()? {
                        0 => Ok(Eid::Null),
                        n => Err(EidError::DtnSspInteger(n)),
                    };
                }
                DtnEid::from_ssp(r.text()?).map(Eid::Dtn)
            }
            SCHEME_IPN => {
                let ipn = match r.definite_array()? {
                    2 => {
                        let fqnn = r.uint()?;
                        let service = r.uint()?;
                        // A node number over 32 bits names a non-default allocator in its
                        // upper half (RFC 9758 §6). The encoder writes such an EID in the
                        // 3-element form, so this one does not re-encode byte for byte.
                        if fqnn > u64::from(u32::MAX) {
                            r.not_canonical();
                        }
                        IpnEid {
                            allocator: (fqnn >> 32) as u32,
                            node: fqnn as u32,
                            service,
                        }
                    }
                    3 => {
                        let allocator =
                            u32::try_from(r.uint()?).map_err(|_| EidError::IpnNumberTooLarge)?;
                        let node =
                            u32::try_from(r.uint()?).map_err(|_| EidError::IpnNumberTooLarge)?;
                        IpnEid {
                            allocator,
                            node,
                            service: r.uint()?,
                        }
                    }
                    n => return Err(EidError::IpnSspLength(n)),
                };
                Ok(Eid::Ipn(ipn))
            }
            other => Err(EidError::UnknownScheme(other)),
        }
    }

    /// Writes the CBOR form. `ipn` EIDs in the default allocator use the 2-element SSP.
    pub fn encode(&self, w: &mut Writer) {
        w.array(2);
        match self {
            Eid::Null => {
                w.uint(SCHEME_DTN).uint(0);
            }
            Eid::Dtn(d) => {
                w.uint(SCHEME_DTN).text(&d.ssp);
            }
            Eid::Ipn(i) if i.allocator == 0 => {
                w.uint(SCHEME_IPN)
                    .array(2)
                    .uint(u64::from(i.node))
                    .uint(i.service);
            }
            Eid::Ipn(i) => {
                w.uint(SCHEME_IPN)
                    .array(3)
                    .uint(u64::from(i.allocator))
                    .uint(u64::from(i.node))
                    .uint(i.service);
            }
        }
    }

    /// The CBOR form as a new byte vector.
    pub fn to_cbor(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.encode(&mut w);
        w.into_vec()
    }
}

/// Parses a decimal number without sign or leading zeros (RFC 9758 §3.1 grammar).
fn parse_number<T: FromStr>(s: &str) -> Result<T, EidError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return Err(EidError::IpnBadNumber(s.into()));
    }
    s.parse().map_err(|_| EidError::IpnNumberTooLarge)
}

impl FromStr for Eid {
    type Err = EidError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(ssp) = s.strip_prefix("dtn:") {
            if ssp == "none" {
                return Ok(Eid::Null);
            }
            return DtnEid::from_ssp(ssp).map(Eid::Dtn);
        }
        if let Some(ssp) = s.strip_prefix("ipn:") {
            let parts: Vec<&str> = ssp.split('.').collect();
            let (allocator, node, service) = match parts.as_slice() {
                [node, service] => ("0", *node, *service),
                [allocator, node, service] => (*allocator, *node, *service),
                _ => return Err(EidError::IpnTextShape(ssp.into())),
            };
            let node = if node == "!" {
                IPN_LOCAL_NODE
            } else {
                parse_number(node)?
            };
            return Ok(Eid::Ipn(IpnEid {
                allocator: parse_number(allocator)?,
                node,
                service: parse_number(service)?,
            }));
        }
        Err(EidError::UnknownTextScheme(s.chars().take(32).collect()))
    }
}

impl fmt::Display for Eid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Eid::Null => f.write_str("dtn:none"),
            Eid::Dtn(d) => write!(f, "dtn:{}", d.ssp),
            Eid::Ipn(i) => {
                if i.allocator != 0 {
                    write!(f, "ipn:{}.", i.allocator)?;
                } else {
                    f.write_str("ipn:")?;
                }
                if i.node == IPN_LOCAL_NODE && i.allocator == 0 {
                    write!(f, "!.{}", i.service)
                } else {
                    write!(f, "{}.{}", i.node, i.service)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(text: &str, cbor_hex: &str) {
        let eid: Eid = text.parse().unwrap();
        assert_eq!(eid.to_string(), text);
        assert_eq!(hex::encode(eid.to_cbor()), cbor_hex);
        let bytes = hex::decode(cbor_hex).unwrap();
        let mut r = Reader::new(&bytes, 8);
        assert_eq!(Eid::decode(&mut r).unwrap(), eid);
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn rfc9171_4_2_5_1_text_and_cbor_forms() {
        roundtrip("dtn:none", "820100");
        roundtrip("dtn://node1/test", "82016c2f2f6e6f6465312f74657374");
        roundtrip("dtn://node1/", "8201682f2f6e6f6465312f");
        roundtrip("ipn:23.42", "82028217182a");
        roundtrip("ipn:977000.100.1", "8202831a000ee868186401");
    }

    #[test]
    fn rfc9758_two_element_fqnn_splits_into_allocator_and_node() {
        // [2, [(5 << 32) | 7, 1]]
        let bytes = hex::decode("8202821b00000005000000070 1".replace(' ', "")).unwrap();
        let mut r = Reader::new(&bytes, 8);
        let eid = Eid::decode(&mut r).unwrap();
        assert_eq!(eid.to_string(), "ipn:5.7.1");
        // Valid, but the encoder writes the 3-element form: not byte-for-byte canonical
        // (found by the fuzzer; seed-regression-ipn-2-element-allocator).
        assert!(!r.canonical());
        assert_eq!(hex::encode(eid.to_cbor()), "820283050701");
        // A default-allocator node in the 2-element form is the encoder's own form.
        let plain = hex::decode("82028217182a").unwrap();
        let mut r = Reader::new(&plain, 8);
        assert!(Eid::decode(&mut r).is_ok() && r.canonical());
    }

    #[test]
    fn eids_of_the_wrong_shape_are_named_errors() {
        assert_eq!("dtn:node".parse::<Eid>(), Err(EidError::DtnMissingSlashes));
        assert_eq!(
            "dtn://node".parse::<Eid>(),
            Err(EidError::DtnMissingDemuxSlash)
        );
        assert_eq!("dtn:///x".parse::<Eid>(), Err(EidError::DtnEmptyNodeName));
        assert_eq!(
            "dtn://a b/".parse::<Eid>(),
            Err(EidError::DtnInvalidChar(b' '))
        );
        assert!(matches!(
            "ipn:1".parse::<Eid>(),
            Err(EidError::IpnTextShape(_))
        ));
        assert!(matches!(
            "ipn:01.2".parse::<Eid>(),
            Err(EidError::IpnBadNumber(_))
        ));
        assert!(matches!(
            "ipn:99999999999.2".parse::<Eid>(),
            Err(EidError::IpnNumberTooLarge)
        ));
        assert!(matches!(
            "http://x".parse::<Eid>(),
            Err(EidError::UnknownTextScheme(_))
        ));
        let bad = hex::decode("820105").unwrap();
        assert_eq!(
            Eid::decode(&mut Reader::new(&bad, 8)),
            Err(EidError::DtnSspInteger(5))
        );
        let bad = hex::decode("82038100").unwrap();
        assert_eq!(
            Eid::decode(&mut Reader::new(&bad, 8)),
            Err(EidError::UnknownScheme(3))
        );
        let bad = hex::decode("82028101").unwrap();
        assert_eq!(
            Eid::decode(&mut Reader::new(&bad, 8)),
            Err(EidError::IpnSspLength(1))
        );
    }

    #[test]
    fn node_ids() {
        let e: Eid = "ipn:5.3".parse().unwrap();
        assert!(!e.is_node_id());
        assert_eq!(e.node_id().to_string(), "ipn:5.0");
        let d: Eid = "dtn://n/app".parse().unwrap();
        assert_eq!(d.node_id().to_string(), "dtn://n/");
        assert!(d.node_id().is_node_id());
        assert_eq!("ipn:!.7".parse::<Eid>().unwrap().to_string(), "ipn:!.7");
    }
}

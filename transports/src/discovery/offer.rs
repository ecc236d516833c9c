//! What a node tells a peer it found: its node ID and the convergence layers it offers. The
//! peer fills in the address part from the connection it heard the offer on, so an offer
//! names ports and MACs, not the addresses a node has on every interface.
//!
//! Offers come from strangers: [`Offer::check`] bounds every field before a node acts on one.
//! An offer may name no layer at all: bundles then go over the libp2p connection itself.

use serde::{Deserialize, Serialize};

/// Longest node ID accepted in an offer.
pub const MAX_NODE_ID: usize = 256;

/// A node's offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    /// Its node ID, e.g. `ipn:2.0`.
    pub node_id: String,
    /// The TCP port its TCPCLv4 listens on.
    pub tcpcl_port: Option<u16>,
    /// The MAC of its Ethernet layer's interface.
    pub ether_mac: Option<[u8; 6]>,
    /// The UDP port its UDP layer listens on.
    pub udp_port: Option<u16>,
}

/// Why an offer was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OfferError {
    /// The node ID is empty, too long, or has control characters.
    #[error("node ID {0:?} refused")]
    NodeId(String),
    /// A port of 0.
    #[error("port 0 offered")]
    Port,
}

impl Offer {
    /// Checks the offer's fields are sane (the node ID's syntax is the node's to check).
    pub fn check(&self) -> Result<(), OfferError> {
        let id = &self.node_id;
        if id.is_empty() || id.len() > MAX_NODE_ID || id.chars().any(char::is_control) {
            let shown: String = id.chars().take(64).collect();
            return Err(OfferError::NodeId(shown));
        }
        if self.tcpcl_port == Some(0) || self.udp_port == Some(0) {
            return Err(OfferError::Port);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offers_are_checked() {
        let good = Offer {
            node_id: "ipn:2.0".into(),
            tcpcl_port: Some(4556),
            ether_mac: None,
            udp_port: None,
        };
        assert_eq!(good.check(), Ok(()));
        let mut bad = good.clone();
        bad.node_id = "x".repeat(300);
        assert!(matches!(bad.check(), Err(OfferError::NodeId(s)) if s.len() == 64));
        bad.node_id = "ipn:2.0\n".into();
        assert!(bad.check().is_err());
        // Offering no layer is fine: the libp2p connection then carries the bundles.
        let nothing = Offer {
            tcpcl_port: None,
            ..good.clone()
        };
        assert_eq!(nothing.check(), Ok(()));
        let zero = Offer {
            udp_port: Some(0),
            ..good
        };
        assert_eq!(zero.check(), Err(OfferError::Port));
    }
}

//! Finding peers on the LAN without configuration: libp2p mDNS announces each node, and a
//! small hello over the libp2p connection that follows tells the other side this node's ID
//! and the convergence layers it offers ([`Offer`]). What the node does with a found peer
//! (which layer it opens) is the node's choice; where it has no other, the libp2p connection
//! itself carries bundles ([`carry`]).

pub mod carry;
pub mod offer;
pub mod swarm;

pub use offer::{Offer, OfferError};

pub use carry::{Carried, CarryCommand};
pub use swarm::{Carry, Discovery, Found};

//! The pod LAN's Ethernet convergence layer: bundles in frames of our own EtherType
//! ([`frame`]), made reliable by acks and retransmission of exactly the frames missing
//! ([`link`], sans-IO). The sockets that move the frames (AF_XDP, with an AF_PACKET
//! fallback) sit at the edge.

pub mod frame;
pub mod link;
pub mod packet;
pub mod socket;
pub mod xdp;

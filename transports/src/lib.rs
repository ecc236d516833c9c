//! Convergence layer adapters: they move the bytes of whole bundles between nodes and never
//! decide routes (ARCHITECTURE §2). Protocol logic is sans-IO (events in, actions out, time
//! passed in); the tokio edges that own sockets come beside it.

#[cfg(feature = "discovery")]
pub mod discovery;
pub mod ether;
pub mod ltp;
#[cfg(feature = "quic")]
pub mod quic;
pub mod sockbuf;
#[cfg(feature = "tcpcl")]
pub mod tcpcl;
pub mod udp;

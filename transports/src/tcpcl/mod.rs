//! TCPCLv4 (RFC 9174): the contact header, the messages and their streaming decoder, the
//! session as a sans-IO state machine, and its tokio edge over TCP.

pub mod codes;
pub mod connection;
pub mod contact;
pub mod message;
pub mod session;
pub mod tls;

pub use codes::{RefuseReason, RejectReason, TermReason};
pub use contact::{ContactError, ContactHeader};
pub use message::{
    decode, DecodeLimits, Decoded, ErrorResponse, ExtensionItem, Message, ProtocolError, SessInit,
};
pub use session::{
    CloseReason, Negotiated, NodeIdAuth, Role, SendError, Session, SessionConfig, SessionEvent,
};

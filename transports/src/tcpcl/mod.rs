//! TCPCLv4 (RFC 9174): the contact header, the messages and their streaming decoder. The
//! session state machine and the tokio/rustls edge build on these.

pub mod codes;
pub mod contact;
pub mod message;
pub mod session;

pub use codes::{RefuseReason, RejectReason, TermReason};
pub use contact::{ContactError, ContactHeader};
pub use message::{
    decode, DecodeLimits, Decoded, ErrorResponse, ExtensionItem, Message, ProtocolError, SessInit,
};
pub use session::{CloseReason, Negotiated, Role, SendError, Session, SessionConfig, SessionEvent};

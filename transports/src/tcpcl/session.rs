//! A TCPCLv4 session as a sans-IO state machine (RFC 9174 §3.3, §4, §5, §6).
//!
//! The edge that owns the socket feeds it received bytes and the time, and drains
//! [`SessionEvent`]s: bytes to write, "start TLS now", "bundle received", "transfer
//! acknowledged", "closed". Call order: [`Session::start`] once, then any of
//! [`Session::on_bytes`], [`Session::send`], [`Session::accept`], [`Session::refuse`],
//! [`Session::on_tls_established`], [`Session::on_timeout`], [`Session::close`], each followed
//! by draining [`Session::poll_event`] until it returns `None`; call `on_timeout` again at
//! [`Session::next_timeout`].
//!
//! A received bundle is acknowledged (the final XFER_ACK) only when the application calls
//! [`Session::accept`], which it does after the bundle is durable (ARCHITECTURE §4 step 3).
//! Transfers are sent one after another without waiting for acknowledgements, so several
//! are in flight at once; segments of different transfers are never interleaved.

use std::collections::VecDeque;
use std::time::Duration;

use bundle_agent::wire::Encoded;
use bytes::Bytes;

use super::codes::message_type as mt;
use super::codes::{
    RefuseReason, RejectReason, TermReason, SEGMENT_END, SEGMENT_START, TERM_REPLY,
    TRANSFER_LENGTH_ITEM,
};
use super::contact::{ContactError, ContactHeader, CONTACT_HEADER_LEN};
use super::message::{
    decode, decode_segment_head, encode_segment_header, DecodeLimits, Decoded, ErrorResponse,
    ExtensionItem, Message, SegmentHead, SessInit,
};

/// Which side opened the TCP connection (RFC 9174 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Connected to the peer; sends its contact header first.
    Active,
    /// Accepted the connection; answers the peer's contact header.
    Passive,
}

/// Local session parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Our node ID, sent in SESS_INIT.
    pub node_id: String,
    /// Keepalive interval we propose, in seconds (0 disables).
    pub keepalive_secs: u16,
    /// Largest segment we accept.
    pub segment_mru: u64,
    /// Largest transfer (bundle) we accept.
    pub transfer_mru: u64,
    /// Largest segment we send, whatever the peer accepts.
    pub max_send_segment: u64,
    /// We can do TLS.
    pub can_tls: bool,
    /// We refuse sessions without TLS.
    pub require_tls: bool,
    /// Under TLS, refuse a peer whose certificate carries no NODE-ID (RFC 9174 §4.4.3). A
    /// NODE-ID that does not match the peer's SESS_INIT node ID is refused regardless.
    pub require_node_id_auth: bool,
    /// Time allowed from start to an established session.
    pub setup_timeout: Duration,
    /// Largest extension items we accept.
    pub max_extensions: u32,
    /// Most bundles sent or queued and not yet acknowledged.
    pub max_outstanding: usize,
}

impl SessionConfig {
    /// Defaults: 30 s keepalive, 1 MiB segments, 1 GiB transfers, no TLS.
    pub fn new(node_id: &str) -> Self {
        Self {
            node_id: node_id.to_string(),
            keepalive_secs: 30,
            segment_mru: 1 << 20,
            transfer_mru: 1 << 30,
            max_send_segment: 1 << 20,
            can_tls: false,
            require_tls: false,
            require_node_id_auth: true,
            setup_timeout: Duration::from_secs(10),
            max_extensions: 64 * 1024,
            max_outstanding: 1024,
        }
    }
}

/// What both sides agreed (RFC 9174 §4.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// The peer's node ID.
    pub peer_node_id: String,
    /// Session keepalive: the smaller proposal; 0 when either side disabled it.
    pub keepalive_secs: u16,
    /// Largest segment we send: the peer's Segment MRU, capped by our own limit.
    pub send_segment: u64,
    /// Largest transfer we may send: the peer's Transfer MRU.
    pub peer_transfer_mru: u64,
    /// Whether TLS is in use.
    pub tls: bool,
    /// How the peer's node ID was authenticated.
    pub node_id_auth: NodeIdAuth,
}

/// The NODE-ID authentication result of RFC 9174 §4.4.3 for an established session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeIdAuth {
    /// No TLS: nothing was authenticated.
    NoTls,
    /// The peer's certificate names the node ID it sent in SESS_INIT.
    Success,
    /// The peer's certificate carries no NODE-ID (allowed only when not required).
    Absent,
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// SESS_TERM exchanged with this reason; `by_peer` when the peer sent it first.
    Terminated {
        /// The SESS_TERM reason.
        reason: TermReason,
        /// True when the peer started the termination.
        by_peer: bool,
    },
    /// The peer is not a TCPCL entity (bad magic); closed without a reply.
    NotTcpcl,
    /// The peer closed the connection.
    ConnectionLost,
    /// The TLS handshake failed (reported by the edge that runs it).
    TlsFailed(String),
}

/// Why [`Session::send`] refused a bundle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The session is not established or is ending.
    #[error("session is not established")]
    NotEstablished,
    /// Bigger than the peer's Transfer MRU: the agent must fragment it.
    #[error("bundle of {len} bytes exceeds the peer's transfer MRU of {mru}")]
    TooLarge {
        /// Bundle size.
        len: u64,
        /// The peer's limit.
        mru: u64,
    },
    /// Too many bundles already queued or unacknowledged.
    #[error("{0} transfers already outstanding")]
    Busy(usize),
}

/// What the session asks of its edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// Write these bytes to the connection.
    Transmit(Bytes),
    /// Run the TLS handshake now; `leftover` are bytes already received that belong to it.
    /// Call [`Session::on_tls_established`] when done and feed decrypted bytes afterwards.
    StartTls {
        /// Received bytes after the contact header.
        leftover: Vec<u8>,
    },
    /// The session is up.
    Established(Negotiated),
    /// A whole bundle arrived; answer with `accept` once it is durable, or `refuse`.
    Received {
        /// Transfer ID to answer.
        transfer_id: u64,
        /// The bundle's bytes.
        bundle: Vec<u8>,
    },
    /// The peer acknowledged all of a bundle we sent.
    Acked {
        /// Our transfer ID.
        transfer_id: u64,
    },
    /// The peer refused a bundle we sent (or the session ended before it was acknowledged).
    Failed {
        /// Our transfer ID.
        transfer_id: u64,
        /// The peer's reason, or `SessionTerminating` when the session ended.
        reason: RefuseReason,
    },
    /// The peer rejected one of our messages.
    Rejected {
        /// Its reason.
        reason: RejectReason,
        /// The message type rejected.
        message_type: u8,
    },
    /// The session is over; close the connection.
    Closed(CloseReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Contact,
    Tls,
    Init,
    Established,
    Closed,
}

/// Room reserved past one segment for an incoming transfer whose declared length exceeds
/// the segment MRU by a little (a bundle's headers past a round payload size).
const SEGMENT_TAIL_ROOM: u64 = 64 << 10;

#[derive(Debug)]
struct Outgoing {
    id: u64,
    /// Shared with the segments that carry it: XFER_SEGMENTs borrow their data from here.
    bundle: Encoded,
    sent: usize,
}

#[derive(Debug)]
struct Incoming {
    id: u64,
    data: Vec<u8>,
    refused: bool,
}

/// The XFER_SEGMENT whose data is arriving: its head is read, `remaining` bytes of data
/// are still to come. They go straight from the connection's reads into the transfer
/// (`keep`), or are skipped (a segment rejected or of a refused transfer).
#[derive(Debug)]
struct SegmentBody {
    flags: u8,
    id: u64,
    remaining: usize,
    keep: bool,
}

/// One TCPCLv4 session.
#[derive(Debug)]
pub struct Session {
    cfg: SessionConfig,
    role: Role,
    state: State,
    started: Duration,
    rx: Vec<u8>,
    events: VecDeque<SessionEvent>,
    negotiated: Option<Negotiated>,
    tls: bool,
    peer_cert_node_ids: Vec<String>,
    init_sent: bool,
    next_id: u64,
    sending: VecDeque<Outgoing>,
    unacked: VecDeque<(u64, u64)>,
    receiving: Option<Incoming>,
    /// Set while a segment's data arrives; `rx` is empty meanwhile.
    body: Option<SegmentBody>,
    awaiting_accept: Vec<(u64, u64)>,
    last_rx: Duration,
    last_tx: Duration,
}

impl Session {
    /// A session for one connection.
    pub fn new(cfg: SessionConfig, role: Role) -> Self {
        Self {
            cfg,
            role,
            state: State::Contact,
            started: Duration::ZERO,
            rx: Vec::new(),
            events: VecDeque::new(),
            negotiated: None,
            tls: false,
            peer_cert_node_ids: Vec::new(),
            init_sent: false,
            next_id: 0,
            sending: VecDeque::new(),
            unacked: VecDeque::new(),
            receiving: None,
            body: None,
            awaiting_accept: Vec::new(),
            last_rx: Duration::ZERO,
            last_tx: Duration::ZERO,
        }
    }

    /// The negotiated parameters, once established.
    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.negotiated.as_ref()
    }

    /// True once the session is closed.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// The next event for the edge.
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    fn transmit(&mut self, now: Duration, bytes: impl Into<Bytes>) {
        self.last_tx = now;
        self.events.push_back(SessionEvent::Transmit(bytes.into()));
    }

    fn message(&mut self, now: Duration, m: &Message<'_>) {
        let mut out = Vec::with_capacity(32);
        m.encode(&mut out);
        self.transmit(now, out);
    }

    /// Starts the session: the active side sends its contact header (RFC 9174 §4.1).
    pub fn start(&mut self, now: Duration) {
        self.started = now;
        self.last_rx = now;
        self.last_tx = now;
        if self.role == Role::Active {
            self.transmit(now, ContactHeader::ours(self.cfg.can_tls).encode().to_vec());
        }
    }

    /// Feeds bytes received from the connection (decrypted, once TLS is up).
    pub fn on_bytes(&mut self, now: Duration, bytes: &[u8]) {
        if self.state == State::Closed {
            return;
        }
        self.last_rx = now;
        // Segment data goes into its transfer without passing through `rx`.
        let taken = self.segment_data(now, bytes);
        self.rx.extend_from_slice(bytes.get(taken..).unwrap_or(&[]));
        self.process(now);
    }

    /// The peer closed the connection.
    pub fn on_connection_lost(&mut self) {
        if self.state != State::Closed {
            self.finish(CloseReason::ConnectionLost);
        }
    }

    /// The TLS handshake the session asked for has completed. `peer_node_ids` are the
    /// NODE-IDs (URI subjectAltNames) of the peer's certificate, empty when it has none.
    pub fn on_tls_established(&mut self, now: Duration, peer_node_ids: Vec<String>) {
        if self.state == State::Tls {
            self.tls = true;
            self.peer_cert_node_ids = peer_node_ids;
            self.state = State::Init;
            self.send_init_if_active(now);
            self.process(now);
        }
    }

    fn limits(&self) -> DecodeLimits {
        DecodeLimits {
            segment_mru: self.cfg.segment_mru,
            max_extensions: self.cfg.max_extensions,
        }
    }

    fn process(&mut self, now: Duration) {
        loop {
            match self.state {
                State::Contact => {
                    let Some(header) = self
                        .rx
                        .get(..CONTACT_HEADER_LEN)
                        .and_then(|h| <[u8; CONTACT_HEADER_LEN]>::try_from(h).ok())
                    else {
                        return;
                    };
                    self.rx.drain(..CONTACT_HEADER_LEN);
                    self.on_contact(now, &header);
                }
                State::Tls | State::Closed => return,
                _ if self.body.is_some() => return,
                State::Established if self.rx.first() == Some(&mt::XFER_SEGMENT) => {
                    match decode_segment_head(&self.rx, &self.limits()) {
                        Ok(None) => return,
                        Ok(Some((head, used))) => {
                            self.begin_segment(now, head);
                            // The data already here, then the rest as it is read.
                            let rx = std::mem::take(&mut self.rx);
                            let taken = self.segment_data(now, rx.get(used..).unwrap_or(&[]));
                            let mut rx = rx;
                            rx.drain(..used + taken);
                            rx.extend_from_slice(&self.rx);
                            self.rx = rx;
                        }
                        Err(e) => return self.protocol_error(now, e.response(), mt::XFER_SEGMENT),
                    }
                }
                State::Init | State::Established => {
                    let limits = self.limits();
                    let rx = std::mem::take(&mut self.rx);
                    let step = match decode(&rx, &limits) {
                        Ok(Decoded::NeedMore(_)) => {
                            self.rx = rx;
                            return;
                        }
                        Ok(Decoded::Message(m, used)) => {
                            self.on_message(now, m);
                            Ok(used)
                        }
                        Err(e) => Err(e),
                    };
                    match step {
                        Ok(used) => {
                            let mut rx = rx;
                            rx.drain(..used);
                            // Keep anything that arrived while the message was handled.
                            rx.extend_from_slice(&self.rx);
                            self.rx = rx;
                        }
                        Err(e) => {
                            let rejected_type = rx.first().copied().unwrap_or(0);
                            return self.protocol_error(now, e.response(), rejected_type);
                        }
                    }
                }
            }
        }
    }

    /// Answers a message that could not be decoded.
    fn protocol_error(&mut self, now: Duration, response: ErrorResponse, rejected_type: u8) {
        match response {
            ErrorResponse::Reject(reason) => {
                self.message(
                    now,
                    &Message::MsgReject {
                        reason,
                        rejected_type,
                    },
                );
                // The rejected message's length is unknown, so the stream cannot be
                // resynchronised: end the session.
                self.terminate(now, TermReason::Unknown);
            }
            ErrorResponse::Terminate(reason) => self.terminate(now, reason),
        }
    }

    fn on_contact(&mut self, now: Duration, header: &[u8; CONTACT_HEADER_LEN]) {
        let peer = match ContactHeader::decode(header) {
            Ok(h) => h,
            Err(ContactError::BadMagic) => return self.finish(CloseReason::NotTcpcl),
            Err(ContactError::Version(_)) => {
                // RFC 9174 §4.3: answer a version we do not speak with SESS_TERM.
                if self.role == Role::Passive {
                    self.transmit(now, ContactHeader::ours(self.cfg.can_tls).encode().to_vec());
                }
                return self.terminate(now, TermReason::VersionMismatch);
            }
        };
        if self.role == Role::Passive {
            self.transmit(now, ContactHeader::ours(self.cfg.can_tls).encode().to_vec());
        }
        let use_tls = self.cfg.can_tls && peer.can_tls;
        if self.cfg.require_tls && !use_tls {
            return self.terminate(now, TermReason::ContactFailure);
        }
        if use_tls {
            self.state = State::Tls;
            let leftover = std::mem::take(&mut self.rx);
            self.events.push_back(SessionEvent::StartTls { leftover });
        } else {
            self.state = State::Init;
            self.send_init_if_active(now);
        }
    }

    /// The active entity sends SESS_INIT first; the passive one answers it (RFC 9174 §4.6),
    /// so a passive entity never reveals its parameters to a peer that fails authentication.
    fn send_init_if_active(&mut self, now: Duration) {
        if self.role == Role::Active {
            self.send_init(now);
        }
    }

    fn send_init(&mut self, now: Duration) {
        if self.init_sent {
            return;
        }
        self.init_sent = true;
        let init = SessInit {
            keepalive_secs: self.cfg.keepalive_secs,
            segment_mru: self.cfg.segment_mru,
            transfer_mru: self.cfg.transfer_mru,
            node_id: self.cfg.node_id.clone(),
            extensions: Vec::new(),
        };
        self.message(now, &Message::SessInit(init));
    }

    fn on_message(&mut self, now: Duration, m: Message<'_>) {
        match (self.state, m) {
            (State::Init, Message::SessInit(init)) => self.on_init(now, init),
            (_, Message::SessTerm { flags, reason }) => {
                if flags & TERM_REPLY == 0 {
                    self.message(
                        now,
                        &Message::SessTerm {
                            flags: TERM_REPLY,
                            reason,
                        },
                    );
                }
                self.finish(CloseReason::Terminated {
                    reason,
                    by_peer: flags & TERM_REPLY == 0,
                });
            }
            (State::Established, Message::Keepalive) => {}
            (
                State::Established,
                Message::XferSegment {
                    flags,
                    transfer_id,
                    extensions,
                    data,
                },
            ) => self.on_segment(now, flags, transfer_id, extensions, data),
            (
                State::Established,
                Message::XferAck {
                    flags,
                    transfer_id,
                    acknowledged,
                },
            ) => self.on_ack(flags, transfer_id, acknowledged),
            (
                State::Established,
                Message::XferRefuse {
                    reason,
                    transfer_id,
                },
            ) => self.on_refuse(now, transfer_id, reason),
            (
                _,
                Message::MsgReject {
                    reason,
                    rejected_type,
                },
            ) => self.events.push_back(SessionEvent::Rejected {
                reason,
                message_type: rejected_type,
            }),
            (_, other) => {
                // RFC 9174 §5.1.2: a known message at the wrong time is "message unexpected".
                let mut b = Vec::new();
                other.encode(&mut b);
                let rejected_type = b.first().copied().unwrap_or(0);
                self.message(
                    now,
                    &Message::MsgReject {
                        reason: RejectReason::Unexpected,
                        rejected_type,
                    },
                );
            }
        }
    }

    fn on_init(&mut self, now: Duration, init: SessInit) {
        if init.node_id.is_empty() || init.extensions.iter().any(ExtensionItem::is_critical) {
            // RFC 9174 §4.7, §4.8: no usable node ID, or a critical extension we do not know.
            return self.terminate(now, TermReason::ContactFailure);
        }
        let node_id_auth = if !self.tls {
            NodeIdAuth::NoTls
        } else if self.peer_cert_node_ids.is_empty() {
            NodeIdAuth::Absent
        } else if self.peer_cert_node_ids.contains(&init.node_id) {
            NodeIdAuth::Success
        } else {
            // RFC 9174 §4.4.3: a NODE-ID that does not match fails authentication, and the
            // session is terminated with "Contact Failure".
            return self.terminate(now, TermReason::ContactFailure);
        };
        if node_id_auth == NodeIdAuth::Absent && self.cfg.require_node_id_auth {
            return self.terminate(now, TermReason::ContactFailure);
        }
        if self.role == Role::Passive {
            self.send_init(now);
        }
        let keepalive_secs = if self.cfg.keepalive_secs == 0 || init.keepalive_secs == 0 {
            0
        } else {
            self.cfg.keepalive_secs.min(init.keepalive_secs)
        };
        let n = Negotiated {
            peer_node_id: init.node_id,
            keepalive_secs,
            send_segment: init.segment_mru.min(self.cfg.max_send_segment).max(1),
            peer_transfer_mru: init.transfer_mru,
            tls: self.tls,
            node_id_auth,
        };
        self.negotiated = Some(n.clone());
        self.state = State::Established;
        self.events.push_back(SessionEvent::Established(n));
        self.pump(now);
    }

    /// A whole XFER_SEGMENT (from the message decoder).
    fn on_segment(
        &mut self,
        now: Duration,
        flags: u8,
        id: u64,
        extensions: Vec<ExtensionItem>,
        data: &[u8],
    ) {
        let head = SegmentHead {
            flags,
            transfer_id: id,
            extensions,
            len: data.len() as u64,
        };
        self.begin_segment(now, head);
        self.segment_data(now, data);
    }

    /// An XFER_SEGMENT's head is read (RFC 9174 §5.2.2): checks it against the transfer
    /// in progress and the limits, then expects its data.
    fn begin_segment(&mut self, now: Duration, head: SegmentHead) {
        let SegmentHead {
            flags,
            transfer_id: id,
            extensions,
            len,
        } = head;
        let keep = self.accept_segment(now, flags, id, &extensions, len);
        self.body = Some(SegmentBody {
            flags,
            id,
            remaining: usize::try_from(len).unwrap_or(usize::MAX),
            keep,
        });
    }

    /// True when the segment's data belongs to the transfer in progress, which is then
    /// in `receiving` (refused or not); false when the segment is rejected.
    fn accept_segment(
        &mut self,
        now: Duration,
        flags: u8,
        id: u64,
        extensions: &[ExtensionItem],
        len: u64,
    ) -> bool {
        if flags & SEGMENT_START != 0 {
            if self.receiving.is_some() {
                // A transfer started before the previous one ended.
                self.message(
                    now,
                    &Message::MsgReject {
                        reason: RejectReason::Unexpected,
                        rejected_type: mt::XFER_SEGMENT,
                    },
                );
                return false;
            }
            let declared = extensions
                .iter()
                .find(|e| e.item_type == TRANSFER_LENGTH_ITEM)
                .and_then(|e| <[u8; 8]>::try_from(e.value.as_slice()).ok())
                .map(u64::from_be_bytes);
            let unknown_critical = extensions
                .iter()
                .any(|e| e.is_critical() && e.item_type != TRANSFER_LENGTH_ITEM);
            let mut incoming = Incoming {
                id,
                data: Vec::new(),
                refused: false,
            };
            if unknown_critical {
                incoming.refused = true;
                self.message(
                    now,
                    &Message::XferRefuse {
                        reason: RefuseReason::ExtensionFailure,
                        transfer_id: id,
                    },
                );
            } else if declared.is_some_and(|len| len > self.cfg.transfer_mru) {
                incoming.refused = true;
                self.message(
                    now,
                    &Message::XferRefuse {
                        reason: RefuseReason::NoResources,
                        transfer_id: id,
                    },
                );
            } else if let Some(len) = declared {
                // Room for what the peer declares, but never more than one segment we
                // would take anyway plus a little: a bundle one segment long with a short
                // tail segment (the usual 1 MiB bundle) then needs no regrowth and copy.
                let cap = self.cfg.segment_mru.saturating_add(SEGMENT_TAIL_ROOM);
                incoming.data.reserve(len.min(cap) as usize);
            }
            self.receiving = Some(incoming);
        }
        let Some(mut t) = self.receiving.take().filter(|t| t.id == id) else {
            // RFC 9174 §5.2.2: a segment of a transfer that was never started.
            self.message(
                now,
                &Message::MsgReject {
                    reason: RejectReason::Unexpected,
                    rejected_type: mt::XFER_SEGMENT,
                },
            );
            return false;
        };
        if !t.refused && t.data.len() as u64 + len > self.cfg.transfer_mru {
            t.refused = true;
            t.data = Vec::new();
            self.message(
                now,
                &Message::XferRefuse {
                    reason: RefuseReason::NoResources,
                    transfer_id: id,
                },
            );
        }
        self.receiving = Some(t);
        true
    }

    /// Takes what `bytes` holds of the current segment's data (none when no segment is
    /// arriving); returns how many bytes it took. Ends the segment when its data is in.
    fn segment_data(&mut self, now: Duration, bytes: &[u8]) -> usize {
        let Some(body) = self.body.as_mut() else {
            return 0;
        };
        let taken = body.remaining.min(bytes.len());
        body.remaining -= taken;
        if body.keep {
            if let Some(t) = self.receiving.as_mut().filter(|t| !t.refused) {
                t.data.extend_from_slice(bytes.get(..taken).unwrap_or(&[]));
            }
        }
        if body.remaining == 0 {
            let (flags, id, keep) = (body.flags, body.id, body.keep);
            self.body = None;
            if keep {
                self.end_segment(now, flags, id);
            }
        }
        taken
    }

    /// Lends the buffer the current segment's data goes to, with how many more bytes of it
    /// are due, so the edge can read them from the connection straight into it (no copy
    /// through a read buffer). `None` unless at least `min` bytes of a kept segment's data
    /// are still due: a short tail is better read with what follows it. Hand the buffer
    /// back with [`Session::data_read`] before any other call.
    pub fn lend_data_buffer(&mut self, min: usize) -> Option<(Vec<u8>, usize)> {
        let body = self
            .body
            .as_ref()
            .filter(|b| b.keep && b.remaining >= min)?;
        let remaining = body.remaining;
        let t = self.receiving.as_mut().filter(|t| !t.refused)?;
        Some((std::mem::take(&mut t.data), remaining))
    }

    /// The buffer from [`Session::lend_data_buffer`] is back, `read` bytes longer: that
    /// many bytes of segment data were read into it (at most the number due).
    pub fn data_read(&mut self, now: Duration, data: Vec<u8>, read: usize) {
        let Some(t) = self.receiving.as_mut() else {
            return;
        };
        t.data = data;
        if read == 0 {
            return;
        }
        self.last_rx = now;
        if let Some(body) = self.body.as_mut() {
            body.remaining = body.remaining.saturating_sub(read);
            if body.remaining == 0 {
                let (flags, id) = (body.flags, body.id);
                self.body = None;
                self.end_segment(now, flags, id);
            }
        }
        self.process(now);
    }

    /// A kept segment's data is all in: the transfer ends (END) or is acknowledged so far.
    fn end_segment(&mut self, now: Duration, flags: u8, id: u64) {
        let Some(t) = self.receiving.take() else {
            return;
        };
        if flags & SEGMENT_END != 0 {
            if !t.refused {
                self.awaiting_accept.push((id, t.data.len() as u64));
                self.events.push_back(SessionEvent::Received {
                    transfer_id: id,
                    bundle: t.data,
                });
            }
        } else {
            if !t.refused {
                let acknowledged = t.data.len() as u64;
                self.message(
                    now,
                    &Message::XferAck {
                        flags,
                        transfer_id: id,
                        acknowledged,
                    },
                );
            }
            self.receiving = Some(t);
        }
    }

    /// Acknowledges a received bundle, which the application has made durable.
    pub fn accept(&mut self, now: Duration, transfer_id: u64) {
        if let Some(pos) = self
            .awaiting_accept
            .iter()
            .position(|(id, _)| *id == transfer_id)
        {
            let (_, len) = self.awaiting_accept.remove(pos);
            if self.state == State::Established {
                self.message(
                    now,
                    &Message::XferAck {
                        flags: SEGMENT_END,
                        transfer_id,
                        acknowledged: len,
                    },
                );
            }
        }
    }

    /// Refuses a received bundle (store full, invalid bundle, duplicate...).
    pub fn refuse(&mut self, now: Duration, transfer_id: u64, reason: RefuseReason) {
        if let Some(pos) = self
            .awaiting_accept
            .iter()
            .position(|(id, _)| *id == transfer_id)
        {
            self.awaiting_accept.remove(pos);
            if self.state == State::Established {
                self.message(
                    now,
                    &Message::XferRefuse {
                        reason,
                        transfer_id,
                    },
                );
            }
        }
    }

    fn on_ack(&mut self, _flags: u8, id: u64, acknowledged: u64) {
        // RFC 9174 §5.2.3 says an XFER_ACK repeats the flags of the segment it acknowledges,
        // so the last one carries END. dtn7-rs 0.21 sends its final XFER_ACK with START set
        // instead (seen in tests/interop_dtn7.rs); the cumulative length is unambiguous, so
        // a transfer counts as acknowledged once all of its bytes are, whatever the flags.
        if let Some(pos) = self
            .unacked
            .iter()
            .position(|(t, len)| *t == id && *len == acknowledged)
        {
            self.unacked.remove(pos);
            self.events
                .push_back(SessionEvent::Acked { transfer_id: id });
        }
    }

    fn on_refuse(&mut self, now: Duration, id: u64, reason: RefuseReason) {
        let was_unacked = self
            .unacked
            .iter()
            .position(|(t, _)| *t == id)
            .map(|p| self.unacked.remove(p))
            .is_some();
        let was_sending = self.sending.front().is_some_and(|o| o.id == id);
        if was_sending {
            // Stop mid-transfer: close it with an empty END segment (RFC 9174 §5.2.4).
            self.sending.pop_front();
            let mut out = Vec::with_capacity(32);
            encode_segment_header(&mut out, SEGMENT_END, id, &[], 0);
            self.transmit(now, out);
        }
        if was_unacked || was_sending {
            self.events.push_back(SessionEvent::Failed {
                transfer_id: id,
                reason,
            });
        }
        self.pump(now);
    }

    /// Queues a bundle for transmission and returns its transfer ID.
    pub fn send(&mut self, now: Duration, bundle: impl Into<Encoded>) -> Result<u64, SendError> {
        let bundle = bundle.into();
        let Some(n) = self
            .negotiated
            .as_ref()
            .filter(|_| self.state == State::Established)
        else {
            return Err(SendError::NotEstablished);
        };
        if bundle.len() as u64 > n.peer_transfer_mru {
            return Err(SendError::TooLarge {
                len: bundle.len() as u64,
                mru: n.peer_transfer_mru,
            });
        }
        let outstanding = self.sending.len() + self.unacked.len();
        if outstanding >= self.cfg.max_outstanding {
            return Err(SendError::Busy(outstanding));
        }
        let id = self.next_id;
        self.next_id += 1;
        self.sending.push_back(Outgoing {
            id,
            bundle,
            sent: 0,
        });
        self.pump(now);
        Ok(id)
    }

    /// Writes the segments of every queued transfer, one transfer after another.
    fn pump(&mut self, now: Duration) {
        let Some(seg) = self.negotiated.as_ref().map(|n| n.send_segment) else {
            return;
        };
        while let Some(mut o) = self.sending.pop_front() {
            let total = o.bundle.len();
            loop {
                let start = o.sent == 0;
                let len = ((total - o.sent) as u64).min(seg) as usize;
                let end = o.sent + len == total;
                let mut flags = 0;
                let mut ext = Vec::new();
                if start {
                    flags |= SEGMENT_START;
                    ext.push(ExtensionItem {
                        flags: 0,
                        item_type: TRANSFER_LENGTH_ITEM,
                        value: (total as u64).to_be_bytes().to_vec(),
                    });
                }
                if end {
                    flags |= SEGMENT_END;
                }
                // The header, then the data as a slice of the bundle: the connection writes
                // both with one vectored write, so the bundle is not copied here.
                let mut head = Vec::with_capacity(48);
                encode_segment_header(&mut head, flags, o.id, &ext, len as u64);
                self.transmit(now, head);
                for piece in o.bundle.slices(o.sent..o.sent + len) {
                    self.transmit(now, piece);
                }
                o.sent += len;
                if end {
                    break;
                }
            }
            self.unacked.push_back((o.id, total as u64));
        }
    }

    /// Ends the session with SESS_TERM (RFC 9174 §6.1).
    pub fn close(&mut self, now: Duration, reason: TermReason) {
        if self.state != State::Closed {
            self.terminate(now, reason);
        }
    }

    fn terminate(&mut self, now: Duration, reason: TermReason) {
        self.message(now, &Message::SessTerm { flags: 0, reason });
        self.finish(CloseReason::Terminated {
            reason,
            by_peer: false,
        });
    }

    fn finish(&mut self, why: CloseReason) {
        self.state = State::Closed;
        let pending: Vec<u64> = self
            .sending
            .drain(..)
            .map(|o| o.id)
            .chain(self.unacked.drain(..).map(|(id, _)| id))
            .collect();
        for transfer_id in pending {
            self.events.push_back(SessionEvent::Failed {
                transfer_id,
                reason: RefuseReason::SessionTerminating,
            });
        }
        self.events.push_back(SessionEvent::Closed(why));
    }

    /// When [`Session::on_timeout`] must be called next.
    pub fn next_timeout(&self) -> Option<Duration> {
        match self.state {
            State::Closed => None,
            State::Contact | State::Tls | State::Init => {
                Some(self.started + self.cfg.setup_timeout)
            }
            State::Established => {
                let k = Duration::from_secs(u64::from(self.negotiated.as_ref()?.keepalive_secs));
                (!k.is_zero()).then(|| (self.last_tx + k).min(self.last_rx + 2 * k))
            }
        }
    }

    /// Handles timers: setup timeout, keepalives, and idle timeout (RFC 9174 §5.1.1).
    pub fn on_timeout(&mut self, now: Duration) {
        match self.state {
            State::Closed => {}
            State::Contact | State::Tls | State::Init => {
                if now >= self.started + self.cfg.setup_timeout {
                    self.terminate(now, TermReason::ContactFailure);
                }
            }
            State::Established => {
                let Some(k) = self
                    .negotiated
                    .as_ref()
                    .map(|n| Duration::from_secs(u64::from(n.keepalive_secs)))
                else {
                    return;
                };
                if k.is_zero() {
                    return;
                }
                if now >= self.last_rx + 2 * k {
                    self.terminate(now, TermReason::IdleTimeout);
                } else if now >= self.last_tx + k {
                    self.message(now, &Message::Keepalive);
                }
            }
        }
    }
}

//! The bundle protocol agent (RFC 9171 §5) as a sans-IO state machine.
//!
//! Call order: [`Agent::handle`] with an [`Event`] and the current DTN time; then
//! [`Agent::commit`] once a batch of events is handled (group commit: one store sync makes
//! every bundle of the batch durable and releases their acknowledgements); then drain
//! [`Agent::poll_action`]; call `handle(now, Event::Timer)` at [`Agent::next_timeout`].
//! No sockets, threads or clocks: the runtime (`dtnd`) or the simulator does that.
//!
//! Done here: reception (§5.6) with duplicate suppression, hop limit and lifetime checks,
//! the unknown-block rules, durable storage before acknowledgement, local delivery (§5.7, in
//! `delivery`) to registered endpoints, forwarding (§5.4, in `forward`) to the next hop a
//! [`Router`] names (static routes here; contact graph and opportunistic routers in `routing`)
//! with previous-node and hop-count blocks updated, retention until a link comes up, expiry
//! (§5.5), status reports
//! (§6.1) when a bundle asks for them, fragmentation for links that cannot carry a bundle
//! whole (§5.8) and reassembly at the destination (§5.9, in `fragments`), deletion by an
//! operator (§5.10, in `operator`), and rebuilding all of that from the store on start.
//! Copies for opportunistic routers (the bundle stays), messages between neighbouring
//! routers (`exchange`), per-link windows (sized to a link's bandwidth-delay product when
//! the runtime knows it) and bundle priorities on congested links. A bundle delivered or
//! forwarded in the turn it arrives is held in memory, unacknowledged, and never stored
//! (`held`): acknowledged once its delivery is durable in the log, or once the next hop
//! acknowledged it.
//! Not yet: BPSec processing on reception.

mod delivery;
mod exchange;
mod forward;
mod fragments;
mod fresh;
mod held;
mod operator;
mod reports;
mod router;
mod routes;
mod stats;

pub use forward::{LINK_WINDOW, LINK_WINDOW_BYTES, MAX_LINK_WINDOW};
pub use reports::Status;
pub use router::{
    router_endpoint, ContactView, Explanation, NextHop, PlannedHop, PlannedRoute, Replica,
    RouteRequest, Router, ROUTER_SERVICE,
};
pub use routes::{EidPattern, Route, RouteTable, DEFAULT_PRIORITY};
pub use stats::AgentStats;

use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::store::{
    BundleRecord, BundleStore, DeliveryMode, Inserted, LogEntry, LogEvent, Registration, Retention,
    StoreError,
};
use crate::wire::{
    Bundle, BundleId, BundleView, DecodeError, DecodeOptions, DtnTime, Eid, Encoded, PrimaryBlock,
    ReasonCode,
};

/// A convergence-layer link, numbered by the runtime.
pub type LinkId = u64;
/// The runtime's handle for a received bundle, echoed in `Accept` / `Refuse`.
pub type AckToken = u64;

/// Agent settings.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// This node's ID (`ipn:N.0` or `dtn://name/`).
    pub node_id: Eid,
    /// How strictly received bundles are decoded.
    pub decode: DecodeOptions,
}

/// Inputs.
#[derive(Debug, Clone)]
pub enum Event {
    /// A bundle from a local application, encoded by this node (its API builds the bundle
    /// around the application's payload). Its CRCs are taken as computed, not checked again;
    /// every other rule is.
    AppSubmit {
        /// Encoded bundle.
        bytes: Vec<u8>,
        /// Echoed in the acknowledgement.
        token: AckToken,
    },
    /// A bundle from a convergence layer.
    Received {
        /// Where it came from.
        link: LinkId,
        /// Encoded bundle.
        bytes: Vec<u8>,
        /// Echoed in the acknowledgement.
        token: AckToken,
    },
    /// A link to a peer node is up.
    LinkUp {
        /// The link.
        link: LinkId,
        /// The peer's node ID.
        peer: Eid,
        /// The largest bundle the link carries whole (a TCPCL peer's transfer MRU, a UDP
        /// datagram); bigger bundles are fragmented (RFC 9171 §5.8). `None`: no limit.
        max_bundle_size: Option<u64>,
    },
    /// A link went down.
    LinkDown {
        /// The link.
        link: LinkId,
    },
    /// A transmission finished.
    Sent {
        /// The link.
        link: LinkId,
        /// The bundle.
        id: BundleId,
        /// True when the peer acknowledged it.
        ok: bool,
    },
    /// An application registers an endpoint.
    Register(Registration),
    /// An application removes its registration.
    Unregister(Eid),
    /// Time passed: expire bundles.
    Timer,
}

/// Why a bundle was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefuseCause {
    /// It is not a valid bundle.
    Malformed(DecodeError),
    /// The store is full.
    StoreFull,
}

/// Outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The bundle of this token is durable (or was a duplicate): acknowledge it.
    Accept {
        /// The token.
        token: AckToken,
    },
    /// Refuse the bundle of this token.
    Refuse {
        /// The token.
        token: AckToken,
        /// Why.
        cause: RefuseCause,
    },
    /// Send a bundle over a link; answer with `Event::Sent`.
    Transmit {
        /// The link.
        link: LinkId,
        /// The bundle.
        id: BundleId,
        /// Its bytes, ready for the wire: shared pieces (a forwarded payload is not copied).
        bytes: Encoded,
    },
    /// Deliver a bundle's payload to a registered endpoint.
    Deliver {
        /// The endpoint.
        endpoint: Eid,
        /// The bundle.
        id: BundleId,
        /// The payload (the ADU), shared with the bundle's bytes.
        payload: Bytes,
    },
}

/// What reception made of a bundle.
enum Ingested {
    /// Stored; acknowledged at the next commit.
    Stored,
    /// Held for delivery or forwarding (see `held`), or a duplicate of a held bundle:
    /// acknowledged once it is settled (delivered, forwarded, or stored after all).
    Held(BundleId),
    /// Not kept (duplicate, expired, over its hop limit): acknowledge at once.
    Dropped,
    /// Refused.
    Refused(RefuseCause),
}

/// A bundle ID for the unit tests of the agent's parts: from `ipn:1.0`, created at time 1,
/// sequence number `seq`.
#[cfg(test)]
fn test_id(seq: u64) -> BundleId {
    BundleId {
        source: Eid::ipn(1, 0),
        creation: crate::wire::CreationTimestamp::new(DtnTime(1), seq),
        fragment: None,
    }
}

/// Where a held bundle became durable, which decides when it is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settled {
    /// Delivered here: acknowledged at the commit that makes the delivery's log entry
    /// durable, so that a copy sent again (an acknowledgement lost on the way) is known as a
    /// duplicate even after a crash, and not delivered twice.
    Here,
    /// Acknowledged by the next hop, which acknowledges only what it made durable (RFC 9174
    /// §5.2.3 for TCPCL; each layer's equivalent): acknowledged at once. The bundle cannot
    /// be lost any more; this node's log of it becomes durable at its next commit, and a
    /// crash before then loses only those entries (a copy sent again goes to the next hop,
    /// which knows it as a duplicate). A link that acknowledges nothing (UDP) settles
    /// `Here` instead.
    NextHop,
}

/// Why the agent could not handle an event.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// The bundle protocol agent of one node.
#[derive(Debug)]
pub struct Agent<S: BundleStore> {
    cfg: AgentConfig,
    store: S,
    router: Box<dyn Router>,
    /// When a router asked to be asked again (a contact opens then).
    wake: Option<DtnTime>,
    links: BTreeMap<LinkId, Link>,
    registrations: BTreeMap<Eid, DeliveryMode>,
    /// Bundles waiting for delivery ("dispatch pending"), per local endpoint: rebuilt from
    /// the store on start, so a fetch never scans the store. Bounded by the store's quota.
    inbox: BTreeMap<Eid, BTreeSet<BundleId>>,
    /// Bundles of the inboxes lent to an application and not yet confirmed.
    lent: BTreeSet<BundleId>,
    /// The bytes of the bundles stored since the last commit.
    fresh: fresh::FreshBundles,
    /// Bundles held, unacknowledged, until delivered or forwarded (or stored after all).
    held: held::HeldBundles,
    /// Transmissions handed to links (a bundle forwarded on one link, or replicas on several).
    in_flight: BTreeMap<(BundleId, LinkId), InFlight>,
    /// Transmissions waiting in a link's queue for room in its window.
    waiting: BTreeSet<(BundleId, LinkId)>,
    report_sequence: u64,
    unsynced_acks: Vec<AckToken>,
    actions: VecDeque<Action>,
    stats: AgentStats,
}

/// A link that is up.
#[derive(Debug, Clone)]
struct Link {
    peer: Eid,
    max_bundle_size: Option<u64>,
    /// Transmissions handed to the link and not yet answered by `Event::Sent`, and their bytes.
    sending: usize,
    sending_bytes: u64,
    /// Most of those at a time ([`LINK_WINDOW`], [`LINK_WINDOW_BYTES`] unless the runtime
    /// knows the link's bandwidth-delay product: [`Agent::set_link_window`]).
    window: usize,
    window_bytes: u64,
    /// Transmissions routed to this link that wait for room in its window (IDs only: the
    /// bundles stay in the store, forward pending).
    waiting: VecDeque<Queued>,
    /// True when the link's `Event::Sent { ok: true }` means the peer acknowledged the
    /// bundle (made it durable); false for a link that only hands bundles over (UDP):
    /// [`Agent::set_link_unacknowledged`].
    acknowledges: bool,
}

/// A transmission waiting for room on a link.
#[derive(Debug, Clone)]
struct Queued {
    id: BundleId,
    /// Its bundle's priority: a link's queue is ordered by it, first come first within.
    priority: u8,
    /// A replica keeps the bundle here; a forwarded bundle leaves once acknowledged.
    keep: bool,
    /// Copy count block for a replica.
    copies: Option<u64>,
}

/// A bundle handed to a link: how many transmissions (fragments) are outstanding, and
/// whether one of them failed.
#[derive(Debug, Clone, Copy)]
struct InFlight {
    remaining: usize,
    bytes: u64,
    failed: bool,
    /// A replica: the bundle stays once it is acknowledged.
    keep: bool,
}

/// A bundle's priority: its priority block, or normal (a block that does not parse counts as
/// normal too: the block is advice for ordering, not a reason to refuse a bundle).
fn priority_of(bundle: &Bundle) -> u8 {
    use crate::wire::block::{parse_priority, PRIORITY, PRIORITY_NORMAL};
    bundle
        .blocks
        .iter()
        .find(|b| b.block_type == PRIORITY)
        .and_then(|b| parse_priority(&b.data, b.number).ok())
        .unwrap_or(PRIORITY_NORMAL)
}

fn payload_len(bundle: &Bundle) -> u64 {
    bundle.payload().map_or(0, |p| p.len() as u64)
}

fn expiry(view: &BundleView<'_>, now: DtnTime) -> DtnTime {
    let p = view.primary();
    if p.creation.time == DtnTime::UNKNOWN {
        let age = view.bundle_age_ms().unwrap_or(0);
        DtnTime(now.0.saturating_add(p.lifetime_ms.saturating_sub(age)))
    } else {
        DtnTime(p.creation.time.0.saturating_add(p.lifetime_ms))
    }
}

impl<S: BundleStore> Agent<S> {
    /// An agent over `store` routing with `router`, with registrations and queued bundles
    /// rebuilt from the store.
    pub fn new(cfg: AgentConfig, store: S, router: Box<dyn Router>) -> Result<Self, AgentError> {
        let registrations = store
            .registrations()?
            .into_iter()
            .map(|r| (r.endpoint, r.mode))
            .collect();
        let mut inbox: BTreeMap<Eid, BTreeSet<BundleId>> = BTreeMap::new();
        let mut forward_pending = false;
        for record in store.records()? {
            forward_pending |= record.retention.has(Retention::FORWARD_PENDING);
            if record.retention.has(Retention::DISPATCH_PENDING) {
                inbox
                    .entry(record.destination)
                    .or_default()
                    .insert(record.id);
            }
        }
        Ok(Self {
            cfg,
            store,
            router,
            // Bundles waiting for a contact are routed again at the first timer after start.
            wake: forward_pending.then_some(DtnTime(0)),
            links: BTreeMap::new(),
            registrations,
            inbox,
            lent: BTreeSet::new(),
            fresh: fresh::FreshBundles::default(),
            held: held::HeldBundles::default(),
            in_flight: BTreeMap::new(),
            waiting: BTreeSet::new(),
            report_sequence: 0,
            unsynced_acks: Vec::new(),
            actions: VecDeque::new(),
            stats: AgentStats::default(),
        })
    }

    /// The store, for queries (bundles list, usage).
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The store, for services that keep their own state in it beside the bundles (twin
    /// documents, through [`BundleStore::put_state`]); their writes become durable with the
    /// agent's next commit. Bundles are the agent's alone: change them through events.
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// What the agent has done since it started.
    pub fn stats(&self) -> &AgentStats {
        &self.stats
    }

    /// The node ID of a peer on a link that is up.
    pub fn link_peer(&self, link: LinkId) -> Option<&Eid> {
        self.links.get(&link).map(|l| &l.peer)
    }

    /// The next output.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Makes everything handled so far durable (acknowledged bundles, and every other change:
    /// forwarded bundles gone, confirmed deliveries), then releases the acknowledgements.
    pub fn commit(&mut self) -> Result<(), AgentError> {
        // Held bundles no application took in this turn are stored now, so their
        // acknowledgements go out with this commit; unless an application is at work on
        // their endpoint (it has held bundles lent, and asks for more once it wrote them).
        let attended: BTreeSet<&Eid> = self
            .lent
            .iter()
            .filter_map(|id| self.held.record(id))
            .map(|r| &r.destination)
            .collect();
        // One on its way to the next hop waits for the link's answer.
        let unlent = self.held.ids_where(|id, h| {
            !self.lent.contains(id) && !attended.contains(&h.record.destination) && !self.flying(id)
        });
        for id in unlent {
            self.spill(&id)?;
        }
        // Cheap when nothing was written since the last sync.
        self.store.sync()?;
        self.fresh.clear();
        for token in self.unsynced_acks.drain(..) {
            self.actions.push_back(Action::Accept { token });
        }
        Ok(())
    }

    /// Makes every change so far durable, whether or not acknowledgements wait on it.
    pub fn sync(&mut self) -> Result<(), AgentError> {
        self.store.sync()?;
        Ok(())
    }

    /// When the first bundle held for delivery or forwarding is due to be stored, if any
    /// is held: cheap (no store access), for a runtime to wake up for. Handle
    /// `Event::Timer` then.
    pub fn held_due(&self) -> Option<DtnTime> {
        self.held.next_due()
    }

    /// The earliest time a stored bundle expires, a held bundle is due to be stored, or the
    /// router asked to be asked again.
    pub fn next_timeout(&self) -> Option<DtnTime> {
        // The expiry index is ordered by time: its first entry is the earliest.
        let expiry = self
            .store
            .expiring(DtnTime(u64::MAX), 1)
            .ok()
            .and_then(|ids| ids.into_iter().next())
            .and_then(|id| self.store.record(&id).ok().flatten())
            .map(|r| r.expires_at);
        [expiry, self.wake, self.held.next_due()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Routes with `router` from now on; every bundle waiting to be forwarded is routed
    /// again (a new contact plan, say).
    pub fn set_router(&mut self, now: DtnTime, router: Box<dyn Router>) -> Result<(), AgentError> {
        self.router = router;
        self.forward_pending(now)
    }

    /// Why the router would send a bundle of `size` bytes for `destination` the way it
    /// would, if it were asked at `now`.
    pub fn explain(
        &mut self,
        now: DtnTime,
        destination: &Eid,
        size: u64,
        deadline: DtnTime,
    ) -> Explanation {
        let links = &self.links;
        let up = |n: &Eid| links.values().any(|l| l.peer == *n);
        self.router.explain(now, destination, size, deadline, &up)
    }

    /// Lets `link` have up to `transmissions` bundles and `bytes` bytes outstanding (unanswered
    /// by `Event::Sent`) at once, for a link whose bandwidth-delay product is larger than the
    /// default window (a deep-space link with minutes of light time keeps many bundles in
    /// flight). Bounded by [`MAX_LINK_WINDOW`] transmissions.
    pub fn set_link_window(
        &mut self,
        now: DtnTime,
        link: LinkId,
        transmissions: usize,
        bytes: u64,
    ) -> Result<(), AgentError> {
        if let Some(l) = self.links.get_mut(&link) {
            l.window = transmissions.clamp(1, MAX_LINK_WINDOW);
            l.window_bytes = bytes.max(1);
        }
        self.refill(now, link)
    }

    /// Marks `link` as one whose `Event::Sent { ok: true }` only means the bundle was handed
    /// over, not acknowledged by the peer (UDP: one datagram, no answer). A bundle held for
    /// forwarding on such a link is then acknowledged only at the commit after it went (its
    /// hand-over logged), as if it had been stored and removed, never on the peer's word.
    pub fn set_link_unacknowledged(&mut self, link: LinkId) {
        if let Some(l) = self.links.get_mut(&link) {
            l.acknowledges = false;
        }
    }

    /// The contacts the router plans with.
    pub fn contacts(&self) -> Vec<ContactView> {
        self.router.contacts()
    }

    /// Handles one event.
    pub fn handle(&mut self, now: DtnTime, event: Event) -> Result<(), AgentError> {
        self.handle_event(now, event)?;
        self.send_router_messages(now)
    }

    fn handle_event(&mut self, now: DtnTime, event: Event) -> Result<(), AgentError> {
        match event {
            Event::AppSubmit { bytes, token } => self.receive(now, None, false, bytes, token),
            Event::Received { link, bytes, token } => {
                let from = self.links.get(&link).map(|l| l.peer.clone());
                self.receive(now, from, true, bytes, token)
            }
            Event::LinkUp {
                link,
                peer,
                max_bundle_size,
            } => {
                self.router.link_up(now, &peer);
                self.links.insert(
                    link,
                    Link {
                        peer,
                        max_bundle_size,
                        sending: 0,
                        sending_bytes: 0,
                        window: LINK_WINDOW,
                        window_bytes: LINK_WINDOW_BYTES,
                        waiting: VecDeque::new(),
                        acknowledges: true,
                    },
                );
                self.forward_pending(now)
            }
            Event::LinkDown { link } => {
                self.link_down(now, link);
                // The router may know another way now: ask again at the next timer.
                self.wake = Some(self.wake.map_or(now, |w| w.min(now)));
                Ok(())
            }
            Event::Sent { link, id, ok } => self.sent(now, link, id, ok),
            Event::Register(reg) => {
                self.store.put_registration(&reg)?;
                self.registrations.insert(reg.endpoint.clone(), reg.mode);
                self.deliver_pending(now, &reg.endpoint)
            }
            Event::Unregister(endpoint) => {
                self.store.remove_registration(&endpoint)?;
                self.registrations.remove(&endpoint);
                Ok(())
            }
            Event::Timer => {
                // Held bundles not settled in time are stored, and so are those whose
                // lifetime ended, for the expiry below to delete and report.
                for id in self.held.due_at(now) {
                    self.spill(&id)?;
                }
                self.expire(now)?;
                if self.wake.is_some_and(|w| w <= now) {
                    self.wake = None;
                    self.forward_pending(now)?;
                }
                Ok(())
            }
        }
    }

    /// RFC 9171 §5.6: bundle reception.
    fn receive(
        &mut self,
        now: DtnTime,
        from: Option<Eid>,
        from_peer: bool,
        bytes: Vec<u8>,
        token: AckToken,
    ) -> Result<(), AgentError> {
        match self.ingest(now, from, bytes, from_peer)? {
            Ingested::Stored => self.unsynced_acks.push(token),
            // Acknowledged once settled; already delivered (an active registration took it
            // at once): at the next commit.
            Ingested::Held(id) => {
                if !self.held.wait_on(&id, token) {
                    self.unsynced_acks.push(token);
                }
            }
            Ingested::Dropped => self.actions.push_back(Action::Accept { token }),
            Ingested::Refused(cause) => {
                self.stats.refused += 1;
                self.actions.push_back(Action::Refuse { token, cause })
            }
        }
        Ok(())
    }

    /// RFC 9171 §5.6 reception, shared by bundles from peers, from applications and from this
    /// node itself (status reports): check, store, then dispatch.
    fn ingest(
        &mut self,
        now: DtnTime,
        from: Option<Eid>,
        bytes: Vec<u8>,
        from_peer: bool,
    ) -> Result<Ingested, AgentError> {
        // Held as shared bytes: the owned bundle below borrows its blocks' data from them.
        let bytes = Bytes::from(bytes);
        // A peer's bundle has every CRC checked; one this node encoded (its API, its reports,
        // its router, reassembly) has every other rule checked, not its sums.
        let opts = if from_peer {
            self.cfg.decode.clone()
        } else {
            self.own_bytes()
        };
        let view = match BundleView::decode_with(&bytes, &opts) {
            Ok(v) => v,
            Err(e) => return Ok(Ingested::Refused(RefuseCause::Malformed(e))),
        };
        let id = view.id();
        if self.held.contains(&id) {
            self.stats.duplicates += 1;
            return Ok(Ingested::Held(id));
        }
        let expires_at = expiry(&view, now);
        // §5.6 step 2 duplicates, §5.4 step 3 hop limit, §5.5 lifetime: the sender did its
        // part, so the transfer is acknowledged and the bundle is not kept.
        let expired = expires_at <= now;
        let over_hops = view.hop_count().is_some_and(|h| h.exceeded());
        // A bundle this node already handled (delivered, forwarded, deleted) has a log even
        // after it left the store: it is a duplicate as much as one still stored. One still
        // stored is found by the insert below; the paths that leave before it look it up.
        if !self.store.log_for(&id)?.is_empty() {
            self.stats.duplicates += 1;
            return Ok(Ingested::Dropped);
        }
        let dropped_early = expired || over_hops;
        if dropped_early && self.counted_as_duplicate(&id)? {
            return Ok(Ingested::Dropped);
        }
        if dropped_early {
            let reason = if expired {
                ReasonCode::LIFETIME_EXPIRED
            } else {
                ReasonCode::HOP_LIMIT_EXCEEDED
            };
            let len = view.payload().len() as u64;
            self.report(now, view.primary(), len, Status::Deleted, reason)?;
            return Ok(Ingested::Dropped);
        }
        let mut bundle = view.to_bundle_in(&bytes);
        let unknown = bundle.apply_unknown_block_rules();
        if unknown.delete_bundle {
            if self.counted_as_duplicate(&id)? {
                return Ok(Ingested::Dropped);
            }
            let len = payload_len(&bundle);
            self.report(
                now,
                &bundle.primary,
                len,
                Status::Deleted,
                ReasonCode::BLOCK_UNSUPPORTED,
            )?;
            return Ok(Ingested::Dropped);
        }
        let bytes = if unknown.removed.is_empty() {
            bytes
        } else {
            match bundle.encode_with(&self.cfg.decode) {
                Ok(b) => Bytes::from(b),
                Err(e) => return Ok(Ingested::Refused(RefuseCause::Malformed(e))),
            }
        };
        let record = BundleRecord {
            id: id.clone(),
            destination: bundle.primary.destination.clone(),
            expires_at,
            received_at: now,
            size: bytes.len() as u64,
            // The retention constraint goes in with the bundle, in one write: a crash can
            // never leave a stored bundle that nothing will deliver or forward.
            retention: Retention(self.retention_for(&bundle)),
            reports: reports::requested_reports(&bundle.primary),
            priority: priority_of(&bundle),
        };
        // A bundle to forward is routed once, here; held when a link to the next hop is up
        // (it goes out now, or once the link's window has room).
        let plan = (record.retention.0 == Retention::FORWARD_PENDING)
            .then(|| self.route(now, &record, forward::copy_count(&bundle)));
        let hold = match &plan {
            None => self.holdable(&record),
            Some(forward::Plan::Forward(_)) => true,
            Some(_) => false,
        };
        if hold && self.held.has_room(bytes.len()) {
            // Logged (received, then delivered or forwarded) when it settles: a log entry
            // made durable while the bundle is neither stored nor gone on would make its
            // retransmission look like a duplicate.
            self.held.put(
                id.clone(),
                held::Held {
                    bytes,
                    record: record.clone(),
                    from,
                    tokens: Vec::new(),
                },
            );
            self.after_reception(now, from_peer, &bundle)?;
            self.dispatch_planned(now, record, bundle, plan)?;
            return Ok(Ingested::Held(id));
        }
        match self.store.insert(&record, &bytes) {
            Ok(Inserted::New) => {}
            Ok(Inserted::Duplicate) => {
                self.stats.duplicates += 1;
                return Ok(Ingested::Dropped);
            }
            Err(StoreError::QuotaExceeded { .. }) => {
                return Ok(Ingested::Refused(RefuseCause::StoreFull))
            }
            Err(e) => return Err(e.into()),
        }
        self.fresh.put(id.clone(), bytes.clone());
        self.log_event(now, &id, LogEvent::Received { from })?;
        self.after_reception(now, from_peer, &bundle)?;
        self.dispatch_planned(now, record, bundle, plan)?;
        Ok(Ingested::Stored)
    }

    /// What follows the reception of a bundle kept (stored or held): the count, and the
    /// reception report it asked for.
    fn after_reception(
        &mut self,
        now: DtnTime,
        from_peer: bool,
        bundle: &Bundle,
    ) -> Result<(), AgentError> {
        self.stats.received += 1;
        if from_peer {
            let len = payload_len(bundle);
            self.report(
                now,
                &bundle.primary,
                len,
                Status::Received,
                ReasonCode::NO_INFORMATION,
            )?;
        }
        Ok(())
    }

    /// True when a bundle with `record` may be held for delivery rather than stored: a
    /// whole bundle for a local endpoint (not a fragment, not a message for the router).
    fn holdable(&self, record: &BundleRecord) -> bool {
        record.retention.0 == Retention::DISPATCH_PENDING && !self.for_router(&record.destination)
    }

    /// A held bundle leaves as handled, delivered here ([`Settled::Here`]) or acknowledged by
    /// the next hop ([`Settled::NextHop`]): its reception is logged, and its acknowledgements
    /// go out. None when `id` was not held.
    fn release_held(
        &mut self,
        id: &BundleId,
        settled: Settled,
    ) -> Result<Option<held::Held>, AgentError> {
        let Some(h) = self.held.take(id) else {
            return Ok(None);
        };
        let from = h.from.clone();
        self.log_event(h.record.received_at, id, LogEvent::Received { from })?;
        match settled {
            Settled::Here => self.unsynced_acks.extend(h.tokens.iter().copied()),
            Settled::NextHop => self
                .actions
                .extend(h.tokens.iter().map(|&token| Action::Accept { token })),
        }
        Ok(Some(h))
    }

    /// A held bundle not settled in time is stored like any other; its acknowledgements
    /// go out with the next commit. Refused, as at reception, when the store is full (its
    /// sender still has it).
    fn spill(&mut self, id: &BundleId) -> Result<(), AgentError> {
        let Some(h) = self.held.take(id) else {
            return Ok(());
        };
        match self.store.insert(&h.record, &h.bytes) {
            Ok(Inserted::New | Inserted::Duplicate) => {}
            Err(StoreError::QuotaExceeded { .. }) => {
                self.stats.refused += 1;
                self.unqueue(id);
                for token in h.tokens {
                    self.actions.push_back(Action::Refuse {
                        token,
                        cause: RefuseCause::StoreFull,
                    });
                }
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        }
        self.stats.held_then_stored += 1;
        self.fresh.put(id.clone(), h.bytes);
        let from = h.from;
        self.log_event(h.record.received_at, id, LogEvent::Received { from })?;
        self.unsynced_acks.extend(h.tokens);
        Ok(())
    }

    /// Sends the status report the bundle with primary block `subject` and a payload of
    /// `len` bytes asked for, if it asked (RFC 9171 §6.1).
    fn report(
        &mut self,
        now: DtnTime,
        subject: &PrimaryBlock,
        len: u64,
        status: Status,
        reason: ReasonCode,
    ) -> Result<(), AgentError> {
        let node = self.cfg.node_id.clone();
        let Some(bytes) = reports::status_report(
            &node,
            subject,
            len,
            status,
            reason,
            now,
            self.report_sequence,
        ) else {
            return Ok(());
        };
        self.report_sequence += 1;
        self.ingest(now, None, bytes, false)?;
        Ok(())
    }

    /// A stored bundle's bytes when its record says it asked for `status` reports: read
    /// before the bundle is removed, for [`Agent::report_stored`] after.
    fn read_for_report(
        &self,
        id: &BundleId,
        status: Status,
    ) -> Result<Option<Vec<u8>>, AgentError> {
        match self.record_of(id)? {
            Some(r) if r.reports & status.requested_by() != 0 => {
                Ok(self.stored_bytes(id)?.map(|b| b.to_vec()))
            }
            _ => Ok(None),
        }
    }

    /// The record of a bundle held or stored.
    fn record_of(&self, id: &BundleId) -> Result<Option<BundleRecord>, AgentError> {
        match self.held.record(id) {
            Some(r) => Ok(Some(r.clone())),
            None => Ok(self.store.record(id)?),
        }
    }

    /// Sends the report a stored bundle (its bytes from [`Agent::read_for_report`]) asked for.
    fn report_stored(
        &mut self,
        now: DtnTime,
        bytes: Option<Vec<u8>>,
        status: Status,
        reason: ReasonCode,
    ) -> Result<(), AgentError> {
        let Some(bytes) = bytes else {
            return Ok(());
        };
        let Ok(view) = BundleView::decode_with(&bytes, &self.own_bytes()) else {
            return Ok(());
        };
        let len = view.payload().len() as u64;
        self.report(now, view.primary(), len, status, reason)
    }

    /// True, counting a duplicate, when a bundle with `id` is stored.
    fn counted_as_duplicate(&mut self, id: &BundleId) -> Result<bool, AgentError> {
        let stored = self.store.record(id)?.is_some();
        if stored {
            self.stats.duplicates += 1;
        }
        Ok(stored)
    }

    /// Adds an entry to the forwarding log of `id` (kept after the bundle leaves: `trace`
    /// and duplicate suppression read it).
    fn log_event(
        &mut self,
        now: DtnTime,
        id: &BundleId,
        event: LogEvent,
    ) -> Result<(), AgentError> {
        self.store.log(id, &LogEntry { at: now, event })?;
        Ok(())
    }

    /// Forgets `id` in the inboxes (it was delivered, expired or deleted).
    fn unqueue(&mut self, id: &BundleId) {
        self.lent.remove(id);
        self.inbox.retain(|_, ids| {
            ids.remove(id);
            !ids.is_empty()
        });
    }

    fn is_local(&self, destination: &Eid) -> bool {
        destination.node_id() == self.cfg.node_id
    }

    /// [`Agent::dispatch`], with the route of a bundle to forward already asked for.
    fn dispatch_planned(
        &mut self,
        now: DtnTime,
        record: BundleRecord,
        bundle: Bundle,
        plan: Option<forward::Plan>,
    ) -> Result<(), AgentError> {
        match plan {
            Some(plan) => self.carry_out(now, &record, Some(bundle), plan),
            None => self.dispatch(now, record, bundle),
        }
    }

    /// RFC 9171 §5.3: deliver locally, or forward.
    fn dispatch(
        &mut self,
        now: DtnTime,
        record: BundleRecord,
        bundle: Bundle,
    ) -> Result<(), AgentError> {
        match record.retention.0 {
            // RFC 9171 §5.7 step 1, §5.9: a fragment waits for the rest of its ADU.
            Retention::REASSEMBLY_PENDING => self.try_reassemble(now, &bundle),
            Retention::DISPATCH_PENDING => {
                if self.for_router(&record.destination) {
                    return self.router_message(now, &record.id, &bundle);
                }
                if self.registrations.get(&record.destination) == Some(&DeliveryMode::Active) {
                    return self.deliver(now, &record.id, &record.destination, &bundle);
                }
                self.inbox
                    .entry(record.destination)
                    .or_default()
                    .insert(record.id);
                Ok(())
            }
            _ => self.forward(now, &record, bundle),
        }
    }

    /// Why a newly received bundle is kept (RFC 9171 §5.3): for reassembly, for local
    /// delivery, or for forwarding.
    fn retention_for(&self, bundle: &Bundle) -> u8 {
        if !self.is_local(&bundle.primary.destination) {
            Retention::FORWARD_PENDING
        } else if bundle.primary.fragment.is_some() {
            Retention::REASSEMBLY_PENDING
        } else {
            Retention::DISPATCH_PENDING
        }
    }

    /// True when the store holds `id` with the retention constraint `bit`.
    fn retained(&self, id: &BundleId, bit: u8) -> Result<bool, AgentError> {
        Ok(self.store.record(id)?.is_some_and(|r| r.retention.has(bit)))
    }

    /// A stored bundle, decoded. A bundle the store holds was valid when it arrived.
    fn load(&self, id: &BundleId) -> Result<Option<Bundle>, AgentError> {
        Ok(self.stored_bytes(id)?.and_then(|bytes| {
            BundleView::decode_with(&bytes, &self.own_bytes())
                .ok()
                .map(|v| v.to_bundle_in(&bytes))
        }))
    }

    /// How this node decodes bytes it checked or encoded itself (held, stored, built by it):
    /// every rule but the CRCs, which were checked when the bundle arrived (RFC 9171 §4.2.1
    /// asks for them at reception) and which RocksDB's own block checksums guard on disk.
    pub(super) fn own_bytes(&self) -> DecodeOptions {
        DecodeOptions {
            verify_crc: false,
            ..self.cfg.decode.clone()
        }
    }

    /// The stored bytes of `id`: from memory when stored since the last commit.
    fn stored_bytes(&self, id: &BundleId) -> Result<Option<Bytes>, AgentError> {
        if let Some(bytes) = self.held.bytes(id).or_else(|| self.fresh.get(id)) {
            return Ok(Some(bytes));
        }
        Ok(self.store.get(id)?.map(Bytes::from))
    }

    /// Removes `id` from the store (and from the bundles kept since the last commit); a
    /// held bundle was never stored and only leaves memory ([`Agent::release_held`]).
    fn remove_stored(&mut self, id: &BundleId) -> Result<bool, AgentError> {
        if self.release_held(id, Settled::Here)?.is_some() {
            return Ok(true);
        }
        self.fresh.remove(id);
        Ok(self.store.remove(id)?)
    }

    /// RFC 9171 §5.5 (bundle expiration) and §5.10 (deletion): delete bundles whose lifetime has ended.
    fn expire(&mut self, now: DtnTime) -> Result<(), AgentError> {
        for id in self.store.expiring(now, 1024)? {
            if self.flying(&id) {
                continue;
            }
            self.stats.expired += 1;
            self.log_event(
                now,
                &id,
                LogEvent::Deleted {
                    reason: ReasonCode::LIFETIME_EXPIRED.0,
                },
            )?;
            let subject = self.read_for_report(&id, Status::Deleted)?;
            self.remove_stored(&id)?;
            self.unqueue(&id);
            self.router.forget(&id);
            self.report_stored(now, subject, Status::Deleted, ReasonCode::LIFETIME_EXPIRED)?;
        }
        Ok(())
    }
}

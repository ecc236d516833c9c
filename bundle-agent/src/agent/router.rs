//! The seam between the agent and a router (ARCHITECTURE §7): the agent tells the router
//! about bundles to forward, links coming and going and how transmissions ended; the router
//! answers with a next hop now, a time to ask again, or nothing yet.
//!
//! The trait lives here, beside the agent that calls it, so that the `routing` crate (static
//! routes with priorities, contact graph routing, the opportunistic routers) depends on the
//! agent and not the other way round. [`RouteTable`](super::RouteTable) implements it too: it
//! is what an agent routes with when nothing else is plugged in. Routers are pure logic like
//! the agent: they take `now` and never read a clock.

use std::fmt::Debug;

use crate::wire::{BundleId, DtnTime, Eid};

/// What a router is told of a bundle to forward.
#[derive(Debug, Clone, Copy)]
pub struct RouteRequest<'a> {
    /// The bundle.
    pub id: &'a BundleId,
    /// Its destination.
    pub destination: &'a Eid,
    /// Its size in bytes, as stored.
    pub size: u64,
    /// When its lifetime ends: a route arriving later is no route (RFC 9171 §5.4 step 1).
    pub expires_at: DtnTime,
    /// The copies it carries for spray-and-wait (its copy count block), when the agent has
    /// the bundle at hand (on reception; `None` when it routes from the store).
    pub copies: Option<u64>,
}

/// One copy of a bundle for a peer: the bundle stays here too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replica {
    /// The peer.
    pub to: Eid,
    /// The copies the peer may hand out in turn (spray-and-wait), carried in a copy count
    /// block; `None` for no block.
    pub copies: Option<u64>,
}

/// The endpoint of a node's router, where routers exchange what they know (summary vectors,
/// delivery predictabilities): service 64 of an `ipn` node, `~router` of a `dtn` node.
pub fn router_endpoint(node: &Eid) -> Eid {
    node.service(ROUTER_SERVICE, "~router")
}

/// The `ipn` service number of [`router_endpoint`].
pub const ROUTER_SERVICE: u64 = 64;

/// A router's answer for one bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextHop {
    /// Send it to this node now, over a link to it if one is up (else it waits for one).
    Now(Eid),
    /// Send it to `via`, but not before `at` (a contact opens then): ask again at `at`.
    Later {
        /// The next hop.
        via: Eid,
        /// When to ask again.
        at: DtnTime,
    },
    /// Send copies to these peers over their links that are up, and keep the bundle
    /// (epidemic, spray-and-wait, PRoPHET): asked again when links change or a router
    /// message arrives.
    Replicate(Vec<Replica>),
    /// No route is known: keep the bundle (RFC 9171 §5.4 step 2, forwarding is
    /// contraindicated only for now) and ask again when links or the plan change.
    Unknown,
}

/// One hop of a planned route, for explanations.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedHop {
    /// The contact it uses (its number in the plan), when the router works from a plan.
    pub contact: Option<usize>,
    /// Sending node.
    pub from: Eid,
    /// Receiving node.
    pub to: Eid,
    /// When the bundle is sent.
    pub send_at: DtnTime,
    /// When it arrives.
    pub arrive_at: DtnTime,
}

/// A route as a router sees it, for explanations.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedRoute {
    /// The hops, in order; the first one names the next hop.
    pub hops: Vec<PlannedHop>,
    /// Expected arrival at the destination.
    pub arrival: DtnTime,
    /// How sure the router is of the route, 0 to 1.
    pub confidence: f64,
}

/// Why a router decided what it decided for a destination: the route chosen, the others, and
/// what it could not use and why.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Explanation {
    /// The router's name (`static`, `cgr`, ...).
    pub router: String,
    /// The next hop it would choose now, if any.
    pub next_hop: Option<Eid>,
    /// The chosen route in full, when the router plans whole routes.
    pub chosen: Option<PlannedRoute>,
    /// Other routes it found, best first.
    pub alternatives: Vec<PlannedRoute>,
    /// What it could not use, and why, in words.
    pub rejected: Vec<String>,
    /// Anything else worth saying (the static route that matched, why no route exists).
    pub notes: Vec<String>,
}

/// A scheduled contact as a router knows it, for operators.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactView {
    /// Its number in the plan.
    pub id: usize,
    /// Sending node.
    pub from: Eid,
    /// Receiving node.
    pub to: Eid,
    /// Start.
    pub start: DtnTime,
    /// End.
    pub end: DtnTime,
    /// Bytes per second.
    pub rate: u64,
    /// One-way light time in milliseconds.
    pub owlt_ms: u64,
    /// Confidence, 0 to 1.
    pub confidence: f64,
    /// Bytes it can still carry after what is booked on it.
    pub residual: u64,
}

/// A router: decides where each bundle goes next and when.
pub trait Router: Debug + Send {
    /// Where `bundle` goes next. `up` says whether a link to a node is up now. Asked again
    /// for the same bundle whenever links change, at the time a `Later` answer named, and
    /// after a failed transmission; an answer for a bundle already decided should stay the
    /// same unless something changed.
    fn next_hop(
        &mut self,
        now: DtnTime,
        bundle: &RouteRequest<'_>,
        up: &dyn Fn(&Eid) -> bool,
    ) -> NextHop;

    /// True when routing to `destination` is this router's business (contact graph routing:
    /// the plan names its node). A router with a fallback hands the others to the fallback;
    /// for the ones it knows, "no route now" means the bundle waits.
    fn knows(&self, _destination: &Eid) -> bool {
        true
    }

    /// A link to `peer` came up.
    fn link_up(&mut self, _now: DtnTime, _peer: &Eid) {}

    /// The last link to `peer` went down.
    fn link_down(&mut self, _now: DtnTime, _peer: &Eid) {}

    /// A transmission of `id` to `peer` ended: acknowledged (`ok`) or failed.
    fn sent(&mut self, _now: DtnTime, _id: &BundleId, _peer: &Eid, _ok: bool) {}

    /// `id` left this node (forwarded, expired, deleted): forget it.
    fn forget(&mut self, _id: &BundleId) {}

    /// Explains the decision the router would make now for a bundle of `size` bytes to
    /// `destination` that may arrive until `deadline`.
    fn explain(
        &mut self,
        now: DtnTime,
        destination: &Eid,
        size: u64,
        deadline: DtnTime,
        up: &dyn Fn(&Eid) -> bool,
    ) -> Explanation;

    /// The contacts the router plans with (none for routers without a plan).
    fn contacts(&self) -> Vec<ContactView> {
        Vec::new()
    }

    /// A message for the router of a peer node (its node ID, the payload), sent as a bundle
    /// to that node's [`router_endpoint`] over a link that is up. Drained after each event.
    fn poll_message(&mut self) -> Option<(Eid, Vec<u8>)> {
        None
    }

    /// A message from the router of `from` (a node ID) arrived. Every bundle waiting to be
    /// forwarded is routed again afterwards.
    fn on_message(&mut self, _now: DtnTime, _from: &Eid, _payload: &[u8]) {}
}

//! Routing for the DTN stack: contact plans and the routers that decide where a bundle goes
//! next and when. Pure logic (ARCHITECTURE §3, §7): every function takes the time it should
//! think about as an argument and returns decisions; nothing here reads a clock, opens a
//! socket or sleeps, so the simulator and `dtnd` run the very same code.
//!
//! - [`plan`]: contact plans: our TOML/JSON format, validation with errors that name the
//!   contact and the rule broken.
//! - [`import`]: ION `ionrc` (`a contact`, `a range`) and HDTN JSON contact plans.
//! - [`cgr`]: contact graph routing in the manner of CCSDS SABR (734.3-B-1): earliest
//!   arrival over the contact graph with one-way light time, residual volume, deadlines,
//!   alternative routes (Yen's k shortest) and a route cache; each answer can explain itself.
//!
//! - [`epidemic`], [`spray`], [`prophet`]: opportunistic routers, which copy bundles to the
//!   peers they meet and keep them; [`messages`] is what their routers tell each other.
//!
//! Every router implements the agent's [`Router`](bundle_agent::agent::Router) trait. Static
//! routes stay in the agent (`RouteTable`): they are what it routes with when nothing here
//! is plugged in.

pub mod cgr;
pub mod epidemic;
pub mod fallback;
pub mod import;
pub mod messages;
pub mod plan;
pub mod prophet;
pub mod spray;

pub use epidemic::EpidemicRouter;
pub use fallback::WithFallback;
pub use prophet::{ProphetParams, ProphetRouter};
pub use spray::SprayAndWaitRouter;

/// What the opportunistic routers say when a link to the destination's node is up: every
/// one of them hands the bundle over there, and lets it go.
pub(crate) fn handed_over(dest: &bundle_agent::wire::Eid) -> String {
    format!("a link to {dest} is up: the bundle goes there and leaves")
}

/// Most bundles an opportunistic router keeps state for (beyond it, a bundle is treated as
/// one the router knows nothing about); bounded like every table fed from the network.
pub const MAX_TRACKED: usize = 1 << 20;

pub use cgr::{Cgr, CgrRouter, Hop, Rejection, Route, RouteQuery, RoutingAnswer};
pub use plan::{Contact, ContactId, ContactPlan, PlanError};

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
//! Done so far for the routing issue: the plan format and validation, CGR with
//! explanations and its scenario tests, ION and HDTN importers. Not yet: the `Router` trait
//! wired into the agent, static routes moved here, epidemic, spray-and-wait, PRoPHET, `dtnd`
//! contact schedules and `dtnctl route explain / contacts / trace`.

pub mod cgr;
pub mod import;
pub mod plan;

pub use cgr::{Cgr, CgrRouter, Hop, Rejection, Route, RouteQuery, RoutingAnswer};
pub use plan::{Contact, ContactId, ContactPlan, PlanError};

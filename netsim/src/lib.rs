//! `netsim`: runs a network of DTN nodes described by a scenario file, with the very code
//! `dtnd` runs (the agent of `bundle-agent` and the routers of `routing`; until the
//! `federation` crate exists, the simulator assembles the two itself) over modelled links, in
//! virtual time (ARCHITECTURE §3: nothing in that code reads a clock, so a run of days takes
//! seconds and replays exactly).
//!
//! - [`scenario`]: the scenario format, checked on load.
//! - [`link`]: the link model and its presets.
//! - [`sim`]: the deterministic simulator.
//! - [`emulate`]: the same scenario with real `dtnd` processes behind userspace link relays.
//! - [`report`]: what a run measured, as a table and as JSON; [`plot`] draws it as SVG.
//! - [`rng`]: seeded random streams.
//!
//! Both modes read the same scenario and make the same [`Report`]: `netsim run` (the
//! simulator) and `netsim emulate` (real daemons, real time). Shipped scenarios are in
//! `netsim/scenarios/`; `benches/scale.rs` measures the simulator's speed.

pub mod emulate;
pub mod link;
pub mod plot;
pub mod report;
pub mod rng;
pub mod scenario;
pub mod sim;
pub mod twin_spec;
pub mod twins;

pub use report::Report;
pub use scenario::Scenario;
pub use sim::Simulator;

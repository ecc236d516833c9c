//! Scenario files: the network a run simulates, in TOML.
//!
//! ```toml
//! name = "three hops"
//! seed = 7                   # default 1; `netsim run --seed` overrides
//! duration = "2h"            # virtual time simulated (ms, s, m, h, d)
//! store_quota = 1073741824   # bytes each node's store holds (default 1 GiB)
//!
//! [[node]]
//! id = "ipn:1.0"
//! tier = "tile"              # tile, pod, hub, region, global, planet
//! router = "static"          # static (default), cgr, epidemic, spray-and-wait, prophet
//! routes = ["ipn:3.*=ipn:2.0"]   # static routes, PATTERN=NODE-ID[@PRIORITY]; with cgr,
//!                            # they serve the destinations the plan does not reach
//! spray_copies = 8           # for spray-and-wait
//!
//! [[nodes]]                  # a group: `count` nodes ipn:first.0, ipn:first+1.0, ...
//! first = 100
//! count = 50
//! tier = "tile"
//! uplink = "ipn:2.0"         # optional: each gets a link to this node ...
//! profile = "poe"            # ... of this profile
//! # uplinks = { first = 10, count = 5 }  # or to ipn:10.0 .. ipn:14.0, in turn
//! # route_up = true          # static router: a default route ("*") via the uplink
//!
//! [[link]]
//! a = "ipn:1.0"
//! b = "ipn:2.0"
//! profile = "mmwave"         # poe, mmwave, backhaul, deep-space (see `link`)
//! rate = 1000000             # any preset field may be overridden: bytes/s,
//! delay = "2ms"              # one-way delay,
//! loss = 0.01                # loss per bundle, bit-error rate `ber`,
//! schedule = "outages"       # always | plan (up only during plan contacts) | outages
//! cl = "quic"                # tcpcl | quic | ltp | ether: the profile's by default
//!                            # (deep-space: ltp; mmwave, backhaul: quic; poe: ether); used
//!                            # by `emulate` (ether needs root for its veth pairs, else the
//!                            # link runs over tcpcl and netsim says so)
//! mean_up = "10m"            # for outages
//! mean_down = "20s"
//!
//! [plan]                     # a contact plan (the `routing` format), for CGR routers and
//! [[plan.contact]]           # links with schedule = "plan"; times count from the start
//! from = "ipn:2.0"
//! to = "ipn:3.0"
//! start = 600
//! end = 4200
//! rate = 250000
//! owlt = 240
//!
//! [[traffic]]
//! from = "ipn:1.0"
//! to = "ipn:3.1"             # an endpoint; registered at its node
//! every = "1m"               # a bundle every minute (random = true: exponential gaps)
//! size = 1024                # payload bytes
//! lifetime = "1d"
//! start = "0s"               # default 0
//! stop = "1h"                # default the end of the run
//! # count = 100              # one such flow from each of 100 nodes numbered from `from`
//! # priority = "expedited"   # bulk, normal (default) or expedited
//! ```
//!
//! A `[twins]` table adds twin state synced between nodes (see [`crate::twin_spec`]).
//!
//! Loading checks everything and names what is wrong: the item (`link[2]`), the field and
//! the rule.

use std::collections::BTreeMap;

use bundle_agent::agent::RouteTable;
use bundle_agent::wire::{DtnTime, Eid};
use routing::ContactPlan;
use serde::Deserialize;

use crate::link::LinkModel;

/// Where simulated time starts: DTN time 2001-09-09 01:46:40 UTC (a creation time of zero
/// would mean "no clock" to the agent).
pub const START_MS: u64 = 1_000_000_000_000 - 946_684_800_000;

/// A scenario that does not load, and why.
#[derive(Debug, thiserror::Error)]
#[error("scenario: {0}")]
pub struct ScenarioError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, ScenarioError> {
    Err(ScenarioError(msg.into()))
}

pub use bundle_agent::wire::parse_duration_ms as duration_ms;

/// The tiers of the federation (shared with twin sovereignty policies).
pub use crdt_store::Tier;

/// Which router a node runs.
#[derive(Debug, Clone, PartialEq)]
pub enum RouterSpec {
    /// Static routes.
    Static(RouteTable),
    /// Contact graph routing over the scenario's plan, with static routes for what the plan
    /// does not reach (none when empty).
    Cgr(RouteTable),
    /// Epidemic.
    Epidemic,
    /// Binary spray-and-wait with this many copies.
    SprayAndWait(u64),
    /// PRoPHET.
    Prophet,
}

/// One node.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    /// Its node ID.
    pub id: Eid,
    /// Its tier.
    pub tier: Tier,
    /// Its router.
    pub router: RouterSpec,
}

/// When a link is up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// From start to end.
    Always,
    /// While the plan has a contact between its two nodes (either way).
    Plan,
    /// Up and down at random (the model's mean up and down times).
    Outages,
}

/// One link between two nodes (numbers into the node list).
#[derive(Debug, Clone)]
pub struct LinkSpec {
    /// One end.
    pub a: usize,
    /// The other end.
    pub b: usize,
    /// How it behaves.
    pub model: LinkModel,
    /// When it is up.
    pub schedule: Schedule,
    /// The convergence layer its nodes use.
    pub cl: crate::link::ConvergenceLayer,
}

/// One traffic flow.
#[derive(Debug, Clone)]
pub struct FlowSpec {
    /// The sending node.
    pub from: usize,
    /// The destination endpoint.
    pub to: Eid,
    /// The node it lives on.
    pub to_node: usize,
    /// Gap between bundles (the mean when random).
    pub every_ms: u64,
    /// Exponential gaps instead of a fixed period.
    pub random: bool,
    /// Payload bytes.
    pub size: u64,
    /// Bundle lifetime.
    pub lifetime_ms: u64,
    /// First bundle at (offset from the start).
    pub start_ms: u64,
    /// No bundle from (offset from the start).
    pub stop_ms: u64,
    /// The bundles' priority (a priority block unless normal).
    pub priority: u8,
}

/// A loaded, checked scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Its name.
    pub name: String,
    /// The seed of every random stream.
    pub seed: u64,
    /// Virtual time simulated, in milliseconds.
    pub duration_ms: u64,
    /// Each node's store quota.
    pub store_quota: u64,
    /// The nodes.
    pub nodes: Vec<NodeSpec>,
    /// The links.
    pub links: Vec<LinkSpec>,
    /// The traffic.
    pub flows: Vec<FlowSpec>,
    /// The contact plan, if any (times absolute, from [`START_MS`]).
    pub plan: Option<ContactPlan>,
    /// Twin sync, if any.
    pub twins: Option<crate::twin_spec::TwinsSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    name: String,
    seed: Option<u64>,
    duration: String,
    store_quota: Option<u64>,
    #[serde(default)]
    node: Vec<RawNode>,
    #[serde(default)]
    nodes: Vec<RawGroup>,
    #[serde(default)]
    link: Vec<RawLink>,
    #[serde(default)]
    traffic: Vec<RawTraffic>,
    plan: Option<toml::Table>,
    twins: Option<toml::Table>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct RawNode {
    id: String,
    tier: String,
    router: Option<String>,
    #[serde(default)]
    routes: Vec<String>,
    spray_copies: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    first: u32,
    count: u32,
    tier: String,
    router: Option<String>,
    #[serde(default)]
    routes: Vec<String>,
    spray_copies: Option<u64>,
    uplink: Option<String>,
    uplinks: Option<UplinkRange>,
    #[serde(default)]
    route_up: bool,
    profile: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UplinkRange {
    first: u32,
    count: u32,
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct RawLink {
    a: String,
    b: String,
    profile: Option<String>,
    rate: Option<u64>,
    delay: Option<String>,
    loss: Option<f64>,
    ber: Option<f64>,
    schedule: Option<String>,
    mean_up: Option<String>,
    mean_down: Option<String>,
    cl: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTraffic {
    from: String,
    to: String,
    every: String,
    #[serde(default)]
    random: bool,
    size: u64,
    lifetime: String,
    start: Option<String>,
    stop: Option<String>,
    /// One flow from each of `count` nodes numbered from `from` (an `ipn` node).
    count: Option<u32>,
    /// bulk, normal (default) or expedited.
    priority: Option<String>,
}

/// Most nodes a scenario may have.
pub const MAX_NODES: usize = 100_000;

fn router(
    what: &str,
    name: Option<&str>,
    routes: &[String],
    copies: Option<u64>,
) -> Result<RouterSpec, ScenarioError> {
    let spec = match name.unwrap_or("static") {
        "static" => return Ok(RouterSpec::Static(static_routes(what, routes)?)),
        "cgr" => return Ok(RouterSpec::Cgr(static_routes(what, routes)?)),
        "epidemic" => RouterSpec::Epidemic,
        "spray-and-wait" => RouterSpec::SprayAndWait(copies.unwrap_or(8).max(1)),
        "prophet" => RouterSpec::Prophet,
        other => {
            return err(format!(
                "{what}.router {other:?}: use static, cgr, epidemic, spray-and-wait or prophet"
            ))
        }
    };
    if !routes.is_empty() {
        return err(format!(
            "{what}.routes: only the static and cgr routers have routes"
        ));
    }
    Ok(spec)
}

/// Static routes from `PATTERN=NODE-ID[@PRIORITY]` lines.
fn static_routes(what: &str, routes: &[String]) -> Result<RouteTable, ScenarioError> {
    let mut table = RouteTable::default();
    for r in routes {
        let Some((pattern, via)) = r.split_once('=') else {
            return err(format!(
                "{what}.routes {r:?}: expected PATTERN=NODE-ID[@PRIORITY]"
            ));
        };
        let (via, priority) = match via.rsplit_once('@') {
            Some((v, p)) => match p.parse::<u32>() {
                Ok(p) => (v, p),
                Err(_) => return err(format!("{what}.routes {r:?}: priority {p:?}")),
            },
            None => (via, bundle_agent::agent::DEFAULT_PRIORITY),
        };
        let via: Eid = via
            .parse()
            .map_err(|e| ScenarioError(format!("{what}.routes {r:?}: {e}")))?;
        table.add_with_priority(pattern, via, priority);
    }
    Ok(table)
}

fn duration(what: &str, text: &str) -> Result<u64, ScenarioError> {
    duration_ms(text).map_err(|e| ScenarioError(format!("{what}: {e}")))
}

impl Scenario {
    /// Loads and checks a scenario.
    pub fn from_toml(text: &str) -> Result<Self, ScenarioError> {
        let raw: Raw = toml::from_str(text).map_err(|e| ScenarioError(e.to_string()))?;
        let duration_ms = duration("duration", &raw.duration)?;
        if duration_ms == 0 {
            return err("duration: must be more than 0");
        }
        let mut nodes: Vec<NodeSpec> = Vec::new();
        let mut index: BTreeMap<Eid, usize> = BTreeMap::new();
        let mut add = |id: Eid, spec: NodeSpec, what: &str| -> Result<usize, ScenarioError> {
            if !id.is_node_id() {
                return err(format!(
                    "{what}.id {id}: not a node ID (ipn:N.0 or dtn://name/)"
                ));
            }
            if index.contains_key(&id) {
                return err(format!("{what}.id {id}: a second node with this ID"));
            }
            if nodes.len() >= MAX_NODES {
                return err(format!("more than {MAX_NODES} nodes"));
            }
            index.insert(id, nodes.len());
            nodes.push(spec);
            Ok(nodes.len() - 1)
        };
        for (i, n) in raw.node.iter().enumerate() {
            let what = format!("node[{i}]");
            let id: Eid =
                n.id.parse()
                    .map_err(|e| ScenarioError(format!("{what}.id {:?}: {e}", n.id)))?;
            let Ok(tier) = n.tier.parse::<Tier>() else {
                return err(format!(
                    "{what}.tier {:?}: use tile, pod, hub, region, global or planet",
                    n.tier
                ));
            };
            let router = router(&what, n.router.as_deref(), &n.routes, n.spray_copies)?;
            add(id.clone(), NodeSpec { id, tier, router }, &what)?;
        }
        let mut raw_links = raw.link.clone();
        for (g, group) in raw.nodes.iter().enumerate() {
            let what = format!("nodes[{g}]");
            let Ok(tier) = group.tier.parse::<Tier>() else {
                return err(format!(
                    "{what}.tier {:?}: use tile, pod, hub, region, global or planet",
                    group.tier
                ));
            };
            if group.count as usize > MAX_NODES {
                return err(format!("{what}.count: more than {MAX_NODES} nodes"));
            }
            let spec = router(
                &what,
                group.router.as_deref(),
                &group.routes,
                group.spray_copies,
            )?;
            if group.uplink.is_some() && group.uplinks.is_some() {
                return err(format!("{what}: uplink or uplinks, not both"));
            }
            if group.uplinks.as_ref().is_some_and(|u| u.count == 0) {
                return err(format!("{what}.uplinks.count: must be more than 0"));
            }
            if group.route_up && group.uplink.is_none() && group.uplinks.is_none() {
                return err(format!("{what}.route_up: needs uplink or uplinks"));
            }
            if group.route_up && !matches!(spec, RouterSpec::Static(_)) {
                return err(format!("{what}.route_up: only for the static router"));
            }
            for k in 0..group.count {
                let Some(number) = group.first.checked_add(k) else {
                    return err(format!("{what}: node numbers overflow"));
                };
                let id = Eid::ipn(number, 0);
                let uplink = match (&group.uplink, &group.uplinks) {
                    (Some(u), _) => Some(u.clone()),
                    (None, Some(r)) => {
                        Some(Eid::ipn(r.first.saturating_add(k % r.count), 0).to_string())
                    }
                    (None, None) => None,
                };
                let mut node_router = spec.clone();
                if let (true, Some(up), RouterSpec::Static(table)) =
                    (group.route_up, &uplink, &mut node_router)
                {
                    let via: Eid = up
                        .parse()
                        .map_err(|e| ScenarioError(format!("{what}.uplink {up:?}: {e}")))?;
                    table.add("*", via);
                }
                add(
                    id.clone(),
                    NodeSpec {
                        id: id.clone(),
                        tier,
                        router: node_router,
                    },
                    &what,
                )?;
                if let Some(up) = uplink {
                    raw_links.push(RawLink {
                        a: id.to_string(),
                        b: up,
                        profile: group.profile.clone(),
                        ..RawLink::default()
                    });
                }
            }
        }
        let node_of = |what: &str, text: &str| -> Result<usize, ScenarioError> {
            let id: Eid = text
                .parse()
                .map_err(|e| ScenarioError(format!("{what} {text:?}: {e}")))?;
            index
                .get(&id.node_id())
                .copied()
                .ok_or_else(|| ScenarioError(format!("{what} {text:?}: no such node")))
        };
        let mut links = Vec::new();
        for (i, l) in raw_links.iter().enumerate() {
            let what = if i < raw.link.len() {
                format!("link[{i}]")
            } else {
                format!("uplink of {}", l.a)
            };
            let a = node_of(&format!("{what}.a"), &l.a)?;
            let b = node_of(&format!("{what}.b"), &l.b)?;
            if a == b {
                return err(format!("{what}: a link from a node to itself"));
            }
            let mut model = match l.profile.as_deref() {
                Some(p) => LinkModel::preset(p).ok_or_else(|| {
                    ScenarioError(format!(
                        "{what}.profile {p:?}: use {}",
                        LinkModel::PRESETS.join(", ")
                    ))
                })?,
                None => {
                    LinkModel::preset("poe").ok_or_else(|| ScenarioError("no poe preset".into()))?
                }
            };
            if let Some(r) = l.rate {
                if r == 0 {
                    return err(format!("{what}.rate: must be more than 0"));
                }
                model.rate = r;
            }
            if let Some(d) = &l.delay {
                model.delay_ms = duration(&format!("{what}.delay"), d)?;
            }
            for (field, value) in [("loss", l.loss), ("ber", l.ber)] {
                if let Some(v) = value {
                    if !(0.0..=1.0).contains(&v) {
                        return err(format!("{what}.{field} {v}: must be between 0 and 1"));
                    }
                }
            }
            if let Some(v) = l.loss {
                model.loss = v;
            }
            if let Some(v) = l.ber {
                model.ber = v;
            }
            if let (Some(up), Some(down)) = (&l.mean_up, &l.mean_down) {
                let up = duration(&format!("{what}.mean_up"), up)?;
                let down = duration(&format!("{what}.mean_down"), down)?;
                if up == 0 || down == 0 {
                    return err(format!("{what}: mean_up and mean_down must be more than 0"));
                }
                model.outages = Some((up, down));
            } else if l.mean_up.is_some() || l.mean_down.is_some() {
                return err(format!("{what}: mean_up and mean_down go together"));
            }
            let schedule = match l.schedule.as_deref() {
                None if model.outages.is_some() && l.profile.as_deref() == Some("mmwave") => {
                    Schedule::Outages
                }
                None | Some("always") => Schedule::Always,
                Some("plan") => Schedule::Plan,
                Some("outages") if model.outages.is_some() => Schedule::Outages,
                Some("outages") => {
                    return err(format!(
                        "{what}.schedule \"outages\": needs mean_up and mean_down"
                    ))
                }
                Some(other) => {
                    return err(format!(
                        "{what}.schedule {other:?}: use always, plan or outages"
                    ))
                }
            };
            let cl = match l.cl.as_deref() {
                None => crate::link::ConvergenceLayer::for_profile(
                    l.profile.as_deref().unwrap_or("poe"),
                ),
                Some(name) => crate::link::ConvergenceLayer::parse(name).ok_or_else(|| {
                    ScenarioError(format!(
                        "{what}.cl {name:?}: use {}",
                        crate::link::ConvergenceLayer::NAMES.join(", ")
                    ))
                })?,
            };
            links.push(LinkSpec {
                a,
                b,
                model,
                schedule,
                cl,
            });
        }
        let plan = match raw.plan {
            Some(mut table) => {
                // Plan times count from the start of the run unless the plan says otherwise.
                table
                    .entry("epoch_ms")
                    .or_insert(toml::Value::Integer(START_MS as i64));
                let text = toml::to_string(&table).map_err(|e| ScenarioError(e.to_string()))?;
                let plan = ContactPlan::from_toml(&text)
                    .map_err(|e| ScenarioError(format!("plan: {e}")))?;
                for c in plan.contacts() {
                    for n in [&c.from, &c.to] {
                        if !index.contains_key(n) {
                            return err(format!("plan: contact names {n}, which is not a node"));
                        }
                    }
                }
                Some(plan)
            }
            None => None,
        };
        if let Some(n) = nodes
            .iter()
            .find(|n| matches!(n.router, RouterSpec::Cgr(_)) && plan.is_none())
        {
            return err(format!("node {}: router \"cgr\" needs a [plan]", n.id));
        }
        if plan.is_none() && links.iter().any(|l| l.schedule == Schedule::Plan) {
            return err("a link has schedule = \"plan\" but there is no [plan]");
        }
        let mut flows = Vec::new();
        for (i, t) in raw.traffic.iter().enumerate() {
            let what = format!("traffic[{i}]");
            let from = node_of(&format!("{what}.from"), &t.from)?;
            let to: Eid =
                t.to.parse()
                    .map_err(|e| ScenarioError(format!("{what}.to {:?}: {e}", t.to)))?;
            let to_node = node_of(&format!("{what}.to"), &t.to)?;
            if to.is_node_id() {
                return err(format!(
                    "{what}.to {to}: an application endpoint, not a node ID (ipn:N.S with S > 0)"
                ));
            }
            let every_ms = duration(&format!("{what}.every"), &t.every)?;
            if every_ms == 0 {
                return err(format!("{what}.every: must be more than 0"));
            }
            let lifetime_ms = duration(&format!("{what}.lifetime"), &t.lifetime)?;
            let start_ms = match &t.start {
                Some(s) => duration(&format!("{what}.start"), s)?,
                None => 0,
            };
            let stop_ms = match &t.stop {
                Some(s) => duration(&format!("{what}.stop"), s)?,
                None => duration_ms,
            };
            if t.size > 64 << 20 {
                return err(format!("{what}.size: at most 64 MiB"));
            }
            let sources: Vec<usize> = match t.count {
                None => vec![from],
                Some(n) => {
                    let Eid::Ipn(first) = t
                        .from
                        .parse::<Eid>()
                        .map_err(|e| ScenarioError(format!("{what}.from: {e}")))?
                    else {
                        return err(format!("{what}.count: needs an ipn node in from"));
                    };
                    let mut v = Vec::new();
                    for k in 0..n {
                        let id = Eid::ipn(first.node.saturating_add(k), 0);
                        match index.get(&id) {
                            Some(&x) => v.push(x),
                            None => return err(format!("{what}.count: no node {id}")),
                        }
                    }
                    v
                }
            };
            let priority = match t.priority.as_deref() {
                None => bundle_agent::wire::block::PRIORITY_NORMAL,
                Some(name) => {
                    bundle_agent::wire::block::priority_by_name(name).ok_or_else(|| {
                        ScenarioError(format!(
                            "{what}.priority {name:?}: use bulk, normal or expedited"
                        ))
                    })?
                }
            };
            for from in sources {
                flows.push(FlowSpec {
                    from,
                    to: to.clone(),
                    to_node,
                    every_ms,
                    random: t.random,
                    size: t.size,
                    lifetime_ms,
                    start_ms,
                    stop_ms,
                    priority,
                });
            }
        }
        if nodes.is_empty() {
            return err("no nodes");
        }
        let twins = match raw.twins {
            Some(t) => Some(crate::twin_spec::parse(t, &index, duration_ms)?),
            None => None,
        };
        Ok(Scenario {
            name: raw.name,
            seed: raw.seed.unwrap_or(1),
            duration_ms,
            store_quota: raw.store_quota.unwrap_or(1 << 30),
            nodes,
            links,
            flows,
            plan,
            twins,
        })
    }

    /// The time the run starts.
    pub fn start(&self) -> DtnTime {
        DtnTime(START_MS)
    }
}

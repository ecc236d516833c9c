//! The `[twins]` table of a scenario: twin state synced between simulated nodes.
//!
//! ```toml
//! [twins]
//! resync = "1h"                # a peer still behind is sent its backlog again this often
//!
//! [[twins.policy]]             # sovereignty: fields matching `field` of twins matching
//! twin = "*"                   # `twin` may reach at most the `scope` tier
//! field = "raw.*"
//! scope = "pod"
//!
//! [[twins.follow]]             # a and b keep twins matching `twin` in sync (both ways)
//! a = "ipn:1.0"
//! b = "ipn:2.0"
//! twin = "site/*"
//!
//! [[twins.edit]]               # node edits a twin: every `every`, one of `keys` fields
//! node = "ipn:1.0"             # named `field` + a number is set to the time
//! twin = "site/hvac"
//! field = "t"                  # default "f"
//! keys = 20                    # default 10
//! every = "10m"
//! start = "0s"                 # default 0
//! stop = "36h"                 # default the end of the run
//! ```

use std::collections::BTreeMap;

use bundle_agent::wire::Eid;
use crdt_store::{Policy, Tier};
use serde::Deserialize;

use crate::scenario::{duration_ms, ScenarioError};

/// Twin sync in a scenario, checked.
#[derive(Debug, Clone)]
pub struct TwinsSpec {
    /// Resync interval.
    pub resync_ms: u64,
    /// Policies by twin pattern.
    pub policies: Vec<(String, Policy)>,
    /// Node pairs (numbers) and the twin pattern they sync.
    pub follows: Vec<(usize, usize, String)>,
    /// The edits.
    pub edits: Vec<EditSpec>,
}

/// A stream of edits at one node.
#[derive(Debug, Clone)]
pub struct EditSpec {
    /// The node (number).
    pub node: usize,
    /// The twin.
    pub twin: String,
    /// Field names: this prefix and a number below `keys`.
    pub field: String,
    /// How many fields.
    pub keys: u32,
    /// Gap between edits.
    pub every_ms: u64,
    /// First edit at (offset from the start).
    pub start_ms: u64,
    /// No edit from (offset from the start).
    pub stop_ms: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTwins {
    resync: Option<String>,
    #[serde(default)]
    policy: Vec<RawPolicy>,
    #[serde(default)]
    follow: Vec<RawFollow>,
    #[serde(default)]
    edit: Vec<RawEdit>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    twin: String,
    field: String,
    scope: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFollow {
    a: String,
    b: String,
    twin: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEdit {
    node: String,
    twin: String,
    field: Option<String>,
    keys: Option<u32>,
    every: String,
    start: Option<String>,
    stop: Option<String>,
}

fn fail<T>(msg: String) -> Result<T, ScenarioError> {
    Err(ScenarioError(msg))
}

fn dur(what: &str, text: &str) -> Result<u64, ScenarioError> {
    duration_ms(text).map_err(|e| ScenarioError(format!("{what} {text:?}: {e}")))
}

/// Checks the `[twins]` table against the scenario's nodes.
pub fn parse(
    table: toml::Table,
    index: &BTreeMap<Eid, usize>,
    duration: u64,
) -> Result<TwinsSpec, ScenarioError> {
    let raw: RawTwins = toml::Value::Table(table)
        .try_into()
        .map_err(|e| ScenarioError(format!("twins: {e}")))?;
    let node = |what: &str, text: &str| -> Result<usize, ScenarioError> {
        let id: Eid = text
            .parse()
            .map_err(|e| ScenarioError(format!("{what} {text:?}: {e}")))?;
        index
            .get(&id)
            .copied()
            .ok_or_else(|| ScenarioError(format!("{what} {text:?}: no such node")))
    };
    let resync_ms = match &raw.resync {
        Some(r) => dur("twins.resync", r)?,
        None => 3_600_000,
    };
    if resync_ms == 0 {
        return fail("twins.resync: must be more than 0".into());
    }
    let mut policies: Vec<(String, Policy)> = Vec::new();
    for (i, p) in raw.policy.iter().enumerate() {
        let scope: Tier = p
            .scope
            .parse()
            .map_err(|e| ScenarioError(format!("twins.policy[{i}].scope: {e}")))?;
        match policies.iter_mut().find(|(t, _)| *t == p.twin) {
            Some((_, pol)) => *pol = std::mem::take(pol).restrict(&p.field, scope),
            None => policies.push((p.twin.clone(), Policy::open().restrict(&p.field, scope))),
        }
    }
    let mut follows = Vec::new();
    for (i, f) in raw.follow.iter().enumerate() {
        let what = format!("twins.follow[{i}]");
        let (a, b) = (
            node(&format!("{what}.a"), &f.a)?,
            node(&format!("{what}.b"), &f.b)?,
        );
        if a == b {
            return fail(format!("{what}: a node does not follow itself"));
        }
        follows.push((a, b, f.twin.clone()));
    }
    let mut edits = Vec::new();
    for (i, e) in raw.edit.iter().enumerate() {
        let what = format!("twins.edit[{i}]");
        let every_ms = dur(&format!("{what}.every"), &e.every)?;
        if every_ms == 0 {
            return fail(format!("{what}.every: must be more than 0"));
        }
        let keys = e.keys.unwrap_or(10);
        if keys == 0 || keys > 1_000_000 {
            return fail(format!("{what}.keys: 1 to 1,000,000"));
        }
        edits.push(EditSpec {
            node: node(&format!("{what}.node"), &e.node)?,
            twin: e.twin.clone(),
            field: e.field.clone().unwrap_or_else(|| "f".into()),
            keys,
            every_ms,
            start_ms: match &e.start {
                Some(s) => dur(&format!("{what}.start"), s)?,
                None => 0,
            },
            stop_ms: match &e.stop {
                Some(s) => dur(&format!("{what}.stop"), s)?,
                None => duration,
            },
        });
    }
    Ok(TwinsSpec {
        resync_ms,
        policies,
        follows,
        edits,
    })
}

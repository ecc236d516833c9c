//! `dtnctl trace BUNDLE_ID`: where a bundle went. Each node keeps a forwarding log of the
//! bundles it handled (received from, forwarded to, delivered, deleted and why), kept after
//! the bundle leaves. `trace` starts at the node of `--api`, follows the log to every node
//! it names whose API it was told (`--node NODE-ID=URL`), and prints the events of all of
//! them in time order with the path they make. Status reports about the bundle that reached
//! the first node (its report-to endpoint) add what nodes without a known API said.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::{json, Value};

use crate::cli_io::dtn_time_text;
use crate::node_cli::{agent, field, get_json, get_json_with, ApiArgs};

/// Arguments of `dtnctl trace`.
#[derive(Debug, Args)]
pub struct TraceArgs {
    /// The bundle ID, as `dtnctl send` and `dtnctl bundles list` print it.
    pub bundle_id: String,
    /// Another node's API (repeatable): NODE-ID=URL, e.g. 'ipn:2.0=http://10.0.0.2:3000'.
    /// The trace follows the bundle to each node it can reach.
    #[arg(long = "node", value_name = "NODE=URL")]
    pub nodes: Vec<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// One node's log of the bundle: `None` when the node never saw it.
fn node_log(api: &str, id: &str) -> Result<(String, Option<Vec<Value>>)> {
    let args = ApiArgs {
        api: api.to_string(),
    };
    let status = get_json(&args, "/status")?;
    let node = field(&status, "node_id");
    let mut r = agent()
        .get(format!("{}/bundle", api.trim_end_matches('/')))
        .query("id", id)
        .call()
        .with_context(|| format!("contacting dtnd at {api}"))?;
    let code = r.status().as_u16();
    let body = r.body_mut().read_to_vec()?;
    match code {
        404 => Ok((node, None)),
        200 => {
            let v: Value = serde_json::from_slice(&body).context("dtnd's answer is not JSON")?;
            let log = v
                .get("log")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            Ok((node, Some(log)))
        }
        _ => bail!("{api} answered {code}: {}", String::from_utf8_lossy(&body)),
    }
}

/// The trace: every event, in time order, the path, and what could not be reached.
pub fn assemble(start_api: &str, id: &str, nodes: &[(String, String)]) -> Result<Value> {
    let apis: BTreeMap<&str, &str> = nodes
        .iter()
        .map(|(n, u)| (n.as_str(), u.as_str()))
        .collect();
    let mut queue: VecDeque<String> = VecDeque::from([start_api.to_string()]);
    let mut asked: BTreeSet<String> = BTreeSet::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut events: Vec<Value> = Vec::new();
    let mut named: BTreeSet<String> = BTreeSet::new();
    let mut unreachable: Vec<Value> = Vec::new();
    while let Some(api) = queue.pop_front() {
        if !asked.insert(api.clone()) {
            continue;
        }
        let (node, log) = match node_log(&api, id) {
            Ok(x) => x,
            Err(e) => {
                unreachable.push(json!({ "api": api, "error": format!("{e:#}") }));
                continue;
            }
        };
        seen.insert(node.clone());
        for e in log.unwrap_or_default() {
            if let Some(peer) = e.get("peer").and_then(Value::as_str) {
                named.insert(peer.to_string());
                if let Some(url) = apis.get(peer) {
                    queue.push_back((*url).to_string());
                }
            }
            let mut e = e;
            if let Some(o) = e.as_object_mut() {
                o.insert("node".into(), json!(node));
            }
            events.push(e);
        }
    }
    // Status reports that arrived at the first node: what the nodes reported themselves.
    let reports = get_json_with(
        &ApiArgs {
            api: start_api.to_string(),
        },
        "/reports",
        &[("id", id)],
    )
    .ok()
    .and_then(|v| v.as_array().cloned())
    .unwrap_or_default();
    for r in &reports {
        let node = field(r, "node");
        let kind = field(r, "kind");
        // A node whose own log was read already said it.
        if seen.contains(&node) {
            continue;
        }
        let mut e = json!({
            "at_ms": r.get("at_ms").cloned().unwrap_or(Value::Null),
            "node": node,
            "kind": kind,
            "event": format!("{kind} (status report)"),
            "from_report": true,
        });
        if kind == "delivered" {
            if let Some(o) = e.as_object_mut() {
                o.insert("endpoint".into(), json!("(reported)"));
            }
        }
        events.push(e);
    }
    events.sort_by_key(|e| e.get("at_ms").and_then(Value::as_u64).unwrap_or(0));
    // The path: from the node the bundle entered by, along each node's forwarding.
    let mut path: Vec<String> = Vec::new();
    let first = events
        .iter()
        .find(|e| field(e, "kind") == "received")
        .map(|e| match e.get("peer").and_then(Value::as_str) {
            Some(p) if !seen.contains(p) => p.to_string(),
            _ => field(e, "node"),
        });
    let mut at = first;
    while let Some(node) = at.take() {
        if path.contains(&node) {
            break;
        }
        path.push(node.clone());
        at = events
            .iter()
            .rev()
            .find(|e| field(e, "node") == node && field(e, "kind") == "forwarded")
            .map(|e| field(e, "peer"))
            .filter(|p| p != "-");
    }
    // Nodes known only from their status reports follow, in the order they reported.
    for e in &events {
        let node = field(e, "node");
        if e.get("from_report").is_some() && !path.contains(&node) {
            path.push(node);
        }
    }
    let outcome = events
        .iter()
        .rev()
        .find_map(|e| match field(e, "kind").as_str() {
            "delivered" | "deleted" => {
                Some(format!("{} at {}", field(e, "event"), field(e, "node")))
            }
            _ => None,
        })
        .unwrap_or_else(|| match path.last() {
            Some(last) if seen.contains(last) => format!("held at {last}"),
            Some(last) => format!("forwarded to {last}, whose API is not known (add --node)"),
            None => "no node reached knows this bundle".into(),
        });
    let unknown: Vec<&String> = named.iter().filter(|n| !seen.contains(*n)).collect();
    Ok(json!({
        "bundle": id,
        "path": path,
        "outcome": outcome,
        "events": events,
        "nodes_without_api": unknown,
        "unreachable": unreachable,
    }))
}

/// `dtnctl trace`.
pub fn trace(api: &ApiArgs, a: &TraceArgs) -> Result<()> {
    let mut nodes = Vec::new();
    for n in &a.nodes {
        let (node, url) = n
            .split_once('=')
            .with_context(|| format!("--node {n:?}: expected NODE-ID=URL"))?;
        nodes.push((node.to_string(), url.to_string()));
    }
    let v = assemble(&api.api, &a.bundle_id, &nodes)?;
    if a.json {
        println!("{v}");
        return Ok(());
    }
    println!("bundle {}", a.bundle_id);
    let events = v
        .get("events")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if events.is_empty() {
        println!("no node reached knows this bundle");
    }
    for e in &events {
        let at = e.get("at_ms").and_then(Value::as_u64).unwrap_or(0);
        println!(
            "  {}  {:<18} {}",
            dtn_time_text(at),
            field(e, "node"),
            field(e, "event")
        );
    }
    let path: Vec<String> = v
        .get("path")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.as_str().map(str::to_string))
        .collect();
    if !path.is_empty() {
        println!("path: {}", path.join(" -> "));
    }
    println!("outcome: {}", field(&v, "outcome"));
    for n in v
        .get("nodes_without_api")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        println!(
            "note: {} is named in a log but its API is unknown (--node {}=URL)",
            n.as_str().unwrap_or_default(),
            n.as_str().unwrap_or_default()
        );
    }
    for u in v
        .get("unreachable")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        println!(
            "note: {} unreachable: {}",
            field(u, "api"),
            field(u, "error")
        );
    }
    Ok(())
}

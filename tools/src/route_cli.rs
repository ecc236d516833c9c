//! `dtnctl route explain` and `dtnctl contacts`: ask a running `dtnd` how it would route a
//! bundle and why, and which contacts it plans with.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use serde_json::Value;

use crate::cli_io::{dtn_now, dtn_time_text, relative_text};
use crate::node_cli::{agent, field, get_json, get_json_with, url, ApiArgs};

/// `dtnctl route ...`.
#[derive(Debug, Subcommand)]
pub enum RouteCommand {
    /// Explain how the node would route a bundle now (or at --at): the next hop, the route
    /// and the contacts it uses, the expected arrival, the alternatives and what was
    /// rejected and why.
    Explain(ExplainArgs),
}

/// Arguments of `dtnctl route explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// Destination EID, e.g. ipn:3.1.
    pub destination: String,
    /// Bundle size in bytes (a contact must have that much volume left).
    #[arg(long, default_value_t = 1024)]
    pub size: u64,
    /// When the bundle would be sent: DTN milliseconds, or +DURATION from now (+90s, +2h).
    #[arg(long)]
    pub at: Option<String>,
    /// Its lifetime (ms, s, m, h, d): a route arriving later is no route.
    #[arg(long, default_value = "1d")]
    pub lifetime: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `dtnctl contacts`.
#[derive(Debug, Args)]
pub struct ContactsArgs {
    /// What to do (default: list the contacts).
    #[command(subcommand)]
    pub action: Option<ContactsAction>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `dtnctl contacts ...`.
#[derive(Debug, Subcommand)]
pub enum ContactsAction {
    /// Read the node's contact plan file again; an invalid plan is refused with the error
    /// and the old one stays in force.
    Reload,
}

/// `dtnctl route ...`.
pub fn route(api: &ApiArgs, cmd: &RouteCommand) -> Result<()> {
    match cmd {
        RouteCommand::Explain(a) => explain(api, a),
    }
}

fn hop_line(h: &Value, now: u64) -> String {
    let send = h.get("send_at_ms").and_then(Value::as_u64).unwrap_or(0);
    let arrive = h.get("arrive_at_ms").and_then(Value::as_u64).unwrap_or(0);
    format!(
        "{} -> {}  contact {}  sent {} ({}), arrives {} ({})",
        field(h, "from"),
        field(h, "to"),
        field(h, "contact"),
        dtn_time_text(send),
        relative_text(send, now),
        dtn_time_text(arrive),
        relative_text(arrive, now),
    )
}

fn print_route(label: &str, r: &Value, now: u64) {
    let arrival = r.get("arrival_ms").and_then(Value::as_u64).unwrap_or(0);
    println!(
        "{label}: arrives {} ({}), confidence {}",
        dtn_time_text(arrival),
        relative_text(arrival, now),
        field(r, "confidence")
    );
    for h in r
        .get("hops")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        println!("    {}", hop_line(h, now));
    }
}

fn explain(api: &ApiArgs, a: &ExplainArgs) -> Result<()> {
    let size = a.size.to_string();
    let mut query = vec![
        ("destination", a.destination.as_str()),
        ("size", size.as_str()),
        ("lifetime", a.lifetime.as_str()),
    ];
    if let Some(at) = &a.at {
        query.push(("at", at.as_str()));
    }
    let v = get_json_with(api, "/route", &query)?;
    if a.json {
        println!("{v}");
        return Ok(());
    }
    let now = dtn_now().0;
    println!(
        "{} bytes to {} ({} router)",
        field(&v, "size"),
        field(&v, "destination"),
        field(&v, "router")
    );
    match v.get("next_hop").and_then(Value::as_str) {
        Some(n) => println!("next hop: {n}"),
        None => println!("next hop: none (the bundle would wait)"),
    }
    if let Some(r) = v.get("chosen").filter(|r| !r.is_null()) {
        print_route("route", r, now);
    }
    for (i, r) in v
        .get("alternatives")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        print_route(&format!("alternative {}", i + 1), r, now);
    }
    let rejected: Vec<&Value> = v
        .get("rejected")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    if !rejected.is_empty() {
        println!("rejected:");
        for r in rejected {
            println!("    {}", r.as_str().unwrap_or_default());
        }
    }
    for n in v
        .get("notes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        println!("note: {}", n.as_str().unwrap_or_default());
    }
    Ok(())
}

/// `dtnctl contacts`.
pub fn contacts(api: &ApiArgs, a: &ContactsArgs) -> Result<()> {
    if let Some(ContactsAction::Reload) = a.action {
        let mut r = agent()
            .post(url(api, "/contacts/reload"))
            .send_empty()
            .with_context(|| format!("contacting dtnd at {}", api.api))?;
        let status = r.status().as_u16();
        let body = r.body_mut().read_to_string()?;
        if status != 200 {
            bail!("dtnd answered {status}: {body}");
        }
        if a.json {
            println!("{body}");
        } else {
            let v: Value = serde_json::from_str(&body).context("dtnd's answer is not JSON")?;
            println!(
                "reloaded {}: {} contacts",
                field(&v, "path"),
                field(&v, "contacts")
            );
        }
        return Ok(());
    }
    let v = get_json(api, "/contacts")?;
    if a.json {
        println!("{v}");
        return Ok(());
    }
    let list = v.as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        println!("no contact plan (the node routes by static routes and the links that are up)");
        return Ok(());
    }
    let now = dtn_now().0;
    println!(
        "{:>4}  {:<16} {:<16} {:<22} {:<24} {:<10} {:>12} {:>9} {:>5} {:>14}",
        "id", "from", "to", "state", "start", "lasts", "rate B/s", "owlt ms", "conf", "residual B"
    );
    for c in list {
        let start = c.get("start_ms").and_then(Value::as_u64).unwrap_or(0);
        let end = c.get("end_ms").and_then(Value::as_u64).unwrap_or(0);
        let state = match field(&c, "state").as_str() {
            "future" => format!("starts {}", relative_text(start, now)),
            "on" => format!("on, ends {}", relative_text(end, now)),
            _ => format!("ended {}", relative_text(end, now)),
        };
        println!(
            "{:>4}  {:<16} {:<16} {:<22} {:<24} {:<10} {:>12} {:>9} {:>5} {:>14}",
            field(&c, "id"),
            field(&c, "from"),
            field(&c, "to"),
            state,
            dtn_time_text(start),
            relative_text(end, start)
                .trim_start_matches("in ")
                .to_string(),
            field(&c, "rate"),
            field(&c, "owlt_ms"),
            field(&c, "confidence"),
            field(&c, "residual"),
        );
    }
    Ok(())
}

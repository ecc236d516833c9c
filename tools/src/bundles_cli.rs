//! `dtnctl bundles list | show | delete`: what a node stores, one bundle's story, and
//! removing one by hand.

use anyhow::{bail, Context, Result};

use crate::node_cli::{agent, field, get_json, get_json_with, url, ApiArgs};

/// `dtnctl bundles ...`.
#[derive(Debug, clap::Subcommand)]
pub enum BundlesCommand {
    /// List the bundles a node stores, with what each waits for.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one bundle: its blocks, what it waits for, and its log (also after it left).
    Show {
        /// The bundle ID as `bundles list` prints it.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete a stored bundle (a deletion status report goes out if it asked for one).
    Delete {
        /// The bundle ID as `bundles list` prints it.
        id: String,
    },
}

/// `dtnctl bundles`.
pub fn bundles(api: &ApiArgs, cmd: &BundlesCommand) -> Result<()> {
    match cmd {
        BundlesCommand::List { json } => list(api, *json),
        BundlesCommand::Show { id, json } => show(api, id, *json),
        BundlesCommand::Delete { id } => delete(api, id),
    }
}

fn show(api: &ApiArgs, id: &str, json: bool) -> Result<()> {
    let v = get_json_with(api, "/bundle", &[("id", id)])?;
    if json {
        println!("{v}");
        return Ok(());
    }
    println!("bundle    {}", field(&v, "id"));
    if v.get("stored").and_then(serde_json::Value::as_bool) == Some(true) {
        println!("to        {}", field(&v, "destination"));
        println!("size      {} bytes", field(&v, "size"));
        println!("waits for {}", field(&v, "waiting_for"));
        println!("expires   {} (DTN ms)", field(&v, "expires_at_ms"));
        if let Some(b) = v.get("bundle") {
            println!("bundle    {}", serde_json::to_string_pretty(b)?);
        }
    } else {
        println!("no longer stored here");
    }
    println!("log:");
    for e in v
        .get("log")
        .and_then(|l| l.as_array())
        .cloned()
        .unwrap_or_default()
    {
        println!("  {}  {}", field(&e, "at_ms"), field(&e, "event"));
    }
    Ok(())
}

fn delete(api: &ApiArgs, id: &str) -> Result<()> {
    let mut r = agent()
        .delete(url(api, "/bundle"))
        .query("id", id)
        .call()
        .with_context(|| format!("contacting dtnd at {}", api.api))?;
    match r.status().as_u16() {
        204 => {
            println!("deleted {id}");
            Ok(())
        }
        _ => bail!("{}", r.body_mut().read_to_string().unwrap_or_default()),
    }
}

fn list(api: &ApiArgs, json: bool) -> Result<()> {
    let v = get_json(api, "/bundles")?;
    if json {
        println!("{v}");
        return Ok(());
    }
    let list = v.as_array().cloned().unwrap_or_default();
    println!("{} bundle(s)", list.len());
    for b in &list {
        println!(
            "{}  to {}  {} bytes  waiting for {}",
            field(b, "id"),
            field(b, "destination"),
            field(b, "size"),
            field(b, "waiting_for")
        );
    }
    Ok(())
}

//! `dtnctl send | recv | status | peers`: talk to a running `dtnd` over its HTTP API.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::cli_io::parse_duration_ms;

/// Where the node's API is.
#[derive(Debug, Clone, Args)]
pub struct ApiArgs {
    /// Base URL of the node's HTTP API.
    #[arg(long, default_value = "http://127.0.0.1:3000", global = true)]
    pub api: String,
}

/// An HTTP client that returns error statuses as responses.
pub fn agent() -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::config::Config::builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build(),
    )
}

/// Arguments of `dtnctl send`.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// Destination EID, e.g. ipn:3.1.
    pub destination: String,
    /// Payload as text (default: read standard input).
    #[arg(long, conflicts_with = "file")]
    pub payload: Option<String>,
    /// Payload read from a file.
    #[arg(long)]
    pub file: Option<String>,
    /// Lifetime: a number with unit ms, s, m, h or d.
    #[arg(long, default_value = "1d")]
    pub lifetime: String,
    /// Priority on congested links: bulk, normal or expedited.
    #[arg(long, default_value = "normal", value_parser = ["bulk", "normal", "expedited"])]
    pub priority: String,
}

/// Arguments of `dtnctl recv`.
#[derive(Debug, Args)]
pub struct RecvArgs {
    /// Endpoint to receive on (registered first), e.g. ipn:3.1.
    pub endpoint: String,
    /// Stop after this many bundles.
    #[arg(long, short = 'n', default_value_t = 1)]
    pub count: usize,
    /// Give up after this long (ms, s, m, h, d); exit status 1 if fewer arrived.
    #[arg(long, default_value = "30s")]
    pub timeout: String,
    /// Print one JSON object per bundle instead of the raw payloads.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `dtnctl status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// The URL of `path` on the node's API.
pub fn url(api: &ApiArgs, path: &str) -> String {
    format!("{}{path}", api.api.trim_end_matches('/'))
}

/// `dtnctl send`.
pub fn send(api: &ApiArgs, a: &SendArgs) -> Result<()> {
    parse_duration_ms(&a.lifetime)?;
    let payload = match (&a.payload, &a.file) {
        (Some(p), _) => p.as_bytes().to_vec(),
        (None, Some(f)) => std::fs::read(f).with_context(|| format!("reading {f}"))?,
        (None, None) => {
            let mut v = Vec::new();
            std::io::stdin()
                .read_to_end(&mut v)
                .context("reading standard input")?;
            v
        }
    };
    let mut r = agent()
        .post(url(api, "/send"))
        .query("destination", &a.destination)
        .query("lifetime", &a.lifetime)
        .query("priority", &a.priority)
        .send(&payload[..])
        .with_context(|| format!("contacting dtnd at {}", api.api))?;
    let body = r.body_mut().read_to_string().unwrap_or_default();
    match r.status().as_u16() {
        201 => {
            println!(
                "sent {} bytes to {} as bundle {} (stored durably)",
                payload.len(),
                a.destination,
                body.trim()
            );
            Ok(())
        }
        code => bail!("dtnd refused the bundle ({code}): {body}"),
    }
}

/// `dtnctl recv`.
pub fn recv(api: &ApiArgs, a: &RecvArgs) -> Result<()> {
    let limit = Duration::from_millis(parse_duration_ms(&a.timeout)?);
    let agent = agent();
    let mut r = agent
        .post(url(api, "/register"))
        .query("endpoint", &a.endpoint)
        .send_empty()
        .with_context(|| format!("contacting dtnd at {}", api.api))?;
    if r.status().as_u16() != 204 {
        bail!(
            "registering {}: {}",
            a.endpoint,
            r.body_mut().read_to_string().unwrap_or_default()
        );
    }
    let deadline = Instant::now() + limit;
    let mut got = 0;
    let mut out = std::io::stdout().lock();
    while got < a.count {
        let mut r = agent
            .get(url(api, "/recv"))
            .query("endpoint", &a.endpoint)
            .call()
            .context("polling dtnd")?;
        match r.status().as_u16() {
            200 => {
                let payload = r.body_mut().read_to_vec().context("reading the payload")?;
                got += 1;
                if a.json {
                    let text = std::str::from_utf8(&payload).ok();
                    let v = serde_json::json!({ "endpoint": a.endpoint, "length": payload.len(), "payload_utf8": text, "payload_hex": hex::encode(&payload) });
                    writeln!(out, "{v}")?;
                } else {
                    out.write_all(&payload)?;
                    out.flush()?;
                }
            }
            204 => {
                if Instant::now() >= deadline {
                    bail!("received {got} of {} bundles within {}", a.count, a.timeout);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            code => bail!(
                "dtnd answered {code}: {}",
                r.body_mut().read_to_string().unwrap_or_default()
            ),
        }
    }
    Ok(())
}

/// `dtnctl status`.
pub fn status(api: &ApiArgs, a: &StatusArgs) -> Result<()> {
    let mut r = agent()
        .get(url(api, "/status"))
        .call()
        .with_context(|| format!("contacting dtnd at {}", api.api))?;
    let v: serde_json::Value = serde_json::from_slice(&r.body_mut().read_to_vec()?)
        .context("dtnd's status is not JSON")?;
    if a.json {
        println!("{v}");
    } else {
        let field = |k: &str| {
            v.get(k).map_or_else(
                || "?".to_string(),
                |x| x.as_str().map_or_else(|| x.to_string(), str::to_string),
            )
        };
        println!("node      {}", field("node_id"));
        println!("sessions  {}", field("sessions"));
        println!(
            "stored    {} bundles, {} of {} bytes",
            field("stored_bundles"),
            field("stored_bytes"),
            field("quota_bytes")
        );
        let stat = |k: &str| {
            v.get("stats")
                .and_then(|s| s.get(k))
                .map_or("?".to_string(), |x| x.to_string())
        };
        println!(
            "bundles   {} received, {} delivered ({} never stored), {} forwarded ({} never \
             stored), {} stored after being held, {} duplicates, {} refused, {} expired",
            stat("received"),
            stat("delivered"),
            stat("delivered_unstored"),
            stat("forwarded"),
            stat("forwarded_unstored"),
            stat("held_then_stored"),
            stat("duplicates"),
            stat("refused"),
            stat("expired")
        );
    }
    Ok(())
}

/// Arguments of `dtnctl peers`.
#[derive(Debug, Args)]
pub struct PeersArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Fetches JSON from the node.
pub fn get_json(api: &ApiArgs, path: &str) -> Result<serde_json::Value> {
    get_json_with(api, path, &[])
}

/// Fetches JSON from the node, with query parameters.
pub fn get_json_with(
    api: &ApiArgs,
    path: &str,
    query: &[(&str, &str)],
) -> Result<serde_json::Value> {
    let mut r = agent()
        .get(url(api, path))
        .query_pairs(query.iter().copied())
        .call()
        .with_context(|| format!("contacting dtnd at {}", api.api))?;
    let status = r.status().as_u16();
    let body = r.body_mut().read_to_vec()?;
    if status != 200 {
        bail!("dtnd answered {status}: {}", String::from_utf8_lossy(&body));
    }
    serde_json::from_slice(&body).context("dtnd's answer is not JSON")
}

/// A JSON field as text ("-" when absent or null).
pub fn field(v: &serde_json::Value, k: &str) -> String {
    match v.get(k) {
        None | Some(serde_json::Value::Null) => "-".to_string(),
        Some(x) => x.as_str().map_or_else(|| x.to_string(), str::to_string),
    }
}

/// `dtnctl peers`.
pub fn peers(api: &ApiArgs, a: &PeersArgs) -> Result<()> {
    let v = get_json(api, "/peers")?;
    if a.json {
        println!("{v}");
        return Ok(());
    }
    let list = v.as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        println!("no peers");
    }
    for p in &list {
        let auth = field(p, "node_id_authenticated");
        let mut tls = match p.get("tls").and_then(serde_json::Value::as_bool) {
            Some(true) if auth == "NoTls" => "  encrypted, peer not authenticated".to_string(),
            Some(true) => format!("  tls (node ID {auth})"),
            _ => String::new(),
        };
        if field(p, "convergence_layer") == "ltp" {
            let loss = p
                .get("ltp_loss_ppm")
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0);
            tls.push_str(&format!(
                "  engine {}, light time {} ms, rate {} B/s, {}, loss {:.1}%",
                field(p, "engine"),
                field(p, "owlt_ms"),
                field(p, "rate"),
                field(p, "color"),
                loss as f64 / 10_000.0
            ));
        }
        println!(
            "{:<16} {:<6} {:<22} {:<21} {}{}",
            field(p, "node_id"),
            field(p, "convergence_layer"),
            field(p, "address"),
            field(p, "state"),
            field(p, "found_by"),
            tls
        );
    }
    Ok(())
}

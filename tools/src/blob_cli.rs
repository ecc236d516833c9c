//! `dtnctl blob put|send|get|status|list`: store a file as a blob, send it to another node as
//! erasure-coded shards (each its own bundle), watch it arrive, and get it back by its hash.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use serde_json::Value;

use crate::node_cli::{agent, field, get_json_with, url, ApiArgs};

/// `dtnctl blob ...`.
#[derive(Debug, Subcommand)]
pub enum BlobCommand {
    /// Store a file on the node as a blob (addressed by its BLAKE3 hash); with --to, send it.
    Put(PutArgs),
    /// Send a stored blob to another node as erasure-coded shards.
    Send(SendArgs),
    /// Get a blob back by its hash (--wait: until it has arrived, with a progress bar).
    Get(GetArgs),
    /// A blob's state on the node: stored, or its transfer (shards received and needed,
    /// stripes ready, rate); --watch follows it until it completes.
    Status(StatusArgs),
    /// The node's blobs and transfers.
    List(ListArgs),
}

/// Where and how to send.
#[derive(Debug, Args, Clone)]
pub struct SendOptions {
    /// The destination node, e.g. ipn:2.0.
    #[arg(long)]
    pub to: Option<String>,
    /// Data and parity shards per stripe, K,M (default: the node's profile for the
    /// destination, else its default).
    #[arg(long, value_name = "K,M")]
    pub code: Option<String>,
    /// Largest shard in bytes (with --code) [default: 1 MiB].
    #[arg(long, value_name = "BYTES")]
    pub shard: Option<u32>,
}

/// Arguments of `dtnctl blob put`.
#[derive(Debug, Args)]
pub struct PutArgs {
    /// The file.
    pub file: String,
    /// Sending.
    #[command(flatten)]
    pub send: SendOptions,
    /// Upload the bytes even when the node runs on this machine (by default a local node
    /// reads the file itself, which is how blobs larger than a request go in).
    #[arg(long)]
    pub upload: bool,
}

/// Arguments of `dtnctl blob send`.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// The blob's hash.
    pub hash: String,
    /// Sending.
    #[command(flatten)]
    pub send: SendOptions,
}

/// Arguments of `dtnctl blob get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// The blob's hash.
    pub hash: String,
    /// Write it here (default: standard output).
    #[arg(long, short = 'o')]
    pub output: Option<String>,
    /// Wait for it to arrive, showing progress (on standard error).
    #[arg(long)]
    pub wait: bool,
    /// Give up waiting after this long (30s, 10m, 2h) [default: forever].
    #[arg(long)]
    pub timeout: Option<String>,
}

/// Arguments of `dtnctl blob status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The blob's (or its manifest's) hash.
    pub hash: String,
    /// Follow the transfer until it completes.
    #[arg(long)]
    pub watch: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `dtnctl blob list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs a `dtnctl blob` command.
pub fn blob(api: &ApiArgs, cmd: &BlobCommand) -> Result<()> {
    match cmd {
        BlobCommand::Put(a) => put(api, a),
        BlobCommand::Send(a) => send(api, &a.hash, &a.send).map(|_| ()),
        BlobCommand::Get(a) => get(api, a),
        BlobCommand::Status(a) => status(api, a),
        BlobCommand::List(a) => list(api, a.json),
    }
}

fn answer(mut r: ureq::http::Response<ureq::Body>, what: &str) -> Result<Value> {
    let status = r.status().as_u16();
    let body = r.body_mut().read_to_string()?;
    if status != 200 {
        bail!("dtnd refused {what} ({status}): {body}");
    }
    serde_json::from_str(&body).context("dtnd's answer is not JSON")
}

fn is_local(api: &ApiArgs) -> bool {
    let host = api.api.trim_start_matches("http://");
    host.starts_with("127.") || host.starts_with("localhost") || host.starts_with("[::1]")
}

fn put(api: &ApiArgs, a: &PutArgs) -> Result<()> {
    let path = std::fs::canonicalize(&a.file).with_context(|| a.file.clone())?;
    let r = if is_local(api) && !a.upload {
        agent()
            .post(url(api, "/blob"))
            .query("path", path.display().to_string())
            .send_empty()
    } else {
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", a.file))?;
        agent().post(url(api, "/blob")).send(&bytes[..])
    }
    .with_context(|| format!("contacting dtnd at {}", api.api))?;
    let v = answer(r, "the blob")?;
    let hash = field(&v, "hash");
    println!("{hash}  {} bytes", field(&v, "size"));
    if a.send.to.is_some() {
        send(api, &hash, &a.send)?;
    }
    Ok(())
}

fn send(api: &ApiArgs, hash: &str, o: &SendOptions) -> Result<Value> {
    let to = o.to.as_deref().context("--to NODE: where to send it")?;
    let mut req = agent()
        .post(url(api, "/blob/send"))
        .query("hash", hash)
        .query("to", to);
    if let Some(code) = &o.code {
        let (k, m) = code
            .split_once(',')
            .with_context(|| format!("--code {code:?}: expected K,M"))?;
        req = req.query("k", k.trim()).query("m", m.trim());
        if let Some(s) = o.shard {
            req = req.query("shard", s.to_string());
        }
    }
    let v = answer(
        req.send_empty()
            .with_context(|| format!("contacting dtnd at {}", api.api))?,
        "the send",
    )?;
    println!(
        "sending {hash} to {to}: manifest {}, {} shards (watch it arrive: dtnctl --api RECEIVER blob status {hash} --watch)",
        field(&v, "manifest"),
        field(&v, "total")
    );
    Ok(v)
}

fn mib(bytes: f64) -> String {
    format!("{:.1} MiB", bytes / (1 << 20) as f64)
}

/// One line of progress: a bar of shards received over needed, stripes, bytes and rate.
fn progress_line(t: &Value, rate: Option<f64>) -> String {
    let n = |k: &str| t.get(k).and_then(Value::as_u64).unwrap_or(0);
    match t.get("state").and_then(Value::as_str) {
        Some("receiving") => {
            let (got, need) = (n("received").min(n("needed")), n("needed").max(1));
            let width = 30;
            let filled = (got * width / need) as usize;
            format!(
                "[{}{}] {got}/{need} shards, {}/{} stripes, {}{}",
                "#".repeat(filled),
                ".".repeat(width as usize - filled),
                n("stripes_ready"),
                n("stripes"),
                mib(n("bytes") as f64),
                rate.map_or(String::new(), |r| format!(", {}/s", mib(r)))
            )
        }
        Some("sending") => format!(
            "sending to {}: {}/{} shards handed out, {} sent again",
            field(t, "peer"),
            n("sent"),
            n("total"),
            n("resent")
        ),
        Some("complete") => format!("complete (peer {})", field(t, "peer")),
        Some("failed") => format!("failed: {}", field(t, "reason")),
        _ => "no transfer".to_string(),
    }
}

/// Polls the node until the blob is stored there, drawing progress on standard error.
fn wait_for(api: &ApiArgs, hash: &str, limit: Option<Duration>) -> Result<()> {
    let start = Instant::now();
    let mut last: Option<(Instant, u64)> = None;
    let mut err = std::io::stderr();
    loop {
        let v = get_json_with(api, "/blob/status", &[("hash", hash)])?;
        if v.get("stored").is_some_and(|s| !s.is_null()) {
            let _ = writeln!(err, "\rstored: {hash}{}", " ".repeat(40));
            return Ok(());
        }
        let t = v.get("transfer").cloned().unwrap_or(Value::Null);
        if t.get("state").and_then(Value::as_str) == Some("failed") {
            bail!("{}", progress_line(&t, None));
        }
        let bytes = t.get("bytes").and_then(Value::as_u64).unwrap_or(0);
        let now = Instant::now();
        let rate = last.and_then(|(at, b)| {
            let secs = now.duration_since(at).as_secs_f64();
            (secs > 0.0).then(|| bytes.saturating_sub(b) as f64 / secs)
        });
        let _ = write!(err, "\r{}   ", progress_line(&t, rate));
        let _ = err.flush();
        last = Some((now, bytes));
        if limit.is_some_and(|l| start.elapsed() > l) {
            bail!("gave up waiting for {hash}");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn get(api: &ApiArgs, a: &GetArgs) -> Result<()> {
    let limit = match &a.timeout {
        Some(t) => Some(Duration::from_millis(crate::cli_io::parse_duration_ms(t)?)),
        None => None,
    };
    if a.wait {
        wait_for(api, &a.hash, limit)?;
    }
    match &a.output {
        Some(out) if is_local(api) => {
            let out = std::path::absolute(out).with_context(|| out.clone())?;
            answer(
                agent()
                    .get(url(api, "/blob"))
                    .query("hash", &a.hash)
                    .query("path", out.display().to_string())
                    .call()
                    .with_context(|| format!("contacting dtnd at {}", api.api))?,
                "the blob",
            )?;
            eprintln!("wrote {}", out.display());
        }
        _ => {
            let mut r = agent()
                .get(url(api, "/blob"))
                .query("hash", &a.hash)
                .call()
                .with_context(|| format!("contacting dtnd at {}", api.api))?;
            let status = r.status().as_u16();
            let bytes = r.body_mut().with_config().limit(u64::MAX).read_to_vec()?;
            if status != 200 {
                bail!(
                    "dtnd refused the blob ({status}): {}",
                    String::from_utf8_lossy(&bytes)
                );
            }
            match &a.output {
                Some(out) => std::fs::write(out, &bytes).with_context(|| out.clone())?,
                None => std::io::stdout().write_all(&bytes)?,
            }
        }
    }
    Ok(())
}

fn status(api: &ApiArgs, a: &StatusArgs) -> Result<()> {
    if a.watch {
        return wait_for(api, &a.hash, None);
    }
    let v = get_json_with(api, "/blob/status", &[("hash", &a.hash)])?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    match v.get("stored").filter(|s| !s.is_null()) {
        Some(s) => println!(
            "stored: {} bytes, {} holders",
            field(s, "size"),
            field(s, "refs")
        ),
        None => println!("not stored here"),
    }
    if let Some(t) = v.get("transfer").filter(|t| !t.is_null()) {
        println!("{}", progress_line(t, None));
    }
    Ok(())
}

fn list(api: &ApiArgs, as_json: bool) -> Result<()> {
    let v = get_json_with(api, "/blobs", &[])?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!(
        "{} of {} bytes used",
        field(&v, "used_bytes"),
        field(&v, "quota_bytes")
    );
    for b in v
        .get("blobs")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
    {
        println!(
            "{}  {} bytes  {} holders",
            field(&b, "hash"),
            field(&b, "size"),
            field(&b, "refs")
        );
    }
    for t in v
        .get("transfers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
    {
        println!("{}  {}", field(&t, "blob"), progress_line(&t, None));
    }
    Ok(())
}

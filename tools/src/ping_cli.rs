//! `dtnctl ping NODE`: round trips through a node's echo service, timed like ping(8).
//!
//! Each request is a bundle from a fresh endpoint of the local node to the target's echo
//! endpoint ([`crate::dtnd::echo`]); the reply comes back to that endpoint and is pushed to
//! us over the API's WebSocket, so the time measured is application to application: from
//! handing the request to the node (over `/ws/send`) to the reply's arrival: the way there,
//! the echo, the way back. The node's answer that the request was made durable (by the
//! local store, or by the next hop when it left at once) is read after the reply, outside
//! the time, and a refusal ends the ping with the node's reason. Like ping(8), which does
//! not wait for anything but the echo.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bundle_agent::wire::Eid;
use clap::Args;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

use crate::cli_io::{parse_duration_ms, random_bytes};
use crate::node_cli::{get_json, ApiArgs};

/// Arguments of `dtnctl ping`.
#[derive(Debug, Args)]
pub struct PingArgs {
    /// The node to ping (its node ID, e.g. ipn:3.0), or an echo endpoint.
    pub target: String,
    /// Number of requests.
    #[arg(long, short = 'c', default_value_t = 5)]
    pub count: u32,
    /// Time between requests (ms, s, m, ...).
    #[arg(long, short = 'i', default_value = "1s")]
    pub interval: String,
    /// How long to wait for each reply.
    #[arg(long, short = 'W', default_value = "10s")]
    pub timeout: String,
    /// Payload bytes per request (at least 24).
    #[arg(long, short = 's', default_value_t = 64)]
    pub size: usize,
    /// Print the summary as JSON (RTTs in milliseconds).
    #[arg(long)]
    pub json: bool,
}

type Ws = WebSocket<MaybeTlsStream<TcpStream>>;

/// Opens the WebSocket at `path_and_query` of the node's API; `what` names it in errors.
fn open(api: &ApiArgs, path_and_query: &str, what: &str) -> Result<Ws> {
    let base = api.api.trim_end_matches('/');
    let ws_base = base
        .strip_prefix("http://")
        .map(|rest| format!("ws://{rest}"))
        .with_context(|| format!("--api {base}: only http:// APIs are supported"))?;
    let target = format!("{ws_base}{path_and_query}");
    let (ws, _) = tungstenite::connect(target.as_str())
        .with_context(|| format!("opening the {what} socket at {target}"))?;
    Ok(ws)
}

/// The push socket for bundles to `endpoint`.
fn subscribe(api: &ApiArgs, endpoint: &Eid) -> Result<Ws> {
    open(api, &format!("/ws?endpoint={endpoint}"), "push")
}

/// The submission socket for requests from `me` to `echo` living `lifetime`.
fn submitter(api: &ApiArgs, echo: &Eid, me: &Eid, lifetime: Duration) -> Result<Ws> {
    let query = format!(
        "/ws/send?destination={echo}&source={me}&lifetime={}ms",
        lifetime.as_millis().max(1000)
    );
    open(api, &query, "submission")
}

/// Reads messages from `ws` until `pick` decides on one (its `Some`), or `deadline`
/// passes (`Ok(false)`); `what` names the socket in errors.
fn read_until(
    ws: &mut Ws,
    deadline: Instant,
    what: &str,
    mut pick: impl FnMut(Message) -> Result<Option<bool>>,
) -> Result<bool> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        if let MaybeTlsStream::Plain(s) = ws.get_mut() {
            s.set_read_timeout(Some(left))?;
        }
        match ws.read() {
            Ok(Message::Close(_)) => bail!("the node closed the {what} socket"),
            Ok(m) => {
                if let Some(decided) = pick(m)? {
                    return Ok(decided);
                }
            }
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(false)
            }
            Err(e) => return Err(e).with_context(|| format!("reading the {what} socket")),
        }
    }
}

/// Reads the node's answer to one request: Ok(true) once durable, an error with the node's
/// reason when refused, Ok(false) when none came by `deadline`.
fn await_answer(tx: &mut Ws, deadline: Instant) -> Result<bool> {
    read_until(tx, deadline, "submission", |m| match m {
        Message::Text(t) if t.starts_with("error") => bail!(
            "dtnd refused the request: {}",
            t.trim_start_matches("error: ")
        ),
        Message::Text(_) => Ok(Some(true)),
        _ => Ok(None),
    })
}

/// Waits until the reply whose payload starts with `tag` arrives, or the deadline passes.
fn await_reply(ws: &mut Ws, tag: &[u8], deadline: Instant) -> Result<bool> {
    read_until(ws, deadline, "push", |m| {
        Ok(matches!(m, Message::Binary(p) if p.starts_with(tag)).then_some(true))
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `dtnctl ping`.
pub fn ping(api: &ApiArgs, a: &PingArgs) -> Result<()> {
    let interval = Duration::from_millis(parse_duration_ms(&a.interval)?);
    let timeout = Duration::from_millis(parse_duration_ms(&a.timeout)?);
    let target: Eid = a
        .target
        .parse()
        .map_err(|e| anyhow::anyhow!("{:?}: {e}", a.target))?;
    let echo = if target.is_node_id() {
        crate::dtnd::echo::endpoint(&target)
    } else {
        target
    };
    let status = get_json(api, "/status")?;
    let node: Eid = status
        .get("node_id")
        .and_then(|v| v.as_str())
        .context("dtnd's status has no node_id")?
        .parse()
        .map_err(|e| anyhow::anyhow!("dtnd's node ID: {e}"))?;
    let nonce = u32::from_be_bytes(random_bytes::<4>()?);
    let me: Eid = match &node {
        Eid::Ipn(i) => Eid::Ipn(bundle_agent::wire::IpnEid {
            service: 0x1_0000 + u64::from(nonce % 0x7fff_0000),
            ..*i
        }),
        other => format!("{other}ping-{nonce:08x}")
            .parse()
            .map_err(|e| anyhow::anyhow!("ping endpoint: {e}"))?,
    };
    let mut ws = subscribe(api, &me)?;
    let mut tx = submitter(api, &echo, &me, timeout)?;
    if !a.json {
        println!("PING {echo} from {me}: {} bytes", a.size.max(24));
    }
    let mut rtts = Vec::new();
    for seq in 1..=a.count {
        let tag = format!("dtnping {nonce:08x} {seq:08} ");
        let mut payload = tag.clone().into_bytes();
        payload.resize(a.size.max(tag.len()), b'.');
        let start = Instant::now();
        tx.send(Message::Binary(payload.into()))
            .with_context(|| format!("sending to dtnd at {}", api.api))?;
        let replied = await_reply(&mut ws, tag.as_bytes(), start + timeout)?;
        let rtt = start.elapsed();
        // The request's answer comes once it is durable: after the reply, as a rule; a
        // refusal (store full, say) explains a missing reply.
        let answer_by = (start + timeout).max(Instant::now() + Duration::from_secs(1));
        if !await_answer(&mut tx, answer_by)? && !a.json {
            println!("no answer from dtnd on request seq={seq} (waited {timeout:?})");
        }
        if replied {
            rtts.push(rtt);
            if !a.json {
                println!("reply from {echo}: seq={seq} time={:.3} ms", ms(rtt));
            }
        } else if !a.json {
            println!("no reply from {echo}: seq={seq} (waited {:?})", timeout);
        }
        if seq < a.count {
            std::thread::sleep(interval);
        }
    }
    let _ = ws.close(None);
    let _ = tx.close(None);
    let received = rtts.len() as u32;
    let loss = 100.0 * f64::from(a.count - received) / f64::from(a.count.max(1));
    let min = rtts.iter().min().copied().map(ms);
    let max = rtts.iter().max().copied().map(ms);
    let avg =
        (!rtts.is_empty()).then(|| rtts.iter().map(|d| ms(*d)).sum::<f64>() / rtts.len() as f64);
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "target": echo.to_string(), "sent": a.count, "received": received,
                "loss_percent": loss, "rtt_min_ms": min, "rtt_avg_ms": avg, "rtt_max_ms": max,
                "rtts_ms": rtts.iter().map(|d| ms(*d)).collect::<Vec<_>>(),
            })
        );
    } else {
        println!("--- {echo} ping statistics ---");
        println!("{} sent, {received} received, {loss:.0}% loss", a.count);
        if let (Some(min), Some(avg), Some(max)) = (min, avg, max) {
            println!("rtt min/avg/max = {min:.3}/{avg:.3}/{max:.3} ms");
        }
    }
    if received == 0 {
        bail!("no replies");
    }
    Ok(())
}

//! `dtnctl twin list|get|set|watch|history`: read and edit a node's digital twins, and watch
//! them change as edits from other nodes merge.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};

use crate::cli_io::dtn_time_text;
use crate::node_cli::{agent, field, get_json, get_json_with, url, ApiArgs};

/// `dtnctl twin ...`.
#[derive(Debug, Subcommand)]
pub enum TwinCommand {
    /// The twins on the node: fields, size, the peers they sync with, changes so far.
    List(JsonFlag),
    /// A twin's fields.
    Get(GetArgs),
    /// Edit a twin (created on first edit): KEY=VALUE sets a plain value (a number, true or
    /// false, else text; quote it, '"42"', to force text). The edits apply all or none;
    /// they reach the twin's followers as one delta.
    Set(SetArgs),
    /// Print each change to the node's twins as it merges (local edits and peers' deltas),
    /// until interrupted.
    Watch(WatchArgs),
    /// A twin's last changes: when, from which node (or local), which fields.
    History(HistoryArgs),
}

/// `--json`.
#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `dtnctl twin get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// The twin, e.g. pod7/hvac.
    pub twin: String,
    /// Only this field.
    pub field: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `dtnctl twin set`.
#[derive(Debug, Args)]
pub struct SetArgs {
    /// The twin, e.g. pod7/hvac.
    pub twin: String,
    /// Plain values to set: KEY=VALUE.
    pub values: Vec<String>,
    /// Add to a counter (repeatable): KEY=NUMBER; concurrent additions all count.
    #[arg(long = "add", value_name = "KEY=N")]
    pub add: Vec<String>,
    /// Append to a list (repeatable): KEY=VALUE.
    #[arg(long = "push", value_name = "KEY=VALUE")]
    pub push: Vec<String>,
    /// Make a text read TEXT (repeatable): KEY=TEXT; concurrent edits elsewhere in the text
    /// are kept.
    #[arg(long = "text", value_name = "KEY=TEXT")]
    pub text: Vec<String>,
    /// Remove a plain value (repeatable).
    #[arg(long = "remove", value_name = "KEY")]
    pub remove: Vec<String>,
}

/// Arguments of `dtnctl twin watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Twin name pattern (`*` matches anything) [default: every twin].
    pub twin: Option<String>,
    /// Stop after this many changes.
    #[arg(long)]
    pub count: Option<u64>,
    /// Print each change as a JSON line.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `dtnctl twin history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The twin.
    pub twin: String,
    /// Most changes shown.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs a `dtnctl twin` command.
pub fn twin(api: &ApiArgs, cmd: &TwinCommand) -> Result<()> {
    match cmd {
        TwinCommand::List(a) => list(api, a.json),
        TwinCommand::Get(a) => get(api, a),
        TwinCommand::Set(a) => set(api, a),
        TwinCommand::Watch(a) => watch(api, a),
        TwinCommand::History(a) => history(api, a),
    }
}

fn list(api: &ApiArgs, as_json: bool) -> Result<()> {
    let v = get_json(api, "/twins")?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let twins = v.as_array().cloned().unwrap_or_default();
    if twins.is_empty() {
        println!("no twins");
    }
    for t in twins {
        let peers: Vec<String> = t
            .get("peers")
            .and_then(Value::as_array)
            .map(|p| {
                p.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        println!(
            "{}  {} fields  {} bytes  {} changes  peers: {}",
            field(&t, "name"),
            field(&t, "fields"),
            field(&t, "size"),
            field(&t, "changes"),
            if peers.is_empty() {
                "-".to_string()
            } else {
                peers.join(", ")
            }
        );
    }
    Ok(())
}

fn get(api: &ApiArgs, a: &GetArgs) -> Result<()> {
    let v = get_json_with(api, "/twin", &[("name", &a.twin)])?;
    let fields = v.get("fields").cloned().unwrap_or(Value::Null);
    if let Some(key) = &a.field {
        let f = fields
            .get(key)
            .with_context(|| format!("twin {} has no field {key:?}", a.twin))?;
        println!("{}", if a.json { f.to_string() } else { shown(f) });
        return Ok(());
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let kinds = v.get("kinds").cloned().unwrap_or(Value::Null);
    for (k, f) in fields.as_object().cloned().unwrap_or_default() {
        let kind = kinds.get(&k).and_then(Value::as_str).unwrap_or("value");
        let tag = if kind == "value" {
            String::new()
        } else {
            format!("  ({kind})")
        };
        println!("{k} = {}{tag}", shown(&f));
    }
    Ok(())
}

/// A JSON value as a person reads it: strings without quotes, whole numbers without `.0`.
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => format!("{}", f as i64),
            _ => n.to_string(),
        },
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(shown).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    }
}

/// KEY=VALUE with the value typed: number, boolean, else text ('"..."' forces text).
fn typed(pair: &str, what: &str) -> Result<(String, Value)> {
    let (k, v) = pair
        .split_once('=')
        .with_context(|| format!("{what} {pair:?}: expected KEY=VALUE"))?;
    if k.is_empty() {
        bail!("{what} {pair:?}: empty field name");
    }
    let value = if let Some(inner) = v.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        Value::String(inner.to_string())
    } else if let Ok(n) = v.parse::<f64>() {
        json!(n)
    } else if v == "true" || v == "false" {
        Value::Bool(v == "true")
    } else {
        Value::String(v.to_string())
    };
    Ok((k.to_string(), value))
}

/// The JSON body of `POST /twin` for these arguments.
pub fn edit_body(a: &SetArgs) -> Result<Value> {
    let mut body = Map::new();
    let mut group = |name: &str, entries: Vec<(String, Value)>| {
        if !entries.is_empty() {
            body.insert(name.into(), Value::Object(entries.into_iter().collect()));
        }
    };
    group(
        "set",
        a.values
            .iter()
            .map(|p| typed(p, "value"))
            .collect::<Result<_>>()?,
    );
    let mut adds = Vec::new();
    for p in &a.add {
        let (k, v) = typed(p, "--add")?;
        if !v.is_number() {
            bail!("--add {p:?}: expected KEY=NUMBER");
        }
        adds.push((k, v));
    }
    group("add", adds);
    group(
        "push",
        a.push
            .iter()
            .map(|p| typed(p, "--push"))
            .collect::<Result<_>>()?,
    );
    let mut texts = Vec::new();
    for p in &a.text {
        let (k, v) = p
            .split_once('=')
            .with_context(|| format!("--text {p:?}: expected KEY=TEXT"))?;
        texts.push((k.to_string(), Value::String(v.to_string())));
    }
    group("text", texts);
    if !a.remove.is_empty() {
        body.insert("remove".into(), json!(a.remove));
    }
    if body.is_empty() {
        bail!("nothing to set: give KEY=VALUE, --add, --push, --text or --remove");
    }
    Ok(Value::Object(body))
}

fn set(api: &ApiArgs, a: &SetArgs) -> Result<()> {
    let body = edit_body(a)?;
    let mut r = agent()
        .post(url(api, "/twin"))
        .query("name", &a.twin)
        .header("content-type", "application/json")
        .send(body.to_string().as_bytes())
        .with_context(|| format!("contacting dtnd at {}", api.api))?;
    let status = r.status().as_u16();
    let text = r.body_mut().read_to_string()?;
    if status != 200 {
        bail!("dtnd refused the edit ({status}): {text}");
    }
    let change: Value = serde_json::from_str(&text).context("dtnd's answer is not JSON")?;
    println!(
        "{}: change {} ({} field{})",
        a.twin,
        field(&change, "seq"),
        field(&change, "changed"),
        if change.get("changed").and_then(Value::as_u64) == Some(1) {
            ""
        } else {
            "s"
        }
    );
    Ok(())
}

fn change_line(c: &Value) -> String {
    let at = c.get("at_ms").and_then(Value::as_u64).unwrap_or(0);
    let origin = c
        .get("origin")
        .and_then(Value::as_str)
        .unwrap_or("local edit");
    let mut line = format!(
        "{}  {} #{}  from {origin}:",
        dtn_time_text(at),
        field(c, "twin"),
        field(c, "seq")
    );
    let keys: Vec<&str> = c
        .get("keys")
        .and_then(Value::as_array)
        .map(|k| k.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for k in &keys {
        match c.get("values").and_then(|v| v.get(*k)) {
            Some(v) => line.push_str(&format!(" {k}={}", shown(v))),
            None => line.push_str(&format!(" {k}")),
        }
    }
    let changed = c.get("changed").and_then(Value::as_u64).unwrap_or(0);
    if changed > keys.len() as u64 {
        line.push_str(&format!(" (+{} more)", changed - keys.len() as u64));
    }
    line
}

fn watch(api: &ApiArgs, a: &WatchArgs) -> Result<()> {
    let base = api.api.trim_end_matches('/');
    let ws_base = base
        .strip_prefix("http://")
        .map(|rest| format!("ws://{rest}"))
        .with_context(|| format!("--api {base}: only http:// APIs are supported"))?;
    let pattern = a.twin.clone().unwrap_or_else(|| "*".into());
    let target = format!("{ws_base}/twin/watch?name={}", url_escape(&pattern));
    let (mut ws, _) = tungstenite::connect(target.as_str())
        .with_context(|| format!("opening the watch socket at {target}"))?;
    eprintln!("watching {pattern} on {base} (Ctrl-C to stop)");
    let mut seen = 0u64;
    loop {
        if a.count.is_some_and(|n| seen >= n) {
            return Ok(());
        }
        match ws.read().context("reading the watch socket")? {
            tungstenite::Message::Text(t) => {
                let c: Value = serde_json::from_str(t.as_str()).context("a change is not JSON")?;
                if let Some(n) = c.get("lagged") {
                    eprintln!("(missed {n} changes: the watcher fell behind)");
                    continue;
                }
                if a.json {
                    println!("{c}");
                } else {
                    println!("{}", change_line(&c));
                }
                seen += 1;
            }
            tungstenite::Message::Close(_) => bail!("the node closed the watch socket"),
            _ => {}
        }
    }
}

/// Percent-encodes what a query value may not hold as is.
fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' | b'*' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn history(api: &ApiArgs, a: &HistoryArgs) -> Result<()> {
    let limit = a.limit.to_string();
    let v = get_json_with(
        api,
        "/twin/history",
        &[("name", &a.twin), ("limit", &limit)],
    )?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    for c in v.as_array().cloned().unwrap_or_default() {
        println!("{}", change_line(&c));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_arguments_become_one_edit_body() {
        let a = SetArgs {
            twin: "pod7/hvac".into(),
            values: vec![
                "t=21.5".into(),
                "mode=auto".into(),
                "on=true".into(),
                "id=\"42\"".into(),
            ],
            add: vec!["starts=1".into()],
            push: vec!["log=filter".into()],
            text: vec!["notes=a=b".into()],
            remove: vec!["old".into()],
        };
        let b = edit_body(&a).unwrap();
        assert_eq!(b["set"]["t"], json!(21.5));
        assert_eq!(b["set"]["mode"], json!("auto"));
        assert_eq!(b["set"]["on"], json!(true));
        assert_eq!(b["set"]["id"], json!("42"));
        assert_eq!(b["add"]["starts"], json!(1.0));
        assert_eq!(b["text"]["notes"], json!("a=b"));
        assert_eq!(b["remove"], json!(["old"]));
        let bad = SetArgs {
            add: vec!["n=lots".into()],
            ..a
        };
        assert!(edit_body(&bad)
            .unwrap_err()
            .to_string()
            .contains("KEY=NUMBER"));
    }
}

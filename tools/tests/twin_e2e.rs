//! Twin state through real `dtnd` processes. Pods 7 and 8 and hub 1 follow the twin
//! `site/hvac`; raw readings (`raw.*`) may not leave the pods. The pods' link runs through a
//! relay that starts down: both pods edit the twin while apart, the link comes up, and both
//! see the merged result; the hub sees it too, without the raw readings, which are never in
//! the bytes pod 7 sends up (the relay to the hub keeps a copy). The hub may not write a raw
//! reading. Pod 8 is killed with SIGKILL in the middle of a stream of pod 7's edits, and
//! converges after its restart, its own edits kept. `dtnctl twin watch` and `history` show the changes.

// Test code: a panic is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{dtnctl, free_port, ok, Node};
use netsim::emulate::proxy::LinkRelay;
use netsim::link::LinkModel;
use netsim::rng::Rng;
use serde_json::Value;

fn twin_flags(tier: &str, follows: &[&str]) -> Vec<String> {
    let mut v = vec![
        "--tier".to_string(),
        tier.to_string(),
        "--twin-policy".into(),
        "site/*:raw.*=pod".into(),
        "--twin-resync".into(),
        "2s".into(),
        // Pods and tiles discover peers by default; here the links are the test's relays.
        "--discovery".into(),
        "off".into(),
    ];
    for f in follows {
        v.push("--twin-follow".into());
        v.push((*f).to_string());
    }
    v
}

fn fields(node: &Node) -> Value {
    match node.get("/twin?name=site/hvac") {
        Some((200, body)) => serde_json::from_slice::<Value>(&body).unwrap()["fields"].clone(),
        _ => Value::Null,
    }
}

fn wait_fields(node: &Node, what: &str, f: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let v = fields(node);
        if f(&v) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {v}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn pods_edit_apart_converge_and_raw_readings_stay_in_the_pods() {
    let dir = tempfile::tempdir().unwrap();
    let (p7, p8, h1) = (free_port(), free_port(), free_port());
    let addr = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
    let poe = LinkModel::preset("poe").unwrap();
    let pods = LinkRelay::start(addr(p8), poe.clone(), false, Rng::stream(1, "pods")).unwrap();
    let up = LinkRelay::start(addr(h1), poe, true, Rng::stream(2, "up")).unwrap();
    up.record(16 << 20);
    let mut pod8 = Node::start_with(
        dir.path(),
        "dtn://pod8/",
        p8,
        &[],
        &[],
        &twin_flags("pod", &["site/*=dtn://pod7/@pod"]),
    );
    let hub = Node::start_with(
        dir.path(),
        "dtn://hub1/",
        h1,
        &[],
        &[],
        &twin_flags("hub", &["site/*=dtn://pod7/@pod"]),
    );
    let mut pod7_flags = twin_flags("pod", &["site/*=dtn://pod8/@pod", "site/*=dtn://hub1/@hub"]);
    for relay in [&pods, &up] {
        pod7_flags.push("--peer".into());
        pod7_flags.push(relay.addr.to_string());
    }
    let pod7 = Node::start_with(dir.path(), "dtn://pod7/", p7, &[], &[], &pod7_flags);

    // Apart: both pods edit the same twin.
    ok(dtnctl(
        &pod7,
        &[
            "twin",
            "set",
            "site/hvac",
            "setpoint=21.5",
            "raw.temp=RAWSECRET77",
            "mode=auto",
        ],
    ));
    ok(dtnctl(
        &pod8,
        &[
            "twin",
            "set",
            "site/hvac",
            "fan=3",
            "--add",
            "starts=1",
            "--text",
            "notes=pump ok",
        ],
    ));
    ok(dtnctl(
        &pod7,
        &["twin", "set", "site/hvac", "--add", "starts=2"],
    ));
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        fields(&pod8).get("setpoint").is_none(),
        "the pods are apart"
    );

    // The hub watches while the link comes up.
    let watcher = std::process::Command::new(env!("CARGO_BIN_EXE_dtnctl"))
        .args([
            "--api",
            &hub.url(""),
            "twin",
            "watch",
            "site/*",
            "--json",
            "--count",
            "1",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    pods.set_up(true);
    let merged = |v: &Value| {
        v["setpoint"] == 21.5 && v["fan"] == 3.0 && v["starts"] == 3.0 && v["notes"] == "pump ok"
    };
    let at7 = wait_fields(&pod7, "pod 7 to merge pod 8's edits", merged);
    let at8 = wait_fields(&pod8, "pod 8 to merge pod 7's edits", |v| {
        merged(v) && v["raw.temp"] == "RAWSECRET77"
    });
    assert_eq!(at7, at8, "both pods see the same twin");
    let at_hub = wait_fields(&hub, "the hub to get the merged twin", merged);
    assert!(
        at_hub.get("raw.temp").is_none(),
        "raw readings stay in the pods: {at_hub}"
    );
    let seen = watcher.wait_with_output().unwrap();
    let change: Value = serde_json::from_slice(&seen.stdout).unwrap();
    assert_eq!(change["twin"], "site/hvac");
    assert_eq!(change["origin"], "dtn://pod7/");

    // Check the bytes: what pod 7 sent towards the hub has the set point, never the reading.
    let upward = up.recorded(0);
    assert!(contains(&upward, "setpoint"), "the tap saw the twin go up");
    assert!(!contains(&upward, "RAWSECRET77"), "a raw reading went up");
    assert!(!contains(&upward, "raw.temp"), "a raw field name went up");
    // The hub may not write a raw reading.
    let refused = dtnctl(&hub, &["twin", "set", "site/hvac", "raw.temp=1"]);
    assert!(!refused.status.success());
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(
        why.contains("403") && why.contains("may not leave the pod"),
        "{why}"
    );

    // Pod 8 is killed in the middle of a stream of edits from pod 7 (deltas on their way to
    // it, some merged and some not); after a restart it converges.
    for i in 0..30 {
        if i == 10 {
            pod8.kill9();
        }
        ok(dtnctl(
            &pod7,
            &["twin", "set", "site/hvac", &format!("setpoint={}", 22 + i)],
        ));
    }
    ok(dtnctl(
        &pod7,
        &["twin", "set", "site/hvac", "--push", "log=filter changed"],
    ));
    pod8.spawn();
    let after = wait_fields(&pod8, "pod 8 to converge after its restart", |v| {
        v["setpoint"] == 51.0 && v["log"] == serde_json::json!(["filter changed"])
    });
    assert_eq!(after["fan"], 3.0, "pod 8's own edits survived the kill");
    wait_fields(&pod7, "pod 7 and pod 8 to agree", |v| *v == after);

    // History and listing through dtnctl.
    let history = ok(dtnctl(
        &pod8,
        &["twin", "history", "site/hvac", "--limit", "100"],
    ));
    assert!(
        history.contains("from dtn://pod7/") && history.contains("from local edit"),
        "{history}"
    );
    let list = ok(dtnctl(&pod7, &["twin", "list"]));
    assert!(
        list.contains("site/hvac") && list.contains("dtn://hub1/"),
        "{list}"
    );
    let got = ok(dtnctl(&hub, &["twin", "get", "site/hvac"]));
    assert!(
        got.contains("setpoint = 51") && got.contains("starts = 3  (counter)"),
        "{got}"
    );
}

//! Epidemic, spray-and-wait and PRoPHET with real `dtnd` processes over links that come and
//! go: B is a data mule. A contact plan (used here only to schedule links; the router is
//! opportunistic) has B meet C (2-5 s), then A (6-10 s), then C again (11-16 s). A bundle
//! from A to C can only get there by a copy that B carries. Each router must hand B a copy
//! while they meet (keeping its own), and B must deliver it to C at the second meeting.

// Test code: a panic is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use common::{dtnctl, free_port, Node};
use serde_json::Value;

const PLAN: &str = "
[[contact]]
from = \"ipn:2.0\"
to = \"ipn:3.0\"
start = 2
end = 5
rate = 1000000

[[contact]]
from = \"ipn:2.0\"
to = \"ipn:1.0\"
start = 6
end = 10
rate = 1000000

[[contact]]
from = \"ipn:2.0\"
to = \"ipn:3.0\"
start = 11
end = 16
rate = 1000000
";

/// Runs the mule scenario with `router`; returns A's log of the bundle.
fn mule(router: &[&str]) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let epoch = tools::cli_io::dtn_now().0 + 2_000;
    let plan_path = dir.path().join("plan.toml");
    std::fs::write(&plan_path, format!("epoch_ms = {epoch}\n{PLAN}")).unwrap();
    let (pa, pb, pc) = (free_port(), free_port(), free_port());
    let flags = |peers: &[(&str, u16)]| {
        let mut v: Vec<String> = vec!["--contact-plan".into(), plan_path.display().to_string()];
        v.extend(router.iter().map(|s| (*s).to_string()));
        for (node, port) in peers {
            v.push("--contact-peer".into());
            v.push(format!("{node}=127.0.0.1:{port}"));
        }
        v
    };
    let c = Node::start_with(dir.path(), "ipn:3.0", pc, &[], &[], &flags(&[]));
    let a = Node::start_with(dir.path(), "ipn:1.0", pa, &[], &[], &flags(&[]));
    let b = Node::start_with(
        dir.path(),
        "ipn:2.0",
        pb,
        &[],
        &[],
        &flags(&[("ipn:1.0", pa), ("ipn:3.0", pc)]),
    );
    assert_eq!(c.post("/register?endpoint=ipn:3.1", b"").0, 204);
    let (code, id) = a.post("/send?destination=ipn:3.1", b"carried by the mule");
    assert_eq!(code, 201, "{id}");
    let id = id.trim().to_string();
    let explained = dtnctl(&a, &["route", "explain", "ipn:3.1", "--json"]);
    let explained: Value = serde_json::from_slice(&explained.stdout).unwrap();
    assert_eq!(
        explained["next_hop"],
        Value::Null,
        "A has no way to C: {explained}"
    );

    let payload = c.recv_within("ipn:3.1", Duration::from_secs(40));
    assert_eq!(payload, b"carried by the mule");
    assert!(
        tools::cli_io::dtn_now().0 >= epoch + 11_000,
        "only the second meeting of B and C can deliver it"
    );
    // A kept its copy: it handed B a replica, not the bundle.
    let (code, shown) = a.get(&format!("/bundle?id={id}")).unwrap();
    assert_eq!(code, 200);
    let shown: Value = serde_json::from_slice(&shown).unwrap();
    assert_eq!(shown["stored"], true, "{shown}");
    // And the trace shows the way it went.
    let trace = dtnctl(
        &a,
        &[
            "trace",
            &id,
            "--node",
            &format!("ipn:2.0={}", b.url("")),
            "--node",
            &format!("ipn:3.0={}", c.url("")),
            "--json",
        ],
    );
    let trace: Value = serde_json::from_slice(&trace.stdout).unwrap();
    assert_eq!(
        trace["path"],
        serde_json::json!(["ipn:1.0", "ipn:2.0", "ipn:3.0"]),
        "{trace}"
    );
    shown["log"].as_array().unwrap().clone()
}

fn forwarded_to_b(log: &[Value]) -> bool {
    log.iter()
        .any(|e| e["kind"] == "forwarded" && e["peer"] == "ipn:2.0")
}

#[test]
fn epidemic_copies_to_the_mule_which_delivers() {
    let log = mule(&["--router", "epidemic"]);
    assert!(forwarded_to_b(&log), "{log:?}");
}

#[test]
fn spray_and_wait_hands_the_mule_half_the_copies() {
    let log = mule(&["--router", "spray-and-wait", "--spray-copies", "4"]);
    assert!(forwarded_to_b(&log), "{log:?}");
}

#[test]
fn prophet_copies_to_the_mule_that_met_the_destination() {
    let log = mule(&["--router", "prophet"]);
    assert!(forwarded_to_b(&log), "{log:?}");
}

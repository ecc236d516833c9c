//! End-to-end tests with real `dtnd` processes on loopback: A -> B -> C forwarding over
//! TCPCLv4 with static routes, store-and-forward while the next hop is away, and a relay
//! killed with SIGKILL while it holds a bundle, which it still delivers after restarting.
//! Tests wait on API state with deadlines, never on fixed sleeps.

// Test code: a panic is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::process::Command;

use common::{free_port, Node};

#[test]
fn a_to_b_to_c_over_tcpcl_with_static_routes() {
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb, pc) = (free_port(), free_port(), free_port());
    let c = Node::start(dir.path(), "ipn:3.0", pc, &[], &[]);
    let b = Node::start(dir.path(), "ipn:2.0", pb, &[pc], &[]);
    let a = Node::start(dir.path(), "ipn:1.0", pa, &[pb], &["ipn:3.*=ipn:2.0"]);
    assert_eq!(c.post("/register?endpoint=ipn:3.1", b"").0, 204);
    b.wait_until("B's sessions to A and C", |s| s["sessions"] == 2);
    let (code, _) = a.post("/send?destination=ipn:3.1", b"hello C");
    assert_eq!(code, 201);
    assert_eq!(c.recv("ipn:3.1"), b"hello C");
    // Nothing left behind on the way.
    a.wait_until("A's store to empty", |s| s["stored_bundles"] == 0);
    b.wait_until("B's store to empty", |s| s["stored_bundles"] == 0);
    assert_eq!(a.post("/send?destination=not-an-eid", b"x").0, 400);
}

#[test]
fn bundles_wait_for_the_next_hop_and_survive_a_sigkill_of_the_relay() {
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb, pc) = (free_port(), free_port(), free_port());
    let mut b = Node::start(dir.path(), "ipn:2.0", pb, &[pc], &[]);
    let a = Node::start(dir.path(), "ipn:1.0", pa, &[pb], &["ipn:3.*=ipn:2.0"]);
    b.wait_until("A's session to B", |s| s["sessions"] == 1);
    for i in 0..5 {
        assert_eq!(
            a.post("/send?destination=ipn:3.1", format!("held {i}").as_bytes())
                .0,
            201
        );
    }
    // C is not running: B holds them, durably, and says what they wait for.
    b.wait_until("B to hold 5 bundles", |s| s["stored_bundles"] == 5);
    let list = Command::new(env!("CARGO_BIN_EXE_dtnctl"))
        .args([
            "--api",
            &format!("http://127.0.0.1:{}", b.api),
            "bundles",
            "list",
            "--json",
        ])
        .output()
        .unwrap();
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 5);
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .all(|b| b["destination"] == "ipn:3.1" && b["waiting_for"] == "forwarding"));
    b.kill9();
    b.spawn();
    assert_eq!(
        b.status()["stored_bundles"],
        5,
        "nothing acknowledged was lost"
    );
    let c = Node::start(dir.path(), "ipn:3.0", pc, &[], &[]);
    assert_eq!(c.post("/register?endpoint=ipn:3.1", b"").0, 204);
    let mut got: Vec<String> = (0..5)
        .map(|_| String::from_utf8(c.recv("ipn:3.1")).unwrap())
        .collect();
    got.sort();
    assert_eq!(got, (0..5).map(|i| format!("held {i}")).collect::<Vec<_>>());
    b.wait_until("B's store to empty", |s| s["stored_bundles"] == 0);
    drop(a);
}

#[test]
fn dtnctl_send_recv_and_status_against_a_node() {
    let dir = tempfile::tempdir().unwrap();
    let n = Node::start(dir.path(), "ipn:5.0", free_port(), &[], &[]);
    let api = format!("http://127.0.0.1:{}", n.api);
    let dtnctl = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_dtnctl"))
            .arg("--api")
            .arg(&api)
            .args(args)
            .output()
            .unwrap()
    };
    // Registered by recv's own first call; nothing there yet, so a short recv fails.
    let out = dtnctl(&["recv", "ipn:5.7", "--timeout", "200ms"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("received 0 of 1"));
    let out = dtnctl(&["send", "ipn:5.7", "--payload", "to myself"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = dtnctl(&["recv", "ipn:5.7", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["payload_utf8"], "to myself");
    let out = dtnctl(&["status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("node      ipn:5.0"), "{text}");
    // Nobody was waiting for it when it arrived: stored, then fetched.
    assert!(
        text.contains("1 delivered (0 never stored)") && text.contains("1 stored after being held"),
        "{text}"
    );
    let out = dtnctl(&["send", "nonsense", "--payload", "x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("400"));
}

#[test]
fn delivered_bundles_wait_in_the_store_until_fetched_even_across_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = Node::start(dir.path(), "ipn:6.0", free_port(), &[], &[]);
    assert_eq!(n.post("/register?endpoint=ipn:6.1", b"").0, 204);
    assert_eq!(n.post("/send?destination=ipn:6.1", b"keep me").0, 201);
    n.wait_until("the bundle to wait for its application", |s| {
        s["stored_bundles"] == 1
    });
    n.kill9();
    n.spawn();
    assert_eq!(
        n.recv("ipn:6.1"),
        b"keep me",
        "registration and bundle survived the crash"
    );
    assert_eq!(n.status()["stored_bundles"], 0);
    assert_eq!(n.get("/recv?endpoint=ipn:6.1").unwrap().0, 204);
}

#[test]
fn rfc9171_6_1_status_reports_reach_the_report_to_endpoint() {
    use bundle_agent::wire::AdminRecord;
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb, pc) = (free_port(), free_port(), free_port());
    let c = Node::start(dir.path(), "ipn:3.0", pc, &[], &["ipn:1.*=ipn:2.0"]);
    let b = Node::start(dir.path(), "ipn:2.0", pb, &[pc], &[]);
    let a = Node::start(dir.path(), "ipn:1.0", pa, &[pb], &["ipn:3.*=ipn:2.0"]);
    assert_eq!(a.post("/register?endpoint=ipn:1.9", b"").0, 204);
    assert_eq!(c.post("/register?endpoint=ipn:3.1", b"").0, 204);
    b.wait_until("B's sessions to A and C", |s| s["sessions"] == 2);
    let (code, id) = a.post(
        "/send?destination=ipn:3.1&report_to=ipn:1.9&reports=forwarding,delivery",
        b"report back",
    );
    assert_eq!(code, 201);
    assert_eq!(c.recv("ipn:3.1"), b"report back");
    // While the reports wait at A, `dtnctl trace` knows the whole way from them alone (no
    // other node's API given).
    a.wait_until("three reports stored at A", |s| s["stored_bundles"] == 3);
    let out = common::dtnctl(&a, &["trace", id.trim(), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let trace: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        trace["path"],
        serde_json::json!(["ipn:1.0", "ipn:2.0", "ipn:3.0"]),
        "{trace}"
    );
    assert_eq!(
        trace["outcome"], "delivered (status report) at ipn:3.0",
        "{trace}"
    );
    // Forwarded by A, forwarded by B, delivered by C: three reports travel back to ipn:1.9.
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let payload = a.recv("ipn:1.9");
        let Ok(AdminRecord::StatusReport(r)) = AdminRecord::decode(&payload) else {
            panic!("not a status report")
        };
        assert_eq!(r.subject.source.to_string(), "ipn:1.0");
        seen.push((r.forwarded.asserted, r.delivered.asserted));
    }
    seen.sort();
    assert_eq!(seen, vec![(false, true), (true, false), (true, false)]);
    assert_eq!(
        a.post("/send?destination=ipn:3.1&reports=gossip", b"x").0,
        400
    );
}

#[test]
fn rfc9171_5_11_a_bundle_without_a_route_expires_and_is_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let a = Node::start(dir.path(), "ipn:1.0", free_port(), &[], &[]);
    assert_eq!(
        a.post(
            "/send?destination=ipn:9.1&lifetime=1500ms",
            b"nowhere to go"
        )
        .0,
        201
    );
    assert_eq!(
        a.status()["stored_bundles"],
        1,
        "held while no route exists"
    );
    a.wait_until("the bundle to expire", |s| s["stored_bundles"] == 0);
    let out = common::dtnctl(&a, &["bundles", "list", "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 0);
}

//! The operator and application API of real `dtnd` processes: `dtnctl ping` through the echo
//! service, `dtnctl peers`, `bundles show/delete`, Prometheus `/metrics`, and WebSocket push.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use common::{dtnctl, free_port, Node};

fn pair(dir: &std::path::Path) -> (Node, Node) {
    let pb = free_port();
    let b = Node::start(dir, "ipn:2.0", pb, &[], &[]);
    let a = Node::start(dir, "ipn:1.0", free_port(), &[pb], &[]);
    a.wait_until("A's session to B", |s| s["sessions"] == 1);
    (a, b)
}

#[test]
fn dtnctl_ping_peers_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = pair(dir.path());
    let out = dtnctl(&a, &["ping", "ipn:2.0", "-c", "3", "-i", "10ms", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["target"], "ipn:2.7");
    assert_eq!(v["received"], 3);
    assert!(v["rtt_min_ms"].as_f64().unwrap() > 0.0);
    let out = dtnctl(&a, &["ping", "ipn:2.0", "-c", "1"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("1 sent, 1 received, 0% loss"), "{text}");

    let out = dtnctl(&a, &["peers", "--json"]);
    let peers: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let p = &peers.as_array().unwrap()[0];
    assert_eq!(p["node_id"], "ipn:2.0");
    assert_eq!(p["convergence_layer"], "tcpcl");
    assert_eq!(p["state"], "established");
    assert_eq!(p["direction"], "outbound");
    let out = dtnctl(&b, &["peers"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("ipn:1.0"));

    let (code, body) = b.get("/metrics").unwrap();
    assert_eq!(code, 200);
    let text = String::from_utf8(body).unwrap();
    let value = |name: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next())
            .unwrap_or_else(|| panic!("{name} missing from\n{text}"))
            .parse()
            .unwrap()
    };
    assert_eq!(
        value("dtn_bundles_delivered_total"),
        4.0,
        "four echo requests"
    );
    assert_eq!(value("dtn_tcpcl_sessions"), 1.0);
    assert!(text.contains("# HELP dtn_store_bytes"));
}

#[test]
fn bundles_show_and_delete_with_the_log_kept() {
    let dir = tempfile::tempdir().unwrap();
    let a = Node::start(dir.path(), "ipn:1.0", free_port(), &[], &[]);
    assert_eq!(
        a.post(
            "/send?destination=ipn:9.1&reports=deletion&report_to=ipn:1.3",
            b"x"
        )
        .0,
        201
    );
    let list: serde_json::Value =
        serde_json::from_slice(&dtnctl(&a, &["bundles", "list", "--json"]).stdout).unwrap();
    let id = list[0]["id"].as_str().unwrap().to_string();
    let out = dtnctl(&a, &["bundles", "show", &id, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["stored"], true);
    assert_eq!(v["bundle"]["primary"]["destination"], "ipn:9.1");
    let out = dtnctl(&a, &["bundles", "delete", &id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = dtnctl(&a, &["bundles", "show", &id, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["stored"], false);
    let log: Vec<String> = v["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_string())
        .collect();
    assert!(log.last().unwrap().starts_with("deleted"), "{log:?}");
    // The deletion report went to ipn:1.3, a local endpoint: it waits there.
    assert_eq!(a.post("/register?endpoint=ipn:1.3", b"").0, 204);
    let report = a.recv("ipn:1.3");
    let Ok(bundle_agent::wire::AdminRecord::StatusReport(r)) =
        bundle_agent::wire::AdminRecord::decode(&report)
    else {
        panic!("not a status report")
    };
    assert!(r.deleted.asserted);
    let out = dtnctl(&a, &["bundles", "delete", &id]);
    assert!(!out.status.success());
    assert_eq!(a.get("/bundle?id=nonsense").unwrap().0, 400);
    assert_eq!(a.get("/bundle?id=ipn:1.0/1/1").unwrap().0, 404);
    assert_eq!(
        a.post("/send?destination=ipn:9.1&source=ipn:5.1", b"x").0,
        400,
        "a source outside this node is refused"
    );
}

#[test]
fn websocket_push_delivers_waiting_and_new_payloads_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = pair(dir.path());
    assert_eq!(b.post("/register?endpoint=ipn:2.5", b"").0, 204);
    assert_eq!(a.post("/send?destination=ipn:2.5", b"before").0, 201);
    b.wait_until("the first bundle to wait at B", |s| {
        s["stored_bundles"] == 1
    });
    let (mut ws, _) =
        tungstenite::connect(format!("ws://127.0.0.1:{}/ws?endpoint=ipn:2.5", b.api)).unwrap();
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_mut() {
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    }
    let mut next = || loop {
        match ws.read().unwrap() {
            tungstenite::Message::Binary(p) => return p.to_vec(),
            _ => continue,
        }
    };
    assert_eq!(next(), b"before");
    for i in 0..3 {
        assert_eq!(
            a.post(
                "/send?destination=ipn:2.5",
                format!("pushed {i}").as_bytes()
            )
            .0,
            201
        );
    }
    for i in 0..3 {
        assert_eq!(next(), format!("pushed {i}").as_bytes());
    }
    b.wait_until("B's inbox to be empty", |s| s["stored_bundles"] == 0);
    assert_eq!(b.get("/ws?endpoint=nonsense").unwrap().0, 400);
}

/// `/ws/send`: payloads streamed without waiting, each answered in order with its bundle ID
/// once durable; a text message is answered with an error; the bundles arrive at B in order.
#[test]
fn websocket_send_streams_payloads_and_answers_each_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = pair(dir.path());
    assert_eq!(
        b.get("/ws/send?destination=nonsense").unwrap().0,
        400,
        "a bad parameter is refused before the upgrade"
    );
    assert_eq!(b.post("/register?endpoint=ipn:2.6", b"").0, 204);
    let (mut ws, _) = tungstenite::connect(format!(
        "ws://127.0.0.1:{}/ws/send?destination=ipn:2.6&lifetime=10m",
        a.api
    ))
    .unwrap();
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_mut() {
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    }
    let n = 50;
    for i in 0..n {
        ws.send(tungstenite::Message::Binary(
            format!("streamed {i}").into_bytes().into(),
        ))
        .unwrap();
    }
    ws.send(tungstenite::Message::Text("not a payload".into()))
        .unwrap();
    let mut ids = Vec::new();
    for _ in 0..n {
        match ws.read().unwrap() {
            tungstenite::Message::Text(t) => {
                assert!(t.starts_with("ipn:1.0/"), "a bundle ID, not {t}");
                ids.push(t.to_string());
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), n, "every bundle has its own ID");
    match ws.read().unwrap() {
        tungstenite::Message::Text(t) => assert!(t.starts_with("error:"), "{t}"),
        other => panic!("unexpected {other:?}"),
    }
    for i in 0..n {
        assert_eq!(b.recv("ipn:2.6"), format!("streamed {i}").as_bytes());
    }
    // The IDs answered are the bundles' IDs: A's log knows each.
    let (code, _) = a.get(&format!("/bundle?id={}", ids[0])).unwrap();
    assert_eq!(code, 200);
}

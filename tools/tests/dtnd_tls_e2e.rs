//! End to end over TCPCLv4 with TLS (RFC 9174 §4.4): three real `dtnd` processes whose
//! certificates come from `dtnctl cert`, forwarding A -> B -> C with TLS required, and a node
//! whose certificate names another node ID kept out.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;

use common::{dtnctl_offline, free_port, Node};

/// Makes `ca.crt` in `dir` and a certificate for `node_id` (127.0.0.1 as its address), and
/// returns the dtnd flags that use them.
fn tls_flags(dir: &Path, node_id: &str, cert_for: &str) -> Vec<String> {
    let certs = dir.join("certs");
    if !certs.join("ca.crt").exists() {
        dtnctl_offline(&["cert", "ca", "--out", certs.to_str().unwrap()]);
    }
    let stem = node_id.replace([':', '.', '/'], "_");
    dtnctl_offline(&[
        "cert",
        "node",
        "--node-id",
        cert_for,
        "--ca",
        certs.to_str().unwrap(),
        "--out",
        certs.to_str().unwrap(),
        "--name",
        &stem,
        "--ip",
        "127.0.0.1",
    ]);
    vec![
        "--tls-cert".into(),
        certs.join(format!("{stem}.crt")).display().to_string(),
        "--tls-key".into(),
        certs.join(format!("{stem}.key")).display().to_string(),
        "--tls-ca".into(),
        certs.join("ca.crt").display().to_string(),
        "--tls-require".into(),
    ]
}

#[test]
fn rfc9174_4_4_a_to_b_to_c_over_tls_with_node_ids_checked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (pa, pb, pc) = (free_port(), free_port(), free_port());
    let c = Node::start_with(
        d,
        "ipn:3.0",
        pc,
        &[],
        &[],
        &tls_flags(d, "ipn:3.0", "ipn:3.0"),
    );
    let b = Node::start_with(
        d,
        "ipn:2.0",
        pb,
        &[pc],
        &[],
        &tls_flags(d, "ipn:2.0", "ipn:2.0"),
    );
    let a = Node::start_with(
        d,
        "ipn:1.0",
        pa,
        &[pb],
        &["ipn:3.*=ipn:2.0"],
        &tls_flags(d, "ipn:1.0", "ipn:1.0"),
    );
    assert_eq!(c.post("/register?endpoint=ipn:3.1", b"").0, 204);
    b.wait_until("B's TLS sessions to A and C", |s| s["sessions"] == 2);
    assert_eq!(a.post("/send?destination=ipn:3.1", b"sealed").0, 201);
    assert_eq!(c.recv("ipn:3.1"), b"sealed");

    // A node holding a certificate for ipn:2.0 while claiming ipn:9.0 gets no session.
    let p9 = free_port();
    let liar = Node::start_with(
        d,
        "ipn:9.0",
        p9,
        &[pc],
        &[],
        &tls_flags(d, "ipn:9.0", "ipn:2.0"),
    );
    // The liar keeps redialling. Each attempt may look established from the liar's side for
    // a moment (it has C's SESS_INIT before C has judged its own), and C may hold an attempt
    // not yet refused. What counts is C's view: nothing from the liar gets through, and no
    // session with it is established.
    assert_eq!(liar.post("/send?destination=ipn:3.1", b"forged").0, 201);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(
        c.get("/recv?endpoint=ipn:3.1").map(|(code, _)| code),
        Some(204),
        "C took nothing from the impostor"
    );
    let peers: serde_json::Value = serde_json::from_slice(&c.get("/peers").unwrap().1).unwrap();
    let established: Vec<&serde_json::Value> = peers
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["state"] == "established")
        .collect();
    assert_eq!(established.len(), 1, "C still has only B: {peers}");
    assert_eq!(established[0]["node_id"], "ipn:2.0");
}

#[test]
fn rfc9174_4_4_a_node_requiring_tls_refuses_a_plain_peer() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (pa, pb) = (free_port(), free_port());
    let b = Node::start_with(
        d,
        "ipn:2.0",
        pb,
        &[],
        &[],
        &tls_flags(d, "ipn:2.0", "ipn:2.0"),
    );
    let a = Node::start(d, "ipn:1.0", pa, &[pb], &[]);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(a.status()["sessions"], 0);
    assert_eq!(b.status()["sessions"], 0);
}

#[test]
fn tls_flags_must_come_together() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dtnd"))
        .args(["--tls-cert", "x.crt"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--tls-key") && err.contains("--tls-ca"),
        "{err}"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dtnd"))
        .args([
            "--tls-cert",
            "x.crt",
            "--tls-key",
            "x.key",
            "--tls-ca",
            "ca.crt",
        ])
        .args(["--data-dir", "/tmp/dtnd-tls-flags-test"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("x.crt"), "{err}");
}

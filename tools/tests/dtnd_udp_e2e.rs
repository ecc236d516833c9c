//! End to end over the UDP convergence layer: real `dtnd` processes, A -> B -> C with a
//! datagram limit far below the bundle size, so the agent fragments (RFC 9171 §5.8) and the
//! destination reassembles (§5.9).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{free_port, free_udp_port, Node};

fn udp(listen: u16, peers: &[(&str, u16)]) -> Vec<String> {
    let mut v = vec![
        "--udp-listen".into(),
        format!("127.0.0.1:{listen}"),
        "--udp-max-datagram".into(),
        "1200".into(),
    ];
    for (node, port) in peers {
        v.push("--udp-peer".into());
        v.push(format!("{node}=127.0.0.1:{port}"));
    }
    v
}

#[test]
fn rfc9171_5_8_a_to_b_to_c_over_udp_with_fragmentation_and_reassembly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (ua, ub, uc) = (free_udp_port(), free_udp_port(), free_udp_port());
    let c = Node::start_with(d, "ipn:3.0", free_port(), &[], &[], &udp(uc, &[]));
    let b = Node::start_with(
        d,
        "ipn:2.0",
        free_port(),
        &[],
        &[],
        &udp(ub, &[("ipn:3.0", uc)]),
    );
    let a = Node::start_with(
        d,
        "ipn:1.0",
        free_port(),
        &[],
        &["ipn:3.*=ipn:2.0"],
        &udp(ua, &[("ipn:2.0", ub)]),
    );
    assert_eq!(a.status()["udp_peers"], 1);
    assert_eq!(c.post("/register?endpoint=ipn:3.1", b"").0, 204);
    let payload: Vec<u8> = (0..30_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    assert_eq!(a.post("/send?destination=ipn:3.1", &payload).0, 201);
    assert_eq!(c.recv("ipn:3.1"), payload, "reassembled whole at C");
    a.wait_until("A's store to empty", |s| s["stored_bundles"] == 0);
    b.wait_until("B's store to empty", |s| s["stored_bundles"] == 0);
    c.wait_until("C's fragments to be gone", |s| s["stored_bundles"] == 0);
}

#[test]
fn udp_settings_are_checked() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dtnd"))
        .args(["--udp-peer", "ipn:2.0=127.0.0.1:4556"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no udp_listen"), "{err}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dtnd"))
        .args(["--udp-listen", "127.0.0.1:0", "--udp-peer", "ipn:2.0@x"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("expected NODE-ID=HOST:PORT"), "{err}");
}

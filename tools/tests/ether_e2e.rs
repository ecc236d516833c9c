//! End to end over the Ethernet convergence layer: two real `dtnd` processes in two network
//! namespaces joined by a veth pair (made by the test, as root, and removed after), over
//! AF_XDP in generic copy mode and over the AF_PACKET fallback. Bundles smaller than a frame,
//! larger than a frame and of a mebibyte cross; then the same through netsim's frame switch
//! losing 5% of the frames, where the layer's acknowledgements bring every bundle through.
//! Where the kernel refuses namespaces, veth or a socket, the test says so and skips.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::netns::Lab;
use common::Node;
use netsim::emulate::frames::{FrameStats, FrameSwitch, SwitchLink};

fn payloads() -> Vec<Vec<u8>> {
    [100usize, 1_400, 20_000, 1 << 20]
        .iter()
        .enumerate()
        .map(|(i, len)| (0..*len).map(|j| (j * 13 + i) as u8).collect())
        .collect()
}

fn ether(socket: &str, peer: &str) -> Vec<String> {
    let mut v: Vec<String> = vec!["--ether-interface".into(), "data0".into()];
    match socket {
        "xdp" => v.extend([
            "--ether-socket".into(),
            "xdp".into(),
            "--ether-xdp-mode".into(),
            "generic".into(),
        ]),
        other => v.extend(["--ether-socket".into(), other.into()]),
    }
    v.extend(["--ether-peer".into(), peer.into()]);
    v
}

/// Starts A and B on `data0` with `socket`, sends every payload A to B, checks they arrive
/// whole; returns A's Ethernet row of `/peers`.
fn exchange(lab: &Lab, dir: &std::path::Path, socket: &str) -> serde_json::Value {
    let (mac_a, mac_b) = (lab.mac(0, "data0"), lab.mac(1, "data0"));
    let b = Node::start_in_netns(
        lab.ns(1),
        &lab.api_host(1),
        dir,
        "ipn:2.0",
        &ether(socket, &format!("ipn:1.0={mac_a}")),
    );
    let a = Node::start_in_netns(
        lab.ns(0),
        &lab.api_host(0),
        dir,
        "ipn:1.0",
        &ether(socket, &format!("ipn:2.0={mac_b}")),
    );
    assert_eq!(b.post("/register?endpoint=ipn:2.7", b"").0, 204);
    let sent = payloads();
    for p in &sent {
        assert_eq!(a.post("/send?destination=ipn:2.7", p).0, 201);
    }
    let mut got: Vec<Vec<u8>> = (0..sent.len()).map(|_| b.recv("ipn:2.7")).collect();
    got.sort();
    let mut want = sent.clone();
    want.sort();
    assert!(
        got == want,
        "the bundles arrived whole; A's log:\n{}",
        a.log()
    );
    a.wait_until("A's store to empty", |s| s["stored_bundles"] == 0);
    let peers: serde_json::Value = serde_json::from_slice(&a.get("/peers").unwrap().1).unwrap();
    let row = peers
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["convergence_layer"] == "ether")
        .cloned()
        .unwrap();
    assert_eq!(row["node_id"], "ipn:2.0");
    assert_eq!(row["address"], mac_b);
    assert_eq!(row["interface"], "data0");
    println!("{socket}: {row}");
    row
}

fn lab(tag: &str, base: u8) -> Option<Lab> {
    match Lab::new(&format!("{tag}{}", std::process::id() % 1000), base, 2) {
        Ok(l) => Some(l),
        Err(e) => {
            eprintln!("SKIPPED: the kernel refused network namespaces or veth ({e}); needs root");
            None
        }
    }
}

#[test]
fn two_daemons_in_namespaces_exchange_bundles_over_af_xdp_and_af_packet() {
    let Some(lab) = lab("dte", 211) else {
        return;
    };
    lab.wire(0, 1, "data0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let row = exchange(&lab, &dir.path().join("xdp"), "xdp");
    let path = row["socket"].as_str().unwrap();
    assert!(path.starts_with("AF_XDP copy mode, generic XDP"), "{path}");
    let row = exchange(&lab, &dir.path().join("packet"), "packet");
    assert_eq!(row["socket"], "AF_PACKET");
}

#[test]
fn bundles_cross_with_five_percent_of_frames_lost_over_af_xdp_and_af_packet() {
    let Some(mut lab) = lab("dtl", 212) else {
        return;
    };
    // A's data0 and B's data0 each end here, and the relay joins the two ends.
    let ra = lab.wire_here(0, "data0", "ra").unwrap();
    let rb = lab.wire_here(1, "data0", "rb").unwrap();
    let dir = tempfile::tempdir().unwrap();
    for socket in ["xdp", "packet"] {
        let link = SwitchLink {
            a: 0,
            b: 1,
            loss: 0.05,
            up: true,
            rate: 0,
            delay: std::time::Duration::ZERO,
        };
        let relay = FrameSwitch::start(&[ra.clone(), rb.clone()], &[link], 7).unwrap();
        let row = exchange(&lab, &dir.path().join(socket), socket);
        let stats = relay.stats(0).unwrap();
        let lost = FrameStats::get(&stats.lost, 0) + FrameStats::get(&stats.lost, 1);
        let passed = FrameStats::get(&stats.passed, 0);
        println!("{socket}: relay passed {passed} frames A to B and lost {lost} in all");
        assert!(lost > 0, "the relay lost frames");
        assert!(
            row["ether_frames_resent"].as_u64().unwrap() > 0,
            "A sent frames again: {row}"
        );
    }
}

#[test]
fn auto_falls_back_to_af_packet_then_to_udp_with_the_reason_logged() {
    let Some(lab) = lab("dtf", 213) else {
        return;
    };
    lab.wire(0, 1, "data0").unwrap();
    // An MTU larger than an AF_XDP frame: AF_XDP cannot carry it, AF_PACKET can.
    for i in 0..2 {
        common::netns::ip(&["-n", lab.ns(i), "link", "set", "data0", "mtu", "4000"]).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let auto = |peer: &str| -> Vec<String> {
        vec![
            "--ether-interface".into(),
            "data0".into(),
            "--ether-peer".into(),
            peer.into(),
        ]
    };
    let (mac_a, mac_b) = (lab.mac(0, "data0"), lab.mac(1, "data0"));
    let d = dir.path().join("packet");
    let b = Node::start_in_netns(
        lab.ns(1),
        &lab.api_host(1),
        &d,
        "ipn:2.0",
        &auto(&format!("ipn:1.0={mac_a}")),
    );
    let a = Node::start_in_netns(
        lab.ns(0),
        &lab.api_host(0),
        &d,
        "ipn:1.0",
        &auto(&format!("ipn:2.0={mac_b}")),
    );
    assert_eq!(b.post("/register?endpoint=ipn:2.7", b"").0, 204);
    let big: Vec<u8> = (0..50_000u32).map(|i| i as u8).collect();
    assert_eq!(a.post("/send?destination=ipn:2.7", &big).0, 201);
    assert_eq!(b.recv("ipn:2.7"), big);
    let log = a.log();
    assert!(
        log.contains("Ethernet layer up on AF_PACKET")
            && log.contains("MTU 4000 is larger than an AF_XDP frame"),
        "the log says which path and why:\n{log}"
    );
    drop((a, b));

    // No such interface: no Ethernet layer at all, and the UDP layer carries the bundles.
    for i in 0..2 {
        common::netns::ip(&[
            "-n",
            lab.ns(i),
            "addr",
            "add",
            &format!("10.213.200.{}/24", i + 1),
            "dev",
            "data0",
        ])
        .unwrap();
    }
    let udp = |me: usize, peer: &str, other: usize| -> Vec<String> {
        vec![
            "--ether-interface".into(),
            "nosuch0".into(),
            "--ether-peer".into(),
            format!("{peer}=02:00:00:00:00:0{other}"),
            "--udp-listen".into(),
            format!("10.213.200.{}:4556", me + 1),
            "--udp-peer".into(),
            format!("{peer}=10.213.200.{}:4556", other + 1),
        ]
    };
    let d = dir.path().join("udp");
    let b = Node::start_in_netns(
        lab.ns(1),
        &lab.api_host(1),
        &d,
        "ipn:2.0",
        &udp(1, "ipn:1.0", 0),
    );
    let a = Node::start_in_netns(
        lab.ns(0),
        &lab.api_host(0),
        &d,
        "ipn:1.0",
        &udp(0, "ipn:2.0", 1),
    );
    assert_eq!(b.post("/register?endpoint=ipn:2.7", b"").0, 204);
    assert_eq!(a.post("/send?destination=ipn:2.7", b"over udp").0, 201);
    assert_eq!(b.recv("ipn:2.7"), b"over udp");
    let log = a.log();
    assert!(
        log.contains("Ethernet layer unavailable")
            && log.contains("nosuch0")
            && log.contains("take the UDP layer"),
        "the log says the Ethernet layer is off and why:\n{log}"
    );
}

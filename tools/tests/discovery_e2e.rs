//! Discovery end to end: three real `dtnd` processes in three network namespaces, no static
//! peers. A and B share one LAN (a veth pair; both run the Ethernet layer on it), B and C
//! another (IP only). They find each other with mDNS (libp2p), exchange offers, and open
//! links by themselves: A-B over the Ethernet layer, B-C over TCPCLv4. A bundle from A to C
//! goes through B, and `dtnctl peers` on B shows both links as found by mDNS. Then two nodes
//! that offer no layer at all (no TCPCL port, no Ethernet) still exchange bundles, over the
//! libp2p connection discovery made. Where the kernel refuses namespaces or veth, the tests
//! say so and skip.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::{Duration, Instant};

use common::netns::{ip, Lab};
use common::{dtnctl, ok, Node};

fn peers(n: &Node) -> Vec<serde_json::Value> {
    serde_json::from_slice::<serde_json::Value>(&n.get("/peers").unwrap().1)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn three_daemons_find_each_other_with_mdns_and_route_a_bundle_without_static_peers() {
    let lab = match Lab::new(&format!("dtd{}", std::process::id() % 1000), 214, 3) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("SKIPPED: the kernel refused network namespaces or veth ({e}); needs root");
            return;
        }
    };
    lab.wire(0, 1, "lan0").unwrap();
    lab.wire(1, 2, "lan1").unwrap();
    for (i, dev, addr) in [
        (0, "lan0", "10.214.200.1/24"),
        (1, "lan0", "10.214.200.2/24"),
        (1, "lan1", "10.214.201.2/24"),
        (2, "lan1", "10.214.201.3/24"),
    ] {
        ip(&["-n", lab.ns(i), "addr", "add", addr, "dev", dev]).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<String>>();
    // C: a pod node (its tier) without an Ethernet layer; discovery is on by default there.
    let c = Node::start_in_netns(
        lab.ns(2),
        &lab.api_host(2),
        d,
        "ipn:3.0",
        &s(&["--tier", "pod"]),
    );
    let b = Node::start_in_netns(
        lab.ns(1),
        &lab.api_host(1),
        d,
        "ipn:2.0",
        &s(&["--ether-interface", "lan0", "--discovery", "on"]),
    );
    // A: a pod tile with its Ethernet interface; discovery is on by default there. It has a
    // route (C is reached through B), not a peer.
    let a = Node::start_in_netns(
        lab.ns(0),
        &lab.api_host(0),
        d,
        "ipn:1.0",
        &s(&["--ether-interface", "lan0", "--route", "ipn:3.*=ipn:2.0"]),
    );
    assert_eq!(c.post("/register?endpoint=ipn:3.7", b"").0, 204);

    // Wait for the links discovery opens.
    let deadline = Instant::now() + Duration::from_secs(30);
    let found = |n: &Node, cl: &str, node: &str| {
        peers(n).iter().any(|p| {
            p["convergence_layer"] == cl && p["node_id"] == node && p["found_by"] == "mDNS"
        })
    };
    while !(found(&a, "ether", "ipn:2.0")
        && found(&b, "ether", "ipn:1.0")
        && found(&b, "tcpcl", "ipn:3.0"))
    {
        assert!(
            Instant::now() < deadline,
            "links not found in 30 s; A: {:?}\nB: {:?}\nB's log:\n{}",
            peers(&a),
            peers(&b),
            b.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        a.post("/send?destination=ipn:3.7", b"found, not configured")
            .0,
        201
    );
    assert_eq!(c.recv("ipn:3.7"), b"found, not configured");

    let shown = ok(dtnctl(&b, &["peers"]));
    assert!(
        shown.contains("mDNS"),
        "dtnctl peers shows how peers were found:\n{shown}"
    );
    println!("{shown}");
    // No static peer anywhere.
    for n in [&a, &b, &c] {
        assert!(peers(n).iter().all(|p| p["found_by"] != "static peer"));
    }
}

#[test]
fn two_daemons_offering_no_layer_carry_bundles_over_libp2p() {
    let lab = match Lab::new(&format!("dtp{}", std::process::id() % 1000), 210, 2) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("SKIPPED: the kernel refused network namespaces or veth ({e}); needs root");
            return;
        }
    };
    lab.wire(0, 1, "lan0").unwrap();
    for (i, addr) in [(0, "10.210.200.1/24"), (1, "10.210.200.2/24")] {
        ip(&["-n", lab.ns(i), "addr", "add", addr, "dev", "lan0"]).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // TCPCL only on loopback, on a port the kernel picks: nothing to offer a peer.
    let flags = |v: &[&str]| {
        let mut f: Vec<String> = ["--discovery", "on", "--tcpcl-listen", "127.0.0.1:0"]
            .iter()
            .map(|x| (*x).to_owned())
            .collect();
        f.extend(v.iter().map(|x| (*x).to_owned()));
        f
    };
    let a = Node::start_in_netns(lab.ns(0), &lab.api_host(0), d, "ipn:1.0", &flags(&[]));
    let b = Node::start_in_netns(lab.ns(1), &lab.api_host(1), d, "ipn:2.0", &flags(&[]));
    assert_eq!(b.post("/register?endpoint=ipn:2.7", b"").0, 204);
    assert_eq!(a.post("/register?endpoint=ipn:1.7", b"").0, 204);
    let deadline = Instant::now() + Duration::from_secs(30);
    let over_libp2p = |n: &Node, node: &str| {
        peers(n).iter().any(|p| {
            p["convergence_layer"] == "libp2p" && p["node_id"] == node && p["found_by"] == "mDNS"
        })
    };
    while !(over_libp2p(&a, "ipn:2.0") && over_libp2p(&b, "ipn:1.0")) {
        assert!(
            Instant::now() < deadline,
            "no libp2p links in 30 s; A: {:?}\nA's log:\n{}",
            peers(&a),
            a.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // A small bundle each way, and one of 3 MiB.
    let big: Vec<u8> = (0..3 << 20).map(|i: u32| (i % 251) as u8).collect();
    assert_eq!(a.post("/send?destination=ipn:2.7", b"over libp2p").0, 201);
    assert_eq!(b.post("/send?destination=ipn:1.7", b"and back").0, 201);
    assert_eq!(a.post("/send?destination=ipn:2.7", &big).0, 201);
    assert_eq!(b.recv("ipn:2.7"), b"over libp2p");
    assert_eq!(a.recv("ipn:1.7"), b"and back");
    assert!(b.recv("ipn:2.7") == big, "the 3 MiB bundle arrived whole");
    // Nothing else carried them: no TCPCL session, no Ethernet layer.
    for n in [&a, &b] {
        let layers: Vec<String> = peers(n)
            .iter()
            .map(|p| p["convergence_layer"].as_str().unwrap_or("").to_owned())
            .collect();
        assert_eq!(layers, ["libp2p"], "{:?}", peers(n));
    }
    let shown = ok(dtnctl(&a, &["peers"]));
    assert!(
        shown.contains("libp2p") && shown.contains("ipn:2.0") && shown.contains("mDNS"),
        "{shown}"
    );
    println!("{shown}");
}

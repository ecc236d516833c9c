//! Discovery end to end: three real `dtnd` processes in three network namespaces, no static
//! peers. A and B share one LAN (a veth pair; both run the Ethernet layer on it), B and C
//! another (IP only). They find each other with mDNS (libp2p), exchange offers, and open
//! links by themselves: A-B over the Ethernet layer, B-C over TCPCLv4. A bundle from A to C
//! goes through B, and `dtnctl peers` on B shows both links as found by mDNS. Where the
//! kernel refuses namespaces or veth, the test says so and skips.
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
        (0, "lan0", "10.214.100.1/24"),
        (1, "lan0", "10.214.100.2/24"),
        (1, "lan1", "10.214.101.2/24"),
        (2, "lan1", "10.214.101.3/24"),
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

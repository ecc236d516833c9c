//! QUIC between two real `dtnd` processes through the link emulator's datagram relay: 3%
//! loss each way, then an outage of 4 s in the middle of the transfer. Every bundle arrives,
//! the sender's store empties (each bundle was acknowledged after the receiver stored it),
//! and the connection that was open before the outage is the one still open after it.

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

use common::{free_port, free_udp_port, Node};
use netsim::emulate::datagram::{DatagramRelay, DatagramStats};
use netsim::link::LinkModel;
use netsim::rng::Rng;

fn peers(n: &Node) -> serde_json::Value {
    serde_json::from_slice(&n.get("/peers").unwrap().1).unwrap()
}

#[test]
fn quic_bundles_survive_loss_and_a_short_outage() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (qa, qb) = (free_udp_port(), free_udp_port());
    let addr = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
    let model = LinkModel {
        rate: 0,
        delay_ms: 5,
        loss: 0.03,
        ber: 0.0,
        outages: None,
    };
    let relay =
        DatagramRelay::start(addr(qa), addr(qb), model, true, Rng::stream(7, "quic-e2e")).unwrap();
    let b = Node::start_with(
        d,
        "ipn:2.0",
        free_port(),
        &[],
        &[],
        &["--quic-listen".into(), addr(qb).to_string()],
    );
    let a = Node::start_with(
        d,
        "ipn:1.0",
        free_port(),
        &[],
        &[],
        &[
            "--quic-listen".into(),
            addr(qa).to_string(),
            "--quic-peer".into(),
            format!("ipn:2.0={}", relay.addr),
        ],
    );
    assert_eq!(b.post("/register?endpoint=ipn:2.1", b"").0, 204);
    a.wait_until("a QUIC session to B", |_| {
        peers(&a)
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["state"] == "established"))
    });
    let before = peers(&a)[0].clone();
    assert_eq!(before["convergence_layer"], "quic");
    assert_eq!(before["node_id"], "ipn:2.0");
    assert_eq!(before["node_id_authenticated"], "NoTls");
    let text = String::from_utf8_lossy(&common::dtnctl(&a, &["peers"]).stdout).to_string();
    assert!(
        text.contains("quic") && text.contains("encrypted, peer not authenticated"),
        "{text}"
    );

    let payloads: Vec<Vec<u8>> = (0..30u8)
        .map(|i| vec![i; 1000 + usize::from(i) * 7000])
        .collect();
    for (i, p) in payloads.iter().enumerate() {
        if i == 15 {
            relay.set_up(false);
        }
        let (status, body) = a.post("/send?destination=ipn:2.1", p);
        assert!(status < 300, "{status} {body}");
    }
    std::thread::sleep(Duration::from_secs(4));
    relay.set_up(true);
    let mut got = Vec::new();
    for _ in &payloads {
        got.push(b.recv_within("ipn:2.1", Duration::from_secs(60)));
    }
    got.sort();
    let mut want = payloads.clone();
    want.sort();
    assert_eq!(got, want);
    let deadline = Instant::now() + Duration::from_secs(30);
    while a.status()["stored_bundles"] != 0 {
        assert!(
            Instant::now() < deadline,
            "A still holds bundles: {}",
            a.status()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let after = peers(&a)[0].clone();
    assert_eq!(
        after["link"], before["link"],
        "the connection outlived the outage: {before} {after}"
    );
    let lost = DatagramStats::get(&relay.stats.lost, 0) + DatagramStats::get(&relay.stats.lost, 1);
    let dropped =
        DatagramStats::get(&relay.stats.dropped, 0) + DatagramStats::get(&relay.stats.dropped, 1);
    assert!(lost > 0, "the relay lost nothing");
    assert!(dropped > 0, "nothing was sent during the outage");
    println!("relay: {lost} datagrams lost, {dropped} dropped during the outage");
}

//! LTP (RFC 5326) between two real `dtnd` processes through the link emulator's datagram
//! relay: a one-way light time of 2 s (scaled down from minutes) and 5% loss each way, and
//! a contact plan whose first contact closes in the middle of the transfer. Every bundle
//! arrives; the big one finishes in the second contact without its session restarting; the
//! sender's red data put on the wire again is no more than what the link lost (plus one
//! checkpoint segment per report lost); and each bundle left the sender's store only once
//! reported received in full.

// Test code: a panic is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{free_port, free_udp_port, Node};
use netsim::emulate::datagram::{DatagramRelay, DatagramStats};
use netsim::link::LinkModel;
use netsim::rng::Rng;

/// Seconds from 2000-01-01 (the DTN epoch) to now.
fn dtn_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 946_684_800
}

/// Waits until DTN second `t`.
fn sleep_until(t: u64) {
    let target = UNIX_EPOCH + Duration::from_secs(t + 946_684_800);
    if let Ok(left) = target.duration_since(SystemTime::now()) {
        std::thread::sleep(left);
    }
}

fn peers(n: &Node) -> serde_json::Value {
    serde_json::from_slice(&n.get("/peers").unwrap().1).unwrap()
}

#[test]
fn rfc5326_6_ltp_crosses_light_time_loss_and_a_contact_gap_resending_only_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (la, lb) = (free_udp_port(), free_udp_port());
    let addr = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
    let owlt_s = 2;
    let model = LinkModel {
        rate: 0,
        delay_ms: owlt_s * 1000,
        loss: 0.05,
        ber: 0.0,
        outages: None,
    };
    let relay =
        DatagramRelay::start(addr(la), addr(lb), model, true, Rng::stream(11, "ltp-e2e")).unwrap();
    // A's contacts to B: [t0, t0+8) and [t0+16, t0+180), 100 kB/s, 2 s light time.
    let t0 = dtn_secs() + 3;
    let (gap_from, gap_to) = (t0 + 8, t0 + 16);
    let rate = 100_000;
    let plan = d.join("plan.toml");
    std::fs::write(
        &plan,
        format!(
            "[[contact]]\nfrom = \"ipn:1.0\"\nto = \"ipn:2.0\"\nstart = {t0}\nend = {gap_from}\nrate = {rate}\nowlt = {owlt_s}\n\
             [[contact]]\nfrom = \"ipn:1.0\"\nto = \"ipn:2.0\"\nstart = {gap_to}\nend = {}\nrate = {rate}\nowlt = {owlt_s}\n",
            t0 + 180
        ),
    )
    .unwrap();
    let flags = |listen: u16, peer: &str| {
        vec![
            "--ltp-listen".to_string(),
            format!("127.0.0.1:{listen}"),
            "--ltp-peer".into(),
            format!("{peer}@{}", relay.addr),
            "--ltp-owlt".into(),
            format!("{owlt_s}s"),
        ]
    };
    let b = Node::start_with(d, "ipn:2.0", free_port(), &[], &[], &flags(lb, "ipn:1.0=1"));
    let mut fa = flags(la, "ipn:2.0=2");
    fa.extend(["--contact-plan".to_string(), plan.display().to_string()]);
    let a = Node::start_with(d, "ipn:1.0", free_port(), &[], &[], &fa);
    assert_eq!(b.post("/register?endpoint=ipn:2.1", b"").0, 204);
    let p = peers(&a)[0].clone();
    assert_eq!(p["convergence_layer"], "ltp");
    assert_eq!(p["engine"], 2);
    assert_eq!(p["found_by"], "contact plan");
    assert_eq!(p["state"], "waiting for a contact", "{p}");

    // Bundles submitted before the contact wait for it; 1.1 MB at 100 kB/s outlasts it.
    let mut payloads: Vec<Vec<u8>> = (0..10u8)
        .map(|i| vec![i; 20_000 + usize::from(i) * 1000])
        .collect();
    payloads.push((0..800_000u32).map(|i| (i % 251) as u8).collect());
    for p in &payloads {
        let (status, body) = a.post("/send?destination=ipn:2.1", p);
        assert!(status < 300, "{status} {body}");
    }
    sleep_until(t0);
    a.wait_until("the contact", |_| peers(&a)[0]["state"] == "in contact");
    assert_eq!(peers(&a)[0]["owlt_ms"], owlt_s * 1000);
    assert_eq!(peers(&a)[0]["rate"], rate);
    let text = String::from_utf8_lossy(&common::dtnctl(&a, &["peers"]).stdout).to_string();
    assert!(
        text.contains("ltp") && text.contains("in contact") && text.contains("light time 2000 ms"),
        "{text}"
    );
    sleep_until(gap_from);
    relay.set_up(false);
    sleep_until(gap_to);
    relay.set_up(true);

    let mut got = Vec::new();
    let mut big_at = None;
    for _ in &payloads {
        let p = b.recv_within("ipn:2.1", Duration::from_secs(150));
        if p.len() == 800_000 {
            big_at = Some(dtn_secs());
        }
        got.push(p);
    }
    got.sort();
    let mut want = payloads.clone();
    want.sort();
    assert_eq!(got, want);
    let big_at = big_at.unwrap();
    assert!(
        big_at >= gap_to,
        "the big bundle finished in the second contact ({big_at} vs {gap_to})"
    );
    // Every bundle left A's store: each was reported received in full.
    let deadline = Instant::now() + Duration::from_secs(60);
    while a.status()["stored_bundles"] != 0 {
        assert!(
            Instant::now() < deadline,
            "A still holds bundles: {}",
            a.status()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Only what was lost went again: data bytes beyond one copy of each bundle are at most
    // the bytes the link lost towards B, plus a checkpoint segment for each report lost
    // towards A (a lost report makes the checkpoint go again). A session restarted at the
    // second contact would have sent the big bundle whole again.
    let sent = peers(&a)[0]["ltp_data_bytes_sent"].as_u64().unwrap();
    let payload_bytes: u64 = payloads.iter().map(|p| p.len() as u64).sum();
    // Lost to the link's loss, or sent while the link was down (the relay and A's scheduler
    // switch at the same second, not the same instant).
    let lost_to_b = DatagramStats::get(&relay.stats.lost_bytes, 0)
        + DatagramStats::get(&relay.stats.dropped_bytes, 0);
    let lost_to_a =
        DatagramStats::get(&relay.stats.lost, 1) + DatagramStats::get(&relay.stats.dropped, 1);
    let resent = sent.saturating_sub(payload_bytes);
    // Second copies of recovery rounds and checkpoints on this lossy link are counted
    // apart: they are not ranges sent again, and the loss estimate that turns them on
    // comes from the reports.
    let copies = peers(&a)[0]["ltp_redundant_bytes_sent"].as_u64().unwrap();
    let loss_ppm = peers(&a)[0]["ltp_loss_ppm"].as_u64().unwrap();
    println!(
        "LTP: {payload_bytes} payload bytes; {sent} data bytes sent; {resent} sent again; \
         {copies} in second copies; loss estimated at {loss_ppm} ppm; \
         {lost_to_b} bytes lost towards B; {lost_to_a} datagrams lost towards A"
    );
    assert!(loss_ppm > 0, "the reports told of no loss");
    assert!(lost_to_b > 0, "the link lost nothing");
    // Each bundle carries its primary block and CRCs beside the payload: 200 bytes each.
    let overhead = 200 * payloads.len() as u64;
    assert!(
        resent <= lost_to_b + lost_to_a * 1400 + overhead,
        "{resent} bytes sent again, but only {lost_to_b} lost (and {lost_to_a} reports)"
    );
    assert!(resent < 800_000, "no session restarted");
}

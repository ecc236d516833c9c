//! Emulation and simulation of one small scenario agree, and emulated links use the
//! convergence layer of their profile. The emulator (`netsim emulate`)
//! runs real `dtnd` processes behind userspace link relays in real time, the simulator runs
//! the same node code in virtual time; both deliver every bundle, and their latencies agree
//! within the daemons' processing and the relays' scheduling.

// Test code: a panic is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use netsim::emulate::hosts::Isolation;
use netsim::{Report, Scenario, Simulator};

/// One emulation at a time: each picks free ports and runs real daemons in real time, and
/// two at once race for ports and share two CPUs.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `scenario` with real daemons (at most a minute of it), each in a namespace of its own
/// as root (`Auto`), or all on loopback.
fn emulate(scenario: &Scenario, isolation: Isolation) -> Report {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    netsim::emulate::emulate(
        scenario,
        &netsim::emulate::Options {
            dtnd: env!("CARGO_BIN_EXE_dtnd").into(),
            work_dir: dir.path().to_path_buf(),
            max_duration_ms: 60_000,
            isolation,
        },
        |_, _| {},
    )
    .unwrap()
}

#[test]
fn emulation_and_simulation_agree_on_delivery_and_latency() {
    let text = include_str!("../../netsim/scenarios/emulate-small.toml");
    let scenario = Scenario::from_toml(text).unwrap();
    let simulated = Simulator::new(scenario.clone())
        .unwrap()
        .run(|_, _| {})
        .unwrap();
    let emulated = emulate(&scenario, Isolation::Loopback);
    assert_eq!(simulated.generated, 20);
    assert_eq!(emulated.generated, simulated.generated);
    assert_eq!(simulated.delivered, simulated.generated);
    assert_eq!(
        emulated.delivered,
        emulated.generated,
        "{}",
        emulated.to_table()
    );
    // Two hops of 100 ms delay and ~5 ms at 200 kB/s: about 210 ms either way; the daemons
    // (store sync, HTTP) and the relays add a little, never less.
    let (sim, emu) = (simulated.latency_ms.p50, emulated.latency_ms.p50);
    assert!((200..=230).contains(&sim), "simulated p50 {sim} ms");
    assert!(
        emu + 10 >= sim && emu <= sim + 100,
        "emulated p50 {emu} ms against simulated {sim} ms"
    );
}

#[test]
fn emulated_links_use_their_profiles_convergence_layers_and_recover_loss() {
    let text = include_str!("../../netsim/scenarios/emulate-layers.toml");
    let scenario = Scenario::from_toml(text).unwrap();
    let layers: Vec<_> = scenario.links.iter().map(|l| l.cl.name()).collect();
    assert_eq!(layers, ["quic", "ltp"], "mmwave uses QUIC, deep-space LTP");
    // As root the daemons are in namespaces of their own, and the relays between them.
    let emulated = emulate_all_delivered(&scenario, 20);
    assert_eq!(
        used(&emulated),
        [
            (Some("quic"), Some("static peer")),
            (Some("ltp"), Some("static peer"))
        ]
    );
}

/// Emulates `scenario` (in namespaces as root) and checks it made `generated` bundles and
/// delivered them all.
fn emulate_all_delivered(scenario: &Scenario, generated: u64) -> Report {
    let emulated = emulate(scenario, Isolation::Auto);
    assert_eq!(emulated.generated, generated);
    assert_eq!(
        emulated.delivered,
        emulated.generated,
        "{}",
        emulated.to_table()
    );
    emulated
}

/// Each link's layer and how its first node found the other.
fn used(report: &Report) -> Vec<(Option<&str>, Option<&str>)> {
    report
        .links
        .iter()
        .map(|l| (l.layer.as_deref(), l.found_by.as_deref()))
        .collect()
}

/// Whether this test runs as root (`Uid:` in /proc/self/status).
fn root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
}

#[test]
fn a_pod_lan_finds_itself_by_mdns_and_runs_over_the_ethernet_layer_through_the_frame_switch_recovering_loss(
) {
    let text = include_str!("../../netsim/scenarios/emulate-pod.toml");
    let scenario = Scenario::from_toml(text).unwrap();
    let layers: Vec<_> = scenario.links.iter().map(|l| l.cl.name()).collect();
    assert_eq!(layers, ["ether", "ether"], "poe uses the Ethernet layer");
    let emulated = emulate_all_delivered(&scenario, 40);
    let used = used(&emulated);
    // 40 bundles of 20 kB went tile 1 -> pod -> tile 2, across both links.
    let (first, second) = (&emulated.links[0], &emulated.links[1]);
    assert!(
        first.bytes_a_to_b >= 800_000 && second.bytes_b_to_a >= 800_000,
        "{first:?} {second:?}"
    );
    assert_eq!(first.up_fraction, 1.0);
    if root() {
        // No peer is configured: the tiles and the pod found each other across the switch.
        assert_eq!(used, [(Some("ether"), Some("mDNS")); 2]);
    } else {
        eprintln!("SKIPPED the Ethernet part: namespaces need root; the links ran over TCPCLv4");
        assert_eq!(used, [(Some("tcpcl"), Some("static peer")); 2]);
    }
}

//! The shipped tile-to-planet scenario delivers every bundle its contacts and lifetime allow:
//! for each flow, the bundles that clearly can make it (a deep-space contact opens early
//! enough that, with ten minutes to spare on the ground and in the window, the light time
//! still lands them before they expire and before the run ends) are all delivered, and the
//! bundles that clearly cannot (no such contact at all, even with no time on the ground) are
//! not. mmWave losses and outages cut transfers on the way; none of those bundles is lost.

// Test code: a panic is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bundle_agent::wire::Eid;
use netsim::{Scenario, Simulator};

const MARGIN_MS: u64 = 10 * 60_000;

#[test]
fn every_bundle_the_plan_and_lifetime_allow_is_delivered() {
    let scenario = Scenario::from_toml(include_str!("../scenarios/tile-to-planet.toml")).unwrap();
    let start = scenario.start().0;
    let end = start + scenario.duration_ms;
    let plan = scenario.plan.clone().unwrap();
    let (ground, mars) = (Eid::ipn(3, 0), Eid::ipn(4, 0));
    let report = Simulator::new(scenario.clone())
        .unwrap()
        .run(|_, _| {})
        .unwrap();
    assert!(
        report.lost_on_links > 0,
        "the mmWave links lost transfers on the way"
    );
    for (f, flow) in scenario.flows.iter().enumerate() {
        let from_mars = scenario.nodes[flow.from].id == mars;
        let (tx, rx) = if from_mars {
            (&mars, &ground)
        } else {
            (&ground, &mars)
        };
        let windows: Vec<_> = plan
            .contacts()
            .iter()
            .filter(|c| c.from == *tx && c.to == *rx)
            .collect();
        // Can a bundle made at `t` cross, with `slack` lost on the ground and in the window?
        let crosses = |t: u64, slack: u64| {
            windows.iter().any(|c| {
                let send = (t + slack).max(c.start.0);
                let arrive = send + c.owlt_ms + slack;
                send + slack < c.end.0 && arrive <= t + flow.lifetime_ms && arrive <= end
            })
        };
        let (mut yes, mut no, mut made) = (0u64, 0u64, 0u64);
        let mut t = start + flow.start_ms;
        while t < (start + flow.stop_ms).min(end) {
            made += 1;
            if crosses(t, MARGIN_MS) {
                yes += 1;
            } else if !crosses(t, 0) {
                no += 1;
            }
            t += flow.every_ms;
        }
        let got = &report.flows[f];
        assert_eq!(got.generated, made, "flow {f}");
        assert!(
            got.delivered >= yes && got.delivered <= made - no,
            "flow {f} ({} -> {}): delivered {}, but {yes} clearly can and {no} of {made} clearly cannot",
            got.from,
            got.to,
            got.delivered
        );
        assert!(
            yes > 0 && no > 0,
            "flow {f}: the plan decides for some bundles each way"
        );
    }
}

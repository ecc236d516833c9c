//! The shipped twin scenario: tiles in two pods and a Mars gateway edit twins for 36 hours
//! over mmWave outages and a Mars link up two hours in twelve; after the contacts of two
//! days every replica agrees on every field it may hold. Without the last Mars contact they
//! cannot, and the report says so (the check has teeth).

// Test code: a panic is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use netsim::{Scenario, Simulator};

const SCENARIO: &str = include_str!("../scenarios/twins-mars.toml");

#[test]
fn twins_edited_in_pods_and_on_mars_converge_after_two_days_of_contacts() {
    let scenario = Scenario::from_toml(SCENARIO).unwrap();
    let report = Simulator::new(scenario).unwrap().run(|_, _| {}).unwrap();
    let twins = report.twins.unwrap();
    assert!(twins.edits > 600, "{} edits", twins.edits);
    assert_eq!(twins.refused, 0);
    assert_eq!(twins.twins.len(), 3);
    for t in &twins.twins {
        assert_eq!(t.replicas, 9, "{}", t.name);
        assert!(t.converged, "{} did not converge", t.name);
        // The last change reached someone in the last Mars contact (40 h to 42 h).
        assert!(
            t.last_change_ms > 40 * 3_600_000,
            "{}: {}",
            t.name,
            t.last_change_ms
        );
    }
}

#[test]
fn without_the_last_mars_contact_the_report_says_not_converged() {
    let text = SCENARIO.replace("repeat = 4", "repeat = 3");
    let scenario = Scenario::from_toml(&text).unwrap();
    let report = Simulator::new(scenario).unwrap().run(|_, _| {}).unwrap();
    let twins = report.twins.unwrap();
    let base = twins
        .twins
        .iter()
        .find(|t| t.name == "base/setpoints")
        .unwrap();
    assert!(!base.converged);
}

#[test]
fn a_run_is_the_same_every_time() {
    let scenario = Scenario::from_toml(SCENARIO).unwrap();
    let a = Simulator::new(scenario.clone())
        .unwrap()
        .run(|_, _| {})
        .unwrap();
    let b = Simulator::new(scenario).unwrap().run(|_, _| {}).unwrap();
    assert_eq!(a.twins, b.twins);
}

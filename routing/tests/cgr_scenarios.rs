//! Routing scenarios as data (`tests/scenarios/*.toml`): a contact plan, then steps that
//! route a bundle (and check its path, times, alternatives and the reasons contacts were
//! rejected), book it on its route, or remove a contact. Each file works its expected times
//! out by hand in its comments. One driver runs them all, twice: once as written and once
//! with every bundle routed twice in a row, so the second answer comes from the route
//! cache and must be the same.

// Test code: a panic is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bundle_agent::wire::{DtnTime, Eid};
use routing::{Cgr, ContactPlan, Rejection, RouteQuery};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    name: String,
    k: usize,
    plan: toml::Value,
    step: Vec<Step>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    from: Option<String>,
    to: Option<String>,
    /// Seconds after the plan's epoch.
    at: Option<u64>,
    size: Option<u64>,
    /// Seconds after the plan's epoch.
    deadline: Option<u64>,
    expect_path: Option<Vec<String>>,
    expect_send_at_ms: Option<u64>,
    expect_arrival_ms: Option<u64>,
    expect_alternatives: Option<usize>,
    #[serde(default)]
    expect_no_route: bool,
    /// `volume`, `deadline`, `ended`, `too short` or `removed`: some contact was rejected so.
    expect_rejected: Option<String>,
    #[serde(default)]
    book: bool,
    /// [from, to, start seconds]: this contact fails.
    remove: Option<(String, String, u64)>,
}

fn kind(r: &Rejection) -> &'static str {
    match r {
        Rejection::Ended { .. } => "ended",
        Rejection::TooSmall { .. } => "volume",
        Rejection::NoTimeToSend { .. } => "too short",
        Rejection::TooLate { .. } => "deadline",
        Rejection::Removed => "removed",
    }
}

fn run(path: &std::path::Path, twice: bool) {
    let text = std::fs::read_to_string(path).unwrap();
    let s: Scenario = toml::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let plan_text = toml::to_string(&s.plan).unwrap();
    let plan = ContactPlan::from_toml(&plan_text).unwrap_or_else(|e| panic!("{}: {e}", s.name));
    let epoch = s
        .plan
        .get("epoch_ms")
        .and_then(toml::Value::as_integer)
        .map_or(0, |e| e as u64);
    let mut cgr = Cgr::new(plan, s.k);
    for (n, step) in s.step.iter().enumerate() {
        let what = format!("{} (step {})", s.name, n + 1);
        if let Some((from, to, start)) = &step.remove {
            let (from, to): (Eid, Eid) = (from.parse().unwrap(), to.parse().unwrap());
            let id = cgr
                .plan()
                .contacts()
                .iter()
                .position(|c| c.from == from && c.to == to && c.start.0 == epoch + start * 1000)
                .unwrap_or_else(|| panic!("{what}: no such contact"));
            cgr.remove_contact(id);
            continue;
        }
        let q = RouteQuery {
            from: step.from.as_deref().unwrap().parse().unwrap(),
            to: step.to.as_deref().unwrap().parse().unwrap(),
            now: DtnTime(epoch + step.at.unwrap() * 1000),
            size: step.size.unwrap(),
            deadline: DtnTime(epoch + step.deadline.unwrap() * 1000),
        };
        let answer = cgr.route(&q);
        if twice {
            let again = cgr.route(&q);
            assert_eq!(again.best, answer.best, "{what}: the cached answer differs");
            assert_eq!(
                again.alternatives, answer.alternatives,
                "{what}: cached alternatives"
            );
        }
        if let Some(want) = &step.expect_rejected {
            assert!(
                answer.rejected.iter().any(|(_, r)| kind(r) == want),
                "{what}: no contact rejected for {want}: {:?}",
                answer.rejected
            );
        }
        if step.expect_no_route {
            assert!(answer.best.is_none(), "{what}: a route {:?}", answer.best);
            continue;
        }
        let best = answer
            .best
            .as_ref()
            .unwrap_or_else(|| panic!("{what}: no route; rejected {:?}", answer.rejected));
        if let Some(path) = &step.expect_path {
            let mut nodes: Vec<String> = vec![best.hops[0].from.to_string()];
            nodes.extend(best.hops.iter().map(|h| h.to.to_string()));
            assert_eq!(&nodes, path, "{what}: path");
        }
        if let Some(t) = step.expect_arrival_ms {
            assert_eq!(best.arrival.0, t, "{what}: arrival");
        }
        if let Some(t) = step.expect_send_at_ms {
            assert_eq!(best.send_at().unwrap().0, t, "{what}: send time");
        }
        if let Some(k) = step.expect_alternatives {
            assert_eq!(answer.alternatives.len(), k, "{what}: alternatives");
        }
        for alt in &answer.alternatives {
            assert!(
                alt.arrival >= best.arrival,
                "{what}: alternatives come later"
            );
        }
        if step.book {
            let best = best.clone();
            cgr.book(&best, q.size);
        }
    }
}

fn scenarios() -> Vec<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "the scenarios are missing");
    files
}

#[test]
fn cgr_scenarios_as_written() {
    for f in scenarios() {
        run(&f, false);
    }
}

#[test]
fn cgr_scenarios_answered_again_from_the_cache() {
    for f in scenarios() {
        run(&f, true);
    }
}

//! The contact plan format: what it accepts (periodic contacts expanded, JSON the same as
//! TOML, times counted from the epoch) and every rule it refuses, each error naming the
//! contact and the rule.

// Test code: a panic is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bundle_agent::wire::{DtnTime, Eid};
use routing::{ContactPlan, PlanError};

const PLAN: &str = r#"
epoch_ms = 1000000
nodes = ["ipn:1.0", "ipn:2.0", "dtn://mars-gw/"]

[[contact]]
from = "ipn:1.0"
to = "dtn://mars-gw/"
start = 100
end = 200
rate = 500
owlt = 600
confidence = 0.5
period = 1000
repeat = 3

[[contact]]
from = "ipn:2.0"
to = "ipn:1.0"
start = 0
end = 10
rate = 1
"#;

#[test]
fn periodic_contacts_are_expanded_and_times_count_from_the_epoch() {
    let plan = ContactPlan::from_toml(PLAN).unwrap();
    let c = plan.contacts();
    assert_eq!(c.len(), 4);
    // Ordered by start.
    assert_eq!(c[0].from, Eid::ipn(2, 0));
    assert_eq!(c[0].start, DtnTime(1_000_000));
    let starts: Vec<u64> = c[1..].iter().map(|c| c.start.0).collect();
    assert_eq!(starts, vec![1_100_000, 2_100_000, 3_100_000]);
    assert_eq!(c[3].end, DtnTime(3_200_000));
    assert_eq!(c[1].owlt_ms, 600_000);
    assert_eq!(c[1].volume(), 50_000);
    assert_eq!(c[1].transmit_ms(501), 1002, "rounded up");
    assert_eq!(c[1].to.to_string(), "dtn://mars-gw/");
    assert_eq!(plan.nodes().len(), 3);
}

#[test]
fn json_is_the_same_format() {
    let json = r#"{"contact": [{"from": "ipn:1.0", "to": "ipn:2.0", "start": 0, "end": 5,
                  "rate": 10}]}"#;
    let plan = ContactPlan::from_json(json).unwrap();
    assert_eq!(plan.contacts().len(), 1);
    assert_eq!(plan.contacts()[0].confidence, 1.0);
}

fn refused(contacts: &str) -> PlanError {
    let text = format!("nodes = [\"ipn:1.0\", \"ipn:2.0\"]\n{contacts}");
    ContactPlan::from_toml(&text).unwrap_err()
}

fn contact(from: &str, to: &str, start: u64, end: u64, extra: &str) -> String {
    format!(
        "[[contact]]\nfrom = \"{from}\"\nto = \"{to}\"\nstart = {start}\nend = {end}\nrate = 10\n{extra}\n"
    )
}

#[test]
fn each_rule_is_refused_by_name() {
    let e = refused(&contact("ipn:1.0", "ipn:2.0", 10, 10, ""));
    assert_eq!(
        e.to_string(),
        "contact 1: ends at 10 s, not after its start at 10 s"
    );
    let e = refused(&contact("ipn:1.0", "ipn:9.0", 0, 10, ""));
    assert_eq!(
        e.to_string(),
        "contact 1: unknown node ipn:9.0 (not in `nodes`)"
    );
    let two = contact("ipn:1.0", "ipn:2.0", 0, 10, "") + &contact("ipn:1.0", "ipn:2.0", 5, 20, "");
    let e = refused(&two);
    assert!(
        matches!(
            e,
            PlanError::Overlap {
                first: 1,
                second: 2,
                ..
            }
        ),
        "{e}"
    );
    // The other direction at the same time is a different contact, not an overlap.
    let both_ways =
        contact("ipn:1.0", "ipn:2.0", 0, 10, "") + &contact("ipn:2.0", "ipn:1.0", 0, 10, "");
    assert!(ContactPlan::from_toml(&both_ways).is_ok());
    let e = refused(&contact("ipn:1.0", "ipn:1.0", 0, 10, ""));
    assert!(
        matches!(e, PlanError::SelfContact { contact: 1, .. }),
        "{e}"
    );
    let e = refused(&contact("ipn:1.0", "ipn:2.0", 0, 10, "confidence = 1.5"));
    assert!(
        matches!(e, PlanError::BadConfidence { contact: 1, .. }),
        "{e}"
    );
    let e = refused(&contact(
        "ipn:1.0",
        "ipn:2.0",
        0,
        10,
        "period = 5\nrepeat = 2",
    ));
    assert!(e.to_string().contains("period 5 s is shorter"), "{e}");
    let e = refused(&contact("ipn:1.0", "ipn:2.0", 0, 10, "repeat = 0"));
    assert!(matches!(e, PlanError::BadRepeat { contact: 1, .. }), "{e}");
    let e = refused(&contact("ipn:1.0", "nonsense", 0, 10, ""));
    assert!(
        matches!(
            e,
            PlanError::BadNode {
                contact: 1,
                field: "to",
                ..
            }
        ),
        "{e}"
    );
    let e = refused(
        "[[contact]]\nfrom = \"ipn:1.0\"\nto = \"ipn:2.0\"\nstart = 0\nend = 5\nrate = 0\n",
    );
    assert_eq!(e, PlanError::NoRate { contact: 1 });
    let e = refused("[[contact]]\nfrom = \"ipn:1.0\"\nto = \"ipn:2.0\"\nstart = 0\nend = 5\nrate = 1\nspeed = 3\n");
    assert!(
        matches!(e, PlanError::Syntax(_)),
        "unknown keys are errors: {e}"
    );
    let e = refused(&contact(
        "ipn:1.0",
        "ipn:2.0",
        0,
        10,
        "period = 10\nrepeat = 2000000",
    ));
    assert!(matches!(e, PlanError::TooLarge { .. }), "{e}");
}

//! Importing ION `ionrc` and HDTN JSON contact plans. Expected absolute times were worked
//! out with Python's `datetime` (seconds between 2000-01-01 and the date, times 1000).

// Test code: a panic is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bundle_agent::wire::{DtnTime, Eid};
use routing::import::{from_hdtn, from_ion};
use routing::{Cgr, PlanError, RouteQuery};

const IONRC: &str = "\
## begin ionadmin
1 1 ''
s
# Earth station 1 sees relay 2 for an hour, relay 2 sees Mars gateway 3 later.
a contact +0 +3600 1 2 100000
a contact +0 +3600 2 1 100000
a contact +7200 +10800 2 3 12500 0.8
a range +0 +86400 1 2 1
a range +0 +86400 2 3 600
a contact 2026/11/25-12:30:05 2026/11/25-13:30:05 3 2 12500
m horizon +0
## end ionadmin
";

#[test]
fn ion_contacts_take_the_light_time_of_their_range_in_both_directions() {
    let epoch = DtnTime(1_000_000);
    let plan = from_ion(IONRC, epoch).unwrap();
    let c = plan.contacts();
    assert_eq!(c.len(), 4);
    let find = |from: u32, to: u32| {
        c.iter()
            .find(|c| c.from == Eid::ipn(from, 0) && c.to == Eid::ipn(to, 0))
            .unwrap()
    };
    assert_eq!(find(1, 2).start, DtnTime(1_000_000));
    assert_eq!(find(1, 2).end, DtnTime(1_000_000 + 3_600_000));
    assert_eq!(find(1, 2).owlt_ms, 1000);
    assert_eq!(find(2, 1).owlt_ms, 1000, "the range holds both ways");
    assert_eq!(find(2, 3).owlt_ms, 600_000);
    assert_eq!(find(2, 3).confidence, 0.8);
    assert_eq!(find(2, 3).rate, 12_500);
    // Absolute time: 2026-11-25 12:30:05 UTC.
    assert_eq!(find(3, 2).start, DtnTime(848_925_005_000));
    assert_eq!(
        find(3, 2).owlt_ms,
        0,
        "the 2-3 range covers only the first day after the epoch"
    );

    // And it routes: 1000 bytes from 1 at the epoch reach 3 at 7200 s + 0.08 s + 600 s.
    let mut cgr = Cgr::new(plan, 2);
    let best = cgr
        .route(&RouteQuery {
            from: Eid::ipn(1, 0),
            to: Eid::ipn(3, 0),
            now: epoch,
            size: 1000,
            deadline: DtnTime(u64::MAX),
        })
        .best
        .unwrap();
    assert_eq!(best.arrival, DtnTime(1_000_000 + 7_200_000 + 80 + 600_000));
}

#[test]
fn ion_errors_name_the_line() {
    let e = from_ion("a contact +0 +10 1 2\n", DtnTime(0)).unwrap_err();
    assert!(e.to_string().contains("line 1"), "{e}");
    let e = from_ion("\n\na contact +0 soon 1 2 10\n", DtnTime(0)).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("contact plan: line 3: time \"soon\""),
        "{e}"
    );
    let e = from_ion("a contact 1999/12/31-23:59:59 +10 1 2 10\n", DtnTime(0)).unwrap_err();
    assert!(e.to_string().contains("before 2000"), "{e}");
    let leap = from_ion(
        "a contact 2024/02/29-23:59:59 2024/03/01-00:00:09 1 2 10\n",
        DtnTime(0),
    )
    .unwrap();
    assert_eq!(leap.contacts()[0].start, DtnTime(762_566_399_000));
    assert_eq!(leap.contacts()[0].end, DtnTime(762_566_409_000));
    // Validation applies: a contact that ends before it starts.
    let e = from_ion("a contact +10 +5 1 2 10\n", DtnTime(0)).unwrap_err();
    assert!(matches!(e, PlanError::EndBeforeStart { .. }), "{e}");
}

#[test]
fn hdtn_json_plans_are_read_with_rates_in_bits() {
    let json = r#"{"contacts": [
        {"contact": 0, "source": 10, "dest": 2, "startTime": 0, "endTime": 1000,
         "rateBitsPerSec": 0, "owlt": 1},
        {"contact": 1, "source": 2, "dest": 20, "startTime": 50, "endTime": 100,
         "rateBitsPerSec": 80000, "owlt": 3}
    ]}"#;
    let plan = from_hdtn(json, DtnTime(0)).unwrap();
    let c = plan.contacts();
    assert_eq!(c.len(), 2);
    assert_eq!(c[0].from, Eid::ipn(10, 0));
    assert_eq!(c[0].rate, u64::MAX, "0 means not limited");
    assert_eq!(c[1].rate, 10_000, "80,000 bits/s");
    assert_eq!(c[1].owlt_ms, 3000);
    let mut cgr = Cgr::new(plan, 1);
    let best = cgr
        .route(&RouteQuery {
            from: Eid::ipn(10, 0),
            to: Eid::ipn(20, 0),
            now: DtnTime(0),
            size: 10_000,
            deadline: DtnTime(u64::MAX),
        })
        .best
        .unwrap();
    // 10 -> 2: sent at once (1 ms at an unlimited rate), 1 s of light time; 2 -> 20 from
    // 50 s, 1 s to send, 3 s of light time.
    assert_eq!(best.arrival, DtnTime(54_000));
    assert!(from_hdtn("{\"contacts\": 3}", DtnTime(0)).is_err());
}

//! Three real `dtnd` processes routing by one contact plan (contact graph routing): A -> B
//! from 4 s to 9 s, B -> C from 11 s to 16 s. A bundle sent at once waits at A for the
//! first contact and at B for the second; sessions open and close on the schedule;
//! `dtnctl route explain` and `dtnctl contacts` show the plan's view, `dtnctl trace` shows
//! both hops, and a reload refuses a bad plan and takes a good one.

// Test code: a panic is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::{Duration, Instant};

use common::{dtnctl, free_port, Node};
use serde_json::Value;

fn plan(epoch_ms: u64, extra: &str) -> String {
    format!(
        "epoch_ms = {epoch_ms}\n\
         [[contact]]\nfrom = \"ipn:1.0\"\nto = \"ipn:2.0\"\nstart = 4\nend = 9\nrate = 1000000\n\
         [[contact]]\nfrom = \"ipn:2.0\"\nto = \"ipn:3.0\"\nstart = 11\nend = 16\nrate = 1000000\nowlt = 1\n{extra}"
    )
}

fn json(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "dtnctl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_bundle_waits_for_two_contacts_and_trace_shows_both_hops() {
    let dir = tempfile::tempdir().unwrap();
    // The plan's clock starts 2 s from now, so all three daemons are up before any contact.
    let epoch = tools::cli_io::dtn_now().0 + 2_000;
    let plan_path = dir.path().join("plan.toml");
    std::fs::write(&plan_path, plan(epoch, "")).unwrap();
    let (pa, pb, pc) = (free_port(), free_port(), free_port());
    let with_plan = |peer: Option<(&str, u16)>| {
        let mut v = vec![
            "--contact-plan".to_string(),
            plan_path.display().to_string(),
        ];
        if let Some((node, port)) = peer {
            v.push("--contact-peer".into());
            v.push(format!("{node}=127.0.0.1:{port}"));
        }
        v
    };
    let c = Node::start_with(dir.path(), "ipn:3.0", pc, &[], &[], &with_plan(None));
    let b = Node::start_with(
        dir.path(),
        "ipn:2.0",
        pb,
        &[],
        &[],
        &with_plan(Some(("ipn:3.0", pc))),
    );
    let a = Node::start_with(
        dir.path(),
        "ipn:1.0",
        pa,
        &[],
        &[],
        &with_plan(Some(("ipn:2.0", pb))),
    );
    assert_eq!(c.post("/register?endpoint=ipn:3.1", b"").0, 204);

    let (code, id) = a.post("/send?destination=ipn:3.1", b"waited for two contacts");
    assert_eq!(code, 201, "{id}");
    let id = id.trim().to_string();

    // Before the first contact: held at A, no session open, and the route explained.
    assert_eq!(a.status()["stored_bundles"], 1);
    assert_eq!(a.status()["sessions"], 0, "no contact, no session");
    let e = json(&dtnctl(
        &a,
        &["route", "explain", "ipn:3.1", "--size", "100", "--json"],
    ));
    assert_eq!(e["router"], "cgr");
    assert_eq!(e["next_hop"], "ipn:2.0");
    let hops = e["chosen"]["hops"].as_array().unwrap();
    assert_eq!(hops.len(), 2);
    assert_eq!(hops[0]["send_at_ms"], epoch + 4_000);
    assert_eq!(hops[1]["send_at_ms"], epoch + 11_000);
    // 100 bytes at 1 MB/s take 0.1 ms (rounded up to 1 ms) plus 1 s of light time.
    let arrival = e["chosen"]["arrival_ms"].as_u64().unwrap();
    assert!((epoch + 12_000..=epoch + 12_001).contains(&arrival), "{e}");
    let text = dtnctl(&a, &["route", "explain", "ipn:3.1"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("next hop: ipn:2.0"), "{text}");
    assert!(text.contains("ipn:2.0 -> ipn:3.0"), "{text}");
    let contacts = json(&dtnctl(&a, &["contacts", "--json"]));
    assert_eq!(contacts.as_array().unwrap().len(), 2);
    assert_eq!(contacts[0]["state"], "future");

    // Delivered after the second contact opens, not before.
    let payload = c.recv_within("ipn:3.1", Duration::from_secs(40));
    assert_eq!(payload, b"waited for two contacts");
    assert!(
        tools::cli_io::dtn_now().0 >= epoch + 11_000,
        "not before B's contact to C"
    );

    let trace = json(&dtnctl(
        &a,
        &[
            "trace",
            &id,
            "--node",
            &format!("ipn:2.0={}", b.url("")),
            "--node",
            &format!("ipn:3.0={}", c.url("")),
            "--json",
        ],
    ));
    assert_eq!(
        trace["path"],
        serde_json::json!(["ipn:1.0", "ipn:2.0", "ipn:3.0"]),
        "{trace}"
    );
    assert!(
        trace["outcome"]
            .as_str()
            .unwrap()
            .starts_with("delivered to ipn:3.1 at ipn:3.0"),
        "{trace}"
    );
    let at = |node: &str, kind: &str| {
        trace["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["node"] == node && e["kind"] == kind)
            .and_then(|e| e["at_ms"].as_u64())
            .unwrap_or_else(|| panic!("no {kind} event at {node}: {trace}"))
    };
    assert!(
        at("ipn:1.0", "forwarded") >= epoch + 4_000,
        "A forwarded in its contact"
    );
    assert!(at("ipn:2.0", "received") < epoch + 9_000);
    assert!(
        at("ipn:2.0", "forwarded") >= epoch + 11_000,
        "B held it for its contact"
    );
    let text = dtnctl(
        &a,
        &["trace", &id, "--node", &format!("ipn:2.0={}", b.url(""))],
    );
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("path: ipn:1.0 -> ipn:2.0 -> ipn:3.0"),
        "{text}"
    );
    assert!(
        text.contains("ipn:3.0 is named in a log but its API is unknown"),
        "{text}"
    );

    // The first contact is over: A closed its session to B.
    wait_for("A's session to close", Duration::from_secs(10), || {
        a.status()["sessions"] == 0
    });

    // Reload: a plan that does not validate is refused, the old one stays; a good one is taken.
    std::fs::write(
        &plan_path,
        plan(
            epoch,
            "[[contact]]\nfrom = \"ipn:1.0\"\nto = \"ipn:2.0\"\nstart = 8\nend = 20\nrate = 1\n",
        ),
    )
    .unwrap();
    let out = dtnctl(&a, &["contacts", "reload"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("overlap"), "{err}");
    assert_eq!(
        json(&dtnctl(&a, &["contacts", "--json"]))
            .as_array()
            .unwrap()
            .len(),
        2
    );
    std::fs::write(
        &plan_path,
        plan(
            epoch,
            "[[contact]]\nfrom = \"ipn:1.0\"\nto = \"ipn:3.0\"\nstart = 100\nend = 200\nrate = 1000\n",
        ),
    )
    .unwrap();
    let out = dtnctl(&a, &["contacts", "reload"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("3 contacts"));
    let e = json(&dtnctl(
        &a,
        &["route", "explain", "ipn:3.1", "--json", "--at", "+0s"],
    ));
    assert_eq!(
        e["next_hop"], "ipn:3.0",
        "the new direct contact is the only way now: {e}"
    );
}

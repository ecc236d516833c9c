//! The simulator: determinism (same scenario and seed, same bytes; another seed, another
//! run), the link model's statistics against its parameters, and scenario errors that name
//! what is wrong.

// Test code: a panic is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use netsim::{Report, Scenario, Simulator};

fn run(text: &str, seed: Option<u64>) -> Report {
    let mut s = Scenario::from_toml(text).unwrap();
    if let Some(seed) = seed {
        s.seed = seed;
    }
    Simulator::new(s).unwrap().run(|_, _| {}).unwrap()
}

/// The shipped small scenario, cut to six hours to keep the test short.
fn small() -> String {
    include_str!("../scenarios/small.toml").replace("duration = \"1d\"", "duration = \"6h\"")
}

#[test]
fn the_same_scenario_and_seed_give_the_same_report_to_the_byte() {
    let a = run(&small(), None).to_json();
    let b = run(&small(), None).to_json();
    assert_eq!(a, b);
    let other = run(&small(), Some(2)).to_json();
    assert_ne!(a, other, "another seed draws other losses and outages");
    let r: serde_json::Value = serde_json::from_str(&a).unwrap();
    assert!(r["delivered"].as_u64().unwrap() > 0, "{a}");
}

fn two_nodes(link: &str, traffic: &str, duration: &str) -> String {
    format!(
        "name = \"two nodes\"\nduration = \"{duration}\"\n\
         [[node]]\nid = \"ipn:1.0\"\ntier = \"tile\"\n\
         [[node]]\nid = \"ipn:2.0\"\ntier = \"pod\"\n\
         [[link]]\na = \"ipn:1.0\"\nb = \"ipn:2.0\"\n{link}\n\
         [[traffic]]\nfrom = \"ipn:1.0\"\nto = \"ipn:2.1\"\n{traffic}\n"
    )
}

#[test]
fn link_rate_and_delay_give_the_latency_they_should() {
    // 1000 B/s and 500 ms: a bundle of n bytes arrives n ms + 500 ms after it is sent, every
    // time (one bundle a minute never queues).
    let r = run(
        &two_nodes(
            "rate = 1000\ndelay = \"500ms\"",
            "every = \"1m\"\nsize = 1000\nlifetime = \"1h\"",
            "1h",
        ),
        None,
    );
    assert_eq!(r.delivered, r.generated);
    let l = &r.latency_ms;
    assert_eq!(l.p50, l.max, "no queueing, no jitter: {l:?}");
    // The bundle is the 1000-byte payload plus its blocks (a few dozen bytes).
    assert!((500 + 1_000..=500 + 1_100).contains(&l.p50), "{l:?}");
    assert_eq!(r.hops_mean, 1.0);
    // Twice the rate halves the transmission time.
    let fast = run(
        &two_nodes(
            "rate = 2000\ndelay = \"500ms\"",
            "every = \"1m\"\nsize = 1000\nlifetime = \"1h\"",
            "1h",
        ),
        None,
    );
    assert_eq!(fast.latency_ms.p50 - 500, (l.p50 - 500).div_ceil(2));
}

#[test]
fn losses_happen_at_the_configured_rate_and_are_retransmitted() {
    let r = run(
        &two_nodes(
            "loss = 0.2",
            "every = \"1s\"\nsize = 100\nlifetime = \"1h\"\nstop = \"50m\"",
            "1h",
        ),
        None,
    );
    let rate = r.lost_on_links as f64 / r.transmissions as f64;
    assert!(
        (rate - 0.2).abs() < 0.03,
        "lost {rate} of transmissions, configured 0.2"
    );
    assert_eq!(r.delivered, r.generated, "every lost bundle was sent again");
    assert!(r.overhead > 1.15 && r.overhead < 1.35, "{}", r.overhead);
}

#[test]
fn outages_keep_a_link_up_the_share_their_means_say() {
    let r = run(
        &two_nodes(
            "schedule = \"outages\"\nmean_up = \"10m\"\nmean_down = \"5m\"",
            "every = \"1m\"\nsize = 100\nlifetime = \"1d\"",
            "7d",
        ),
        None,
    );
    let up = r.links[0].up_fraction;
    assert!(
        (up - 2.0 / 3.0).abs() < 0.05,
        "up {up} of the time, expected 2/3"
    );
    // Bundles wait out the outages: all but the last few arrive.
    assert!(
        r.delivered + 20 >= r.generated,
        "{} of {}",
        r.delivered,
        r.generated
    );
}

#[test]
fn bad_scenarios_are_refused_with_the_item_and_the_rule() {
    let e = |text: &str| Scenario::from_toml(text).unwrap_err().to_string();
    let base = two_nodes(
        "profile = \"poe\"",
        "every = \"1m\"\nsize = 1\nlifetime = \"1h\"",
        "1h",
    );
    assert!(e(&base.replace("profile = \"poe\"", "profile = \"laser\""))
        .contains("link[0].profile \"laser\""));
    assert!(e(&base.replace("b = \"ipn:2.0\"", "b = \"ipn:9.0\""))
        .contains("link[0].b \"ipn:9.0\": no such node"));
    assert!(e(&base.replace("tier = \"pod\"", "tier = \"moon\"")).contains("node[1].tier \"moon\""));
    assert!(e(&base.replace("every = \"1m\"", "every = \"soon\"")).contains("traffic[0].every"));
    assert!(e(&base.replace("to = \"ipn:2.1\"", "to = \"ipn:2.0\""))
        .contains("an application endpoint"));
    assert!(e(&base.replace("profile = \"poe\"", "loss = 2.0"))
        .contains("link[0].loss 2: must be between 0 and 1"));
    assert!(e(&base.replace(
        "[[node]]\nid = \"ipn:1.0\"\ntier = \"tile\"",
        "[[node]]\nid = \"ipn:1.0\"\ntier = \"tile\"\nrouter = \"cgr\""
    ))
    .contains("needs a [plan]"));
    assert!(e(&format!("{base}\nspeed = 3\n")).contains("unknown field"));
    assert!(
        e(&base.replace("profile = \"poe\"", "cl = \"carrier-pigeon\""))
            .contains("link[0].cl \"carrier-pigeon\": use tcpcl, quic, ltp, ether")
    );
}

#[test]
fn links_take_their_profiles_convergence_layer_unless_they_name_one() {
    let layers = |link: &str| {
        let text = two_nodes(link, "every = \"1m\"\nsize = 1\nlifetime = \"1h\"", "1h");
        Scenario::from_toml(&text).unwrap().links[0].cl.name()
    };
    assert_eq!(layers("profile = \"poe\""), "ether");
    assert_eq!(layers("profile = \"mmwave\""), "quic");
    assert_eq!(layers("profile = \"backhaul\""), "quic");
    assert_eq!(layers("profile = \"deep-space\""), "ltp");
    assert_eq!(layers("profile = \"deep-space\"\ncl = \"tcpcl\""), "tcpcl");
    assert_eq!(layers("rate = 1000"), "ether", "no profile: poe's");
    assert_eq!(layers("profile = \"poe\"\ncl = \"tcpcl\""), "tcpcl");
}

#[test]
fn plots_draw_every_series_of_the_report() {
    let r = run(&small(), None);
    assert!(
        r.timeline.len() > 100,
        "about 200 samples: {}",
        r.timeline.len()
    );
    assert_eq!(r.latency_cdf_ms.len(), 101);
    assert!(
        r.latency_cdf_ms.windows(2).all(|w| w[0] <= w[1]),
        "a CDF rises"
    );
    let plots = netsim::plot::plots(&r);
    let names: Vec<&str> = plots.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["latency.svg", "deliveries.svg", "store.svg"]);
    for (name, svg) in &plots {
        assert!(
            svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
            "{name}"
        );
        let lines = svg.matches("<polyline").count();
        let want = match *name {
            "latency.svg" => 1,
            "deliveries.svg" => 2,
            _ => r.tiers.len(),
        };
        assert_eq!(lines, want, "{name}: one line per series");
    }
}

#[test]
fn expedited_bundles_overtake_bulk_ones_on_a_congested_link() {
    // 3 kB/s offered to a 2 kB/s link: a backlog builds; the expedited flow goes first.
    let text = two_nodes(
        "rate = 2000\ndelay = \"10ms\"",
        "every = \"400ms\"\nsize = 1000\nlifetime = \"1d\"\npriority = \"bulk\"\n\
         [[traffic]]\nfrom = \"ipn:1.0\"\nto = \"ipn:2.2\"\nevery = \"2s\"\nsize = 1000\n\
         lifetime = \"1d\"\npriority = \"expedited\"",
        "10m",
    );
    let r = run(&text, None);
    let (bulk, expedited) = (&r.flows[0], &r.flows[1]);
    assert!(
        expedited.latency_ms.p90 < 5_000,
        "expedited waits only behind what is on the link: {:?}",
        expedited.latency_ms
    );
    assert!(
        bulk.latency_ms.p50 > 10 * expedited.latency_ms.p90,
        "bulk {:?} against expedited {:?}",
        bulk.latency_ms,
        expedited.latency_ms
    );
    assert_eq!(expedited.delivered, expedited.generated);
    assert!(
        Scenario::from_toml(&text.replace("\"expedited\"", "\"urgent\""))
            .unwrap_err()
            .to_string()
            .contains("traffic[1].priority \"urgent\"")
    );
}

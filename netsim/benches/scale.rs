//! How fast the simulator runs: generated federation trees (global, regions over backhaul,
//! hubs, pods over mmWave with outages, tiles over PoE), every tile sending a 1 KiB twin
//! delta up to the global node on a period, static routes up the tree. Prints simulated
//! node-hours per wall-clock second for each size. `NETSIM_BENCH_QUICK=1` runs small sizes
//! only (CI).

use std::time::Instant;

use netsim::{Scenario, Simulator};

/// A tree of `nodes` nodes over `days` of virtual time, each tile sending every `every`.
fn tree(nodes: u32, days: u32, every: &str) -> String {
    let regions = (nodes / 250).max(1);
    let hubs = (nodes / 50).max(1);
    let pods = (nodes / 10).max(1);
    let tiles = nodes - 1 - regions - hubs - pods;
    let (r0, h0, p0, t0) = (
        10,
        10 + regions,
        10 + regions + hubs,
        10 + regions + hubs + pods,
    );
    format!(
        r#"
name = "tree of {nodes} nodes"
duration = "{days}d"

[[node]]
id = "ipn:1.0"
tier = "global"

[[nodes]]
first = {r0}
count = {regions}
tier = "region"
uplink = "ipn:1.0"
profile = "backhaul"
route_up = true

[[nodes]]
first = {h0}
count = {hubs}
tier = "hub"
uplinks = {{ first = {r0}, count = {regions} }}
profile = "backhaul"
route_up = true

[[nodes]]
first = {p0}
count = {pods}
tier = "pod"
uplinks = {{ first = {h0}, count = {hubs} }}
profile = "mmwave"
route_up = true

[[nodes]]
first = {t0}
count = {tiles}
tier = "tile"
uplinks = {{ first = {p0}, count = {pods} }}
profile = "poe"
route_up = true

[[traffic]]
from = "ipn:{t0}.0"
count = {tiles}
to = "ipn:1.1"
every = "{every}"
random = true
size = 1024
lifetime = "1d"
"#
    )
}

fn main() {
    let quick = std::env::var_os("NETSIM_BENCH_QUICK").is_some();
    let sizes: &[(u32, u32, &str)] = if quick {
        &[(100, 1, "30m"), (1_000, 1, "1h")]
    } else {
        &[(100, 7, "10m"), (1_000, 7, "10m"), (10_000, 1, "30m")]
    };
    println!("| nodes | virtual time | bundles | delivered | events | wall clock | node-hours per second |");
    println!("|---|---|---|---|---|---|---|");
    for &(nodes, days, every) in sizes {
        let scenario = match Scenario::from_toml(&tree(nodes, days, every)) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        };
        let t = Instant::now();
        let report = match Simulator::new(scenario).and_then(|s| s.run(|_, _| {})) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        };
        let wall = t.elapsed().as_secs_f64();
        let node_hours = f64::from(nodes) * f64::from(days) * 24.0;
        println!(
            "| {nodes} | {days} d | {} | {} | {} | {wall:.1} s | {:.0} |",
            report.generated,
            report.delivered,
            report.events,
            node_hours / wall
        );
    }
}

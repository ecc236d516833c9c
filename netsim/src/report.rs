//! What a run measured, and the report made of it: delivery ratio, latency percentiles, hop
//! counts, overhead (transmissions per delivered bundle), store peaks, link utilisation; in
//! all, per flow and per tier; as a table for people and JSON for scripts. Everything is
//! kept in ordered maps so the JSON of a run is the same bytes every time.

// Node numbers in the scenario were checked when it was loaded.
#![allow(clippy::indexing_slicing)]

use std::collections::BTreeMap;

use bundle_agent::wire::{BundleId, Eid};
use serde::Serialize;

use crate::scenario::Scenario;

#[derive(Debug, Clone)]
struct Generated {
    flow: usize,
    destination: Eid,
    at: u64,
    delivered_at: Option<u64>,
    hops: Option<u64>,
}

/// What the simulator saw, as it happened.
#[derive(Debug)]
pub struct Observations {
    bundles: BTreeMap<BundleId, Generated>,
    /// Per link, per direction: bytes sent.
    link_bytes: Vec<[u64; 2]>,
    /// Per link: milliseconds up so far, and since when it is up.
    link_up: Vec<(u64, Option<u64>)>,
    transmissions: u64,
    lost_on_links: u64,
    delivered_count: u64,
    timeline: Vec<Sample>,
}

impl Observations {
    /// Nothing seen yet.
    pub fn new(s: &Scenario) -> Self {
        Self {
            bundles: BTreeMap::new(),
            link_bytes: vec![[0; 2]; s.links.len()],
            link_up: vec![(0, None); s.links.len()],
            transmissions: 0,
            lost_on_links: 0,
            delivered_count: 0,
            timeline: Vec::new(),
        }
    }

    /// A sample of the run at `at_ms` from the start: bytes stored per tier.
    pub fn sample(&mut self, at_ms: u64, stored_bytes: BTreeMap<String, u64>) {
        self.timeline.push(Sample {
            at_ms,
            generated: self.bundles.len() as u64,
            delivered: self.delivered_count,
            stored_bytes,
        });
    }

    /// A flow made a bundle.
    pub fn generated(&mut self, id: BundleId, flow: usize, destination: Eid, at: u64) {
        self.bundles.insert(
            id,
            Generated {
                flow,
                destination,
                at,
                delivered_at: None,
                hops: None,
            },
        );
    }

    /// The node a generated bundle is for (`dtn:none` for others).
    pub fn destination_node(&self, id: &BundleId) -> Eid {
        self.bundles
            .get(id)
            .map_or(Eid::Null, |g| g.destination.clone())
    }

    /// A bundle reached its destination's node after `hops` forwards.
    pub fn arrived(&mut self, id: &BundleId, hops: u64) {
        if let Some(g) = self.bundles.get_mut(id) {
            g.hops.get_or_insert(hops);
        }
    }

    /// A bundle was delivered to its endpoint (the first delivery counts).
    pub fn delivered(&mut self, id: &BundleId, at: u64) {
        if let Some(g) = self.bundles.get_mut(id) {
            if g.delivered_at.is_none() {
                g.delivered_at = Some(at);
                self.delivered_count += 1;
            }
        }
    }

    /// `size` bytes went out on link `l` in direction `dir`.
    pub fn transmitted(&mut self, l: usize, dir: usize, size: u64) {
        self.transmissions += 1;
        if let Some(b) = self.link_bytes.get_mut(l).and_then(|d| d.get_mut(dir)) {
            *b += size;
        }
    }

    /// `bytes` crossed link `l` in direction `dir`, counted by the link rather than per
    /// transmission (the emulator's relays).
    pub fn carried(&mut self, l: usize, dir: usize, bytes: u64) {
        if let Some(b) = self.link_bytes.get_mut(l).and_then(|d| d.get_mut(dir)) {
            *b += bytes;
        }
    }

    /// A transmission was lost on its link.
    pub fn lost_on_link(&mut self) {
        self.lost_on_links += 1;
    }

    /// Link `l` went up or down at `at`.
    pub fn link_change(&mut self, l: usize, up: bool, at: u64) {
        if let Some((total, since)) = self.link_up.get_mut(l) {
            match (up, *since) {
                (true, None) => *since = Some(at),
                (false, Some(s)) => {
                    *total += at - s;
                    *since = None;
                }
                _ => {}
            }
        }
    }

    /// The report. `nodes` holds each node's store peak and expired bundles.
    pub fn report(&self, s: &Scenario, nodes: &[(u64, u64)], events: u64, end: u64) -> Report {
        let delivered: Vec<&Generated> = self
            .bundles
            .values()
            .filter(|g| g.delivered_at.is_some())
            .collect();
        let latency = |list: &[&Generated]| {
            let mut v: Vec<u64> = list
                .iter()
                .filter_map(|g| g.delivered_at.map(|d| d - g.at))
                .collect();
            v.sort_unstable();
            v
        };
        let all_latencies = latency(&delivered);
        let latency_cdf_ms: Vec<u64> = if all_latencies.is_empty() {
            Vec::new()
        } else {
            (0..=100)
                .map(|p| {
                    let i = ((all_latencies.len() - 1) * p) / 100;
                    all_latencies.get(i).copied().unwrap_or(0)
                })
                .collect()
        };
        // One pass over the bundles, by flow.
        let mut by_flow: Vec<(u64, Vec<&Generated>)> = vec![(0, Vec::new()); s.flows.len()];
        for g in self.bundles.values() {
            if let Some((made, got)) = by_flow.get_mut(g.flow) {
                *made += 1;
                if g.delivered_at.is_some() {
                    got.push(g);
                }
            }
        }
        let mut flows = Vec::new();
        for (spec, (made, got)) in s.flows.iter().zip(&by_flow) {
            flows.push(FlowReport {
                from: s.nodes[spec.from].id.to_string(),
                to: spec.to.to_string(),
                generated: *made,
                delivered: got.len() as u64,
                latency_ms: Latency::of(&latency(got)),
            });
        }
        let mut tiers: BTreeMap<String, TierReport> = BTreeMap::new();
        let mut per_node = Vec::with_capacity(s.nodes.len());
        for (i, n) in s.nodes.iter().enumerate() {
            let t = tiers.entry(n.tier.name().to_string()).or_default();
            let (peak, expired) = nodes.get(i).copied().unwrap_or((0, 0));
            t.nodes += 1;
            t.store_peak_bytes = t.store_peak_bytes.max(peak);
            t.expired += expired;
            per_node.push(NodeReport {
                id: n.id.to_string(),
                tier: n.tier.name().to_string(),
                store_peak_bytes: peak,
                expired,
            });
        }
        let duration = s.duration_ms.max(1);
        let links = s
            .links
            .iter()
            .enumerate()
            .map(|(l, spec)| {
                let bytes = self.link_bytes.get(l).copied().unwrap_or([0; 2]);
                let (mut up_ms, since) = self.link_up.get(l).copied().unwrap_or((0, None));
                if let Some(since) = since {
                    up_ms += end.saturating_sub(since);
                }
                let capacity = spec.model.rate as f64 * up_ms as f64 / 1000.0;
                let util = |b: u64| {
                    if capacity > 0.0 {
                        b as f64 / capacity
                    } else {
                        0.0
                    }
                };
                LinkReport {
                    a: s.nodes[spec.a].id.to_string(),
                    b: s.nodes[spec.b].id.to_string(),
                    bytes_a_to_b: bytes[0],
                    bytes_b_to_a: bytes[1],
                    up_fraction: round(up_ms as f64 / duration as f64),
                    utilisation: round(util(bytes[0]).max(util(bytes[1]))),
                    layer: None,
                    found_by: None,
                }
            })
            .collect();
        let hops: Vec<u64> = delivered.iter().filter_map(|g| g.hops).collect();
        let generated = self.bundles.len() as u64;
        let n_delivered = delivered.len() as u64;
        Report {
            scenario: s.name.clone(),
            seed: s.seed,
            nodes: s.nodes.len() as u64,
            virtual_ms: s.duration_ms,
            events,
            generated,
            delivered: n_delivered,
            delivery_ratio: round(if generated == 0 {
                0.0
            } else {
                n_delivered as f64 / generated as f64
            }),
            latency_ms: Latency::of(&all_latencies),
            latency_cdf_ms,
            timeline: self.timeline.clone(),
            twins: None,
            hops_mean: round(if hops.is_empty() {
                0.0
            } else {
                hops.iter().sum::<u64>() as f64 / hops.len() as f64
            }),
            hops_max: hops.iter().copied().max().unwrap_or(0),
            transmissions: self.transmissions,
            overhead: round(if n_delivered == 0 {
                0.0
            } else {
                self.transmissions as f64 / n_delivered as f64
            }),
            lost_on_links: self.lost_on_links,
            flows,
            tiers,
            per_node,
            links,
        }
    }
}

/// Rounds to 4 decimals, so reports read well and compare exactly.
fn round(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Largest.
    pub max: u64,
}

impl Latency {
    fn of(sorted: &[u64]) -> Self {
        let at = |q: f64| {
            if sorted.is_empty() {
                return 0;
            }
            let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
            sorted.get(i).copied().unwrap_or(0)
        };
        Self {
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            max: sorted.last().copied().unwrap_or(0),
        }
    }
}

/// One flow's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlowReport {
    /// Sending node.
    pub from: String,
    /// Destination endpoint.
    pub to: String,
    /// Bundles made.
    pub generated: u64,
    /// Bundles delivered.
    pub delivered: u64,
    /// Their latency.
    pub latency_ms: Latency,
}

/// One tier's figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TierReport {
    /// Nodes in it.
    pub nodes: u64,
    /// The largest store occupancy any of its nodes reached, in bytes.
    pub store_peak_bytes: u64,
    /// Bundles its nodes deleted at the end of their lifetime.
    pub expired: u64,
}

/// One node's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeReport {
    /// Its node ID.
    pub id: String,
    /// Its tier.
    pub tier: String,
    /// The most bytes its store held.
    pub store_peak_bytes: u64,
    /// Bundles it deleted at the end of their lifetime.
    pub expired: u64,
}

/// One link's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkReport {
    /// One end.
    pub a: String,
    /// The other end.
    pub b: String,
    /// Bytes sent from a to b.
    pub bytes_a_to_b: u64,
    /// Bytes sent from b to a.
    pub bytes_b_to_a: u64,
    /// Share of the run the link was up.
    pub up_fraction: f64,
    /// Bytes sent over what it could carry while up (the busier direction).
    pub utilisation: f64,
    /// The convergence layer the link ran over (emulation: what its first node's `/peers`
    /// said at the end).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<String>,
    /// How the link's first node came to have it: "static peer", "mDNS" (emulation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found_by: Option<String>,
}

/// The report of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The scenario's name.
    pub scenario: String,
    /// The seed.
    pub seed: u64,
    /// Nodes.
    pub nodes: u64,
    /// Virtual time simulated.
    pub virtual_ms: u64,
    /// Events processed.
    pub events: u64,
    /// Bundles the flows made.
    pub generated: u64,
    /// Of those, delivered.
    pub delivered: u64,
    /// delivered / generated.
    pub delivery_ratio: f64,
    /// Latency of delivered bundles.
    pub latency_ms: Latency,
    /// Mean forwards on the way to the destination.
    pub hops_mean: f64,
    /// Most forwards.
    pub hops_max: u64,
    /// Bundles put on links (copies and retransmissions count).
    pub transmissions: u64,
    /// Transmissions per delivered bundle.
    pub overhead: f64,
    /// Transmissions lost on links.
    pub lost_on_links: u64,
    /// Per flow.
    pub flows: Vec<FlowReport>,
    /// Per tier.
    pub tiers: BTreeMap<String, TierReport>,
    /// Per node (in the JSON; the table shows tiers).
    pub per_node: Vec<NodeReport>,
    /// Per link.
    pub links: Vec<LinkReport>,
    /// Latency at each percentile of the delivered bundles, 0 to 100 (for the plot).
    pub latency_cdf_ms: Vec<u64>,
    /// Samples through the run (for the plots).
    pub timeline: Vec<Sample>,
    /// Twin sync, when the scenario has twins.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub twins: Option<crate::twins::TwinReport>,
}

/// The state of a run at one moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    /// Milliseconds from the start.
    pub at_ms: u64,
    /// Bundles made so far.
    pub generated: u64,
    /// Bundles delivered so far.
    pub delivered: u64,
    /// Bytes in the stores of each tier.
    pub stored_bytes: BTreeMap<String, u64>,
}

fn ms_text(ms: u64) -> String {
    if ms < 10_000 {
        format!("{ms} ms")
    } else if ms < 600_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else if ms < 36_000_000 {
        format!("{:.1} min", ms as f64 / 60_000.0)
    } else {
        format!("{:.1} h", ms as f64 / 3_600_000.0)
    }
}

impl Report {
    /// The report as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The report as tables for a terminal (Markdown, so it pastes into a README).
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let l = &self.latency_ms;
        out.push_str(&format!(
            "scenario {:?}, seed {}, {} nodes, {} simulated, {} events\n\n",
            self.scenario,
            self.seed,
            self.nodes,
            ms_text(self.virtual_ms),
            self.events
        ));
        out.push_str("| generated | delivered | ratio | latency p50 | p90 | p99 | max | hops mean / max | transmissions | per delivered | lost on links |\n");
        out.push_str("|---|---|---|---|---|---|---|---|---|---|---|\n");
        out.push_str(&format!(
            "| {} | {} | {:.4} | {} | {} | {} | {} | {:.2} / {} | {} | {:.2} | {} |\n\n",
            self.generated,
            self.delivered,
            self.delivery_ratio,
            ms_text(l.p50),
            ms_text(l.p90),
            ms_text(l.p99),
            ms_text(l.max),
            self.hops_mean,
            self.hops_max,
            self.transmissions,
            self.overhead,
            self.lost_on_links
        ));
        out.push_str(
            "| flow | generated | delivered | latency p50 | p99 |\n|---|---|---|---|---|\n",
        );
        for f in &self.flows {
            out.push_str(&format!(
                "| {} -> {} | {} | {} | {} | {} |\n",
                f.from,
                f.to,
                f.generated,
                f.delivered,
                ms_text(f.latency_ms.p50),
                ms_text(f.latency_ms.p99)
            ));
        }
        out.push_str("\n| tier | nodes | store peak | expired |\n|---|---|---|---|\n");
        for (name, t) in &self.tiers {
            out.push_str(&format!(
                "| {name} | {} | {} B | {} |\n",
                t.nodes, t.store_peak_bytes, t.expired
            ));
        }
        if let Some(tw) = &self.twins {
            out.push_str(&format!(
                "\ntwins: {} edits, {} delta bundles ({} B), {} refused\n\n",
                tw.edits, tw.deltas, tw.delta_bytes, tw.refused
            ));
            out.push_str(
                "| twin | replicas | fields | converged | last change |\n|---|---|---|---|---|\n",
            );
            for t in &tw.twins {
                out.push_str(&format!(
                    "| {} | {} | {} | {} | {} |\n",
                    t.name,
                    t.replicas,
                    t.fields,
                    if t.converged { "yes" } else { "NO" },
                    ms_text(t.last_change_ms)
                ));
            }
        }
        out
    }
}

//! Prometheus metrics at `GET /metrics`, through the `metrics` facade and its Prometheus
//! exporter. The agent counts what it does (sans-IO, plain numbers); the core copies those
//! counts and the store's usage into the recorder right before each scrape, so a scrape
//! always sees current values and the hot path pays nothing.

use bundle_agent::agent::AgentStats;
use bundle_agent::store::StoreUsage;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Installs the global recorder. Fails only if another recorder is installed.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| anyhow::anyhow!("installing the metrics recorder: {e}"))?;
    describe();
    Ok(handle)
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, Unit};
    describe_counter!(
        "dtn_bundles_received_total",
        "Bundles accepted (stored, or held until delivered or forwarded)"
    );
    describe_counter!(
        "dtn_bundles_duplicate_total",
        "Bundles dropped as duplicates"
    );
    describe_counter!(
        "dtn_bundles_refused_total",
        "Bundles refused (malformed or store full)"
    );
    describe_counter!(
        "dtn_bundles_delivered_total",
        "Bundles delivered to local endpoints"
    );
    describe_counter!(
        "dtn_bundles_delivered_unstored_total",
        "Bundles delivered in the turn they arrived, never stored"
    );
    describe_counter!(
        "dtn_bundles_forwarded_unstored_total",
        "Bundles forwarded in the turn they arrived, never stored"
    );
    describe_counter!(
        "dtn_bundles_held_then_stored_total",
        "Bundles held for delivery or forwarding and stored after all (not settled in time)"
    );
    describe_counter!(
        "dtn_bundles_forwarded_total",
        "Bundles forwarded and acknowledged"
    );
    describe_counter!(
        "dtn_bundles_expired_total",
        "Bundles whose lifetime ended here"
    );
    describe_counter!(
        "dtn_bundles_deleted_total",
        "Bundles deleted by an operator"
    );
    describe_counter!("dtn_bundles_fragmented_total", "Bundles sent as fragments");
    describe_counter!(
        "dtn_bundles_reassembled_total",
        "ADUs reassembled from fragments"
    );
    describe_gauge!("dtn_store_bundles", "Bundles in the store");
    describe_gauge!(
        "dtn_store_bytes",
        Unit::Bytes,
        "Bytes of bundles in the store"
    );
    describe_gauge!(
        "dtn_store_quota_bytes",
        Unit::Bytes,
        "The store's byte quota"
    );
    describe_gauge!("dtn_tcpcl_sessions", "TCPCL sessions up");
    describe_gauge!("dtn_udp_peers", "UDP peers configured");
}

/// Copies current values into the recorder.
pub fn record(stats: &AgentStats, usage: &StoreUsage, sessions: usize, udp_peers: usize) {
    use metrics::{counter, gauge};
    counter!("dtn_bundles_received_total").absolute(stats.received);
    counter!("dtn_bundles_duplicate_total").absolute(stats.duplicates);
    counter!("dtn_bundles_refused_total").absolute(stats.refused);
    counter!("dtn_bundles_delivered_total").absolute(stats.delivered);
    counter!("dtn_bundles_delivered_unstored_total").absolute(stats.delivered_unstored);
    counter!("dtn_bundles_forwarded_unstored_total").absolute(stats.forwarded_unstored);
    counter!("dtn_bundles_held_then_stored_total").absolute(stats.held_then_stored);
    counter!("dtn_bundles_forwarded_total").absolute(stats.forwarded);
    counter!("dtn_bundles_expired_total").absolute(stats.expired);
    counter!("dtn_bundles_deleted_total").absolute(stats.deleted);
    counter!("dtn_bundles_fragmented_total").absolute(stats.fragmented);
    counter!("dtn_bundles_reassembled_total").absolute(stats.reassembled);
    gauge!("dtn_store_bundles").set(usage.bundles as f64);
    gauge!("dtn_store_bytes").set(usage.bytes as f64);
    gauge!("dtn_store_quota_bytes").set(usage.quota as f64);
    gauge!("dtn_tcpcl_sessions").set(sessions as f64);
    gauge!("dtn_udp_peers").set(udp_peers as f64);
}

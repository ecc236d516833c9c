//! Bundles this node's own services make (twin deltas, blob shards): from the service's
//! endpoint here to the same service on a peer, with a lifetime and a hop limit.

use bundle_agent::wire::{BundleBuilder, CreationTimestamp, DtnTime, Eid};

/// Hops a service bundle may take.
const HOP_LIMIT: u64 = 64;

/// A bundle from `from` to `to` made at `now` (the `sequence` tells apart those made in the
/// same millisecond), or the builder's refusal.
pub fn service_bundle(
    to: Eid,
    from: &Eid,
    now: DtnTime,
    sequence: u64,
    lifetime_ms: u64,
    payload: &[u8],
) -> Result<Vec<u8>, bundle_agent::wire::DecodeError> {
    BundleBuilder::new(to, from.clone(), CreationTimestamp::new(now, sequence))
        .lifetime_ms(lifetime_ms)
        .hop_count(HOP_LIMIT, 0)
        .payload(payload)
        .build()
}

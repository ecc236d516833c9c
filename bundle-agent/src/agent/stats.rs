//! Counts of what the agent did, for metrics and status. Plain numbers the runtime reads;
//! the agent itself never exports anything.

/// Monotonic counters since the agent started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AgentStats {
    /// Bundles accepted, stored or held until delivered or forwarded (from peers,
    /// applications and this node's reports).
    pub received: u64,
    /// Bundles dropped as duplicates of stored ones (RFC 9171 §5.6 step 2).
    pub duplicates: u64,
    /// Bundles refused (malformed, or the store full).
    pub refused: u64,
    /// Bundles delivered to local endpoints (§5.7).
    pub delivered: u64,
    /// Of those, bundles delivered in the turn they arrived, from memory, never stored.
    pub delivered_unstored: u64,
    /// Bundles forwarded, and acknowledged by the next hop, in the turn they arrived (or
    /// while held): never stored here.
    pub forwarded_unstored: u64,
    /// Bundles held for delivery or forwarding that were stored after all (not delivered,
    /// or not acknowledged by the next hop, in time).
    pub held_then_stored: u64,
    /// Bundles forwarded and acknowledged by the next hop (§5.4).
    pub forwarded: u64,
    /// Bundles whose lifetime ended here (§5.5).
    pub expired: u64,
    /// Bundles an operator deleted.
    pub deleted: u64,
    /// Bundles sent as fragments (§5.8).
    pub fragmented: u64,
    /// ADUs reassembled from fragments (§5.9).
    pub reassembled: u64,
    /// Stored bundles that no longer decode (a damaged store); left where they are.
    pub unreadable: u64,
}

//! Messages between the routers of neighbouring nodes (epidemic summary vectors, PRoPHET
//! delivery predictabilities): a router's outgoing messages become bundles from this node to
//! the peer's router endpoint, sent over a link to the peer only; a bundle arriving at this
//! node's router endpoint is handed to the router, and every bundle waiting to be forwarded
//! is routed again with what it learnt.

use super::router::router_endpoint;
use super::{Agent, AgentError};
use crate::store::BundleStore;
use crate::wire::{Bundle, BundleBuilder, BundleId, CreationTimestamp, DtnTime, Eid};

/// How long a router message lives: it is about the link that is up now.
const MESSAGE_LIFETIME_MS: u64 = 60_000;

impl<S: BundleStore> Agent<S> {
    /// Sends what the router has to say to its peers.
    pub(super) fn send_router_messages(&mut self, now: DtnTime) -> Result<(), AgentError> {
        while let Some((peer, payload)) = self.router.poll_message() {
            let node = self.cfg.node_id.clone();
            let sequence = self.report_sequence;
            self.report_sequence += 1;
            let Ok(bytes) = BundleBuilder::new(
                router_endpoint(&peer.node_id()),
                node,
                CreationTimestamp::new(now, sequence),
            )
            .lifetime_ms(MESSAGE_LIFETIME_MS)
            .payload(&payload)
            .build() else {
                continue;
            };
            self.ingest(now, None, bytes, false)?;
        }
        Ok(())
    }

    /// True when `destination` is this node's router endpoint.
    pub(super) fn for_router(&self, destination: &Eid) -> bool {
        *destination == router_endpoint(&self.cfg.node_id)
    }

    /// A message from a peer's router: handed to ours, then everything pending is routed
    /// again.
    pub(super) fn router_message(
        &mut self,
        now: DtnTime,
        id: &BundleId,
        bundle: &Bundle,
    ) -> Result<(), AgentError> {
        let from = bundle.primary.source.node_id();
        self.router
            .on_message(now, &from, bundle.payload().unwrap_or(&[]));
        let endpoint = bundle.primary.destination.clone();
        let len = bundle.payload().map_or(0, |p| p.len() as u64);
        self.delivered(now, id, &endpoint, &bundle.primary, len)?;
        self.forward_pending(now)
    }
}

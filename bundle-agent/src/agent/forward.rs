//! Forwarding (RFC 9171 §5.4): the next hop from the routes, the bundle prepared for it
//! (previous node, hop count, bundle age), fragmented when the link cannot carry it whole
//! (§5.8), and released once every piece is acknowledged.

use super::{Action, Agent, AgentError, InFlight, LinkId, Status};
use crate::store::{BundleRecord, BundleStore, LogEntry, LogEvent, Retention};
use crate::wire::block::bundle_age_data;
use crate::wire::{
    BlockType, Bundle, BundleId, CanonicalBlock, DtnTime, Eid, HopCount, ReasonCode,
};

impl<S: BundleStore> Agent<S> {
    /// RFC 9171 §5.4: forwarding over a link to the next hop, if one is up.
    pub(super) fn forward(
        &mut self,
        now: DtnTime,
        record: &BundleRecord,
        mut bundle: Bundle,
    ) -> Result<(), AgentError> {
        if self.in_flight.contains_key(&record.id) {
            return Ok(());
        }
        let links = &self.links;
        let Some(next) = self.cfg.routes.next_hop(&record.destination, |n| {
            links.values().any(|l| l.peer == *n)
        }) else {
            return Ok(());
        };
        let Some((&link, chosen)) = self.links.iter().find(|(_, l)| l.peer == next) else {
            return Ok(());
        };
        let limit = chosen.max_bundle_size;
        prepare_for_forwarding(
            &mut bundle,
            &self.cfg.node_id,
            now.0.saturating_sub(record.received_at.0),
        );
        // RFC 9171 §5.8: fragment when the link cannot carry the whole bundle. A bundle that
        // must not be fragmented stays pending for a link that can carry it.
        let limit = limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
        let Ok(pieces) = crate::fragment::fragment(&bundle, limit, &self.cfg.decode) else {
            return Ok(());
        };
        if pieces.len() > 1 {
            self.stats.fragmented += 1;
        }
        self.in_flight.insert(
            record.id.clone(),
            InFlight {
                remaining: pieces.len(),
                failed: false,
            },
        );
        for bytes in pieces {
            self.actions.push_back(Action::Transmit {
                link,
                id: record.id.clone(),
                bytes,
            });
        }
        Ok(())
    }

    pub(super) fn forward_pending(&mut self, now: DtnTime) -> Result<(), AgentError> {
        let pending: Vec<BundleRecord> = self
            .store
            .records()?
            .into_iter()
            .filter(|r| r.retention.has(Retention::FORWARD_PENDING))
            .collect();
        for record in pending {
            if let Some(bundle) = self.load(&record.id)? {
                self.forward(now, &record, bundle)?;
            }
        }
        Ok(())
    }

    pub(super) fn sent(
        &mut self,
        now: DtnTime,
        link: LinkId,
        id: BundleId,
        ok: bool,
    ) -> Result<(), AgentError> {
        let Some(flight) = self.in_flight.get_mut(&id) else {
            return Ok(());
        };
        flight.remaining = flight.remaining.saturating_sub(1);
        flight.failed |= !ok;
        if flight.remaining > 0 {
            return Ok(());
        }
        let ok = !flight.failed;
        self.in_flight.remove(&id);
        if ok {
            self.stats.forwarded += 1;
            if let Some(peer) = self.links.get(&link).map(|l| l.peer.clone()) {
                self.store.log(
                    &id,
                    &LogEntry {
                        at: now,
                        event: LogEvent::Forwarded { to: peer },
                    },
                )?;
            }
            // Forwarded: no retention constraint remains (RFC 9171 §5.4 step 6).
            let subject = self.read_for_report(&id, Status::Forwarded)?;
            self.store.remove(&id)?;
            self.report_stored(now, subject, Status::Forwarded, ReasonCode::NO_INFORMATION)?;
        }
        Ok(())
    }
}

/// RFC 9171 §4.4.1, §4.4.2, §4.4.3: a forwarded bundle names this node as previous node,
/// has one more hop counted, and has its age grown by the time it spent here.
fn prepare_for_forwarding(bundle: &mut Bundle, node: &Eid, residence_ms: u64) {
    let crc = bundle.primary.crc_type;
    match bundle
        .blocks
        .iter_mut()
        .find(|b| b.block_type == BlockType::PREVIOUS_NODE)
    {
        Some(b) => b.data = node.to_cbor(),
        None => {
            let number = bundle.next_block_number();
            bundle.blocks.insert(
                0,
                CanonicalBlock::new(BlockType::PREVIOUS_NODE, number, crc, node.to_cbor()),
            );
        }
    }
    if let Some(b) = bundle
        .blocks
        .iter_mut()
        .find(|b| b.block_type == BlockType::HOP_COUNT)
    {
        if let Ok(h) = crate::wire::block::parse_hop_count(&b.data, b.number) {
            b.data = HopCount {
                limit: h.limit,
                count: h.count.saturating_add(1),
            }
            .to_data();
        }
    }
    if let Some(b) = bundle
        .blocks
        .iter_mut()
        .find(|b| b.block_type == BlockType::BUNDLE_AGE)
    {
        if let Ok(age) = crate::wire::block::parse_bundle_age(&b.data, b.number) {
            b.data = bundle_age_data(age.saturating_add(residence_ms));
        }
    }
}

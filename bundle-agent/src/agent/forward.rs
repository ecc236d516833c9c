//! Forwarding (RFC 9171 §5.4): the next hop from the router, the bundle prepared for it
//! (previous node, hop count, bundle age), fragmented when the link cannot carry it whole
//! (§5.8), and released once every piece is acknowledged.

use super::router::{NextHop, RouteRequest};
use super::{Action, Agent, AgentError, InFlight, LinkId, Status};
use crate::store::{BundleRecord, BundleStore, LogEntry, LogEvent, Retention};
use crate::wire::block::bundle_age_data;
use crate::wire::{
    BlockType, Bundle, BundleId, CanonicalBlock, DtnTime, Eid, HopCount, ReasonCode,
};

/// Most transmissions (bundles or fragments) outstanding on one link.
pub const LINK_WINDOW: usize = 256;
/// Most bytes outstanding on one link (one bundle may always go, however large).
pub const LINK_WINDOW_BYTES: u64 = 64 << 20;

impl<S: BundleStore> Agent<S> {
    /// The link to the next hop the router names for the bundle of `record`, if it names
    /// one for now and a link to it is up. A router that names a later time is asked again
    /// then (the agent's timer).
    fn route(&mut self, now: DtnTime, record: &BundleRecord) -> Option<LinkId> {
        let links = &self.links;
        let up = |n: &Eid| links.values().any(|l| l.peer == *n);
        let request = RouteRequest {
            id: &record.id,
            destination: &record.destination,
            size: record.size,
            expires_at: record.expires_at,
        };
        let next = match self.router.next_hop(now, &request, &up) {
            NextHop::Now(via) => via,
            NextHop::Later { at, .. } => {
                self.wake = Some(self.wake.map_or(at, |w| w.min(at)));
                return None;
            }
            NextHop::Unknown => return None,
        };
        self.links
            .iter()
            .find(|(_, l)| l.peer == next)
            .map(|(&link, _)| link)
    }

    /// True when `link` may take a bundle of `size` bytes now.
    fn has_room(&self, link: LinkId, size: u64) -> bool {
        self.links.get(&link).is_some_and(|l| {
            l.sending == 0
                || (l.sending < LINK_WINDOW
                    && l.sending_bytes.saturating_add(size) <= LINK_WINDOW_BYTES)
        })
    }

    /// Queues a bundle for `link` until its window has room. Only its ID waits in memory.
    fn wait_for_room(&mut self, link: LinkId, id: &BundleId) {
        if self.waiting.contains_key(id) {
            return;
        }
        if let Some(l) = self.links.get_mut(&link) {
            l.waiting.push_back(id.clone());
            self.waiting.insert(id.clone(), link);
        }
    }

    /// RFC 9171 §5.4: forwarding over a link to the next hop, if one is up. A link takes a
    /// window of bundles at a time; the rest wait, in the store, for room.
    pub(super) fn forward(
        &mut self,
        now: DtnTime,
        record: &BundleRecord,
        bundle: Bundle,
    ) -> Result<(), AgentError> {
        if self.in_flight.contains_key(&record.id) || self.waiting.contains_key(&record.id) {
            return Ok(());
        }
        let Some(link) = self.route(now, record) else {
            return Ok(());
        };
        if !self.has_room(link, record.size) {
            self.wait_for_room(link, &record.id);
            return Ok(());
        }
        self.transmit(now, link, record, bundle);
        Ok(())
    }

    /// Hands a bundle to `link`: prepared for the next hop and cut to the link's size.
    fn transmit(&mut self, now: DtnTime, link: LinkId, record: &BundleRecord, mut bundle: Bundle) {
        let Some(limit) = self.links.get(&link).map(|l| l.max_bundle_size) else {
            return;
        };
        prepare_for_forwarding(
            &mut bundle,
            &self.cfg.node_id,
            now.0.saturating_sub(record.received_at.0),
        );
        // RFC 9171 §5.8: fragment when the link cannot carry the whole bundle. A bundle that
        // must not be fragmented stays pending for a link that can carry it.
        let limit = limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
        let Ok(pieces) = crate::fragment::fragment(&bundle, limit, &self.cfg.decode) else {
            return;
        };
        if pieces.len() > 1 {
            self.stats.fragmented += 1;
        }
        let bytes: u64 = pieces.iter().map(|p| p.len() as u64).sum();
        if let Some(l) = self.links.get_mut(&link) {
            l.sending += pieces.len();
            l.sending_bytes = l.sending_bytes.saturating_add(bytes);
        }
        self.in_flight.insert(
            record.id.clone(),
            InFlight {
                link,
                remaining: pieces.len(),
                bytes,
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
    }

    /// Sends bundles waiting for `link` while its window has room.
    fn refill(&mut self, now: DtnTime, link: LinkId) -> Result<(), AgentError> {
        loop {
            let Some(id) = self
                .links
                .get(&link)
                .and_then(|l| l.waiting.front().cloned())
            else {
                return Ok(());
            };
            let record = self.store.record(&id)?;
            let size = record.as_ref().map_or(0, |r| r.size);
            if !self.has_room(link, size) {
                return Ok(());
            }
            if let Some(l) = self.links.get_mut(&link) {
                l.waiting.pop_front();
            }
            self.waiting.remove(&id);
            let (Some(record), Some(bundle)) = (record, self.load(&id)?) else {
                continue; // gone meanwhile (expired, deleted)
            };
            if record.retention.has(Retention::FORWARD_PENDING) {
                self.transmit(now, link, &record, bundle);
            }
        }
    }

    /// A link came up: route every bundle waiting to be forwarded. Only those the link's
    /// window takes are read from the store now.
    pub(super) fn forward_pending(&mut self, now: DtnTime) -> Result<(), AgentError> {
        // Every pending bundle is routed here: a router that wants a later look says so again.
        self.wake = None;
        let pending: Vec<BundleRecord> = self
            .store
            .records()?
            .into_iter()
            .filter(|r| r.retention.has(Retention::FORWARD_PENDING))
            .collect();
        for record in pending {
            if self.in_flight.contains_key(&record.id) || self.waiting.contains_key(&record.id) {
                continue;
            }
            let Some(link) = self.route(now, &record) else {
                continue;
            };
            if !self.has_room(link, record.size) {
                self.wait_for_room(link, &record.id);
                continue;
            }
            if let Some(bundle) = self.load(&record.id)? {
                self.transmit(now, link, &record, bundle);
            }
        }
        Ok(())
    }

    /// A link went down: what waited for it waits in the store for the next link.
    pub(super) fn link_down(&mut self, now: DtnTime, link: LinkId) {
        if let Some(l) = self.links.remove(&link) {
            for id in l.waiting {
                self.waiting.remove(&id);
            }
            if !self.links.values().any(|other| other.peer == l.peer) {
                self.router.link_down(now, &l.peer);
            }
        }
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
        let (remaining, failed, bytes, on) =
            (flight.remaining, flight.failed, flight.bytes, flight.link);
        if let Some(l) = self.links.get_mut(&on) {
            l.sending = l.sending.saturating_sub(1);
            if remaining == 0 {
                l.sending_bytes = l.sending_bytes.saturating_sub(bytes);
            }
        }
        if remaining > 0 {
            return Ok(());
        }
        self.in_flight.remove(&id);
        if let Some(peer) = self.links.get(&on).map(|l| l.peer.clone()) {
            self.router.sent(now, &id, &peer, !failed);
        }
        if !failed {
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
        } else {
            // The bundle stays forward pending: the router is asked again at the next timer
            // (it may know another way).
            self.wake = Some(self.wake.map_or(now, |w| w.min(now)));
        }
        self.refill(now, on)
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

//! Forwarding (RFC 9171 §5.4): the next hop from the router, the bundle prepared for it
//! (previous node, hop count, bundle age), fragmented when the link cannot carry it whole
//! (§5.8), and released once every piece is acknowledged. Routers that replicate (epidemic,
//! spray-and-wait, PRoPHET) send copies instead, and the bundle stays.

use super::router::{router_endpoint, NextHop, RouteRequest};
use super::{Action, Agent, AgentError, InFlight, LinkId, Queued, Settled, Status};
use crate::store::{BundleRecord, BundleStore, LogEvent, Retention};
use crate::wire::block::{bundle_age_data, copy_count_data, parse_copy_count, COPY_COUNT};
use crate::wire::{
    BlockType, Bundle, BundleId, CanonicalBlock, DtnTime, Eid, Encoded, HopCount, ReasonCode,
};

/// Most transmissions (bundles or fragments) outstanding on one link.
pub const LINK_WINDOW: usize = 256;
/// Most bytes outstanding on one link (one bundle may always go, however large).
pub const LINK_WINDOW_BYTES: u64 = 64 << 20;
/// The largest window [`Agent::set_link_window`] allows, in transmissions: each costs an
/// entry in memory while it is outstanding.
pub const MAX_LINK_WINDOW: usize = 65_536;

/// Where the router sends a bundle, as links.
pub(super) enum Plan {
    /// Forward over this link; release once acknowledged.
    Forward(LinkId),
    /// Copies over these links (with their copy counts); keep the bundle.
    Replicate(Vec<(LinkId, Option<u64>)>),
    /// Nowhere now.
    Hold,
}

/// The copy count block of a bundle, if it has one.
pub(super) fn copy_count(bundle: &Bundle) -> Option<u64> {
    bundle
        .blocks
        .iter()
        .find(|b| b.block_type == COPY_COUNT)
        .and_then(|b| parse_copy_count(&b.data, b.number).ok())
}

impl<S: BundleStore> Agent<S> {
    /// True while `id` is handed to a link or queued for one.
    pub(super) fn flying(&self, id: &BundleId) -> bool {
        let range = (id.clone(), 0)..=(id.clone(), LinkId::MAX);
        self.in_flight.range(range.clone()).next().is_some()
            || self.waiting.range(range).next().is_some()
    }

    /// A link up to `peer`, if any.
    fn link_to(&self, peer: &Eid) -> Option<LinkId> {
        self.links
            .iter()
            .find(|(_, l)| l.peer == *peer)
            .map(|(&link, _)| link)
    }

    /// What the router makes of the bundle of `record`, as links that are up. A router that
    /// names a later time is asked again then (the agent's timer). Messages between routers
    /// go straight to the peer they are for.
    pub(super) fn route(
        &mut self,
        now: DtnTime,
        record: &BundleRecord,
        copies: Option<u64>,
    ) -> Plan {
        let node = record.destination.node_id();
        if record.destination == router_endpoint(&node) {
            return self.link_to(&node).map_or(Plan::Hold, Plan::Forward);
        }
        let links = &self.links;
        let up = |n: &Eid| links.values().any(|l| l.peer == *n);
        let request = RouteRequest {
            id: &record.id,
            destination: &record.destination,
            size: record.size,
            expires_at: record.expires_at,
            copies,
        };
        match self.router.next_hop(now, &request, &up) {
            NextHop::Now(via) => self.link_to(&via).map_or(Plan::Hold, Plan::Forward),
            NextHop::Later { at, .. } => {
                self.wake = Some(self.wake.map_or(at, |w| w.min(at)));
                Plan::Hold
            }
            NextHop::Replicate(replicas) => Plan::Replicate(
                replicas
                    .into_iter()
                    .filter_map(|r| self.link_to(&r.to).map(|l| (l, r.copies)))
                    .collect(),
            ),
            NextHop::Unknown => Plan::Hold,
        }
    }

    /// True when `link` may take a bundle of `size` bytes now.
    pub(super) fn has_room(&self, link: LinkId, size: u64) -> bool {
        self.links.get(&link).is_some_and(|l| {
            l.sending == 0
                || (l.sending < l.window && l.sending_bytes.saturating_add(size) <= l.window_bytes)
        })
    }

    /// Queues a transmission for `link` until its window has room, behind the ones of its
    /// priority and higher. Only the bundle's ID waits in memory.
    fn wait_for_room(&mut self, link: LinkId, q: Queued) {
        if !self.waiting.insert((q.id.clone(), link)) {
            return;
        }
        if let Some(l) = self.links.get_mut(&link) {
            let at = l.waiting.partition_point(|w| w.priority >= q.priority);
            l.waiting.insert(at, q);
        }
    }

    /// RFC 9171 §5.4: forwarding a bundle just received (or made here).
    pub(super) fn forward(
        &mut self,
        now: DtnTime,
        record: &BundleRecord,
        bundle: Bundle,
    ) -> Result<(), AgentError> {
        let copies = copy_count(&bundle);
        let plan = self.route(now, record, copies);
        self.carry_out(now, record, Some(bundle), plan)
    }

    /// Sends a bundle the way `plan` says, each transmission now or, when the link's window
    /// is full, once it has room. `bundle` is read from the store when not at hand.
    pub(super) fn carry_out(
        &mut self,
        now: DtnTime,
        record: &BundleRecord,
        mut bundle: Option<Bundle>,
        plan: Plan,
    ) -> Result<(), AgentError> {
        let sends: Vec<(LinkId, Queued)> = match plan {
            Plan::Hold => return Ok(()),
            // One forwarding at a time: a bundle already on its way waits for the outcome.
            Plan::Forward(_) if self.flying(&record.id) => return Ok(()),
            Plan::Forward(link) => vec![(
                link,
                Queued {
                    id: record.id.clone(),
                    priority: record.priority,
                    keep: false,
                    copies: None,
                },
            )],
            Plan::Replicate(links) => links
                .into_iter()
                .map(|(link, copies)| {
                    (
                        link,
                        Queued {
                            id: record.id.clone(),
                            priority: record.priority,
                            keep: true,
                            copies,
                        },
                    )
                })
                .collect(),
        };
        for (link, q) in sends {
            let key = (q.id.clone(), link);
            if self.in_flight.contains_key(&key) || self.waiting.contains(&key) {
                continue;
            }
            if !self.has_room(link, record.size) {
                self.wait_for_room(link, q);
                continue;
            }
            if bundle.is_none() {
                bundle = self.load(&record.id)?;
            }
            let Some(b) = bundle.clone() else {
                return Ok(()); // gone meanwhile
            };
            self.transmit(now, link, record, b, &q);
        }
        Ok(())
    }

    /// Hands a bundle to `link`: prepared for the next hop and cut to the link's size.
    fn transmit(
        &mut self,
        now: DtnTime,
        link: LinkId,
        record: &BundleRecord,
        mut bundle: Bundle,
        q: &Queued,
    ) {
        let Some(limit) = self.links.get(&link).map(|l| l.max_bundle_size) else {
            return;
        };
        prepare_for_forwarding(
            &mut bundle,
            &self.cfg.node_id,
            now.0.saturating_sub(record.received_at.0),
            q.copies,
        );
        // RFC 9171 §5.8: fragment when the link cannot carry the whole bundle. A bundle that
        // must not be fragmented stays pending for a link that can carry it.
        let limit = limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
        // Whole, the payload block is shared with the bytes it came in, not copied.
        let Ok(whole) = bundle.encode_shared(&self.cfg.decode) else {
            return;
        };
        let pieces = if whole.len() <= limit {
            vec![whole]
        } else {
            match crate::fragment::fragment(&bundle, limit, &self.cfg.decode) {
                Ok(pieces) => pieces.into_iter().map(Encoded::from).collect(),
                Err(_) => return,
            }
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
            (record.id.clone(), link),
            InFlight {
                remaining: pieces.len(),
                bytes,
                failed: false,
                keep: q.keep,
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

    /// Sends what waits for `link` while its window has room.
    pub(super) fn refill(&mut self, now: DtnTime, link: LinkId) -> Result<(), AgentError> {
        loop {
            let Some(q) = self
                .links
                .get(&link)
                .and_then(|l| l.waiting.front().cloned())
            else {
                return Ok(());
            };
            let record = self.record_of(&q.id)?;
            let size = record.as_ref().map_or(0, |r| r.size);
            if !self.has_room(link, size) {
                return Ok(());
            }
            if let Some(l) = self.links.get_mut(&link) {
                l.waiting.pop_front();
            }
            self.waiting.remove(&(q.id.clone(), link));
            let (Some(record), Some(bundle)) = (record, self.load(&q.id)?) else {
                continue; // gone meanwhile (expired, deleted)
            };
            if record.retention.has(Retention::FORWARD_PENDING) {
                self.transmit(now, link, &record, bundle, &q);
            }
        }
    }

    /// Links changed (or the router learnt something): route every bundle waiting to be
    /// forwarded. Only those the links' windows take are read from the store now.
    pub(super) fn forward_pending(&mut self, now: DtnTime) -> Result<(), AgentError> {
        // Every pending bundle is routed here: a router that wants a later look says so again.
        self.wake = None;
        let mut pending: Vec<BundleRecord> = self
            .store
            .records()?
            .into_iter()
            .filter(|r| r.retention.has(Retention::FORWARD_PENDING))
            .collect();
        // Higher priority first, then in the order they came.
        pending.sort_by_key(|r| (std::cmp::Reverse(r.priority), r.received_at));
        for record in pending {
            let plan = self.route(now, &record, None);
            self.carry_out(now, &record, None, plan)?;
        }
        Ok(())
    }

    /// A link went down: what waited for it waits in the store for the next link.
    pub(super) fn link_down(&mut self, now: DtnTime, link: LinkId) {
        if let Some(l) = self.links.remove(&link) {
            for q in l.waiting {
                self.waiting.remove(&(q.id, link));
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
        let key = (id, link);
        let Some(flight) = self.in_flight.get_mut(&key) else {
            return Ok(());
        };
        flight.remaining = flight.remaining.saturating_sub(1);
        flight.failed |= !ok;
        let (remaining, failed, bytes, keep) =
            (flight.remaining, flight.failed, flight.bytes, flight.keep);
        if let Some(l) = self.links.get_mut(&link) {
            l.sending = l.sending.saturating_sub(1);
            if remaining == 0 {
                l.sending_bytes = l.sending_bytes.saturating_sub(bytes);
            }
        }
        if remaining > 0 {
            return Ok(());
        }
        self.in_flight.remove(&key);
        let (id, _) = key;
        let peer = self.links.get(&link).map(|l| l.peer.clone());
        // The peer's word that it has the bundle, or only the link's that it went.
        let settled = match self.links.get(&link) {
            Some(l) if l.acknowledges => Settled::NextHop,
            _ => Settled::Here,
        };
        if let Some(peer) = &peer {
            self.router.sent(now, &id, peer, !failed);
        }
        if !failed {
            self.stats.forwarded += 1;
            // A held bundle was never stored: its reception is logged now, before this.
            let (subject, was_held) = if keep {
                (None, false)
            } else {
                let subject = self.read_for_report(&id, Status::Forwarded)?;
                let was_held = self.release_held(&id, settled)?.is_some();
                if was_held {
                    self.stats.forwarded_unstored += 1;
                }
                (subject, was_held)
            };
            if let Some(peer) = peer {
                self.log_event(now, &id, LogEvent::Forwarded { to: peer })?;
            }
            if !keep {
                // Forwarded: no retention constraint remains (RFC 9171 §5.4 step 6).
                if !was_held {
                    self.remove_stored(&id)?;
                }
                self.router.forget(&id);
                self.report_stored(now, subject, Status::Forwarded, ReasonCode::NO_INFORMATION)?;
            }
        } else {
            // The bundle stays forward pending (a held one is stored now): the router is
            // asked again at the next timer (it may know another way).
            self.spill(&id)?;
            self.wake = Some(self.wake.map_or(now, |w| w.min(now)));
        }
        self.refill(now, link)
    }
}

/// RFC 9171 §4.4.1, §4.4.2, §4.4.3: a forwarded bundle names this node as previous node,
/// has one more hop counted, and has its age grown by the time it spent here. A replica
/// for spray-and-wait carries the copies its receiver may hand out.
fn prepare_for_forwarding(bundle: &mut Bundle, node: &Eid, residence_ms: u64, copies: Option<u64>) {
    let crc = bundle.primary.crc_type;
    match bundle
        .blocks
        .iter_mut()
        .find(|b| b.block_type == BlockType::PREVIOUS_NODE)
    {
        Some(b) => b.data = node.to_cbor().into(),
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
            .to_data()
            .into();
        }
    }
    if let Some(b) = bundle
        .blocks
        .iter_mut()
        .find(|b| b.block_type == BlockType::BUNDLE_AGE)
    {
        if let Ok(age) = crate::wire::block::parse_bundle_age(&b.data, b.number) {
            b.data = bundle_age_data(age.saturating_add(residence_ms)).into();
        }
    }
    bundle.blocks.retain(|b| b.block_type != COPY_COUNT);
    if let Some(n) = copies {
        let number = bundle.next_block_number();
        bundle.blocks.insert(
            0,
            CanonicalBlock::new(COPY_COUNT, number, crc, copy_count_data(n)),
        );
    }
}

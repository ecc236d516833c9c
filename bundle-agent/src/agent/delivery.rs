//! Local delivery (RFC 9171 §5.7): to active registrations at once, to passive ones when the
//! application fetches; what delivery leaves behind (log, removal, delivery report).

use bytes::Bytes;

use super::{Action, Agent, AgentError, Settled, Status};
use crate::store::{BundleStore, DeliveryMode, LogEvent};
use crate::wire::{Bundle, BundleId, BundleView, DtnTime, Eid, PrimaryBlock, ReasonCode};

impl<S: BundleStore> Agent<S> {
    /// RFC 9171 §5.7: local delivery; the bundle is no longer retained.
    pub(super) fn deliver(
        &mut self,
        now: DtnTime,
        id: &BundleId,
        endpoint: &Eid,
        bundle: &Bundle,
    ) -> Result<(), AgentError> {
        let payload = bundle.payload_bytes().cloned().unwrap_or_default();
        let len = payload.len() as u64;
        self.actions.push_back(Action::Deliver {
            endpoint: endpoint.clone(),
            id: id.clone(),
            payload,
        });
        self.delivered(now, id, endpoint, &bundle.primary, len)
    }

    /// What delivery leaves behind: the log entry, the bundle gone, the report it asked for.
    pub(super) fn delivered(
        &mut self,
        now: DtnTime,
        id: &BundleId,
        endpoint: &Eid,
        primary: &PrimaryBlock,
        payload_len: u64,
    ) -> Result<(), AgentError> {
        self.stats.delivered += 1;
        // A held bundle was never stored: its reception is logged now, before its delivery.
        let was_held = self.release_held(id, Settled::Here)?.is_some();
        if was_held {
            self.stats.delivered_unstored += 1;
        }
        self.log_event(
            now,
            id,
            LogEvent::Delivered {
                endpoint: endpoint.clone(),
            },
        )?;
        if !was_held {
            self.remove_stored(id)?;
        }
        self.unqueue(id);
        self.report(
            now,
            primary,
            payload_len,
            Status::Delivered,
            ReasonCode::NO_INFORMATION,
        )?;
        Ok(())
    }

    /// RFC 9171 §5.7 for passive registrations: hands the oldest bundle waiting for
    /// `endpoint` to the application and forgets it. Bundles wait in the store, so they
    /// survive restarts until taken.
    pub fn take_delivery(
        &mut self,
        now: DtnTime,
        endpoint: &Eid,
    ) -> Result<Option<(BundleId, Bytes)>, AgentError> {
        Ok(self.take_deliveries(now, endpoint, 1, 0)?.pop())
    }

    /// Like [`Agent::take_delivery`], up to `max` bundles at once, and no more once their
    /// payloads reach `max_bytes` (the first is taken whatever its size).
    pub fn take_deliveries(
        &mut self,
        now: DtnTime,
        endpoint: &Eid,
        max: usize,
        max_bytes: usize,
    ) -> Result<Vec<(BundleId, Bytes)>, AgentError> {
        // Lent and confirmed at once: the caller makes the removals durable before it hands
        // the payloads out (one sync for the lot), so this is exactly once.
        let taken = self.lend_deliveries(endpoint, max, max_bytes)?;
        for (id, _) in &taken {
            self.confirm_delivery(now, endpoint, id)?;
        }
        Ok(taken)
    }

    /// True when a bundle waits for `endpoint` and is not lent out.
    pub fn has_waiting(&self, endpoint: &Eid) -> bool {
        self.inbox
            .get(endpoint)
            .is_some_and(|ids| ids.iter().any(|id| !self.lent.contains(id)))
    }

    /// Up to `max` bundles waiting for `endpoint` and not lent out, oldest first.
    fn waiting_for(&self, endpoint: &Eid, max: usize) -> Vec<BundleId> {
        self.inbox
            .get(endpoint)
            .map(|ids| {
                ids.iter()
                    .filter(|id| !self.lent.contains(*id))
                    .take(max)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Two-phase delivery, for applications that confirm what they got (WebSocket push):
    /// the payloads of up to `max` bundles waiting for `endpoint` (stopping once they reach
    /// `max_bytes`; the first goes whatever its size), lent out but still stored. Each is
    /// then either confirmed ([`Agent::confirm_delivery`]: delivered, RFC 9171 §5.7) or given
    /// back ([`Agent::give_back`]). A crash before the confirmation is durable delivers the
    /// bundle again after restart: at least once, never lost.
    pub fn lend_deliveries(
        &mut self,
        endpoint: &Eid,
        max: usize,
        max_bytes: usize,
    ) -> Result<Vec<(BundleId, Bytes)>, AgentError> {
        let mut lent = Vec::new();
        let mut bytes_lent = 0usize;
        for id in self.waiting_for(endpoint, max) {
            if !lent.is_empty() && bytes_lent >= max_bytes {
                break;
            }
            let Some(bytes) = self.stored_bytes(&id)? else {
                self.unqueue(&id);
                continue;
            };
            let Ok(view) = BundleView::decode_with(&bytes, &self.own_bytes()) else {
                // Valid when stored; unreadable now means the store is damaged. It stays
                // for the operator (`dtnctl bundles show`) rather than deliver garbage.
                self.stats.unreadable += 1;
                self.unqueue(&id);
                continue;
            };
            // Shared with the bytes read, not copied out of them.
            let payload = bytes.slice_ref(view.payload());
            bytes_lent = bytes_lent.saturating_add(payload.len());
            self.lent.insert(id.clone());
            lent.push((id, payload));
        }
        Ok(lent)
    }

    /// The application has a lent bundle: it is delivered. False when it was not lent
    /// (expired or deleted meanwhile, or confirmed already).
    pub fn confirm_delivery(
        &mut self,
        now: DtnTime,
        endpoint: &Eid,
        id: &BundleId,
    ) -> Result<bool, AgentError> {
        if !self.lent.remove(id) {
            return Ok(false);
        }
        self.stats.delivered += 1;
        let subject = self.read_for_report(id, Status::Delivered)?;
        let was_held = self.release_held(id, Settled::Here)?.is_some();
        if was_held {
            self.stats.delivered_unstored += 1;
        }
        self.log_event(
            now,
            id,
            LogEvent::Delivered {
                endpoint: endpoint.clone(),
            },
        )?;
        if !was_held {
            self.remove_stored(id)?;
        }
        self.unqueue(id);
        self.report_stored(now, subject, Status::Delivered, ReasonCode::NO_INFORMATION)?;
        Ok(true)
    }

    /// The application did not get a lent bundle: it waits again, first in line.
    pub fn give_back(&mut self, id: &BundleId) {
        self.lent.remove(id);
    }

    /// A registration became active: deliver what waited for it.
    pub(super) fn deliver_pending(
        &mut self,
        now: DtnTime,
        endpoint: &Eid,
    ) -> Result<(), AgentError> {
        if self.registrations.get(endpoint) != Some(&DeliveryMode::Active) {
            return Ok(());
        }
        let waiting: Vec<BundleId> = self
            .inbox
            .get(endpoint)
            .map(|ids| ids.iter().cloned().collect())
            .unwrap_or_default();
        for id in waiting {
            match self.load(&id)? {
                Some(bundle) => self.deliver(now, &id, endpoint, &bundle)?,
                None => self.unqueue(&id),
            }
        }
        Ok(())
    }
}

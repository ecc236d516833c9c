//! Local delivery (RFC 9171 §5.7): to active registrations at once, to passive ones when the
//! application fetches; what delivery leaves behind (log, removal, delivery report).

use super::{Action, Agent, AgentError, Status};
use crate::store::{BundleStore, DeliveryMode, LogEntry, LogEvent, Retention};
use crate::wire::{Bundle, BundleId, DtnTime, Eid, ReasonCode};

impl<S: BundleStore> Agent<S> {
    /// RFC 9171 §5.7: local delivery; the bundle is no longer retained.
    pub(super) fn deliver(
        &mut self,
        now: DtnTime,
        id: &BundleId,
        endpoint: &Eid,
        bundle: &Bundle,
    ) -> Result<(), AgentError> {
        let payload = bundle.payload().unwrap_or(&[]).to_vec();
        self.actions.push_back(Action::Deliver {
            endpoint: endpoint.clone(),
            id: id.clone(),
            payload,
        });
        self.delivered(now, id, endpoint, bundle)
    }

    /// What delivery leaves behind: the log entry, the bundle gone, the report it asked for.
    pub(super) fn delivered(
        &mut self,
        now: DtnTime,
        id: &BundleId,
        endpoint: &Eid,
        bundle: &Bundle,
    ) -> Result<(), AgentError> {
        self.stats.delivered += 1;
        self.store.log(
            id,
            &LogEntry {
                at: now,
                event: LogEvent::Delivered {
                    endpoint: endpoint.clone(),
                },
            },
        )?;
        self.store.remove(id)?;
        self.report(now, bundle, Status::Delivered, ReasonCode::NO_INFORMATION)?;
        Ok(())
    }

    /// RFC 9171 §5.7 for passive registrations: hands the oldest bundle waiting for
    /// `endpoint` to the application and forgets it. Bundles wait in the store, so they
    /// survive restarts until taken.
    pub fn take_delivery(
        &mut self,
        now: DtnTime,
        endpoint: &Eid,
    ) -> Result<Option<(BundleId, Vec<u8>)>, AgentError> {
        Ok(self.take_deliveries(now, endpoint, 1)?.pop())
    }

    /// Like [`Agent::take_delivery`], up to `max` bundles with one look at the index.
    pub fn take_deliveries(
        &mut self,
        now: DtnTime,
        endpoint: &Eid,
        max: usize,
    ) -> Result<Vec<(BundleId, Vec<u8>)>, AgentError> {
        let mut taken = Vec::new();
        for id in self.store.by_destination(endpoint)? {
            if taken.len() >= max {
                break;
            }
            if !self.retained(&id, Retention::DISPATCH_PENDING)? {
                continue;
            }
            if let Some(bundle) = self.load(&id)? {
                let payload = bundle.payload().unwrap_or(&[]).to_vec();
                self.delivered(now, &id, endpoint, &bundle)?;
                taken.push((id, payload));
            }
        }
        Ok(taken)
    }

    pub(super) fn deliver_pending(
        &mut self,
        now: DtnTime,
        endpoint: &Eid,
    ) -> Result<(), AgentError> {
        if self.registrations.get(endpoint) != Some(&DeliveryMode::Active) {
            return Ok(());
        }
        for id in self.store.by_destination(endpoint)? {
            if !self.retained(&id, Retention::DISPATCH_PENDING)? {
                continue;
            }
            if let Some(bundle) = self.load(&id)? {
                self.deliver(now, &id, endpoint, &bundle)?;
            }
        }
        Ok(())
    }
}

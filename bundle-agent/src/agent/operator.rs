//! What an operator may do to the agent directly: delete a stored bundle. The deletion is
//! logged and reported (RFC 9171 §5.10 "bundle deletion", with a deletion status report when
//! the bundle asked for one, reason "no additional information").

use super::{Agent, AgentError, Status};
use crate::store::{BundleStore, LogEvent};
use crate::wire::{BundleId, DtnTime, ReasonCode};

impl<S: BundleStore> Agent<S> {
    /// Deletes a stored bundle. Returns false when the store does not hold it or it is
    /// being transmitted right now (try again once the transmission ends).
    pub fn delete(&mut self, now: DtnTime, id: &BundleId) -> Result<bool, AgentError> {
        if self.store.record(id)?.is_none() || self.flying(id) {
            return Ok(false);
        }
        self.log_event(
            now,
            id,
            LogEvent::Deleted {
                reason: ReasonCode::NO_INFORMATION.0,
            },
        )?;
        let subject = self.read_for_report(id, Status::Deleted)?;
        self.remove_stored(id)?;
        self.unqueue(id);
        self.router.forget(id);
        self.stats.deleted += 1;
        self.report_stored(now, subject, Status::Deleted, ReasonCode::NO_INFORMATION)?;
        Ok(true)
    }
}

//! Reassembly at the destination (RFC 9171 §5.9): fragments of one bundle wait in the store,
//! durable, with the "reassembly pending" retention constraint; when their payloads cover
//! the whole application data unit, the original bundle is rebuilt, received as a new
//! bundle (so it is stored, reported and delivered like any other) and the fragments go.

use super::{Agent, AgentError};
use crate::fragment::{reassemble, Reassembly};
use crate::store::{BundleStore, LogEvent, Retention};
use crate::wire::{Bundle, BundleId, DtnTime, ReasonCode};

impl<S: BundleStore> Agent<S> {
    /// Tries to complete the ADU `fragment` belongs to.
    pub(super) fn try_reassemble(
        &mut self,
        now: DtnTime,
        fragment: &Bundle,
    ) -> Result<(), AgentError> {
        let source = &fragment.primary.source;
        let creation = fragment.primary.creation;
        let whole_id = BundleId {
            source: source.clone(),
            creation,
            fragment: None,
        };
        if self.store.record(&whole_id)?.is_some() || !self.store.log_for(&whole_id)?.is_empty() {
            // The ADU was already put together: a late or duplicate fragment adds nothing.
            self.remove_stored(&fragment.id())?;
            return Ok(());
        }
        let mut ids = Vec::new();
        let mut parts = Vec::new();
        for id in self.store.fragments_of(&whole_id)? {
            if !self.retained(&id, Retention::REASSEMBLY_PENDING)? {
                continue;
            }
            if let Some(b) = self.load(&id)? {
                ids.push(id);
                parts.push(b);
            }
        }
        let whole = match reassemble(&parts) {
            Ok(Reassembly::Complete(whole)) => whole,
            Ok(Reassembly::Incomplete { .. }) => return Ok(()),
            Err(_) => {
                // Fragments that cannot be put together (disagreeing overlaps or totals) are
                // deleted, as a bundle that cannot be processed (RFC 9171 §5.9, §5.10).
                for id in &ids {
                    self.log_event(
                        now,
                        id,
                        LogEvent::Deleted {
                            reason: ReasonCode::BLOCK_UNINTELLIGIBLE.0,
                        },
                    )?;
                    self.remove_stored(id)?;
                }
                return Ok(());
            }
        };
        let Ok(bytes) = whole.encode_with(&self.cfg.decode) else {
            return Ok(());
        };
        for id in &ids {
            self.remove_stored(id)?;
        }
        self.stats.reassembled += 1;
        // Received anew as the whole bundle: stored, then delivered like any other.
        self.ingest(now, None, bytes, false)?;
        Ok(())
    }
}

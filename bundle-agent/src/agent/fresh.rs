//! The bytes of the bundles stored since the last group commit, kept in memory until it.
//!
//! Most bundles leave in the same turn of the node's loop that brought them: forwarded on a
//! link with room, or delivered to an application waiting for them, before the commit. Each
//! of those used to read the bundle back from the store, which for a large bundle means a
//! read of its whole value-log entry into a fresh buffer. Kept here (shared, not copied)
//! until the commit, they are read from memory. What is held is bounded
//! ([`FRESH_MAX_BYTES`]); a bundle removed from the store goes from here too.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::wire::BundleId;

/// Most bytes held: bundles beyond it are read back from the store as before.
pub(super) const FRESH_MAX_BYTES: usize = 64 << 20;

/// Bundles stored since the last commit, by ID.
#[derive(Debug, Default)]
pub(super) struct FreshBundles {
    bundles: BTreeMap<BundleId, Bytes>,
    bytes: usize,
}

impl FreshBundles {
    /// Holds `bytes`, just stored as `id`, if they fit.
    pub(super) fn put(&mut self, id: BundleId, bytes: Bytes) {
        if self.bytes + bytes.len() > FRESH_MAX_BYTES {
            return;
        }
        self.bytes += bytes.len();
        if let Some(old) = self.bundles.insert(id, bytes) {
            self.bytes -= old.len();
        }
    }

    /// The bytes of `id`, when held.
    pub(super) fn get(&self, id: &BundleId) -> Option<Bytes> {
        self.bundles.get(id).cloned()
    }

    /// Forgets `id` (removed from the store).
    pub(super) fn remove(&mut self, id: &BundleId) {
        if let Some(old) = self.bundles.remove(id) {
            self.bytes -= old.len();
        }
    }

    /// Forgets everything (the commit).
    pub(super) fn clear(&mut self) {
        self.bundles.clear();
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_id as id;
    use super::*;

    #[test]
    fn holds_up_to_its_bound_and_forgets_on_remove_and_clear() {
        let mut f = FreshBundles::default();
        f.put(id(1), Bytes::from(vec![1; FRESH_MAX_BYTES - 10]));
        f.put(id(2), Bytes::from(vec![2; 11]));
        assert!(f.get(&id(2)).is_none(), "past the bound");
        f.put(id(3), Bytes::from(vec![3; 10]));
        assert_eq!(f.get(&id(3)).map(|b| b.len()), Some(10));
        f.remove(&id(1));
        assert!(f.get(&id(1)).is_none());
        assert_eq!(f.bytes, 10);
        f.clear();
        assert!(f.get(&id(3)).is_none());
        assert_eq!(f.bytes, 0);
    }
}

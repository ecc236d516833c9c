//! How long the RocksDB store keeps forwarding-log entries, and the compaction filter that
//! drops them after that.
//!
//! The log outlives the bundles it tells of: `dtnctl trace` reads it, and duplicate
//! suppression (RFC 9171 §5.6 step 2) needs it after a bundle has left. But a node that
//! forwards for years cannot keep every entry: the log would grow without bound. A bundle's
//! entries are needed for duplicate suppression only until its lifetime ends (a copy that
//! arrives later is dropped as expired, §5.5), and for tracing some time after its last
//! event. So each entry is kept until the later of the bundle's expiry, when the store
//! knows it, and its own time plus the retention period (a week by default); then RocksDB
//! drops it the next time it compacts the file that holds it (at least once a day).
//!
//! Time is the agent's: the filter never reads the wall clock. The store moves a
//! [`LogClock`] forward to the time of each entry it logs; until the first one after a
//! start, the clock reads zero and nothing is dropped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rocksdb::compaction_filter::Decision;

use crate::wire::cbor::Reader;
use crate::wire::DtnTime;

/// First byte of a log value that starts with its keep-until time (8 bytes, big-endian),
/// before the entry's CBOR. Entries written without one start with a CBOR array head.
const KEEP_UNTIL_TAG: u8 = 0xFE;

/// A log value: `entry` (CBOR) kept at least until `keep_until`.
pub(crate) fn with_keep_until(keep_until: DtnTime, entry: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(9 + entry.len());
    v.push(KEEP_UNTIL_TAG);
    v.extend_from_slice(&keep_until.0.to_be_bytes());
    v.extend_from_slice(entry);
    v
}

/// The keep-until time a log value carries, if any, and the entry's CBOR.
pub(crate) fn split_keep_until(value: &[u8]) -> (Option<DtnTime>, &[u8]) {
    match value.split_first() {
        Some((&KEEP_UNTIL_TAG, rest)) => match (rest.get(..8), rest.get(8..)) {
            (Some(t), Some(entry)) => {
                let t = <[u8; 8]>::try_from(t).map(u64::from_be_bytes).ok();
                (t.map(DtnTime), entry)
            }
            _ => (None, value),
        },
        _ => (None, value),
    }
}

/// The latest time the store has seen, shared with the compaction filter.
#[derive(Debug, Clone, Default)]
pub(crate) struct LogClock(Arc<AtomicU64>);

impl LogClock {
    /// Moves the clock to `at` if that is later.
    pub(crate) fn advance(&self, at: DtnTime) {
        self.0.fetch_max(at.0, Ordering::Relaxed);
    }

    fn now(&self) -> DtnTime {
        DtnTime(self.0.load(Ordering::Relaxed))
    }
}

/// True when the log value may go at `now`: both its keep-until time (if any) and its own
/// time plus `retention` (milliseconds) are past. A value that cannot be read is kept.
pub(crate) fn expired(value: &[u8], now: DtnTime, retention: u64) -> bool {
    let (keep_until, entry) = split_keep_until(value);
    let mut r = Reader::new(entry, 4);
    let Ok(at) = r.definite_array().and_then(|_| r.uint()) else {
        return false;
    };
    let until = at
        .saturating_add(retention)
        .max(keep_until.map_or(0, |t| t.0));
    now.0 != 0 && until < now.0
}

/// The compaction filter of the forwarding-log column family.
pub(crate) fn filter(
    clock: LogClock,
    retention: u64,
) -> impl FnMut(u32, &[u8], &[u8]) -> Decision + Send + 'static {
    move |_level, _key, value| {
        if expired(value, clock.now(), retention) {
            Decision::Remove
        } else {
            Decision::Keep
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::codec::encode_log;
    use crate::store::{LogEntry, LogEvent};

    fn entry(at: u64) -> Vec<u8> {
        encode_log(&LogEntry {
            at: DtnTime(at),
            event: LogEvent::Received { from: None },
        })
    }

    #[test]
    fn an_entry_goes_after_its_time_plus_the_retention() {
        assert!(!expired(&entry(100), DtnTime(150), 50));
        assert!(expired(&entry(100), DtnTime(151), 50));
    }

    #[test]
    fn an_entry_stays_while_its_bundle_lives() {
        let v = with_keep_until(DtnTime(1000), &entry(100));
        assert_eq!(split_keep_until(&v), (Some(DtnTime(1000)), &entry(100)[..]));
        assert!(!expired(&v, DtnTime(1000), 50));
        assert!(expired(&v, DtnTime(1001), 50));
        // An expiry before the retention ends does not shorten it.
        assert!(!expired(
            &with_keep_until(DtnTime(10), &entry(100)),
            DtnTime(150),
            50
        ));
    }

    #[test]
    fn nothing_goes_before_the_clock_is_set_or_when_unreadable() {
        assert!(!expired(&entry(100), DtnTime(0), 0));
        assert!(!expired(&[0xFE, 1, 2], DtnTime(u64::MAX), 0));
        assert!(!expired(b"", DtnTime(u64::MAX), 0));
        let clock = LogClock::default();
        clock.advance(DtnTime(500));
        clock.advance(DtnTime(400));
        assert_eq!(clock.now(), DtnTime(500));
    }
}

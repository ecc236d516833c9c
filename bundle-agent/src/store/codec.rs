//! How store entries are laid out as bytes, shared by every implementation so that keys
//! sort the same everywhere.
//!
//! A bundle key is the bundle ID: the source EID's CBOR (self-delimiting), creation time and
//! sequence number as big-endian u64, then 0x00, or 0x01 with fragment offset and length.
//! Records, registrations and log entries are small CBOR arrays.

use crate::wire::cbor::{Reader, Writer};
use crate::wire::{BundleId, CreationTimestamp, DtnTime, Eid};

use super::{BundleRecord, DeliveryMode, LogEntry, LogEvent, Registration, Retention, StoreError};

fn corrupt(what: &str, e: impl core::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

/// The store key of a bundle ID.
pub fn bundle_key(id: &BundleId) -> Vec<u8> {
    let mut w = Writer::with_capacity(48);
    id.source.encode(&mut w);
    let mut v = w.into_vec();
    v.extend_from_slice(&id.creation.time.0.to_be_bytes());
    v.extend_from_slice(&id.creation.sequence.to_be_bytes());
    match id.fragment {
        None => v.push(0),
        Some((offset, len)) => {
            v.push(1);
            v.extend_from_slice(&offset.to_be_bytes());
            v.extend_from_slice(&len.to_be_bytes());
        }
    }
    v
}

fn be_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let b: [u8; 8] = bytes.get(at..at + 8)?.try_into().ok()?;
    Some(u64::from_be_bytes(b))
}

/// The bundle ID a store key stands for, and the key's length.
pub fn decode_bundle_key_prefix(key: &[u8]) -> Result<(BundleId, usize), StoreError> {
    let mut r = Reader::new(key, 4);
    let source = Eid::decode(&mut r).map_err(|e| corrupt("bundle key", e))?;
    let at = r.position();
    let bad = || StoreError::Corrupt("bundle key: truncated".into());
    let time = be_u64(key, at).ok_or_else(bad)?;
    let sequence = be_u64(key, at + 8).ok_or_else(bad)?;
    let (fragment, end) = match key.get(at + 16) {
        Some(0) => (None, at + 17),
        Some(1) => (
            Some((
                be_u64(key, at + 17).ok_or_else(bad)?,
                be_u64(key, at + 25).ok_or_else(bad)?,
            )),
            at + 33,
        ),
        _ => return Err(bad()),
    };
    Ok((
        BundleId {
            source,
            creation: CreationTimestamp::new(DtnTime(time), sequence),
            fragment,
        },
        end,
    ))
}

/// The bundle ID a whole store key stands for.
pub fn decode_bundle_key(key: &[u8]) -> Result<BundleId, StoreError> {
    let (id, end) = decode_bundle_key_prefix(key)?;
    if end != key.len() {
        return Err(StoreError::Corrupt("bundle key: trailing bytes".into()));
    }
    Ok(id)
}

/// The prefix every store key of a fragment of `whole` starts with: `whole`'s source,
/// creation time and sequence number, then 0x01 (its own fragment field is ignored). Keys
/// under it sort by fragment offset, then length.
pub fn fragments_prefix(whole: &BundleId) -> Vec<u8> {
    let mut v = bundle_key(&BundleId {
        fragment: None,
        ..whole.clone()
    });
    if let Some(flag) = v.last_mut() {
        *flag = 1;
    }
    v
}

/// Key of the expiry index: expiry time big-endian, then the bundle key.
pub fn expiry_key(expires_at: DtnTime, bundle_key: &[u8]) -> Vec<u8> {
    let mut v = expires_at.0.to_be_bytes().to_vec();
    v.extend_from_slice(bundle_key);
    v
}

/// The expiry time and bundle ID of an expiry index key.
pub fn decode_expiry_key(key: &[u8]) -> Result<(DtnTime, BundleId), StoreError> {
    let time = be_u64(key, 0).ok_or_else(|| StoreError::Corrupt("expiry key: truncated".into()))?;
    Ok((
        DtnTime(time),
        decode_bundle_key_prefix(key.get(8..).unwrap_or(&[]))?.0,
    ))
}

/// The record value (the ID is the key).
pub fn encode_record(r: &BundleRecord) -> Vec<u8> {
    let mut w = Writer::with_capacity(48);
    w.array(7);
    r.destination.encode(&mut w);
    w.uint(r.expires_at.0)
        .uint(r.received_at.0)
        .uint(r.size)
        .uint(u64::from(r.retention.0))
        .uint(r.reports)
        .uint(u64::from(r.priority));
    w.into_vec()
}

/// Reads a record value stored under `key`.
pub fn decode_record(key: &[u8], value: &[u8]) -> Result<BundleRecord, StoreError> {
    let id = decode_bundle_key(key)?;
    let mut r = Reader::new(value, 4);
    let n = r.definite_array().map_err(|e| corrupt("record", e))?;
    // Five fields: a record written before `reports` existed; six, before `priority`.
    if !(5..=7).contains(&n) {
        return Err(corrupt("record", format!("{n} fields")));
    }
    let destination = Eid::decode(&mut r).map_err(|e| corrupt("record", e))?;
    let mut next = || r.uint().map_err(|e| corrupt("record", e));
    let expires_at = DtnTime(next()?);
    let received_at = DtnTime(next()?);
    let size = next()?;
    let retention = Retention(u8::try_from(next()?).map_err(|e| corrupt("record retention", e))?);
    // Not known for an old record: assume every report, so the bundle is read and checked.
    let reports = if n >= 6 { next()? } else { u64::MAX };
    let priority = if n == 7 {
        u8::try_from(next()?).map_err(|e| corrupt("record priority", e))?
    } else {
        crate::wire::block::PRIORITY_NORMAL
    };
    Ok(BundleRecord {
        id,
        destination,
        expires_at,
        received_at,
        size,
        retention,
        reports,
        priority,
    })
}

/// The registration value (the endpoint's CBOR is the key).
pub fn encode_registration(r: &Registration) -> Vec<u8> {
    let mut w = Writer::with_capacity(4);
    w.array(1).uint(match r.mode {
        DeliveryMode::Active => 0,
        DeliveryMode::Passive => 1,
    });
    w.into_vec()
}

/// Reads a registration.
pub fn decode_registration(key: &[u8], value: &[u8]) -> Result<Registration, StoreError> {
    let endpoint =
        Eid::decode(&mut Reader::new(key, 4)).map_err(|e| corrupt("registration key", e))?;
    let mut r = Reader::new(value, 4);
    if r.definite_array().map_err(|e| corrupt("registration", e))? != 1 {
        return Err(corrupt("registration", "shape"));
    }
    let mode = match r.uint().map_err(|e| corrupt("registration", e))? {
        0 => DeliveryMode::Active,
        1 => DeliveryMode::Passive,
        m => return Err(corrupt("registration", format!("mode {m}"))),
    };
    Ok(Registration { endpoint, mode })
}

/// A log entry value.
pub fn encode_log(e: &LogEntry) -> Vec<u8> {
    let mut w = Writer::with_capacity(32);
    match &e.event {
        LogEvent::Received { from: None } => {
            w.array(2).uint(e.at.0).uint(0);
        }
        LogEvent::Received { from: Some(eid) } => {
            w.array(3).uint(e.at.0).uint(0);
            eid.encode(&mut w);
        }
        LogEvent::Forwarded { to } => {
            w.array(3).uint(e.at.0).uint(1);
            to.encode(&mut w);
        }
        LogEvent::Delivered { endpoint } => {
            w.array(3).uint(e.at.0).uint(2);
            endpoint.encode(&mut w);
        }
        LogEvent::Deleted { reason } => {
            w.array(3).uint(e.at.0).uint(3).uint(*reason);
        }
    }
    w.into_vec()
}

/// Reads a log entry value.
pub fn decode_log(value: &[u8]) -> Result<LogEntry, StoreError> {
    let mut r = Reader::new(value, 4);
    let n = r.definite_array().map_err(|e| corrupt("log entry", e))?;
    let at = DtnTime(r.uint().map_err(|e| corrupt("log entry", e))?);
    let code = r.uint().map_err(|e| corrupt("log entry", e))?;
    let eid = |r: &mut Reader<'_>| Eid::decode(r).map_err(|e| corrupt("log entry", e));
    let event = match (code, n) {
        (0, 2) => LogEvent::Received { from: None },
        (0, 3) => LogEvent::Received {
            from: Some(eid(&mut r)?),
        },
        (1, 3) => LogEvent::Forwarded { to: eid(&mut r)? },
        (2, 3) => LogEvent::Delivered {
            endpoint: eid(&mut r)?,
        },
        (3, 3) => LogEvent::Deleted {
            reason: r.uint().map_err(|e| corrupt("log entry", e))?,
        },
        _ => {
            return Err(corrupt(
                "log entry",
                format!("event {code} with {n} fields"),
            ))
        }
    };
    Ok(LogEntry { at, event })
}

#[cfg(test)]
mod record_tests {
    use super::*;
    use crate::store::Retention;
    use crate::wire::CreationTimestamp;

    #[test]
    fn records_written_before_reports_and_priority_still_read() {
        let record = BundleRecord {
            id: BundleId {
                source: Eid::ipn(1, 0),
                creation: CreationTimestamp::new(DtnTime(7), 0),
                fragment: None,
            },
            destination: Eid::ipn(2, 1),
            expires_at: DtnTime(9),
            received_at: DtnTime(8),
            size: 3,
            retention: Retention(Retention::FORWARD_PENDING),
            reports: 0,
            priority: 0,
        };
        let key = bundle_key(&record.id);
        assert_eq!(
            decode_record(&key, &encode_record(&record)).unwrap(),
            record
        );
        // The same record as a six- and a five-field array: normal priority, and every
        // report assumed when the field is missing.
        let mut six = encode_record(&record);
        six[0] = 0x86;
        six.pop();
        let old = decode_record(&key, &six).unwrap();
        assert_eq!((old.priority, old.reports), (1, 0));
        let mut five = six.clone();
        five[0] = 0x85;
        five.pop();
        let older = decode_record(&key, &five).unwrap();
        assert_eq!((older.priority, older.reports), (1, u64::MAX));
        let mut eight = encode_record(&record);
        eight[0] = 0x88;
        eight.push(0);
        assert!(decode_record(&key, &eight).is_err());
    }
}

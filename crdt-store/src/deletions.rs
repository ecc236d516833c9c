//! A partition's deletions as plain ranges: what a peer is told about them, and how much of
//! them a delta carries.
//!
//! Deletions do not advance a yrs state vector, and a delete set can reach a replica apart
//! from the items it deletes (yrs keeps deletions of items it has not seen yet aside), so
//! state vectors alone would call a peer up to date that still lacks a deletion. Each
//! message therefore carries a [`digest`] of the sender's deletions, over the merged, sorted
//! ranges, so replicas holding the same deletions agree on it however their blocks are split.
//!
//! yrs puts the whole delete set into every update it encodes; over a long life a twin's
//! delete set (one range per overwritten value) would dominate every small delta. So a delta
//! carries only the deletions not already sent to that peer ([`difference`]), spliced in
//! place of yrs's ([`replace_delete_set`]); a resync sends them all again.

use yrs::{Doc, ReadTxn, Transact};

use crate::check::{delete_set_offset, CheckError};

/// A deleted clock range of one client: (client, start, end), end exclusive.
pub type Range = (u64, u32, u32);

/// The digest of no deletions.
pub const NONE: u64 = 0xcbf2_9ce4_8422_2325;

/// The deleted ranges of `doc`, merged and sorted.
pub fn ranges(doc: &Doc) -> Vec<Range> {
    let snapshot = doc.transact().snapshot();
    let mut all: Vec<Range> = snapshot
        .delete_set
        .iter()
        .flat_map(|(client, r)| r.iter().map(move |x| (*client, x.start, x.end)))
        .filter(|(_, s, e)| e > s)
        .collect();
    all.sort_unstable();
    let mut merged: Vec<Range> = Vec::with_capacity(all.len());
    for (c, s, e) in all {
        match merged.last_mut() {
            Some(last) if last.0 == c && s <= last.2 => last.2 = last.2.max(e),
            _ => merged.push((c, s, e)),
        }
    }
    merged
}

/// FNV-1a over merged ranges.
pub fn digest(ranges: &[Range]) -> u64 {
    let mut hash = NONE;
    for (c, s, e) in ranges {
        for b in c
            .to_be_bytes()
            .into_iter()
            .chain(s.to_be_bytes())
            .chain(e.to_be_bytes())
        {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// The parts of `current` not in `sent` (both merged and sorted).
pub fn difference(current: &[Range], sent: &[Range]) -> Vec<Range> {
    let mut out = Vec::new();
    let mut j = 0;
    for &(c, s, e) in current {
        let mut start = s;
        // Skip sent ranges wholly before this one.
        while sent
            .get(j)
            .is_some_and(|&(sc, _, se)| (sc, se) <= (c, start))
        {
            j += 1;
        }
        let mut k = j;
        while let Some(&(sc, ss, se)) = sent.get(k) {
            if sc != c || ss >= e {
                break;
            }
            if ss > start {
                out.push((c, start, ss));
            }
            start = start.max(se);
            if start >= e {
                break;
            }
            k += 1;
        }
        if start < e {
            out.push((c, start, e));
        }
    }
    out
}

fn var(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// Replaces the delete set of a v1 `update` by `ranges`.
pub fn replace_delete_set(update: &[u8], ranges: &[Range]) -> Result<Vec<u8>, CheckError> {
    let at = delete_set_offset(update)?;
    let mut out = update.get(..at).unwrap_or_default().to_vec();
    let mut clients: Vec<(u64, Vec<(u32, u32)>)> = Vec::new();
    for &(c, s, e) in ranges {
        match clients.last_mut() {
            Some((lc, v)) if *lc == c => v.push((s, e)),
            _ => clients.push((c, vec![(s, e)])),
        }
    }
    var(&mut out, clients.len() as u64);
    for (c, rs) in clients {
        var(&mut out, c);
        var(&mut out, rs.len() as u64);
        for (s, e) in rs {
            var(&mut out, u64::from(s));
            var(&mut out, u64::from(e - s));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences() {
        let cur = [(1, 0, 10), (1, 20, 30), (2, 5, 6)];
        assert_eq!(difference(&cur, &[]), cur.to_vec());
        assert_eq!(difference(&cur, &cur), vec![]);
        assert_eq!(
            difference(&cur, &[(1, 2, 4), (1, 8, 25)]),
            vec![(1, 0, 2), (1, 4, 8), (1, 25, 30), (2, 5, 6)]
        );
        assert_eq!(difference(&cur, &[(0, 0, 100), (2, 0, 5)]), cur.to_vec());
        assert_eq!(
            difference(&[(1, 0, 10)], &[(1, 0, 3), (1, 3, 5)]),
            vec![(1, 5, 10)]
        );
        assert_eq!(digest(&[]), NONE);
        assert_ne!(digest(&cur), digest(&cur[..2]));
    }
}

//! Importers for other implementations' contact plans, so a network already described for
//! ION or HDTN can be loaded as is:
//!
//! - **ION** `ionrc` files (`ionadmin` commands): `a contact FROM_TIME TO_TIME FROM TO RATE
//!   [CONFIDENCE]` and `a range FROM_TIME TO_TIME FROM TO OWLT`. Times are `+SECONDS`
//!   (relative to the epoch given to the importer) or `YYYY/MM/DD-HH:MM:SS` (UTC); rates are
//!   bytes per second, ranges seconds of light time. As in ION, a range between two nodes
//!   holds in both directions unless the other direction has a range of its own; a contact
//!   takes the light time of the range in force at its start. Every other line (comments,
//!   `1`, `s`, `m ...`) is not about contacts and is skipped.
//! - **HDTN** JSON plans: `{"contacts": [{"source": 1, "dest": 2, "startTime": 0, "endTime":
//!   100, "rateBitsPerSec": 8000, "owlt": 1}]}`; times in seconds from the epoch, rates in
//!   bits per second (0, which HDTN uses for "not limited", becomes an unlimited rate).
//!
//! Node numbers become `ipn:N.0`. The result is validated like any plan.

use std::collections::BTreeMap;

use bundle_agent::wire::{DtnTime, Eid};
use serde::Deserialize;

use crate::plan::{Contact, ContactPlan, PlanError};

/// Seconds from 1970-01-01 to 2000-01-01, the DTN epoch.
const DTN_EPOCH_UNIX_S: i64 = 946_684_800;

fn syntax(line: usize, what: impl std::fmt::Display) -> PlanError {
    PlanError::Syntax(format!("line {line}: {what}"))
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// An ION time: `+SECONDS` after `epoch`, or `YYYY/MM/DD-HH:MM:SS` UTC.
fn ion_time(text: &str, epoch: DtnTime, line: usize) -> Result<DtnTime, PlanError> {
    if let Some(rel) = text.strip_prefix('+') {
        let s: u64 = rel
            .parse()
            .map_err(|_| syntax(line, format!("time {text:?}: not +SECONDS")))?;
        return Ok(DtnTime(epoch.0.saturating_add(s.saturating_mul(1000))));
    }
    let bad = || {
        syntax(
            line,
            format!("time {text:?}: not +SECONDS or YYYY/MM/DD-HH:MM:SS"),
        )
    };
    let (date, clock) = text.split_once('-').ok_or_else(bad)?;
    let num = |s: &str| s.parse::<i64>().map_err(|_| bad());
    let d: Vec<&str> = date.split('/').collect();
    let c: Vec<&str> = clock.split(':').collect();
    let (&[y, mo, da], &[h, mi, se]) = (d.as_slice(), c.as_slice()) else {
        return Err(bad());
    };
    let (y, mo, da, h, mi, se) = (num(y)?, num(mo)?, num(da)?, num(h)?, num(mi)?, num(se)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&da) || h > 23 || mi > 59 || se > 60 {
        return Err(bad());
    }
    let unix = days_from_civil(y, mo, da) * 86_400 + h * 3600 + mi * 60 + se;
    let since_2000 = unix - DTN_EPOCH_UNIX_S;
    let ms = u64::try_from(since_2000)
        .map_err(|_| syntax(line, format!("time {text:?} is before 2000")))?
        .saturating_mul(1000);
    Ok(DtnTime(ms))
}

fn ipn(text: &str, line: usize) -> Result<Eid, PlanError> {
    let n: u32 = text
        .parse()
        .map_err(|_| syntax(line, format!("node {text:?}: not a node number")))?;
    Ok(Eid::ipn(n, 0))
}

struct IonRange {
    start: DtnTime,
    end: DtnTime,
    owlt_ms: u64,
}

/// Reads the contacts and ranges of an ION `ionrc` file.
pub fn from_ion(text: &str, epoch: DtnTime) -> Result<ContactPlan, PlanError> {
    let mut contacts = Vec::new();
    let mut ranges: BTreeMap<(Eid, Eid), Vec<IonRange>> = BTreeMap::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let words: Vec<&str> = raw
            .split('#')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        match words.as_slice() {
            ["a", "contact", from_t, to_t, from, to, rate, rest @ ..] => {
                let confidence = match rest {
                    [] => 1.0,
                    [c] => c
                        .parse::<f64>()
                        .map_err(|_| syntax(line, format!("confidence {c:?}")))?,
                    _ => return Err(syntax(line, "too many fields in `a contact`")),
                };
                contacts.push(Contact {
                    from: ipn(from, line)?,
                    to: ipn(to, line)?,
                    start: ion_time(from_t, epoch, line)?,
                    end: ion_time(to_t, epoch, line)?,
                    rate: rate
                        .parse()
                        .map_err(|_| syntax(line, format!("rate {rate:?}")))?,
                    owlt_ms: 0,
                    confidence,
                });
            }
            ["a", "range", from_t, to_t, from, to, owlt] => {
                let owlt_s: u64 = owlt
                    .parse()
                    .map_err(|_| syntax(line, format!("light time {owlt:?}")))?;
                ranges
                    .entry((ipn(from, line)?, ipn(to, line)?))
                    .or_default()
                    .push(IonRange {
                        start: ion_time(from_t, epoch, line)?,
                        end: ion_time(to_t, epoch, line)?,
                        owlt_ms: owlt_s.saturating_mul(1000),
                    });
            }
            ["a", "contact", ..] | ["a", "range", ..] => {
                return Err(syntax(line, format!("malformed: {}", raw.trim())));
            }
            _ => {}
        }
    }
    for c in &mut contacts {
        // This direction's own range first, else the other direction's (ION's symmetry).
        let own = ranges.get(&(c.from.clone(), c.to.clone()));
        let back = ranges.get(&(c.to.clone(), c.from.clone()));
        let in_force = |rs: Option<&Vec<IonRange>>| {
            rs.and_then(|rs| {
                rs.iter()
                    .find(|r| r.start <= c.start && c.start < r.end)
                    .map(|r| r.owlt_ms)
            })
        };
        c.owlt_ms = in_force(own).or_else(|| in_force(back)).unwrap_or(0);
    }
    ContactPlan::new(contacts)
}

#[derive(Deserialize)]
struct HdtnPlan {
    contacts: Vec<HdtnContact>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HdtnContact {
    source: u32,
    dest: u32,
    start_time: u64,
    end_time: u64,
    rate_bits_per_sec: u64,
    #[serde(default)]
    owlt: u64,
}

/// Reads an HDTN JSON contact plan.
pub fn from_hdtn(text: &str, epoch: DtnTime) -> Result<ContactPlan, PlanError> {
    let plan: HdtnPlan =
        serde_json::from_str(text).map_err(|e| PlanError::Syntax(e.to_string()))?;
    let at = |s: u64| DtnTime(epoch.0.saturating_add(s.saturating_mul(1000)));
    let contacts = plan
        .contacts
        .iter()
        .map(|c| Contact {
            from: Eid::ipn(c.source, 0),
            to: Eid::ipn(c.dest, 0),
            start: at(c.start_time),
            end: at(c.end_time),
            rate: match c.rate_bits_per_sec {
                0 => u64::MAX,
                bits => (bits / 8).max(1),
            },
            owlt_ms: c.owlt.saturating_mul(1000),
            confidence: 1.0,
        })
        .collect();
    ContactPlan::new(contacts)
}

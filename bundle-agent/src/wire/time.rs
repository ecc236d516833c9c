//! DTN time and the creation timestamp (RFC 9171 §4.2.6, §4.2.7).
//!
//! DTN time is milliseconds since 2000-01-01T00:00:00Z, ignoring leap seconds. Zero means
//! "the creating node has no accurate clock" and then the bundle carries a bundle age block
//! (§4.2.7, §4.4.2). This module only defines the values; nothing here reads a clock.

use core::fmt;

/// Seconds from the Unix epoch to the DTN epoch (2000-01-01T00:00:00Z).
pub const DTN_EPOCH_UNIX_SECS: u64 = 946_684_800;

/// Milliseconds since 2000-01-01T00:00:00Z (RFC 9171 §4.2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct DtnTime(pub u64);

impl DtnTime {
    /// The "unknown" time used when the creator has no accurate clock.
    pub const UNKNOWN: DtnTime = DtnTime(0);

    /// Converts milliseconds since the Unix epoch; times before 2000 map to zero.
    pub fn from_unix_millis(ms: u64) -> Self {
        DtnTime(ms.saturating_sub(DTN_EPOCH_UNIX_SECS * 1000))
    }

    /// Milliseconds since the Unix epoch.
    pub fn to_unix_millis(self) -> u64 {
        self.0.saturating_add(DTN_EPOCH_UNIX_SECS * 1000)
    }

    /// Milliseconds since the DTN epoch.
    pub fn millis(self) -> u64 {
        self.0
    }
}

impl fmt::Display for DtnTime {
    /// RFC 3339 UTC with milliseconds, e.g. `2020-03-13T12:41:18.000Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unix_ms = self.to_unix_millis();
        let secs = unix_ms / 1000;
        let ms = unix_ms % 1000;
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
            rem / 3600,
            (rem % 3600) / 60,
            rem % 60
        )
    }
}

/// Gregorian date from days since 1970-01-01 (Howard Hinnant's civil algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Creation timestamp: creation time plus a sequence number (RFC 9171 §4.2.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct CreationTimestamp {
    /// When the bundle was created, or [`DtnTime::UNKNOWN`].
    pub time: DtnTime,
    /// Distinguishes bundles created by one source in the same millisecond.
    pub sequence: u64,
}

impl CreationTimestamp {
    /// A timestamp from its two parts.
    pub fn new(time: DtnTime, sequence: u64) -> Self {
        Self { time, sequence }
    }
}

impl fmt::Display for CreationTimestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.time == DtnTime::UNKNOWN {
            write!(f, "unknown-time seq {}", self.sequence)
        } else {
            write!(f, "{} seq {}", self.time, self.sequence)
        }
    }
}

/// Parses a duration such as `90s`, `15m`, `2h`, `1d`, `250ms` or a plain number of
/// milliseconds (lifetimes, timeouts, scenario times), into milliseconds. The error says
/// what is wrong in words.
pub fn parse_duration_ms(text: &str) -> Result<u64, String> {
    let s = text.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("duration {s:?}: expected a number and a unit (ms, s, m, h, d)"))?;
    let factor = match unit {
        "" | "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        other => {
            return Err(format!(
                "duration {s:?}: unknown unit {other:?}; use ms, s, m, h or d"
            ))
        }
    };
    n.checked_mul(factor)
        .ok_or_else(|| format!("duration {s:?} is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtn_time_displays_as_utc() {
        // 637418478 s after the DTN epoch is 2020-03-13T12:41:18Z.
        assert_eq!(
            DtnTime(637_418_478_000).to_string(),
            "2020-03-13T12:41:18.000Z"
        );
        assert_eq!(DtnTime(0).to_string(), "2000-01-01T00:00:00.000Z");
    }
}

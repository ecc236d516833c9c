//! Reading inputs and writing outputs for the CLI: files or `-` for the standard streams,
//! and a refusal to spray binary CBOR onto a terminal.

use std::io::{IsTerminal, Read, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use bundle_agent::wire::DtnTime;

/// Reads a whole file, or standard input for `-`, refusing more than `limit` bytes.
pub fn read_input(path: &str, limit: usize) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    let cap = limit as u64 + 1;
    if path == "-" {
        std::io::stdin()
            .lock()
            .take(cap)
            .read_to_end(&mut buf)
            .context("reading standard input")?;
    } else {
        let f = std::fs::File::open(path).with_context(|| format!("opening {path}"))?;
        f.take(cap)
            .read_to_end(&mut buf)
            .with_context(|| format!("reading {path}"))?;
    }
    if buf.len() > limit {
        bail!("{path}: larger than the limit of {limit} bytes (raise it with --max-size)");
    }
    Ok(buf)
}

/// Writes binary output to a file, or to standard output for `-` unless that is a terminal.
pub fn write_binary(path: &str, bytes: &[u8]) -> Result<()> {
    if path == "-" {
        let mut out = std::io::stdout().lock();
        if out.is_terminal() {
            bail!("refusing to write binary CBOR to a terminal; use -o FILE or redirect standard output");
        }
        out.write_all(bytes).context("writing standard output")?;
        out.flush().context("writing standard output")?;
    } else {
        std::fs::write(path, bytes).with_context(|| format!("writing {path}"))?;
    }
    Ok(())
}

/// The current DTN time from the system clock.
pub fn dtn_now() -> DtnTime {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    DtnTime::from_unix_millis(ms)
}

/// Parses a duration such as `90s`, `15m`, `2h`, `1d`, `250ms` or a plain number of
/// milliseconds, into milliseconds ([`bundle_agent::wire::parse_duration_ms`]).
pub fn parse_duration_ms(s: &str) -> Result<u64> {
    bundle_agent::wire::parse_duration_ms(s).map_err(anyhow::Error::msg)
}

/// Random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::getrandom(&mut b)
        .map_err(|e| anyhow::anyhow!("operating system random source failed: {e}"))?;
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("250").unwrap(), 250);
        assert_eq!(parse_duration_ms("90s").unwrap(), 90_000);
        assert_eq!(parse_duration_ms("1d").unwrap(), 86_400_000);
        assert!(parse_duration_ms("1y").is_err());
        assert!(parse_duration_ms("h").is_err());
    }
}

/// A DTN time (ms since 2000-01-01 UTC) as UTC date and time, e.g. `2026-11-25 23:59:01.123Z`.
pub fn dtn_time_text(ms: u64) -> String {
    let unix_ms = i128::from(ms) + 946_684_800_000;
    match time::OffsetDateTime::from_unix_timestamp_nanos(unix_ms * 1_000_000) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.millisecond()
        ),
        Err(_) => format!("{ms} ms"),
    }
}

/// How far `ms` is from `now_ms`, in words: `in 1m 30s`, `2h 5m ago`, `now`.
pub fn relative_text(ms: u64, now_ms: u64) -> String {
    let (d, future) = if ms >= now_ms {
        (ms - now_ms, true)
    } else {
        (now_ms - ms, false)
    };
    let s = d / 1000;
    let text = if d < 1000 {
        return "now".into();
    } else if s < 60 {
        format!("{}.{}s", s, (d % 1000) / 100)
    } else if s < 3600 {
        format!("{}m {}s", s / 60, s % 60)
    } else if s < 86_400 {
        format!("{}h {}m", s / 3600, (s % 3600) / 60)
    } else {
        format!("{}d {}h", s / 86_400, (s % 86_400) / 3600)
    };
    if future {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

#[cfg(test)]
mod time_text_tests {
    use super::*;

    #[test]
    fn dtn_times_read_as_utc() {
        assert_eq!(dtn_time_text(0), "2000-01-01 00:00:00.000Z");
        assert_eq!(dtn_time_text(86_400_123), "2000-01-02 00:00:00.123Z");
        assert_eq!(relative_text(91_000, 1_000), "in 1m 30s");
        assert_eq!(relative_text(1_000, 7_201_000), "2h 0m ago");
        assert_eq!(relative_text(5_000, 5_400), "now");
    }
}

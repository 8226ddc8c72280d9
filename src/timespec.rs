//! Points in time and durations given on the command line: `--as-of`, `--start`, `--end`
//! (RFC 3339 with an offset, or a date meaning the end of that day in UTC) and `--min-age`,
//! `--timeout` (`90m`, `12h`, `3d`, `2w`).
//!
//! Parsing is strict: a time without an offset (`2024-03-01T12:00:00`, `2024-03-01 12:00`) is
//! ambiguous and refused rather than read as a date or in some time zone, and a duration is
//! whole, non-negative and at most [`MAX_DURATION`], so every later computation with it (a
//! cut-off of now minus the duration) is representable.

use std::time::Duration;

use jiff::{Timestamp, civil::Date, tz::TimeZone};

/// The longest duration accepted: 100 years (of 365 days).
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 86_400);

const TIME_FORMS: &str = "expected RFC 3339 with an offset (2024-03-01T12:00:00Z, 2024-03-01T12:00:00+02:00) or a date (2024-03-01)";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeSpecError {
    #[error("invalid time {text:?}: {why}")]
    Time { text: String, why: String },
    #[error("invalid duration {text:?}: {why}")]
    Duration { text: String, why: String },
}

fn time_error(text: &str, why: &str) -> TimeSpecError {
    TimeSpecError::Time {
        text: text.to_owned(),
        why: why.to_owned(),
    }
}

fn duration_error(text: &str, why: &str) -> TimeSpecError {
    TimeSpecError::Duration {
        text: text.to_owned(),
        why: why.to_owned(),
    }
}

/// Parses `--as-of`: an RFC 3339 timestamp (`T`, `t` or a space between date and time;
/// seconds required; 0–9 fractional digits; `Z` or `±HH:MM` required), or a bare `YYYY-MM-DD`,
/// which means the last instant of that day in UTC. Anything else is an error.
pub fn parse_time(text: &str) -> Result<Timestamp, TimeSpecError> {
    let text = text.trim();
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        b.get(range.clone())
            .is_some_and(|s| s.iter().all(u8::is_ascii_digit) && s.len() == range.len())
    };
    let is_date = digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10);
    if !is_date {
        return Err(time_error(text, TIME_FORMS));
    }
    if b.len() == 10 {
        let date: Date = text.parse().map_err(|_| time_error(text, "no such date"))?;
        let next_day = date
            .tomorrow()
            .and_then(|d| d.to_zoned(TimeZone::UTC))
            .map_err(|_| time_error(text, "out of range"))?;
        return next_day
            .timestamp()
            .checked_sub(jiff::SignedDuration::from_nanos(1))
            .map_err(|_| time_error(text, "out of range"));
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return Err(time_error(text, TIME_FORMS));
    }
    let time_ok = digits(11..13)
        && b.get(13) == Some(&b':')
        && digits(14..16)
        && b.get(16) == Some(&b':')
        && digits(17..19);
    if !time_ok {
        return Err(time_error(
            text,
            "expected the time as HH:MM:SS, with seconds, then Z or an offset (2024-03-01T12:00:00Z)",
        ));
    }
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start || i - start > 9 {
            return Err(time_error(
                text,
                "expected 1 to 9 fractional digits after the '.'",
            ));
        }
    }
    let offset = &b[i..];
    let offset_ok = matches!(offset, b"Z" | b"z")
        || (offset.len() == 6
            && matches!(offset[0], b'+' | b'-')
            && digits(i + 1..i + 3)
            && offset[3] == b':'
            && digits(i + 4..i + 6));
    if offset.is_empty() {
        return Err(time_error(
            text,
            "no UTC offset: add Z or an offset such as +02:00 (a time without one is ambiguous)",
        ));
    }
    if !offset_ok {
        return Err(time_error(
            text,
            "expected Z or an offset such as +02:00 after the time",
        ));
    }
    text.parse::<Timestamp>()
        .map_err(|_| time_error(text, "no such date or time"))
}

/// Parses `--min-age`: `30s`, `90m`, `12h`, `3d`, `2w` (units may be combined: `1d12h`; `0s`
/// is no cooldown). Whole numbers only, never negative, at most [`MAX_DURATION`].
pub fn parse_duration(text: &str) -> Result<Duration, TimeSpecError> {
    const FORMS: &str = "expected whole numbers each with a unit s, m, h, d or w (e.g. 3d, 1d12h)";
    let trimmed = text.trim();
    if trimmed.starts_with('-') {
        return Err(duration_error(text, "a duration cannot be negative"));
    }
    let too_long = || duration_error(text, "longer than 100 years");
    let mut total: u64 = 0;
    let mut digits = String::new();
    let mut any = false;
    for c in trimmed.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit: u64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return Err(duration_error(text, FORMS)),
        };
        if digits.is_empty() {
            return Err(duration_error(text, FORMS));
        }
        // All digits: the only failure left is overflow.
        let n: u64 = digits.parse().map_err(|_| too_long())?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(too_long)?;
        digits.clear();
        any = true;
    }
    if !digits.is_empty() {
        return Err(duration_error(
            text,
            "a number without a unit (s, m, h, d or w)",
        ));
    }
    if !any {
        return Err(duration_error(text, FORMS));
    }
    let total = Duration::from_secs(total);
    if total > MAX_DURATION {
        return Err(too_long());
    }
    Ok(total)
}

/// Parses `--timeout`: a duration as [`parse_duration`] reads it, but not zero.
pub fn parse_timeout(text: &str) -> Result<Duration, TimeSpecError> {
    let d = parse_duration(text)?;
    if d.is_zero() {
        return Err(duration_error(text, "a timeout must be longer than zero"));
    }
    Ok(d)
}

/// Formats a duration the way people read ages: `12 days`, `5 hours`, `40 minutes`.
pub fn human_age(seconds: i64) -> String {
    let s = seconds.max(0);
    let (n, unit) = if s >= 2 * 86_400 {
        (s / 86_400, "day")
    } else if s >= 2 * 3600 {
        (s / 3600, "hour")
    } else if s >= 120 {
        (s / 60, "minute")
    } else {
        (s, "second")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(
            parse_time("2024-03-01").unwrap().to_string(),
            "2024-03-01T23:59:59.999999999Z"
        );
        assert_eq!(
            parse_time("2024-03-01T12:00:00+02:00").unwrap().to_string(),
            "2024-03-01T10:00:00Z"
        );
        assert_eq!(
            parse_time("2024-06-01T12:00:00.5Z").unwrap().to_string(),
            "2024-06-01T12:00:00.5Z"
        );
        assert!(parse_time("yesterday").is_err());
        assert!(parse_time("2024-02-30").is_err());
        assert_eq!(
            parse_time("2024-03-01 12:00:00.123456789z")
                .unwrap()
                .to_string(),
            "2024-03-01T12:00:00.123456789Z"
        );
        assert_eq!(
            parse_time("2024-03-01t12:00:00-05:30").unwrap().to_string(),
            "2024-03-01T17:30:00Z"
        );
    }

    #[test]
    fn times_without_an_offset_or_in_other_forms_are_refused() {
        for (bad, why) in [
            ("2024-03-01T12:00:00", "no UTC offset"),
            ("2024-03-01 12:00:00", "no UTC offset"),
            ("2024-03-01T12:00:00.5", "no UTC offset"),
            ("2024-03-01 12:00", "HH:MM:SS"),
            ("2024-03-01T12:00Z", "HH:MM:SS"),
            ("2024-03-01T12", "HH:MM:SS"),
            ("2024-03-01T", "HH:MM:SS"),
            ("2024-03-01T12:00:00+0200", "offset"),
            ("2024-03-01T12:00:00+02", "offset"),
            ("2024-03-01T12:00:00Z[Europe/Paris]", "offset"),
            ("2024-03-01T12:00:00.Z", "fractional"),
            ("2024-03-01T12:00:00.1234567890Z", "fractional"),
            ("2024-03-01T25:00:00Z", "no such"),
            ("2024-3-1", "RFC 3339"),
            ("20240301", "RFC 3339"),
            ("2024-03-01x", "RFC 3339"),
            ("1709294400", "RFC 3339"),
            ("", "RFC 3339"),
            ("9999-12-31", "out of range"),
            ("2024-03-01\u{e9}", "RFC 3339"),
        ] {
            let e = parse_time(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
        // Never a panic, whatever the bytes.
        for text in [
            "2024-03-01T12:00:00\u{e9}\u{e9}\u{e9}",
            "2024-03-01T12:00:00+\u{e9}:00",
            "0000-01-01",
        ] {
            let _ = parse_time(text);
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("3d").unwrap(), Duration::from_secs(259_200));
        assert_eq!(parse_duration("12h").unwrap(), Duration::from_secs(43_200));
        assert_eq!(
            parse_duration("1d12h").unwrap(),
            Duration::from_secs(129_600)
        );
        for bad in [
            "", "3", "d", "3x", "-3d", "3.5d", "d3", "1d-2h", "+3d", "3 d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_duration("0s").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("0d").unwrap(), Duration::ZERO);
        assert!(
            parse_duration("-3d")
                .unwrap_err()
                .to_string()
                .contains("negative")
        );
        for huge in [
            "99999999999999999999999d",
            "18446744073709551615s",
            "30500000000w",
            "36501d",
            "18446744073709551615s1s",
        ] {
            let e = parse_duration(huge).unwrap_err().to_string();
            assert!(e.contains("longer than 100 years"), "{huge}: {e}");
        }
        assert_eq!(parse_duration("36500d").unwrap(), MAX_DURATION);
        assert!(parse_timeout("0s").is_err());
        assert_eq!(parse_timeout("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(human_age(12 * 86_400 + 5), "12 days");
        assert_eq!(human_age(86_400), "24 hours");
        assert_eq!(human_age(61), "61 seconds");
    }
}

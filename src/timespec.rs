//! Points in time and durations given on the command line: `--as-of` (RFC 3339, or a date
//! meaning the end of that day in UTC) and `--min-age` (`90m`, `12h`, `3d`, `2w`).

use std::time::Duration;

use jiff::{Timestamp, civil::Date, tz::TimeZone};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeSpecError {
    #[error("invalid time {0:?}: expected RFC 3339 (2024-03-01T12:00:00Z) or a date (2024-03-01)")]
    Time(String),
    #[error("invalid duration {0:?}: expected a number and a unit: s, m, h, d or w (e.g. 3d)")]
    Duration(String),
}

/// Parses `--as-of`: an RFC 3339 timestamp (any offset, 0–9 fractional digits), or a bare
/// `YYYY-MM-DD`, which means the last instant of that day in UTC.
pub fn parse_time(text: &str) -> Result<Timestamp, TimeSpecError> {
    let text = text.trim();
    if let Ok(ts) = text.parse::<Timestamp>() {
        return Ok(ts);
    }
    let date: Date = text
        .parse()
        .map_err(|_| TimeSpecError::Time(text.to_owned()))?;
    let next_day = date
        .tomorrow()
        .and_then(|d| d.to_zoned(TimeZone::UTC))
        .map_err(|_| TimeSpecError::Time(text.to_owned()))?;
    next_day
        .timestamp()
        .checked_sub(jiff::SignedDuration::from_nanos(1))
        .map_err(|_| TimeSpecError::Time(text.to_owned()))
}

/// Parses `--min-age`: `30s`, `90m`, `12h`, `3d`, `2w` (units may be combined: `1d12h`).
pub fn parse_duration(text: &str) -> Result<Duration, TimeSpecError> {
    let err = || TimeSpecError::Duration(text.to_owned());
    let mut total: u64 = 0;
    let mut digits = String::new();
    let mut any = false;
    for c in text.trim().chars() {
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
            _ => return Err(err()),
        };
        let n: u64 = digits.parse().map_err(|_| err())?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(err)?;
        digits.clear();
        any = true;
    }
    if !digits.is_empty() || !any {
        return Err(err());
    }
    Ok(Duration::from_secs(total))
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
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("3d").unwrap(), Duration::from_secs(259_200));
        assert_eq!(parse_duration("12h").unwrap(), Duration::from_secs(43_200));
        assert_eq!(
            parse_duration("1d12h").unwrap(),
            Duration::from_secs(129_600)
        );
        for bad in ["", "3", "d", "3x", "-3d", "3.5d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(human_age(12 * 86_400 + 5), "12 days");
        assert_eq!(human_age(86_400), "24 hours");
        assert_eq!(human_age(61), "61 seconds");
    }
}

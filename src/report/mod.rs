//! Rendering outcomes for people and programs. Every emitter writes to the `Write` it is given;
//! the library never prints on its own.

pub mod findings;
pub mod github;
pub mod gitlab;
mod json;
mod markdown;
pub mod sarif;
mod text;

pub use github::{pin_github, step_summary};
pub use gitlab::pin_gitlab;
pub use json::{JsonFiles, history_json, list_json, pin_json, tags_json};
pub use markdown::tags_markdown;
pub use sarif::pin_sarif;
pub use text::{
    PinText, empty_dirs, history_text, invalid_refs, list_text_file, pin_errors, pin_text,
    pin_text_file, pin_text_summary, skipped_files, tags_text,
};

pub use crate::display::{display_path, escape_text, json_path};

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::tag_groups::TagGroup;

/// What the date columns of `tags` say when the registry keeps no tag history.
const UNKNOWN: &str = "unknown";

/// A `tags` row's date as the seed pages write it, or `unknown`.
fn last_changed(group: &TagGroup, now: Timestamp) -> String {
    group
        .last_changed
        .map_or_else(|| UNKNOWN.to_owned(), |at| human_date(at, now))
}

/// `March 22nd` in UTC; `December 28th, 2023` when the year is not `now`'s.
pub fn human_date(at: Timestamp, now: Timestamp) -> String {
    let date = at.to_zoned(TimeZone::UTC);
    let this_year = now.to_zoned(TimeZone::UTC).year();
    let day = date.day();
    let suffix = match (day % 10, day % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    let month = date.strftime("%B");
    if date.year() == this_year {
        format!("{month} {day}{suffix}")
    } else {
        format!("{month} {day}{suffix}, {}", date.year())
    }
}

#[cfg(test)]
mod date_tests {
    use super::*;

    #[test]
    fn dates_read_like_the_seeds() {
        let now: Timestamp = "2024-06-03T00:46:08Z".parse().unwrap();
        let cases = [
            ("2024-03-22T00:34:55Z", "March 22nd"),
            ("2024-06-01T23:59:59Z", "June 1st"),
            ("2024-05-31T10:00:00+02:00", "May 31st"),
            ("2024-04-13T00:00:00Z", "April 13th"),
            ("2024-04-02T00:00:00Z", "April 2nd"),
            ("2024-04-03T00:00:00Z", "April 3rd"),
            ("2024-04-11T00:00:00Z", "April 11th"),
            ("2024-04-12T00:00:00Z", "April 12th"),
            ("2024-04-13T00:00:00Z", "April 13th"),
            ("2024-04-21T00:00:00Z", "April 21st"),
            ("2024-04-23T00:00:00Z", "April 23rd"),
            ("2024-01-01T00:30:00+01:00", "December 31st, 2023"),
            ("2023-12-28T02:00:00Z", "December 28th, 2023"),
        ];
        for (at, want) in cases {
            assert_eq!(human_date(at.parse().unwrap(), now), want, "{at}");
        }
    }
}

/// `tags` rows for the renderers' tests, dated as the seed pages write dates.
#[cfg(test)]
pub(crate) mod tag_rows {
    use crate::digest::Digest;
    use crate::tag_groups::TagGroup;

    /// The "now" the seed pages were written at: dates without a year are in 2024.
    pub const NOW: &str = "2024-06-03T00:00:00Z";

    /// A row from the seeds' cells: `March 22nd` (2024) or `December 28th, 2023` at noon UTC;
    /// an empty date is no date.
    pub fn row(tags: &[&str], date: &str, digest: &str) -> TagGroup {
        TagGroup {
            digest: Digest::parse(digest).unwrap(),
            last_changed: (!date.is_empty()).then(|| parse_date(date)),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        }
    }

    fn parse_date(text: &str) -> jiff::Timestamp {
        const MONTHS: [&str; 12] = [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ];
        let (day_part, year) = match text.split_once(", ") {
            Some((d, y)) => (d, y.parse::<i16>().unwrap()),
            None => (text, 2024),
        };
        let (month, day) = day_part.split_once(' ').unwrap();
        let month = MONTHS.iter().position(|m| *m == month).unwrap() as i8 + 1;
        let day: i8 = day.trim_end_matches(char::is_alphabetic).parse().unwrap();
        jiff::civil::date(year, month, day)
            .at(12, 0, 0, 0)
            .to_zoned(jiff::tz::TimeZone::UTC)
            .unwrap()
            .timestamp()
    }
}

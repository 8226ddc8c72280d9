//! The Chainguard Tag History API: `GET /v2/REPO/_chainguard/history/TAG[?start=…&end=…]`
//! → `{"history":[{"updateTimestamp": RFC 3339, "digest": "sha256:…"}]}`.
//!
//! What we do not trust: the order of entries (we sort), the letter case of keys (early
//! responses said `UpdateTimestamp`/`Digest`), the number of fractional digits (0–9), the
//! inclusiveness of `start`/`end` (we widen each by a second and apply `<=` ourselves), and the
//! completeness of a page: a response holds at most 1000 entries, so a full page may be cut off.
//! Every digest is validated; one bad digest rejects the whole response (skipping it could
//! silently pick an older build).
//!
//! ## Query strategy for "the newest entry at or before a cut-off"
//!
//! A page of fewer than 1000 entries for the window `[s, cutoff]` is complete: its newest entry
//! at or before the cut-off is the answer, because no entry in the window was left out. So we
//! look for such a page, cheapest first:
//!
//! 1. `[cutoff − 31 days, cutoff]`. Chainguard tags move daily, so this one request almost
//!    always answers (tens of entries).
//! 2. If that page is complete but has no entry at or before the cut-off, nothing happened in
//!    the window: ask for `[−∞, cutoff]`. Complete → answer (or "no entry before").
//! 3. If a page is full, it may be truncated, at either end since we do not trust the order.
//!    With `b` its newest entry at or before the cut-off, the answer lies in `[b, cutoff]`;
//!    ask for exactly that. This strictly advances `s`, so it terminates; if `b` does not move
//!    past `s` (1000 entries in one instant, or a server ignoring `start`), we stop with an
//!    error rather than guess.
//!
//! Cost: one request for an active tag, two for a quiet one, and `1 + ⌈n/1000⌉` in the worst
//! case of `n` entries in a window. The answer is never taken from a page that may be truncated.
//!
//! Whatever the server sends, only entries inside the window we asked for (`start`/`end` as
//! sent, whole seconds) are used: a server that ignores the window cannot slip in an entry from
//! a span we have not seen completely. An empty window is a normal outcome (step 2), never an
//! error, and at most [`MAX_PAGES`] pages are read for one question.

use jiff::{SignedDuration, Timestamp};
use reqwest::Method;

use super::retry::Failure;
use super::{Client, RegistryError, error::truncate};
use crate::digest::Digest;

/// The most entries the API returns in one response.
pub const PAGE_LIMIT: usize = 1000;
const FIRST_WINDOW: SignedDuration = SignedDuration::from_hours(31 * 24);
const MARGIN: SignedDuration = SignedDuration::from_secs(1);
/// The most pages read for one question (100,000 entries): a server whose pages are always full
/// and always advance would otherwise be followed forever.
pub const MAX_PAGES: usize = 100;

/// One history entry: `digest` became the tag's target at `updated_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub updated_at: Timestamp,
    /// The timestamp exactly as the registry wrote it.
    pub timestamp_text: String,
    pub digest: Digest,
}

/// A source of history pages; the HTTP client, or a fake in tests.
pub trait HistorySource {
    /// Entries between `start` and `end` as the server sees fit (at most [`PAGE_LIMIT`]).
    fn page(
        &self,
        start: Option<Timestamp>,
        end: Option<Timestamp>,
    ) -> impl std::future::Future<Output = Result<Vec<HistoryEntry>, RegistryError>>;

    /// The error for pages that do not advance, naming where they came from.
    fn stalled(&self, detail: &str) -> RegistryError {
        RegistryError::InvalidResponse {
            registry: String::new(),
            url: String::new(),
            detail: detail.to_owned(),
        }
    }
}

/// The history of one tag through a [`Client`].
pub struct TagHistory<'a> {
    pub client: &'a Client,
    pub registry: &'a str,
    pub repository: &'a str,
    pub tag: &'a str,
}

impl HistorySource for TagHistory<'_> {
    fn stalled(&self, detail: &str) -> RegistryError {
        RegistryError::InvalidResponse {
            registry: self.registry.to_owned(),
            url: format!("/v2/{}/_chainguard/history/{}", self.repository, self.tag),
            detail: detail.to_owned(),
        }
    }

    async fn page(
        &self,
        start: Option<Timestamp>,
        end: Option<Timestamp>,
    ) -> Result<Vec<HistoryEntry>, RegistryError> {
        let mut path = format!("/v2/{}/_chainguard/history/{}", self.repository, self.tag);
        let mut sep = '?';
        for (key, value) in [("start", start), ("end", end)] {
            if let Some(ts) = value {
                path.push(sep);
                path.push_str(&format!("{key}={}", ts.strftime("%Y-%m-%dT%H:%M:%SZ")));
                sep = '&';
            }
        }
        let url = format!("{}{path}", self.client.endpoints.base_url(self.registry));
        // A cut-off or garbled body may be a proxy hiccup: retried like a 503, on the same
        // budget as the request's other attempts.
        self.client
            .request_parsed(
                self.registry,
                self.repository,
                Method::GET,
                &path,
                Some("application/json"),
                |reply| match parse_history(&reply.body) {
                    Ok(entries) => Ok(entries),
                    Err(Problem::Digest(value)) => {
                        Err(Failure::permanent(RegistryError::InvalidDigest {
                            registry: self.registry.to_owned(),
                            url: url.clone(),
                            value: truncate(&value, 100),
                        }))
                    }
                    Err(Problem::Shape(detail)) => {
                        Err(Failure::garbled(RegistryError::InvalidResponse {
                            registry: self.registry.to_owned(),
                            url: url.clone(),
                            detail,
                        }))
                    }
                },
            )
            .await
    }
}

pub(super) enum Problem {
    Shape(String),
    Digest(String),
}

/// Parses a history document, accepting keys in any letter case.
pub(super) fn parse_history(body: &[u8]) -> Result<Vec<HistoryEntry>, Problem> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| Problem::Shape(format!("tag history is not valid JSON ({e})")))?;
    let field = |v: &serde_json::Value, name: &str| -> Option<serde_json::Value> {
        v.as_object()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let entries = field(&value, "history")
        .and_then(|h| h.as_array().cloned())
        .ok_or_else(|| Problem::Shape("tag history has no \"history\" array".into()))?;
    entries
        .iter()
        .map(|entry| {
            let text = field(entry, "updateTimestamp")
                .and_then(|v| v.as_str().map(str::to_owned))
                .ok_or_else(|| Problem::Shape("history entry without updateTimestamp".into()))?;
            let digest = field(entry, "digest")
                .and_then(|v| v.as_str().map(str::to_owned))
                .ok_or_else(|| Problem::Shape("history entry without digest".into()))?;
            let updated_at = text.parse::<Timestamp>().map_err(|_| {
                Problem::Shape(format!("invalid updateTimestamp {}", truncate(&text, 64)))
            })?;
            let digest = Digest::parse(&digest).map_err(|_| Problem::Digest(digest))?;
            Ok(HistoryEntry {
                updated_at,
                timestamp_text: text,
                digest,
            })
        })
        .collect()
}

/// A complete slice of history: every entry published from `start` on, oldest first.
#[derive(Debug, Clone)]
pub struct Window {
    /// Every entry in the window, oldest first (possibly none).
    pub entries: Vec<HistoryEntry>,
    /// Where the window starts (`None`: the beginning of the history).
    pub start: Option<Timestamp>,
}

impl Window {
    /// The newest entry at or before `cutoff` (`None`: the newest of all), if any.
    pub fn newest_at_or_before(&self, cutoff: Option<Timestamp>) -> Option<&HistoryEntry> {
        self.entries
            .iter()
            .rev()
            .find(|e| cutoff.is_none_or(|c| e.updated_at <= c))
    }
}

/// Why no answer was found, for the caller to turn into an error naming the reference.
#[derive(Debug)]
pub enum Lookup {
    NoEntry,
    Registry(RegistryError),
}

impl From<RegistryError> for Lookup {
    fn from(e: RegistryError) -> Self {
        Lookup::Registry(e)
    }
}

/// The start of a window as sent: whole seconds, rounded down, one second early.
fn start_param(start: Timestamp) -> Option<Timestamp> {
    let early = start.checked_sub(MARGIN).ok()?;
    Timestamp::from_second(early.as_second() - i64::from(early.subsec_nanosecond() < 0)).ok()
}

/// The end of a window as sent: whole seconds, rounded up, one second late.
fn end_param(end: Timestamp) -> Option<Timestamp> {
    let late = end.checked_add(MARGIN).ok()?;
    Timestamp::from_second(late.as_second() + i64::from(late.subsec_nanosecond() > 0)).ok()
}

/// One page for `[start, end]`, keeping only the entries inside the window as sent, and whether
/// the server's answer was full (possibly truncated).
async fn page_within<S: HistorySource>(
    source: &S,
    start: Option<Timestamp>,
    end: Option<Timestamp>,
    pages: &mut usize,
) -> Result<(Vec<HistoryEntry>, bool), RegistryError> {
    *pages += 1;
    if *pages > MAX_PAGES {
        return Err(source.stalled(&format!(
            "tag history has more than {MAX_PAGES} pages of {PAGE_LIMIT} entries for one question; giving up"
        )));
    }
    let (lo, hi) = (start.and_then(start_param), end.and_then(end_param));
    let mut page = source.page(lo, hi).await?;
    let full = page.len() >= PAGE_LIMIT;
    page.retain(|e| lo.is_none_or(|l| e.updated_at >= l) && hi.is_none_or(|h| e.updated_at <= h));
    Ok((page, full))
}

/// The newest entry at or before `cutoff` (`None`: the newest of all), per the strategy above,
/// with the complete window that ends at the cut-off. `now` anchors the first window when there
/// is no cut-off.
pub async fn newest_at_or_before<S: HistorySource>(
    source: &S,
    cutoff: Option<Timestamp>,
    now: Timestamp,
) -> Result<Window, Lookup> {
    let anchor = cutoff.unwrap_or(now);
    let mut start = anchor.checked_sub(FIRST_WINDOW).ok();
    let mut pages = 0;
    loop {
        let (page, full) = page_within(source, start, cutoff, &mut pages).await?;
        let mut eligible: Vec<HistoryEntry> = page
            .into_iter()
            .filter(|e| cutoff.is_none_or(|c| e.updated_at <= c))
            .collect();
        sort_dedup(&mut eligible);
        let best = eligible.last().map(|e| e.updated_at);
        match (full, best) {
            // Complete from the start as sent: every entry kept lies inside it.
            (false, Some(_)) => {
                return Ok(Window {
                    entries: eligible,
                    start: start.and_then(start_param),
                });
            }
            (false, None) if start.is_some() => start = None,
            (false, None) => return Err(Lookup::NoEntry),
            (true, Some(b)) if start.is_none_or(|s| b > s) => start = Some(b),
            (true, _) => {
                return Err(Lookup::Registry(source.stalled(
                    "tag history pages do not advance (over 1000 entries in one instant, or the server ignores start/end)",
                )));
            }
        }
    }
}

/// Every entry between `start` and `end` (inclusive), oldest first, reading all pages.
pub async fn all_entries<S: HistorySource>(
    source: &S,
    start: Option<Timestamp>,
    end: Option<Timestamp>,
) -> Result<Vec<HistoryEntry>, RegistryError> {
    let mut from = start;
    let mut all: Vec<HistoryEntry> = Vec::new();
    let mut pages = 0;
    loop {
        let (page, full) = page_within(source, from, end, &mut pages).await?;
        let newest = page.iter().map(|e| e.updated_at).max();
        all.extend(page);
        match (full, newest) {
            (true, Some(n)) if from.is_none_or(|f| n > f) => from = Some(n),
            (true, _) => {
                return Err(source.stalled("tag history pages do not advance"));
            }
            (false, _) => break,
        }
    }
    all.retain(|e| {
        start.is_none_or(|s| e.updated_at >= s) && end.is_none_or(|x| e.updated_at <= x)
    });
    sort_dedup(&mut all);
    Ok(all)
}

/// Oldest first (then by digest), each (time, digest) once: pages and cached records overlap.
pub fn sort_dedup(entries: &mut Vec<HistoryEntry>) {
    entries.sort_by(|a, b| {
        a.updated_at
            .cmp(&b.updated_at)
            .then_with(|| a.digest.cmp(&b.digest))
    });
    entries.dedup_by(|a, b| a.updated_at == b.updated_at && a.digest == b.digest);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// A server holding `entries`, with configurable disobedience.
    struct Fake {
        entries: Vec<HistoryEntry>,
        newest_first: bool,
        exclusive_bounds: bool,
        /// Every page is the oldest 1000 entries, whatever the window.
        ignore_range: bool,
        calls: RefCell<Vec<(Option<Timestamp>, Option<Timestamp>)>>,
    }

    fn entry(ts: Timestamp, i: usize) -> HistoryEntry {
        HistoryEntry {
            updated_at: ts,
            timestamp_text: ts.to_string(),
            digest: Digest::parse(&format!("sha256:{i:064x}")).unwrap(),
        }
    }

    fn fake(
        count: usize,
        every: SignedDuration,
        newest_first: bool,
        exclusive_bounds: bool,
    ) -> Fake {
        let t0: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
        Fake {
            entries: (0..count)
                .map(|i| entry(t0 + every * i as i32, i))
                .collect(),
            newest_first,
            exclusive_bounds,
            ignore_range: false,
            calls: RefCell::default(),
        }
    }

    impl HistorySource for Fake {
        async fn page(
            &self,
            start: Option<Timestamp>,
            end: Option<Timestamp>,
        ) -> Result<Vec<HistoryEntry>, RegistryError> {
            self.calls.borrow_mut().push((start, end));
            let inside = |e: &&HistoryEntry| {
                if self.ignore_range {
                    return true;
                }
                let after = start.is_none_or(|s| {
                    if self.exclusive_bounds {
                        e.updated_at > s
                    } else {
                        e.updated_at >= s
                    }
                });
                let before = end.is_none_or(|x| {
                    if self.exclusive_bounds {
                        e.updated_at < x
                    } else {
                        e.updated_at <= x
                    }
                });
                after && before
            };
            let mut page: Vec<HistoryEntry> = self.entries.iter().filter(inside).cloned().collect();
            if self.newest_first {
                page.reverse();
            }
            page.truncate(PAGE_LIMIT);
            Ok(page)
        }
    }

    fn run<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn newest_with_2500_entries_in_any_order() {
        for newest_first in [false, true] {
            let hourly = SignedDuration::from_hours(1);
            let src = fake(2500, hourly, newest_first, false);
            let last = src.entries.last().unwrap().clone();
            let now = last.updated_at + SignedDuration::from_hours(5);
            let w = run(newest_at_or_before(&src, None, now)).unwrap();
            assert_eq!(w.newest_at_or_before(None).unwrap(), &last);
            // 2500 hourly entries: the 31-day window holds 744 of them, so one request.
            assert_eq!(src.calls.borrow().len(), 1);
        }
    }

    #[test]
    fn as_of_is_inclusive_and_exact_at_boundaries() {
        let src = fake(2500, SignedDuration::from_mins(10), false, true);
        let target = src.entries[1234].clone();
        let now = src.entries.last().unwrap().updated_at;
        let w = run(newest_at_or_before(&src, Some(target.updated_at), now)).unwrap();
        assert_eq!(
            w.newest_at_or_before(None).unwrap(),
            &target,
            "entry exactly at the cut-off counts"
        );
        let just_before = target.updated_at - SignedDuration::from_nanos(1);
        let w = run(newest_at_or_before(&src, Some(just_before), now)).unwrap();
        assert_eq!(w.newest_at_or_before(None).unwrap(), &src.entries[1233]);
    }

    #[test]
    fn dense_history_pages_forward_until_complete() {
        for newest_first in [false, true] {
            // Every minute: 44,640 entries in the first 31-day window; 2500 in all here.
            let src = fake(2500, SignedDuration::from_mins(1), newest_first, false);
            let now = src.entries.last().unwrap().updated_at;
            let w = run(newest_at_or_before(&src, None, now)).unwrap();
            assert_eq!(
                w.newest_at_or_before(None).unwrap(),
                src.entries.last().unwrap()
            );
            assert!(src.calls.borrow().len() <= 4, "{:?}", src.calls.borrow());
        }
    }

    #[test]
    fn quiet_tag_then_nothing_before() {
        let src = fake(3, SignedDuration::from_hours(1), false, false);
        let now: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let w = run(newest_at_or_before(&src, None, now)).unwrap();
        assert_eq!(w.newest_at_or_before(None).unwrap(), &src.entries[2]);
        assert_eq!(src.calls.borrow().len(), 2);
        let early: Timestamp = "2023-01-01T00:00:00Z".parse().unwrap();
        assert!(matches!(
            run(newest_at_or_before(&src, Some(early), now)),
            Err(Lookup::NoEntry)
        ));
    }

    #[test]
    fn a_server_ignoring_the_window_is_answered_from_what_lies_inside_it() {
        // Three entries older than the first window; the server sends them for any window.
        let t0: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
        let mut src = fake(3, SignedDuration::from_hours(24), false, false);
        src.ignore_range = true;
        let now = t0 + SignedDuration::from_hours(24 * 90);
        let w = run(newest_at_or_before(&src, None, now)).unwrap();
        assert_eq!(w.newest_at_or_before(None), src.entries.last());
        let cutoff = src.entries[1].updated_at + SignedDuration::from_secs(1);
        let w = run(newest_at_or_before(&src, Some(cutoff), now)).unwrap();
        assert_eq!(w.newest_at_or_before(Some(cutoff)), Some(&src.entries[1]));
        let early = t0 - SignedDuration::from_secs(1);
        assert!(matches!(
            run(newest_at_or_before(&src, Some(early), now)),
            Err(Lookup::NoEntry)
        ));
    }

    #[test]
    fn an_entry_inside_the_margin_before_the_start_counts() {
        // The first window starts at cutoff − 31 days; the request asks from a second earlier,
        // in whole seconds. The only entry sits half a second after the requested start.
        let cutoff: Timestamp = "2024-03-01T12:00:00.7Z".parse().unwrap();
        let requested = start_param(cutoff - FIRST_WINDOW).unwrap();
        assert_eq!(requested.to_string(), "2024-01-30T11:59:59Z");
        let at = requested + SignedDuration::from_millis(500);
        let src = Fake {
            entries: vec![entry(at, 1)],
            newest_first: false,
            exclusive_bounds: false,
            ignore_range: false,
            calls: RefCell::default(),
        };
        let w = run(newest_at_or_before(&src, Some(cutoff), cutoff)).unwrap();
        assert_eq!(w.newest_at_or_before(Some(cutoff)), Some(&src.entries[0]));
        assert_eq!(src.calls.borrow().len(), 1);
    }

    #[test]
    fn endless_full_pages_stop_at_the_page_bound() {
        struct Endless(RefCell<usize>);
        impl HistorySource for Endless {
            async fn page(
                &self,
                start: Option<Timestamp>,
                _end: Option<Timestamp>,
            ) -> Result<Vec<HistoryEntry>, RegistryError> {
                *self.0.borrow_mut() += 1;
                let from = start.unwrap_or(Timestamp::UNIX_EPOCH) + SignedDuration::from_secs(2);
                Ok((0..PAGE_LIMIT)
                    .map(|i| entry(from + SignedDuration::from_secs(i as i64), i))
                    .collect())
            }
        }
        let src = Endless(RefCell::new(0));
        let err = run(all_entries(&src, None, None)).unwrap_err();
        assert!(err.to_string().contains("more than 100 pages"), "{err}");
        assert_eq!(*src.0.borrow(), MAX_PAGES);
    }

    #[test]
    fn all_entries_reads_every_page() {
        let src = fake(2500, SignedDuration::from_mins(1), false, false);
        let all = run(all_entries(&src, None, None)).unwrap();
        assert_eq!(all, src.entries);
        assert_eq!(src.calls.borrow().len(), 3);
    }

    #[test]
    fn parses_capitalised_keys_and_fractional_digits() {
        let body = br#"{"History":[{"UpdateTimestamp":"2024-06-01T12:00:00.123456789Z","Digest":"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},{"updateTimestamp":"2024-06-01T12:00:00Z","digest":"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}]}"#;
        let entries = parse_history(body).ok().unwrap();
        assert_eq!(entries[0].timestamp_text, "2024-06-01T12:00:00.123456789Z");
        assert_eq!(entries[1].updated_at.to_string(), "2024-06-01T12:00:00Z");
        let evil = br#"{"history":[{"updateTimestamp":"2024-06-01T12:00:00Z","digest":"sha256:0000\nRUN curl x"}]}"#;
        assert!(matches!(parse_history(evil), Err(Problem::Digest(_))));
        assert!(matches!(
            parse_history(br#"{"history":[{"updateTi"#),
            Err(Problem::Shape(_))
        ));
    }
}

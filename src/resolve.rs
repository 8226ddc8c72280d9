//! Resolution: every distinct question (registry, repository, tag or digest, and when) is
//! asked once per run, however many files use it, with lookups running concurrently (the client
//! bounds requests in flight). cgr.dev goes through the Tag History API, so it can answer "as
//! of" a time and say when each digest was published; every other registry through the
//! manifest digest, with the image config's `created` time standing in for a publish time under
//! `--min-age`. Digests that nothing else vouches for are checked with `HEAD`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use futures_util::stream::{self, StreamExt};
use jiff::{SignedDuration, Timestamp};

use crate::cache::HistoryRecord;
use crate::digest::Digest;
use crate::registry::history::{self, HistoryEntry, Lookup, TagHistory, Window};
use crate::registry::{Client, Published, RegistryError};
use crate::timespec::human_age;

/// The registry whose Tag History API digestpin uses.
pub const TAG_HISTORY_REGISTRY: &str = "cgr.dev";

/// Whether `registry` keeps a tag history digestpin can read.
pub fn has_tag_history(registry: &str) -> bool {
    registry == TAG_HISTORY_REGISTRY
}

/// Which digest of a tag to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum When {
    /// The tag's current digest.
    Now,
    /// The digest the tag pointed to at this time (`--as-of`).
    AsOf(Timestamp),
    /// The newest digest published at or before this time (`--min-age`: now minus the age).
    MinAge(Timestamp),
}

impl When {
    /// From `--as-of` and `--min-age`: with both, the earlier cut-off, taken "as of" (a point in
    /// time the user named is reproduced exactly).
    pub fn from_flags(
        as_of: Option<Timestamp>,
        min_age: Option<SignedDuration>,
        now: Timestamp,
    ) -> When {
        let aged = min_age.map(|d| now.checked_sub(d).unwrap_or(Timestamp::MIN));
        match (as_of, aged) {
            (Some(a), Some(b)) => When::AsOf(a.min(b)),
            (Some(a), None) => When::AsOf(a),
            (None, Some(b)) => When::MinAge(b),
            (None, None) => When::Now,
        }
    }

    /// The cut-off: no entry after it is the answer.
    pub fn cutoff(self) -> Option<Timestamp> {
        match self {
            When::Now => None,
            When::AsOf(t) | When::MinAge(t) => Some(t),
        }
    }
}

/// What is asked about an image.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// The digest a tag points to, now, as of a time, or at least some age.
    Tag { tag: String, when: When },
    /// Whether a digest exists (a reference with a digest and no tag to follow).
    Digest(Digest),
}

/// One distinct question about `registry/repository`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Query {
    pub registry: String,
    pub repository: String,
    pub target: Target,
}

impl Query {
    /// A question about a tag.
    pub fn tag(registry: &str, repository: &str, tag: &str, when: When) -> Query {
        Query {
            registry: registry.to_owned(),
            repository: repository.to_owned(),
            target: Target::Tag {
                tag: tag.to_owned(),
                when,
            },
        }
    }

    /// The tag, for the history cache: (registry, repository, tag).
    pub fn tag_key(&self) -> Option<TagKey> {
        match &self.target {
            Target::Tag { tag, .. } => {
                Some((self.registry.clone(), self.repository.clone(), tag.clone()))
            }
            Target::Digest(_) => None,
        }
    }
}

/// Where a publish time came from (`time_source` in JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TimeSource {
    TagHistory,
    ImageConfig,
}

/// Whether a digest exists in its repository (`HEAD …/manifests/DIGEST`).
#[derive(Debug, Clone)]
pub enum Existence {
    Exists,
    Missing,
    Failed(RegistryError),
}

/// The tag history an answer comes from.
#[derive(Debug, Clone)]
pub struct HistoryAnswer {
    /// Complete from its start through `through`, or through now; for `--as-of` it may also
    /// hold entries after the cut-off that an earlier run recorded.
    pub window: Window,
    pub cutoff: Option<Timestamp>,
    /// How far the window is known complete (`None`: through now).
    pub through: Option<Timestamp>,
    /// Pinned digests absent from the window, checked with `HEAD`.
    pub checked: BTreeMap<Digest, Existence>,
}

impl HistoryAnswer {
    /// The entry to pin: the newest at or before the cut-off (none: nothing old enough).
    pub fn answer(&self) -> Option<&HistoryEntry> {
        self.window.newest_at_or_before(self.cutoff)
    }

    /// When `digest` first became the tag's target, within the window.
    pub fn first_seen(&self, digest: &Digest) -> Option<&HistoryEntry> {
        self.window.entries.iter().find(|e| &e.digest == digest)
    }

    /// How far behind `old` is from the answer, counted from the history: `3 rebuilds behind,
    /// replaced 12 days ago`; or, for a digest the window does not hold, that it is not in the
    /// tag's history (since the window's start).
    pub fn behind(&self, old: &Digest, tag: &str, now: Timestamp) -> Option<String> {
        let answer = self.answer()?;
        let entries = &self.window.entries;
        let upto = entries
            .iter()
            .rposition(|e| e.updated_at <= answer.updated_at)?;
        if entries[upto + 1..].iter().any(|e| &e.digest == old)
            && !entries[..=upto].iter().any(|e| &e.digest == old)
        {
            let cutoff = self
                .cutoff
                .map_or_else(String::new, |c| format!(" as of {c}"));
            return Some(format!(
                "pinned digest is newer than the tag's digest{cutoff}"
            ));
        }
        match entries[..=upto].iter().rposition(|e| &e.digest == old) {
            Some(i) if i < upto => {
                let newer = upto - i;
                let since = entries[i + 1].updated_at;
                Some(format!(
                    "{newer} rebuild{} behind, replaced {} ago",
                    if newer == 1 { "" } else { "s" },
                    human_age(now.as_second() - since.as_second())
                ))
            }
            Some(_) => None,
            None => {
                let since = self
                    .window
                    .start
                    .map(|s| format!(" since {}", s.strftime("%Y-%m-%d")))
                    .unwrap_or_default();
                let until = self
                    .through
                    .map(|t| format!(" up to {t}"))
                    .unwrap_or_default();
                Some(format!("not in the history of {tag}{since}{until}"))
            }
        }
    }
}

/// The answer to a [`Query`].
#[derive(Debug, Clone)]
pub enum Resolution {
    /// From the Tag History API.
    History(HistoryAnswer),
    /// From the manifest: the tag's current digest and, when asked (`--min-age`), when its image
    /// was created (`None`: the config has no usable time).
    Current {
        digest: Digest,
        published: Option<Published>,
    },
    /// Whether a digest exists.
    Digest(Existence),
}

impl Resolution {
    /// The digest to pin for `when` and when it was published, if there is one: under
    /// `--min-age`, a current image without a publish time, or a younger one, is none.
    pub fn pick(&self, when: When) -> Option<(&Digest, Option<&str>)> {
        match self {
            Resolution::History(h) => h
                .answer()
                .map(|e| (&e.digest, Some(e.timestamp_text.as_str()))),
            Resolution::Current { digest, published } => match (when, published) {
                (When::MinAge(cutoff), Some(p)) if p.at > cutoff => None,
                (When::MinAge(_), None) => None,
                _ => Some((digest, published.as_ref().map(|p| p.text.as_str()))),
            },
            Resolution::Digest(_) => None,
        }
    }
}

/// Every query's answer, or the error for it.
pub type Resolutions = HashMap<Query, Result<Resolution, RegistryError>>;

/// A tag, for the history cache: (registry, repository, tag).
pub type TagKey = (String, String, String);

/// Entries published more than this long before a request are taken to be in its answer.
const SETTLED: SignedDuration = SignedDuration::from_hours(1);
/// Entries dated later than now plus this are not settled history (a clock that runs ahead,
/// or a bogus date): they are used for this run but never recorded as settled.
const SKEW: SignedDuration = SignedDuration::from_mins(5);

/// Resolves one query. For cgr.dev, `cached` is what an earlier run recorded of the tag's
/// history; the second value is the record to keep for the next run. `verify` are pinned
/// digests to check with `HEAD` when the tag's history does not hold them.
pub async fn resolve_one(
    client: &Client,
    query: &Query,
    now: Timestamp,
    cached: Option<&HistoryRecord>,
    verify: &BTreeSet<Digest>,
) -> (Result<Resolution, RegistryError>, Option<HistoryRecord>) {
    let (registry, repository) = (&query.registry, &query.repository);
    let (tag, when) = match &query.target {
        Target::Digest(digest) => {
            let exists = existence(client, registry, repository, digest).await;
            return (Ok(Resolution::Digest(exists)), None);
        }
        Target::Tag { tag, when } => (tag.as_str(), *when),
    };
    if !has_tag_history(registry) {
        return (current(client, registry, repository, tag, when).await, None);
    }
    let source = TagHistory {
        client,
        registry,
        repository,
        tag,
    };
    let (window, record) = match from_history(&source, when, now, cached, verify).await {
        Ok(found) => found,
        Err(Lookup::NoEntry) => {
            let cutoff = when
                .cutoff()
                .map_or_else(|| "now".to_owned(), |c| c.to_string());
            let e = RegistryError::NoEntryBefore { cutoff };
            return (Err(e), None);
        }
        Err(Lookup::Registry(e)) => return (Err(e), None),
    };
    let mut answer = HistoryAnswer {
        window,
        cutoff: when.cutoff(),
        through: match when {
            When::AsOf(t) => Some(t),
            _ => None,
        },
        checked: BTreeMap::new(),
    };
    for digest in verify {
        if answer.first_seen(digest).is_none() {
            let exists = existence(client, registry, repository, digest).await;
            answer.checked.insert(digest.clone(), exists);
        }
    }
    (Ok(Resolution::History(answer)), Some(record))
}

/// A registry without tag history: the tag's current digest, and under `--min-age` when its
/// image was created. "As of" a past time cannot be answered.
async fn current(
    client: &Client,
    registry: &str,
    repository: &str,
    tag: &str,
    when: When,
) -> Result<Resolution, RegistryError> {
    if matches!(when, When::AsOf(_)) {
        return Err(RegistryError::NoTagHistory {
            registry: registry.to_owned(),
        });
    }
    let digest = client.manifest_digest(registry, repository, tag).await?;
    let published = match when {
        When::MinAge(_) => client.image_created(registry, repository, &digest).await?,
        _ => None,
    };
    Ok(Resolution::Current { digest, published })
}

async fn existence(
    client: &Client,
    registry: &str,
    repository: &str,
    digest: &Digest,
) -> Existence {
    match client.manifest_exists(registry, repository, digest).await {
        Ok(true) => Existence::Exists,
        Ok(false) => Existence::Missing,
        Err(e) => Existence::Failed(e),
    }
}

/// The history needed to answer `when`, using and extending the cached record when there is
/// one: an `--as-of`/`--min-age` inside the cached span costs nothing; otherwise only entries
/// newer than the cached ones are fetched. For `--min-age` the window runs through now, so that
/// a pin newer than the cut-off is recognised (and kept); a cached record that reaches the
/// cut-off and holds every pinned digest (`verify`) already says all of that.
async fn from_history(
    source: &TagHistory<'_>,
    when: When,
    now: Timestamp,
    cached: Option<&HistoryRecord>,
    verify: &BTreeSet<Digest>,
) -> Result<(Window, HistoryRecord), Lookup> {
    // Through now, except "as of": that answer ends at its cut-off.
    let through = match when {
        When::AsOf(t) => Some(t),
        _ => None,
    };
    let knows = |record: &HistoryRecord| match when {
        When::Now => false,
        When::AsOf(t) => t <= record.until,
        When::MinAge(t) => {
            t <= record.until
                && verify
                    .iter()
                    .all(|d| record.entries.iter().any(|e| &e.digest == d))
        }
    };
    let record = match cached {
        Some(record) if knows(record) => record.clone(),
        Some(record) => {
            let mut newer = history::all_entries(source, Some(record.until), through).await?;
            drop_future(&mut newer, now);
            let mut entries = record.entries.clone();
            entries.extend(newer);
            history::sort_dedup(&mut entries);
            HistoryRecord {
                until: settled_until(&entries, through, now).max(record.until),
                entries,
                from: record.from,
            }
        }
        None => {
            let mut window = history::newest_at_or_before(source, through, now).await?;
            drop_future(&mut window.entries, now);
            HistoryRecord {
                until: settled_until(&window.entries, through, now),
                entries: window.entries,
                from: window.start,
            }
        }
    };
    let window = window_within(&record, None);
    if window.newest_at_or_before(when.cutoff()).is_some() {
        return Ok((window, record));
    }
    // The record does not reach back to the cut-off: find the answer before it, and join it
    // to what is known after it.
    let cutoff = when.cutoff().ok_or(Lookup::NoEntry)?;
    let older = match history::newest_at_or_before(source, Some(cutoff), now).await {
        Ok(older) => older,
        // Nothing at all before the cut-off: under --min-age that is "nothing old enough".
        Err(Lookup::NoEntry) if matches!(when, When::MinAge(_)) => {
            let record = HistoryRecord {
                from: None,
                ..record
            };
            return Ok((window_within(&record, None), record));
        }
        Err(e) => return Err(e),
    };
    let mut entries = older.entries;
    drop_future(&mut entries, now);
    entries.extend(
        record
            .entries
            .iter()
            .filter(|e| e.updated_at > cutoff)
            .cloned(),
    );
    history::sort_dedup(&mut entries);
    let joined = HistoryRecord {
        entries,
        from: older.start,
        until: record.until,
    };
    Ok((window_within(&joined, None), joined))
}

/// How far a freshly fetched, complete answer is known complete: through its newest entry, and
/// through the cut-off (or now) minus an hour for entries still being published, never past now.
fn settled_until(entries: &[HistoryEntry], cutoff: Option<Timestamp>, now: Timestamp) -> Timestamp {
    let settled = now.checked_sub(SETTLED).unwrap_or(now);
    let newest = entries
        .iter()
        .map(|e| e.updated_at)
        .filter(|t| *t <= now)
        .max()
        .unwrap_or(Timestamp::UNIX_EPOCH);
    match cutoff {
        Some(c) => c.min(newest.max(settled)),
        None => newest.max(settled),
    }
}

/// Entries dated after now (plus a little skew) are no history yet: a clock running ahead or a
/// bogus date. They are neither the answer nor kept in the cache, so a registry's later
/// correction is seen.
fn drop_future(entries: &mut Vec<HistoryEntry>, now: Timestamp) {
    let horizon = now.checked_add(SKEW).unwrap_or(now);
    entries.retain(|e| e.updated_at <= horizon);
}

/// The part of a record up to `through` (`None`: all of it), as a window.
fn window_within(record: &HistoryRecord, through: Option<Timestamp>) -> Window {
    Window {
        entries: record
            .entries
            .iter()
            .filter(|e| through.is_none_or(|t| e.updated_at <= t))
            .cloned()
            .collect(),
        start: record.from,
    }
}

/// What a run knows before it asks: earlier runs' history records by tag, and the pinned
/// digests of each tag query (checked with `HEAD` when the history does not hold them).
#[derive(Debug, Default)]
pub struct Known {
    pub cached: HashMap<TagKey, HistoryRecord>,
    pub verify: BTreeMap<Query, BTreeSet<Digest>>,
}

/// Resolves every query concurrently; `progress(done, total)` is called as each finishes, and
/// `answered(query, answers so far)` once its answer is in. The records to keep for the next
/// run are returned.
pub async fn resolve_all(
    client: &Client,
    queries: Vec<Query>,
    jobs: usize,
    now: Timestamp,
    known: &Known,
    progress: &(dyn Fn(usize, usize) + Sync),
    answered: &mut dyn FnMut(&Query, &Resolutions),
) -> (Resolutions, Vec<(TagKey, HistoryRecord)>) {
    let total = queries.len();
    let mut answers = HashMap::with_capacity(total);
    let mut records = Vec::new();
    let none = BTreeSet::new();
    let mut pending = stream::iter(queries)
        .map(|query| {
            let none = &none;
            async move {
                let key = query.tag_key();
                let cached = key.as_ref().and_then(|k| known.cached.get(k));
                let verify = known.verify.get(&query).unwrap_or(none);
                let (result, record) = resolve_one(client, &query, now, cached, verify).await;
                (query, key, result, record)
            }
        })
        .buffer_unordered(jobs.max(1));
    while let Some((query, key, result, record)) = pending.next().await {
        if let (Some(key), Some(record)) = (key, record) {
            if known.cached.get(&key) != Some(&record) {
                records.push((key, record));
            }
        }
        answers.insert(query.clone(), result);
        answered(&query, &answers);
        progress(answers.len(), total);
    }
    (answers, records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(ts: &str, n: u8) -> HistoryEntry {
        HistoryEntry {
            updated_at: ts.parse().unwrap(),
            timestamp_text: ts.to_owned(),
            digest: Digest::parse(&format!("sha256:{}", format!("{n:02x}").repeat(32))).unwrap(),
        }
    }

    fn answer(
        entries: &[HistoryEntry],
        cutoff: Option<&str>,
        start: Option<&str>,
    ) -> HistoryAnswer {
        HistoryAnswer {
            window: Window {
                entries: entries.to_vec(),
                start: start.map(|s| s.parse().unwrap()),
            },
            cutoff: cutoff.map(|c| c.parse().unwrap()),
            through: None,
            checked: BTreeMap::new(),
        }
    }

    #[test]
    fn behind_counts_rebuilds_honestly() {
        let entries = vec![
            entry("2024-06-01T00:00:00Z", 1),
            entry("2024-06-02T00:00:00Z", 2),
            entry("2024-06-03T00:00:00Z", 3),
            entry("2024-06-04T00:00:00Z", 4),
        ];
        let now: Timestamp = "2024-06-14T00:00:00Z".parse().unwrap();
        let a = answer(&entries, None, Some("2024-05-01T00:00:00Z"));
        assert_eq!(
            a.behind(&entries[0].digest, "latest", now).unwrap(),
            "3 rebuilds behind, replaced 12 days ago"
        );
        assert_eq!(a.behind(&entries[3].digest, "latest", now), None);
        let unknown = Digest::parse(&format!("sha256:{}", "f".repeat(64))).unwrap();
        assert_eq!(
            a.behind(&unknown, "latest", now).unwrap(),
            "not in the history of latest since 2024-05-01"
        );
        // With a cut-off between entries: counted up to the answer, and a later pin is newer.
        let a = answer(&entries, Some("2024-06-02T12:00:00Z"), None);
        assert_eq!(a.answer(), Some(&entries[1]));
        assert_eq!(
            a.behind(&entries[0].digest, "latest", now).unwrap(),
            "1 rebuild behind, replaced 12 days ago"
        );
        assert!(
            a.behind(&entries[3].digest, "latest", now)
                .unwrap()
                .starts_with("pinned digest is newer than the tag's digest as of")
        );
    }

    #[test]
    fn min_age_and_as_of_make_one_question() {
        let now: Timestamp = "2024-06-14T00:00:00Z".parse().unwrap();
        let week = SignedDuration::from_hours(24 * 7);
        assert_eq!(When::from_flags(None, None, now), When::Now);
        assert_eq!(
            When::from_flags(None, Some(week), now),
            When::MinAge(now - week)
        );
        let as_of: Timestamp = "2024-06-10T00:00:00Z".parse().unwrap();
        assert_eq!(
            When::from_flags(Some(as_of), Some(week), now),
            When::AsOf(now - week)
        );
        // An absurd age does not overflow.
        assert_eq!(
            When::from_flags(None, Some(SignedDuration::MAX), now),
            When::MinAge(Timestamp::MIN)
        );
    }

    #[test]
    fn settled_history_never_reaches_past_now() {
        let now: Timestamp = "2024-06-14T00:00:00Z".parse().unwrap();
        let entries = vec![
            entry("2024-06-13T23:30:00Z", 1),
            entry("2999-01-01T00:00:00Z", 2),
        ];
        assert_eq!(
            settled_until(&entries, None, now).to_string(),
            "2024-06-13T23:30:00Z"
        );
        let mut kept = entries.clone();
        drop_future(&mut kept, now);
        assert_eq!(kept, entries[..1]);
    }
}

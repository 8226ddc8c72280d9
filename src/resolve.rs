//! Resolution: every distinct (registry, repository, tag, cut-off) is looked up once per run,
//! however many files use it, with lookups running concurrently (the client bounds requests in
//! flight). cgr.dev goes through the Tag History API, so it can answer "as of" a time; every
//! other registry through the manifest digest.

use std::collections::HashMap;

use futures_util::stream::{self, StreamExt};
use jiff::Timestamp;

use crate::cache::HistoryRecord;
use crate::digest::Digest;
use crate::registry::history::{self, HistoryEntry, Lookup, TagHistory, Window};
use crate::registry::{Client, RegistryError};
use crate::timespec::human_age;

/// The registry whose Tag History API digestpin uses.
pub const TAG_HISTORY_REGISTRY: &str = "cgr.dev";

/// One distinct question: where `registry/repository:tag` pointed at `cutoff` (or now).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Query {
    pub registry: String,
    pub repository: String,
    pub tag: String,
    pub cutoff: Option<Timestamp>,
}

/// The answer to a [`Query`].
#[derive(Debug, Clone)]
pub struct Resolution {
    pub digest: Digest,
    /// When the digest was published, as the registry wrote it (cgr.dev only).
    pub updated_at: Option<String>,
    /// The complete window of history ending at the answer (cgr.dev only).
    pub history: Option<Window>,
}

impl Resolution {
    /// How far behind `old` is, from the history: `3 rebuilds, 12 days behind`.
    pub fn behind(&self, old: &Digest, now: Timestamp) -> Option<String> {
        let window = self.history.as_ref()?;
        let entries: &[HistoryEntry] = &window.entries;
        match entries.iter().rposition(|e| &e.digest == old) {
            Some(i) if i + 1 < entries.len() => {
                let newer = entries.len() - 1 - i;
                let since = entries[i + 1].updated_at;
                Some(format!(
                    "{newer} rebuild{} behind, replaced {} ago",
                    if newer == 1 { "" } else { "s" },
                    human_age(now.as_second() - since.as_second())
                ))
            }
            Some(_) => None,
            None => {
                let oldest = entries.first()?.updated_at;
                Some(format!(
                    "more than {} rebuild{} and {} behind",
                    entries.len(),
                    if entries.len() == 1 { "" } else { "s" },
                    human_age(now.as_second() - oldest.as_second())
                ))
            }
        }
    }
}

/// Every query's answer, or the error for it.
pub type Resolutions = HashMap<Query, Result<Resolution, RegistryError>>;

/// A tag, for the history cache: (registry, repository, tag).
pub type TagKey = (String, String, String);

impl Query {
    pub fn tag_key(&self) -> TagKey {
        (
            self.registry.clone(),
            self.repository.clone(),
            self.tag.clone(),
        )
    }
}

/// Entries published more than this long before a request are taken to be in its answer.
const SETTLED: jiff::SignedDuration = jiff::SignedDuration::from_hours(1);

/// Resolves one query. For cgr.dev, `cached` is what an earlier run recorded of the tag's
/// history; the second value is the record to keep for the next run.
pub async fn resolve_one(
    client: &Client,
    query: &Query,
    now: Timestamp,
    cached: Option<&HistoryRecord>,
) -> (Result<Resolution, RegistryError>, Option<HistoryRecord>) {
    if query.registry != TAG_HISTORY_REGISTRY {
        if query.cutoff.is_some() {
            let e = RegistryError::NoTagHistory {
                registry: query.registry.clone(),
            };
            return (Err(e), None);
        }
        let digest = client
            .manifest_digest(&query.registry, &query.repository, &query.tag)
            .await;
        let resolution = digest.map(|digest| Resolution {
            digest,
            updated_at: None,
            history: None,
        });
        return (resolution, None);
    }
    match from_history(client, query, now, cached).await {
        Ok((window, record)) => {
            let newest = window.newest().clone();
            let resolution = Resolution {
                digest: newest.digest,
                updated_at: Some(newest.timestamp_text),
                history: Some(window),
            };
            (Ok(resolution), Some(record))
        }
        Err(Lookup::NoEntry) => {
            let e = RegistryError::NoEntryBefore {
                registry: query.registry.clone(),
                repository: query.repository.clone(),
                tag: query.tag.clone(),
                cutoff: query
                    .cutoff
                    .map_or_else(|| "now".to_owned(), |c| c.to_string()),
            };
            (Err(e), None)
        }
        Err(Lookup::Registry(e)) => (Err(e), None),
    }
}

/// The answer from the Tag History API, using and extending the cached record when there is
/// one: an `--as-of`/`--min-age` inside the cached span costs nothing; otherwise only entries
/// newer than the cached ones are fetched.
async fn from_history(
    client: &Client,
    query: &Query,
    now: Timestamp,
    cached: Option<&HistoryRecord>,
) -> Result<(Window, HistoryRecord), Lookup> {
    let source = TagHistory {
        client,
        registry: &query.registry,
        repository: &query.repository,
        tag: &query.tag,
    };
    match cached {
        // Everything up to the cut-off is in the record: the answer is there, or the cut-off is
        // older than the record and only a fresh lookup can answer.
        Some(record) if query.cutoff.is_some_and(|c| c <= record.until) => {
            if let Some(window) = window_within(record, query.cutoff) {
                return Ok((window, record.clone()));
            }
        }
        Some(record) => {
            let newer = history::all_entries(&source, Some(record.until), query.cutoff).await?;
            let mut entries = record.entries.clone();
            entries.extend(newer);
            history::sort_dedup(&mut entries);
            let merged = HistoryRecord {
                until: settled_until(&entries, query.cutoff, now).max(record.until),
                entries,
                from: record.from,
            };
            if let Some(window) = window_within(&merged, query.cutoff) {
                return Ok((window, merged));
            }
        }
        None => {}
    }
    let window = history::newest_at_or_before(&source, query.cutoff, now).await?;
    let record = HistoryRecord {
        until: settled_until(&window.entries, query.cutoff, now),
        entries: window.entries.clone(),
        from: window.start,
    };
    Ok((window, record))
}

/// How far a freshly fetched, complete answer is known complete: through its newest entry,
/// and through the cut-off (or now) minus an hour for entries still being published.
fn settled_until(entries: &[HistoryEntry], cutoff: Option<Timestamp>, now: Timestamp) -> Timestamp {
    let newest = entries
        .iter()
        .map(|e| e.updated_at)
        .max()
        .unwrap_or(Timestamp::UNIX_EPOCH);
    let settled = now.checked_sub(SETTLED).unwrap_or(now);
    match cutoff {
        Some(c) => c.min(newest.max(settled)),
        None => newest.max(settled),
    }
}

/// The answer inside a record, when the record holds an entry at or before the cut-off.
fn window_within(record: &HistoryRecord, cutoff: Option<Timestamp>) -> Option<Window> {
    let entries: Vec<HistoryEntry> = record
        .entries
        .iter()
        .filter(|e| cutoff.is_none_or(|c| e.updated_at <= c))
        .cloned()
        .collect();
    if entries.is_empty() {
        return None;
    }
    Some(Window {
        entries,
        start: record.from,
    })
}

/// Resolves every query concurrently; `progress(done, total)` is called as each finishes, and
/// `answered(query, answers so far)` once its answer is in. `cached` holds earlier runs'
/// history records by tag; the records to keep are returned.
pub async fn resolve_all(
    client: &Client,
    queries: Vec<Query>,
    jobs: usize,
    now: Timestamp,
    cached: &HashMap<TagKey, HistoryRecord>,
    progress: &(dyn Fn(usize, usize) + Sync),
    answered: &mut dyn FnMut(&Query, &Resolutions),
) -> (Resolutions, Vec<(TagKey, HistoryRecord)>) {
    let total = queries.len();
    let mut answers = HashMap::with_capacity(total);
    let mut records = Vec::new();
    let mut pending = stream::iter(queries)
        .map(|query| async move {
            let (result, record) =
                resolve_one(client, &query, now, cached.get(&query.tag_key())).await;
            (query, result, record)
        })
        .buffer_unordered(jobs.max(1));
    while let Some((query, result, record)) = pending.next().await {
        if let Some(record) = record {
            if cached.get(&query.tag_key()) != Some(&record) {
                records.push((query.tag_key(), record));
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

    #[test]
    fn behind_counts_rebuilds_since_the_pinned_digest() {
        let entries = vec![
            entry("2024-06-01T00:00:00Z", 1),
            entry("2024-06-02T00:00:00Z", 2),
            entry("2024-06-03T00:00:00Z", 3),
            entry("2024-06-04T00:00:00Z", 4),
        ];
        let r = Resolution {
            digest: entries[3].digest.clone(),
            updated_at: None,
            history: Some(Window {
                entries: entries.clone(),
                start: None,
            }),
        };
        let now: Timestamp = "2024-06-14T00:00:00Z".parse().unwrap();
        assert_eq!(
            r.behind(&entries[0].digest, now).unwrap(),
            "3 rebuilds behind, replaced 12 days ago"
        );
        assert_eq!(r.behind(&entries[3].digest, now), None);
        let unknown = Digest::parse(&format!("sha256:{}", "f".repeat(64))).unwrap();
        assert_eq!(
            r.behind(&unknown, now).unwrap(),
            "more than 4 rebuilds and 13 days behind"
        );
    }
}

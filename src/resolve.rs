//! Resolution: every distinct (registry, repository, tag, cut-off) is looked up once per run,
//! however many files use it, with lookups running concurrently (the client bounds requests in
//! flight). cgr.dev goes through the Tag History API, so it can answer "as of" a time; every
//! other registry through the manifest digest.

use std::collections::HashMap;

use futures_util::stream::{self, StreamExt};
use jiff::Timestamp;

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

/// Resolves one query.
pub async fn resolve_one(
    client: &Client,
    query: &Query,
    now: Timestamp,
) -> Result<Resolution, RegistryError> {
    if query.registry == TAG_HISTORY_REGISTRY {
        let source = TagHistory {
            client,
            registry: &query.registry,
            repository: &query.repository,
            tag: &query.tag,
        };
        return match history::newest_at_or_before(&source, query.cutoff, now).await {
            Ok(window) => {
                let newest = window.newest().clone();
                Ok(Resolution {
                    digest: newest.digest,
                    updated_at: Some(newest.timestamp_text),
                    history: Some(window),
                })
            }
            Err(Lookup::NoEntry) => Err(RegistryError::NoEntryBefore {
                registry: query.registry.clone(),
                repository: query.repository.clone(),
                tag: query.tag.clone(),
                cutoff: query
                    .cutoff
                    .map_or_else(|| "now".to_owned(), |c| c.to_string()),
            }),
            Err(Lookup::Registry(e)) => Err(with_location(e, query)),
        };
    }
    if query.cutoff.is_some() {
        return Err(RegistryError::NoTagHistory {
            registry: query.registry.clone(),
        });
    }
    let digest = client
        .manifest_digest(&query.registry, &query.repository, &query.tag)
        .await?;
    Ok(Resolution {
        digest,
        updated_at: None,
        history: None,
    })
}

/// Fills in where a strategy-level error happened.
fn with_location(e: RegistryError, query: &Query) -> RegistryError {
    match e {
        RegistryError::InvalidResponse {
            registry,
            url,
            detail,
        } if registry.is_empty() => RegistryError::InvalidResponse {
            registry: query.registry.clone(),
            url: if url.is_empty() {
                format!("/v2/{}/_chainguard/history/{}", query.repository, query.tag)
            } else {
                url
            },
            detail,
        },
        other => other,
    }
}

/// Resolves every query concurrently; `progress(done, total)` is called as each finishes.
pub async fn resolve_all(
    client: &Client,
    queries: Vec<Query>,
    jobs: usize,
    now: Timestamp,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Resolutions {
    let total = queries.len();
    let mut answers = HashMap::with_capacity(total);
    let mut pending = stream::iter(queries)
        .map(|query| async move {
            let result = resolve_one(client, &query, now).await;
            (query, result)
        })
        .buffer_unordered(jobs.max(1));
    while let Some((query, result)) = pending.next().await {
        answers.insert(query, result);
        progress(answers.len(), total);
    }
    answers
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

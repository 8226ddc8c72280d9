//! The optional on-disk cache (`$XDG_CACHE_HOME/digestpin`, `~/.cache/digestpin`, or
//! `DIGESTPIN_CACHE_DIR`).
//!
//! Tag history entries are immutable once published, so a cached history is a complete record
//! of a tag between two instants; a later run asks the registry only for entries newer than the
//! newest cached one, and answers an `--as-of`/`--min-age` question inside that span without any
//! request. Anonymous bearer tokens (never ones obtained with credentials) and each registry's
//! auth scheme are kept until they expire, so a warm re-run costs one request per image.
//!
//! Every file is written to a temporary file in the same directory and renamed into place, so
//! concurrent runs never see a torn file; anything unreadable or invalid is a cache miss.
//! File I/O happens before and after resolution, never on the async runtime.

use std::io::Write;
use std::path::PathBuf;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::digest::Digest;
use crate::registry::auth::AuthRecord;
use crate::registry::history::HistoryEntry;

/// A complete span of one tag's history: every entry published in `[from, until]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRecord {
    /// Oldest first.
    pub entries: Vec<HistoryEntry>,
    /// `None`: from the beginning of the history.
    pub from: Option<Timestamp>,
    pub until: Timestamp,
}

#[derive(Serialize, Deserialize)]
struct StoredHistory {
    key: String,
    from: Option<String>,
    until: String,
    entries: Vec<(String, String)>,
}

#[derive(Serialize, Deserialize)]
struct StoredAuth {
    key: String,
    auth: AuthRecord,
}

/// The cache directory.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

const VERSION: &str = "v1";

impl Cache {
    /// The platform's cache directory for digestpin (`DIGESTPIN_CACHE_DIR` overrides).
    pub fn default_dir() -> Option<PathBuf> {
        std::env::var_os("DIGESTPIN_CACHE_DIR")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| dirs::cache_dir().map(|d| d.join("digestpin")))
    }

    pub fn new(dir: PathBuf) -> Self {
        Cache { dir }
    }

    fn path(&self, kind: &str, key: &str) -> PathBuf {
        let hash = format!("{:x}", Sha256::digest(key.as_bytes()));
        self.dir
            .join(VERSION)
            .join(kind)
            .join(format!("{}.json", &hash[..32]))
    }

    /// A cache file that is not a regular file (a FIFO, a directory planted there), too large,
    /// unreadable or not what we wrote is a miss: never an error, never a wait.
    fn read<T: for<'de> Deserialize<'de>>(&self, kind: &str, key: &str) -> Option<T> {
        let (file, meta) = crate::files::open_regular(&self.path(kind, key)).ok()?;
        let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).ok()?);
        std::io::Read::read_to_end(
            &mut std::io::Read::take(file, crate::files::MAX_FILE_SIZE),
            &mut bytes,
        )
        .ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Best effort: a cache that cannot be written is simply not used next time.
    fn write<T: Serialize>(&self, kind: &str, key: &str, value: &T) {
        let path = self.path(kind, key);
        let Some(parent) = path.parent() else { return };
        if std::fs::create_dir_all(parent).is_err() {
            return;
        }
        let Ok(mut temp) = tempfile::Builder::new().prefix(".tmp-").tempfile_in(parent) else {
            return;
        };
        let Ok(bytes) = serde_json::to_vec(value) else {
            return;
        };
        if temp.write_all(&bytes).is_ok() {
            let _ = temp.persist(&path);
        }
    }

    /// `endpoint` is the registry's base URL: entries from a mirror stay apart.
    fn history_key(endpoint: &str, repository: &str, tag: &str) -> String {
        format!("{endpoint}/{repository}:{tag}")
    }

    /// The cached history of a tag, if any and valid.
    pub fn history(&self, registry: &str, repository: &str, tag: &str) -> Option<HistoryRecord> {
        let key = Self::history_key(registry, repository, tag);
        let stored: StoredHistory = self.read("history", &key)?;
        if stored.key != key {
            return None;
        }
        let entries = stored
            .entries
            .into_iter()
            .map(|(text, digest)| {
                Some(HistoryEntry {
                    updated_at: text.parse().ok()?,
                    timestamp_text: text,
                    digest: Digest::parse(&digest).ok()?,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        if entries.is_empty() {
            return None;
        }
        Some(HistoryRecord {
            entries,
            from: match stored.from {
                Some(t) => Some(t.parse().ok()?),
                None => None,
            },
            until: stored.until.parse().ok()?,
        })
    }

    pub fn store_history(
        &self,
        registry: &str,
        repository: &str,
        tag: &str,
        record: &HistoryRecord,
    ) {
        let key = Self::history_key(registry, repository, tag);
        let stored = StoredHistory {
            key: key.clone(),
            from: record.from.map(|t| t.to_string()),
            until: record.until.to_string(),
            entries: record
                .entries
                .iter()
                .map(|e| (e.timestamp_text.clone(), e.digest.to_string()))
                .collect(),
        };
        self.write("history", &key, &stored);
    }

    /// The registry's remembered auth scheme and unexpired anonymous tokens.
    pub fn auth(&self, registry: &str, now: Timestamp) -> Option<AuthRecord> {
        let stored: StoredAuth = self.read("auth", registry)?;
        let age = now.as_second().saturating_sub(stored.auth.learned_at);
        // A record from the future (a wrong clock, a tampered file) is no record.
        if stored.key != registry || !(-300..=86_400).contains(&age) {
            return None;
        }
        let mut auth = stored.auth;
        auth.tokens
            .retain(|_, (_, expires)| *expires > now.as_second().saturating_add(5));
        Some(auth)
    }

    pub fn store_auth(&self, registry: &str, auth: &AuthRecord) {
        let stored = StoredAuth {
            key: registry.to_owned(),
            auth: auth.clone(),
        };
        self.write("auth", registry, &stored);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::registry::auth::Scope;

    #[test]
    fn history_round_trip_and_corruption_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().to_path_buf());
        assert_eq!(cache.history("cgr.dev", "chainguard/go", "latest"), None);
        let ts = "2024-06-01T12:00:00.123Z";
        let record = HistoryRecord {
            entries: vec![HistoryEntry {
                updated_at: ts.parse().unwrap(),
                timestamp_text: ts.into(),
                digest: Digest::parse(&format!("sha256:{}", "a".repeat(64))).unwrap(),
            }],
            from: None,
            until: ts.parse().unwrap(),
        };
        cache.store_history("cgr.dev", "chainguard/go", "latest", &record);
        assert_eq!(
            cache.history("cgr.dev", "chainguard/go", "latest"),
            Some(record)
        );
        assert_eq!(
            cache.history("cgr.dev", "chainguard/go", "latest-dev"),
            None
        );
        let path = cache.path("history", "cgr.dev/chainguard/go:latest");
        std::fs::write(
            &path,
            b"{\"key\": \"cgr.dev/chainguard/go:latest\", \"entries\": [[\"x\", \"sha256:0\"]]}",
        )
        .unwrap();
        assert_eq!(cache.history("cgr.dev", "chainguard/go", "latest"), None);
    }

    #[test]
    fn expired_tokens_and_old_schemes_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().to_path_buf());
        let now: Timestamp = "2024-06-01T12:00:00Z".parse().unwrap();
        let mut auth = AuthRecord {
            scheme: "bearer".into(),
            realm: Some("https://cgr.dev/token".into()),
            service: Some("cgr.dev".into()),
            learned_at: now.as_second(),
            tokens: BTreeMap::new(),
        };
        auth.tokens
            .insert(Scope::pull("a"), ("t1".into(), now.as_second() + 300));
        auth.tokens
            .insert(Scope::pull("b"), ("t2".into(), now.as_second() - 1));
        cache.store_auth("cgr.dev", &auth);
        let loaded = cache.auth("cgr.dev", now).unwrap();
        assert_eq!(
            loaded
                .tokens
                .keys()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["repository:a:pull"]
        );
        let tomorrow = Timestamp::from_second(now.as_second() + 90_000).unwrap();
        assert_eq!(cache.auth("cgr.dev", tomorrow), None);
        // Tampered times are a miss, never an overflow.
        for learned_at in [i64::MIN, i64::MAX, now.as_second() + 3600] {
            let mut odd = auth.clone();
            odd.learned_at = learned_at;
            cache.store_auth("cgr.dev", &odd);
            assert_eq!(cache.auth("cgr.dev", now), None, "{learned_at}");
        }
        auth.tokens
            .insert(Scope::pull("c"), ("t3".into(), i64::MAX));
        auth.tokens
            .insert(Scope::pull("d"), ("t4".into(), i64::MIN));
        cache.store_auth("cgr.dev", &auth);
        let loaded = cache.auth("cgr.dev", now).unwrap();
        assert_eq!(
            loaded
                .tokens
                .keys()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["repository:a:pull", "repository:c:pull"]
        );
    }

    #[test]
    fn auth_files_of_another_shape_are_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().to_path_buf());
        let now: Timestamp = "2024-06-01T12:00:00Z".parse().unwrap();
        let path = cache.path("auth", "cgr.dev");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let learned = now.as_second();
        for body in [
            "not json".to_owned(),
            format!(
                r#"{{"key":"cgr.dev","auth":{{"scheme":"bearer","realm":"r","service":null,"learned_at":{learned},"tokens":{{"a:pull":["t",{}]}}}}}}"#,
                learned + 300
            ),
            r#"{"key":"cgr.dev","auth":{"scheme":"bearer"}}"#.to_owned(),
        ] {
            std::fs::write(&path, body.as_bytes()).unwrap();
            assert_eq!(cache.auth("cgr.dev", now), None, "{body}");
        }
        // The format written before the scope became a type still reads.
        let old = format!(
            r#"{{"key":"cgr.dev","auth":{{"scheme":"bearer","realm":"r","service":"s","learned_at":{learned},"tokens":{{"repository:a/b:pull":["t",{}]}}}}}}"#,
            learned + 300
        );
        std::fs::write(&path, old.as_bytes()).unwrap();
        let loaded = cache.auth("cgr.dev", now).unwrap();
        assert_eq!(
            loaded.tokens.get(&Scope::pull("a/b")),
            Some(&("t".to_owned(), learned + 300))
        );
    }
}

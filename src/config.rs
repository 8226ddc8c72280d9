//! The config file, `.digestpin.toml` or `digestpin.toml`: what a repository tells digestpin
//! once instead of on every command line (paths to leave out, images left unpinned on purpose,
//! the options a team always uses).
//!
//! It is found in the working directory or the nearest parent, stopping at the repository root
//! (the first directory holding `.git`); `--config PATH` names one. Patterns are relative to
//! the file's directory. Unknown keys and bad values are errors naming the file, line and key.
//! Command-line flags (and environment variables) win over it; the binary does that merge.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::engine::{IgnoreRule, Scope};
use crate::files::PathPatterns;
use crate::kinds::Kinds;

/// The names looked for in each directory, in order of preference.
pub const FILE_NAMES: [&str; 2] = [".digestpin.toml", "digestpin.toml"];

/// The file kinds `kinds` may name.
pub const KINDS: [&str; 5] = [
    "dockerfile",
    "compose",
    "github-actions",
    "kubernetes",
    "gitlab-ci",
];

/// A config file, validated. Every option is `None` when the file does not set it.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Where it was read from (`None`: no config file).
    pub path: Option<PathBuf>,
    /// What runs read and leave alone: `exclude`, `kinds`, `[[ignore]]`.
    pub scope: Scope,
    /// `kinds` as written (the scope reads those of them digestpin knows).
    pub kinds: Option<Vec<String>>,
    pub min_age: Option<Duration>,
    /// `enforce-min-age`.
    pub enforce_min_age: Option<bool>,
    pub keep_pinned: Option<bool>,
    pub digest_only: Option<bool>,
    /// `[endpoints]` as `REGISTRY=URL` specs, in file order (validated).
    pub endpoints: Vec<String>,
}

/// A config file that cannot be used: unreadable, not TOML, an unknown key or a bad value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub path: PathBuf,
    /// 1-based line of the offending key or value, when known.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        match self.line {
            Some(line) => write!(f, "{path}:{line}: {}", self.message),
            None => write!(f, "{path}: {}", self.message),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Raw {
    #[serde(default)]
    exclude: Vec<Spanned<String>>,
    kinds: Option<Vec<Spanned<String>>>,
    min_age: Option<Spanned<String>>,
    enforce_min_age: Option<bool>,
    keep_pinned: Option<bool>,
    digest_only: Option<bool>,
    #[serde(default)]
    endpoints: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    ignore: Vec<RawIgnore>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIgnore {
    image: Spanned<String>,
    path: Option<Spanned<String>>,
    reason: Option<String>,
}

/// The config file for a run started in `dir`: the first of [`FILE_NAMES`] in `dir` or its
/// nearest parent, not looking above the repository root (a directory holding `.git`).
pub fn find(dir: &Path) -> Option<PathBuf> {
    for dir in dir.ancestors() {
        for name in FILE_NAMES {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
        if dir.join(".git").exists() {
            return None;
        }
    }
    None
}

/// Reads and validates the config file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        path: path.to_owned(),
        line: None,
        message: format!("cannot read: {}", crate::files::describe_io(&e)),
    })?;
    parse(path, &text)
}

/// Parses and validates config `text`; `path` is where it came from (patterns are relative to
/// its directory, errors name it).
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let fail = |offset: Option<usize>, message: String| ConfigError {
        path: path.to_owned(),
        line: offset.map(|o| line_of(text, o)),
        message,
    };
    let raw: Raw = toml::from_str(text).map_err(|e| {
        let offset = e.span().map(|s| s.start);
        let message = e.message().trim().to_owned();
        let message = match message.strip_prefix("unknown field") {
            Some(rest) => format!("unknown key{rest}"),
            None => match offset.and_then(|o| key_at(text, o)) {
                Some(key) => format!("{key}: {message}"),
                None => message,
            },
        };
        fail(offset, message)
    })?;
    let root = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let patterns = |key: &str, globs: &[Spanned<String>]| {
        for glob in globs {
            PathPatterns::new(root, std::slice::from_ref(glob.get_ref()))
                .map_err(|e| fail(Some(glob.span().start), format!("{key}: {e}")))?;
        }
        let globs: Vec<String> = globs.iter().map(|g| g.get_ref().clone()).collect();
        PathPatterns::new(root, &globs).map_err(|e| fail(None, format!("{key}: {e}")))
    };
    let exclude = patterns("exclude", &raw.exclude)?;
    let kinds = match raw.kinds {
        None => None,
        Some(kinds) => Some(
            kinds
                .into_iter()
                .map(|kind| {
                    if KINDS.contains(&kind.get_ref().as_str()) {
                        Ok(kind.into_inner())
                    } else {
                        Err(fail(
                            Some(kind.span().start),
                            format!(
                                "kinds: unknown file kind {:?} (expected one of {})",
                                kind.get_ref(),
                                KINDS.join(", ")
                            ),
                        ))
                    }
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    let min_age = match &raw.min_age {
        None => None,
        Some(text) => Some(
            crate::timespec::parse_duration(text.get_ref())
                .map_err(|e| fail(Some(text.span().start), format!("min-age: {e}")))?,
        ),
    };
    let mut endpoints = Vec::new();
    let mut check = crate::registry::Endpoints::default();
    for (registry, url) in &raw.endpoints {
        let spec = format!("{registry}={}", url.get_ref());
        check.add(&spec).map_err(|e| {
            let why = e.to_string();
            let why = why
                .strip_prefix(&format!("--endpoint {spec:?}: "))
                .unwrap_or(&why);
            fail(
                Some(url.span().start),
                format!("endpoints.{registry}: {why}"),
            )
        })?;
        endpoints.push(spec);
    }
    let mut ignore = Vec::new();
    for rule in raw.ignore {
        let image = globset::GlobBuilder::new(rule.image.get_ref())
            .build()
            .map_err(|e| {
                let why = e.kind().to_string();
                fail(
                    Some(rule.image.span().start),
                    format!("ignore.image: {why}"),
                )
            })?
            .compile_matcher();
        let path = match &rule.path {
            None => None,
            Some(p) => Some(patterns("ignore.path", std::slice::from_ref(p))?),
        };
        ignore.push(IgnoreRule {
            image,
            path,
            reason: rule.reason,
        });
    }
    Ok(Config {
        path: Some(path.to_owned()),
        scope: Scope {
            exclude,
            kinds: match &kinds {
                Some(names) => Kinds::default().only(names),
                None => Kinds::default(),
            },
            ignore,
        },
        kinds,
        min_age,
        enforce_min_age: raw.enforce_min_age,
        keep_pinned: raw.keep_pinned,
        digest_only: raw.digest_only,
        endpoints,
    })
}

/// The 1-based line holding byte `offset`.
fn line_of(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    text.as_bytes()[..offset]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The key a value at `offset` belongs to, as `table.key` (`keep-pinned`, `ignore.image`):
/// the key of its line, under the nearest table header above it.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let line_no = line_of(text, offset);
    let lines: Vec<&str> = text.lines().collect();
    let line = lines.get(line_no - 1)?.trim();
    let header = |l: &str| {
        let l = l.trim();
        l.starts_with('[')
            .then(|| l.trim_matches(|c| c == '[' || c == ']').trim().to_owned())
    };
    if let Some(table) = header(line) {
        return Some(table);
    }
    let key = line.split_once('=')?.0.trim().trim_matches('"').to_owned();
    let table = lines[..line_no - 1].iter().rev().find_map(|l| header(l));
    Some(match table {
        Some(table) => format!("{table}.{key}"),
        None => key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        parse(Path::new("dir/.digestpin.toml"), text)
            .expect_err("should fail")
            .to_string()
    }

    #[test]
    fn reads_every_key() {
        let text = r#"
exclude = ["fixtures/", "/vendor"]
kinds = ["dockerfile", "compose"]
min-age = "7d"
enforce-min-age = true
keep-pinned = true
digest-only = false

[endpoints]
"cgr.dev" = "http://127.0.0.1:5000"

[[ignore]]
image = "cgr.dev/chainguard/*"
path = "legacy/"
reason = "pinned by the platform team"

[[ignore]]
image = "python:*"
"#;
        let config = parse(Path::new("/repo/.digestpin.toml"), text).unwrap();
        assert_eq!(config.min_age, Some(Duration::from_secs(7 * 86_400)));
        assert_eq!(config.enforce_min_age, Some(true));
        assert_eq!(config.keep_pinned, Some(true));
        assert_eq!(config.digest_only, Some(false));
        assert_eq!(config.endpoints, ["cgr.dev=http://127.0.0.1:5000"]);
        assert_eq!(
            config.kinds.as_deref(),
            Some(&["dockerfile".to_owned(), "compose".to_owned()][..])
        );
        assert_eq!(config.scope.kinds.names(), ["dockerfile", "compose"]);
        assert!(
            config
                .scope
                .exclude
                .matches(Path::new("/repo/a/fixtures"), true)
        );
        assert!(
            config
                .scope
                .exclude
                .matches(Path::new("/repo/vendor"), true)
        );
        assert!(
            !config
                .scope
                .exclude
                .matches(Path::new("/repo/a/vendor"), true)
        );
        assert_eq!(config.scope.ignore.len(), 2);
        assert_eq!(
            config.scope.ignore[0].reason.as_deref(),
            Some("pinned by the platform team")
        );
    }

    #[test]
    fn an_empty_file_sets_nothing() {
        let config = parse(Path::new(".digestpin.toml"), "").unwrap();
        assert!(config.min_age.is_none() && config.keep_pinned.is_none());
        assert!(config.kinds.is_none() && config.scope.ignore.is_empty());
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let cases = [
            (
                "exlude = []\n",
                "dir/.digestpin.toml:1: unknown key `exlude`",
            ),
            (
                "exclude = []\n\nkeep-pinned = \"yes\"\n",
                "dir/.digestpin.toml:3: keep-pinned: invalid type: string",
            ),
            (
                "min-age = \"7 days\"\n",
                "dir/.digestpin.toml:1: min-age: invalid duration",
            ),
            (
                "kinds = [\"dockerfile\",\n  \"helm\"]\n",
                "dir/.digestpin.toml:2: kinds: unknown file kind \"helm\"",
            ),
            (
                "[endpoints]\n\"cgr.dev\" = \"http://mirror.example.com\"\n",
                "dir/.digestpin.toml:2: endpoints.cgr.dev: plain http:// is allowed only",
            ),
            (
                "[endpoints]\n\"cgr.dev\" = \"mirror\"\n",
                "dir/.digestpin.toml:2: endpoints.cgr.dev: invalid URL: relative URL",
            ),
            (
                "[[ignore]]\nimage = \"a\"\n\n[[ignore]]\nimgae = \"b\"\n",
                "dir/.digestpin.toml:5: unknown key `imgae`",
            ),
            (
                "[[ignore]]\nimage = \"[a\"\n",
                "dir/.digestpin.toml:2: ignore.image: unclosed character class",
            ),
            (
                "exclude = \"fixtures\"\n",
                "dir/.digestpin.toml:1: exclude: invalid type: string",
            ),
            ("keep-pinned = \n", "dir/.digestpin.toml:1: "),
            (
                "exclude = [\"ok/\",\n  \"[z-a]\"]\n",
                "dir/.digestpin.toml:2: exclude: invalid pattern \"[z-a]\"",
            ),
        ];
        for (text, want) in cases {
            let got = err(text);
            assert!(
                got.starts_with(want),
                "{text:?}: {got:?} does not start with {want:?}"
            );
        }
    }

    #[test]
    fn finds_the_nearest_file_and_stops_at_the_repository_root() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        let deep = repo.join("a/b");
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::create_dir_all(repo.join(".git")).unwrap();
        // Above the repository root: never used.
        std::fs::write(dir.path().join(".digestpin.toml"), "").unwrap();
        assert_eq!(find(&deep), None);
        std::fs::write(repo.join("digestpin.toml"), "").unwrap();
        assert_eq!(find(&deep), Some(repo.join("digestpin.toml")));
        std::fs::write(repo.join(".digestpin.toml"), "").unwrap();
        assert_eq!(find(&deep), Some(repo.join(".digestpin.toml")));
        std::fs::write(repo.join("a/digestpin.toml"), "").unwrap();
        assert_eq!(find(&deep), Some(repo.join("a/digestpin.toml")));
    }

    #[test]
    fn ignore_rules_match_as_written_or_normalised() {
        let config = parse(
            Path::new("/repo/.digestpin.toml"),
            "[[ignore]]\nimage = \"docker.io/library/python:*\"\n\
             [[ignore]]\nimage = \"cgr.dev/*\"\npath = \"legacy/\"\nreason = \"frozen\"\n",
        )
        .unwrap();
        let scan = |text: &str| crate::dockerfile::scan(text.as_bytes()).refs;
        let refs = scan("FROM python:3.12\nFROM cgr.dev/chainguard/go\nFROM pythonx:1\n");
        let rules = &config.scope.ignore;
        let here = Path::new("/repo/app/Dockerfile");
        let legacy = Path::new("/repo/legacy/Dockerfile");
        assert!(rules[0].covers(here, &refs[0]));
        assert!(!rules[0].covers(here, &refs[2]));
        assert!(!rules[1].covers(here, &refs[1]));
        assert!(rules[1].covers(legacy, &refs[1]));
    }
}

//! `digestpin tags IMAGE`: a repository's tags grouped by the digest each points to now, with
//! when that digest last changed — the "Tags History" table of Chainguard's image pages.
//!
//! One listing (`tags/list`, every page), then one lookup per tag, concurrently: the Tag History
//! API on cgr.dev (which also says when the tag moved to its digest), the manifest digest
//! elsewhere (no date). A tag that cannot be resolved fails the whole table, naming the tag: a
//! table missing a tag would suggest the tag is somewhere it is not.
//!
//! Order, decided from the seed pages:
//! - rows newest change first; rows without a date last; ties by digest, so output is stable;
//! - within a row, plain versions by their numeric components (`1` < `1.77` < `1.77.0` <
//!   `1.77.10`), then `latest`, then the `-dev` variants ordered alike (`1-dev`, `1.77-dev`,
//!   `latest-dev`, `v3-dev`), then everything else in natural order (alphabetical, runs of
//!   digits compared as numbers: `v3.9` before `v3.10`). The seeds list only one row in a
//!   deliberate order (`1` `1.77` `1.77.0` `latest`); their other rows are in no order at all.
//!
//! A row's "last changed" is the earliest time one of its tags moved to the digest — when that
//! image was published; a later re-tag onto the same image does not make it newer. How it
//! reads (`March 22nd`) is the renderers' business ([`crate::report::human_date`]).
//!
//! The registry's `tags/list` API is in [`crate::registry::tags`]; the tables are rendered by
//! [`crate::report`] (text, JSON, Markdown), like every other command's output.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};

use futures_util::stream::{self, StreamExt};
use jiff::Timestamp;

use crate::digest::Digest;
use crate::reference::Reference;
use crate::registry::tags::list_tags_paged;
use crate::registry::{Client, RegistryError};
use crate::resolve::{Query, When, resolve_one};

/// Tags that point to one digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagGroup {
    pub digest: Digest,
    /// When the digest was published: the earliest time one of the tags moved to it (cgr.dev);
    /// `None` where the registry keeps no tag history.
    pub last_changed: Option<Timestamp>,
    /// In display order (see the module docs).
    pub tags: Vec<String>,
}

/// Why there is no table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagsError {
    /// The repository exists and lists no tags at all.
    #[error("{image}: the repository has no tags")]
    NoTags { image: String },
    /// Tags exist, but none matches the filter.
    #[error("{image}: none of its {listed} tags matches the filter {filter:?}")]
    NoMatch {
        image: String,
        filter: String,
        listed: usize,
    },
    /// `tags/list` answered 404.
    #[error("{image}: repository not found in {registry} ({detail})")]
    NotFound {
        image: String,
        registry: String,
        detail: String,
    },
    /// `tags/list` (or its token) answered 401 or 403.
    #[error(
        "{image}: {registry} does not allow listing this repository's tags ({detail}); check \
         your credentials, or look up a single tag with `digestpin resolve`"
    )]
    ListingDenied {
        image: String,
        registry: String,
        detail: String,
    },
    /// Any other failure to list the tags.
    #[error("{image}: cannot list tags: {source}")]
    Listing {
        image: String,
        source: Box<RegistryError>,
    },
    /// A listed tag could not be resolved; `others` more failed too.
    #[error("{image}:{tag}: {source}{}", more(*.others))]
    Tag {
        image: String,
        tag: String,
        source: Box<RegistryError>,
        others: usize,
    },
    /// `--pin TAG` names a tag the repository does not list (or the filter leaves out).
    #[error("{image}: no tag {tag:?} {place}")]
    TagNotListed {
        image: String,
        tag: String,
        place: &'static str,
    },
}

fn more(others: usize) -> String {
    match others {
        0 => String::new(),
        1 => " (and 1 more tag failed)".to_owned(),
        n => format!(" (and {n} more tags failed)"),
    }
}

/// The repository's tags grouped by current digest, rows newest change first, tags kept only
/// when `filter` matches them. At most `jobs` lookups at once.
pub async fn tag_groups(
    client: &Client,
    reference: &Reference,
    filter: Option<&regex::Regex>,
    jobs: usize,
    now: Timestamp,
) -> Result<Vec<TagGroup>, TagsError> {
    tag_groups_paged(client, reference, filter, jobs, now, None).await
}

/// Like [`tag_groups`], asking the registry for `page_size` tags per `tags/list` page.
pub async fn tag_groups_paged(
    client: &Client,
    reference: &Reference,
    filter: Option<&regex::Regex>,
    jobs: usize,
    now: Timestamp,
    page_size: Option<usize>,
) -> Result<Vec<TagGroup>, TagsError> {
    let listed = listing(client, reference, page_size).await?;
    let total = listed.len();
    let tags: Vec<String> = listed
        .into_iter()
        .filter(|t| filter.is_none_or(|f| f.is_match(t)))
        .collect();
    if tags.is_empty() {
        return Err(TagsError::NoMatch {
            image: reference.name().to_owned(),
            filter: filter.map(|f| f.as_str().to_owned()).unwrap_or_default(),
            listed: total,
        });
    }
    resolve_tags(client, reference, tags, jobs, now).await
}

/// `IMAGE:TAG@DIGEST` (IMAGE as the user spelled it) for one listed tag: the listing, then one
/// lookup for that tag alone. With a filter, the tag must match it too.
pub async fn pin_tag(
    client: &Client,
    reference: &Reference,
    tag: &str,
    filter: Option<&regex::Regex>,
    now: Timestamp,
) -> Result<String, TagsError> {
    let listed = listing(client, reference, None).await?;
    let not_listed = |place| TagsError::TagNotListed {
        image: reference.name().to_owned(),
        tag: tag.to_owned(),
        place,
    };
    if !listed.iter().any(|t| t == tag) {
        return Err(not_listed("in the repository's tag list"));
    }
    if filter.is_some_and(|f| !f.is_match(tag)) {
        return Err(not_listed("among the tags the filter keeps"));
    }
    let groups = resolve_tags(client, reference, vec![tag.to_owned()], 1, now).await?;
    pin_line(reference, &groups, tag)
}

/// `IMAGE:TAG@DIGEST` for `tag` from a table already built.
pub fn pin_line(
    reference: &Reference,
    groups: &[TagGroup],
    tag: &str,
) -> Result<String, TagsError> {
    groups
        .iter()
        .find(|g| g.tags.iter().any(|t| t == tag))
        .map(|g| format!("{}:{tag}@{}", reference.name(), g.digest))
        .ok_or_else(|| TagsError::TagNotListed {
            image: reference.name().to_owned(),
            tag: tag.to_owned(),
            place: "in the table",
        })
}

/// Every tag of the repository, errors told apart for the user.
async fn listing(
    client: &Client,
    reference: &Reference,
    page_size: Option<usize>,
) -> Result<Vec<String>, TagsError> {
    let image = reference.name().to_owned();
    let registry = reference.registry();
    match list_tags_paged(client, registry, reference.repository(), page_size).await {
        Ok(tags) if tags.is_empty() => Err(TagsError::NoTags { image }),
        Ok(tags) => Ok(tags),
        Err(RegistryError::Status {
            status, url, oci, ..
        }) if matches!(status, 401 | 403 | 404) => {
            let code = oci.code.map(|c| format!(" {c}")).unwrap_or_default();
            let detail = format!("{status}{code} from {url}");
            let registry = registry.to_owned();
            Err(if status == 404 {
                TagsError::NotFound {
                    image,
                    registry,
                    detail,
                }
            } else {
                TagsError::ListingDenied {
                    image,
                    registry,
                    detail,
                }
            })
        }
        Err(source) => Err(TagsError::Listing {
            image,
            source: Box::new(source),
        }),
    }
}

/// Looks every tag up (at most `jobs` at once) and groups them.
async fn resolve_tags(
    client: &Client,
    reference: &Reference,
    tags: Vec<String>,
    jobs: usize,
    now: Timestamp,
) -> Result<Vec<TagGroup>, TagsError> {
    let registry = reference.registry();
    let repository = reference.repository();
    let answers: Vec<_> = stream::iter(tags)
        .map(|tag| async move {
            let query = Query::tag(registry, repository, &tag, When::Now);
            let (answer, _record) = resolve_one(client, &query, now, None, &BTreeSet::new()).await;
            (tag, answer)
        })
        .buffer_unordered(jobs.max(1))
        .collect()
        .await;
    let mut resolved = Vec::with_capacity(answers.len());
    let mut failed = Vec::new();
    for (tag, answer) in answers {
        match answer {
            Ok(answer) => match answer.pick(When::Now) {
                Some((digest, at)) => {
                    let at = at.and_then(|t| t.parse().ok());
                    resolved.push((tag, digest.clone(), at));
                }
                None => failed.push((
                    tag,
                    RegistryError::NoEntryBefore {
                        cutoff: "now".into(),
                    },
                )),
            },
            Err(e) => failed.push((tag, e)),
        }
    }
    failed.sort_by(|a, b| compare_tags(&a.0, &b.0));
    let others = failed.len().saturating_sub(1);
    if let Some((tag, source)) = failed.into_iter().next() {
        return Err(TagsError::Tag {
            image: reference.name().to_owned(),
            tag,
            source: Box::new(source),
            others,
        });
    }
    Ok(group(resolved))
}

/// Groups `(tag, digest, when the tag moved to it)` by digest, in display order.
pub fn group(resolved: Vec<(String, Digest, Option<Timestamp>)>) -> Vec<TagGroup> {
    let mut by_digest: HashMap<Digest, (Vec<String>, Option<Timestamp>)> = HashMap::new();
    for (tag, digest, at) in resolved {
        let (tags, earliest) = by_digest.entry(digest).or_default();
        tags.push(tag);
        *earliest = match (*earliest, at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    let mut groups: Vec<TagGroup> = by_digest
        .into_iter()
        .map(|(digest, (mut tags, last_changed))| {
            tags.sort_by(|a, b| compare_tags(a, b));
            TagGroup {
                digest,
                last_changed,
                tags,
            }
        })
        .collect();
    groups.sort_by(|a, b| {
        let newest_first = match (a.last_changed, b.last_changed) {
            (Some(x), Some(y)) => y.cmp(&x),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        newest_first.then_with(|| a.digest.cmp(&b.digest))
    });
    groups
}

/// The order of tags within a row (see the module docs).
pub fn compare_tags(a: &str, b: &str) -> Ordering {
    tag_key(a).cmp(&tag_key(b)).then_with(|| a.cmp(b))
}

/// A run of a tag: digits compare as numbers (by length without leading zeros, then digits).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Chunk<'a> {
    Number(usize, &'a str),
    Text(&'a str),
}

fn natural(text: &str) -> Vec<Chunk<'_>> {
    let mut chunks = Vec::new();
    let mut rest = text;
    while let Some(first) = rest.chars().next() {
        let digit = first.is_ascii_digit();
        let end = rest
            .find(|c: char| c.is_ascii_digit() != digit)
            .unwrap_or(rest.len());
        let (run, tail) = rest.split_at(end);
        chunks.push(if digit {
            let significant = run.trim_start_matches('0');
            Chunk::Number(significant.len(), significant)
        } else {
            Chunk::Text(run)
        });
        rest = tail;
    }
    chunks
}

/// (section, class, natural order of the tag without `-dev`): sections are plain versions and
/// `latest` (0), `-dev` variants (1), anything else (2); classes within a section are
/// versions (0), `latest` (1), anything else (2).
fn tag_key(tag: &str) -> (u8, u8, Vec<Chunk<'_>>) {
    let (base, dev) = match tag.strip_suffix("-dev") {
        Some(base) if !base.is_empty() => (base, true),
        _ => (tag, false),
    };
    let is_version = base
        .split('.')
        .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
    let class = if is_version {
        0
    } else if base == "latest" {
        1
    } else {
        2
    };
    let section = match (dev, class) {
        (true, _) => 1,
        (false, 0 | 1) => 0,
        (false, _) => 2,
    };
    (section, class, natural(base))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(tags: &[&str]) -> Vec<String> {
        let mut tags: Vec<String> = tags.iter().map(|t| (*t).to_owned()).collect();
        tags.sort_by(|a, b| compare_tags(a, b));
        tags
    }

    #[test]
    fn tags_within_a_row_follow_the_seed_order() {
        let cases: &[(&[&str], &[&str])] = &[
            // The one deliberately ordered row of seed 001 (rust).
            (
                &["latest", "1.77.0", "1", "1.77"],
                &["1", "1.77", "1.77.0", "latest"],
            ),
            // Seed 001's dev row, as listed there, put in order.
            (
                &["1.77-dev", "latest-dev", "1.77.0-dev", "1-dev"],
                &["1-dev", "1.77-dev", "1.77.0-dev", "latest-dev"],
            ),
            (&["1.76.0-dev", "1.76-dev"], &["1.76-dev", "1.76.0-dev"]),
            // Seed 002 (calico-apiserver): v-prefixed versions are "anything else".
            (
                &["v3", "3.28", "3.28.0", "v3.28", "3", "latest", "v3.28.0"],
                &["3", "3.28", "3.28.0", "latest", "v3", "v3.28", "v3.28.0"],
            ),
            (
                &[
                    "v3.28-dev",
                    "3.28-dev",
                    "v3-dev",
                    "v3.28.0-dev",
                    "3.28.0-dev",
                    "latest-dev",
                    "3-dev",
                ],
                &[
                    "3-dev",
                    "3.28-dev",
                    "3.28.0-dev",
                    "latest-dev",
                    "v3-dev",
                    "v3.28-dev",
                    "v3.28.0-dev",
                ],
            ),
            // Numeric, not lexical; plain before latest before -dev before anything else.
            (
                &[
                    "zeta",
                    "1.10",
                    "latest-dev",
                    "1.9-dev",
                    "1.9",
                    "latest",
                    "v1.10",
                    "v1.9",
                    "dev",
                    "-dev",
                ],
                &[
                    "1.9",
                    "1.10",
                    "latest",
                    "1.9-dev",
                    "latest-dev",
                    "-dev",
                    "dev",
                    "v1.9",
                    "v1.10",
                    "zeta",
                ],
            ),
            (&["01", "1", "1.0", "1.00"], &["01", "1", "1.0", "1.00"]),
            (
                &["latest-glibc", "latest", "glibc-dev"],
                &["latest", "glibc-dev", "latest-glibc"],
            ),
        ];
        for (input, want) in cases {
            assert_eq!(sorted(input), *want, "{input:?}");
        }
    }

    fn digest(n: u8) -> Digest {
        Digest::parse(&format!("sha256:{}", format!("{n:02x}").repeat(32))).unwrap()
    }

    #[test]
    fn rows_newest_first_dated_before_undated_then_by_digest() {
        let now: Timestamp = "2024-06-03T00:00:00Z".parse().unwrap();
        let at = |s: &str| Some(s.parse::<Timestamp>().unwrap());
        let groups = group(vec![
            ("b".into(), digest(2), None),
            ("old".into(), digest(3), at("2024-05-01T00:00:00Z")),
            ("a".into(), digest(1), None),
            ("latest".into(), digest(4), at("2024-06-01T10:00:00Z")),
            ("1".into(), digest(4), at("2024-05-31T10:00:00Z")),
            ("new".into(), digest(5), at("2024-06-02T00:00:00Z")),
        ]);
        let rows: Vec<(Vec<String>, Option<String>)> = groups
            .iter()
            .map(|g| {
                let date = g.last_changed.map(|t| crate::report::human_date(t, now));
                (g.tags.clone(), date)
            })
            .collect();
        assert_eq!(
            rows,
            vec![
                (vec!["new".to_owned()], Some("June 2nd".to_owned())),
                // The earliest move onto the digest dates the row.
                (
                    vec!["1".to_owned(), "latest".to_owned()],
                    Some("May 31st".to_owned())
                ),
                (vec!["old".to_owned()], Some("May 1st".to_owned())),
                (vec!["a".to_owned()], None),
                (vec!["b".to_owned()], None),
            ]
        );
        assert_eq!(groups[1].last_changed, at("2024-05-31T10:00:00Z"));
    }

    #[test]
    fn pin_line_uses_the_users_spelling() {
        let reference = Reference::parse("cgr.dev/chainguard/rust:ignored").unwrap();
        let groups = vec![TagGroup {
            digest: digest(7),
            last_changed: None,
            tags: vec!["1".into(), "latest".into()],
        }];
        assert_eq!(
            pin_line(&reference, &groups, "latest").unwrap(),
            format!("cgr.dev/chainguard/rust:latest@{}", digest(7))
        );
        let python = Reference::parse("python").unwrap();
        assert_eq!(
            pin_line(&python, &groups, "1").unwrap(),
            format!("python:1@{}", digest(7))
        );
        assert!(matches!(
            pin_line(&python, &groups, "2"),
            Err(TagsError::TagNotListed { .. })
        ));
    }
}

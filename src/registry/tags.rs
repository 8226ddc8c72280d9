//! Listing a repository's tags: `GET /v2/NAME/tags/list` → `{"name": …, "tags": […]}`,
//! following pagination to the end.
//!
//! The first request carries no `n` unless the caller asks for a page size: the registry picks
//! its own (some reject an `n` above their maximum), and we follow its
//! `Link: <…>; rel="next"` headers, which carry `n` and `last` for us. A link may be relative
//! or absolute; either way only its path and query are used, on the registry's own endpoint, so
//! credentials never go to another host (registries behind a proxy often advertise an internal
//! address). A link that leaves the repository's tag list, one already fetched (a loop), or more
//! than [`MAX_PAGES`] pages end the listing with an error rather than a silently partial list.
//!
//! Every tag is checked against the tag grammar before it can reach a URL or an output.

use std::collections::HashSet;

use reqwest::header::{HeaderMap, LINK};
use reqwest::{Method, Url};

use super::error::truncate;
use super::{Client, RegistryError};
use crate::reference::is_tag;

/// The most `tags/list` pages one listing reads (a million tags at 1000 a page).
pub const MAX_PAGES: usize = 1000;

/// Like [`list_tags`], asking for `page_size` tags per page (`n`) when given.
pub async fn list_tags_paged(
    client: &Client,
    registry: &str,
    repository: &str,
    page_size: Option<usize>,
) -> Result<Vec<String>, RegistryError> {
    let list_path = format!("/v2/{repository}/tags/list");
    let mut path = match page_size {
        Some(n) => format!("{list_path}?n={n}"),
        None => list_path.clone(),
    };
    let base = client.base_url(registry);
    let invalid = |url: &str, detail: String| RegistryError::InvalidResponse {
        registry: registry.to_owned(),
        url: url.to_owned(),
        detail,
    };
    let mut fetched: HashSet<String> = HashSet::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut tags = Vec::new();
    loop {
        let url = format!("{base}{path}");
        if fetched.len() >= MAX_PAGES {
            return Err(invalid(
                &url,
                format!("the tag list goes on for more than {MAX_PAGES} pages"),
            ));
        }
        fetched.insert(path.clone());
        let reply = client
            .request(
                registry,
                repository,
                Method::GET,
                &path,
                Some("application/json"),
            )
            .await?;
        for tag in parse_page(&reply.body).map_err(|detail| invalid(&url, detail))? {
            if !is_tag(&tag) {
                return Err(invalid(
                    &url,
                    format!(
                        "the registry listed an invalid tag {:?}",
                        truncate(&tag, 64)
                    ),
                ));
            }
            if seen.insert(tag.clone()) {
                tags.push(tag);
            }
        }
        let Some(link) = next_link(&reply.headers) else {
            return Ok(tags);
        };
        let next = next_path(&base, &path, &link, &list_path).map_err(|detail| {
            invalid(&url, format!("{detail} (Link: <{}>)", truncate(&link, 200)))
        })?;
        if fetched.contains(&next) {
            return Err(invalid(
                &url,
                format!("tag list pagination loops back to {base}{next}"),
            ));
        }
        path = next;
    }
}

/// The tags of one page. `"tags": null` (what some registries send for an empty repository)
/// is no tags.
fn parse_page(body: &[u8]) -> Result<Vec<String>, String> {
    #[derive(serde::Deserialize)]
    struct Page {
        tags: Option<Vec<String>>,
    }
    let page: Page = serde_json::from_slice(body)
        .map_err(|e| format!("the tag list is not the expected JSON ({e})"))?;
    Ok(page.tags.unwrap_or_default())
}

/// The target of the first `rel="next"` link in the `Link` headers (RFC 8288), verbatim.
fn next_link(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(parse_links)
        .find(|(_, rels)| rels.iter().any(|r| r.eq_ignore_ascii_case("next")))
        .map(|(target, _)| target)
}

/// `<target>; rel="a b"; other=x, <target2>; rel=next` → targets with their relation types.
fn parse_links(value: &str) -> Vec<(String, Vec<String>)> {
    let mut links = Vec::new();
    let mut rest = value;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        let Some(after) = rest.strip_prefix('<') else {
            return links;
        };
        let Some(end) = after.find('>') else {
            return links;
        };
        let target = after[..end].trim().to_owned();
        rest = &after[end + 1..];
        // Parameters run to the next comma outside a quoted string.
        let mut in_quotes = false;
        let mut escaped = false;
        let mut stop = rest.len();
        for (i, c) in rest.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' if in_quotes => escaped = true,
                '"' => in_quotes = !in_quotes,
                ',' if !in_quotes => {
                    stop = i;
                    break;
                }
                _ => {}
            }
        }
        let params = &rest[..stop];
        rest = &rest[stop..];
        let rels = params
            .split(';')
            .filter_map(|p| p.split_once('='))
            .filter(|(key, _)| key.trim().eq_ignore_ascii_case("rel"))
            .flat_map(|(_, value)| {
                value
                    .trim()
                    .trim_matches('"')
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect();
        links.push((target, rels));
    }
}

/// The path and query to request next, relative to the endpoint `base`, from a link found on
/// the page at `current`. The link must stay on `list_path`.
fn next_path(base: &str, current: &str, link: &str, list_path: &str) -> Result<String, String> {
    let here = Url::parse(&format!("{base}{current}"))
        .map_err(|e| format!("cannot resolve the next-page link: {e}"))?;
    let next = here
        .join(link)
        .map_err(|e| format!("invalid next-page link: {e}"))?;
    let prefix = Url::parse(base)
        .map(|b| b.path().trim_end_matches('/').to_owned())
        .unwrap_or_default();
    let path = next.path();
    let path = match path.strip_prefix(prefix.as_str()) {
        Some(rest) if !prefix.is_empty() && rest.starts_with("/v2/") => rest,
        _ => path,
    };
    if path != list_path {
        return Err(format!("the next-page link leaves {list_path}"));
    }
    Ok(match next.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    })
}

/// The tag grammar: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn links(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(LINK, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn next_link_finds_rel_next_in_any_spelling() {
        let cases: &[(&[&str], Option<&str>)] = &[
            (
                &[r#"</v2/a/tags/list?n=10&last=b>; rel="next""#],
                Some("/v2/a/tags/list?n=10&last=b"),
            ),
            (
                &["</v2/a/tags/list?last=b>; rel=next"],
                Some("/v2/a/tags/list?last=b"),
            ),
            (
                &[r#"<https://r.example/v2/a/tags/list?last=b>;rel="NEXT""#],
                Some("https://r.example/v2/a/tags/list?last=b"),
            ),
            (
                &[r#"</first>; rel="first", </x,y>; title="a, b"; rel="prev next""#],
                Some("/x,y"),
            ),
            (
                &[r#"</first>; rel="first""#, r#"</second>; rel="next""#],
                Some("/second"),
            ),
            (&[r#"</v2/a/tags/list?last=b>; rel="prev""#], None),
            (&["garbage"], None),
            (&[], None),
        ];
        for (values, want) in cases {
            assert_eq!(next_link(&links(values)).as_deref(), *want, "{values:?}");
        }
    }

    #[test]
    fn next_path_keeps_to_the_endpoint_and_the_tag_list() {
        let list = "/v2/org/app/tags/list";
        let cases = [
            (
                "http://127.0.0.1:5000",
                "/v2/org/app/tags/list?n=10&last=b",
                Ok("/v2/org/app/tags/list?n=10&last=b"),
            ),
            (
                "http://127.0.0.1:5000",
                "https://internal:5000/v2/org/app/tags/list?last=b",
                Ok("/v2/org/app/tags/list?last=b"),
            ),
            (
                "http://127.0.0.1:5000",
                "list?last=c",
                Ok("/v2/org/app/tags/list?last=c"),
            ),
            (
                "https://mirror.example/prefix",
                "/prefix/v2/org/app/tags/list?last=b",
                Ok("/v2/org/app/tags/list?last=b"),
            ),
            (
                "https://mirror.example/prefix",
                "/v2/org/app/tags/list?last=b",
                Ok("/v2/org/app/tags/list?last=b"),
            ),
            (
                "http://127.0.0.1:5000",
                "/v2/other/tags/list?last=b",
                Err(()),
            ),
            (
                "http://127.0.0.1:5000",
                "/v2/org/app/manifests/latest",
                Err(()),
            ),
        ];
        for (base, link, want) in cases {
            let got = next_path(base, "/v2/org/app/tags/list?n=10", link, list);
            assert_eq!(got.as_deref().map_err(|_| ()), want, "{base} {link}");
        }
    }

    #[test]
    fn pages_parse_with_null_or_missing_tags() {
        assert_eq!(
            parse_page(br#"{"name":"a","tags":["x","y"]}"#).unwrap(),
            ["x", "y"]
        );
        assert!(
            parse_page(br#"{"name":"a","tags":null}"#)
                .unwrap()
                .is_empty()
        );
        assert!(parse_page(br#"{"name":"a"}"#).unwrap().is_empty());
        assert!(parse_page(b"<html>").is_err());
        assert!(parse_page(br#"{"tags":[1]}"#).is_err());
    }

    #[test]
    fn tags_must_follow_the_grammar() {
        for good in ["latest", "1.77.0-dev", "_x", "A-b_c.9"] {
            assert!(is_tag(good), "{good}");
        }
        for bad in ["", ".x", "-x", "a/b", "../x", "a b", &"x".repeat(129)] {
            assert!(!is_tag(bad), "{bad}");
        }
    }
}

//! `digestpin tags IMAGE`: a repository's tags grouped by current digest, against the Tag
//! History emulator and Debian's real `docker-registry` on 127.0.0.1 (never the internet).
//!
//! Each scenario runs twice: through the library (`tag_groups`, `pin_tag`, the renderers) and
//! through the CLI (`digestpin tags …`, exit code + stdout + stderr). Requests are counted from
//! the emulator's log. The golden tables are `fixtures/tags/expected.{md,txt,json}`; set
//! `DIGESTPIN_BLESS=1` to rewrite them.
//!
//! A small front server sits before the emulator where a test needs what the emulator does
//! not do: paginating `tags/list` on its own (no `n` from the client, absolute `Link` URLs, as
//! registries with a default page size do), and canned `tags/list` answers (no tags, a loop).

use crate::support::cli;
use crate::support::emulator;
use crate::support::registry;

use std::collections::HashMap;
use std::net::TcpListener as StdTcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use assert_cmd::Command;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use digestpin::digest::Digest;
use digestpin::reference::Reference;
use digestpin::registry::credentials::CredentialStore;
use digestpin::registry::tags::list_tags_paged;
use digestpin::registry::{Client, ClientOptions, Endpoints};
use digestpin::report::{tags_json, tags_markdown, tags_text};
use digestpin::tag_groups::{self as tags, TagGroup, TagsError};
use emulator::{Emulator, Entry, Fault, Kind};
use jiff::{SignedDuration, Timestamp};
use registry::{ImageKind, Registry};

const REPO: &str = "chainguard/rust";
const IMAGE: &str = "cgr.dev/chainguard/rust";
/// The library tests' clock; every history entry lies within 31 days of it, so each tag costs
/// exactly one history request.
const NOW: &str = "2024-01-10T12:00:00Z";

/// The repository: 30 tags in 6 rows. Each row is a digest and its tags, each tag with how many
/// minutes before now it moved to that digest (`slim-1.76` and `v1` moved later than their
/// row-mates: the row is dated by the earliest move).
const ROWS: [(&str, &[(&str, i64)]); 6] = [
    // 2024-01-09T03:10Z
    (
        "rust-1.77.1",
        &[
            ("1", 1970),
            ("1.77", 1970),
            ("1.77.1", 1970),
            ("latest", 1970),
            ("v1", 1860),
            ("v1.77", 1970),
            ("v1.77.1", 1970),
        ],
    ),
    // 2024-01-09T03:25Z
    (
        "rust-1.77.1-dev",
        &[
            ("1-dev", 1955),
            ("1.77-dev", 1955),
            ("1.77.1-dev", 1955),
            ("latest-dev", 1955),
            ("v1-dev", 1955),
            ("v1.77-dev", 1955),
            ("v1.77.1-dev", 1955),
        ],
    ),
    // 2024-01-05T03:00Z
    ("rust-1.77.0", &[("1.77.0", 7740), ("v1.77.0", 7740)]),
    // 2024-01-05T04:00Z
    (
        "rust-1.77.0-dev",
        &[("1.77.0-dev", 7680), ("v1.77.0-dev", 7680)],
    ),
    // 2023-12-28T02:00Z (slim-1.76 at 09:30)
    (
        "rust-1.76.10",
        &[
            ("1.76", 19320),
            ("1.76.9", 19320),
            ("1.76.10", 19320),
            ("v1.76", 19320),
            ("v1.76.10", 19320),
            ("slim-1.76", 18870),
        ],
    ),
    // 2023-12-20T02:00Z
    (
        "rust-1.76.10-dev",
        &[
            ("1.76-dev", 30840),
            ("1.76.9-dev", 30840),
            ("1.76.10-dev", 30840),
            ("v1.76-dev", 30840),
            ("v1.76.10-dev", 30840),
            ("slim-1.76-dev", 30840),
        ],
    ),
];

fn digest_of(name: &str) -> String {
    emulator::sha256_digest(name.as_bytes())
}

/// Serves [`ROWS`] as `REPO` relative to `now`: per tag an older build three days before the
/// move, then the move. Returns what each tag resolves to: (tag, digest, moved at).
fn seed(emu: &Emulator, now: Timestamp) -> Vec<(String, Digest, Option<Timestamp>)> {
    let mut resolved = Vec::new();
    for (name, tags) in ROWS {
        let digest = digest_of(name);
        for &(tag, minutes) in tags {
            let moved = now - SignedDuration::from_mins(minutes);
            let older = moved - SignedDuration::from_hours(72);
            emu.set_history(
                REPO,
                tag,
                vec![
                    Entry::new(older.to_string(), digest_of(&format!("{tag}-older"))),
                    Entry::new(moved.to_string(), digest.clone()),
                ],
            );
            resolved.push((tag.to_owned(), Digest::parse(&digest).unwrap(), Some(moved)));
        }
    }
    assert_eq!(resolved.len(), 30);
    resolved
}

fn now() -> Timestamp {
    NOW.parse().unwrap()
}

fn client_for(url: &str) -> Client {
    let mut endpoints = Endpoints::default();
    endpoints.add(&format!("cgr.dev={url}")).unwrap();
    let options = ClientOptions {
        jobs: 4,
        endpoints,
        ..ClientOptions::default()
    };
    Client::new(options, CredentialStore::default()).unwrap()
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

fn reference(text: &str) -> Reference {
    Reference::parse(text).unwrap()
}

type Renderer = fn(&[TagGroup], jiff::Timestamp, &mut dyn std::io::Write) -> std::io::Result<()>;

fn render(groups: &[TagGroup], f: Renderer) -> String {
    render_at(groups, now(), f)
}

fn render_at(groups: &[TagGroup], now: jiff::Timestamp, f: Renderer) -> String {
    let mut out = Vec::new();
    f(groups, now, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// JSON has no "now": its dates are RFC 3339.
fn json(
    groups: &[TagGroup],
    _now: jiff::Timestamp,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    tags_json(groups, out)
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/tags")
        .join(name)
}

fn assert_golden(name: &str, actual: &str) {
    let path = fixture(name);
    if std::env::var_os("DIGESTPIN_BLESS").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        actual,
        expected,
        "{} (DIGESTPIN_BLESS=1 rewrites it)",
        path.display()
    );
}

/// Requests by kind, from the emulator's log.
fn counts(emu: &Emulator) -> HashMap<&'static str, usize> {
    Kind::ALL
        .iter()
        .map(|k| (k.name(), emu.count(*k)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

fn expected_counts(pages: usize, histories: usize) -> HashMap<&'static str, usize> {
    // One ping (`/v2/`, "other"), one token for the repository, the pages, one per tag.
    HashMap::from([
        ("other", 1),
        ("token", 1),
        ("tags_list", pages),
        ("history", histories),
    ])
}

// ---------------------------------------------------------------------------------------------
// Library.

#[test]
fn thirty_tags_in_six_rows_across_three_pages_match_the_golden_tables() {
    let emu = Emulator::start();
    let resolved = seed(&emu, now());
    let client = client_for(&emu.url());
    let groups = block_on(tags::tag_groups_paged(
        &client,
        &reference(IMAGE),
        None,
        8,
        now(),
        Some(10),
    ))
    .unwrap();

    assert_eq!(groups.len(), 6);
    assert_eq!(groups.iter().map(|g| g.tags.len()).sum::<usize>(), 30);
    assert_eq!(groups, tags::group(resolved));
    let rows: Vec<(&str, String)> = groups
        .iter()
        .map(|g| {
            let date = digestpin::report::human_date(g.last_changed.unwrap(), now());
            (g.tags[0].as_str(), date)
        })
        .collect();
    assert_eq!(
        rows.iter()
            .map(|(t, d)| (*t, d.as_str()))
            .collect::<Vec<_>>(),
        [
            ("1-dev", "January 9th"),
            ("1", "January 9th"),
            ("1.77.0-dev", "January 5th"),
            ("1.77.0", "January 5th"),
            ("1.76", "December 28th, 2023"),
            ("1.76-dev", "December 20th, 2023"),
        ]
    );
    assert_eq!(
        groups[1].tags,
        ["1", "1.77", "1.77.1", "latest", "v1", "v1.77", "v1.77.1"]
    );
    assert_eq!(
        groups[1].last_changed,
        Some("2024-01-09T03:10:00Z".parse().unwrap()),
        "dated by the earliest move (v1 moved later)"
    );

    assert_golden("expected.md", &render(&groups, tags_markdown));
    assert_golden("expected.txt", &render(&groups, tags_text));
    assert_golden("expected.json", &render(&groups, json));

    // Three pages of ten, each page asked for exactly once, then one request per tag.
    let pages: Vec<Option<String>> = emu
        .requests()
        .into_iter()
        .filter(|r| r.kind == Kind::TagsList)
        .map(|r| r.query)
        .collect();
    assert_eq!(
        pages,
        [
            Some("n=10".to_owned()),
            Some("n=10&last=1.77-dev".to_owned()),
            Some("n=10&last=v1-dev".to_owned()),
        ]
    );
    assert_eq!(counts(&emu), expected_counts(3, 30));
    let mut asked: Vec<String> = emu
        .requests()
        .into_iter()
        .filter(|r| r.kind == Kind::History)
        .map(|r| r.path.rsplit('/').next().unwrap().to_owned())
        .collect();
    asked.sort();
    asked.dedup();
    assert_eq!(asked.len(), 30, "each tag's history, once");
}

#[test]
fn a_registry_paging_on_its_own_with_absolute_links_is_followed_to_the_end() {
    let emu = Emulator::start();
    let resolved = seed(&emu, now());
    let front = Front::start(&emu.url(), 10, Vec::new());
    let client = client_for(&front.url);
    let groups = block_on(tags::tag_groups(&client, &reference(IMAGE), None, 4, now())).unwrap();
    assert_eq!(groups, tags::group(resolved));
    assert_eq!(counts(&emu), expected_counts(3, 30));
    let log = front.log();
    let lists: Vec<&String> = log.iter().filter(|p| p.contains("/tags/list")).collect();
    assert_eq!(
        lists,
        [
            "/v2/chainguard/rust/tags/list",
            "/v2/chainguard/rust/tags/list?n=10&last=1.77-dev",
            "/v2/chainguard/rust/tags/list?n=10&last=v1-dev",
        ],
        "no n from the client; the absolute next links, on the same endpoint"
    );
}

#[test]
fn filter_keeps_matching_tags_and_pin_resolves_one_tag() {
    let emu = Emulator::start();
    seed(&emu, now());
    let client = client_for(&emu.url());
    let dev = regex::Regex::new("-dev$").unwrap();
    let groups = block_on(tags::tag_groups(
        &client,
        &reference(IMAGE),
        Some(&dev),
        4,
        now(),
    ))
    .unwrap();
    assert_eq!(groups.len(), 3);
    assert!(
        groups
            .iter()
            .flat_map(|g| &g.tags)
            .all(|t| t.ends_with("-dev"))
    );
    assert_eq!(groups[0].tags[0], "1-dev");
    assert_eq!(
        emu.count(Kind::History),
        15,
        "only the tags kept are looked up"
    );

    emu.clear_requests();
    let client = client_for(&emu.url());
    let line = block_on(tags::pin_tag(
        &client,
        &reference(&format!("{IMAGE}:ignored")),
        "1.77",
        None,
        now(),
    ))
    .unwrap();
    assert_eq!(line, format!("{IMAGE}:1.77@{}", digest_of("rust-1.77.1")));
    assert_eq!(counts(&emu), expected_counts(1, 1));

    let missing = block_on(tags::pin_tag(
        &client,
        &reference(IMAGE),
        "9.9",
        None,
        now(),
    ));
    assert_eq!(
        missing.unwrap_err().to_string(),
        "cgr.dev/chainguard/rust: no tag \"9.9\" in the repository's tag list"
    );
    let filtered = block_on(tags::pin_tag(
        &client,
        &reference(IMAGE),
        "1.77",
        Some(&dev),
        now(),
    ));
    assert!(
        matches!(filtered, Err(TagsError::TagNotListed { .. })),
        "{filtered:?}"
    );

    let none = regex::Regex::new("^nightly").unwrap();
    let err = block_on(tags::tag_groups(
        &client,
        &reference(IMAGE),
        Some(&none),
        4,
        now(),
    ))
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "cgr.dev/chainguard/rust: none of its 30 tags matches the filter \"^nightly\""
    );
}

#[test]
fn listing_failures_are_told_apart() {
    let emu = Emulator::start();
    seed(&emu, now());
    let front = Front::start(
        &emu.url(),
        10,
        vec![
            (
                "/v2/chainguard/empty/tags/list",
                r#"{"name":"chainguard/empty","tags":[]}"#,
                None,
            ),
            (
                "/v2/chainguard/null/tags/list",
                r#"{"name":"chainguard/null","tags":null}"#,
                None,
            ),
            (
                "/v2/chainguard/loop/tags/list",
                r#"{"name":"chainguard/loop","tags":["a"]}"#,
                Some(r#"</v2/chainguard/loop/tags/list?n=1&last=a>; rel="next""#),
            ),
            (
                "/v2/chainguard/bad/tags/list",
                r#"{"name":"chainguard/bad","tags":["ok","../../etc"]}"#,
                None,
            ),
        ],
    );
    let groups = |image: &str| {
        let client = client_for(&front.url);
        block_on(tags::tag_groups(&client, &reference(image), None, 4, now()))
    };
    let message = |image: &str| groups(image).unwrap_err().to_string();

    for image in ["cgr.dev/chainguard/empty", "cgr.dev/chainguard/null"] {
        assert_eq!(
            message(image),
            format!("{image}: the repository has no tags")
        );
    }
    let missing = message("cgr.dev/chainguard/nope");
    assert!(
        missing.starts_with(
            "cgr.dev/chainguard/nope: repository not found in cgr.dev (404 NAME_UNKNOWN from http://"
        ),
        "{missing}"
    );
    let looping = message("cgr.dev/chainguard/loop");
    assert!(looping.contains("pagination loops back to"), "{looping}");
    let bad = message("cgr.dev/chainguard/bad");
    assert!(bad.contains("invalid tag \"../../etc\""), "{bad}");

    emu.inject("/tags/list", Fault::Status(403), 1);
    let denied = message(IMAGE);
    assert!(
        denied.starts_with(
            "cgr.dev/chainguard/rust: cgr.dev does not allow listing this repository's tags (403 DENIED from http://"
        ),
        "{denied}"
    );
    emu.inject("/tags/list", Fault::Status(401), 2);
    let unauthorized = groups(IMAGE).unwrap_err();
    assert!(
        matches!(&unauthorized, TagsError::ListingDenied { detail, .. } if detail.starts_with("401 UNAUTHORIZED")),
        "{unauthorized}"
    );
}

#[test]
fn a_tag_that_cannot_be_resolved_fails_the_table_naming_it() {
    let emu = Emulator::start();
    seed(&emu, now());
    emu.inject("/history/slim-1.76?", Fault::Status(403), 1);
    let client = client_for(&emu.url());
    let err = block_on(tags::tag_groups(&client, &reference(IMAGE), None, 4, now())).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("cgr.dev/chainguard/rust:slim-1.76: access denied (403 DENIED)"),
        "{text}"
    );
    assert!(!text.contains("more tag"), "{text}");

    // Several failures: the first in display order is named, the rest counted.
    emu.inject("/history/v1?", Fault::Status(403), 1);
    emu.inject("/history/1.76.9?", Fault::Status(403), 1);
    let err = block_on(tags::tag_groups(&client, &reference(IMAGE), None, 4, now())).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("cgr.dev/chainguard/rust:1.76.9: access denied (403 DENIED)")
            && text.ends_with(" (and 1 more tag failed)"),
        "{text}"
    );
}

#[test]
fn docker_registry_tags_sharing_a_manifest_form_one_row() {
    let Some(reg) = Registry::start_or_skip("docker_registry_tags_sharing_a_manifest", None) else {
        return;
    };
    let expected = push_shared(&reg);
    let client = Client::new(ClientOptions::default(), CredentialStore::default()).unwrap();
    let image = format!("{}/demo/app", reg.host());
    let groups = block_on(tags::tag_groups(
        &client,
        &reference(&image),
        None,
        4,
        now(),
    ))
    .unwrap();
    assert_eq!(rows_of(&groups), expected);
    assert!(groups.iter().all(|g| g.last_changed.is_none()));

    // distribution 2.8 ignores `n` on tags/list: everything in one page (in no order), no Link.
    let before = client.request_count();
    let mut listed = block_on(list_tags_paged(&client, &reg.host(), "demo/app", Some(2))).unwrap();
    assert_eq!(client.request_count() - before, 1);
    listed.sort();
    let mut all: Vec<String> = expected.iter().flat_map(|(_, t)| t.clone()).collect();
    all.sort();
    assert_eq!(listed, all);

    let missing = block_on(tags::tag_groups(
        &client,
        &reference(&format!("{}/demo/nope", reg.host())),
        None,
        4,
        now(),
    ));
    assert!(
        matches!(missing, Err(TagsError::NotFound { .. })),
        "{missing:?}"
    );
}

#[test]
fn docker_registry_with_auth_refuses_listing_without_credentials() {
    let Some(reg) =
        Registry::start_or_skip("docker_registry_refuses_listing", Some(("ci", "s3cret")))
    else {
        return;
    };
    reg.push("demo/app", "1.0", ImageKind::OciManifest);
    let client = Client::new(ClientOptions::default(), CredentialStore::default()).unwrap();
    let image = format!("{}/demo/app", reg.host());
    let err = block_on(tags::tag_groups(
        &client,
        &reference(&image),
        None,
        4,
        now(),
    ))
    .unwrap_err();
    assert!(
        matches!(&err, TagsError::ListingDenied { detail, .. } if detail.starts_with("401")),
        "{err}"
    );
}

/// Pushes `demo/app`: one OCI index under `1`, `1.0`, `latest`; a Docker manifest list under
/// `2.0`, `2`; an OCI manifest under `old` alone. Returns the rows expected, digest order.
fn push_shared(reg: &Registry) -> Vec<(String, Vec<String>)> {
    let mut rows = Vec::new();
    for (kind, salt, tags) in [
        (ImageKind::OciIndex, "one", &["1.0", "1", "latest"][..]),
        (ImageKind::DockerManifestList, "two", &["2.0", "2"][..]),
        (ImageKind::OciManifest, "old", &["old"][..]),
    ] {
        let pushed = reg.push_full("demo/app", tags[0], kind, salt);
        for tag in &tags[1..] {
            let url = format!("{}/v2/demo/app/manifests/{tag}", reg.url());
            let resp = reg
                .request(reqwest::Method::PUT, &url)
                .header(reqwest::header::CONTENT_TYPE, pushed.media_type)
                .body(pushed.manifest.clone())
                .send()
                .unwrap();
            assert_eq!(resp.status().as_u16(), 201, "PUT {url}");
        }
        let mut tags: Vec<String> = tags.iter().map(|t| (*t).to_owned()).collect();
        tags.sort_by(|a, b| tags::compare_tags(a, b));
        rows.push((pushed.digest, tags));
    }
    rows.sort();
    rows
}

fn rows_of(groups: &[TagGroup]) -> Vec<(String, Vec<String>)> {
    groups
        .iter()
        .map(|g| (g.digest.to_string(), g.tags.clone()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// CLI.

fn digestpin(endpoint: &str) -> Command {
    let dir = std::env::temp_dir();
    let mut cmd = cli::isolated(&dir, &dir.join("digestpin-tags-no-cache"));
    cmd.env("DIGESTPIN_ENDPOINTS", format!("cgr.dev={endpoint}"))
        .arg("tags");
    cmd
}

fn stdout_of(output: &std::process::Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// The CLI runs on the real clock: seed the emulator relative to it, and expect exactly what
/// the library renders for those rows.
#[test]
fn cli_prints_the_grouped_table_in_every_format_across_three_pages() {
    let emu = Emulator::start();
    let now = Timestamp::from_second(Timestamp::now().as_second()).unwrap();
    let groups = tags::group(seed(&emu, now));
    let front = Front::start(&emu.url(), 10, Vec::new());

    let formats: [(&str, Renderer); 3] = [
        ("markdown", tags_markdown),
        ("text", tags_text),
        ("json", json),
    ];
    for (format, renderer) in formats {
        emu.clear_requests();
        let out = digestpin(&front.url)
            .args([IMAGE, "--format", format])
            .assert()
            .success()
            .stderr("");
        assert_eq!(
            stdout_of(out.get_output()),
            render_at(&groups, now, renderer),
            "{format}"
        );
        assert_eq!(counts(&emu), expected_counts(3, 30), "{format}");
    }
    // The default is the terminal table.
    let out = digestpin(&front.url).arg(IMAGE).assert().success();
    assert_eq!(
        stdout_of(out.get_output()),
        render_at(&groups, now, tags_text)
    );
}

#[test]
fn cli_filter_and_pin() {
    let emu = Emulator::start();
    let now = Timestamp::from_second(Timestamp::now().as_second()).unwrap();
    seed(&emu, now);
    let out = digestpin(&emu.url())
        .args([IMAGE, "--filter", r"^1\.77\.0", "--format", "json"])
        .assert()
        .success();
    let json: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let rows: Vec<&serde_json::Value> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["tags"])
        .collect();
    assert_eq!(
        rows,
        [
            &serde_json::json!(["1.77.0-dev"]),
            &serde_json::json!(["1.77.0"])
        ]
    );

    emu.clear_requests();
    digestpin(&emu.url())
        .args([IMAGE, "--pin", "latest-dev"])
        .assert()
        .success()
        .stdout(format!(
            "{IMAGE}:latest-dev@{}\n",
            digest_of("rust-1.77.1-dev")
        ))
        .stderr("");
    assert_eq!(counts(&emu), expected_counts(1, 1));

    digestpin(&emu.url())
        .args([IMAGE, "--pin", "9.9"])
        .assert()
        .code(2)
        .stdout("")
        .stderr("error: cgr.dev/chainguard/rust: no tag \"9.9\" in the repository's tag list\n");
    digestpin(&emu.url())
        .args([IMAGE, "--filter", "^nightly"])
        .assert()
        .code(2)
        .stdout("");
    digestpin(&emu.url())
        .args([IMAGE, "--filter", "("])
        .assert()
        .code(2)
        .stdout("");
}

#[test]
fn cli_errors_exit_2_with_a_clear_message() {
    let emu = Emulator::start();
    seed(&emu, now());
    let front = Front::start(
        &emu.url(),
        10,
        vec![(
            "/v2/chainguard/empty/tags/list",
            r#"{"name":"chainguard/empty","tags":[]}"#,
            None,
        )],
    );
    let stderr = |image: &str| {
        let out = digestpin(&front.url).arg(image).assert().code(2).stdout("");
        String::from_utf8(out.get_output().stderr.clone()).unwrap()
    };
    assert_eq!(
        stderr("cgr.dev/chainguard/empty"),
        "error: cgr.dev/chainguard/empty: the repository has no tags\n"
    );
    let missing = stderr("cgr.dev/chainguard/nope");
    assert!(
        missing.starts_with(
            "error: cgr.dev/chainguard/nope: repository not found in cgr.dev (404 NAME_UNKNOWN"
        ),
        "{missing}"
    );
    emu.inject("/tags/list", Fault::Status(403), 1);
    let denied = stderr(IMAGE);
    assert!(
        denied.starts_with("error: cgr.dev/chainguard/rust: cgr.dev does not allow listing this repository's tags (403 DENIED"),
        "{denied}"
    );
    emu.inject("/history/1.76.9?", Fault::Status(403), 1);
    let tag = stderr(IMAGE);
    assert!(
        tag.starts_with("error: cgr.dev/chainguard/rust:1.76.9: access denied (403 DENIED)"),
        "{tag}"
    );
    let invalid = stderr("cgr.dev/Chainguard/rust");
    assert!(invalid.contains("invalid reference"), "{invalid}");
}

#[test]
fn cli_docker_registry_groups_tags_sharing_a_manifest() {
    let Some(reg) = Registry::start_or_skip("cli_docker_registry_groups_tags", None) else {
        return;
    };
    let expected = push_shared(&reg);
    let image = format!("{}/demo/app", reg.host());
    let out = digestpin(&reg.url())
        .env_remove("DIGESTPIN_ENDPOINTS")
        .args([&image, "--format", "json"])
        .assert()
        .success()
        .stderr("");
    let json: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let rows: Vec<(String, Vec<String>)> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["last_changed"], serde_json::Value::Null);
            (
                r["digest"].as_str().unwrap().to_owned(),
                serde_json::from_value(r["tags"].clone()).unwrap(),
            )
        })
        .collect();
    assert_eq!(rows, expected);
    let (index, _) = expected
        .iter()
        .find(|(_, tags)| tags.iter().any(|t| t == "1"))
        .unwrap();
    digestpin(&reg.url())
        .env_remove("DIGESTPIN_ENDPOINTS")
        .args([&image, "--pin", "1"])
        .assert()
        .success()
        .stdout(format!("{image}:1@{index}\n"));
}

// ---------------------------------------------------------------------------------------------
// The front server.

/// A canned `tags/list` answer: path, body, `Link` header.
type Canned = (&'static str, &'static str, Option<&'static str>);

struct FrontState {
    upstream: String,
    own_url: String,
    page: usize,
    canned: Vec<Canned>,
    http: reqwest::Client,
    log: std::sync::Mutex<Vec<String>>,
}

/// Forwards everything to the emulator, except that `tags/list` without `n` is asked for in
/// pages of `page` and its `Link`s come back absolute, and canned paths are answered directly.
struct Front {
    url: String,
    state: Arc<FrontState>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Front {
    fn start(upstream: &str, page: usize, canned: Vec<Canned>) -> Front {
        let listener = StdTcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(FrontState {
            upstream: upstream.to_owned(),
            own_url: url.clone(),
            page,
            canned,
            http: reqwest::Client::new(),
            log: std::sync::Mutex::default(),
        });
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let shared = state.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app = axum::Router::new().fallback(forward).with_state(shared);
                let server = axum::serve(listener, app);
                tokio::select! {
                    _ = async move { server.await } => {}
                    _ = rx => {}
                }
            });
        });
        Front {
            url,
            state,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// Every path and query received, in order.
    fn log(&self) -> Vec<String> {
        self.state.log.lock().unwrap().clone()
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn forward(
    State(state): State<Arc<FrontState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    state.log.lock().unwrap().push(target.clone());
    if let Some((_, body, link)) = state.canned.iter().find(|(path, ..)| *path == uri.path()) {
        let mut resp = (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            *body,
        )
            .into_response();
        if let Some(link) = link {
            resp.headers_mut()
                .insert(header::LINK, HeaderValue::from_static(link));
        }
        return resp;
    }
    let mut upstream = format!("{}{target}", state.upstream);
    if uri.path().ends_with("/tags/list") && uri.query().is_none_or(|q| !q.contains("n=")) {
        let sep = if uri.query().is_some() { '&' } else { '?' };
        upstream.push_str(&format!("{sep}n={}", state.page));
    }
    let mut request = state.http.request(method, &upstream).body(body);
    for name in [header::AUTHORIZATION, header::ACCEPT] {
        if let Some(value) = headers.get(&name) {
            request = request.header(name, value);
        }
    }
    let Ok(reply) = request.send().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let status = reply.status();
    let mut out = HeaderMap::new();
    for (name, value) in reply.headers() {
        if name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING {
            continue;
        }
        if name == header::LINK {
            let text =
                value
                    .to_str()
                    .unwrap_or("")
                    .replacen("</", &format!("<{}/", state.own_url), 1);
            out.insert(name.clone(), HeaderValue::from_str(&text).unwrap());
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    let bytes = reply.bytes().await.unwrap_or_default();
    (status, out, bytes).into_response()
}

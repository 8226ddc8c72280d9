//! One retry budget per logical request, through the CLI against the emulator on 127.0.0.1:
//! a 429 with `Retry-After: 1`, then a 503, then success, on each request type (the `/v2/`
//! ping, `/token`, a manifest, a history page), with the exact requests asserted from the
//! emulator's log; a budget that runs out; a `Retry-After` beyond the cap; and a garbled
//! history body that costs one attempt of the same budget, never a nested loop.

use crate::support::{cli, emulator};

use std::path::Path;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use emulator::{Emulator, Entry, Fault, Kind};
use predicates::prelude::*;

/// The first attempt and three retries.
const BUDGET: usize = 4;

/// `digestpin` with cgr.dev and Docker Hub routed to the emulator.
fn digestpin(dir: &Path, emu: &Emulator) -> Command {
    let mut cmd = cli::digestpin(dir);
    cmd.env(
        "DIGESTPIN_ENDPOINTS",
        format!("cgr.dev={0},docker.io={0}", emu.url()),
    );
    cmd
}

/// A week of nightly builds ending an hour ago, newest last.
fn nightly(emu: &Emulator, repo: &str, tag: &str) -> Vec<Entry> {
    let start = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * 7 + 1);
    emu.generate_history(
        repo,
        tag,
        8,
        &start.to_string(),
        Duration::from_secs(3600 * 24),
    )
}

/// The next two requests whose path contains `path` get a 429 with `Retry-After: 1`, then a
/// 503.
fn rate_limit_then_503(emu: &Emulator, path: &str) {
    emu.inject(
        path,
        Fault::TooManyRequests {
            retry_after_secs: 1,
        },
        1,
    );
    emu.inject(path, Fault::Status(503), 1);
}

fn kinds(emu: &Emulator) -> Vec<Kind> {
    emu.requests().iter().map(|r| r.kind).collect()
}

#[test]
fn ping_token_and_history_each_spend_one_budget_on_429_then_503_then_succeed() {
    let emu = Emulator::start();
    let entries = nightly(&emu, "chainguard/go", "latest");
    // Requests of one `resolve` go one after another: the ping first, so the first two
    // requests matching `/v2/` are ping attempts.
    rate_limit_then_503(&emu, "/v2/");
    rate_limit_then_503(&emu, "/token");
    rate_limit_then_503(&emu, "/_chainguard/history/");
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = digestpin(dir.path(), &emu)
        .args(["resolve", "cgr.dev/chainguard/go:latest", "-v"])
        .assert()
        .success()
        .stdout(format!(
            "cgr.dev/chainguard/go:latest@{}\n",
            entries.last().unwrap().digest
        ));
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "each Retry-After: 1 honoured"
    );
    use Kind::{History, Other, Token};
    assert_eq!(
        kinds(&emu),
        [
            Other, Other, Other, Token, Token, Token, History, History, History
        ],
        "{:#?}",
        emu.requests()
    );
    // Every retry is logged at -v, naming the URL, the attempt, the wait and why.
    let stderr = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    let retries: Vec<&str> = stderr.lines().filter(|l| l.contains("retrying")).collect();
    assert_eq!(retries.len(), 6, "{stderr}");
    for (i, path) in [
        "/v2/",
        "/token",
        "/v2/chainguard/go/_chainguard/history/latest",
    ]
    .iter()
    .enumerate()
    {
        let url = format!("{}{path}", emu.url());
        let first = retries[2 * i];
        let second = retries[2 * i + 1];
        assert!(first.contains(&url) && second.contains(&url), "{stderr}");
        assert!(first.contains("attempt=2") && first.contains("wait_ms=1000"));
        assert!(first.contains("429"), "{first}");
        assert!(
            second.contains("attempt=3") && second.contains("503"),
            "{second}"
        );
    }
}

#[test]
fn a_manifest_head_spends_one_budget_on_429_then_503_then_succeeds() {
    let emu = Emulator::start();
    let entries = nightly(&emu, "chainguard/go", "latest");
    rate_limit_then_503(&emu, "/manifests/");
    let dir = tempfile::tempdir().unwrap();
    digestpin(dir.path(), &emu)
        .args(["resolve", "docker.io/chainguard/go:latest"])
        .assert()
        .success()
        .stdout(format!(
            "docker.io/chainguard/go:latest@{}\n",
            entries.last().unwrap().digest
        ));
    assert_eq!(emu.count(Kind::Manifest), 3, "{:#?}", emu.requests());
    assert_eq!(emu.count(Kind::Token), 1);
    assert_eq!(emu.count(Kind::Other), 1, "one ping");
    assert_eq!(emu.count(Kind::History), 0);
}

#[test]
fn a_spent_budget_fails_naming_the_url_and_the_last_status() {
    let emu = Emulator::start();
    nightly(&emu, "chainguard/go", "latest");
    emu.inject("/_chainguard/history/", Fault::Status(502), 2);
    emu.inject("/_chainguard/history/", Fault::Status(503), 100);
    let dir = tempfile::tempdir().unwrap();
    digestpin(dir.path(), &emu)
        .args(["resolve", "cgr.dev/chainguard/go:latest"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains("registry error (503"))
        .stderr(predicate::str::contains(format!(
            "{}/v2/chainguard/go/_chainguard/history/latest",
            emu.url()
        )));
    assert_eq!(emu.count(Kind::History), BUDGET, "{:#?}", emu.requests());
    assert_eq!(emu.count(Kind::Token), 1);
    assert_eq!(emu.count(Kind::Other), 1);
}

#[test]
fn a_retry_after_beyond_the_cap_fails_at_once_instead_of_waiting() {
    let emu = Emulator::start();
    nightly(&emu, "chainguard/go", "latest");
    emu.inject(
        "/_chainguard/history/",
        Fault::TooManyRequests {
            retry_after_secs: 3600,
        },
        1,
    );
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    digestpin(dir.path(), &emu)
        .args(["resolve", "cgr.dev/chainguard/go:latest"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("rate limited by registry (429"));
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(emu.count(Kind::History), 1, "{:#?}", emu.requests());
}

#[test]
fn a_garbled_history_body_costs_one_attempt_then_succeeds() {
    let emu = Emulator::start();
    let entries = nightly(&emu, "chainguard/go", "latest");
    emu.inject("/_chainguard/history/", Fault::TruncatedJson, 1);
    let dir = tempfile::tempdir().unwrap();
    digestpin(dir.path(), &emu)
        .args(["resolve", "cgr.dev/chainguard/go:latest"])
        .assert()
        .success()
        .stdout(format!(
            "cgr.dev/chainguard/go:latest@{}\n",
            entries.last().unwrap().digest
        ));
    assert_eq!(emu.count(Kind::History), 2, "{:#?}", emu.requests());
}

#[test]
fn garbled_bodies_and_503s_share_one_budget_instead_of_nesting() {
    let emu = Emulator::start();
    nightly(&emu, "chainguard/go", "latest");
    // Before, each garbled body restarted a request that retried 503s on its own: up to 16
    // requests for one page. Now the page has four attempts, whatever fails.
    emu.inject("/_chainguard/history/", Fault::TruncatedJson, 1);
    emu.inject("/_chainguard/history/", Fault::Status(503), 1);
    emu.inject("/_chainguard/history/", Fault::TruncatedJson, 1);
    emu.inject("/_chainguard/history/", Fault::Status(503), 100);
    let dir = tempfile::tempdir().unwrap();
    digestpin(dir.path(), &emu)
        .args(["resolve", "cgr.dev/chainguard/go:latest"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("registry error (503"));
    assert_eq!(emu.count(Kind::History), BUDGET, "{:#?}", emu.requests());

    // Only garbled bodies: the same four attempts, and the error says what was wrong.
    emu.clear_faults();
    emu.clear_requests();
    emu.inject("/_chainguard/history/", Fault::TruncatedJson, 100);
    digestpin(dir.path(), &emu)
        .args(["resolve", "cgr.dev/chainguard/go:latest"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("tag history is not valid JSON"))
        .stderr(predicate::str::contains(format!(
            "{}/v2/chainguard/go/_chainguard/history/latest",
            emu.url()
        )));
    assert_eq!(emu.count(Kind::History), BUDGET, "{:#?}", emu.requests());
}

#[test]
fn a_404_is_not_retried() {
    let emu = Emulator::start();
    nightly(&emu, "chainguard/go", "latest");
    emu.inject("/_chainguard/history/", Fault::Status(404), 1);
    let dir = tempfile::tempdir().unwrap();
    digestpin(dir.path(), &emu)
        .args(["resolve", "cgr.dev/chainguard/go:latest"])
        .assert()
        .code(2);
    assert_eq!(emu.count(Kind::History), 1, "{:#?}", emu.requests());
}

//! The config file through the CLI: `exclude` and `[[ignore]]` honoured by `list` and `pin`,
//! found from a subdirectory, named with `--config`, errors naming file:line and key, and
//! flags winning over it. Registries are the emulator on 127.0.0.1.

use crate::support::cli;
use crate::support::emulator;

use std::path::{Path, PathBuf};
use std::time::Duration;

use emulator::{Emulator, Entry};
use predicates::prelude::*;
use serde_json::Value;

const HOUR: Duration = Duration::from_secs(3600);

fn write(dir: &Path, rel: &str, contents: &str) -> PathBuf {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, contents).expect("write");
    path
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).expect("read")
}

fn json(output: &[u8]) -> Value {
    serde_json::from_slice(output).expect("stdout is one JSON document")
}

/// A week of nightly builds ending an hour ago, newest last.
fn nightly(emu: &Emulator, repo: &str, tag: &str) -> Vec<Entry> {
    let start = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * 7 + 1);
    emu.generate_history(repo, tag, 8, &start.to_string(), 24 * HOUR)
}

const APP: &str = "FROM cgr.dev/chainguard/python:latest\nFROM cgr.dev/chainguard/go:latest\n";
const VENDOR: &str = "FROM cgr.dev/chainguard/python:latest\n";

/// A git repository whose config excludes `vendor/` and ignores every `chainguard/go` image.
fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(".git")).unwrap();
    write(
        dir.path(),
        ".digestpin.toml",
        "exclude = [\"vendor/\"]\n\n\
         [[ignore]]\nimage = \"cgr.dev/chainguard/go:*\"\nreason = \"pinned by the platform team\"\n",
    );
    write(dir.path(), "app/Dockerfile", APP);
    write(dir.path(), "vendor/lib/Dockerfile", VENDOR);
    dir
}

#[test]
fn list_honours_exclude_and_ignore_from_the_repository_root_and_a_subdirectory() {
    let dir = repo();
    let out = cli::digestpin(dir.path())
        .args(["list", "--format", "json"])
        .assert()
        .success();
    let doc = json(&out.get_output().stdout);
    let files = doc["files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{doc}");
    assert_eq!(files[0]["path"], "app/Dockerfile");
    assert_eq!(files[0]["refs"][0]["state"], "unpinned");
    assert_eq!(files[0]["refs"][1]["state"], "ignored");
    // Found from a subdirectory too (the nearest parent up to the repository root).
    cli::digestpin(&dir.path().join("app"))
        .arg("list")
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "Dockerfile:2:6: ignored  FROM cgr.dev/chainguard/go:latest (pinned by the platform team)",
        ))
        .stdout(predicate::str::contains("unpinned"));
    // A path named on the command line is read even when `exclude` matches it.
    cli::digestpin(dir.path())
        .args(["list", "vendor/lib/Dockerfile"])
        .assert()
        .success()
        .stdout(predicate::str::contains("vendor/lib/Dockerfile"));
    // --no-config: everything, nothing ignored.
    let out = cli::digestpin(dir.path())
        .args(["list", "--no-config", "--format", "json"])
        .assert()
        .success();
    let doc = json(&out.get_output().stdout);
    assert_eq!(doc["files"].as_array().unwrap().len(), 2, "{doc}");
    assert_eq!(doc["files"][0]["refs"][1]["state"], "unpinned");
}

#[test]
fn pin_honours_exclude_and_ignore_offline_and_online() {
    let dir = repo();
    // Ignored on purpose: no warning about it.
    cli::digestpin(dir.path())
        .args(["pin", "--check", "--offline"])
        .assert()
        .code(1)
        .stdout(
            "app/Dockerfile:1:6: FROM cgr.dev/chainguard/python:latest: not pinned to a digest\n",
        )
        .stderr(predicate::str::contains("warning").not());
    cli::digestpin(dir.path())
        .args(["pin", "--check", "--offline", "--format", "github"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("chainguard/go").not());
    let out = cli::digestpin(dir.path())
        .args(["pin", "--check", "--offline", "--format", "json"])
        .assert()
        .code(1);
    let doc = json(&out.get_output().stdout);
    assert_eq!(doc["files"].as_array().unwrap().len(), 1, "{doc}");
    let refs = &doc["files"][0]["refs"];
    assert_eq!(refs[0]["status"], "pinned");
    assert_eq!(refs[1]["status"], "skipped");
    assert_eq!(refs[1]["reason"], "pinned by the platform team");
    assert_eq!(doc["summary"]["pinned"], 1);

    let emu = Emulator::start();
    let python = nightly(&emu, "chainguard/python", "latest");
    nightly(&emu, "chainguard/go", "latest");
    cli::digestpin(dir.path())
        .args(["pin", "--endpoint", &format!("cgr.dev={}", emu.url())])
        .assert()
        .success();
    assert_eq!(
        read(&dir.path().join("app/Dockerfile")),
        format!(
            "FROM cgr.dev/chainguard/python:latest@{}\nFROM cgr.dev/chainguard/go:latest\n",
            python.last().unwrap().digest
        )
    );
    assert_eq!(read(&dir.path().join("vendor/lib/Dockerfile")), VENDOR);
    let asked: Vec<String> = emu.requests().iter().map(|r| r.path.clone()).collect();
    assert!(
        !asked.iter().any(|p| p.contains("chainguard/go")),
        "an ignored image is never looked up: {asked:?}"
    );
}

#[test]
fn a_typo_or_a_bad_value_is_exit_2_naming_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "Dockerfile", "FROM alpine:3.20\n");
    write(
        dir.path(),
        ".digestpin.toml",
        "exclude = [\"vendor/\"]\n# keep going\nkeep-pined = true\n",
    );
    for args in [&["list"][..], &["pin", "--check", "--offline"]] {
        cli::digestpin(dir.path())
            .args(args)
            .assert()
            .code(2)
            .stdout("")
            .stderr(predicate::str::starts_with(
                "error: .digestpin.toml:3: unknown key `keep-pined`, expected one of",
            ));
    }
    write(dir.path(), ".digestpin.toml", "\nmin-age = \"soon\"\n");
    cli::digestpin(dir.path())
        .arg("list")
        .assert()
        .code(2)
        .stderr(predicate::str::starts_with(
            "error: .digestpin.toml:2: min-age: invalid duration \"soon\"",
        ));
    write(dir.path(), ".digestpin.toml", "[[ignore]]\npath = \"a/\"\n");
    cli::digestpin(dir.path())
        .arg("list")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("missing field `image`"));
    cli::digestpin(dir.path())
        .args(["list", "--config", "nowhere.toml"])
        .assert()
        .code(2)
        .stderr("error: nowhere.toml: cannot read: no such file or directory\n");
}

#[test]
fn flags_and_environment_win_over_the_config() {
    let emu = Emulator::start();
    let entries = nightly(&emu, "chainguard/python", "latest");
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "Dockerfile",
        "FROM cgr.dev/chainguard/python:latest\n",
    );
    // Named with --config, from outside the tree; its endpoint is the emulator.
    let elsewhere = tempfile::tempdir().unwrap();
    let config = write(
        elsewhere.path(),
        "team.toml",
        &format!(
            "min-age = \"3d\"\ndigest-only = true\nkeep-pinned = true\n\
             [endpoints]\n\"cgr.dev\" = \"{}\"\n",
            emu.url()
        ),
    );
    let config = config.to_str().unwrap();
    cli::digestpin(dir.path())
        .args(["pin", "--config", config])
        .assert()
        .success();
    // min-age 3d: entries are 7d1h … 1h old, the newest at least 3 days old is index 4.
    assert_eq!(
        read(&file),
        format!("FROM cgr.dev/chainguard/python@{}\n", entries[4].digest)
    );
    // keep-pinned = true: the stale pin is left alone …
    write(
        dir.path(),
        "Dockerfile",
        "FROM cgr.dev/chainguard/python:latest\n",
    );
    cli::digestpin(dir.path())
        .args([
            "pin",
            "--config",
            config,
            "--no-digest-only",
            "--min-age",
            "0s",
        ])
        .assert()
        .success();
    let fresh = format!(
        "FROM cgr.dev/chainguard/python:latest@{}\n",
        entries[7].digest
    );
    assert_eq!(read(&file), fresh);
    let stale = format!(
        "FROM cgr.dev/chainguard/python:latest@{}\n",
        entries[2].digest
    );
    write(dir.path(), "Dockerfile", &stale);
    // keep-pinned = true: the stale pin is left alone …
    cli::digestpin(dir.path())
        .args(["pin", "--config", config, "--check"])
        .assert()
        .success();
    // … unless --no-keep-pinned says otherwise.
    cli::digestpin(dir.path())
        .args(["pin", "--config", config, "--check", "--no-keep-pinned"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("stale digest"));
    // An --endpoint (or DIGESTPIN_ENDPOINTS) for the same registry wins over [endpoints].
    let dead = "min-age = \"3d\"\n[endpoints]\n\"cgr.dev\" = \"http://127.0.0.1:1\"\n";
    let dead_config = write(elsewhere.path(), "dead.toml", dead);
    let dead_config = dead_config.to_str().unwrap();
    cli::digestpin(dir.path())
        .args(["pin", "--config", dead_config, "--check", "--timeout", "5s"])
        .assert()
        .code(2);
    cli::digestpin(dir.path())
        .args(["pin", "--config", dead_config, "--check"])
        .env("DIGESTPIN_ENDPOINTS", format!("cgr.dev={}", emu.url()))
        .assert()
        .code(1);
    cli::digestpin(dir.path())
        .args(["pin", "--config", dead_config, "--check"])
        .args(["--endpoint", &format!("cgr.dev={}", emu.url())])
        .assert()
        .code(1);
}

#[test]
fn kinds_without_dockerfile_reads_no_dockerfile() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "Dockerfile", "FROM alpine:3.20\n");
    write(
        dir.path(),
        ".digestpin.toml",
        "kinds = [\"compose\", \"kubernetes\"]\n",
    );
    cli::digestpin(dir.path())
        .args(["list", "--format", "json"])
        .assert()
        .success()
        .stdout(predicate::str::contains("\"files\": []"));
    write(dir.path(), ".digestpin.toml", "kinds = [\"dockerfile\"]\n");
    cli::digestpin(dir.path())
        .arg("list")
        .assert()
        .success()
        .stdout("Dockerfile:1:6: unpinned FROM alpine:3.20\n");
}

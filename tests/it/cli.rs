//! The command-line contract for `list` and `pin --check --offline`: exit codes, stdout and
//! stderr together, JSON shape, output order, and files left untouched.

use std::path::Path;

use crate::support::cli;

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn digestpin(dir: &Path) -> Command {
    cli::digestpin(dir)
}

fn write(dir: &Path, rel: &str, contents: &[u8]) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, contents).expect("write");
}

fn json(output: &[u8]) -> Value {
    serde_json::from_slice(output).expect("stdout is one JSON document")
}

#[test]
fn list_walks_the_current_directory_in_sorted_order_with_relative_paths() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "b/Dockerfile",
        b"FROM cgr.dev/chainguard/go:latest\n",
    );
    write(
        dir.path(),
        "a/app.dockerfile",
        b"FROM alpine:3.20 AS base\nCOPY --from=base /a /b\n",
    );
    write(dir.path(), "Containerfile", b"FROM scratch\n");
    write(dir.path(), "notes.txt", b"FROM ignored:1\n");
    digestpin(dir.path())
        .arg("list")
        .assert()
        .success()
        .stdout(
            "Containerfile:1:6: scratch  FROM scratch\n\
             a/app.dockerfile:1:6: unpinned FROM alpine:3.20\n\
             a/app.dockerfile:2:13: stage    COPY base\n\
             b/Dockerfile:1:6: unpinned FROM cgr.dev/chainguard/go:latest\n",
        )
        .stderr("");
}

#[test]
fn list_json_has_the_documented_shape() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "Dockerfile",
        b"# syntax=docker/dockerfile:1\nFROM cgr.dev/chainguard/go:latest\n",
    );
    let out = digestpin(dir.path())
        .args(["list", "--format", "json", "Dockerfile"])
        .assert()
        .success();
    let doc = json(&out.get_output().stdout);
    assert_eq!(
        doc,
        serde_json::json!({"files": [{"path": "Dockerfile", "kind": "dockerfile", "error": null,
            "refs": [{"line": 1, "column": 10, "end_line": 1, "instruction": "syntax",
                      "site": "syntax", "original": "docker/dockerfile:1", "state": "unpinned",
                      "registry": "docker.io", "repository": "docker/dockerfile", "tag": "1",
                      "digest": null},
                     {"line": 2, "column": 6, "end_line": 2, "instruction": "FROM",
                      "site": "FROM", "original": "cgr.dev/chainguard/go:latest", "state": "unpinned",
                      "registry": "cgr.dev", "repository": "chainguard/go", "tag": "latest",
                      "digest": null}]}]})
    );
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let keys: Vec<usize> = [
        "\"line\"",
        "\"column\"",
        "\"end_line\"",
        "\"instruction\"",
        "\"site\"",
        "\"original\"",
        "\"state\"",
        "\"registry\"",
        "\"repository\"",
        "\"tag\"",
        "\"digest\"",
    ]
    .iter()
    .map(|k| text.find(k).expect("key present"))
    .collect();
    assert!(
        keys.windows(2).all(|w| w[0] < w[1]),
        "keys in documented order"
    );
}

#[test]
fn missing_file_is_an_error_but_other_files_are_still_listed() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "Dockerfile", b"FROM alpine:3\n");
    digestpin(dir.path())
        .args(["list", "missing/Dockerfile", "Dockerfile"])
        .assert()
        .code(2)
        .stdout("Dockerfile:1:6: unpinned FROM alpine:3\n")
        .stderr("error: missing/Dockerfile: no such file or directory\n");
}

#[test]
fn directory_without_dockerfiles_warns_and_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "src/main.rs", b"fn main() {}\n");
    digestpin(dir.path())
        .args(["list", "src"])
        .assert()
        .success()
        .stdout("")
        .stderr("warning: src: no Dockerfile, Compose, GitHub Actions, GitLab CI or Kubernetes files found\n");
    digestpin(dir.path())
        .args(["pin", "--check", "--offline", "src"])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "warning: src: no Dockerfile, Compose, GitHub Actions, GitLab CI or Kubernetes files found",
        ));
}

#[test]
fn bad_input_is_reported_with_file_and_line_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "utf8/Dockerfile",
        b"FROM alpine:3\nRUN echo \xff\xfe\n",
    );
    write(dir.path(), "nul/Dockerfile", b"FROM alpine:3\n\0\0\0");
    write(
        dir.path(),
        "heredoc/Dockerfile",
        b"FROM alpine:3\nRUN <<EOF\necho hi\n",
    );
    write(
        dir.path(),
        "grammar/Dockerfile",
        b"FROM alpine:3\nFROM cgr.dev/Chainguard/Python:latest\n",
    );
    write(
        dir.path(),
        "escape/Dockerfile",
        b"# escape=x\nFROM alpine:3\n",
    );
    let before: Vec<Vec<u8>> = ["utf8", "nul", "heredoc", "grammar", "escape"]
        .iter()
        .map(|d| std::fs::read(dir.path().join(d).join("Dockerfile")).unwrap())
        .collect();
    digestpin(dir.path())
        .arg("list")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("error: utf8/Dockerfile:2: not valid UTF-8 text"))
        .stderr(predicate::str::contains("error: nul/Dockerfile:2: contains a NUL byte"))
        .stderr(predicate::str::contains("error: heredoc/Dockerfile:2: unterminated heredoc <<EOF"))
        .stderr(predicate::str::contains("error: escape/Dockerfile:1: invalid escape token"))
        .stdout(predicate::str::contains(
            "grammar/Dockerfile:2:6: invalid  FROM cgr.dev/Chainguard/Python:latest (repository name must be lowercase)",
        ))
        .stderr(predicate::str::contains(
            "error: grammar/Dockerfile:2:6: cgr.dev/Chainguard/Python:latest: invalid reference: repository name must be lowercase",
        ));
    digestpin(dir.path())
        .args(["pin", "--check", "--offline", "grammar"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "error: grammar/Dockerfile:2:6: cgr.dev/Chainguard/Python:latest: invalid reference: repository name must be lowercase",
        ));
    let after: Vec<Vec<u8>> = ["utf8", "nul", "heredoc", "grammar", "escape"]
        .iter()
        .map(|d| std::fs::read(dir.path().join(d).join("Dockerfile")).unwrap())
        .collect();
    assert_eq!(before, after, "no file is modified");
}

#[test]
fn check_offline_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let pinned = format!(
        "FROM cgr.dev/chainguard/go:latest@sha256:{HEX} AS build\nFROM scratch\nCOPY --from=build /a /a\n"
    );
    write(dir.path(), "ok/Dockerfile", pinned.as_bytes());
    write(
        dir.path(),
        "bad/Dockerfile",
        b"FROM alpine:3.20\r\nRUN true\r\n",
    );
    digestpin(dir.path())
        .args(["pin", "--check", "--offline", "ok"])
        .assert()
        .success()
        .stdout("")
        .stderr("digestpin: 0 of 1 image reference not pinned in 0 of 1 file (1 pinned, 0 skipped, 0 errors)\n");
    digestpin(dir.path())
        .args(["pin", "--check", "--offline", "--quiet", "ok", "bad"])
        .assert()
        .code(1)
        .stdout("bad/Dockerfile:1:6: FROM alpine:3.20: not pinned to a digest\n")
        .stderr("");
}

#[test]
fn check_offline_json_reports_what_would_happen() {
    let dir = tempfile::tempdir().unwrap();
    let src = format!(
        "ARG BASE=cgr.dev/chainguard/python:latest\nFROM ${{BASE}} AS a\nFROM img:1@sha256:{HEX}\n# digestpin: ignore\nFROM vendored:1\nFROM ${{REG}}/x:1\n"
    );
    write(dir.path(), "Dockerfile", src.as_bytes());
    let out = digestpin(dir.path())
        .args(["pin", "--check", "--offline", "--format", "json"])
        .assert()
        .code(1);
    let doc = json(&out.get_output().stdout);
    let file = &doc["files"][0];
    assert_eq!(file["path"], "Dockerfile");
    assert_eq!(file["changed"], false);
    let statuses: Vec<(&str, &str, Value)> = file["refs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["instruction"].as_str().unwrap(),
                r["status"].as_str().unwrap(),
                r["reason"].clone(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ("ARG", "pinned", Value::Null),
            ("FROM", "unchanged", Value::Null),
            ("FROM", "skipped", "ignored".into()),
            ("FROM", "skipped", "variable".into()),
        ]
    );
    assert_eq!(file["refs"][1]["digest_before"], format!("sha256:{HEX}"));
    assert_eq!(
        doc["summary"],
        serde_json::json!({"files": 1, "refs": 4, "pinned": 1, "updated": 0, "unchanged": 1, "young": 0, "missing": 0, "skipped": 2, "errors": 0})
    );
}

#[test]
fn check_offline_changes_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let src = b"\xEF\xBB\xBFFROM alpine:3.20 \r\n# comment\r\nRUN true";
    write(dir.path(), "Dockerfile", src);
    digestpin(dir.path())
        .args(["pin", "--check", "--offline"])
        .assert()
        .code(1);
    assert_eq!(std::fs::read(dir.path().join("Dockerfile")).unwrap(), src);
}

#[test]
fn explicitly_named_files_are_read_whatever_their_name() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "build/base.txt", b"FROM alpine:3\n");
    digestpin(dir.path())
        .args(["list", "build/base.txt"])
        .assert()
        .success()
        .stdout("build/base.txt:1:6: unpinned FROM alpine:3\n");
}

#[test]
fn help_shows_examples_for_every_command() {
    for cmd in ["list", "pin"] {
        let dir = tempfile::tempdir().unwrap();
        digestpin(dir.path())
            .args([cmd, "--help"])
            .assert()
            .success()
            .stdout(predicate::str::contains("Examples:"))
            .stdout(predicate::str::contains("Exit codes"));
    }
    let dir = tempfile::tempdir().unwrap();
    digestpin(dir.path()).arg("--bogus").assert().code(2);
}

#[test]
fn completions_and_man_page() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, marker) in [
        ("bash", "_digestpin()"),
        ("zsh", "#compdef digestpin"),
        ("fish", "complete -c digestpin"),
    ] {
        digestpin(dir.path())
            .args(["completions", shell])
            .assert()
            .success()
            .stdout(predicate::str::contains(marker))
            .stdout(predicate::str::contains("keep-pinned"));
    }
    digestpin(dir.path())
        .arg("man")
        .assert()
        .success()
        .stdout(predicate::str::starts_with(".ie"))
        .stdout(predicate::str::contains(".SH NAME"));
}

#[test]
fn check_offline_github_annotations() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "Dockerfile", b"FROM alpine:3.20\n");
    digestpin(dir.path())
        .env_remove("GITHUB_STEP_SUMMARY")
        .args(["pin", "--check", "--offline", "--format", "github"])
        .assert()
        .code(1)
        .stdout("::error file=Dockerfile,line=1,col=6,title=digestpin::alpine:3.20 is not pinned to a digest\n");
}

#[test]
fn report_flag_writes_the_json_document_beside_any_format() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "Dockerfile", b"FROM alpine:3.20\n");
    digestpin(dir.path())
        .args([
            "pin",
            "--check",
            "--offline",
            "--format",
            "github",
            "--report",
            "report.json",
        ])
        .assert()
        .code(1)
        .stdout(predicate::str::starts_with("::error "));
    let doc = json(&std::fs::read(dir.path().join("report.json")).unwrap());
    assert_eq!(doc["summary"]["pinned"], 1);
    assert_eq!(doc["files"][0]["refs"][0]["status"], "pinned");
}

#[test]
fn list_says_why_it_exits_2_on_an_invalid_reference() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "Dockerfile", b"FROM alpine:3\nFROM Alpine:3\n");
    let error =
        "error: Dockerfile:2:6: Alpine:3: invalid reference: repository name must be lowercase\n";
    digestpin(dir.path())
        .arg("list")
        .assert()
        .code(2)
        .stdout(predicate::str::contains(
            "Dockerfile:2:6: invalid  FROM Alpine:3",
        ))
        .stderr(error);
    digestpin(dir.path())
        .args(["list", "--format", "json"])
        .assert()
        .code(2)
        .stdout(predicate::str::contains("\"state\": \"invalid\""))
        .stderr(error);
}

#[test]
fn diff_with_offline_is_an_argument_error_not_a_silent_check() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "Dockerfile", b"FROM alpine:3\n");
    for args in [
        &["pin", "--diff", "--offline"][..],
        &["pin", "--dry-run", "--offline"],
        &["pin", "--offline"],
    ] {
        digestpin(dir.path())
            .args(args)
            .assert()
            .code(2)
            .stdout("")
            .stderr(predicate::str::starts_with("error: "))
            .stderr(predicate::str::contains("Usage: digestpin pin"));
    }
    digestpin(dir.path())
        .args(["pin", "--diff", "--offline"])
        .assert()
        .stderr(predicate::str::contains(
            "'--diff' cannot be used with '--offline'",
        ));
}

/// The long options `digestpin ARGS --help` lists.
fn long_options(args: &[&str]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let out = digestpin(dir.path())
        .args(args)
        .arg("--help")
        .assert()
        .success();
    let help = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let mut options: Vec<String> = help
        .split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == ']')
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| w.split(['=', '<']).next().unwrap().to_owned())
        .filter(|w| w.len() > 2 && w[2..].bytes().all(|b| b.is_ascii_lowercase() || b == b'-'))
        .collect();
    options.sort();
    options.dedup();
    options
}

#[test]
fn man_page_covers_every_command_option_env_var_exit_code_and_file_kind() {
    let dir = tempfile::tempdir().unwrap();
    let out = digestpin(dir.path()).arg("man").assert().success();
    let page = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    // roff writes `-` as `\-`.
    let plain = page.replace("\\-", "-");
    let commands = [
        "pin",
        "list",
        "history",
        "resolve",
        "tags",
        "completions",
        "man",
    ];
    let mut checked = 0;
    for command in commands {
        assert!(
            page.contains(&format!(".SH \"DIGESTPIN {}\"", command.to_uppercase())),
            "a section for {command}"
        );
        for option in long_options(&[command]) {
            assert!(
                plain.contains(option.as_str()),
                "{command} {option} in the man page"
            );
            checked += 1;
        }
    }
    assert!(checked > 30, "options were found in --help ({checked})");
    for needle in [
        "DIGESTPIN_ENDPOINTS",
        "DIGESTPIN_CACHE_DIR",
        "DOCKER_CONFIG",
        "CHAINGUARD_IDENTITY_ID",
        "CHAINGUARD_TOKEN",
        "NO_COLOR",
        "GITHUB_STEP_SUMMARY",
        ".SH \"EXIT STATUS\"",
        ".SH ENVIRONMENT",
        ".SH FILES",
        "Containerfile",
        "*.dockerfile",
        ".digestpin.toml",
        "# syntax=",
        "digestpin: ignore",
    ] {
        assert!(plain.contains(needle), "{needle} in the man page");
    }
    assert_eq!(page.matches(".TH ").count(), 1, "one page");
    assert_eq!(page.matches(".ie \\n(.g").count(), 1, "one preamble");
}

#[test]
fn readme_completion_and_man_install_commands_work_on_a_fresh_home() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let (_, rest) = readme
        .split_once("### Completions and man page\n\n```sh\n")
        .expect("the README's install snippet");
    let (snippet, _) = rest.split_once("```").unwrap();
    let home = tempfile::tempdir().unwrap();
    let bin = cli::bin();
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut bash = std::process::Command::new("bash");
    let out = cli::isolate(
        &mut bash,
        home.path(),
        &home.path().join(".digestpin-cache"),
    )
    .args(["-euo", "pipefail", "-c", snippet])
    .env("HOME", home.path())
    .env("PATH", path)
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{snippet}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (file, marker) in [
        (
            ".local/share/bash-completion/completions/digestpin",
            "_digestpin()",
        ),
        (".zfunc/_digestpin", "#compdef digestpin"),
        (
            ".config/fish/completions/digestpin.fish",
            "complete -c digestpin",
        ),
        (".local/share/man/man1/digestpin.1", ".SH \"EXIT STATUS\""),
    ] {
        let text = std::fs::read_to_string(home.path().join(file)).unwrap();
        assert!(text.contains(marker), "{file}");
    }
}

//! `pin --format sarif` and `--format gitlab` through the CLI, online (the emulator on
//! 127.0.0.1) and `--offline`: SARIF validated against the SARIF 2.1.0 schema kept in
//! tests/schemas (with `check-jsonschema` from `$DIGESTPIN_PYTHON`'s environment, as
//! tests/integrations.rs finds it), GitLab Code Quality checked field by field, and
//! fingerprints identical across runs.

use crate::support::cli;
use crate::support::{emulator, skip};

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use emulator::{Emulator, Entry};
use predicates::prelude::*;
use serde_json::Value;

const HOUR: Duration = Duration::from_secs(3600);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `check-jsonschema` beside `$DIGESTPIN_PYTHON` (else the checkout's .venv). Missing: a
/// failure under CI, a loud skip elsewhere.
fn check_jsonschema() -> Option<PathBuf> {
    let python = std::env::var_os("DIGESTPIN_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv/bin/python"));
    let tool = python.parent().map(|d| d.join("check-jsonschema"))?;
    if tool.is_file() {
        return Some(tool);
    }
    let msg = format!(
        "{} is not available: run scripts/test (it installs tests/requirements.txt into .venv), \
         or point DIGESTPIN_PYTHON at an interpreter that has it",
        tool.display()
    );
    skip::missing(msg);
    None
}

fn write(dir: &Path, rel: &str, contents: &str) -> PathBuf {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, contents).expect("write");
    path
}

fn nightly(emu: &Emulator, repo: &str, tag: &str) -> Vec<Entry> {
    let start = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * 7 + 1);
    emu.generate_history(repo, tag, 8, &start.to_string(), 24 * HOUR)
}

/// A tree with one unpinned, one stale and one current reference (and the same unpinned image
/// twice, in another file under a directory).
struct Tree {
    emu: Emulator,
    dir: tempfile::TempDir,
    python: Vec<Entry>,
    go: Vec<Entry>,
}

fn tree() -> Tree {
    let emu = Emulator::start();
    let python = nightly(&emu, "chainguard/python", "latest");
    let go = nightly(&emu, "chainguard/go", "latest");
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "Dockerfile",
        &format!(
            "# syntax=docker/dockerfile:1\nFROM cgr.dev/chainguard/python:latest AS build\n\
             FROM cgr.dev/chainguard/go:latest@{}\nFROM cgr.dev/chainguard/python:latest@{}\n",
            go[3].digest, python[7].digest
        ),
    );
    write(
        dir.path(),
        "svc dir/app.Dockerfile",
        "FROM cgr.dev/chainguard/python:latest\nFROM cgr.dev/chainguard/python:latest\n",
    );
    nightly(&emu, "docker/dockerfile", "1");
    Tree {
        emu,
        dir,
        python,
        go,
    }
}

fn run(t: &Tree, args: &[&str], code: i32) -> (Value, String) {
    let out = cli::digestpin(t.dir.path())
        .env(
            "DIGESTPIN_ENDPOINTS",
            format!("cgr.dev={0},docker.io={0}", t.emu.url()),
        )
        .args(["pin", "--no-cache"])
        .args(args)
        .assert()
        .code(code);
    let output = out.get_output();
    let doc = serde_json::from_slice(&output.stdout).expect("stdout is one JSON document");
    (doc, String::from_utf8_lossy(&output.stderr).into_owned())
}

fn validate_sarif(t: &Tree, doc: &Value) {
    let Some(tool) = check_jsonschema() else {
        return;
    };
    let file = t.dir.path().join("report.sarif");
    std::fs::write(&file, serde_json::to_vec_pretty(doc).unwrap()).unwrap();
    let out = Command::new(tool)
        .arg("--schemafile")
        .arg(root().join("tests/schemas/sarif-schema-2.1.0.json"))
        .arg(&file)
        .output()
        .expect("run check-jsonschema");
    assert!(
        out.status.success(),
        "SARIF does not validate:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_file(file).unwrap();
}

#[test]
fn sarif_check_online_has_rules_results_fixes_and_validates() {
    let t = tree();
    let (doc, _) = run(&t, &["--check", "--format", "sarif"], 1);
    validate_sarif(&t, &doc);
    assert_eq!(doc["version"], "2.1.0");
    let run0 = &doc["runs"][0];
    let rules: Vec<&str> = run0["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["unpinned", "stale", "missing", "young"]);
    assert_eq!(run0["invocations"][0]["executionSuccessful"], true);
    let results = run0["results"].as_array().unwrap();
    let summary: Vec<(String, String, u64)> = results
        .iter()
        .map(|r| {
            let loc = &r["locations"][0]["physicalLocation"];
            (
                r["ruleId"].as_str().unwrap().to_owned(),
                loc["artifactLocation"]["uri"].as_str().unwrap().to_owned(),
                loc["region"]["startLine"].as_u64().unwrap(),
            )
        })
        .collect();
    let s = |rule: &str, uri: &str, line: u64| (rule.to_owned(), uri.to_owned(), line);
    assert_eq!(
        summary,
        [
            s("unpinned", "Dockerfile", 1),
            s("unpinned", "Dockerfile", 2),
            s("stale", "Dockerfile", 3),
            s("unpinned", "svc%20dir/app.Dockerfile", 1),
            s("unpinned", "svc%20dir/app.Dockerfile", 2),
        ]
    );
    // Each fix, applied to the file's bytes, gives what `pin` writes.
    let original = std::fs::read(t.dir.path().join("Dockerfile")).unwrap();
    let mut fixed = original.clone();
    let mut fixes: Vec<(usize, usize, String)> = results[..3]
        .iter()
        .map(|r| {
            let change = &r["fixes"][0]["artifactChanges"][0];
            assert_eq!(change["artifactLocation"]["uri"], "Dockerfile");
            let rep = &change["replacements"][0];
            (
                rep["deletedRegion"]["byteOffset"].as_u64().unwrap() as usize,
                rep["deletedRegion"]["byteLength"].as_u64().unwrap() as usize,
                rep["insertedContent"]["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    fixes.sort_by_key(|f| std::cmp::Reverse(f.0));
    for (offset, len, text) in fixes {
        fixed.splice(offset..offset + len, text.bytes());
    }
    assert_eq!(
        results[2]["fixes"][0]["artifactChanges"][0]["replacements"][0]["insertedContent"]["text"],
        format!("cgr.dev/chainguard/go:latest@{}", t.go[7].digest)
    );
    assert!(
        results[2]["message"]["text"]
            .as_str()
            .unwrap()
            .contains("stale digest, 4 rebuilds behind")
    );
    cli::digestpin(t.dir.path())
        .env(
            "DIGESTPIN_ENDPOINTS",
            format!("cgr.dev={0},docker.io={0}", t.emu.url()),
        )
        .args(["pin", "--no-cache"])
        .assert()
        .success();
    assert_eq!(
        String::from_utf8(fixed).unwrap(),
        std::fs::read_to_string(t.dir.path().join("Dockerfile")).unwrap()
    );
    assert!(
        String::from_utf8_lossy(&original).contains(&t.python[7].digest),
        "the current pin is no finding"
    );
}

#[test]
fn sarif_offline_and_fingerprints_are_stable_across_runs() {
    let t = tree();
    let (first, _) = run(&t, &["--check", "--offline", "--format", "sarif"], 1);
    validate_sarif(&t, &first);
    let results = first["runs"][0]["results"].as_array().unwrap();
    assert_eq!(
        results.len(),
        4,
        "offline: the four references without a digest"
    );
    assert!(results.iter().all(|r| r["ruleId"] == "unpinned"));
    assert!(
        results.iter().all(|r| r.get("fixes").is_none()),
        "offline there is no digest to put in a fix"
    );
    let prints = |doc: &Value| -> Vec<String> {
        doc["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r["partialFingerprints"]["digestpin/v1"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    let (second, _) = run(&t, &["--check", "--offline", "--format", "sarif"], 1);
    assert_eq!(prints(&first), prints(&second));
    let mut unique = prints(&first);
    unique.dedup();
    assert_eq!(
        unique.len(),
        4,
        "the same image twice in a file: two fingerprints"
    );
    // The online unpinned findings carry the same fingerprints as the offline ones.
    let (online, _) = run(&t, &["--check", "--format", "sarif"], 1);
    let online = prints(&online);
    assert!(prints(&first).iter().all(|p| online.contains(p)));
    // Writing fixes everything: nothing left to report.
    let (written, _) = run(&t, &["--format", "sarif"], 0);
    validate_sarif(&t, &written);
    assert_eq!(written["runs"][0]["results"], serde_json::json!([]));
}

#[test]
fn sarif_reports_errors_as_notifications_and_exits_2() {
    let t = tree();
    write(
        t.dir.path(),
        "bad/Dockerfile",
        "FROM Not:Valid\nFROM cgr.dev/chainguard/missing:1\n",
    );
    let (doc, stderr) = run(&t, &["--check", "--format", "sarif"], 2);
    validate_sarif(&t, &doc);
    let invocation = &doc["runs"][0]["invocations"][0];
    assert_eq!(invocation["executionSuccessful"], false);
    let notes = invocation["toolExecutionNotifications"].as_array().unwrap();
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(
        stderr.contains("error: bad/Dockerfile:1:6: Not:Valid: invalid reference"),
        "{stderr}"
    );
}

fn check_gitlab(doc: &Value) -> Vec<&Value> {
    let issues: Vec<&Value> = doc.as_array().expect("a JSON array").iter().collect();
    for issue in &issues {
        for key in ["description", "check_name", "fingerprint", "severity"] {
            assert!(issue[key].is_string(), "{key} in {issue}");
        }
        assert!(
            ["unpinned", "stale", "missing", "young"]
                .contains(&issue["check_name"].as_str().unwrap())
        );
        assert!(
            ["info", "minor", "major", "critical", "blocker"]
                .contains(&issue["severity"].as_str().unwrap())
        );
        assert!(issue["location"]["path"].is_string(), "{issue}");
        assert!(
            !issue["location"]["path"]
                .as_str()
                .unwrap()
                .starts_with("./")
        );
        assert!(
            issue["location"]["lines"]["begin"]
                .as_u64()
                .is_some_and(|l| l >= 1)
        );
        let print = issue["fingerprint"].as_str().unwrap();
        assert!(print.len() == 64 && print.bytes().all(|b| b.is_ascii_hexdigit()));
    }
    issues
}

#[test]
fn gitlab_code_quality_online_and_offline_with_stable_fingerprints() {
    let t = tree();
    let (online, _) = run(&t, &["--check", "--format", "gitlab"], 1);
    let issues = check_gitlab(&online);
    let checks: Vec<(&str, &str, u64)> = issues
        .iter()
        .map(|i| {
            (
                i["check_name"].as_str().unwrap(),
                i["location"]["path"].as_str().unwrap(),
                i["location"]["lines"]["begin"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        checks,
        [
            ("unpinned", "Dockerfile", 1),
            ("unpinned", "Dockerfile", 2),
            ("stale", "Dockerfile", 3),
            ("unpinned", "svc dir/app.Dockerfile", 1),
            ("unpinned", "svc dir/app.Dockerfile", 2),
        ]
    );
    let (again, _) = run(&t, &["--check", "--format", "gitlab"], 1);
    assert_eq!(
        online, again,
        "identical across runs, fingerprints included"
    );
    let mut prints: Vec<&str> = issues
        .iter()
        .map(|i| i["fingerprint"].as_str().unwrap())
        .collect();
    prints.sort();
    prints.dedup();
    assert_eq!(prints.len(), 5, "one fingerprint per finding");
    let (offline, _) = run(&t, &["--check", "--offline", "--format", "gitlab"], 1);
    assert_eq!(check_gitlab(&offline).len(), 4);
    cli::digestpin(t.dir.path())
        .args([
            "pin",
            "--check",
            "--offline",
            "--format",
            "gitlab",
            "Dockerfile",
        ])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("\"check_name\": \"unpinned\""));
}

/// One file of each YAML kind, each with unpinned references in different quoting styles.
fn yaml_tree() -> Tree {
    let emu = Emulator::start();
    let python = nightly(&emu, "chainguard/python", "latest");
    let go = nightly(&emu, "chainguard/go", "latest");
    let dir = tempfile::tempdir().unwrap();
    let py = "cgr.dev/chainguard/python:latest";
    let go_ref = "cgr.dev/chainguard/go:latest";
    write(
        dir.path(),
        "compose.yaml",
        &format!("services:\n  api:\n    image: \"{py}\"\n  worker: {{image: '{go_ref}'}}\n"),
    );
    write(
        dir.path(),
        ".github/workflows/ci.yml",
        &format!(
            "on: push\r\njobs:\r\n  test:\r\n    container: {py}\r\n    steps:\r\n      \
             - uses: docker://{go_ref}\r\n"
        ),
    );
    write(
        dir.path(),
        ".gitlab-ci.yml",
        &format!("image: {go_ref}\ntest:\n  services:\n    - name: {py}\n  script: [make]\n"),
    );
    write(
        dir.path(),
        "deploy/app.yaml",
        &format!(
            "---\napiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - name: app\n      \
             image: {py} # app\n...\n"
        ),
    );
    Tree {
        emu,
        dir,
        python,
        go,
    }
}

#[test]
fn every_report_format_locates_yaml_references_where_list_finds_them() {
    let t = yaml_tree();
    // Where `list` finds each reference: (path, line, column).
    let out = cli::digestpin(t.dir.path())
        .args(["list", "--format", "json"])
        .output()
        .unwrap();
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut found: Vec<(String, u64, u64)> = Vec::new();
    for file in list["files"].as_array().unwrap() {
        for r in file["refs"].as_array().unwrap() {
            found.push((
                file["path"].as_str().unwrap().to_owned(),
                r["line"].as_u64().unwrap(),
                r["column"].as_u64().unwrap(),
            ));
        }
    }
    let kinds: Vec<&str> = list["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["github-actions", "gitlab-ci", "compose", "kubernetes"]
    );
    assert_eq!(found.len(), 7, "{list}");

    // SARIF: valid, one result per reference at its line and column, and the fixes applied
    // to each file's bytes give exactly what `pin` writes.
    let (sarif, _) = run(&t, &["--check", "--format", "sarif"], 1);
    validate_sarif(&t, &sarif);
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let located: Vec<(String, u64, u64)> = results
        .iter()
        .map(|r| {
            assert_eq!(r["ruleId"], "unpinned");
            let loc = &r["locations"][0]["physicalLocation"];
            (
                loc["artifactLocation"]["uri"].as_str().unwrap().to_owned(),
                loc["region"]["startLine"].as_u64().unwrap(),
                loc["region"]["startColumn"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(located, found);
    let mut fixed: std::collections::BTreeMap<String, Vec<u8>> = Default::default();
    let mut fixes: Vec<(String, usize, usize, String)> = results
        .iter()
        .map(|r| {
            let change = &r["fixes"][0]["artifactChanges"][0];
            let rep = &change["replacements"][0];
            (
                change["artifactLocation"]["uri"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                rep["deletedRegion"]["byteOffset"].as_u64().unwrap() as usize,
                rep["deletedRegion"]["byteLength"].as_u64().unwrap() as usize,
                rep["insertedContent"]["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    fixes.sort_by_key(|f| std::cmp::Reverse(f.1));
    for (uri, offset, len, text) in fixes {
        let bytes = fixed
            .entry(uri.clone())
            .or_insert_with(|| std::fs::read(t.dir.path().join(&uri)).unwrap());
        bytes.splice(offset..offset + len, text.bytes());
    }

    // GitLab Code Quality: one issue per reference, at its file and line.
    let (gitlab, _) = run(&t, &["--check", "--format", "gitlab"], 1);
    let issues: Vec<(String, u64)> = check_gitlab(&gitlab)
        .iter()
        .map(|i| {
            (
                i["location"]["path"].as_str().unwrap().to_owned(),
                i["location"]["lines"]["begin"].as_u64().unwrap(),
            )
        })
        .collect();
    let lines: Vec<(String, u64)> = found.iter().map(|f| (f.0.clone(), f.1)).collect();
    assert_eq!(issues, lines);

    // GitHub workflow commands: one `::error` per reference, at its file, line and column.
    let out = cli::digestpin(t.dir.path())
        .args(["pin", "--check", "--offline", "--format", "github"])
        .assert()
        .code(1);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let annotated: Vec<(String, u64, u64)> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("::error file="))
        .map(|l| {
            let fields: Vec<&str> = l.split(',').take(3).collect();
            (
                fields[0].to_owned(),
                fields[1].trim_start_matches("line=").parse().unwrap(),
                fields[2].trim_start_matches("col=").parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(annotated, found, "{stdout}");

    // `--diff` shows every file and writes nothing; then `pin` writes what the SARIF fixes say.
    let out = cli::digestpin(t.dir.path())
        .env(
            "DIGESTPIN_ENDPOINTS",
            format!("cgr.dev={0},docker.io={0}", t.emu.url()),
        )
        .args(["pin", "--no-cache", "--diff"])
        .assert()
        .code(1);
    let diff = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    for path in fixed.keys() {
        assert!(diff.contains(&format!("+++ b/{path}")), "{path}\n{diff}");
    }
    cli::digestpin(t.dir.path())
        .env(
            "DIGESTPIN_ENDPOINTS",
            format!("cgr.dev={0},docker.io={0}", t.emu.url()),
        )
        .args(["pin", "--no-cache", "-q"])
        .assert()
        .success();
    for (path, bytes) in &fixed {
        assert_eq!(
            String::from_utf8_lossy(bytes),
            std::fs::read_to_string(t.dir.path().join(path)).unwrap(),
            "{path}"
        );
    }
    let pinned = std::fs::read_to_string(t.dir.path().join("compose.yaml")).unwrap();
    assert_eq!(
        pinned,
        format!(
            "services:\n  api:\n    image: \"cgr.dev/chainguard/python:latest@{}\"\n  \
             worker: {{image: 'cgr.dev/chainguard/go:latest@{}'}}\n",
            t.python[7].digest, t.go[7].digest
        )
    );
}

//! The YAML kinds on real files from public repositories (issue 12, "Real files"): compose
//! files, GitHub workflows and actions, Kubernetes manifests, GitLab CI files, and Helm templates
//! and other YAML that no kind keeps, as listed in `fixtures/real/SOURCES.tsv`. The files are not
//! committed (they are other projects' content); `scripts/real-files DIR` rebuilds them from
//! local mirrors of those repositories and `DIGESTPIN_REAL_FILES=DIR` points this test at them.
//! Without it the test is skipped (visibly, and also under CI, which has no mirrors).
//!
//! Walking a copy of the tree, it checks that `list --format json` claims exactly the listed
//! files as their listed kinds (Helm templates and other YAML left out quietly) and every
//! reference it reports is a scalar PyYAML sees at that key path; that `pin` against the
//! emulator (answering for every registry the files name) changes exactly the bytes of the
//! references it pins, each gaining its digest (and `:latest` without a tag), and nothing else;
//! that PyYAML loads the pinned files to the same documents but for those values; that a second
//! `pin` changes nothing; and that `pin --check`, online and offline, then passes.

use crate::support::tree::{copy_tree, relative_files};
use crate::support::{cli, emulator, skip};
use crate::yaml_kinds::{have_pyyaml, oracle, root, stdout};

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;
use emulator::{Emulator, Entry};
use serde_json::Value;

const DAY: Duration = Duration::from_secs(24 * 3600);

/// Kinds in SOURCES.tsv for files that no kind keeps when walking.
const LEFT_OUT: [&str; 2] = ["helm-template", "none"];

/// `fixtures/real/SOURCES.tsv`: the path in the tree (`OWNER+NAME/PATH`) → its listed kind.
fn sources() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(root().join("fixtures/real/SOURCES.tsv")).unwrap();
    let mut sources = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(cols.len(), 4, "SOURCES.tsv: {line}");
        let path = format!("{}/{}", cols[0], cols[2]);
        assert!(
            sources.insert(path, cols[3].to_string()).is_none(),
            "SOURCES.tsv lists {line} twice"
        );
    }
    sources
}

fn run(dir: &Path, endpoints: &str) -> Command {
    let mut cmd = cli::digestpin(dir);
    cmd.env("DIGESTPIN_ENDPOINTS", endpoints);
    cmd
}

fn json(cmd: &mut Command) -> (i32, Value, String) {
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    (
        out.status.code().unwrap_or(-1),
        value,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The byte offset of 1-based `line` and `column` (in characters, a BOM not counted).
fn offset(text: &[u8], line: usize, column: usize) -> usize {
    let start = line_start(text, line);
    let rest = std::str::from_utf8(&text[start..]).unwrap();
    let bom = if line == 1 && rest.starts_with('\u{feff}') {
        3
    } else {
        0
    };
    start
        + bom
        + rest[bom..]
            .char_indices()
            .nth(column - 1)
            .map_or(rest.len() - bom, |(i, _)| i)
}

/// The offset where 1-based `line` starts.
fn line_start(text: &[u8], line: usize) -> usize {
    if line == 1 {
        return 0;
    }
    text.iter()
        .enumerate()
        .filter(|&(_, &b)| b == b'\n')
        .nth(line - 2)
        .map_or(text.len(), |(i, _)| i + 1)
}

/// Registers in `emu` every (repository, tag) the listed references ask for: a tag without a
/// digest gets a fresh history, a pinned one has its own digest as the newest entry (so that
/// pinning keeps it and `--check` finds it current), a digest without a tag is served under a
/// tag of its own. Returns the `DIGESTPIN_ENDPOINTS` value that sends every registry named to
/// `emu`.
fn serve(emu: &Emulator, list: &Value) -> String {
    let refs: Vec<&Value> = list["files"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["refs"].as_array().unwrap())
        .filter(|r| matches!(r["state"].as_str(), Some("unpinned" | "pinned")))
        .collect();
    let mut registries = BTreeSet::new();
    let mut tags = BTreeSet::new();
    let mut pins: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for r in &refs {
        registries.insert(r["registry"].as_str().unwrap().to_string());
        let repo = r["repository"].as_str().unwrap().to_string();
        let tag = r["tag"].as_str().unwrap_or("digest-only").to_string();
        match r["digest"].as_str() {
            None => {
                tags.insert((repo, tag));
            }
            Some(digest) => {
                pins.entry((repo, tag))
                    .or_default()
                    .insert(digest.to_string());
            }
        }
    }
    for (repo, tag) in &tags {
        emu.generate_history(repo, tag, 2, "2024-05-30T12:00:00Z", DAY);
    }
    for ((repo, tag), digests) in &pins {
        assert_eq!(
            digests.len(),
            1,
            "{repo}:{tag} is pinned to different digests: the emulator cannot keep both current"
        );
        let digest = digests.first().unwrap();
        emu.append_history(
            repo,
            tag,
            vec![Entry::new("2024-06-02T00:00:00Z", digest.clone())],
        );
    }
    registries
        .iter()
        .map(|r| format!("{r}={}", emu.url()))
        .collect::<Vec<_>>()
        .join(",")
}

/// One listed file after `pin`: its byte-exact expected contents, the oracle, the counts.
fn check_file(
    real: &Path,
    dir: &Path,
    file: &Value,
    pinned: Option<&Value>,
    outcome: &[Value],
    counts: &mut BTreeMap<String, usize>,
) {
    let path = file["path"].as_str().unwrap();
    *counts.entry("files".into()).or_default() += 1;
    let refs = file["refs"].as_array().unwrap();
    for r in refs {
        *counts
            .entry(format!("list {}", r["state"].as_str().unwrap()))
            .or_default() += 1;
    }
    for r in outcome {
        let status = r["status"].as_str().unwrap();
        *counts.entry(format!("pin {status}")).or_default() += 1;
        assert!(
            matches!(status, "pinned" | "unchanged" | "skipped"),
            "{path}: {r}"
        );
    }
    let pins: Vec<&Value> = outcome.iter().filter(|r| r["status"] == "pinned").collect();
    assert_eq!(
        pins.len(),
        refs.iter().filter(|r| r["state"] == "unpinned").count(),
        "{path}: every unpinned reference listed is pinned"
    );

    // The expected bytes: each reference pinned gains its digest (and `:latest` without a
    // tag) right after its text; every other byte is the original's.
    let original = std::fs::read(real.join(path)).unwrap();
    let now = std::fs::read(dir.join(path)).unwrap();
    let mut inserts = Vec::new();
    for r in &pins {
        let text = r["original"].as_str().unwrap();
        let line = r["line"].as_u64().unwrap() as usize;
        let at = offset(&original, line, r["column"].as_u64().unwrap() as usize);
        assert_eq!(
            original.get(at..at + text.len()),
            Some(text.as_bytes()),
            "{path}: {r}"
        );
        let reference = digestpin::reference::Reference::parse(text).unwrap();
        let latest = if reference.tag().is_none() {
            ":latest"
        } else {
            ""
        };
        let digest = r["digest_after"].as_str().unwrap();
        inserts.push((at + text.len(), format!("{latest}@{digest}")));
    }
    inserts.sort();
    let mut expected = original.clone();
    for (at, add) in inserts.iter().rev() {
        expected.splice(at..at, add.bytes());
    }
    assert!(
        now == expected,
        "{path}: pinning changed more than its references:\n{}",
        String::from_utf8_lossy(&now)
    );
    assert_eq!(
        now != original,
        pinned.is_some_and(|f| f["changed"] == true),
        "{path}: changed"
    );

    // PyYAML: the same documents but for the pinned values, every listed reference where it
    // says, every pinned one changed there.
    let changed = oracle(&real.join(path), &dir.join(path), refs);
    for r in &pins {
        let site = r["site"].as_str().unwrap();
        assert!(
            changed.iter().any(|c| c == site),
            "{path}: {site} in {changed:?}"
        );
    }
}

#[test]
fn real_files_list_pin_and_check_cleanly() {
    let Some(real) = std::env::var_os("DIGESTPIN_REAL_FILES") else {
        skip::note(
            "DIGESTPIN_REAL_FILES is not set: run scripts/real-files DIR (from local mirrors), \
             then DIGESTPIN_REAL_FILES=DIR",
        );
        return;
    };
    let real = Path::new(&real);
    assert!(
        have_pyyaml(),
        "the real-files proof needs PyYAML (DIGESTPIN_PYTHON)"
    );
    let sources = sources();
    let present: BTreeSet<String> = relative_files(real).into_iter().collect();
    let wanted: BTreeSet<String> = sources.keys().cloned().collect();
    assert_eq!(
        present,
        wanted,
        "{} does not hold exactly the files of fixtures/real/SOURCES.tsv: rerun scripts/real-files",
        real.display()
    );

    let dir = tempfile::tempdir().unwrap();
    copy_tree(real, dir.path());

    // list: exactly the listed files, as their listed kinds; Helm templates and other YAML
    // left out quietly.
    let (code, list, stderr) = json(cli::digestpin(dir.path()).args(["list", "--format", "json"]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stderr, "");
    let files = list["files"].as_array().unwrap();
    let listed: BTreeMap<&str, &Value> = files
        .iter()
        .map(|f| (f["path"].as_str().unwrap(), f))
        .collect();
    for (path, kind) in &sources {
        match listed.get(path.as_str()) {
            Some(file) => assert_eq!(file["kind"], kind.as_str(), "{path}"),
            None => assert!(
                LEFT_OUT.contains(&kind.as_str()),
                "{path} ({kind}) not listed"
            ),
        }
    }
    for file in files {
        let path = file["path"].as_str().unwrap();
        assert!(
            !LEFT_OUT.contains(&sources[path].as_str()),
            "{path} is listed"
        );
        assert!(file["error"].is_null(), "{path}: {}", file["error"]);
    }

    let emu = Emulator::start();
    let endpoints = serve(&emu, &list);

    let (code, pinned, stderr) =
        json(run(dir.path(), &endpoints).args(["pin", "--format", "json"]));
    assert_eq!(code, 0, "{stderr}");
    let pinned_files: BTreeMap<&str, &Value> = pinned["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["path"].as_str().unwrap(), f))
        .collect();

    // Per kind: files, references by state in `list`, statuses in `pin`.
    let mut tally: BTreeMap<&str, BTreeMap<String, usize>> = BTreeMap::new();
    let mut failures = Vec::new();
    for file in files {
        let path = file["path"].as_str().unwrap();
        let counts = tally.entry(file["kind"].as_str().unwrap()).or_default();
        let outcome = pinned_files
            .get(path)
            .and_then(|f| f["refs"].as_array())
            .map_or(&[][..], Vec::as_slice);
        let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            check_file(
                real,
                dir.path(),
                file,
                pinned_files.get(path).copied(),
                outcome,
                counts,
            )
        }));
        if let Err(panic) = checked {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{path}: {message}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} files failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );

    let before: Vec<Vec<u8>> = present
        .iter()
        .map(|rel| std::fs::read(dir.path().join(rel)).unwrap())
        .collect();
    let (code, diff) = stdout(run(dir.path(), &endpoints).arg("pin"));
    assert_eq!(
        (code, diff.as_str()),
        (0, ""),
        "the second run changes nothing"
    );
    let after: Vec<Vec<u8>> = present
        .iter()
        .map(|rel| std::fs::read(dir.path().join(rel)).unwrap())
        .collect();
    assert!(before == after, "the second run changes nothing");
    for args in [&["pin", "--check"][..], &["pin", "--check", "--offline"]] {
        let (code, out) = stdout(run(dir.path(), &endpoints).args(args));
        assert_eq!((code, out.as_str()), (0, ""), "{args:?}");
    }

    let mut report = String::from("\nreal files, per kind:\n");
    for (kind, counts) in &tally {
        report.push_str(&format!("  {kind}: {counts:?}\n"));
    }
    let repos: BTreeSet<&str> = sources
        .keys()
        .map(|p| p.split('/').next().unwrap())
        .collect();
    report.push_str(&format!(
        "  {} files from {} repositories ({} left out as listed)\n",
        sources.len(),
        repos.len(),
        sources
            .values()
            .filter(|k| LEFT_OUT.contains(&k.as_str()))
            .count()
    ));
    eprintln!("{report}");
}

//! Resolution at the edges, through the CLI: servers that ignore the history window, a
//! cooldown that never moves a pin back, references without a tag, digests that do not exist,
//! files that mix registries with and without tag history, and statuses that say what happened.
//! Against the emulator and Debian's real `docker-registry` on 127.0.0.1.

use crate::support::cli;
use crate::support::emulator;
use crate::support::registry;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use emulator::{Emulator, Entry, Fault, Quirks};
use jiff::{SignedDuration, Timestamp};
use predicates::prelude::*;
use registry::{ImageKind, Registry};
use serde_json::Value;

const PYTHON: &str = "cgr.dev/chainguard/python";

fn digestpin(dir: &Path, emu: &Emulator) -> Command {
    let mut cmd = cli::digestpin(dir);
    cmd.env(
        "DIGESTPIN_ENDPOINTS",
        format!("cgr.dev={0},docker.io={0}", emu.url()),
    );
    cmd
}

fn write(dir: &Path, contents: &str) -> PathBuf {
    let path = dir.join("Dockerfile");
    std::fs::write(&path, contents).unwrap();
    path
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

fn json(out: &[u8]) -> Value {
    serde_json::from_slice(out).expect("one JSON document")
}

fn ago(days: i64) -> String {
    (Timestamp::now() - SignedDuration::from_hours(24 * days)).to_string()
}

/// History at now-30d, now-8d, now-1d (oldest first).
fn cooldown_history(emu: &Emulator) -> Vec<Entry> {
    let entries: Vec<Entry> = [30, 8, 1]
        .iter()
        .map(|d| emulator::synthetic_entry("chainguard/python", "latest", &ago(*d)))
        .collect();
    emu.set_history("chainguard/python", "latest", entries.clone());
    entries
}

#[test]
fn a_server_ignoring_the_window_gives_the_right_digest_never_a_panic() {
    let emu = Emulator::start();
    // Every entry is older than the first 31-day window; the server sends them all anyway.
    let entries: Vec<Entry> = [90, 60, 45]
        .iter()
        .map(|d| emulator::synthetic_entry("chainguard/python", "latest", &ago(*d)))
        .collect();
    emu.set_history("chainguard/python", "latest", entries.clone());
    emu.set_quirks(Quirks {
        ignore_range: true,
        ..Quirks::default()
    });
    let dir = tempfile::tempdir().unwrap();
    digestpin(dir.path(), &emu)
        .args(["resolve", &format!("{PYTHON}:latest")])
        .assert()
        .success()
        .stdout(format!("{PYTHON}:latest@{}\n", entries[2].digest));
    digestpin(dir.path(), &emu)
        .args(["resolve", &format!("{PYTHON}:latest"), "--as-of", &ago(50)])
        .assert()
        .success()
        .stdout(format!("{PYTHON}:latest@{}\n", entries[1].digest));
    let out = digestpin(dir.path(), &emu)
        .args(["resolve", &format!("{PYTHON}:latest"), "--as-of", &ago(100)])
        .assert()
        .code(2)
        .get_output()
        .clone();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("no history entry at or before"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // The reference is named once.
    assert_eq!(stderr.matches("chainguard/python").count(), 1, "{stderr}");
    // pin too: the file is written.
    let file = write(dir.path(), &format!("FROM {PYTHON}:latest\n"));
    digestpin(dir.path(), &emu).arg("pin").assert().success();
    assert_eq!(
        read(&file),
        format!("FROM {PYTHON}:latest@{}\n", entries[2].digest)
    );
}

#[test]
fn an_only_entry_half_a_second_after_the_requested_start_is_the_answer() {
    let emu = Emulator::start();
    let entries = cooldown_history(&emu);
    emu.set_quirks(Quirks {
        half_second_after_start: true,
        ..Quirks::default()
    });
    let dir = tempfile::tempdir().unwrap();
    digestpin(dir.path(), &emu)
        .args(["resolve", &format!("{PYTHON}:latest"), "--digest-only"])
        .assert()
        .success()
        .stdout(format!("{PYTHON}@{}\n", entries[2].digest));
    let as_of = "2024-03-01T12:00:00Z";
    digestpin(dir.path(), &emu)
        .args(["resolve", &format!("{PYTHON}:latest"), "--as-of", as_of])
        .assert()
        .success()
        .stdout(format!("{PYTHON}:latest@{}\n", entries[2].digest));
    // Before every entry (the quirk answers only windows with a start).
    emu.set_quirks(Quirks::default());
    digestpin(dir.path(), &emu)
        .args([
            "resolve",
            &format!("{PYTHON}:latest"),
            "--as-of",
            "2020-01-01",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no history entry at or before"));
}

#[test]
fn a_cooldown_delays_updates_and_never_moves_a_pin_back() {
    let emu = Emulator::start();
    let h = cooldown_history(&emu);
    let (old, mid, young) = (&h[0].digest, &h[1].digest, &h[2].digest);
    let dir = tempfile::tempdir().unwrap();

    // Unpinned → the newest digest at least 7 days old.
    let file = write(dir.path(), &format!("FROM {PYTHON}:latest\n"));
    digestpin(dir.path(), &emu)
        .args(["pin", "--min-age", "7d"])
        .assert()
        .success();
    assert_eq!(read(&file), format!("FROM {PYTHON}:latest@{mid}\n"));

    // Pinned to the 1-day-old digest → kept, young; the gate passes; nothing says stale.
    let pinned_young = format!("FROM {PYTHON}:latest@{young}\n");
    write(dir.path(), &pinned_young);
    for args in [
        &["pin", "--check", "--min-age", "7d"][..],
        &["pin", "--min-age", "7d"][..],
        &["pin", "--diff", "--min-age", "7d"][..],
    ] {
        let out = digestpin(dir.path(), &emu)
            .args(args)
            .assert()
            .success()
            .get_output()
            .clone();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !all.contains("stale") && !all.contains("behind"),
            "{args:?}: {all}"
        );
        assert!(all.contains("young: "), "{args:?}: {all}");
        assert_eq!(read(&file), pinned_young, "{args:?}");
    }
    let out = digestpin(dir.path(), &emu)
        .args(["pin", "--check", "--min-age", "7d", "--format", "json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let doc = json(&out);
    let r = &doc["files"][0]["refs"][0];
    assert_eq!(r["status"], "young");
    assert_eq!(r["time_source"], "tag-history");
    assert_eq!(r["digest_after"], young.as_str());
    assert!(r["detail"].as_str().unwrap().contains("to go"), "{r}");
    assert_eq!(doc["summary"]["young"], 1);

    // Pinned to the 30-day-old digest → moved forward to the 8-day-old one.
    write(dir.path(), &format!("FROM {PYTHON}:latest@{old}\n"));
    digestpin(dir.path(), &emu)
        .args(["pin", "--min-age", "7d"])
        .assert()
        .success();
    assert_eq!(read(&file), format!("FROM {PYTHON}:latest@{mid}\n"));

    // --enforce-min-age: the young pin is a finding, and writing moves it back.
    write(dir.path(), &pinned_young);
    digestpin(dir.path(), &emu)
        .args(["pin", "--check", "--min-age", "7d", "--enforce-min-age"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("a cooldown policy would deny it"));
    assert_eq!(read(&file), pinned_young);
    digestpin(dir.path(), &emu)
        .args(["pin", "--min-age", "7d", "--enforce-min-age"])
        .assert()
        .success();
    assert_eq!(read(&file), format!("FROM {PYTHON}:latest@{mid}\n"));

    // Without a cooldown, a pin at now-8d is one rebuild behind.
    digestpin(dir.path(), &emu)
        .args(["pin", "--check"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("stale digest, 1 rebuild behind"));
}

#[test]
fn a_reference_without_a_tag_gains_latest() {
    let emu = Emulator::start();
    let h = cooldown_history(&emu);
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), &format!("FROM {PYTHON}\n"));
    digestpin(dir.path(), &emu).arg("pin").assert().success();
    assert_eq!(
        read(&file),
        format!("FROM {PYTHON}:latest@{}\n", h[2].digest)
    );
    // And can be refreshed later: the tag is there to follow.
    digestpin(dir.path(), &emu)
        .args(["pin", "--check"])
        .assert()
        .success();
    write(dir.path(), &format!("FROM {PYTHON}\n"));
    digestpin(dir.path(), &emu)
        .args(["pin", "--digest-only"])
        .assert()
        .success();
    assert_eq!(read(&file), format!("FROM {PYTHON}@{}\n", h[2].digest));
}

#[test]
fn the_online_gate_checks_that_digests_exist() {
    let emu = Emulator::start();
    let h = cooldown_history(&emu);
    let dir = tempfile::tempdir().unwrap();
    let zero = format!("sha256:{}", "0".repeat(64));
    write(dir.path(), &format!("FROM {PYTHON}@{zero}\n"));
    let out = digestpin(dir.path(), &emu)
        .args(["pin", "--check", "--format", "json"])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let doc = json(&out);
    assert_eq!(doc["files"][0]["refs"][0]["status"], "missing");
    assert_eq!(doc["summary"]["missing"], 1);
    digestpin(dir.path(), &emu)
        .args(["pin", "--check"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("digest not found in registry"));
    // A digest that exists passes.
    write(dir.path(), &format!("FROM {PYTHON}@{}\n", h[0].digest));
    digestpin(dir.path(), &emu)
        .args(["pin", "--check"])
        .assert()
        .success();
    // 401 for it: an error about authentication, never "missing".
    write(dir.path(), &format!("FROM {PYTHON}@{zero}\n"));
    emu.inject(&zero, Fault::Status(401), 100);
    digestpin(dir.path(), &emu)
        .args(["pin", "--check"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("authentication failed"))
        .stdout(predicate::str::contains("not found").not());
    emu.clear_faults();
    // A pinned digest the tag's history does not hold: checked, and said so.
    let unknown = format!("sha256:{}", "e".repeat(64));
    write(dir.path(), &format!("FROM {PYTHON}:latest@{unknown}\n"));
    digestpin(dir.path(), &emu)
        .args(["pin", "--check"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "pinned digest not found in registry",
        ));
}

#[test]
fn a_file_that_is_not_written_reports_nothing_pinned() {
    let emu = Emulator::start();
    cooldown_history(&emu);
    let dir = tempfile::tempdir().unwrap();
    let src = format!("FROM {PYTHON}:latest\nFROM cgr.dev/chainguard/nope:latest\n");
    let file = write(dir.path(), &src);
    let out = digestpin(dir.path(), &emu)
        .args(["pin", "--format", "json"])
        .assert()
        .code(2)
        .get_output()
        .stdout
        .clone();
    assert_eq!(read(&file), src);
    let doc = json(&out);
    let refs = &doc["files"][0]["refs"];
    assert_eq!(doc["files"][0]["changed"], false);
    assert_eq!(refs[0]["status"], "skipped");
    assert_eq!(refs[0]["reason"], "not-written");
    assert_eq!(refs[1]["status"], "error");
    assert_eq!(doc["summary"]["pinned"], 0);
    let out = digestpin(dir.path(), &emu)
        .arg("pin")
        .assert()
        .code(2)
        .get_output()
        .clone();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("0 pinned"), "{stderr}");
    assert!(out.stdout.is_empty(), "no diff for a file not written");
}

#[test]
fn quiet_prints_errors_only() {
    let emu = Emulator::start();
    cooldown_history(&emu);
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &format!("FROM {PYTHON}:latest\n"));
    digestpin(dir.path(), &emu)
        .args(["pin", "-q"])
        .assert()
        .success()
        .stdout("")
        .stderr("");
}

/// A file mixing cgr.dev (tag history) with a registry that has none: `--as-of` and
/// `--min-age` write what they can and leave the rest, exit 0.
#[test]
fn mixed_registries_with_as_of_and_min_age() {
    let Some(reg) = Registry::start_or_skip("mixed_registries", None) else {
        return;
    };
    let emu = Emulator::start();
    let h = cooldown_history(&emu);
    let old = reg.push_created("demo/old", "1", ImageKind::OciIndex, "old", Some(&ago(30)));
    reg.push_created(
        "demo/new",
        "1",
        ImageKind::OciManifest,
        "new",
        Some(&ago(0)),
    );
    let epoch = reg.push_created(
        "demo/epoch",
        "1",
        ImageKind::DockerV2Manifest,
        "epoch",
        Some("1970-01-01T00:00:00Z"),
    );
    let host = reg.host();
    let endpoints = format!("cgr.dev={},{host}={}", emu.url(), reg.url());
    let run = |dir: &Path, args: &[&str]| {
        let mut cmd = cli::digestpin(dir);
        cmd.env("DIGESTPIN_ENDPOINTS", &endpoints).args(args);
        cmd.assert()
    };
    let dir = tempfile::tempdir().unwrap();
    let src = format!(
        "FROM {PYTHON}:latest\nFROM {host}/demo/old:1\nFROM {host}/demo/new:1\nFROM {host}/demo/epoch:1\n"
    );
    let file = write(dir.path(), &src);

    // --as-of: the cgr.dev pin is written, the others are left (no history to ask).
    let out = run(dir.path(), &["pin", "--as-of", &ago(5), "--format", "json"])
        .success()
        .get_output()
        .stdout
        .clone();
    let doc = json(&out);
    let refs = &doc["files"][0]["refs"];
    assert_eq!(refs[0]["status"], "pinned");
    for i in 1..4 {
        assert_eq!(refs[i]["status"], "skipped", "{}", refs[i]);
        assert_eq!(refs[i]["reason"], "no-history");
    }
    let expected = src.replacen(
        &format!("{PYTHON}:latest"),
        &format!("{PYTHON}:latest@{}", h[1].digest),
        1,
    );
    assert_eq!(read(&file), expected);

    // --min-age 7d: the old image is pinned (its config's creation time), the new one is too
    // new, the epoch one has no publish time.
    std::fs::write(&file, &src).unwrap();
    let out = run(dir.path(), &["pin", "--min-age", "7d", "--format", "json"])
        .success()
        .get_output()
        .stdout
        .clone();
    let doc = json(&out);
    let refs = &doc["files"][0]["refs"];
    assert_eq!(refs[0]["status"], "pinned");
    assert_eq!(refs[1]["status"], "pinned");
    assert_eq!(refs[1]["time_source"], "image-config");
    assert_eq!(refs[2]["status"], "skipped");
    assert_eq!(refs[2]["reason"], "too-new");
    assert_eq!(refs[3]["status"], "skipped");
    assert_eq!(refs[3]["reason"], "no-publish-time");
    assert_eq!(
        read(&file),
        format!(
            "FROM {PYTHON}:latest@{}\nFROM {host}/demo/old:1@{}\nFROM {host}/demo/new:1\nFROM {host}/demo/epoch:1\n",
            h[1].digest, old.digest
        )
    );
    // The epoch image pinned by hand: a pin of the current image stays.
    std::fs::write(
        &file,
        format!("FROM {host}/demo/epoch:1@{}\n", epoch.digest),
    )
    .unwrap();
    run(dir.path(), &["pin", "--check", "--min-age", "7d"]).success();
    // A digest the real registry does not hold: missing.
    let zero = format!("sha256:{}", "0".repeat(64));
    std::fs::write(&file, format!("FROM {host}/demo/old@{zero}\n")).unwrap();
    run(dir.path(), &["pin", "--check"])
        .code(1)
        .stdout(predicate::str::contains("digest not found in registry"));
}

/// An entry dated in the future is no history: it is not the current digest, and it is not
/// cached as settled, so the registry's later correction is seen.
#[test]
fn a_future_entry_neither_answers_nor_poisons_the_cache() {
    let emu = Emulator::start();
    let mut h = cooldown_history(&emu);
    let future = emulator::synthetic_entry("chainguard/python", "latest", "2999-01-01T00:00:00Z");
    h.push(future.clone());
    emu.set_history("chainguard/python", "latest", h.clone());
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), &format!("FROM {PYTHON}:latest\n"));
    digestpin(dir.path(), &emu).arg("pin").assert().success();
    assert_eq!(
        read(&file),
        format!("FROM {PYTHON}:latest@{}\n", h[2].digest)
    );
    // The registry corrects itself with a real new build: the next (cached) run sees it.
    let fresh =
        emulator::synthetic_entry("chainguard/python", "latest", &Timestamp::now().to_string());
    h.pop();
    h.push(fresh.clone());
    emu.set_history("chainguard/python", "latest", h);
    emu.clear_requests();
    digestpin(dir.path(), &emu).arg("pin").assert().success();
    assert_eq!(
        read(&file),
        format!("FROM {PYTHON}:latest@{}\n", fresh.digest)
    );
    for r in emu.requests() {
        assert!(!r.query.as_deref().unwrap_or("").contains("2998"), "{r:?}");
    }
}

/// Cache files replaced by a FIFO, a directory or a huge sparse file are misses: the run
/// neither blocks, nor reads gigabytes, nor fails.
#[test]
fn cache_files_that_are_not_ours_are_misses() {
    let emu = Emulator::start();
    let h = cooldown_history(&emu);
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), &format!("FROM {PYTHON}:latest\n"));
    digestpin(dir.path(), &emu)
        .args(["pin", "--diff"])
        .assert()
        .code(1);
    let cache = dir.path().join(".digestpin-cache");
    let mut cached = Vec::new();
    let mut stack = vec![cache.clone()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                cached.push(path);
            }
        }
    }
    assert!(!cached.is_empty());
    for (i, path) in cached.iter().enumerate() {
        std::fs::remove_file(path).unwrap();
        match i % 3 {
            0 => {
                let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
                // SAFETY: a valid NUL-terminated path.
                assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
            }
            1 => std::fs::create_dir(path).unwrap(),
            _ => std::fs::File::create(path)
                .unwrap()
                .set_len(3 << 30)
                .unwrap(),
        }
    }
    let started = std::time::Instant::now();
    digestpin(dir.path(), &emu)
        .arg("pin")
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .success();
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    assert_eq!(
        read(&file),
        format!("FROM {PYTHON}:latest@{}\n", h[2].digest)
    );
}

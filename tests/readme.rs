//! The README's "Try it in one minute" snippet, run as written against the emulator (the
//! example binary stands in for `cargo run -q --example emulator --`, which would build it),
//! with `digestpin` on PATH and a fresh TMPDIR.

use std::path::{Path, PathBuf};
use std::process::Command;

fn snippet(heading: &str) -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let (_, rest) = readme.split_once(heading).expect("the section");
    let (_, rest) = rest.split_once("```sh\n").expect("its shell block");
    rest.split_once("```").expect("closed").0.to_owned()
}

/// The emulator example, built by `cargo test` (not by `cargo test --test readme` alone).
fn emulator() -> Option<PathBuf> {
    let bin = assert_cmd::cargo::cargo_bin("digestpin");
    let example = bin.parent()?.join("examples/emulator");
    if example.is_file() {
        return Some(example);
    }
    let msg = format!(
        "{} is not built: run `cargo test` (or `cargo build --example emulator`) first",
        example.display()
    );
    if std::env::var_os("CI").is_some() {
        panic!("{msg}");
    }
    eprintln!("\n!!!!!!!! SKIPPED: {msg} !!!!!!!!\n");
    None
}

#[test]
fn try_it_in_one_minute_runs_as_written() {
    let Some(emulator) = emulator() else {
        return;
    };
    let script = snippet("## Try it in one minute");
    let run = "cargo run -q --example emulator --";
    assert!(script.contains(run), "{script}");
    let script = script.replace(run, &format!("'{}'", emulator.display()));
    let tmp = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("digestpin");
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("timeout")
        .args(["120", "bash", "-eo", "pipefail", "-c", &script])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("TMPDIR", tmp.path())
        .env("PATH", path)
        .env("DIGESTPIN_CACHE_DIR", tmp.path().join("cache"))
        .env("DOCKER_CONFIG", tmp.path().join("no-docker"))
        .env_remove("DIGESTPIN_ENDPOINTS")
        .env_remove("CI")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{script}\n---\n{stdout}\n---\n{stderr}"
    );
    for expected in [
        "Dockerfile:1:6: unpinned FROM cgr.dev/chainguard/img-0:latest",
        "exit 1: not pinned",
        "+FROM cgr.dev/chainguard/img-0:latest@sha256:",
        "exit 1: stale",
        "all pinned and current",
    ] {
        assert!(
            stdout.contains(expected),
            "{expected:?} in\n{stdout}\n---\n{stderr}"
        );
    }
    let dockerfile = std::fs::read_to_string(tmp.path().join("digestpin-try/Dockerfile")).unwrap();
    assert_eq!(dockerfile.matches("@sha256:").count(), 2, "{dockerfile}");
}

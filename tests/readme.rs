//! The README's "Try it in one minute" snippet, run as written against the emulator (the
//! example binary stands in for `cargo run -q --example emulator --`, which would build it),
//! with `digestpin` on PATH and a fresh TMPDIR.

#[path = "support/emulator.rs"]
mod emulator;

use std::path::{Path, PathBuf};
use std::process::Command;

fn snippet(heading: &str, fence: &str) -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let (_, rest) = readme.split_once(heading).expect("the section");
    let (_, rest) = rest
        .split_once(&format!("```{fence}\n"))
        .expect("its code block");
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
    let script = snippet("## Try it in one minute", "sh");
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

/// The `- ` items of `key:` (at two spaces of indentation) in the README's GitLab job.
fn job_list(job: &str, key: &str) -> Vec<String> {
    let mut lines = job
        .lines()
        .skip_while(|l| l.trim_end() != format!("  {key}:"));
    lines.next();
    lines
        .take_while(|l| l.starts_with("    "))
        .filter_map(|l| l.strip_prefix("    - "))
        .map(str::to_owned)
        .collect()
}

/// The README's GitLab job in a simulated runner: a clean HOME, `$CI_PROJECT_DIR`, the job's
/// `variables`, then `before_script` and `script` line by line (`bash -e`). `cargo` is a stand-in
/// that "installs" the built binary into `$CARGO_HOME/bin` and logs the call. The second
/// pipeline starts from a fresh checkout with only the documented cache paths restored.
#[test]
fn gitlab_recipe_finds_digestpin_on_path_and_its_cache_hits() {
    let job = snippet("### GitLab CI", "yaml");
    assert!(job.contains("CARGO_HOME: $CI_PROJECT_DIR/.cargo"), "{job}");
    assert!(job.contains("paths: [.cargo/bin/]"), "{job}");
    let mut lines = job_list(&job, "before_script");
    lines.extend(job_list(&job, "script"));
    assert!(lines.len() >= 3, "{lines:?}");
    // The placeholders, filled in as the README asks.
    let script = format!(
        "export CARGO_HOME=\"$CI_PROJECT_DIR/.cargo\"\n{}\n",
        lines.join("\n")
    )
    .replace("<commit>", "4b825dc642cb6eb9a060e54bf8d69288fbee4904")
    .replace("OWNER", "example");

    let work = tempfile::tempdir().unwrap();
    let tools = work.path().join("tools");
    std::fs::create_dir_all(&tools).unwrap();
    let log = work.path().join("cargo.log");
    let fake_cargo = tools.join("cargo");
    std::fs::write(
        &fake_cargo,
        "#!/bin/sh\necho \"cargo $*\" >> \"$CARGO_LOG\"\n\
         mkdir -p \"$CARGO_HOME/bin\" && cp \"$DIGESTPIN_BIN\" \"$CARGO_HOME/bin/digestpin\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake_cargo, std::fs::Permissions::from_mode(0o755)).unwrap();

    // The registries, through a CI/CD variable.
    let emu = emulator::Emulator::start();
    let hour = std::time::Duration::from_secs(3600);
    let start = "2024-05-30T12:00:00Z";
    let digest = emu
        .generate_history("chainguard/static", "latest", 2, start, hour)
        .pop()
        .unwrap()
        .digest;
    emu.generate_history("library/alpine", "3.20", 2, start, hour);
    let pipeline = |n: usize, cache: Option<&Path>| -> (PathBuf, String) {
        let project = work.path().join(format!("project-{n}"));
        std::fs::create_dir_all(&project).unwrap();
        std::fs::write(
            project.join("Dockerfile"),
            format!("FROM cgr.dev/chainguard/static:latest@{digest}\nFROM alpine:3.20\n"),
        )
        .unwrap();
        if let Some(cache) = cache {
            let bin = project.join(".cargo/bin");
            std::fs::create_dir_all(&bin).unwrap();
            for entry in std::fs::read_dir(cache).unwrap() {
                let entry = entry.unwrap();
                std::fs::copy(entry.path(), bin.join(entry.file_name())).unwrap();
            }
        }
        let home = work.path().join(format!("home-{n}"));
        std::fs::create_dir_all(&home).unwrap();
        let out = Command::new("bash")
            .args(["-e", "-c", &script])
            .current_dir(&project)
            .env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin", tools.display()))
            .env("HOME", &home)
            .env("CI", "true")
            .env("CI_PROJECT_DIR", &project)
            .env(
                "DIGESTPIN_ENDPOINTS",
                format!("cgr.dev={0},docker.io={0}", emu.url()),
            )
            .env("CARGO_LOG", &log)
            .env("DIGESTPIN_BIN", assert_cmd::cargo::cargo_bin("digestpin"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        // Exit 1: the job is a gate and alpine:3.20 has no digest (127 would be "command not
        // found"); the summary says it was digestpin that found it.
        assert_eq!(
            out.status.code(),
            Some(1),
            "pipeline {n}:\n{script}\n{stderr}"
        );
        let report = std::fs::read_to_string(project.join("gl-code-quality-report.json"))
            .unwrap_or_else(|e| panic!("pipeline {n}: {e}\n{script}\n{stderr}"));
        let issues: serde_json::Value = serde_json::from_str(&report).unwrap();
        assert_eq!(issues.as_array().map(Vec::len), Some(1), "{report}");
        assert_eq!(issues[0]["check_name"], "unpinned", "{report}");
        assert_eq!(issues[0]["location"]["lines"]["begin"], 2, "{report}");
        (project, stderr)
    };

    let (first, stderr) = pipeline(1, None);
    let calls = std::fs::read_to_string(&log).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    assert_eq!(
        calls.lines().count(),
        1,
        "the first pipeline installs: {calls}"
    );
    assert!(
        calls.starts_with("cargo install --locked --git "),
        "{calls}"
    );
    assert!(first.join("digestpin-report.json").is_file());

    let (_, _) = pipeline(2, Some(&first.join(".cargo/bin")));
    let calls = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        calls.lines().count(),
        1,
        "the second pipeline's cache hit: {calls}"
    );
}

//! The integrations that ship beside the binary, checked the way their hosts use them, one
//! module per host:
//!
//! - `github_action`: the GitHub Action (`action.yml`) run as a runner would, its release
//!   download, and the workflows against GitHub's schemas and zizmor;
//! - `pre_commit`: the pre-commit hooks (`.pre-commit-hooks.yaml`);
//! - `packaging`: the crate as `cargo install` gets it, and the release workflow's archives.
//!
//! The tools come from the Python environment of `$DIGESTPIN_PYTHON` (scripts/test creates it
//! from tests/requirements.txt), else `.venv/bin/python`. When one is missing the test is
//! skipped with a loud message, except when `$CI` is set, where it fails.
//!
//! What the modules share is here: where the tools are, the skip rule, and the variables a
//! runner would scrub.

mod github_action;
mod packaging;
mod pre_commit;

use crate::support::{emulator, skip};

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use base64::Engine as _;
use emulator::{Emulator, Entry, Kind};
use serde_json::Value;

const SECRET: &str = "super-secret-xyz";
const IDENTITY: &str = "fake-identity-0123";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn digestpin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_digestpin"))
}

fn python() -> PathBuf {
    std::env::var_os("DIGESTPIN_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv/bin/python"))
}

/// A console script installed beside the interpreter (pre-commit, check-jsonschema, zizmor).
fn venv_tool(name: &str) -> PathBuf {
    python()
        .parent()
        .map(|dir| dir.join(name))
        .unwrap_or_else(|| PathBuf::from(name))
}

/// True if `what` is there. Otherwise: a failure under CI, a visible skip elsewhere
/// ([`skip::missing`]).
fn available(what: &str, ok: bool) -> bool {
    if ok {
        return true;
    }
    let msg = format!(
        "{what} is not available: run scripts/test (it installs tests/requirements.txt into \
         .venv), or point DIGESTPIN_PYTHON at an interpreter that has them"
    );
    skip::missing(msg);
    false
}

fn have_tool(name: &str) -> bool {
    let tool = venv_tool(name);
    available(&tool.display().to_string(), tool.is_file())
}

fn have_runner() -> bool {
    let ok = Command::new(python())
        .args(["-c", "import yaml"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    available(
        &format!("{} with PyYAML", python().display()),
        ok && cmd_exists("bash"),
    )
}

fn cmd_exists(name: &str) -> bool {
    Command::new(name)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

fn text(out: &Output) -> String {
    format!(
        "exit: {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Environment variables a real runner, a developer's shell or an outer CI may set that would
/// change what the action or digestpin does.
const SCRUB: &[&str] = &[
    "CHAINGUARD_IDENTITY_ID",
    "CHAINGUARD_TOKEN",
    "DOCKER_CONFIG",
    "DIGESTPIN_ENDPOINTS",
    "DIGESTPIN_CACHE_DIR",
    "XDG_CACHE_HOME",
    "ACTIONS_STEP_DEBUG",
    "RUNNER_DEBUG",
    "NO_COLOR",
    "GITHUB_OUTPUT",
    "GITHUB_ENV",
    "GITHUB_PATH",
    "GITHUB_STEP_SUMMARY",
    "GITHUB_ACTION_PATH",
    "GITHUB_WORKSPACE",
    "RUNNER_TEMP",
    "RUNNER_TOOL_CACHE",
];

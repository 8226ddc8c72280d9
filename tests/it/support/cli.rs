//! The `digestpin` binary as the tests run it, cut off from the machine's own settings: the
//! environment is cleared, then only `PATH` is passed through, and the run gets a `HOME` of its
//! own (a fresh empty directory), a `DOCKER_CONFIG` that points nowhere and a cache directory of
//! its own. No `CI`, `CHAINGUARD_*`, `DIGESTPIN_*` (but the cache), `GITHUB_*`, `NO_COLOR` or
//! `TERM` reaches it unless the test sets it on the command it gets back.
//!
//! Every test that runs the binary starts from here: [`digestpin`] (an `assert_cmd` command),
//! or [`process`] / [`isolate`] for a plain `std::process::Command` (to signal the process,
//! measure it, or run it through `sh`).
#![allow(dead_code)] // not every module uses every helper

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use assert_cmd::Command;

/// The binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_digestpin"))
}

/// `digestpin` running in `dir`, its cache in `dir/.digestpin-cache`.
pub fn digestpin(dir: &Path) -> Command {
    isolated(dir, &dir.join(".digestpin-cache"))
}

/// `digestpin` running in `dir`, with the given cache directory.
pub fn isolated(dir: &Path, cache: &Path) -> Command {
    let mut cmd = StdCommand::new(bin());
    isolate(&mut cmd, dir, cache);
    Command::from_std(cmd)
}

/// `digestpin` as a plain process running in `dir`, isolated like [`digestpin`].
pub fn process(dir: &Path) -> StdCommand {
    let mut cmd = StdCommand::new(bin());
    isolate(&mut cmd, dir, &dir.join(".digestpin-cache"));
    cmd
}

/// Gives `cmd` (digestpin, or a shell that runs it) the isolated environment, in `dir`.
pub fn isolate<'a>(cmd: &'a mut StdCommand, dir: &Path, cache: &Path) -> &'a mut StdCommand {
    cmd.env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    cmd.current_dir(dir)
        .env("HOME", fresh_home())
        .env("DOCKER_CONFIG", dir.join(".no-docker-config"))
        .env("DIGESTPIN_CACHE_DIR", cache)
}

/// A new empty directory for one run's `HOME`, under this test process's own temporary
/// directory in `target/tmp` (never `/tmp` of the machine's user, nothing from a real home).
fn fresh_home() -> PathBuf {
    static ROOT: OnceLock<tempfile::TempDir> = OnceLock::new();
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let root = ROOT.get_or_init(|| {
        tempfile::Builder::new()
            .prefix("homes-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .expect("a directory for test homes")
    });
    let home = root
        .path()
        .join(NEXT.fetch_add(1, Ordering::Relaxed).to_string());
    std::fs::create_dir(&home).expect("a test home");
    home
}

//! The `digestpin` binary as the tests run it: cut off from the machine's own settings (no
//! Docker config, no Chainguard credentials, no endpoint overrides, not in CI) and with a cache
//! directory of its own.
#![allow(dead_code)] // each test binary uses part of it

use std::path::Path;

use assert_cmd::Command;

/// `digestpin` running in `dir`, its cache in `dir/.digestpin-cache`.
pub fn digestpin(dir: &Path) -> Command {
    isolated(dir, &dir.join(".digestpin-cache"))
}

/// `digestpin` running in `dir`, with the given cache directory.
pub fn isolated(dir: &Path, cache: &Path) -> Command {
    let mut cmd = Command::cargo_bin("digestpin").expect("binary");
    cmd.current_dir(dir)
        .env("DOCKER_CONFIG", dir.join(".no-docker-config"))
        .env("DIGESTPIN_CACHE_DIR", cache)
        .env_remove("CI")
        .env_remove("CHAINGUARD_IDENTITY_ID")
        .env_remove("CHAINGUARD_TOKEN")
        .env_remove("DIGESTPIN_ENDPOINTS");
    cmd
}

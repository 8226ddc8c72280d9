//! `pin` against Debian's real `docker-registry` (distribution 2.8.2) on 127.0.0.1: the digest
//! pinned must be the one the registry reports for the tag itself (an index or a manifest list,
//! never one platform's child), with and without Basic auth, and Docker Hub names through
//! `--endpoint`.

use crate::support::cli;
use crate::support::registry;

use std::path::Path;

use predicates::prelude::*;
use registry::{ImageKind, Registry};

use cli::digestpin;

fn pin_one(dir: &Path, image: &str, extra: &[&str]) -> String {
    std::fs::write(dir.join("Dockerfile"), format!("FROM {image}\n")).unwrap();
    digestpin(dir).arg("pin").args(extra).assert().success();
    std::fs::read_to_string(dir.join("Dockerfile")).unwrap()
}

#[test]
fn pins_each_manifest_kind_to_the_digest_the_registry_reports() {
    let Some(reg) = Registry::start_or_skip("pins_each_manifest_kind", None) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let host = reg.host();
    for (repo, kind) in [
        ("demo/app", ImageKind::OciIndex),
        ("demo/list", ImageKind::DockerManifestList),
        ("demo/oci", ImageKind::OciManifest),
        ("demo/v2", ImageKind::DockerV2Manifest),
    ] {
        let pushed = reg.push_full(repo, "1.0", kind, "first");
        let image = format!("{host}/{repo}:1.0");
        assert_eq!(
            pin_one(dir.path(), &image, &[]),
            format!("FROM {image}@{}\n", pushed.digest),
            "{repo}: the tag's own digest"
        );
        for (platform, child) in &pushed.children {
            assert!(
                !pin_one(dir.path(), &image, &[]).contains(child.as_str()),
                "{repo}: never the {platform} child"
            );
        }
    }
}

#[test]
fn a_moved_tag_updates_the_pin() {
    let Some(reg) = Registry::start_or_skip("a_moved_tag_updates_the_pin", None) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let first = reg.push_full("demo/app", "1.0", ImageKind::OciIndex, "first");
    let image = format!("{}/demo/app:1.0", reg.host());
    assert!(pin_one(dir.path(), &image, &[]).contains(&first.digest));
    let second = reg.push_full("demo/app", "1.0", ImageKind::OciIndex, "second");
    assert_ne!(first.digest, second.digest);
    digestpin(dir.path())
        .args(["pin", "--check"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("stale digest"));
    digestpin(dir.path()).arg("pin").assert().success();
    let text = std::fs::read_to_string(dir.path().join("Dockerfile")).unwrap();
    assert_eq!(text, format!("FROM {image}@{}\n", second.digest));
}

#[test]
fn basic_auth_from_docker_config() {
    let Some(reg) =
        Registry::start_or_skip("basic_auth_from_docker_config", Some(("ci", "hunter2")))
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pushed = reg.push_full("team/svc", "2.1", ImageKind::DockerManifestList, "x");
    let image = format!("{}/team/svc:2.1", reg.host());
    std::fs::write(dir.path().join("Dockerfile"), format!("FROM {image}\n")).unwrap();
    digestpin(dir.path())
        .arg("pin")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("authentication failed"));
    let config = dir.path().join("docker");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("config.json"),
        format!(
            r#"{{"auths": {{"{}": {{"username": "ci", "password": "hunter2"}}}}}}"#,
            reg.host()
        ),
    )
    .unwrap();
    digestpin(dir.path())
        .env("DOCKER_CONFIG", &config)
        .arg("pin")
        .assert()
        .success();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("Dockerfile")).unwrap(),
        format!("FROM {image}@{}\n", pushed.digest)
    );
}

#[test]
fn docker_hub_names_resolve_through_an_endpoint() {
    let Some(reg) = Registry::start_or_skip("docker_hub_names_resolve_through_an_endpoint", None)
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let python = reg.push_full("library/python", "3.12", ImageKind::OciIndex, "py");
    let endpoint = format!("docker.io={}", reg.url());
    assert_eq!(
        pin_one(dir.path(), "python:3.12", &["--endpoint", &endpoint]),
        format!("FROM python:3.12@{}\n", python.digest)
    );
    digestpin(dir.path())
        .args([
            "resolve",
            "docker.io/library/python:3.12",
            "--endpoint",
            &endpoint,
        ])
        .assert()
        .success()
        .stdout(format!("docker.io/library/python:3.12@{}\n", python.digest));
    digestpin(dir.path())
        .args(["resolve", "python:3.99", "--endpoint", &endpoint])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("tag not found in registry (404"));
}

#[test]
fn syntax_directive_is_listed_and_pinned_in_place_through_docker_hub_endpoint() {
    let Some(reg) = Registry::start_or_skip("syntax_directive_is_pinned", None) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let frontend = reg.push_full("docker/dockerfile", "1", ImageKind::OciIndex, "frontend");
    let alpine = reg.push_full("library/alpine", "3.20", ImageKind::OciIndex, "alpine");
    let endpoint = format!("docker.io={}", reg.url());
    let src = "# syntax=docker/dockerfile:1\n# escape=\\\nFROM alpine:3.20\n";
    std::fs::write(dir.path().join("Dockerfile"), src).unwrap();
    let listed = digestpin(dir.path())
        .args(["list", "--format", "json"])
        .assert()
        .success();
    let doc: serde_json::Value = serde_json::from_slice(&listed.get_output().stdout).unwrap();
    let first = &doc["files"][0]["refs"][0];
    assert_eq!(first["instruction"], "syntax");
    assert_eq!(first["original"], "docker/dockerfile:1");
    assert_eq!(
        (first["line"].as_u64(), first["column"].as_u64()),
        (Some(1), Some(10))
    );
    assert_eq!(first["repository"], "docker/dockerfile");
    digestpin(dir.path())
        .args(["pin", "--check", "--endpoint", &endpoint])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("Dockerfile:1:10"));
    digestpin(dir.path())
        .args(["pin", "--endpoint", &endpoint])
        .assert()
        .success();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("Dockerfile")).unwrap(),
        format!(
            "# syntax=docker/dockerfile:1@{}\n# escape=\\\nFROM alpine:3.20@{}\n",
            frontend.digest, alpine.digest
        )
    );
    // Still a parser directive BuildKit reads, and pinned: nothing left to do.
    digestpin(dir.path())
        .args(["pin", "--check", "--endpoint", &endpoint])
        .assert()
        .success();
}

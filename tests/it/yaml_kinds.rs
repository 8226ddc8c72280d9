//! The YAML kinds end to end through the CLI against the emulator: golden fixtures under
//! `fixtures/yaml/KIND/{input,expected}` are pinned to exactly the expected bytes, a second run
//! changes nothing, `--check` then passes, and `--check --offline` before names every unpinned
//! reference by file:line:column. PyYAML is the oracle: the pinned documents equal the
//! originals but for the pinned image values, and every reference `list` reports is a scalar
//! PyYAML sees at that key path.

use crate::support::tree::{copy_tree, relative_files};
use crate::support::{cli, emulator};

use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::time::Duration;

use assert_cmd::Command;
use emulator::{Emulator, Kind};
use serde_json::Value;

const DAY: Duration = Duration::from_secs(24 * 3600);

pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn digestpin(dir: &Path, emu: &Emulator) -> Command {
    let mut cmd = cli::digestpin(dir);
    cmd.env(
        "DIGESTPIN_ENDPOINTS",
        format!("cgr.dev={0},docker.io={0}", emu.url()),
    );
    cmd
}

pub(crate) fn stdout(cmd: &mut Command) -> (i32, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
    )
}

pub(crate) fn python() -> PathBuf {
    std::env::var_os("DIGESTPIN_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv/bin/python"))
}

/// PyYAML there, else a failure under CI and a loud skip elsewhere.
pub(crate) fn have_pyyaml() -> bool {
    let ok = Process::new(python())
        .args(["-c", "import yaml"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        let msg = format!(
            "{} with PyYAML is not available: run scripts/test, or point DIGESTPIN_PYTHON at \
             an interpreter that has it",
            python().display()
        );
        crate::support::skip::missing(msg);
    }
    ok
}

/// Loads ORIGINAL and PINNED with PyYAML (all documents, anchors and merges resolved; a tag it
/// does not know, such as GitLab's `!reference`, read as if untagged; a mapping or list as a
/// key by its text) and prints, as JSON, the key paths where they differ, after checking that
/// each difference is a string that only gained a digest (and `:latest` when it had no tag).
/// Then checks that every reference in LIST (digestpin's `list --format json` for ORIGINAL) is a string PyYAML sees at
/// its key path (a key may itself hold `.` or `[`), containing the reported text.
const ORACLE: &str = r#"
import json, re, sys, yaml
orig_path, pinned_path, listed = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
class Loader(yaml.SafeLoader):
    def construct_mapping(self, node, deep=False):
        # A collection as a key (`{{TOKEN}}`) is YAML that PyYAML cannot hash: key by its repr.
        for i, (k, v) in enumerate(node.value):
            if not isinstance(k, yaml.ScalarNode):
                text = repr(self.construct_object(k, deep=True))
                node.value[i] = (yaml.ScalarNode("tag:yaml.org,2002:str", text), v)
        return super().construct_mapping(node, deep=deep)
def untagged(loader, suffix, node):
    # A tag PyYAML does not know (GitLab's `!reference`): the node's value as if untagged.
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)
Loader.add_multi_constructor("!", untagged)
load = lambda p: list(yaml.load_all(open(p, encoding="utf-8-sig", newline=""), Loader=Loader))
orig, pinned = load(orig_path), load(pinned_path)
assert len(orig) == len(pinned), "document count"
diffs = []
def walk(a, b, path):
    if isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), path
        for k in a:
            walk(a[k], b[k], path + [str(k)])
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            walk(x, y, path + ["[%d]" % i])
    elif a != b:
        assert isinstance(a, str) and isinstance(b, str), (path, a, b)
        m = re.search(r"@sha256:[0-9a-f]{64}", b)
        assert m, (path, a, b)
        gained = b[: m.start()] + b[m.end():]
        assert gained == a or gained.replace(":latest", "", 1) == a, (path, a, b)
        diffs.append(".".join(path).replace(".[", "["))
for a, b in zip(orig, pinned):
    walk(a, b, [])
def at(doc, site):
    # Every value at key path `site` (a key may hold `.` or `[`, as GitLab's hidden jobs do).
    if site == "":
        return [doc]
    out = []
    index = re.match(r"\[(\d+)\]", site)
    if index and isinstance(doc, list) and int(index.group(1)) < len(doc):
        rest = site[index.end():]
        out += at(doc[int(index.group(1))], rest[1:] if rest.startswith(".") else rest)
    if isinstance(doc, dict):
        for key, value in doc.items():
            key = str(key)
            rest = site[len(key):]
            if site.startswith(key) and rest[:1] in ("", "["):
                out += at(value, rest)
            elif site.startswith(key) and rest[:1] == ".":
                out += at(value, rest[1:])
    return out
for ref in listed:
    values = [v for d in orig if isinstance(d, dict) for v in at(d, ref["site"])]
    assert any(isinstance(v, str) and ref["original"] in v for v in values), ref
print(json.dumps(diffs))
"#;

/// What the oracle says of one file: the key paths whose values changed.
pub(crate) fn oracle(original: &Path, pinned: &Path, listed: &[Value]) -> Vec<String> {
    let listed: Vec<Value> = listed
        .iter()
        .map(|r| serde_json::json!({"site": r["site"], "original": r["original"]}))
        .collect();
    let out = Process::new(python())
        .args(["-c", ORACLE])
        .arg(original)
        .arg(pinned)
        .arg(serde_json::to_string(&listed).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "oracle on {}: {}",
        original.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Pins `fixtures/yaml/KIND/input` against `emu` and compares with `expected` (bless with
/// DIGESTPIN_BLESS=1); checks the offline check before names `unpinned`, the second run, the
/// checks after, and the oracle on every file. Returns the temporary tree.
fn golden(kind: &str, emu: &Emulator, unpinned: &[&str]) -> tempfile::TempDir {
    let fixtures = root().join("fixtures/yaml").join(kind);
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&fixtures.join("input"), dir.path());
    let files = relative_files(&fixtures.join("input"));

    let (code, check) = stdout(digestpin(dir.path(), emu).args([
        "pin",
        "--check",
        "--offline",
        "--color",
        "never",
    ]));
    assert_eq!(code, 1, "{check}");
    let named: Vec<&str> = check
        .lines()
        .map(|l| l.split(": ").next().unwrap_or(l))
        .collect();
    assert_eq!(named, unpinned, "{check}");

    let (code, list) = stdout(digestpin(dir.path(), emu).args(["list", "--format", "json"]));
    assert_eq!(code, 0, "{list}");
    let list: Value = serde_json::from_str(&list).unwrap();

    let out = digestpin(dir.path(), emu)
        .args(["pin", "--color", "never"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bless = std::env::var_os("DIGESTPIN_BLESS").is_some();
    for rel in &files {
        let actual = std::fs::read(dir.path().join(rel)).unwrap();
        let expected_path = fixtures.join("expected").join(rel);
        if bless {
            std::fs::create_dir_all(expected_path.parent().unwrap()).unwrap();
            std::fs::write(&expected_path, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read(&expected_path).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&actual),
            String::from_utf8_lossy(&expected),
            "{rel}"
        );
        assert_eq!(actual, expected, "{rel} byte for byte");
    }

    let before: Vec<Vec<u8>> = files
        .iter()
        .map(|rel| std::fs::read(dir.path().join(rel)).unwrap())
        .collect();
    let (code, diff) = stdout(digestpin(dir.path(), emu).arg("pin"));
    assert_eq!(
        (code, diff.as_str()),
        (0, ""),
        "the second run changes nothing"
    );
    let after: Vec<Vec<u8>> = files
        .iter()
        .map(|rel| std::fs::read(dir.path().join(rel)).unwrap())
        .collect();
    assert_eq!(before, after, "the second run changes nothing");
    digestpin(dir.path(), emu)
        .args(["pin", "--check"])
        .assert()
        .success();
    digestpin(dir.path(), emu)
        .args(["pin", "--check", "--offline"])
        .assert()
        .success();

    if have_pyyaml() {
        for file in list["files"].as_array().unwrap() {
            let rel = file["path"].as_str().unwrap();
            assert_eq!(file["kind"], kind, "{rel}");
            let refs = file["refs"].as_array().unwrap();
            for r in refs {
                assert_eq!(r["site"], r["instruction"], "{rel}");
            }
            let changed = oracle(
                &fixtures.join("input").join(rel),
                &dir.path().join(rel),
                refs,
            );
            let pinned_sites: Vec<&str> = refs
                .iter()
                .filter(|r| r["state"] == "unpinned")
                .map(|r| r["site"].as_str().unwrap())
                .collect();
            // Every pinned reference changed where PyYAML looks, and nothing else did but
            // the copies merged from the same anchor.
            for site in &pinned_sites {
                assert!(
                    changed.iter().any(|c| c == site),
                    "{rel}: {site} in {changed:?}"
                );
            }
            std::fs::write(
                dir.path().join(format!("{}.oracle", rel.replace('/', "_"))),
                changed.join("\n"),
            )
            .unwrap();
        }
    }
    dir
}

#[test]
fn compose_golden_pins_each_case_in_place() {
    let emu = Emulator::start();
    for (repo, tag) in [
        ("chainguard/go", "latest"),
        ("chainguard/static", "latest"),
        ("chainguard/nginx", "latest"),
        ("library/postgres", "16"),
        ("library/redis", "7"),
        ("library/busybox", "latest"),
        ("library/alpine", "3.20"),
    ] {
        emu.generate_history(repo, tag, 3, "2024-05-30T12:00:00Z", DAY);
    }
    let dir = golden(
        "compose",
        &emu,
        &[
            "compose.yaml:5:10",
            "compose.yaml:8:19",
            "compose.yaml:18:13",
            "compose.yaml:20:25",
            "compose.yaml:22:26",
            "compose.yaml:32:12",
            "compose.yaml:45:19",
            "sub/docker-compose.prod.yml:4:13",
            "sub/docker-compose.prod.yml:6:12",
        ],
    );
    if have_pyyaml() {
        let changed = std::fs::read_to_string(dir.path().join("compose.yaml.oracle")).unwrap();
        assert_eq!(
            changed.lines().collect::<Vec<_>>(),
            [
                "x-go.image",
                "x-static",
                "services.api.image",
                "services.worker.image",
                "services.web.image",
                "services.db.image",
                "services.cache.image",
                "services.dollars.image",
                "services.tiny.image",
                "services.flow.image",
            ]
        );
    }
}

#[test]
fn a_compose_build_output_is_never_pinned_nor_asked_for() {
    let emu = Emulator::start();
    emu.generate_history("chainguard/go", "latest", 2, "2024-05-30T12:00:00Z", DAY);
    let dir = tempfile::tempdir().unwrap();
    let compose = "services:\n  app:\n    build: .\n    image: cgr.dev/chainguard/go:latest\n  \
                   other:\n    build:\n      context: sub\n    image: \"me/other\"\n";
    std::fs::write(dir.path().join("compose.yml"), compose).unwrap();
    let (code, list) = stdout(digestpin(dir.path(), &emu).arg("list"));
    assert_eq!(code, 0);
    assert_eq!(
        list,
        "compose.yml:4:12: build-output services.app.image cgr.dev/chainguard/go:latest\n\
         compose.yml:8:13: build-output services.other.image me/other\n"
    );
    for args in [
        &["pin"][..],
        &["pin", "--check"],
        &["pin", "--check", "--offline"],
    ] {
        let (code, out) = stdout(digestpin(dir.path(), &emu).args(args));
        assert_eq!((code, out.as_str()), (0, ""), "{args:?}");
    }
    assert_eq!(
        std::fs::read_to_string(dir.path().join("compose.yml")).unwrap(),
        compose
    );
    assert_eq!(emu.count(Kind::History), 0);
    assert_eq!(emu.count(Kind::Manifest), 0);
}

/// YAML names digestpin walks for by name, and names it does not (the Dockerfile names are
/// checked in tests/integrations.rs the same way).
const YAML_HOOK_FILES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "deploy/docker-compose.yaml",
    "compose.override.yml",
    "sub/docker-compose.prod.ci.yaml",
    ".github/workflows/ci.yml",
    "sub/.github/workflows/release.yaml",
    "action.yml",
    ".github/actions/setup/action.yaml",
    ".gitlab-ci.yml",
    "ci/lint.gitlab-ci.yml",
];
const NOT_YAML_HOOK_FILES: &[&str] = &[
    "compose.json",
    "compose..yml",
    "mycompose.yml",
    "compose.yaml.bak",
    "values.yaml",
    ".github/workflows/sub/ci.yml",
    ".github/dependabot.yml",
    "myaction.yml",
    "gitlab-ci.yml",
    "deploy/app.yaml",
];

#[test]
fn pre_commit_files_pattern_matches_the_yaml_names_digestpin_walks_for() {
    if !have_pyyaml() {
        return;
    }
    let script = r#"
import json, re, sys, yaml
hooks = yaml.safe_load(open(sys.argv[1], encoding="utf-8"))
print(json.dumps([[bool(re.search(h["files"], p)) for p in sys.argv[2:]] for h in hooks]))
"#;
    let names: Vec<&str> = YAML_HOOK_FILES
        .iter()
        .chain(NOT_YAML_HOOK_FILES)
        .copied()
        .collect();
    let out = Process::new(python())
        .args(["-c", script])
        .arg(root().join(".pre-commit-hooks.yaml"))
        .args(&names)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hooks: Vec<Vec<bool>> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(hooks.len(), 4);
    for got in hooks {
        for (name, matched) in names.iter().zip(got) {
            assert_eq!(matched, YAML_HOOK_FILES.contains(name), "{name}");
            // Every name a kind claims for sure (Kubernetes claims any YAML name only
            // tentatively, by content: not in the hooks' pattern).
            assert_eq!(
                matched,
                digestpin::kinds::Kinds::default()
                    .claim(Path::new(name))
                    .is_some_and(|k| !k.tentative(Path::new(name))),
                "{name}"
            );
        }
    }
}

#[test]
fn github_actions_golden_pins_each_case_in_place() {
    let emu = Emulator::start();
    for (repo, tag) in [
        ("chainguard/go", "latest"),
        ("chainguard/static", "latest"),
        ("chainguard/busybox", "latest"),
        ("chainguard/python", "latest"),
        ("library/postgres", "16"),
        ("library/alpine", "3.20"),
    ] {
        emu.generate_history(repo, tag, 3, "2024-05-30T12:00:00Z", DAY);
    }
    let dir = golden(
        "github-actions",
        &emu,
        &[
            ".github/actions/lint/action.yml:6:22",
            ".github/workflows/ci.yml:10:16",
            ".github/workflows/ci.yml:13:17",
            ".github/workflows/ci.yml:19:24",
            ".github/workflows/ci.yml:22:25",
            ".github/workflows/ci.yml:27:15",
            "docker-action/action.yaml:5:19",
        ],
    );
    if have_pyyaml() {
        let changed =
            std::fs::read_to_string(dir.path().join(".github_workflows_ci.yml.oracle")).unwrap();
        assert_eq!(
            changed.lines().collect::<Vec<_>>(),
            [
                "jobs.test.container",
                "jobs.test.services.db.image",
                "jobs.test.steps[1].uses",
                "jobs.test.steps[2].uses",
                "jobs.build.container.image",
            ]
        );
    }
}

#[test]
fn walking_reads_hidden_folders_but_never_version_control_ones() {
    let dir = tempfile::tempdir().unwrap();
    for rel in [
        ".github/workflows/ci.yml",
        ".git/workflows/x/.github/workflows/ci.yml",
        ".hg/compose.yaml",
        ".devcontainer/compose.yaml",
    ] {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(
            &path,
            "jobs:\n  a:\n    container: alpine:3.20\nservices:\n  a:\n    image: alpine:3.20\n",
        )
        .unwrap();
    }
    let (code, list) = stdout(cli::digestpin(dir.path()).arg("list"));
    assert_eq!(code, 0);
    assert_eq!(
        list,
        ".devcontainer/compose.yaml:6:12: unpinned services.a.image alpine:3.20\n\
         .github/workflows/ci.yml:3:16: unpinned jobs.a.container alpine:3.20\n"
    );
}

#[test]
fn gitlab_ci_golden_pins_each_case_in_place() {
    let emu = Emulator::start();
    for (repo, tag) in [
        ("chainguard/go", "latest"),
        ("chainguard/busybox", "latest"),
        ("library/postgres", "16"),
        ("library/redis", "7"),
        ("library/alpine", "3.20"),
    ] {
        emu.generate_history(repo, tag, 3, "2024-05-30T12:00:00Z", DAY);
    }
    let dir = golden(
        "gitlab-ci",
        &emu,
        &[
            ".gitlab-ci.yml:2:8",
            ".gitlab-ci.yml:6:12",
            ".gitlab-ci.yml:9:7",
            ".gitlab-ci.yml:10:14",
            ".gitlab-ci.yml:27:14",
            "ci/lint.gitlab-ci.yml:5:10",
        ],
    );
    if have_pyyaml() {
        let changed = std::fs::read_to_string(dir.path().join(".gitlab-ci.yml.oracle")).unwrap();
        assert_eq!(
            changed.lines().collect::<Vec<_>>(),
            [
                "image",
                "default.image.name",
                "default.services[0]",
                "default.services[1].name",
                "build.services[0]",
            ]
        );
    }
}

#[test]
fn kubernetes_golden_pins_container_images_only() {
    let emu = Emulator::start();
    for (repo, tag) in [
        ("chainguard/go", "latest"),
        ("chainguard/busybox", "latest"),
        ("chainguard/nginx", "latest"),
        ("library/alpine", "3.20"),
    ] {
        emu.generate_history(repo, tag, 3, "2024-05-30T12:00:00Z", DAY);
    }
    let dir = golden(
        "kubernetes",
        &emu,
        &[
            "deploy/app.yaml:13:19",
            "deploy/app.yaml:16:18",
            "deploy/app.yaml:18:35",
            "deploy/app.yaml:42:22",
            "pod.yml:8:14",
        ],
    );
    if have_pyyaml() {
        let changed = std::fs::read_to_string(dir.path().join("deploy_app.yaml.oracle")).unwrap();
        assert_eq!(
            changed.lines().collect::<Vec<_>>(),
            [
                "spec.template.spec.initContainers[0].image",
                "spec.template.spec.containers[0].image",
                "spec.template.spec.containers[1].image",
                "spec.jobTemplate.spec.template.spec.containers[1].image",
            ]
        );
    }
}

#[test]
fn a_helm_template_is_skipped_when_walked_and_an_error_when_named() {
    let fixtures = root().join("fixtures/yaml/kubernetes/input");
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&fixtures.join("chart"), &dir.path().join("chart"));
    let (code, list) = stdout(cli::digestpin(dir.path()).args(["list", "--format", "json"]));
    assert_eq!(code, 0, "{list}");
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list["files"], serde_json::json!([]));
    let out = cli::digestpin(dir.path())
        .args(["list", "chart/templates/deployment.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("chart/templates/deployment.yaml:9: not valid YAML: "),
        "{stderr}"
    );
}

#[test]
fn kinds_flag_limits_a_run_and_overrides_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let write = |rel: &str, text: &str| {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("Dockerfile", "FROM alpine:3.20\n");
    write("compose.yaml", "services:\n  a:\n    image: alpine:3.20\n");
    write(
        "k8s/pod.yaml",
        "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - image: alpine:3.20\n",
    );
    write(".digestpin.toml", "kinds = [\"dockerfile\"]\n");
    let list = |args: &[&str]| stdout(cli::digestpin(dir.path()).arg("list").args(args));
    assert_eq!(list(&[]).1, "Dockerfile:1:6: unpinned FROM alpine:3.20\n");
    assert_eq!(
        list(&["--kinds", "compose,kubernetes"]).1,
        "compose.yaml:3:12: unpinned services.a.image alpine:3.20\n\
         k8s/pod.yaml:5:12: unpinned spec.containers[0].image alpine:3.20\n"
    );
    assert_eq!(list(&["--kinds", "helm"]).0, 2);
}

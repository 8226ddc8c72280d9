//! A file named on the command line is always read: its kind comes from its name, else from its
//! content, else it is read as a Dockerfile. A file found by walking is of a kind by its name
//! and place (`Dockerfile-dev` is a Dockerfile; a `stack.yml` is no Compose file unless named),
//! its content deciding only between kinds that claim it tentatively.

use crate::support::cli;

use std::path::Path;

use serde_json::Value;

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// One listed file: its path, its kind, and the site and text of each reference found.
type Listed = (String, String, Vec<(String, String)>);

/// `list --format json ARGS` in `dir`, file by file.
fn listed(dir: &Path, args: &[&str]) -> Vec<Listed> {
    let out = cli::digestpin(dir)
        .args(["list", "--format", "json"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    json["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert!(f["error"].is_null(), "{f}");
            let refs = f["refs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    let site = r["site"].as_str().unwrap_or_default().to_string();
                    (site, r["original"].as_str().unwrap().to_string())
                })
                .collect();
            (
                f["path"].as_str().unwrap().to_string(),
                f["kind"].as_str().unwrap().to_string(),
                refs,
            )
        })
        .collect()
}

const COMPOSE: &str = "x-note: shared\nservices:\n  web:\n    image: nginx:1.27\n";
const WORKFLOW: &str =
    "name: ci\non: push\njobs:\n  test:\n    container: node:20\n    steps:\n      - run: make\n";
const ACTION: &str =
    "name: lint\ndescription: lints\nruns:\n  using: docker\n  image: docker://alpine:3.20\n";
const GITLAB: &str = "stages: [test]\nservices:\n  - postgres:16\ntest:\n  image: golang:1.22\n  script:\n    - go test ./...\n";
const MANIFEST: &str =
    "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - name: app\n      image: redis:7\n";
const VALUES: &str = "image: nginx:1.27\nreplicas: 2\n";

#[test]
fn a_named_file_s_kind_comes_from_its_content_when_its_name_does_not_say() {
    let dir = tempfile::tempdir().unwrap();
    for (rel, text) in [
        ("stack.yml", COMPOSE),
        ("ci/build.yml", WORKFLOW),
        ("lint/meta.yaml", ACTION),
        ("ci/pipeline.yml", GITLAB),
        ("deploy/pod.yaml", MANIFEST),
        ("chart/values.yaml", VALUES),
        ("images.txt", "FROM alpine:3.20\n"),
    ] {
        write(dir.path(), rel, text);
    }
    let files = listed(
        dir.path(),
        &[
            "chart/values.yaml",
            "ci/build.yml",
            "ci/pipeline.yml",
            "deploy/pod.yaml",
            "images.txt",
            "lint/meta.yaml",
            "stack.yml",
        ],
    );
    let s = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(
        files,
        [
            // A YAML file of no kind is read as the kind its name tentatively claims, and
            // holds none of its references: not an error, nothing found.
            ("chart/values.yaml".into(), "kubernetes".into(), vec![]),
            (
                "ci/build.yml".into(),
                "github-actions".into(),
                vec![s("jobs.test.container", "node:20")]
            ),
            (
                "ci/pipeline.yml".into(),
                "gitlab-ci".into(),
                vec![
                    s("services[0]", "postgres:16"),
                    s("test.image", "golang:1.22")
                ]
            ),
            (
                "deploy/pod.yaml".into(),
                "kubernetes".into(),
                vec![s("spec.containers[0].image", "redis:7")]
            ),
            (
                "images.txt".into(),
                "dockerfile".into(),
                vec![s("FROM", "alpine:3.20")]
            ),
            (
                "lint/meta.yaml".into(),
                "github-actions".into(),
                vec![s("runs.image", "alpine:3.20")]
            ),
            (
                "stack.yml".into(),
                "compose".into(),
                vec![s("services.web.image", "nginx:1.27")]
            ),
        ]
    );

    // Claimed by its place (.gitlab/), a file stays GitLab CI when named, whatever another
    // kind's sniffing would say of it (top-level `services:` and no `script:` look like Compose).
    write(
        dir.path(),
        ".gitlab/ci/docker.yml",
        "services:\n  - docker:24-dind\nbuild:\n  image: docker:24\n  extends: .tpl\n",
    );
    for args in [&[".gitlab/ci/docker.yml"][..], &[".gitlab"][..]] {
        assert_eq!(
            listed(dir.path(), args),
            [(
                ".gitlab/ci/docker.yml".to_string(),
                "gitlab-ci".to_string(),
                vec![
                    s("services[0]", "docker:24-dind"),
                    s("build.image", "docker:24")
                ]
            )],
            "{args:?}"
        );
    }

    // `--check --offline` names the reference in the sniffed file by file:line:column.
    let out = cli::digestpin(dir.path())
        .args(["pin", "--check", "--offline", "stack.yml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("stack.yml:4:12"), "{stdout}");
}

#[test]
fn walking_claims_files_by_name_only() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "repo/Dockerfile-dev", "FROM alpine:3.20\n");
    write(
        dir.path(),
        "repo/ci/Dockerfile-alpine.prod",
        "FROM busybox:1\n",
    );
    write(dir.path(), "repo/Containerfile-dev", "FROM alpine:3.20\n");
    write(dir.path(), "repo/stack.yml", COMPOSE);
    write(dir.path(), "repo/ci/build.yml", WORKFLOW);
    write(dir.path(), "repo/deploy/pod.yaml", MANIFEST);
    // What a pipeline `include:`s lives under .gitlab/ (or .gitlab-ci/): read as GitLab CI,
    // unless it is a manifest; other YAML there (agent configuration) holds no image.
    write(
        dir.path(),
        "repo/.gitlab/ci/test.yml",
        "unit:\n  image: golang:1.22\n  script: [go test]\n",
    );
    write(dir.path(), "repo/.gitlab/k8s/pod.yaml", MANIFEST);
    write(
        dir.path(),
        "repo/.gitlab/agents/dev/config.yaml",
        "ci_access:\n  projects:\n    - id: group/app\n",
    );
    write(
        dir.path(),
        "repo/.gitlab-ci/lint.yml",
        "lint:\n  image: alpine:3.20\n",
    );
    let files = listed(dir.path(), &["repo"]);
    let kinds: Vec<(&str, &str)> = files
        .iter()
        .map(|(path, kind, _)| (path.as_str(), kind.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("repo/.gitlab/ci/test.yml", "gitlab-ci"),
            ("repo/.gitlab/k8s/pod.yaml", "kubernetes"),
            ("repo/.gitlab-ci/lint.yml", "gitlab-ci"),
            ("repo/Dockerfile-dev", "dockerfile"),
            ("repo/ci/Dockerfile-alpine.prod", "dockerfile"),
            ("repo/deploy/pod.yaml", "kubernetes"),
        ]
    );
}

//! The pre-commit hooks (`.pre-commit-hooks.yaml`): the manifest, and `pre-commit try-repo`
//! building digestpin exactly as pre-commit does (`cargo install --path .`, no `--locked`), and
//! the `-system` hooks running the digestpin on PATH.
//!
//! The try-repo test builds digestpin in release mode (minutes). Its cargo target directory is
//! `target/precommit/cargo-target`, so a second build in the same run, or a later run, only
//! recompiles digestpin itself.

use super::*;

// ------------------------------------------------------------------------------------------
// pre-commit

#[test]
fn pre_commit_manifest_is_valid() {
    if !have_tool("pre-commit") {
        return;
    }
    let out = Command::new(venv_tool("pre-commit"))
        .args(["validate-manifest", ".pre-commit-hooks.yaml"])
        .current_dir(root())
        .output()
        .expect("pre-commit");
    assert!(out.status.success(), "{}", text(&out));
}

/// Names digestpin walks for (see `files::is_dockerfile_name`), and names it does not.
const HOOK_FILES: &[&str] = &[
    "Dockerfile",
    "Containerfile",
    "Dockerfile.dev",
    "Dockerfile-dev",
    "ci/Dockerfile-alpine.prod",
    "Containerfile.prod",
    "deploy/app.Dockerfile",
    "deploy/nested/app.dockerfile",
    "x.Containerfile",
    "sub/y.containerfile",
    "sub/Dockerfile",
];
const NOT_HOOK_FILES: &[&str] = &[
    "dockerfile",
    "Containerfile-dev",
    ".dockerfile",
    "notes.txt",
    "Dockerfile.d/README.md",
    "sub/myDockerfile",
];

#[test]
fn pre_commit_files_pattern_matches_the_names_digestpin_walks_for() {
    if !have_runner() {
        return;
    }
    let script = r#"
import json, re, sys, yaml
hooks = yaml.safe_load(open(sys.argv[1], encoding="utf-8"))
print(json.dumps({h["id"]: [bool(re.search(h["files"], p)) for p in sys.argv[2:]] for h in hooks}))
"#;
    let names: Vec<&str> = HOOK_FILES.iter().chain(NOT_HOOK_FILES).copied().collect();
    let out = Command::new(python())
        .args(["-c", script])
        .arg(root().join(".pre-commit-hooks.yaml"))
        .args(&names)
        .output()
        .expect("python");
    assert!(out.status.success(), "{}", text(&out));
    let matches: BTreeMap<String, Vec<bool>> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        matches.keys().collect::<Vec<_>>(),
        [
            "digestpin",
            "digestpin-check",
            "digestpin-check-system",
            "digestpin-system"
        ]
    );
    for (hook, got) in matches {
        for (name, matched) in names.iter().zip(got) {
            assert_eq!(matched, HOOK_FILES.contains(name), "{hook}: {name}");
            assert_eq!(
                matched,
                digestpin::kinds::Kinds::default()
                    .claim(std::path::Path::new(name))
                    .is_some(),
                "{name}"
            );
        }
    }
}

/// The prebuilt (`language: system`) hooks are their build-from-source twins but for how
/// digestpin gets there: same command, same files, same name (what pre-commit prints).
#[test]
fn pre_commit_system_hooks_run_what_their_build_from_source_twins_run() {
    if !have_runner() {
        return;
    }
    let script = r#"
import json, sys, yaml
print(json.dumps(yaml.safe_load(open(sys.argv[1], encoding="utf-8"))))
"#;
    let out = Command::new(python())
        .args(["-c", script])
        .arg(root().join(".pre-commit-hooks.yaml"))
        .output()
        .expect("python");
    assert!(out.status.success(), "{}", text(&out));
    let hooks: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let by_id = |id: &str| {
        hooks
            .iter()
            .find(|h| h["id"] == id)
            .unwrap_or_else(|| panic!("no hook {id}"))
            .as_object()
            .unwrap()
            .clone()
    };
    for (built, system) in [
        ("digestpin-check", "digestpin-check-system"),
        ("digestpin", "digestpin-system"),
    ] {
        let (mut built, mut system) = (by_id(built), by_id(system));
        assert_eq!(built.remove("language").unwrap(), "rust");
        assert_eq!(system.remove("language").unwrap(), "system");
        let description = system.remove("description").unwrap();
        assert!(
            description
                .as_str()
                .unwrap()
                .ends_with("Uses the digestpin on PATH."),
            "{description}"
        );
        for hook in [&mut built, &mut system] {
            hook.remove("id");
            hook.remove("description");
        }
        assert_eq!(built, system);
    }
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "digestpin tests")
        .env("GIT_AUTHOR_EMAIL", "tests@digestpin.invalid")
        .env("GIT_COMMITTER_NAME", "digestpin tests")
        .env("GIT_COMMITTER_EMAIL", "tests@digestpin.invalid")
        .env("GIT_AUTHOR_DATE", "2024-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2024-01-01T00:00:00Z")
        .env_remove("GIT_DIR")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_WORK_TREE")
        .output()
        .expect("git");
    assert!(out.status.success(), "git {args:?}\n{}", text(&out));
}

/// The project as a hook repository: its tracked and untracked-but-not-ignored files (the
/// working tree as it is; on a clean CI clone that is HEAD), committed to a fresh repository.
fn hook_repository(into: &Path) {
    let out = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(root())
        .output()
        .expect("git ls-files");
    assert!(out.status.success(), "{}", text(&out));
    for name in out.stdout.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let name = String::from_utf8_lossy(name).into_owned();
        let from = root().join(&name);
        if !from.is_file() {
            continue;
        }
        let to = into.join(&name);
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::copy(&from, &to).unwrap();
    }
    git(into, &["init", "-q"]);
    git(into, &["add", "-A"]);
    git(
        into,
        &["commit", "-q", "--no-verify", "-m", "hook repository"],
    );
}

#[test]
fn pre_commit_try_repo_check_hook_fails_on_unpinned_and_passes_on_pinned() {
    if !have_tool("pre-commit") || !available("git", cmd_exists("git")) {
        return;
    }
    let work = root().join("target/precommit");
    fs::create_dir_all(&work).unwrap();
    let hooks = tempfile::tempdir_in(&work).unwrap();
    hook_repository(hooks.path());

    let repo = tempfile::tempdir().unwrap();
    git(repo.path(), &["init", "-q"]);
    let unpinned = "FROM cgr.dev/chainguard/static:latest\n";
    for name in HOOK_FILES.iter().chain(NOT_HOOK_FILES) {
        let path = repo.path().join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, unpinned).unwrap();
    }
    git(repo.path(), &["add", "-A"]);

    let try_repo = || {
        let out = Command::new(venv_tool("pre-commit"))
            .args(["try-repo", "--color", "never"])
            .arg(hooks.path())
            .args(["digestpin-check", "--all-files", "--verbose"])
            .current_dir(repo.path())
            .env("PRE_COMMIT_HOME", work.join("home"))
            .env("CARGO_TARGET_DIR", work.join("cargo-target"))
            .env_remove("GIT_DIR")
            .env_remove("GIT_INDEX_FILE")
            .env_remove("GIT_WORK_TREE")
            .env_remove("RUSTFLAGS")
            .stdin(Stdio::null())
            .output()
            .expect("pre-commit try-repo");
        (out.status.code(), text(&out))
    };

    // Unpinned: fails, naming every Dockerfile by its walked-for name and nothing else.
    let (code, out) = try_repo();
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("digestpin (image references pinned)"), "{out}");
    assert!(out.contains("Failed"), "{out}");
    let reported = |name: &str| out.lines().any(|l| l.starts_with(&format!("{name}:1:6: ")));
    for name in HOOK_FILES {
        assert!(reported(name), "{name} not checked\n{out}");
    }
    for name in NOT_HOOK_FILES {
        assert!(!reported(name), "{name} was checked\n{out}");
    }

    // Pinned (the other names stay unpinned: the hook never sees them): passes.
    let digest = format!("sha256:{}", "0123456789abcdef".repeat(4));
    for name in HOOK_FILES {
        fs::write(
            repo.path().join(name),
            format!("FROM cgr.dev/chainguard/static:latest@{digest}\n"),
        )
        .unwrap();
    }
    git(repo.path(), &["add", "-A"]);
    let (code, out) = try_repo();
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("Passed"), "{out}");
}

#[test]
fn pre_commit_try_repo_system_hook_uses_the_digestpin_on_path_and_builds_nothing() {
    if !have_tool("pre-commit") || !available("git", cmd_exists("git")) {
        return;
    }
    let hooks = tempfile::tempdir().unwrap();
    hook_repository(hooks.path());
    let home = tempfile::tempdir().unwrap();
    let repo = tempfile::tempdir().unwrap();
    git(repo.path(), &["init", "-q"]);
    let digest = format!("sha256:{}", "0123456789abcdef".repeat(4));
    fs::write(
        repo.path().join("Dockerfile"),
        "FROM cgr.dev/chainguard/static:latest\n",
    )
    .unwrap();
    fs::write(
        repo.path().join("app.dockerfile"),
        format!("FROM cgr.dev/chainguard/static:latest@{digest}\n"),
    )
    .unwrap();
    git(repo.path(), &["add", "-A"]);

    // PATH: a directory with digestpin (where a release binary would be), then the rest of
    // PATH without any other digestpin.
    let bin = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(digestpin(), bin.path().join("digestpin")).unwrap();
    let rest: Vec<PathBuf> = std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .filter(|d| !d.join("digestpin").exists())
        .collect();
    let with = std::env::join_paths(std::iter::once(bin.path().to_path_buf()).chain(rest.clone()))
        .unwrap();
    let without = std::env::join_paths(rest).unwrap();
    let try_repo = |path: &std::ffi::OsStr| {
        let out = Command::new(venv_tool("pre-commit"))
            .args(["try-repo", "--color", "never"])
            .arg(hooks.path())
            .args(["digestpin-check-system", "--all-files", "--verbose"])
            .current_dir(repo.path())
            .env("PRE_COMMIT_HOME", home.path())
            .env("PATH", path)
            .env_remove("GIT_DIR")
            .env_remove("GIT_INDEX_FILE")
            .env_remove("GIT_WORK_TREE")
            .stdin(Stdio::null())
            .output()
            .expect("pre-commit try-repo");
        (out.status.code(), text(&out))
    };
    let (code, out) = try_repo(&with);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("Dockerfile:1:6: "), "{out}");
    assert!(!out.contains("app.dockerfile:1:6: "), "{out}");
    // pre-commit made no Rust environment (`rustenv-*`): nothing was built.
    for entry in fs::read_dir(home.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            for inner in fs::read_dir(&path).unwrap() {
                let name = inner.unwrap().file_name();
                assert!(!name.to_string_lossy().starts_with("rustenv"), "{name:?}");
            }
        }
    }
    fs::write(
        repo.path().join("Dockerfile"),
        format!("FROM cgr.dev/chainguard/static:latest@{digest}\n"),
    )
    .unwrap();
    git(repo.path(), &["add", "-A"]);
    let (code, out) = try_repo(&with);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("Passed"), "{out}");

    // Without digestpin on PATH the hook says so rather than building it.
    let (code, out) = try_repo(&without);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("digestpin"), "{out}");
    assert!(out.contains("not found"), "{out}");
}

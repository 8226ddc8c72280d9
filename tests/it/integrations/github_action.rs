//! The GitHub Action (`action.yml`), run step by step as a runner would by
//! `tests/action/run_action.py`, against the Tag History API emulator, in `check`, `diff` and
//! `pin` modes: annotations, outputs, step summary, files rewritten only by `pin`; bad input,
//! paths without Dockerfiles, the binary cache, and credentials that never reach any output;
//! with `version: X.Y.Z`, a release served from 127.0.0.1: the runner's archive downloaded and
//! used only when its SHA-256 matches the release's SHA256SUMS (a tampered one refused).
//! `action.yml` and the example workflows in `examples/github/` are checked against GitHub's
//! schemas (check-jsonschema's built-in copies, no network) and zizmor (`--offline`).

use super::*;

// ------------------------------------------------------------------------------------------
// The GitHub Action

/// cgr.dev/chainguard/img-{0,1,2}:latest, five digests each, one an hour, the newest 90 minutes
/// old; and the private cgr.dev/acme/app:latest, readable only with IDENTITY:SECRET.
pub(super) struct Registry {
    emu: Emulator,
    history: BTreeMap<String, Vec<Entry>>,
}

impl Registry {
    pub(super) fn start() -> Registry {
        let emu = Emulator::start();
        let now = jiff::Timestamp::now()
            .round(jiff::Unit::Second)
            .expect("round");
        let start = now
            .checked_sub(jiff::SignedDuration::from_secs(5 * 3600 + 1800))
            .expect("start")
            .to_string();
        let hour = Duration::from_secs(3600);
        let mut history = BTreeMap::new();
        for repo in [
            "chainguard/img-0",
            "chainguard/img-1",
            "chainguard/img-2",
            "acme/app",
        ] {
            history.insert(
                repo.to_string(),
                emu.generate_history(repo, "latest", 5, &start, hour),
            );
        }
        emu.add_private_org("acme", IDENTITY, SECRET);
        Registry { emu, history }
    }

    /// The `i`-th digest of `repo:latest`, oldest first (4 is the current one).
    pub(super) fn digest(&self, repo: &str, i: usize) -> &str {
        &self.history[repo][i].digest
    }

    pub(super) fn timestamp(&self, repo: &str, i: usize) -> &str {
        &self.history[repo][i].timestamp
    }
}

const DOCKERFILE: &str = "FROM cgr.dev/chainguard/img-0:latest AS build\n\
                          RUN make\n\
                          FROM cgr.dev/chainguard/img-1:latest@STALE\n\
                          COPY --from=build /out /out\n";
const APP_DOCKERFILE: &str = "# the API service\nFROM cgr.dev/chainguard/img-2\n";

/// A workspace: `Dockerfile` (one unpinned, one stale reference), `services/api/app.dockerfile`
/// (unpinned), `docs/` without Dockerfiles.
pub(super) fn workspace(reg: &Registry) -> tempfile::TempDir {
    let ws = tempfile::tempdir().expect("tempdir");
    let dockerfile = DOCKERFILE.replace("STALE", reg.digest("chainguard/img-1", 1));
    fs::write(ws.path().join("Dockerfile"), dockerfile).unwrap();
    fs::create_dir_all(ws.path().join("services/api")).unwrap();
    fs::write(
        ws.path().join("services/api/app.dockerfile"),
        APP_DOCKERFILE,
    )
    .unwrap();
    fs::create_dir_all(ws.path().join("docs")).unwrap();
    fs::write(ws.path().join("docs/README.md"), "FROM is a keyword\n").unwrap();
    ws
}

pub(super) fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                files.insert(rel, fs::read(&path).unwrap());
            }
        }
    }
    files
}

/// What one run of the action left behind.
pub(super) struct Run {
    result: Value,
    /// RUNNER_TEMP, kept until the run is dropped.
    temp: tempfile::TempDir,
}

impl Run {
    pub(super) fn conclusion(&self) -> &str {
        self.result["conclusion"].as_str().unwrap()
    }

    pub(super) fn output(&self, name: &str) -> &str {
        self.result["outputs"][name].as_str().unwrap_or("")
    }

    pub(super) fn log(&self) -> &str {
        self.result["log"].as_str().unwrap()
    }

    pub(super) fn summary(&self) -> &str {
        self.result["summary"].as_str().unwrap()
    }

    /// `(level, file, line, col, message)` of every annotation.
    pub(super) fn annotations(&self) -> Vec<(String, String, String, String, String)> {
        self.result["annotations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                let prop = |k: &str| a["properties"][k].as_str().unwrap_or("").to_string();
                (
                    a["level"].as_str().unwrap().to_string(),
                    prop("file"),
                    prop("line"),
                    prop("col"),
                    a["message"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    pub(super) fn step(&self, id: &str) -> &Value {
        self.result["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .unwrap_or_else(|| panic!("no step {id}: {:#}", self.result["steps"]))
    }

    pub(super) fn report(&self) -> Value {
        let path = self.output("report");
        assert!(
            Path::new(path).starts_with(self.temp.path()),
            "report {path} is not under RUNNER_TEMP {}",
            self.temp.path().display()
        );
        serde_json::from_slice(&fs::read(path).expect("report")).expect("report JSON")
    }

    pub(super) fn dump(&self) -> String {
        format!(
            "conclusion {}\noutputs {}\nannotations {:#?}\n--- log\n{}\n--- summary\n{}",
            self.conclusion(),
            self.result["outputs"],
            self.annotations(),
            self.log(),
            self.summary()
        )
    }
}

pub(super) struct Action<'a> {
    reg: &'a Registry,
    workspace: &'a Path,
    inputs: Vec<(String, String)>,
    env: Vec<(String, String)>,
    tool_cache: Option<PathBuf>,
    flags: Vec<String>,
}

impl<'a> Action<'a> {
    pub(super) fn new(reg: &'a Registry, workspace: &'a Path) -> Action<'a> {
        Action {
            reg,
            workspace,
            inputs: Vec::new(),
            env: Vec::new(),
            tool_cache: None,
            flags: vec![
                "--cargo-shim".into(),
                digestpin().to_string_lossy().into_owned(),
            ],
        }
    }

    pub(super) fn input(mut self, name: &str, value: &str) -> Self {
        self.inputs.push((name.into(), value.into()));
        self
    }

    pub(super) fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    pub(super) fn tool_cache(mut self, dir: &Path) -> Self {
        self.tool_cache = Some(dir.to_path_buf());
        self
    }

    pub(super) fn flag(mut self, flag: &str) -> Self {
        self.flags.push(flag.into());
        self
    }

    pub(super) fn run(self) -> Run {
        let temp = tempfile::tempdir().expect("runner temp");
        let cache = temp.path().join("digestpin-cache");
        let result_file = temp.path().join("result.json");
        let mut cmd = Command::new(python());
        cmd.arg(root().join("tests/action/run_action.py"))
            .arg("--action-dir")
            .arg(root())
            .arg("--workspace")
            .arg(self.workspace)
            .arg("--runner-temp")
            .arg(temp.path())
            .arg("--result")
            .arg(&result_file)
            .args(&self.flags);
        if let Some(dir) = &self.tool_cache {
            cmd.arg("--tool-cache").arg(dir);
        }
        for (k, v) in &self.inputs {
            cmd.arg("--input").arg(format!("{k}={v}"));
        }
        for k in SCRUB {
            cmd.env_remove(k);
        }
        cmd.env(
            "DIGESTPIN_ENDPOINTS",
            format!("cgr.dev={}", self.reg.emu.url()),
        )
        .env("DIGESTPIN_CACHE_DIR", &cache)
        .env("DOCKER_CONFIG", temp.path().join("docker-config"))
        .env("NO_COLOR", "1");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let out = cmd.stdin(Stdio::null()).output().expect("run_action.py");
        assert!(out.status.success(), "run_action.py failed\n{}", text(&out));
        let result =
            serde_json::from_slice(&fs::read(&result_file).expect("result")).expect("result JSON");
        Run { result, temp }
    }
}

#[test]
fn action_check_mode_annotates_every_finding_and_fails() {
    if !have_runner() {
        return;
    }
    let reg = Registry::start();
    let ws = workspace(&reg);
    let before = snapshot(ws.path());
    let run = Action::new(&reg, ws.path()).run();
    let why = run.dump();

    assert_eq!(run.conclusion(), "failure", "{why}");
    assert_eq!(run.step("run")["exit_code"], 1, "{why}");
    let (img0, img1, img2) = (
        reg.digest("chainguard/img-0", 4),
        reg.digest("chainguard/img-1", 4),
        reg.digest("chainguard/img-2", 4),
    );
    let annotations = run.annotations();
    assert_eq!(annotations.len(), 3, "{why}");
    let expect = [
        (
            "Dockerfile",
            "1",
            "cgr.dev/chainguard/img-0:latest is not pinned to a digest",
            img0,
        ),
        ("Dockerfile", "3", "is stale", img1),
        (
            "services/api/app.dockerfile",
            "2",
            "cgr.dev/chainguard/img-2 is not pinned to a digest",
            img2,
        ),
    ];
    for ((level, file, line, col, message), (efile, eline, etext, edigest)) in
        annotations.iter().zip(expect)
    {
        assert_eq!(level, "error", "{why}");
        assert_eq!(
            (file.as_str(), line.as_str(), col.as_str()),
            (efile, eline, "6"),
            "{why}"
        );
        assert!(
            message.contains(etext) && message.contains(edigest),
            "{message}\n{why}"
        );
    }
    assert!(
        run.log()
            .contains("3 image references are unpinned or stale"),
        "{why}"
    );

    assert_eq!(run.output("changed"), "true", "{why}");
    assert_eq!(run.output("findings"), "3", "{why}");
    let report = run.report();
    assert_eq!(report["summary"]["pinned"], 2);
    assert_eq!(report["summary"]["updated"], 1);
    assert_eq!(report["files"][0]["path"], "Dockerfile");

    let summary = run.summary();
    assert!(summary.contains("### digestpin check"), "{why}");
    assert!(
        summary.contains("| File | Line | Image | Status |"),
        "{why}"
    );
    assert!(
        summary.contains("| Dockerfile | 1 | `cgr.dev/chainguard/img-0:latest` | unpinned |"),
        "{why}"
    );
    assert!(
        summary.contains(
            "| services/api/app.dockerfile | 2 | `cgr.dev/chainguard/img-2` | unpinned |"
        ),
        "{why}"
    );
    assert!(summary.contains(&format!("`{}…`", &img1[..19])), "{why}");

    assert_eq!(
        snapshot(ws.path()),
        before,
        "check mode wrote to the workspace"
    );
}

#[test]
fn action_upload_sarif_writes_findings_for_code_scanning() {
    if !have_runner() {
        return;
    }
    let reg = Registry::start();
    let ws = workspace(&reg);
    let run = Action::new(&reg, ws.path())
        .input("mode", "check")
        .input("upload-sarif", "true")
        .run();
    let why = run.dump();
    assert_eq!(run.conclusion(), "failure", "{why}");
    let sarif_path = run.output("sarif");
    assert!(
        Path::new(sarif_path).starts_with(run.temp.path()),
        "{sarif_path}\n{why}"
    );
    let sarif: Value = serde_json::from_slice(&fs::read(sarif_path).unwrap()).unwrap();
    assert_eq!(sarif["version"], "2.1.0", "{why}");
    let rules: Vec<&str> = sarif["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["ruleId"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["unpinned", "stale", "unpinned"], "{why}");
    // The upload step runs even though the check failed: it uses the pinned codeql action.
    let upload = run.step("__step4");
    assert_eq!(upload["condition"], true, "{why}");
    assert!(
        upload["uses"]
            .as_str()
            .unwrap()
            .starts_with("github/codeql-action/upload-sarif@"),
        "{why}"
    );
    // Without the input: no SARIF, no upload.
    let run = Action::new(&reg, ws.path()).input("mode", "check").run();
    assert_eq!(run.output("sarif"), "");
    assert_eq!(run.step("__step4")["condition"], false);
}

#[test]
fn action_diff_mode_reports_changes_and_succeeds_without_writing() {
    if !have_runner() {
        return;
    }
    let reg = Registry::start();
    let ws = workspace(&reg);
    let before = snapshot(ws.path());
    let run = Action::new(&reg, ws.path()).input("mode", "diff").run();
    let why = run.dump();

    assert_eq!(run.conclusion(), "success", "{why}");
    let annotations = run.annotations();
    let notices: Vec<_> = annotations.iter().filter(|a| a.0 == "notice").collect();
    assert_eq!(notices.len(), 3, "{why}");
    assert_eq!(annotations.len(), 3, "{why}");
    assert!(
        notices[0]
            .4
            .starts_with("would pin cgr.dev/chainguard/img-0:latest to ")
            && notices[0].4.contains(reg.digest("chainguard/img-0", 4)),
        "{why}"
    );
    assert!(
        notices[1]
            .4
            .starts_with("would update cgr.dev/chainguard/img-1:latest@"),
        "{why}"
    );
    assert_eq!(
        (notices[2].1.as_str(), notices[2].2.as_str()),
        ("services/api/app.dockerfile", "2")
    );

    assert_eq!(run.output("changed"), "true", "{why}");
    assert_eq!(run.output("findings"), "3", "{why}");
    assert_eq!(run.report()["summary"]["pinned"], 2);

    let summary = run.summary();
    assert!(summary.contains("### digestpin diff"), "{why}");
    assert!(
        summary.contains("<details><summary>Diff</summary>"),
        "{why}"
    );
    assert!(
        summary.contains(&format!(
            "+FROM cgr.dev/chainguard/img-2:latest@{}",
            reg.digest("chainguard/img-2", 4)
        )),
        "{why}"
    );

    assert_eq!(
        snapshot(ws.path()),
        before,
        "diff mode wrote to the workspace"
    );
}

#[test]
fn action_pin_mode_rewrites_the_files_then_has_nothing_left_to_do() {
    if !have_runner() {
        return;
    }
    let reg = Registry::start();
    let ws = workspace(&reg);
    let run = Action::new(&reg, ws.path()).input("mode", "pin").run();
    let why = run.dump();

    assert_eq!(run.conclusion(), "success", "{why}");
    let annotations = run.annotations();
    assert_eq!(annotations.len(), 3, "{why}");
    assert!(annotations.iter().all(|a| a.0 == "notice"), "{why}");
    assert!(
        annotations[0]
            .4
            .starts_with("pinned cgr.dev/chainguard/img-0:latest to "),
        "{why}"
    );
    assert!(
        annotations[1]
            .4
            .starts_with("updated cgr.dev/chainguard/img-1:latest@"),
        "{why}"
    );
    assert_eq!(run.output("changed"), "true", "{why}");
    assert_eq!(run.output("findings"), "3", "{why}");
    assert!(run.summary().contains("### digestpin pin"), "{why}");

    let dockerfile = fs::read_to_string(ws.path().join("Dockerfile")).unwrap();
    assert_eq!(
        dockerfile,
        format!(
            "FROM cgr.dev/chainguard/img-0:latest@{} AS build\nRUN make\n\
             FROM cgr.dev/chainguard/img-1:latest@{}\nCOPY --from=build /out /out\n",
            reg.digest("chainguard/img-0", 4),
            reg.digest("chainguard/img-1", 4)
        )
    );
    // A reference without a tag keeps its spelling: IMAGE@DIGEST.
    assert_eq!(
        fs::read_to_string(ws.path().join("services/api/app.dockerfile")).unwrap(),
        format!(
            "# the API service\nFROM cgr.dev/chainguard/img-2:latest@{}\n",
            reg.digest("chainguard/img-2", 4)
        )
    );

    // Pinned now: pin changes nothing, check passes.
    let before = snapshot(ws.path());
    let again = Action::new(&reg, ws.path()).input("mode", "pin").run();
    assert_eq!(again.conclusion(), "success", "{}", again.dump());
    assert_eq!(again.output("changed"), "false", "{}", again.dump());
    assert_eq!(again.output("findings"), "0", "{}", again.dump());
    assert!(again.annotations().is_empty(), "{}", again.dump());
    assert_eq!(snapshot(ws.path()), before);
    let check = Action::new(&reg, ws.path()).run();
    assert_eq!(check.conclusion(), "success", "{}", check.dump());
    assert_eq!(check.output("findings"), "0", "{}", check.dump());
}

#[test]
fn action_as_of_min_age_and_args_inputs_reach_digestpin() {
    if !have_runner() {
        return;
    }
    let reg = Registry::start();
    let ws = workspace(&reg);

    // Digests are published 5.5 … 1.5 hours ago: a 3 hour cooldown picks the 3.5 hour old one.
    let run = Action::new(&reg, ws.path())
        .input("mode", "diff")
        .input("paths", "Dockerfile")
        .input("min-age", "3h")
        .run();
    let why = run.dump();
    assert_eq!(run.conclusion(), "success", "{why}");
    let notices = run.annotations();
    assert_eq!(notices.len(), 2, "{why}");
    assert!(
        notices[0].4.contains(reg.digest("chainguard/img-0", 2)),
        "{why}"
    );
    assert!(
        notices[1].4.contains(reg.digest("chainguard/img-1", 2)),
        "{why}"
    );

    // as-of, extra args split on any whitespace, paths with a leading ./ (dropped, so that
    // annotations name files as the repository does).
    let run = Action::new(&reg, ws.path())
        .input("mode", "pin")
        .input("paths", "./services\n./Dockerfile")
        .input("as-of", reg.timestamp("chainguard/img-0", 1))
        .input("args", "--digest-only\n  --jobs 2")
        .run();
    let why = run.dump();
    assert_eq!(run.conclusion(), "success", "{why}");
    let files: std::collections::BTreeSet<String> =
        run.annotations().into_iter().map(|a| a.1).collect();
    assert_eq!(
        files.into_iter().collect::<Vec<_>>(),
        ["Dockerfile", "services/api/app.dockerfile"],
        "{why}"
    );
    let dockerfile = fs::read_to_string(ws.path().join("Dockerfile")).unwrap();
    assert!(
        dockerfile.starts_with(&format!(
            "FROM cgr.dev/chainguard/img-0@{} AS build\n",
            reg.digest("chainguard/img-0", 1)
        )),
        "{dockerfile}\n{why}"
    );
    assert_eq!(
        fs::read_to_string(ws.path().join("services/api/app.dockerfile")).unwrap(),
        format!(
            "# the API service\nFROM cgr.dev/chainguard/img-2@{}\n",
            reg.digest("chainguard/img-2", 1)
        )
    );
}

#[test]
fn action_rejects_an_unknown_mode_naming_the_allowed_ones() {
    if !have_runner() {
        return;
    }
    let reg = Registry::start();
    let ws = workspace(&reg);
    let before = snapshot(ws.path());
    let run = Action::new(&reg, ws.path()).input("mode", "update").run();
    let why = run.dump();
    assert_eq!(run.conclusion(), "failure", "{why}");
    assert_eq!(run.step("prepare")["outcome"], "failure", "{why}");
    assert_eq!(run.step("install")["outcome"], "skipped", "{why}");
    assert_eq!(run.step("run")["outcome"], "skipped", "{why}");
    let annotations = run.annotations();
    assert_eq!(annotations.len(), 1, "{why}");
    assert_eq!(annotations[0].0, "error");
    assert_eq!(
        annotations[0].4,
        "unknown mode 'update': expected check, diff or pin"
    );
    assert!(run.result["cargo_calls"].as_array().unwrap().is_empty());
    assert_eq!(reg.emu.requests().len(), 0, "no registry request");
    assert_eq!(snapshot(ws.path()), before);
}

#[test]
fn action_warns_and_succeeds_when_paths_hold_no_dockerfile() {
    if !have_runner() {
        return;
    }
    let reg = Registry::start();
    let ws = workspace(&reg);
    let run = Action::new(&reg, ws.path()).input("paths", "docs").run();
    let why = run.dump();
    assert_eq!(run.conclusion(), "success", "{why}");
    let annotations = run.annotations();
    assert_eq!(annotations.len(), 1, "{why}");
    assert_eq!(annotations[0].0, "warning", "{why}");
    assert_eq!(
        annotations[0].4,
        "docs: no Dockerfile, Compose, GitHub Actions, GitLab CI or Kubernetes files found",
        "{why}"
    );
    assert_eq!(run.output("changed"), "false", "{why}");
    assert_eq!(run.output("findings"), "0", "{why}");
}

#[test]
fn action_never_prints_credentials_even_with_debug_logging() {
    if !have_runner() {
        return;
    }
    let reg = Registry::start();
    let ws = tempfile::tempdir().unwrap();
    fs::write(
        ws.path().join("Dockerfile"),
        "FROM cgr.dev/acme/app:latest\nFROM cgr.dev/chainguard/img-0:latest\n",
    )
    .unwrap();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{IDENTITY}:{SECRET}"));
    let forbidden = [SECRET.to_string(), basic.clone()];

    for mode in ["check", "diff", "pin"] {
        reg.emu.clear_requests();
        let run = Action::new(&reg, ws.path())
            .input("mode", mode)
            .env("CHAINGUARD_IDENTITY_ID", IDENTITY)
            .env("CHAINGUARD_TOKEN", SECRET)
            .env("ACTIONS_STEP_DEBUG", "true")
            .env("RUNNER_DEBUG", "1")
            .run();
        let why = run.dump();
        assert_eq!(
            run.conclusion(),
            if mode == "check" {
                "failure"
            } else {
                "success"
            },
            "{why}"
        );
        assert_eq!(run.output("findings"), "2", "{why}");
        // The private repository was read with the credential...
        assert!(
            reg.emu.requests().iter().any(|r| r.kind == Kind::Token
                && r.authorization.as_deref() == Some(&format!("Basic {basic}"))),
            "the credential was not used"
        );
        // ... in debug mode (requests logged, expressions traced) ...
        assert!(run.log().contains("##[debug]Evaluating"), "{why}");
        assert!(
            run.log().contains("/token"),
            "digestpin -v logs requests\n{why}"
        );
        // ... and it appears nowhere: log, annotations, outputs, summary, or any file the run
        // left (report, GITHUB_OUTPUT files, step scripts) or touched in the workspace.
        let result = run.result.to_string();
        let mut files = snapshot(run.temp.path());
        files.extend(snapshot(ws.path()));
        for secret in &forbidden {
            assert!(!result.contains(secret.as_str()), "{secret} leaked:\n{why}");
            for (name, bytes) in &files {
                assert!(
                    !String::from_utf8_lossy(bytes).contains(secret.as_str()),
                    "{secret} leaked into {name}"
                );
            }
        }
    }
    assert!(
        fs::read_to_string(ws.path().join("Dockerfile"))
            .unwrap()
            .contains("acme/app:latest@sha256:")
    );
}

#[test]
fn action_builds_from_its_source_once_then_uses_the_cache() {
    if !have_runner() {
        return;
    }
    let reg = Registry::start();
    let ws = workspace(&reg);
    let tool_cache = tempfile::tempdir().unwrap();

    let first = Action::new(&reg, ws.path())
        .tool_cache(tool_cache.path())
        .run();
    let calls: Vec<String> = first.result["cargo_calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(calls.len(), 1, "{}", first.dump());
    let prefix = format!("install --locked --path {} --root ", root().display());
    assert!(calls[0].starts_with(&prefix), "{}", calls[0]);
    let dir = first.step("prepare")["outputs"]["dir"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        dir.starts_with(&tool_cache.path().to_string_lossy().into_owned()),
        "{dir}"
    );
    assert_eq!(calls[0], format!("{prefix}{dir}"));
    let key = first.step("prepare")["outputs"]["key"].as_str().unwrap();
    assert!(key.starts_with("digestpin-Linux-X64-"), "{key}");
    // The cache step is the pinned actions/cache, keyed and pathed by the prepare step.
    let uses = first.result["steps"][1]["uses"].as_str().unwrap();
    assert_eq!(
        uses,
        "actions/cache@5a3ec84eff668545956fd18022155c47e93e2684"
    );

    let second = Action::new(&reg, ws.path())
        .tool_cache(tool_cache.path())
        .run();
    assert!(
        second.result["cargo_calls"].as_array().unwrap().is_empty(),
        "{}",
        second.dump()
    );
    assert!(
        second.log().contains("digestpin: using the cached"),
        "{}",
        second.dump()
    );
    assert_eq!(
        second.step("prepare")["outputs"]["key"].as_str().unwrap(),
        key
    );
    assert_eq!(second.output("findings"), "3");

    // version: path uses the digestpin on PATH and builds nothing.
    let bin = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(digestpin(), bin.path().join("digestpin")).unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let on_path = Action::new(&reg, ws.path())
        .input("version", "path")
        .env("PATH", &path)
        .run();
    assert!(on_path.result["cargo_calls"].as_array().unwrap().is_empty());
    assert_eq!(on_path.step("__step1")["outcome"], "skipped");
    assert_eq!(on_path.output("findings"), "3", "{}", on_path.dump());

    for version in ["latest", "1.2.3/../../elsewhere", "v1.2", "1.2.3+build"] {
        let bad = Action::new(&reg, ws.path()).input("version", version).run();
        assert_eq!(bad.conclusion(), "failure", "{}", bad.dump());
        assert!(
            bad.annotations()[0]
                .4
                .contains("expected source, path or a release such as 0.2.0"),
            "{}",
            bad.dump()
        );
        assert!(bad.result["cargo_calls"].as_array().unwrap().is_empty());
    }
}

// ------------------------------------------------------------------------------------------
// The action with `version: X.Y.Z`: a release downloaded from a loopback server

/// A static file server on 127.0.0.1 (HTTP/1.1, one request per connection) that records the
/// path of every request: a GitHub release's download URLs, served from a directory.
pub(super) struct FileServer {
    pub(super) url: String,
    requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl FileServer {
    pub(super) fn start(root_dir: &Path) -> FileServer {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (dir, seen) = (root_dir.to_path_buf(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                loop {
                    let mut header = String::new();
                    match reader.read_line(&mut header) {
                        Ok(n) if n > 2 => continue,
                        _ => break,
                    }
                }
                let path = line.split(' ').nth(1).unwrap_or("/").to_string();
                seen.lock().unwrap().push(path.clone());
                let file = dir.join(path.trim_start_matches('/'));
                let (status, body) = match (path.contains(".."), fs::read(&file)) {
                    (false, Ok(body)) => ("200 OK", body),
                    _ => ("404 Not Found", b"not found\n".to_vec()),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\n\
                     Content-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body);
            }
        });
        FileServer { url, requests }
    }

    pub(super) fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `dir/TAG/digestpin-TARGET.tar.gz` as the release workflow packs it: one folder
/// `digestpin-TARGET/` holding the executable `digestpin` (here a copy of `bin`). Returns the
/// archive's SHA-256.
fn release_asset(dir: &Path, tag: &str, target: &str, bin: &Path) -> String {
    let stage = tempfile::tempdir().unwrap();
    let folder = stage.path().join(format!("digestpin-{target}"));
    fs::create_dir_all(&folder).unwrap();
    fs::copy(bin, folder.join("digestpin")).unwrap();
    // Without debug info (a tenth of the size), faster to pack and unpack; a script stays as is.
    let _ = Command::new("strip")
        .arg("--strip-debug")
        .arg(folder.join("digestpin"))
        .stderr(Stdio::null())
        .status();
    fs::create_dir_all(dir.join(tag)).unwrap();
    let archive = dir.join(tag).join(format!("digestpin-{target}.tar.gz"));
    let out = Command::new("tar")
        .arg("-czf")
        .arg(&archive)
        .arg("-C")
        .arg(stage.path())
        .arg(format!("digestpin-{target}"))
        .output()
        .expect("tar");
    assert!(out.status.success(), "{}", text(&out));
    sha256_hex(&fs::read(&archive).unwrap())
}

fn write_sums(dir: &Path, tag: &str, sums: &[(&str, &str)]) {
    let lines: String = sums
        .iter()
        .map(|(sum, name)| format!("{sum}  {name}\n"))
        .collect();
    fs::write(dir.join(tag).join("SHA256SUMS"), lines).unwrap();
}

const LINUX_X64: &str = "digestpin-x86_64-unknown-linux-musl.tar.gz";
const LINUX_ARM64: &str = "digestpin-aarch64-unknown-linux-musl.tar.gz";

#[test]
fn action_downloads_a_release_for_the_runner_verifies_its_checksum_and_runs_it() {
    if !have_runner() || !available("curl and tar", cmd_exists("curl") && cmd_exists("tar")) {
        return;
    }
    let reg = Registry::start();
    let ws = workspace(&reg);
    let releases = tempfile::tempdir().unwrap();
    let x64 = release_asset(
        releases.path(),
        "v0.1.0",
        "x86_64-unknown-linux-musl",
        &digestpin(),
    );
    let arm64 = release_asset(
        releases.path(),
        "v0.1.0",
        "aarch64-unknown-linux-musl",
        &digestpin(),
    );
    write_sums(
        releases.path(),
        "v0.1.0",
        &[(&arm64, LINUX_ARM64), (&x64, LINUX_X64)],
    );
    let server = FileServer::start(releases.path());

    for (version, arch, asset, sum) in [
        ("0.1.0", "X64", LINUX_X64, &x64),
        ("v0.1.0", "ARM64", LINUX_ARM64, &arm64),
    ] {
        let before = server.requests().len();
        let run = Action::new(&reg, ws.path())
            .input("version", version)
            .input("release-url", &format!("{}/", server.url))
            .flag("--runner-arch")
            .flag(arch)
            .run();
        let why = run.dump();
        // The check ran with the downloaded binary: same findings as a build from source.
        assert_eq!(run.conclusion(), "failure", "{why}");
        assert_eq!(run.step("install")["outcome"], "success", "{why}");
        assert_eq!(run.step("run")["exit_code"], 1, "{why}");
        assert_eq!(run.output("findings"), "3", "{why}");
        assert!(run.result["cargo_calls"].as_array().unwrap().is_empty());
        // Nothing to build, so nothing to restore from actions/cache.
        assert_eq!(run.step("__step1")["outcome"], "skipped", "{why}");
        let bin = run.step("install")["outputs"]["bin"].as_str().unwrap();
        assert!(Path::new(bin).starts_with(run.temp.path()), "{bin}");
        assert!(
            run.log()
                .contains(&format!("{asset} sha256 {sum} matches SHA256SUMS")),
            "{why}"
        );
        assert_eq!(
            server.requests()[before..],
            [format!("/v0.1.0/{asset}"), "/v0.1.0/SHA256SUMS".to_string()],
            "{why}"
        );
    }

    // Without release-url: the action repository's releases on GITHUB_SERVER_URL, the
    // repository from github.action_repository, else from where the runner checked the action
    // out (_actions/OWNER/REPO/REF; here only action.yml, which is all a release needs).
    let github = tempfile::tempdir().unwrap();
    let download = github
        .path()
        .join("acme/digestpin/releases/download/v0.1.0");
    fs::create_dir_all(&download).unwrap();
    for entry in fs::read_dir(releases.path().join("v0.1.0")).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), download.join(entry.file_name())).unwrap();
    }
    let github_server = FileServer::start(github.path());
    let checked_out = tempfile::tempdir().unwrap();
    let action_dir = checked_out.path().join("_actions/acme/digestpin/0123abc");
    fs::create_dir_all(&action_dir).unwrap();
    fs::copy(root().join("action.yml"), action_dir.join("action.yml")).unwrap();
    for flags in [
        vec!["--action-repository", "acme/digestpin"],
        vec!["--action-dir", action_dir.to_str().unwrap()],
    ] {
        let mut action = Action::new(&reg, ws.path())
            .input("version", "0.1.0")
            .env("GITHUB_SERVER_URL", &github_server.url);
        for flag in &flags {
            action = action.flag(flag);
        }
        let run = action.run();
        assert_eq!(run.output("findings"), "3", "{flags:?}\n{}", run.dump());
    }
    assert_eq!(
        github_server.requests(),
        [
            "/acme/digestpin/releases/download/v0.1.0/digestpin-x86_64-unknown-linux-musl.tar.gz",
            "/acme/digestpin/releases/download/v0.1.0/SHA256SUMS",
        ]
        .repeat(2)
    );

    // No release-url and no action repository (a local `uses: ./`): an error saying what to set.
    let run = Action::new(&reg, ws.path()).input("version", "0.1.0").run();
    assert_eq!(run.step("install")["exit_code"], 1, "{}", run.dump());
    assert!(run.log().contains("set release-url"), "{}", run.dump());

    // Plain http is refused for anything but loopback; a runner without a release binary is
    // told to build from source. Neither downloads anything.
    let before = server.requests().len();
    let run = Action::new(&reg, ws.path())
        .input("version", "0.1.0")
        .input("release-url", "http://mirror.example/releases")
        .run();
    assert_eq!(run.step("install")["exit_code"], 1, "{}", run.dump());
    assert!(run.log().contains("must be https://"), "{}", run.dump());
    let run = Action::new(&reg, ws.path())
        .input("version", "0.1.0")
        .input("release-url", &server.url)
        .flag("--runner-os")
        .flag("Windows")
        .flag("--runner-arch")
        .flag("ARM64")
        .run();
    assert_eq!(run.step("install")["exit_code"], 1, "{}", run.dump());
    assert!(
        run.log()
            .contains("no digestpin release binary for Windows ARM64: use version: source"),
        "{}",
        run.dump()
    );
    assert_eq!(server.requests().len(), before);
}

#[test]
fn action_refuses_a_release_binary_whose_checksum_does_not_match() {
    if !have_runner() || !available("curl and tar", cmd_exists("curl") && cmd_exists("tar")) {
        return;
    }
    let reg = Registry::start();
    let ws = workspace(&reg);
    let before = snapshot(ws.path());
    let releases = tempfile::tempdir().unwrap();
    let genuine = release_asset(
        releases.path(),
        "v0.1.0",
        "x86_64-unknown-linux-musl",
        &digestpin(),
    );
    // The asset is replaced by one that would leave a mark if it ever ran; SHA256SUMS still
    // holds the genuine archive's checksum.
    let marker = ws.path().join("tampered-binary-ran");
    let evil = tempfile::tempdir().unwrap();
    let evil_bin = evil.path().join("digestpin");
    fs::write(
        &evil_bin,
        format!("#!/bin/sh\ntouch '{}'\n", marker.display()),
    )
    .unwrap();

    let mut perm = fs::metadata(&evil_bin).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    fs::set_permissions(&evil_bin, perm).unwrap();
    let tampered = release_asset(
        releases.path(),
        "v0.1.0",
        "x86_64-unknown-linux-musl",
        &evil_bin,
    );
    assert_ne!(genuine, tampered);
    write_sums(releases.path(), "v0.1.0", &[(&genuine, LINUX_X64)]);
    let server = FileServer::start(releases.path());

    let run = Action::new(&reg, ws.path())
        .input("version", "0.1.0")
        .input("release-url", &server.url)
        .run();
    let why = run.dump();
    assert_eq!(run.conclusion(), "failure", "{why}");
    assert_eq!(run.step("install")["exit_code"], 1, "{why}");
    assert_eq!(run.step("run")["outcome"], "skipped", "{why}");
    let errors: Vec<String> = run
        .annotations()
        .into_iter()
        .filter(|a| a.0 == "error")
        .map(|a| a.4)
        .collect();
    assert_eq!(
        errors,
        [format!(
            "checksum mismatch for {LINUX_X64} of v0.1.0: expected sha256 {genuine} \
             (SHA256SUMS), got {tampered}; refusing to use it"
        )],
        "{why}"
    );
    assert!(!marker.exists(), "the tampered binary ran\n{why}");
    assert_eq!(snapshot(ws.path()), before);

    // A SHA256SUMS without a line for the asset is no better.
    write_sums(
        releases.path(),
        "v0.1.0",
        &[(&genuine, "digestpin-x86_64-apple-darwin.tar.gz")],
    );
    let run = Action::new(&reg, ws.path())
        .input("version", "0.1.0")
        .input("release-url", &server.url)
        .run();
    assert_eq!(run.step("install")["exit_code"], 1, "{}", run.dump());
    assert!(
        run.log()
            .contains(&format!("has no checksum for {LINUX_X64}; not using it")),
        "{}",
        run.dump()
    );
    // A release that does not exist: the download fails, naming the URL.
    let run = Action::new(&reg, ws.path())
        .input("version", "9.9.9")
        .input("release-url", &server.url)
        .run();
    assert_eq!(run.step("install")["exit_code"], 1, "{}", run.dump());
    assert!(
        run.log().contains(&format!(
            "could not download {}/v9.9.9/{LINUX_X64}",
            server.url
        )),
        "{}",
        run.dump()
    );
    assert!(!marker.exists());
}

#[test]
fn action_reads_the_report_without_jq() {
    if !have_runner() {
        return;
    }
    let reg = Registry::start();
    let ws = workspace(&reg);
    let run = Action::new(&reg, ws.path()).flag("--hide-jq").run();
    assert_eq!(run.output("changed"), "true", "{}", run.dump());
    assert_eq!(run.output("findings"), "3", "{}", run.dump());
}

// ------------------------------------------------------------------------------------------
// Schemas and static analysis

fn example_workflows() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(root().join("examples/github"))
        .expect("examples/github")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    // The project's own workflows (ci.yml, release.yml) are held to the same rules.
    if let Ok(entries) = fs::read_dir(root().join(".github/workflows")) {
        files.extend(
            entries
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml")),
        );
    }
    files.sort();
    files
}

#[test]
fn action_and_example_workflows_match_githubs_schemas() {
    if !have_tool("check-jsonschema") {
        return;
    }
    let workflows = example_workflows();
    assert!(workflows.len() >= 5, "{workflows:?}");
    for (schema, files) in [
        ("vendor.github-actions", vec![root().join("action.yml")]),
        ("vendor.github-workflows", workflows),
    ] {
        let out = Command::new(venv_tool("check-jsonschema"))
            .args(["--builtin-schema", schema])
            .args(&files)
            .output()
            .expect("check-jsonschema");
        assert!(out.status.success(), "{schema}: {files:?}\n{}", text(&out));
    }
}

#[test]
fn zizmor_finds_nothing_above_low_severity() {
    if !have_tool("zizmor") {
        return;
    }
    // zizmor rightly calls the examples' placeholder unpinned: check them as a user's copy
    // would be, with a full commit SHA in its place.
    let copies = tempfile::tempdir().unwrap();
    let mut workflows = Vec::new();
    for (i, file) in example_workflows().iter().enumerate() {
        let text = fs::read_to_string(file).unwrap().replace(
            "OWNER/digestpin@<full 40-hex commit SHA>",
            &format!("OWNER/digestpin@{}", "0123456789".repeat(4)),
        );
        let copy = copies.path().join(format!(
            "{i}-{}",
            file.file_name().unwrap().to_string_lossy()
        ));
        fs::write(&copy, text).unwrap();
        workflows.push(copy);
    }
    let out = Command::new(venv_tool("zizmor"))
        .args(["--offline", "--no-progress", "--min-severity", "medium"])
        .arg(root().join("action.yml"))
        .args(&workflows)
        .env_remove("GH_TOKEN")
        .env_remove("GITHUB_TOKEN")
        .env_remove("ZIZMOR_GITHUB_TOKEN")
        .output()
        .expect("zizmor");
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("No findings to report"),
        "{}",
        text(&out)
    );
}

/// How the examples (and the README) name digestpin's own action: a placeholder the user
/// replaces with their source and the full commit SHA of a release.
const PLACEHOLDER: &str = "OWNER/digestpin@<full 40-hex commit SHA> # vX.Y.Z";

#[test]
fn every_uses_is_pinned_to_a_full_commit_sha_with_its_version() {
    let mut files = example_workflows();
    files.push(root().join("action.yml"));
    for file in files {
        let text = fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let Some(rest) = line
                .trim_start()
                .trim_start_matches("- ")
                .strip_prefix("uses:")
            else {
                continue;
            };
            let rest = rest.trim();
            let at = format!("{}:{}", file.display(), n + 1);
            // The examples are for users to copy: they name the action as a user would, with
            // the README's placeholder, never `uses: ./` (which only works in this repository).
            if file.starts_with(root().join("examples")) && rest.starts_with("OWNER/digestpin@") {
                assert_eq!(
                    rest, PLACEHOLDER,
                    "{at}: the placeholder is spelled {PLACEHOLDER}"
                );
                continue;
            }
            let (action, comment) = rest.split_once(" # ").unwrap_or((rest, ""));
            let sha = action.rsplit_once('@').map(|(_, s)| s).unwrap_or("");
            assert!(
                sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()),
                "{at}: {action} is not pinned to a full commit SHA"
            );
            assert!(comment.starts_with('v'), "{at}: no version comment");
        }
    }
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    assert!(
        readme.contains(&format!("uses: {PLACEHOLDER}")),
        "README.md does not show the action as {PLACEHOLDER}"
    );
}

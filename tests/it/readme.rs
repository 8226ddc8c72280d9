//! The README's shell snippets, run as written, so the docs cannot drift from the tool.
//!
//! Rules (keep them in mind when editing README.md):
//!
//! - Every fenced block whose language is `sh`, `bash`, `shell` or `console` is a snippet, and
//!   every snippet runs unless the line just before its fence (blank lines allowed between) is
//!   `<!-- not-run: REASON -->` (a reason is required: "downloads from github.com", "needs a
//!   real CI"). Other blocks (`yaml`, `dockerfile`, `json`, `text`) are not run.
//! - `sh`/`bash`/`shell` blocks run as one script, `bash -euo pipefail`, and must exit 0.
//! - `console` blocks: a line starting with `$ ` is a command (a trailing `\` continues it on
//!   the next line); the lines after it, up to the next command, are its expected output. The
//!   commands of a block run one after the other in one bash session (a `cd` carries over;
//!   `pipefail` on, so `digestpin … | tail` fails when digestpin does).
//!   Each must exit 0, unless its line ends with a comment `# exit N`. Each expected output
//!   line must equal a line of that command's output (stdout and stderr together, in any
//!   order; trailing spaces ignored), where `…` stands for any text: write digests and times
//!   as `sha256:…`.
//! - `<!-- run: background -->` before a `console` block with one command: a server. It is
//!   started from the checkout (e.g. `cargo run --example emulator`) and left running for the
//!   later snippets; the test waits for its expected output lines (e.g. `listening on …`).
//! - The port `5555` anywhere in a snippet (`--port 5555`, `http://127.0.0.1:5555`) is replaced
//!   by a free port, so that parallel test runs do not collide.
//!
//! Where they run: blocks run in README order. Each non-background block starts in a fresh
//! empty directory holding one `Dockerfile`, `FROM cgr.dev/chainguard/img-0:latest@DIGEST`
//! pinned to its current digest (a repository that is already pinned, what a CI gate expects),
//! with a fresh `HOME`, `digestpin` (this build) first on `PATH`, and `DIGESTPIN_ENDPOINTS`
//! sending `cgr.dev` to an emulator of the Tag History API started by this test (serving
//! `cgr.dev/chainguard/img-0` … `img-4:latest`), so snippets name cgr.dev images as users do
//! and nothing reaches the internet.
//!
//! Also here: the README's GitLab CI recipe (its `yaml` block under `### GitLab CI`), run as a
//! GitLab runner would run the job, twice, with the documented cache between the two (read
//! the test's comment). Its first job builds digestpin in release mode with `cargo install
//! --path`, in this project's target directory: only digestpin itself compiles (2–3 minutes
//! on two cores after a source change, nothing when unchanged). Reading the recipe takes
//! PyYAML from `$DIGESTPIN_PYTHON` (else `.venv/bin/python`), as tests/integrations.rs does.

use crate::support::{emulator, skip};

use std::fmt::Write as _;
use std::fs;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use emulator::Emulator;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn digestpin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_digestpin"))
}

const SHELLS: &[&str] = &["sh", "bash", "shell", "console"];
const PORT_PLACEHOLDER: &str = "5555";

#[derive(Debug, PartialEq)]
enum Marker {
    None,
    NotRun(String),
    Background,
}

#[derive(Debug)]
struct Snippet {
    /// 1-based line of the opening fence.
    line: usize,
    lang: String,
    marker: Marker,
    body: Vec<String>,
}

/// The shell snippets of a Markdown text, with the marker before each; an unknown marker or a
/// `not-run` without a reason is an error.
fn snippets(markdown: &str) -> Result<Vec<Snippet>, String> {
    let lines: Vec<&str> = markdown.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(info) = lines[i].strip_prefix("```") else {
            i += 1;
            continue;
        };
        let lang = info.split_whitespace().next().unwrap_or("").to_string();
        let start = i;
        let mut body = Vec::new();
        i += 1;
        while i < lines.len() && !lines[i].starts_with("```") {
            body.push(lines[i].to_string());
            i += 1;
        }
        i += 1;
        if !SHELLS.contains(&lang.as_str()) {
            continue;
        }
        let before = lines[..start].iter().rev().find(|l| !l.trim().is_empty());
        let marker = match before.map(|l| l.trim()) {
            Some(l) if l.starts_with("<!--") && l.ends_with("-->") => {
                let inner = l.trim_start_matches("<!--").trim_end_matches("-->").trim();
                if let Some(reason) = inner.strip_prefix("not-run:") {
                    if reason.trim().is_empty() {
                        return Err(format!("README.md:{}: not-run needs a reason", start + 1));
                    }
                    Marker::NotRun(reason.trim().to_string())
                } else if inner == "run: background" {
                    Marker::Background
                } else {
                    return Err(format!(
                        "README.md:{}: unknown marker <!-- {inner} -->: expected \
                         `not-run: REASON` or `run: background`",
                        start + 1
                    ));
                }
            }
            _ => Marker::None,
        };
        out.push(Snippet {
            line: start + 1,
            lang,
            marker,
            body,
        });
    }
    Ok(out)
}

/// One command of a `console` block: its text, the exit status it documents, its output lines.
#[derive(Debug)]
struct ConsoleCommand {
    line: usize,
    command: String,
    exit: i32,
    expected: Vec<String>,
}

fn console_commands(snippet: &Snippet) -> Vec<ConsoleCommand> {
    let mut commands: Vec<ConsoleCommand> = Vec::new();
    let mut continued = false;
    for (n, line) in snippet.body.iter().enumerate() {
        if continued {
            let cmd = commands.last_mut().unwrap();
            cmd.command.push('\n');
            cmd.command.push_str(line);
            continued = line.ends_with('\\');
        } else if let Some(command) = line.strip_prefix("$ ") {
            continued = command.ends_with('\\');
            commands.push(ConsoleCommand {
                line: snippet.line + 1 + n,
                command: command.to_string(),
                exit: 0,
                expected: Vec::new(),
            });
        } else if let Some(cmd) = commands.last_mut() {
            if !line.trim().is_empty() {
                cmd.expected.push(line.trim_end().to_string());
            }
        }
    }
    for cmd in &mut commands {
        let last = cmd.command.lines().last().unwrap_or("").to_string();
        if let Some((_, n)) = last.rsplit_once("# exit ") {
            cmd.exit = n.trim().parse().unwrap_or(-1);
        }
    }
    commands
}

/// `expected` with `…` standing for any text, against one output line.
fn line_matches(expected: &str, actual: &str) -> bool {
    let actual = actual.trim_end();
    let parts: Vec<&str> = expected.split('…').collect();
    if parts.len() == 1 {
        return expected == actual;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !actual.starts_with(first) || !actual[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &actual[first.len()..actual.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Background servers, killed (their whole process group) when the test ends.
struct Servers(Vec<Child>);

impl Drop for Servers {
    fn drop(&mut self) {
        for child in &mut self.0 {
            // SAFETY: kill(2) on the process group this test created for the child.
            unsafe {
                libc::kill(-(child.id() as i32), libc::SIGTERM);
            }
            let _ = child.wait();
        }
    }
}

struct Env {
    home: tempfile::TempDir,
    path: std::ffi::OsString,
    endpoints: String,
    dockerfile: String,
}

impl Env {
    fn command(&self, script: &str, cwd: &Path) -> Command {
        let mut cmd = Command::new("bash");
        cmd.args(["--noprofile", "--norc", "-c", script])
            .current_dir(cwd)
            .env("HOME", self.home.path())
            .env("PATH", &self.path)
            .env("DIGESTPIN_ENDPOINTS", &self.endpoints)
            .env("NO_COLOR", "1")
            .env("TERM", "dumb")
            .stdin(Stdio::null());
        // What `cargo test` sets for the test (CARGO_PKG_NAME, CARGO_MANIFEST_DIR, …) is not in a
        // user's shell; a nested `cargo run` seeing it would rebuild build-script crates.
        for (var, _) in std::env::vars_os() {
            let name = var.to_string_lossy();
            if (name == "CARGO" || name.starts_with("CARGO_")) && name != "CARGO_HOME" {
                cmd.env_remove(&var);
            }
        }
        for var in [
            "CHAINGUARD_IDENTITY_ID",
            "CHAINGUARD_TOKEN",
            "DOCKER_CONFIG",
            "DIGESTPIN_CACHE_DIR",
            "XDG_CACHE_HOME",
            "XDG_CONFIG_HOME",
            "XDG_DATA_HOME",
            "CARGO_TARGET_DIR",
            "BASH_ENV",
            "ENV",
        ] {
            cmd.env_remove(var);
        }
        cmd
    }

    /// A fresh directory holding the pinned `Dockerfile`.
    fn sandbox(&self) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("Dockerfile"), &self.dockerfile).unwrap();
        dir
    }
}

fn run_script(env: &Env, snippet: &Snippet, script: &str) -> Result<(), String> {
    let dir = env.sandbox();
    let out = env
        .command(&format!("set -euo pipefail\n{script}"), dir.path())
        .output()
        .expect("bash");
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "README.md:{}: the {} block exited {:?}\n{script}\n--- output\n{}{}",
        snippet.line,
        snippet.lang,
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

fn run_console(env: &Env, commands: &[ConsoleCommand]) -> Result<(), String> {
    let dir = env.sandbox();
    let outputs = tempfile::tempdir().unwrap();
    let mut script = String::from("set -o pipefail\n");
    for (i, cmd) in commands.iter().enumerate() {
        let base = outputs.path().join(i.to_string());
        writeln!(
            script,
            "{{ {}\n}} > '{}.out' 2>&1 < /dev/null; echo $? > '{}.status'",
            cmd.command,
            base.display(),
            base.display()
        )
        .unwrap();
    }
    let out = env.command(&script, dir.path()).output().expect("bash");
    let mut errors = String::new();
    for (i, cmd) in commands.iter().enumerate() {
        let base = outputs.path().join(i.to_string());
        let status = fs::read_to_string(base.with_extension("status"))
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok());
        let output = fs::read_to_string(base.with_extension("out")).unwrap_or_default();
        let mut problems = Vec::new();
        if status != Some(cmd.exit) {
            problems.push(format!("exited {status:?}, documented {}", cmd.exit));
        }
        for expected in &cmd.expected {
            if !output.lines().any(|l| line_matches(expected, l)) {
                problems.push(format!("no output line matches {expected:?}"));
            }
        }
        if !problems.is_empty() {
            writeln!(
                errors,
                "README.md:{}: $ {}\n  {}\n--- output\n{output}--- bash stderr\n{}",
                cmd.line,
                cmd.command,
                problems.join("\n  "),
                String::from_utf8_lossy(&out.stderr)
            )
            .unwrap();
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn start_background(
    env: &Env,
    servers: &mut Servers,
    snippet: &Snippet,
    commands: &[ConsoleCommand],
) -> Result<(), String> {
    let [cmd] = commands else {
        return Err(format!(
            "README.md:{}: a background block holds exactly one command",
            snippet.line
        ));
    };
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut child = env
        .command(&format!("exec {}", cmd.command), &root())
        .stdout(Stdio::from(log.reopen().unwrap()))
        .stderr(Stdio::from(log.reopen().unwrap()))
        .process_group(0)
        .spawn()
        .expect("bash");
    // Compiling the example may take a while on a cold target directory.
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let text = fs::read_to_string(log.path()).unwrap_or_default();
        let ready = cmd
            .expected
            .iter()
            .all(|e| text.lines().any(|l| line_matches(e, l)));
        if ready {
            servers.0.push(child);
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "README.md:{}: $ {}\n  exited {status} before printing {:?}\n--- output\n{text}",
                cmd.line, cmd.command, cmd.expected
            ));
        }
        if Instant::now() > deadline {
            servers.0.push(child);
            return Err(format!(
                "README.md:{}: $ {}\n  did not print {:?} within 600 s\n--- output\n{text}",
                cmd.line, cmd.command, cmd.expected
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn every_shell_snippet_in_the_readme_runs_as_written() {
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    let port = free_port().to_string();
    let all = snippets(&readme.replace(PORT_PLACEHOLDER, &port)).unwrap_or_else(|e| panic!("{e}"));

    let emu = Emulator::start();
    let now = jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .expect("round");
    let start = now
        .checked_sub(jiff::SignedDuration::from_secs(24 * 3600))
        .expect("start")
        .to_string();
    let mut current = String::new();
    for i in 0..5 {
        let history = emu.generate_history(
            &format!("chainguard/img-{i}"),
            "latest",
            24,
            &start,
            Duration::from_secs(3600),
        );
        if i == 0 {
            current = history.last().unwrap().digest.clone();
        }
    }
    let bin = digestpin().parent().unwrap().to_path_buf();
    let env = Env {
        home: tempfile::tempdir().unwrap(),
        path: std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        )))
        .unwrap(),
        endpoints: format!("cgr.dev={}", emu.url()),
        dockerfile: format!("FROM cgr.dev/chainguard/img-0:latest@{current}\n"),
    };

    let mut servers = Servers(Vec::new());
    let mut failures = Vec::new();
    let (mut ran, mut skipped) = (0, 0);
    for snippet in &all {
        let result = match (&snippet.marker, snippet.lang.as_str()) {
            (Marker::NotRun(_), _) => {
                skipped += 1;
                continue;
            }
            (Marker::Background, "console") => {
                start_background(&env, &mut servers, snippet, &console_commands(snippet))
            }
            (Marker::Background, _) => Err(format!(
                "README.md:{}: `run: background` is for console blocks",
                snippet.line
            )),
            (Marker::None, "console") => run_console(&env, &console_commands(snippet)),
            (Marker::None, _) => run_script(&env, snippet, &snippet.body.join("\n")),
        };
        ran += 1;
        if let Err(e) = result {
            failures.push(e);
        }
    }
    drop(servers);
    assert!(
        failures.is_empty(),
        "{} of {ran} README snippets failed ({skipped} marked not-run):\n\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The rules found the snippets: the quick start alone has a server and a session.
    assert!(ran >= 4, "only {ran} snippets ran");
}

// ------------------------------------------------------------------------------------------
// The extraction rules themselves

#[test]
fn snippet_rules_markers_languages_and_continuations() {
    let md = "intro\n\
              ```sh\necho one\n```\n\
              <!-- not-run: needs the internet -->\n\n\
              ```bash\ncurl https://example.com\n```\n\
              ```yaml\nkey: value\n```\n\
              <!-- run: background -->\n\
              ```console\n$ serve --port 5555\nlistening on http://127.0.0.1:5555\n```\n\
              ```console\n$ false   # exit 1\n$ printf 'a\\n' \\\n  'b'\nout …\n\n```\n";
    let s = snippets(md).unwrap();
    assert_eq!(s.len(), 4, "{s:#?}");
    assert_eq!(s[0].marker, Marker::None);
    assert_eq!(s[0].line, 2);
    assert_eq!(s[1].marker, Marker::NotRun("needs the internet".into()));
    assert_eq!(s[2].marker, Marker::Background);
    let cmds = console_commands(&s[3]);
    assert_eq!(cmds.len(), 2);
    assert_eq!(cmds[0].exit, 1);
    assert_eq!(cmds[1].command, "printf 'a\\n' \\\n  'b'");
    assert_eq!(cmds[1].expected, ["out …"]);
    assert_eq!(cmds[1].exit, 0);

    assert!(snippets("<!-- not-run: -->\n```sh\nx\n```\n").is_err());
    assert!(snippets("<!-- skip -->\n```sh\nx\n```\n").is_err());
    // A marker applies to the next block only.
    let s = snippets("<!-- not-run: x -->\n```sh\na\n```\n```sh\nb\n```\n").unwrap();
    assert_eq!(s[1].marker, Marker::None);
}

#[test]
fn ellipsis_stands_for_any_text() {
    assert!(line_matches("a", "a  "));
    assert!(!line_matches("a", "ab"));
    assert!(line_matches("x sha256:…", "x sha256:0123"));
    assert!(line_matches(
        "…: not pinned (…)",
        "D:1: not pinned (sha256:1)"
    ));
    assert!(line_matches("a…b…c", "a--b--c"));
    assert!(!line_matches("a…b…c", "a--c--b"));
    assert!(!line_matches("sha256:…", "x sha256:0"));
}

// ------------------------------------------------------------------------------------------
// The GitLab CI recipe, run as a GitLab runner would run the job

fn python() -> Option<PathBuf> {
    let python = std::env::var_os("DIGESTPIN_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv/bin/python"));
    let ok = Command::new(&python)
        .args(["-c", "import yaml"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Some(python);
    }
    let msg = format!(
        "{} with PyYAML is not available: run scripts/test (it fills .venv), or point \
         DIGESTPIN_PYTHON at an interpreter that has it",
        python.display()
    );
    skip::missing(msg);
    None
}

/// The first `yaml` block after the `### GitLab CI` heading, as JSON: `{job: {...}}`.
fn gitlab_recipe(python: &Path) -> serde_json::Value {
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    let section = &readme[readme.find("\n### GitLab CI\n").expect("### GitLab CI")..];
    let start = section.find("```yaml\n").expect("a yaml block") + "```yaml\n".len();
    let yaml = &section[start..start + section[start..].find("\n```").unwrap()];
    let mut child = Command::new(python)
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin)))",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python");
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), yaml.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `$NAME` / `${NAME}` expanded from `vars`, as GitLab expands variables in `variables:` and
/// `cache:key`.
fn expand(text: &str, vars: &[(String, String)]) -> String {
    let mut text = text.to_string();
    for (name, value) in vars {
        text = text
            .replace(&format!("${{{name}}}"), value)
            .replace(&format!("${name}"), value);
    }
    text
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The recipe's job, twice, as a GitLab runner with the documented cache would run it: a clean
/// HOME and project directory, the image's environment (cargo on PATH through CARGO_HOME and
/// RUSTUP_HOME, no digestpin), the job's `variables`, its `script:` lines in one bash. First
/// with an empty cache: digestpin is installed and found on PATH (the recipe's first fault was
/// `command not found`, exit 127). Then in a fresh clone with the cache saved by the first job
/// (`cache:paths` under `cache:key`) restored: digestpin is found without running cargo (its
/// second fault: the cache never hit, every pipeline rebuilt).
///
/// The only liberty taken: `cargo install … --git https://github.com/OWNER/digestpin --rev …`
/// installs this checkout (`--path`) instead, with CARGO_TARGET_DIR at this project's target
/// directory so that only digestpin itself is compiled.
#[test]
fn gitlab_recipe_installs_digestpin_on_path_and_its_cache_hits_in_the_next_job() {
    let Some(python) = python() else {
        return;
    };
    let recipe = gitlab_recipe(&python);
    let job = &recipe["digestpin"];
    let script: Vec<&str> = job["script"]
        .as_array()
        .expect("script")
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let install = r#"--git https://github.com/OWNER/digestpin --rev "$DIGESTPIN_REV" digestpin"#;
    assert!(
        script.iter().any(|l| l.contains(install)),
        "the recipe no longer installs with {install}: update this test\n{script:#?}"
    );
    let script = script
        .join("\n")
        .replace(install, &format!("--path '{}'", root().display()));

    let emu = Emulator::start();
    let history = emu.generate_history(
        "chainguard/img-0",
        "latest",
        3,
        "2024-06-01T00:00:00Z",
        Duration::from_secs(3600),
    );
    let dockerfile = format!(
        "FROM cgr.dev/chainguard/img-0:latest@{}\n",
        history.last().unwrap().digest
    );

    // The image's environment: the toolchain of this machine, where rust:1-slim has its own.
    let home_dir = std::env::var_os("HOME").map(PathBuf::from).unwrap();
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| home_dir.join(".cargo"));
    let rustup_home = std::env::var_os("RUSTUP_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| home_dir.join(".rustup"));
    let image_path = format!(
        "{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        cargo_home.join("bin").display()
    );
    assert!(
        !cargo_home.join("bin/digestpin").exists(),
        "{} has a digestpin: the job must not find that one",
        cargo_home.display()
    );

    let cache = tempfile::tempdir().unwrap();
    let run_job = |path: &str| {
        let home = tempfile::tempdir().unwrap();
        let project = tempfile::tempdir().unwrap();
        fs::write(project.path().join("Dockerfile"), &dockerfile).unwrap();
        let project_dir = project.path().display().to_string();
        let mut vars = vec![("CI_PROJECT_DIR".to_string(), project_dir.clone())];
        for (name, value) in job["variables"].as_object().into_iter().flatten() {
            let value = expand(value.as_str().unwrap(), &vars);
            vars.push((name.clone(), value));
        }
        let key = expand(job["cache"]["key"].as_str().unwrap(), &vars);
        let rev = &vars.iter().find(|(n, _)| n == "DIGESTPIN_REV").unwrap().1;
        assert!(
            key.contains(rev.as_str()),
            "cache key {key} ignores the version"
        );
        let paths: Vec<&str> = job["cache"]["paths"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap())
            .collect();
        // Restore the cache, if there is one under this key.
        let stored = cache.path().join(&key);
        for p in &paths {
            if stored.join(p).is_dir() {
                copy_tree(&stored.join(p), &project.path().join(p));
            }
        }
        let mut cmd = Command::new("bash");
        cmd.args(["--noprofile", "--norc", "-eo", "pipefail", "-c", &script])
            .current_dir(project.path())
            .env_clear()
            .env("HOME", home.path())
            .env("PATH", path)
            .env("CARGO_HOME", &cargo_home)
            .env("RUSTUP_HOME", &rustup_home)
            .env("CARGO_TARGET_DIR", root().join("target"))
            .env("CI", "true")
            .env("GITLAB_CI", "true")
            .env("DIGESTPIN_ENDPOINTS", format!("cgr.dev={}", emu.url()))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        for (name, value) in &vars {
            cmd.env(name, value);
        }
        let out = cmd.output().expect("bash");
        let text = format!(
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // Save the cache (GitLab saves it when the job succeeds).
        if out.status.success() {
            for p in &paths {
                if project.path().join(p).is_dir() {
                    copy_tree(&project.path().join(p), &stored.join(p));
                }
            }
        }
        assert!(
            project.path().join("digestpin-report.json").is_file(),
            "no report\n{text}"
        );
        (out.status.code(), text)
    };

    // First pipeline: nothing cached, digestpin is built and found.
    let (code, out) = run_job(&image_path);
    assert_eq!(code, Some(0), "{out}");
    assert!(!out.contains("command not found"), "{out}");
    assert!(out.contains("Installed package `digestpin"), "{out}");

    // Next pipeline, a fresh clone: the cache hits; a cargo that fails shows it is not needed.
    let shims = tempfile::tempdir().unwrap();
    let marker = shims.path().join("cargo-ran");
    fs::write(
        shims.path().join("cargo"),
        format!(
            "#!/bin/sh\ntouch '{}'\necho 'cargo ran on a cache hit' >&2\nexit 1\n",
            marker.display()
        ),
    )
    .unwrap();
    let mut perm = fs::metadata(shims.path().join("cargo"))
        .unwrap()
        .permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    fs::set_permissions(shims.path().join("cargo"), perm).unwrap();
    let (code, out) = run_job(&format!("{}:{image_path}", shims.path().display()));
    assert_eq!(code, Some(0), "{out}");
    assert!(!marker.exists(), "{out}");
    assert!(out.contains("/.digestpin/bin/digestpin"), "{out}");
}

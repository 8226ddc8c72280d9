//! Hostile registries and hostile credential sources, through the CLI (issue 15, network half):
//! endless and huge bodies are refused with bounded memory while a healthy registry's file is
//! still pinned; a slow body is bounded by `--timeout`; redirects never carry a credential to
//! another origin (the thief records nothing of it); a cached realm gets no credentials before
//! the registry confirms it; token lifetimes of any size never panic; credential helpers that
//! hang, flood or ignore their input are bounded; times without an offset are refused. Every
//! credential test greps the secret out of `-v` logs, errors, JSON and GitHub output, the
//! report, the step summary and the cache files.

use crate::support::{cli, emulator};

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use emulator::{Emulator, Entry, Hostile, Kind, Thief};

const HOUR: Duration = Duration::from_secs(3600);
/// The memory a run may reach against an endless or huge body.
const PEAK_LIMIT_KB: u64 = 100 * 1024;

fn write(dir: &Path, rel: &str, contents: &[u8]) -> PathBuf {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, contents).expect("write");
    path
}

fn read(path: &Path) -> String {
    String::from_utf8(std::fs::read(path).expect("read")).expect("utf-8")
}

/// A week of nightly builds ending an hour ago, newest last.
fn nightly(emu: &Emulator, repo: &str, tag: &str) -> Vec<Entry> {
    let start = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * 7 + 1);
    emu.generate_history(repo, tag, 8, &start.to_string(), 24 * HOUR)
}

/// How a run ended.
struct Run {
    code: Option<i32>,
    /// stdout then stderr: where a message lands depends on the output format.
    all: String,
    stdout: String,
    stderr: String,
    /// Peak resident set size (VmHWM), in KiB.
    peak_kb: u64,
    elapsed: Duration,
}

/// Runs `digestpin ARGS` in `dir` (isolated by `cli::process`, plus `envs`),
/// polling its peak RSS from /proc until it exits.
fn run(dir: &Path, envs: &[(&str, String)], args: &[&str]) -> Run {
    let mut cmd = cli::process(dir);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in envs {
        cmd.env(key, value);
    }
    let started = Instant::now();
    let mut child = cmd.spawn().expect("spawn digestpin");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = pipe.read_to_end(&mut text);
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("stdout")));
    let err = drain(Box::new(child.stderr.take().expect("stderr")));
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0;
    let status = loop {
        if let Some(kb) = std::fs::read_to_string(&status_path)
            .ok()
            .and_then(|s| vm_hwm_kb(&s))
        {
            peak_kb = peak_kb.max(kb);
        }
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        // A run that lost control of its memory is stopped before it harms the machine; the
        // peak check of the caller then fails.
        if peak_kb > 10 * PEAK_LIMIT_KB {
            let _ = child.kill();
        }
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("digestpin {args:?} ran for over 2 minutes");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let (stdout, stderr) = (
        out.join().expect("stdout thread"),
        err.join().expect("stderr thread"),
    );
    Run {
        code: status.code(),
        all: format!("{stdout}{stderr}"),
        stdout,
        stderr,
        peak_kb,
        elapsed: started.elapsed(),
    }
}

fn vm_hwm_kb(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn endpoints(pairs: &[(&str, &Emulator)]) -> (&'static str, String) {
    let list: Vec<String> = pairs
        .iter()
        .map(|(registry, emu)| format!("{registry}={}", emu.url()))
        .collect();
    ("DIGESTPIN_ENDPOINTS", list.join(","))
}

/// Two files: `hostile/Dockerfile` on `hostile_ref`, `healthy/Dockerfile` on `healthy_ref`.
fn two_files(dir: &Path, hostile_ref: &str, healthy_ref: &str) -> (PathBuf, PathBuf) {
    (
        write(
            dir,
            "hostile/Dockerfile",
            format!("FROM {hostile_ref}\n").as_bytes(),
        ),
        write(
            dir,
            "healthy/Dockerfile",
            format!("FROM {healthy_ref}\n").as_bytes(),
        ),
    )
}

/// Asserts the hostile file is untouched, the healthy one pinned to `entry`, exit 2, the error
/// naming `why`, and the peak RSS under the limit.
fn assert_contained(
    run: &Run,
    hostile: &Path,
    hostile_ref: &str,
    healthy: &Path,
    entry: &Entry,
    why: &str,
) {
    eprintln!(
        "peak RSS {} KiB, {:.1} s, exit {:?}",
        run.peak_kb,
        run.elapsed.as_secs_f64(),
        run.code
    );
    assert_eq!(run.code, Some(2), "stderr: {}", run.stderr);
    assert!(run.stderr.contains(why), "stderr: {}", run.stderr);
    assert_eq!(read(hostile), format!("FROM {hostile_ref}\n"));
    assert!(read(healthy).contains(&entry.digest), "{}", read(healthy));
    assert!(run.peak_kb > 0, "no RSS measured");
    assert!(
        run.peak_kb < PEAK_LIMIT_KB,
        "peak RSS {} KiB over {PEAK_LIMIT_KB} KiB",
        run.peak_kb
    );
}

#[test]
fn endless_history_body_fails_its_reference_in_bounded_memory_while_a_healthy_registry_pins() {
    let (hostile, healthy) = (Emulator::start(), Emulator::start());
    nightly(&hostile, "chainguard/go", "latest");
    hostile.hostile("/_chainguard/history/", Hostile::EndlessBody);
    let entries = nightly(&healthy, "library/alpine", "3.20");
    let dir = tempfile::tempdir().unwrap();
    let (bad, good) = two_files(dir.path(), "cgr.dev/chainguard/go:latest", "alpine:3.20");
    let r = run(
        dir.path(),
        &[endpoints(&[("cgr.dev", &hostile), ("docker.io", &healthy)])],
        &["pin"],
    );
    assert_contained(
        &r,
        &bad,
        "cgr.dev/chainguard/go:latest",
        &good,
        &entries[7],
        "tag history page larger than 1 MiB: refused",
    );
    // Refused, not retried: the registry would only send it again.
    assert_eq!(hostile.count(Kind::History), 1);
}

#[test]
fn endless_manifest_body_fails_its_reference_in_bounded_memory_while_a_healthy_registry_pins() {
    let (hostile, healthy) = (Emulator::start(), Emulator::start());
    nightly(&hostile, "library/alpine", "3.20");
    hostile.hostile("/manifests/", Hostile::EndlessBody);
    let entries = nightly(&healthy, "chainguard/go", "latest");
    let dir = tempfile::tempdir().unwrap();
    let (bad, good) = two_files(dir.path(), "alpine:3.20", "cgr.dev/chainguard/go:latest");
    let r = run(
        dir.path(),
        &[endpoints(&[("cgr.dev", &healthy), ("docker.io", &hostile)])],
        &["pin"],
    );
    assert_contained(
        &r,
        &bad,
        "alpine:3.20",
        &good,
        &entries[7],
        "manifest larger than 4 MiB: refused",
    );
}

#[test]
fn announced_2_gib_bodies_are_refused_before_reading_them() {
    // (path, hostile registry and reference, healthy registry, reference and repository)
    for (pattern, hostile_at, hostile_ref, healthy_at, healthy_ref, healthy_repo, why) in [
        (
            "/_chainguard/history/",
            "cgr.dev",
            "cgr.dev/chainguard/go:latest",
            "docker.io",
            "alpine:3.20",
            "library/alpine",
            "tag history page larger than 1 MiB",
        ),
        (
            "/manifests/",
            "docker.io",
            "alpine:3.20",
            "cgr.dev",
            "cgr.dev/chainguard/go:latest",
            "chainguard/go",
            "manifest larger than 4 MiB",
        ),
    ] {
        let (hostile, healthy) = (Emulator::start(), Emulator::start());
        nightly(&hostile, "chainguard/go", "latest");
        nightly(&hostile, "library/alpine", "3.20");
        hostile.hostile(pattern, Hostile::HugeLength { length: 2 << 30 });
        let entries = nightly(
            &healthy,
            healthy_repo,
            if healthy_at == "cgr.dev" {
                "latest"
            } else {
                "3.20"
            },
        );
        let dir = tempfile::tempdir().unwrap();
        let (bad, good) = two_files(dir.path(), hostile_ref, healthy_ref);
        let r = run(
            dir.path(),
            &[endpoints(&[(hostile_at, &hostile), (healthy_at, &healthy)])],
            &["pin", "--timeout", "20s"],
        );
        // Refused on the announcement, not after the deadline ran out on the slow body.
        assert!(r.elapsed < Duration::from_secs(15), "{:?}", r.elapsed);
        assert_contained(&r, &bad, hostile_ref, &good, &entries[7], why);
    }
}

#[test]
fn a_body_that_trickles_is_cut_by_the_total_deadline() {
    let emu = Emulator::start();
    nightly(&emu, "chainguard/go", "latest");
    // Under the cap, a byte every 100 ms: never idle, never done.
    emu.hostile(
        "/_chainguard/history/",
        Hostile::HugeLength { length: 4000 },
    );
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "Dockerfile",
        b"FROM cgr.dev/chainguard/go:latest\n",
    );
    let r = run(
        dir.path(),
        &[endpoints(&[("cgr.dev", &emu)])],
        &["pin", "--timeout", "1s"],
    );
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("timed out: no complete response within 1 second"),
        "{}",
        r.stderr
    );
    assert_eq!(read(&file), "FROM cgr.dev/chainguard/go:latest\n");
    // Four attempts of a second each plus backoff, not the 400 s the body would take.
    assert!(r.elapsed < Duration::from_secs(15), "{:?}", r.elapsed);
}

/// Runs `pin` in every output form (`-v` text, JSON with `--report`, GitHub with a step
/// summary) and asserts that `secret` appears in none of them, nor in any file under the cache
/// directory. Returns the runs.
fn runs_without_secret(
    dir: &Path,
    envs: &[(&str, String)],
    extra: &[&str],
    secret: &str,
) -> Vec<Run> {
    let summary = dir.join("summary.md");
    let report = dir.join("report.json");
    let mut envs = envs.to_vec();
    envs.push(("GITHUB_STEP_SUMMARY", summary.display().to_string()));
    let report_arg = report.display().to_string();
    let forms: [Vec<&str>; 3] = [
        vec!["pin", "-v", "--diff"],
        vec![
            "pin",
            "-v",
            "--diff",
            "--format",
            "json",
            "--report",
            &report_arg,
        ],
        vec!["pin", "-v", "--diff", "--format", "github"],
    ];
    let mut runs = Vec::new();
    for form in forms {
        let args: Vec<&str> = form.iter().chain(extra).copied().collect();
        let r = run(dir, &envs, &args);
        assert_ne!(r.code, Some(101), "panicked: {}", r.stderr);
        assert!(
            !r.stdout.contains(secret),
            "{args:?}: stdout has the secret: {}",
            r.stdout
        );
        assert!(
            !r.stderr.contains(secret),
            "{args:?}: stderr has the secret: {}",
            r.stderr
        );
        runs.push(r);
    }
    for path in [summary, report] {
        if path.exists() {
            assert!(
                !read(&path).contains(secret),
                "{} has the secret",
                path.display()
            );
        }
    }
    assert_no_secret_in_tree(&dir.join(".digestpin-cache"), secret);
    runs
}

fn assert_no_secret_in_tree(root: &Path, secret: &str) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            assert_no_secret_in_tree(&path, secret);
        } else {
            let bytes = std::fs::read(&path).unwrap_or_default();
            assert!(
                !String::from_utf8_lossy(&bytes).contains(secret),
                "{} has the secret",
                path.display()
            );
        }
    }
}

fn assert_thief_got_no_credential(thief: &Thief, secrets: &[&str]) {
    for stolen in thief.stolen() {
        assert_eq!(stolen.authorization, None, "{stolen:?}");
        let body = String::from_utf8_lossy(&stolen.body);
        for secret in secrets {
            assert!(!body.contains(secret), "{stolen:?}");
            assert!(!stolen.target.contains(secret), "{stolen:?}");
        }
    }
}

/// A private org on `emu`, with a Dockerfile using it.
fn private(emu: &Emulator, dir: &Path, user: &str, secret: &str) -> (Vec<Entry>, PathBuf) {
    emu.add_private_org("acme.com", user, secret);
    let entries = nightly(emu, "acme.com/app", "latest");
    let file = write(dir, "Dockerfile", b"FROM cgr.dev/acme.com/app:latest\n");
    (entries, file)
}

#[test]
fn token_requests_redirected_to_another_origin_are_refused_and_the_thief_gets_nothing() {
    for status in [302, 307, 308] {
        let thief = Thief::start();
        let emu = Emulator::start();
        let dir = tempfile::tempdir().unwrap();
        let (_, file) = private(&emu, dir.path(), "robot", "pull-s3cret-xyz");
        emu.hostile(
            "/token",
            Hostile::Redirect {
                status,
                to: thief.url(),
            },
        );
        // Basic credentials on a GET.
        let envs = [
            endpoints(&[("cgr.dev", &emu)]),
            ("CHAINGUARD_IDENTITY_ID", "robot".to_string()),
            ("CHAINGUARD_TOKEN", "pull-s3cret-xyz".to_string()),
        ];
        for r in runs_without_secret(dir.path(), &envs, &[], "pull-s3cret-xyz") {
            assert_eq!(r.code, Some(2), "{}", r.all);
            assert!(
                r.all.contains("refused redirect to http://127.0.0.1:"),
                "{}",
                r.all
            );
            assert!(
                r.all.contains("a token request never leaves its origin"),
                "{}",
                r.all
            );
        }
        // An identity token, sent in a POST body.
        let config = dir.path().join("docker");
        write(
            &config,
            "config.json",
            br#"{"auths": {"cgr.dev": {"identitytoken": "refresh-s3cret-abc"}}}"#,
        );
        let envs = [
            endpoints(&[("cgr.dev", &emu)]),
            ("DOCKER_CONFIG", config.display().to_string()),
        ];
        for r in runs_without_secret(dir.path(), &envs, &[], "refresh-s3cret-abc") {
            assert_eq!(r.code, Some(2), "{}", r.all);
            assert!(r.all.contains("refused redirect"), "{}", r.all);
        }
        assert_eq!(thief.stolen(), vec![], "status {status}");
        assert_eq!(read(&file), "FROM cgr.dev/acme.com/app:latest\n");
    }
}

#[test]
fn registry_redirects_to_another_origin_drop_authorization() {
    let thief = Thief::start();
    let emu = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    private(&emu, dir.path(), "robot", "pull-s3cret-xyz");
    emu.hostile(
        "/_chainguard/history/",
        Hostile::Redirect {
            status: 307,
            to: thief.url(),
        },
    );
    let envs = [
        endpoints(&[("cgr.dev", &emu)]),
        ("CHAINGUARD_IDENTITY_ID", "robot".to_string()),
        ("CHAINGUARD_TOKEN", "pull-s3cret-xyz".to_string()),
    ];
    for r in runs_without_secret(dir.path(), &envs, &[], "pull-s3cret-xyz") {
        assert_eq!(r.code, Some(2), "{}", r.all);
    }
    let stolen = thief.stolen();
    assert!(!stolen.is_empty(), "the redirect was followed");
    assert!(
        stolen
            .iter()
            .all(|s| s.target.contains("/_chainguard/history/latest"))
    );
    // Not even the registry's own bearer token left its origin.
    assert_thief_got_no_credential(&thief, &["pull-s3cret-xyz", "emu"]);
}

#[test]
fn redirects_to_plain_http_off_loopback_and_redirect_loops_are_refused() {
    let emu = Emulator::start();
    nightly(&emu, "chainguard/go", "latest");
    nightly(&emu, "chainguard/static", "latest");
    // Never connected to: refused from the Location alone.
    emu.hostile(
        "/chainguard/go/_chainguard/history/",
        Hostile::Redirect {
            status: 302,
            to: "http://registry.example".into(),
        },
    );
    // Back to itself, for ever.
    emu.hostile(
        "/chainguard/static/_chainguard/history/",
        Hostile::Redirect {
            status: 307,
            to: emu.url(),
        },
    );
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "Dockerfile",
        b"FROM cgr.dev/chainguard/go:latest\nFROM cgr.dev/chainguard/static:latest\n",
    );
    let r = run(dir.path(), &[endpoints(&[("cgr.dev", &emu)])], &["pin"]);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(
        r.stderr.contains("refused redirect to http://registry.example: plain http:// is allowed only for loopback hosts"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("more than 5 redirects"), "{}", r.stderr);
}

#[test]
fn userinfo_in_an_endpoint_is_an_argument_error_that_does_not_echo_it() {
    let emu = Emulator::start();
    nightly(&emu, "chainguard/go", "latest");
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "Dockerfile",
        b"FROM cgr.dev/chainguard/go:latest\n",
    );
    let with_password = emu.url().replace("http://", "http://u:endpoint-s3cret@");
    let flag = format!("cgr.dev={with_password}");
    for r in runs_without_secret(dir.path(), &[], &["--endpoint", &flag], "endpoint-s3cret") {
        assert_eq!(r.code, Some(2), "{}", r.all);
        assert!(
            r.all.contains("must not carry a user name or password"),
            "{}",
            r.all
        );
        assert!(r.all.contains("http://***@127.0.0.1:"), "{}", r.all);
    }
    let r = run(
        dir.path(),
        &[("DIGESTPIN_ENDPOINTS", flag.clone())],
        &["pin", "-v"],
    );
    assert_eq!(r.code, Some(2));
    assert!(!r.stderr.contains("endpoint-s3cret"), "{}", r.stderr);
    assert_eq!(emu.requests(), vec![], "nothing is sent");
}

#[test]
fn a_malformed_docker_config_never_echoes_its_secrets() {
    let emu = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let (_, file) = private(&emu, dir.path(), "robot", "config-s3cret");
    let config = dir.path().join("docker");
    for body in [
        r#"{"auths": {"cgr.dev": "config-s3cret"}}"#,
        r#"{"auths": {"cgr.dev": {"auth": ["config-s3cret"]}}}"#,
        r#"{"auths": {"cgr.dev": {"username": "robot", "password": ["config-s3cret"]}}}"#,
        r#"{"credsStore": {"config-s3cret": 1}}"#,
        r#"{"auths": {"cgr.dev": {"auth": "config-s3cret"#,
        r#"{"auths": {"cgr.dev": {"auth": "Y29uZmlnLXMzY3JldA=="}}}"#,
    ] {
        write(&config, "config.json", body.as_bytes());
        let envs = [
            endpoints(&[("cgr.dev", &emu)]),
            ("DOCKER_CONFIG", config.display().to_string()),
        ];
        for r in runs_without_secret(dir.path(), &envs, &[], "config-s3cret") {
            assert_eq!(r.code, Some(2), "{body}: {}", r.all);
            assert!(r.all.contains("credentials"), "{}", r.all);
        }
    }
    assert_eq!(read(&file), "FROM cgr.dev/acme.com/app:latest\n");
}

/// The cache record the client would have written for `emu`, naming `realm`.
fn plant_auth_record(dir: &Path, emu: &Emulator, realm: &str) {
    let key = emu.url();
    let hash = emulator::sha256_digest(key.as_bytes());
    let name = format!("{}.json", &hash["sha256:".len()..][..32]);
    let record = serde_json::json!({
        "key": key,
        "auth": {
            "scheme": "bearer",
            "realm": realm,
            "service": emulator::SERVICE,
            "learned_at": jiff::Timestamp::now().as_second(),
            "tokens": {},
        },
    });
    write(
        &dir.join(".digestpin-cache/v1/auth"),
        &name,
        record.to_string().as_bytes(),
    );
}

#[test]
fn a_cached_realm_gets_credentials_only_once_the_registry_names_it() {
    let thief = Thief::start();
    let emu = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let (entries, file) = private(&emu, dir.path(), "robot", "pull-s3cret-xyz");
    plant_auth_record(dir.path(), &emu, &format!("{}/token", thief.url()));
    let envs = [
        endpoints(&[("cgr.dev", &emu)]),
        ("CHAINGUARD_IDENTITY_ID", "robot".to_string()),
        ("CHAINGUARD_TOKEN", "pull-s3cret-xyz".to_string()),
    ];
    let r = run(dir.path(), &envs, &["pin", "-v"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(read(&file).contains(&entries[7].digest));
    assert_eq!(thief.stolen(), vec![]);
    // The registry's own realm got them, after one ping to learn it.
    assert!(emu.requests().iter().any(|q| {
        q.kind == Kind::Token
            && q.authorization
                .as_deref()
                .is_some_and(|a| a.starts_with("Basic "))
    }));
    assert!(!r.stderr.contains("pull-s3cret-xyz"));
    assert_no_secret_in_tree(&dir.path().join(".digestpin-cache"), "pull-s3cret-xyz");
    // The cache now names the registry's realm: the next run trusts it after a ping again.
    let again = run(dir.path(), &envs, &["pin", "--check"]);
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    assert_eq!(thief.stolen(), vec![]);
}

#[test]
fn an_anonymous_cached_token_is_still_used_without_a_ping() {
    let emu = Emulator::start();
    nightly(&emu, "chainguard/go", "latest");
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "Dockerfile",
        b"FROM cgr.dev/chainguard/go:latest\n",
    );
    let envs = [endpoints(&[("cgr.dev", &emu)])];
    assert_eq!(run(dir.path(), &envs, &["pin"]).code, Some(0));
    emu.clear_requests();
    assert_eq!(run(dir.path(), &envs, &["pin", "--check"]).code, Some(0));
    let kinds: Vec<Kind> = emu.requests().iter().map(|q| q.kind).collect();
    assert_eq!(kinds, [Kind::History], "{:?}", emu.requests());
}

#[test]
fn token_lifetimes_of_any_size_or_sign_never_panic() {
    for raw in [
        "18446744073709551615",
        "9223372036854775807",
        "1e308",
        "0",
        "-1",
        "-9223372036854775808",
        "0.5",
        "299.99",
        "\"300\"",
        "null",
    ] {
        let emu = Emulator::start();
        let entries = nightly(&emu, "chainguard/go", "latest");
        emu.hostile(
            "/token",
            Hostile::ExpiresIn {
                raw: raw.to_string(),
            },
        );
        let dir = tempfile::tempdir().unwrap();
        let file = write(
            dir.path(),
            "Dockerfile",
            b"FROM cgr.dev/chainguard/go:latest\n",
        );
        let envs = [endpoints(&[("cgr.dev", &emu)])];
        let r = run(dir.path(), &envs, &["pin"]);
        assert_eq!(r.code, Some(0), "expires_in {raw}: {}", r.stderr);
        assert!(read(&file).contains(&entries[7].digest));
        // And again from the cache it wrote.
        let r = run(dir.path(), &envs, &["pin", "--check"]);
        assert_eq!(r.code, Some(0), "expires_in {raw}, warm: {}", r.stderr);
    }
}

#[test]
fn an_8_mb_token_is_refused_by_the_cap() {
    let (hostile, healthy) = (Emulator::start(), Emulator::start());
    nightly(&hostile, "chainguard/go", "latest");
    hostile.hostile("/token", Hostile::HugeToken { bytes: 8 << 20 });
    let entries = nightly(&healthy, "library/alpine", "3.20");
    let dir = tempfile::tempdir().unwrap();
    let (bad, good) = two_files(dir.path(), "cgr.dev/chainguard/go:latest", "alpine:3.20");
    let r = run(
        dir.path(),
        &[endpoints(&[("cgr.dev", &hostile), ("docker.io", &healthy)])],
        &["pin"],
    );
    assert_contained(
        &r,
        &bad,
        "cgr.dev/chainguard/go:latest",
        &good,
        &entries[7],
        "token response larger than 1 MiB: refused",
    );
}

/// A `docker-credential-NAME` script in `dir/bin`, configured as the cgr.dev helper; returns
/// the environment that uses it.
fn helper(dir: &Path, emu: &Emulator, name: &str, script: &str) -> Vec<(&'static str, String)> {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("bin");
    let path = write(
        &bin,
        &format!("docker-credential-{name}"),
        script.as_bytes(),
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = dir.join("docker");
    write(
        &config,
        "config.json",
        format!(r#"{{"credHelpers": {{"cgr.dev": "{name}"}}}}"#).as_bytes(),
    );
    vec![
        endpoints(&[("cgr.dev", emu)]),
        ("DOCKER_CONFIG", config.display().to_string()),
        (
            "PATH",
            format!(
                "{}:{}",
                bin.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        ),
    ]
}

#[test]
fn a_credential_helper_that_never_answers_times_out() {
    let emu = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let (_, file) = private(&emu, dir.path(), "robot", "helper-s3cret");
    let envs = helper(dir.path(), &emu, "hang", "#!/bin/sh\nexec sleep 600\n");
    let r = run(dir.path(), &envs, &["pin", "--timeout", "2s"]);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("docker-credential-hang get did not answer within 2 s"),
        "{}",
        r.stderr
    );
    assert!(r.elapsed < Duration::from_secs(20), "{:?}", r.elapsed);
    assert_eq!(read(&file), "FROM cgr.dev/acme.com/app:latest\n");
}

#[test]
fn a_credential_helper_that_floods_its_output_is_capped() {
    let emu = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let (_, file) = private(&emu, dir.path(), "robot", "helper-s3cret");
    // Endless output (1.5 GB and more), a secret in every line.
    let envs = helper(
        dir.path(),
        &emu,
        "flood",
        "#!/bin/sh\nexec yes '{\"Username\":\"robot\",\"Secret\":\"helper-s3cret\"}'\n",
    );
    let r = run(dir.path(), &envs, &["pin"]);
    eprintln!("peak RSS {} KiB", r.peak_kb);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("docker-credential-flood get printed more than 1024 KiB"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("helper-s3cret"));
    assert!(r.peak_kb < PEAK_LIMIT_KB, "peak RSS {} KiB", r.peak_kb);
    assert!(r.elapsed < Duration::from_secs(20), "{:?}", r.elapsed);
    assert_eq!(read(&file), "FROM cgr.dev/acme.com/app:latest\n");
}

#[test]
fn a_credential_helper_that_ignores_its_input_is_not_a_broken_pipe() {
    let emu = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let (entries, file) = private(&emu, dir.path(), "robot", "helper-s3cret");
    // Closes its stdin at once and answers: our write of the server name may meet EPIPE.
    let envs = helper(
        dir.path(),
        &emu,
        "deaf",
        "#!/bin/sh\nexec 0<&-\necho '{\"Username\":\"robot\",\"Secret\":\"helper-s3cret\"}'\n",
    );
    for _ in 0..10 {
        std::fs::write(&file, "FROM cgr.dev/acme.com/app:latest\n").unwrap();
        let r = run(dir.path(), &envs, &["pin"]);
        assert_eq!(r.code, Some(0), "{}", r.stderr);
        assert!(
            !r.stderr.to_lowercase().contains("broken pipe"),
            "{}",
            r.stderr
        );
        assert!(read(&file).contains(&entries[7].digest));
    }
    // One that exits at once saying "not found": anonymous, here an authentication error,
    // never a pipe error.
    let envs = helper(
        dir.path(),
        &emu,
        "gone",
        "#!/bin/sh\nexec 0<&-\necho 'credentials not found in native keychain'\nexit 1\n",
    );
    for _ in 0..5 {
        let r = run(dir.path(), &envs, &["pin"]);
        assert_eq!(r.code, Some(2), "{}", r.stderr);
        assert!(r.stderr.contains("authentication failed"), "{}", r.stderr);
        assert!(
            !r.stderr.to_lowercase().contains("broken pipe"),
            "{}",
            r.stderr
        );
    }
    // Every output form, with the helper's secret grepped out.
    let envs = helper(
        dir.path(),
        &emu,
        "deaf",
        "#!/bin/sh\nexec 0<&-\necho '{\"Username\":\"robot\",\"Secret\":\"helper-s3cret\"}'\n",
    );
    std::fs::write(&file, "FROM cgr.dev/acme.com/app:latest\n").unwrap();
    for r in runs_without_secret(dir.path(), &envs, &[], "helper-s3cret") {
        assert_eq!(r.code, Some(1), "{}", r.all);
    }
}

#[test]
fn times_without_an_offset_and_bad_durations_are_refused_before_any_request() {
    let emu = Emulator::start();
    nightly(&emu, "chainguard/go", "latest");
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "Dockerfile",
        b"FROM cgr.dev/chainguard/go:latest\n",
    );
    let envs = [endpoints(&[("cgr.dev", &emu)])];
    for (args, why) in [
        (
            &["pin", "--as-of", "2024-03-01T12:00:00"][..],
            "no UTC offset",
        ),
        (&["pin", "--as-of", "2024-03-01 12:00"], "HH:MM:SS"),
        (&["pin", "--as-of", "2024-03-01T12:00"], "HH:MM:SS"),
        (&["pin", "--as-of", "03/01/2024"], "expected RFC 3339"),
        (
            &[
                "resolve",
                "cgr.dev/chainguard/go",
                "--as-of",
                "2024-03-01T12:00:00",
            ],
            "no UTC offset",
        ),
        (
            &[
                "history",
                "cgr.dev/chainguard/go",
                "--start",
                "2024-03-01 12:00:00",
            ],
            "no UTC offset",
        ),
        (
            &[
                "history",
                "cgr.dev/chainguard/go",
                "--end",
                "2024-03-01T12:00:00.5",
            ],
            "no UTC offset",
        ),
        (&["pin", "--min-age=-3d"], "cannot be negative"),
        (
            &["pin", "--min-age", "99999999999999999999999d"],
            "longer than 100 years",
        ),
        (
            &["pin", "--min-age", "18446744073709551615s"],
            "longer than 100 years",
        ),
        (&["pin", "--min-age", "36501d"], "longer than 100 years"),
        (&["pin", "--min-age", "3"], "without a unit"),
        (&["pin", "--timeout", "0s"], "longer than zero"),
    ] {
        let r = run(dir.path(), &envs, args);
        assert_eq!(r.code, Some(2), "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(why), "{args:?}: {}", r.stderr);
    }
    assert_eq!(emu.requests(), vec![], "refused before any request");
    assert_eq!(read(&file), "FROM cgr.dev/chainguard/go:latest\n");
    // Zero is no cooldown: the newest digest, like no --min-age at all.
    let r = run(dir.path(), &envs, &["pin", "--min-age", "0s"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(read(&file).contains("@sha256:"));
    // The longest accepted cooldown is older than every entry: an error, not a panic.
    let r = run(
        dir.path(),
        &envs,
        &["pin", "--check", "--min-age", "36500d"],
    );
    assert_ne!(r.code, Some(101), "{}", r.stderr);
}

#[test]
fn endless_tag_list_and_history_pages_end_history_and_tags_with_an_error() {
    let emu = Emulator::start();
    nightly(&emu, "chainguard/go", "latest");
    emu.hostile("/tags/list", Hostile::EndlessBody);
    emu.hostile("/_chainguard/history/", Hostile::EndlessBody);
    let dir = tempfile::tempdir().unwrap();
    let envs = [endpoints(&[("cgr.dev", &emu)])];
    for (args, why) in [
        (
            &["tags", "cgr.dev/chainguard/go"][..],
            "tag list page larger than 4 MiB: refused",
        ),
        (
            &["history", "cgr.dev/chainguard/go"],
            "tag history page larger than 1 MiB: refused",
        ),
    ] {
        let r = run(dir.path(), &envs, args);
        eprintln!("{args:?}: peak RSS {} KiB", r.peak_kb);
        assert_eq!(r.code, Some(2), "{args:?}: {}", r.all);
        assert!(r.all.contains(why), "{args:?}: {}", r.all);
        assert!(r.peak_kb < PEAK_LIMIT_KB, "peak RSS {} KiB", r.peak_kb);
    }
}

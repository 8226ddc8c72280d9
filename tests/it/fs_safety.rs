//! Filesystem safety through the CLI (issue 15): concurrent runs, files changed while `pin`
//! runs, temporary files on SIGINT, symlinks out of the tree, FIFOs, devices and huge files,
//! owners and hard links, a closed stdout, a `--report` symlink, and hostile file names.
//! Registries are the emulator on 127.0.0.1.

use crate::support::cli;
use crate::support::emulator;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use emulator::{Emulator, Entry};
use predicates::prelude::*;
use serde_json::Value;

const HOUR: Duration = Duration::from_secs(3600);

fn endpoints(emu: &Emulator) -> String {
    format!("cgr.dev={0},docker.io={0}", emu.url())
}

fn digestpin(dir: &Path, emu: &Emulator) -> Command {
    let mut cmd = cli::digestpin(dir);
    cmd.env("DIGESTPIN_ENDPOINTS", endpoints(emu))
        .timeout(Duration::from_secs(60));
    cmd
}

/// The binary as a plain process (to close its stdout, signal it, or measure it), isolated
/// like [`cli::digestpin`].
fn process(dir: &Path, emu: Option<&Emulator>) -> StdCommand {
    let mut cmd = cli::process(dir);
    if let Some(emu) = emu {
        cmd.env("DIGESTPIN_ENDPOINTS", endpoints(emu));
    }
    cmd
}

fn write(dir: &Path, rel: impl AsRef<Path>, contents: &[u8]) -> PathBuf {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, contents).expect("write");
    path
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).expect("read")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A week of nightly builds ending an hour ago; the newest entry last.
fn nightly(emu: &Emulator, repo: &str) -> Entry {
    let start = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * 7 + 1);
    let entries = emu.generate_history(repo, "latest", 8, &start.to_string(), 24 * HOUR);
    entries.last().expect("entries").clone()
}

/// `.digestpin-*.tmp` files anywhere under `dir`.
fn temp_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path);
            } else if name.starts_with(".digestpin-") && name.ends_with(".tmp") {
                found.push(path);
            }
        }
    }
    found
}

#[test]
fn two_concurrent_pin_runs_leave_every_file_with_exactly_one_valid_pin() {
    // Latency spreads the writes of both runs over a second, so they interleave: each run
    // scans the files before the other writes them, and writes many after the other did.
    let emu = Emulator::start_with_latency(Duration::from_millis(60));
    let newest: Vec<Entry> = (0..10)
        .map(|i| nightly(&emu, &format!("chainguard/img{i}")))
        .collect();
    for round in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<PathBuf> = (0..50)
            .map(|i| {
                let src = format!("FROM cgr.dev/chainguard/img{}:latest\nRUN true\n", i % 10);
                write(dir.path(), format!("svc{i:02}/Dockerfile"), src.as_bytes())
            })
            .collect();
        let runs: Vec<std::process::Child> = (0..2)
            .map(|_| {
                process(dir.path(), Some(&emu))
                    .args(["pin", "--no-cache", "--color", "never"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut refused = 0;
        for run in runs {
            let output = run.wait_with_output().unwrap();
            let stderr = text(&output.stderr);
            let code = output.status.code();
            assert!(matches!(code, Some(0 | 2)), "{code:?}\n{stderr}");
            for line in stderr.lines().filter(|l| l.starts_with("error:")) {
                assert!(
                    line.ends_with(": changed since it was read; not written"),
                    "{line}"
                );
                refused += 1;
            }
            assert_eq!(code == Some(2), stderr.contains("error:"), "{stderr}");
        }
        for (i, file) in files.iter().enumerate() {
            let expected = format!(
                "FROM cgr.dev/chainguard/img{}:latest@{}\nRUN true\n",
                i % 10,
                newest[i % 10].digest
            );
            assert_eq!(
                text(&read(file)),
                expected,
                "round {round}: {}",
                file.display()
            );
        }
        assert!(temp_files(dir.path()).is_empty());
        eprintln!("round {round}: {refused} files refused by the slower run");
    }
}

#[test]
fn a_file_edited_while_pin_resolves_is_not_written_and_others_are() {
    let emu = Emulator::start_with_latency(Duration::from_millis(500));
    let newest = nightly(&emu, "chainguard/python");
    let dir = tempfile::tempdir().unwrap();
    let edited = write(
        dir.path(),
        "a/Dockerfile",
        b"FROM cgr.dev/chainguard/python:latest\n",
    );
    let other = write(
        dir.path(),
        "b/Dockerfile",
        b"FROM cgr.dev/chainguard/python:latest\n",
    );
    let run = process(dir.path(), Some(&emu))
        .args(["pin", "--no-cache"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The editor's change keeps the old text as a prefix at the reference's span: the old
    // re-check wrote `latest@sha256:…-dev` here. Made once the files are scanned (the first
    // request is on its way; each takes 500 ms).
    let deadline = Instant::now() + Duration::from_secs(30);
    while emu.requests().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::fs::write(&edited, b"FROM cgr.dev/chainguard/python:latest-dev\n").unwrap();
    let output = run.wait_with_output().unwrap();
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("error: a/Dockerfile: changed since it was read; not written"),
        "{stderr}"
    );
    assert_eq!(
        read(&edited),
        b"FROM cgr.dev/chainguard/python:latest-dev\n"
    );
    assert_eq!(
        text(&read(&other)),
        format!("FROM cgr.dev/chainguard/python:latest@{}\n", newest.digest)
    );
}

#[test]
fn sigint_during_a_large_write_leaves_no_temporary_file() {
    let emu = Emulator::start();
    nightly(&emu, "chainguard/static");
    // Big files take a while to write; the test signals as soon as a temporary file appears.
    let mut padding = Vec::with_capacity(3 << 20);
    while padding.len() < 3 << 20 {
        padding.extend_from_slice(b"# padding padding padding padding padding padding padding\n");
    }
    let mut signalled = 0;
    for _attempt in 0..6 {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..4 {
            let mut src = b"FROM cgr.dev/chainguard/static:latest\n".to_vec();
            src.extend_from_slice(&padding);
            write(dir.path(), format!("f{i:02}.Dockerfile"), &src);
        }
        let mut child = process(dir.path(), Some(&emu))
            .args(["pin", "--no-cache", "-q"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = false;
        while Instant::now() < deadline {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            if !temp_files(dir.path()).is_empty() {
                seen = true;
                // SAFETY: signals our own child, which has not been reaped yet.
                unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
                break;
            }
        }
        let status = child.wait().unwrap();
        assert_eq!(temp_files(dir.path()), Vec::<PathBuf>::new());
        // The run may have finished between the sighting and the signal: then it succeeded.
        if seen && status.signal().is_some() {
            signalled += 1;
            assert_eq!(status.signal(), Some(libc::SIGINT), "{status:?}");
            for entry in std::fs::read_dir(dir.path()).unwrap().flatten() {
                let name = entry.file_name();
                if name.to_string_lossy().ends_with(".Dockerfile") {
                    let head = read(&entry.path());
                    // Each file is either untouched or completely pinned, never cut short.
                    assert!(head.len() > 3 << 20);
                    assert!(head.ends_with(b"padding\n"));
                }
            }
        } else {
            assert!(status.success(), "{status:?}");
        }
        eprintln!("attempt: seen {seen}, {status:?}");
        if signalled >= 2 {
            break;
        }
    }
    assert!(signalled > 0, "never caught a write in progress");
}

#[test]
fn symlinks_out_of_the_tree_are_skipped_reported_and_untouched() {
    let emu = Emulator::start();
    let newest = nightly(&emu, "chainguard/go");
    let top = tempfile::tempdir().unwrap();
    let repo = top.path().join("repo");
    let src = b"FROM cgr.dev/chainguard/go:latest\n";
    let outside = write(top.path(), "outside/base.Dockerfile", src);
    let inside = write(&repo, "Dockerfile", src);
    write(&repo, "sub/shared.Dockerfile", src);
    std::os::unix::fs::symlink("../outside/base.Dockerfile", repo.join("ext.Dockerfile")).unwrap();
    std::os::unix::fs::symlink(&outside, repo.join("abs.Dockerfile")).unwrap();
    std::os::unix::fs::symlink("sub/shared.Dockerfile", repo.join("in.Dockerfile")).unwrap();

    let json = digestpin(&repo, &emu)
        .args(["pin", "--check", "--format", "json"])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let doc: Value = serde_json::from_slice(&json).unwrap();
    let skipped: Vec<(&str, &str)> = doc["skipped"]
        .as_array()
        .expect("a skipped array")
        .iter()
        .map(|s| (s["path"].as_str().unwrap(), s["reason"].as_str().unwrap()))
        .collect();
    let abs_reason = format!(
        "symlink to {}, outside the directory walked (.); not read or written",
        outside.display()
    );
    assert_eq!(
        skipped,
        [
            ("abs.Dockerfile", abs_reason.as_str()),
            (
                "ext.Dockerfile",
                "symlink to ../outside/base.Dockerfile, outside the directory walked (.); not read or written"
            ),
            (
                "in.Dockerfile",
                "the same file as sub/shared.Dockerfile, read under that name"
            ),
        ]
    );
    assert_eq!(doc["summary"]["errors"], 0);
    let paths: Vec<&str> = doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["Dockerfile", "sub/shared.Dockerfile"]);

    digestpin(&repo, &emu)
        .args(["pin", "--check", "--format", "github"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "::warning file=ext.Dockerfile,title=digestpin::skipped: symlink to ../outside/base.Dockerfile%2C",
        ).not().and(predicate::str::contains(
            "::warning file=ext.Dockerfile,title=digestpin::skipped: symlink to ../outside/base.Dockerfile, outside the directory walked (.); not read or written\n",
        )));

    // Writing: a notice, not an error; the file outside is never written.
    digestpin(&repo, &emu)
        .arg("pin")
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "warning: ext.Dockerfile: skipped (symlink to ../outside/base.Dockerfile, outside the directory walked (.); not read or written)\n",
        ));
    assert_eq!(read(&outside), src);
    let pinned = format!("FROM cgr.dev/chainguard/go:latest@{}\n", newest.digest);
    assert_eq!(text(&read(&inside)), pinned);
    assert_eq!(text(&read(&repo.join("sub/shared.Dockerfile"))), pinned);
    assert!(
        std::fs::symlink_metadata(repo.join("in.Dockerfile"))
            .unwrap()
            .file_type()
            .is_symlink(),
        "a link inside the tree stays a link"
    );

    // Named explicitly, a symlink is followed: the user asked for that file.
    digestpin(&repo, &emu)
        .args(["pin", "ext.Dockerfile"])
        .assert()
        .success();
    assert_eq!(text(&read(&outside)), pinned);
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
}

#[test]
fn fifos_devices_and_huge_files_never_block_or_exhaust_memory() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "Dockerfile",
        b"FROM cgr.dev/chainguard/go:latest\n",
    );
    mkfifo(&dir.path().join("fifo.Dockerfile"));
    // Walked: a FIFO is skipped with a notice; the run is not an error.
    cli::digestpin(dir.path())
        .arg("list")
        .timeout(Duration::from_secs(20))
        .assert()
        .success()
        .stdout("Dockerfile:1:6: unpinned FROM cgr.dev/chainguard/go:latest\n")
        .stderr("warning: fifo.Dockerfile: skipped (not a regular file (a FIFO); not read)\n");
    // Named: an error, at once.
    cli::digestpin(dir.path())
        .args(["list", "fifo.Dockerfile", "/dev/zero", "Dockerfile"])
        .timeout(Duration::from_secs(20))
        .assert()
        .code(2)
        .stdout("Dockerfile:1:6: unpinned FROM cgr.dev/chainguard/go:latest\n")
        .stderr(
            "error: /dev/zero: not a regular file (a character device); not read\n\
             error: fifo.Dockerfile: not a regular file (a FIFO); not read\n",
        );

    // A sparse file of 1.5 GiB, one endless line: an error naming it, in little memory.
    let big = dir.path().join("big.Dockerfile");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(3 << 29)
        .unwrap();
    let just_over = dir.path().join("over.Dockerfile");
    std::fs::File::create(&just_over)
        .unwrap()
        .set_len((64 << 20) + 1)
        .unwrap();
    // Reaped by `wait_measuring` (wait4, for its peak memory), which clippy cannot see.
    #[allow(clippy::zombie_processes)]
    let child = process(dir.path(), None)
        .args(["list", "big.Dockerfile", "over.Dockerfile"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (status, max_rss_kib) = wait_measuring(child.id());
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.unwrap(), &mut stderr).unwrap();
    assert_eq!(status, 2, "{stderr}");
    assert_eq!(
        stderr,
        "error: big.Dockerfile: larger than 64 MiB (1610612736 bytes); not read\n\
         error: over.Dockerfile: larger than 64 MiB (67108865 bytes); not read\n"
    );
    assert!(max_rss_kib < 100 * 1024, "peak RSS {max_rss_kib} KiB");
}

/// Waits for child `pid` (not yet reaped), returning its exit code and peak RSS in KiB.
fn wait_measuring(pid: u32) -> (i32, i64) {
    let mut status = 0;
    // SAFETY: zeroed rusage is valid; waits for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid as i32, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid as i32);
    assert!(libc::WIFEXITED(status), "{status}");
    (libc::WEXITSTATUS(status), usage.ru_maxrss)
}

/// `… | head -1`: the reader goes away at once; the exit status must still be the run's.
fn status_with_stdout_closed(mut cmd: StdCommand) -> (Option<i32>, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    (output.status.code(), text(&output.stderr))
}

#[test]
fn a_closed_stdout_never_turns_findings_or_errors_into_success() {
    let emu = Emulator::start();
    nightly(&emu, "chainguard/go");
    let dir = tempfile::tempdir().unwrap();
    // More output than a pipe holds, so writing it fails however late the reader closes.
    let mut src = Vec::new();
    for i in 0..2000 {
        src.extend_from_slice(format!("FROM cgr.dev/chainguard/go:latest AS s{i}\n").as_bytes());
    }
    write(dir.path(), "Dockerfile", &src);
    let run = |args: &[&str]| {
        let mut cmd = process(dir.path(), Some(&emu));
        cmd.args(args);
        status_with_stdout_closed(cmd)
    };
    let (code, stderr) = run(&["pin", "--check", "--no-cache"]);
    assert_eq!(code, Some(1), "{stderr}");
    let (code, stderr) = run(&["pin", "--check", "--offline"]);
    assert_eq!(code, Some(1), "{stderr}");
    let (code, stderr) = run(&["pin", "--check", "--offline", "--format", "json"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("1 of 1 file") || stderr.is_empty(),
        "{stderr}"
    );
    // Errors outrank findings, output or not.
    write(dir.path(), "bad/Dockerfile", b"FROM Not/Valid:Ref\n");
    let (code, stderr) = run(&["pin", "--check", "--offline"]);
    assert_eq!(code, Some(2), "{stderr}");
    let (code, stderr) = run(&["list"]);
    assert_eq!(code, Some(2), "{stderr}");
    let (code, stderr) = run(&["pin", "--diff", "--no-cache"]);
    assert_eq!(code, Some(2), "{stderr}");
    // Nothing wrong: still success.
    std::fs::remove_dir_all(dir.path().join("bad")).unwrap();
    let (code, stderr) = run(&["list"]);
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn report_path_symlink_is_refused_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let victim = write(dir.path(), "victim/bashrc", b"keep me\n");
    let repo = dir.path().join("repo");
    write(&repo, "Dockerfile", b"FROM cgr.dev/chainguard/go:latest\n");
    std::os::unix::fs::symlink(&victim, repo.join("report.json")).unwrap();
    cli::digestpin(&repo)
        .args(["pin", "--check", "--offline", "--report", "report.json"])
        .assert()
        .code(2)
        .stdout(predicate::str::contains("Dockerfile:1:6: FROM"))
        .stderr(predicate::str::contains(
            "error: report.json: cannot write the report: it is a symbolic link, which is not followed\n",
        ));
    assert_eq!(read(&victim), b"keep me\n");
    // A dangling link is not followed either (it would create the target).
    let dangling = dir.path().join("victim/created");
    std::os::unix::fs::symlink(&dangling, repo.join("new.json")).unwrap();
    cli::digestpin(&repo)
        .args(["pin", "--check", "--offline", "--report", "new.json"])
        .assert()
        .code(2);
    assert!(!dangling.exists());
    // A plain path is written, and the status is the run's.
    cli::digestpin(&repo)
        .args(["pin", "--check", "--offline", "--report", "plain.json"])
        .assert()
        .code(1);
    let doc: Value = serde_json::from_slice(&read(&repo.join("plain.json"))).unwrap();
    assert_eq!(doc["summary"]["pinned"], 1);
}

#[test]
fn hostile_file_names_are_pinned_and_printed_escaped() {
    let emu = Emulator::start();
    let newest = nightly(&emu, "chainguard/go");
    let dir = tempfile::tempdir().unwrap();
    let src = b"FROM cgr.dev/chainguard/go:latest\n";
    let names: [&[u8]; 3] = [
        b"a\n::error file=x::injected.Dockerfile",
        b"\x1b[2J\x1b]0;title\x07.Dockerfile",
        b"\xff\xfe.Dockerfile",
    ];
    let files: Vec<PathBuf> = names
        .iter()
        .map(|n| write(dir.path(), OsStr::from_bytes(n), src))
        .collect();
    let check = |format: &str| {
        digestpin(dir.path(), &emu)
            .args(["pin", "--check", "--no-cache", "--format", format])
            .assert()
            .code(1)
            .get_output()
            .clone()
    };
    let out = check("text");
    let stdout = text(&out.stdout);
    for shown in [
        "a\\n::error file=x::injected.Dockerfile:1:6: FROM cgr.dev/chainguard/go:latest: not pinned",
        "\\u{1b}[2J\\u{1b}]0;title\\u{7}.Dockerfile:1:6: FROM",
        "\\xff\\xfe.Dockerfile:1:6: FROM",
    ] {
        assert!(stdout.contains(shown), "{shown} in\n{stdout}");
    }
    for output in [&out.stdout, &out.stderr] {
        assert!(!output.contains(&0x1b) && !output.contains(&0x07));
    }
    assert_eq!(stdout.lines().count(), 3, "{stdout}");

    let out = check("github");
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 3, "{stdout}");
    for line in stdout.lines() {
        assert!(line.starts_with("::error file="), "{line}");
    }
    assert!(!out.stdout.contains(&0x1b));
    assert!(
        stdout
            .contains("::error file=a\\n%3A%3Aerror file=x%3A%3Ainjected.Dockerfile,line=1,col=6,"),
        "{stdout}"
    );

    let out = digestpin(dir.path(), &emu)
        .args(["pin", "--no-cache", "--color", "never"])
        .assert()
        .success()
        .get_output()
        .clone();
    assert!(!out.stdout.contains(&0x1b), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("--- a/\\xff\\xfe.Dockerfile\n"));
    let pinned = format!("FROM cgr.dev/chainguard/go:latest@{}\n", newest.digest);
    for file in &files {
        assert_eq!(text(&read(file)), pinned, "{}", file.display());
    }
}

#[test]
fn a_rewritten_file_keeps_owner_group_and_mode_and_hard_links_are_split() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let emu = Emulator::start();
    let newest = nightly(&emu, "chainguard/go");
    let dir = tempfile::tempdir().unwrap();
    let src = b"FROM cgr.dev/chainguard/go:latest\n";
    let file = write(dir.path(), "Dockerfile", src);
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    // SAFETY: geteuid cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if root {
        std::os::unix::fs::chown(&file, Some(1234), Some(5678)).unwrap();
    }
    let link = dir.path().join("other-name");
    std::fs::hard_link(&file, &link).unwrap();
    digestpin(dir.path(), &emu)
        .args(["pin", "--no-cache", "Dockerfile"])
        .assert()
        .success();
    let pinned = format!("FROM cgr.dev/chainguard/go:latest@{}\n", newest.digest);
    assert_eq!(text(&read(&file)), pinned);
    let meta = std::fs::metadata(&file).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o640);
    if root {
        assert_eq!((meta.uid(), meta.gid()), (1234, 5678));
    }
    // Documented: the rename gives the path a new file; the other name keeps the old one.
    assert_eq!(read(&link), src);
    assert_eq!(meta.nlink(), 1);
}

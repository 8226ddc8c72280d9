//! Differential test against BuildKit's own Dockerfile parser.
//!
//! Runs `tests/differential/buildkit_diff.py`, which compares the image references
//! `digestpin list --format json` reports with the positions implied by the PyPI
//! package `dockerfile` (3.4.0, BuildKit's Go parser). See that script for details.
//!
//! Python is `$DIGESTPIN_PYTHON`, else `python3`. If it cannot `import dockerfile`,
//! the tests are skipped with a loud message, except when `$CI` is set, where they fail.
//! Set up locally with:
//!
//! ```text
//! python3 -m venv /tmp/venv && /tmp/venv/bin/pip install dockerfile==3.4.0
//! DIGESTPIN_PYTHON=/tmp/venv/bin/python cargo test --test differential
//! ```

use crate::support::{cli, skip};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

const BIN: &str = env!("CARGO_BIN_EXE_digestpin");
const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// The Python interpreter to use.
fn python() -> String {
    std::env::var("DIGESTPIN_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// True if the interpreter can import BuildKit's parser. Otherwise panics under CI, or skips
/// visibly ([`skip::missing`]) and returns false.
fn buildkit_parser_available() -> bool {
    let python = python();
    let probe = Command::new(&python)
        .args(["-c", "import dockerfile"])
        .output();
    let problem = match probe {
        Ok(out) if out.status.success() => return true,
        Ok(out) => format!(
            "`{python} -c \"import dockerfile\"` failed: {}",
            String::from_utf8_lossy(&out.stderr)
                .trim()
                .lines()
                .last()
                .unwrap_or("")
        ),
        Err(err) => format!("cannot run `{python}`: {err}"),
    };
    let help = "install it with `pip install dockerfile==3.4.0` and point \
                DIGESTPIN_PYTHON at that interpreter";
    skip::missing(format!("BuildKit's parser: {problem}; {help}"));
    false
}

/// Path of the differential script.
fn script() -> PathBuf {
    Path::new(MANIFEST_DIR).join("tests/differential/buildkit_diff.py")
}

/// Runs the script with `args` after `--bin BIN`, in the environment `cli::isolate` gives
/// digestpin (the script's runs of it inherit it); panics with its output on failure.
fn run_diff(args: &[&str]) {
    let mut cmd = Command::new(python());
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("differential-cache");
    let out = cli::isolate(&mut cmd, Path::new(MANIFEST_DIR), &cache)
        .arg(script())
        .arg("--bin")
        .arg(BIN)
        .args(args)
        .output()
        .expect("run buildkit_diff.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Shown with --nocapture, and kept by the harness on failure.
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        out.status.success(),
        "buildkit_diff.py {args:?} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
}

#[test]
fn conformance_fixtures_match_buildkit() {
    if !buildkit_parser_available() {
        return;
    }
    let fixtures = Path::new(MANIFEST_DIR).join("fixtures/conformance");
    let cases = std::fs::read_dir(&fixtures)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", fixtures.display()))
        .filter_map(Result::ok)
        .filter(|entry| entry.path().join("Dockerfile").is_file())
        .count();
    assert!(
        cases >= 46,
        "expected the 46 conformance cases in {}, found {cases}",
        fixtures.display()
    );
    run_diff(&[fixtures.to_str().expect("UTF-8 path")]);
}

#[test]
fn random_dockerfiles_match_buildkit() {
    if !buildkit_parser_available() {
        return;
    }
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let workdir = std::env::temp_dir().join(format!(
        "digestpin-differential-{}-{nanos}",
        std::process::id()
    ));
    // The script deletes the files that pass and keeps (and names) the failing ones.
    run_diff(&[
        "--random",
        "300",
        "--seed",
        "1",
        "--workdir",
        workdir.to_str().expect("UTF-8 path"),
    ]);
    let _ = std::fs::remove_dir_all(&workdir);
}

//! Tests whose tool is missing (no venv, no `docker-registry`): skipped where a developer runs
//! plain `cargo test`, a failure under CI.
//!
//! libtest has no "skipped" outcome and a test cannot mark itself ignored at run time, so a
//! skipped test still counts as passed. To keep that from passing unnoticed, every skip prints
//! one `SKIPPED` line straight to stderr when it happens (not captured by the harness), and
//! when the test binary exits, after libtest's own `test result:` line, a list of every test
//! skipped in the run and why. With `CI` set (to anything but an empty string), [`missing`]
//! panics instead: CI must run everything.

use std::fmt::Display;
use std::io::Write as _;
use std::sync::{Mutex, Once};

static SKIPPED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// The tool `reason` names is missing: panics under CI, else skips visibly (the caller then
/// returns without asserting anything).
pub fn missing(reason: impl Display) {
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
        panic!("{}: required under CI: {reason}", test_name());
    }
    note(reason);
}

/// Skips visibly, even under CI (for a tool the test only needs on some machines).
pub fn note(reason: impl Display) {
    let line = format!("{}: {reason}", test_name());
    let _ = std::io::stderr().write_all(format!("\n!!!!!!!! SKIPPED {line}\n\n").as_bytes());
    SKIPPED.lock().unwrap_or_else(|e| e.into_inner()).push(line);
    static AT_EXIT: Once = Once::new();
    // SAFETY: registers a plain `extern "C"` function with no arguments.
    AT_EXIT.call_once(|| unsafe {
        libc::atexit(summary);
    });
}

/// The running test's name (libtest names each test's thread after it).
fn test_name() -> String {
    match std::thread::current().name() {
        Some(name) if name != "main" => name.to_string(),
        _ => "a test".to_string(),
    }
}

extern "C" fn summary() {
    let skipped = SKIPPED.lock().unwrap_or_else(|e| e.into_inner());
    let mut text = format!(
        "\n!!!!!!!! {} test(s) SKIPPED, counted as passed above (each says why; a missing \
         tool fails under CI=true):\n",
        skipped.len()
    );
    for line in skipped.iter() {
        text.push_str(&format!("!!!!!!!!   {line}\n"));
    }
    text.push('\n');
    // Raw write(2): std's handles may already be torn down this late.
    // SAFETY: a valid buffer of that length.
    unsafe {
        libc::write(2, text.as_ptr().cast(), text.len());
    }
}

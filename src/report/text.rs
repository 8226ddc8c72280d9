//! Text output: one line per reference, `PATH:LINE:COL: …`, so editors and terminals can jump
//! to it; warnings, errors and the summary go to the second stream (stderr).

use std::io::{self, Write};

use super::display_path;
use crate::dockerfile::RefState;
use crate::engine::{FileError, PinReport, ScanReport, Status};

fn file_error(err: &mut dyn Write, path: &str, error: &FileError) -> io::Result<()> {
    match error.line {
        Some(line) => writeln!(err, "error: {path}:{line}: {}", error.message),
        None => writeln!(err, "error: {path}: {}", error.message),
    }
}

fn empty_dirs(err: &mut dyn Write, dirs: &[std::path::PathBuf]) -> io::Result<()> {
    for dir in dirs {
        writeln!(err, "warning: {}: no Dockerfiles found", display_path(dir))?;
    }
    Ok(())
}

/// `list`: every reference with its state; errors to `err`.
pub fn list_text(report: &ScanReport, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<()> {
    for file in &report.files {
        let path = display_path(&file.path);
        for r in &file.refs {
            write!(
                out,
                "{path}:{}:{}: {:<8} {} {}",
                r.line, r.column, r.state, r.instruction, r.original
            )?;
            match (&r.problem, r.state) {
                (Some(problem), RefState::Invalid) => writeln!(out, " ({problem})")?,
                _ => writeln!(out)?,
            }
        }
        if let Some(error) = &file.error {
            file_error(err, &path, error)?;
        }
    }
    empty_dirs(err, &report.empty_dirs)
}

/// `pin --check` (text): one line per finding on `out`; skipped references, errors and a
/// summary on `err` (`quiet` keeps only errors).
pub fn check_text(
    report: &PinReport,
    out: &mut dyn Write,
    err: &mut dyn Write,
    quiet: bool,
) -> io::Result<()> {
    for file in &report.files {
        let path = display_path(&file.path);
        for plan in &file.refs {
            let r = &plan.found;
            let at = format!("{path}:{}:{}", r.line, r.column);
            let reason = plan.reason.as_deref().unwrap_or("");
            match plan.status {
                Status::Pinned => match &plan.digest_after {
                    Some(d) => writeln!(
                        out,
                        "{at}: {} {}: not pinned (would pin to {d})",
                        r.instruction, r.original
                    )?,
                    None => writeln!(
                        out,
                        "{at}: {} {}: not pinned to a digest",
                        r.instruction, r.original
                    )?,
                },
                Status::Updated => writeln!(
                    out,
                    "{at}: {} {}: stale digest{}",
                    r.instruction,
                    r.original,
                    plan.digest_after
                        .as_ref()
                        .map(|d| format!(" (now {d})"))
                        .unwrap_or_default()
                )?,
                Status::Error => writeln!(err, "error: {at}: {}: {reason}", r.original)?,
                Status::Skipped if !quiet && reason != "ignored" => {
                    writeln!(err, "warning: {at}: {}: skipped ({reason})", r.original)?
                }
                Status::Skipped | Status::Unchanged => {}
            }
        }
        if let Some(error) = &file.error {
            file_error(err, &path, error)?;
        }
    }
    if !quiet {
        empty_dirs(err, &report.empty_dirs)?;
        let s = report.summary();
        let findings = s.pinned + s.updated;
        let files_with = report
            .files
            .iter()
            .filter(|f| {
                f.refs
                    .iter()
                    .any(|r| matches!(r.status, Status::Pinned | Status::Updated))
            })
            .count();
        writeln!(
            err,
            "digestpin: {findings} of {} image reference{} not pinned in {files_with} of {} file{} ({} pinned, {} skipped, {} error{})",
            s.refs,
            plural(s.refs),
            s.files,
            plural(s.files),
            s.unchanged,
            s.skipped,
            s.errors,
            plural(s.errors)
        )?;
    }
    Ok(())
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

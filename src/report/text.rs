//! Text output: one line per reference, `PATH:LINE:COL: …`, so editors and terminals can jump
//! to it; warnings, errors and the summary go to the second stream (stderr).

use std::io::{self, Write};

use jiff::Timestamp;

use super::{display_path, escape_text, last_changed};
use crate::diff::colorize;
use crate::engine::{FileError, FilePlan, FileScan, PinMode, PinReport, Status, Tally};
use crate::found::RefState;
use crate::registry::history::HistoryEntry;
use crate::tag_groups::TagGroup;

fn file_error(err: &mut dyn Write, path: &str, error: &FileError) -> io::Result<()> {
    let message = escape_text(&error.message);
    match error.line {
        Some(line) => writeln!(err, "error: {path}:{line}: {message}"),
        None => writeln!(err, "error: {path}: {message}"),
    }
}

/// A warning for each directory that held no Dockerfile.
pub fn empty_dirs(err: &mut dyn Write, dirs: &[std::path::PathBuf]) -> io::Result<()> {
    for dir in dirs {
        writeln!(
            err,
            "warning: {}: no Dockerfile, Compose, GitHub Actions, GitLab CI or Kubernetes files found",
            display_path(dir)
        )?;
    }
    Ok(())
}

/// A notice for each file found by walking that was not read (a symlink out of the tree, a
/// FIFO, a device): `warning: PATH: skipped (REASON)`. Not an error.
pub fn skipped_files(err: &mut dyn Write, skipped: &[crate::files::Skipped]) -> io::Result<()> {
    for s in skipped {
        writeln!(
            err,
            "warning: {}: skipped ({})",
            display_path(&s.path),
            escape_text(&s.reason)
        )?;
    }
    Ok(())
}

/// `list` for one file.
pub fn list_text_file(file: &FileScan, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<()> {
    let path = display_path(&file.path);
    for r in &file.refs {
        write!(
            out,
            "{path}:{}:{}: {:<8} {} {}",
            r.line,
            r.column,
            r.state,
            r.site,
            escape_text(&r.original)
        )?;
        match (&r.problem, r.state) {
            (Some(problem), RefState::Invalid | RefState::Ignored) => {
                writeln!(out, " ({})", escape_text(problem))?
            }
            _ => writeln!(out)?,
        }
    }
    if let Some(error) = &file.error {
        file_error(err, &path, error)?;
    }
    Ok(())
}

/// How `pin`'s text output is written.
#[derive(Debug, Clone, Copy)]
pub struct PinText {
    pub mode: PinMode,
    /// Colour the diff.
    pub color: bool,
    /// Errors only on `err`.
    pub quiet: bool,
}

/// `pin` (text). In `--check`, one line per finding on `out`; otherwise the diff on `out`.
/// Skipped references, errors, stale-pin notes and a summary go to `err` (`quiet` keeps only
/// errors).
pub fn pin_text(
    report: &PinReport,
    style: PinText,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<()> {
    for file in &report.files {
        pin_text_file(file, style, out, err)?;
    }
    if style.quiet {
        return Ok(());
    }
    // The diff (stdout, buffered) comes before the summary (stderr) on a shared terminal.
    out.flush()?;
    empty_dirs(err, &report.empty_dirs)?;
    skipped_files(err, &report.skipped)?;
    pin_text_summary(&report.tally(), style.mode, err)
}

/// `pin` (text) for one file.
pub fn pin_text_file(
    file: &FilePlan,
    style: PinText,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<()> {
    let PinText { mode, color, quiet } = style;
    let path = display_path(&file.path);
    for plan in &file.refs {
        let r = &plan.found;
        let at = At(&path, r.line, r.column);
        let original = escape_text(&r.original);
        let reason = plan
            .reason
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        let reason = escape_text(&reason);
        let detail = plan.detail.as_deref().map(escape_text);
        let behind = detail
            .as_deref()
            .map(|b| format!(", {b}"))
            .unwrap_or_default();
        let young = detail.as_deref().unwrap_or("young");
        let now = plan
            .digest_after
            .as_ref()
            .map(|d| format!(" (now {d})"))
            .unwrap_or_default();
        match (plan.status, mode) {
            (Status::Pinned, PinMode::Check) => match &plan.digest_after {
                Some(d) => writeln!(
                    out,
                    "{at}: {} {}: not pinned (current digest {d})",
                    r.site, original
                )?,
                None => writeln!(out, "{at}: {} {}: not pinned to a digest", r.site, original)?,
            },
            (Status::Updated, PinMode::Check) => writeln!(
                out,
                "{at}: {} {}: stale digest{behind}{now}",
                r.site, original
            )?,
            (Status::Updated, _) if !quiet => {
                writeln!(err, "{at}: {original}: stale digest{behind}")?
            }
            (Status::Error, _) => writeln!(err, "error: {at}: {original}: {reason}")?,
            (Status::Missing, PinMode::Check) => {
                writeln!(out, "{at}: {} {original}: {reason}", r.site)?
            }
            (Status::Missing, _) if !quiet => writeln!(err, "warning: {at}: {original}: {reason}")?,
            (Status::Young, PinMode::Check) if plan.denied => {
                writeln!(out, "{at}: {} {original}: {}", r.site, young)?
            }
            (Status::Young, _) if !quiet => writeln!(err, "{at}: {original}: kept, {young}")?,
            (Status::Skipped, _) if !quiet && r.state != RefState::Ignored => {
                let detail = detail
                    .as_deref()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default();
                writeln!(err, "warning: {at}: {original}: skipped ({reason}{detail})")?
            }
            _ => {}
        }
    }
    if let Some(error) = &file.error {
        file_error(err, &path, error)?;
    }
    if mode != PinMode::Check && !quiet && !file.diff.is_empty() {
        let diff = if color {
            colorize(&file.diff)
        } else {
            file.diff.clone()
        };
        out.write_all(diff.as_bytes())?;
    }
    Ok(())
}

/// `PATH:LINE:COL`, written where it is used (no string per reference).
#[derive(Clone, Copy)]
struct At<'a>(&'a str, usize, usize);

impl std::fmt::Display for At<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.0, self.1, self.2)
    }
}

/// `list`: an `error:` line on `err` for each invalid reference (they make the exit status 2).
pub fn invalid_refs(file: &FileScan, err: &mut dyn Write) -> io::Result<()> {
    let path = display_path(&file.path);
    for r in file.refs.iter().filter(|r| r.state == RefState::Invalid) {
        let problem = r.problem.as_deref().unwrap_or("invalid reference format");
        writeln!(
            err,
            "error: {path}:{}:{}: {}: invalid reference: {problem}",
            r.line, r.column, r.original
        )?;
    }
    Ok(())
}

/// Every error of a `pin` run as `error: PATH:LINE:COL: …` lines, for the formats whose
/// stdout is a document that does not list errors (sarif, gitlab).
pub fn pin_errors(report: &PinReport, err: &mut dyn Write) -> io::Result<()> {
    for (path, line, column, message) in super::findings::errors(report) {
        let at = match (line, column) {
            (Some(l), Some(c)) => format!("{path}:{l}:{c}"),
            (Some(l), None) => format!("{path}:{l}"),
            _ => path,
        };
        writeln!(err, "error: {at}: {message}")?;
    }
    Ok(())
}

/// The one-line summary of a `pin` run (stderr).
pub fn pin_text_summary(tally: &Tally, mode: PinMode, err: &mut dyn Write) -> io::Result<()> {
    let s = tally.summary;
    let extra = [(s.young, "young"), (s.missing, "missing")]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!(", {n} {what}"))
        .collect::<String>();
    if mode == PinMode::Check {
        let what = if tally.findings == s.pinned {
            "not pinned"
        } else if tally.findings == s.pinned + s.updated {
            "unpinned or stale"
        } else {
            "unpinned, stale, missing or too young"
        };
        return writeln!(
            err,
            "digestpin: {} of {} image reference{} {what} in {} of {} file{} ({} pinned{extra}, {} skipped, {} error{})",
            tally.findings,
            s.refs,
            plural(s.refs),
            tally.files_with_findings,
            s.files,
            plural(s.files),
            s.unchanged,
            s.skipped,
            s.errors,
            plural(s.errors)
        );
    }
    let (verbs, changed_verb) = match mode {
        PinMode::Write => (["pinned", "updated"], "changed"),
        _ => (["to pin", "to update"], "to change"),
    };
    writeln!(
        err,
        "digestpin: {} {}, {} {}, {} unchanged{extra}, {} skipped, {} error{}; {} of {} file{} {changed_verb}",
        s.pinned,
        verbs[0],
        s.updated,
        verbs[1],
        s.unchanged,
        s.skipped,
        s.errors,
        plural(s.errors),
        tally.changed,
        s.files,
        plural(s.files),
    )
}

/// `history` (text): one line per entry, oldest first.
pub fn history_text(entries: &[HistoryEntry], out: &mut dyn Write) -> io::Result<()> {
    for e in entries {
        writeln!(out, "{}  {}", e.timestamp_text, e.digest)?;
    }
    Ok(())
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// A terminal table: `LAST CHANGED  DIGEST  TAGS`, the full digest, tags last so a long list
/// never pushes the other columns about.
pub fn tags_text(groups: &[TagGroup], now: Timestamp, out: &mut dyn Write) -> io::Result<()> {
    let header = "LAST CHANGED";
    let width = groups
        .iter()
        .map(|g| last_changed(g, now).len())
        .chain([header.len()])
        .max()
        .unwrap_or(header.len());
    let digest_width = groups
        .iter()
        .map(|g| g.digest.as_str().len())
        .chain(["DIGEST".len()])
        .max()
        .unwrap_or(0);
    writeln!(out, "{header:<width$}  {:<digest_width$}  TAGS", "DIGEST")?;
    for g in groups {
        let date = last_changed(g, now);
        writeln!(
            out,
            "{date:<width$}  {:<digest_width$}  {}",
            g.digest.as_str(),
            g.tags.join(" ")
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tags_tests {
    use super::*;
    use crate::report::tag_rows::{NOW, row};

    #[test]
    fn text_puts_tags_last_and_aligns_the_rest() {
        let mut undated = row(
            &["a"],
            "",
            "sha256:1111111111111111111111111111111111111111111111111111111111111111",
        );
        undated.last_changed = None;
        let groups = [
            row(
                &["1", "latest"],
                "December 28th, 2023",
                "sha256:2222222222222222222222222222222222222222222222222222222222222222",
            ),
            undated,
        ];
        let mut out = Vec::new();
        tags_text(&groups, NOW.parse().unwrap(), &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\
LAST CHANGED         DIGEST                                                                   TAGS
December 28th, 2023  sha256:2222222222222222222222222222222222222222222222222222222222222222  1 latest
unknown              sha256:1111111111111111111111111111111111111111111111111111111111111111  a
"
        );
    }
}

//! `--format github`: GitHub Actions workflow commands, one per finding, escaped exactly as the
//! Actions toolkit escapes them (`toCommandValue`/`escapeData`/`escapeProperty`), and the
//! Markdown step summary (`$GITHUB_STEP_SUMMARY`).

use std::io::{self, Write};

use super::{display_path, escape_text};
use crate::engine::{FilePlan, PinMode, PinReport, RefPlan, Status};

/// Escapes a command's message: `%`, `\r`, `\n`.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a property value: as data, plus `:` and `,`.
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// One workflow command: `::LEVEL file=F,line=L,col=C,title=digestpin::MESSAGE`.
fn command(
    out: &mut dyn Write,
    level: &str,
    file: Option<&str>,
    line: Option<usize>,
    col: Option<usize>,
    message: &str,
) -> io::Result<()> {
    let mut props = Vec::new();
    if let Some(file) = file {
        // GitHub matches annotation paths against the repository's, which have no `./`.
        let file = file.strip_prefix("./").unwrap_or(file);
        props.push(format!("file={}", escape_property(file)));
    }
    if let Some(line) = line {
        props.push(format!("line={line}"));
    }
    if let Some(col) = col {
        props.push(format!("col={col}"));
    }
    props.push("title=digestpin".to_owned());
    writeln!(
        out,
        "::{level} {}::{}",
        props.join(","),
        escape_data(message)
    )
}

/// The command for one reference, if it is worth one in this mode.
fn ref_command(out: &mut dyn Write, mode: PinMode, path: &str, plan: &RefPlan) -> io::Result<()> {
    let r = &plan.found;
    let at = (Some(path), Some(r.line), Some(r.column));
    let after = plan.digest_after.as_ref().map(ToString::to_string);
    // Terminal escaping first (a registry's message, a reference with an ESC in it), then the
    // toolkit's escaping when the command is written.
    let reason = escape_text(
        &plan
            .reason
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
    )
    .into_owned();
    let original = escape_text(&r.original).into_owned();
    let behind = plan.detail.as_deref().map(escape_text);
    let (level, message) = match (plan.status, mode) {
        (Status::Pinned, PinMode::Check) => (
            "error",
            match &after {
                Some(d) => format!("{} is not pinned to a digest (current: {d})", original),
                None => format!("{} is not pinned to a digest", original),
            },
        ),
        (Status::Updated, PinMode::Check) => (
            "error",
            format!(
                "{} is stale{} (current: {})",
                original,
                behind
                    .as_deref()
                    .map(|b| format!(": {b}"))
                    .unwrap_or_default(),
                after.unwrap_or_default()
            ),
        ),
        (Status::Pinned, PinMode::Write) => (
            "notice",
            format!("pinned {} to {}", original, after.unwrap_or_default()),
        ),
        (Status::Pinned, PinMode::Diff) => (
            "notice",
            format!("would pin {} to {}", original, after.unwrap_or_default()),
        ),
        (Status::Updated, _) => (
            "notice",
            format!(
                "{} {} to {}{}",
                if mode == PinMode::Write {
                    "updated"
                } else {
                    "would update"
                },
                original,
                after.unwrap_or_default(),
                behind
                    .as_deref()
                    .map(|b| format!(" ({b})"))
                    .unwrap_or_default()
            ),
        ),
        (Status::Error, _) => ("error", format!("{original}: {reason}")),
        (Status::Missing, PinMode::Check) => ("error", format!("{original}: {reason}")),
        (Status::Missing, _) => ("warning", format!("{original}: {reason}")),
        (Status::Young, _) => (
            if plan.denied && mode == PinMode::Check {
                "error"
            } else {
                "notice"
            },
            format!("{original}: {}", behind.as_deref().unwrap_or("young")),
        ),
        // Ignored on purpose (a comment or a config rule): nothing to warn about.
        (Status::Skipped, _) if r.state != crate::found::RefState::Ignored => (
            "warning",
            match &behind {
                Some(detail) => format!("{original} skipped: {reason}: {detail}"),
                None => format!("{original} skipped: {reason}"),
            },
        ),
        _ => return Ok(()),
    };
    command(out, level, at.0, at.1, at.2, &message)
}

/// Every finding of a `pin` run as workflow commands.
pub fn pin_github(report: &PinReport, mode: PinMode, out: &mut dyn Write) -> io::Result<()> {
    for file in &report.files {
        let path = display_path(&file.path);
        for plan in &file.refs {
            ref_command(out, mode, &path, plan)?;
        }
        if let Some(error) = &file.error {
            let message = escape_text(&error.message);
            command(out, "error", Some(&path), error.line, None, &message)?;
        }
    }
    for skipped in &report.skipped {
        let message = format!("skipped: {}", escape_text(&skipped.reason));
        let path = display_path(&skipped.path);
        command(out, "warning", Some(&path), None, None, &message)?;
    }
    for dir in &report.empty_dirs {
        command(
            out,
            "warning",
            None,
            None,
            None,
            &format!(
                "{}: no Dockerfile, Compose, GitHub Actions, GitLab CI or Kubernetes files found",
                display_path(dir)
            ),
        )?;
    }
    Ok(())
}

/// Markdown for `$GITHUB_STEP_SUMMARY`: a table of every image reference and what happened to
/// it, then the diff in a collapsed block.
pub fn step_summary(report: &PinReport, mode: PinMode, out: &mut dyn Write) -> io::Result<()> {
    let s = report.summary();
    let title = match mode {
        PinMode::Check => "digestpin check",
        PinMode::Diff => "digestpin diff",
        PinMode::Write => "digestpin pin",
    };
    writeln!(out, "### {title}\n")?;
    let n = |count: usize, one: &str, many: &str| {
        format!("{count} {}", if count == 1 { one } else { many })
    };
    let (pinned, updated) = match mode {
        PinMode::Write => ("pinned", "updated"),
        PinMode::Check | PinMode::Diff => ("to pin", "stale"),
    };
    writeln!(
        out,
        "{} in {}: {} {pinned}, {} {updated}, {} unchanged, {} skipped, {}\n",
        n(s.refs, "reference", "references"),
        n(s.files, "file", "files"),
        s.pinned,
        s.updated,
        s.unchanged,
        s.skipped,
        n(s.errors, "error", "errors"),
    )?;
    writeln!(
        out,
        "| File | Line | Image | Status | Old digest → new digest | Published at |"
    )?;
    writeln!(out, "|---|---|---|---|---|---|")?;
    for file in &report.files {
        for plan in &file.refs {
            write_row(out, mode, file, plan)?;
        }
    }
    let diffs: Vec<&str> = report
        .files
        .iter()
        .map(|f| f.diff.as_str())
        .filter(|d| !d.is_empty())
        .collect();
    if !diffs.is_empty() {
        writeln!(out, "\n<details><summary>Diff</summary>\n\n```diff")?;
        for diff in diffs {
            out.write_all(diff.replace("```", "` ` `").as_bytes())?;
        }
        writeln!(out, "```\n\n</details>")?;
    }
    writeln!(out)
}

fn write_row(
    out: &mut dyn Write,
    mode: PinMode,
    file: &FilePlan,
    plan: &RefPlan,
) -> io::Result<()> {
    let cell = |text: &str| escape_text(text).replace('|', "\\|");
    let digest = |d: Option<&crate::digest::Digest>| {
        d.map_or("–".to_owned(), |d| format!("`{}`", short(d.as_str())))
    };
    let status = match (plan.status, &plan.reason) {
        (Status::Skipped | Status::Error, Some(reason)) => {
            format!("{:?}: {}", plan.status, cell(&reason.to_string())).to_lowercase()
        }
        // `--check`/`--diff` change nothing: say what was found, not what was done.
        (Status::Pinned, _) if mode != PinMode::Write => "unpinned".to_owned(),
        (Status::Updated, _) if mode != PinMode::Write => "stale".to_owned(),
        (status, _) => format!("{status:?}").to_lowercase(),
    };
    writeln!(
        out,
        "| {} | {} | `{}` | {} | {} → {} | {} |",
        cell(&display_path(&file.path)),
        plan.found.line,
        cell(&plan.found.original),
        status,
        digest(plan.digest_before.as_ref()),
        digest(plan.digest_after.as_ref()),
        plan.updated_at
            .as_deref()
            .map(cell)
            .unwrap_or_else(|| "–".into())
    )
}

/// `sha256:0123456789ab…` — enough to recognise, short enough for a table.
fn short(digest: &str) -> String {
    match digest.split_once(':') {
        Some((alg, hex)) if hex.len() > 12 => format!("{alg}:{}…", &hex[..12]),
        _ => digest.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The examples of the Actions toolkit's own tests (`command.test.ts`).
    #[test]
    fn escapes_like_the_actions_toolkit() {
        assert_eq!(
            escape_data("percent % percent % cr \r cr \r lf \n lf \n"),
            "percent %25 percent %25 cr %0D cr %0D lf %0A lf %0A"
        );
        assert_eq!(
            escape_data("%25 %25 %0D %0D %0A %0A"),
            "%2525 %2525 %250D %250D %250A %250A"
        );
        assert_eq!(
            escape_property(
                "percent % percent % cr \r cr \r lf \n lf \n colon : colon : comma , comma ,"
            ),
            "percent %25 percent %25 cr %0D cr %0D lf %0A lf %0A colon %3A colon %3A comma %2C comma %2C"
        );
    }

    #[test]
    fn command_line_shape() {
        let mut out = Vec::new();
        command(
            &mut out,
            "error",
            Some("dir,x/a:b/Dockerfile"),
            Some(3),
            Some(6),
            "50% done\nnext",
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "::error file=dir%2Cx/a%3Ab/Dockerfile,line=3,col=6,title=digestpin::50%25 done%0Anext\n"
        );
    }
}

//! `--format gitlab`: a GitLab Code Quality report (the Code Climate issue subset GitLab reads):
//! a JSON array with one issue per finding, each with `description`, `check_name` (the finding
//! kind: `unpinned`, `stale`, `missing`, `young`), a `fingerprint` stable across runs,
//! `severity`, and `location.path` / `location.lines.begin`. Errors are not code quality
//! issues: they go to stderr and the exit status.

use std::io::{self, Write};

use serde_json::{Value, json};

use super::findings::{Kind, findings};
use crate::engine::{PinMode, PinReport};

/// `pin --format gitlab`.
pub fn pin_gitlab(report: &PinReport, mode: PinMode, out: &mut dyn Write) -> io::Result<()> {
    let issues: Vec<Value> = findings(report, mode)
        .iter()
        .map(|f| {
            json!({
                "type": "issue",
                "engine_name": "digestpin",
                "description": f.message,
                "check_name": f.kind.id(),
                "categories": ["Security"],
                "fingerprint": f.fingerprint,
                "severity": severity(f.kind),
                "location": {"path": f.path, "lines": {"begin": f.plan.found.line}},
            })
        })
        .collect();
    serde_json::to_writer_pretty(&mut *out, &issues)?;
    writeln!(out)
}

/// GitLab's severities: `info`, `minor`, `major`, `critical`, `blocker`.
fn severity(kind: Kind) -> &'static str {
    match kind {
        Kind::Missing => "critical",
        Kind::Unpinned => "major",
        Kind::Stale | Kind::Young => "minor",
    }
}

//! `--format json`: one JSON document on stdout, shaped exactly as SPEC.md shows.

use std::io::{self, Write};

use serde::Serialize;

use super::display_path;
use crate::digest::Digest;
use crate::dockerfile::{ImageRef, RefState};
use crate::engine::{FileError, PinReport, ScanReport, Status, Summary};
use crate::reference::Reference;
use crate::registry::history::HistoryEntry;

#[derive(Serialize)]
struct ListDoc<'a> {
    files: Vec<ListFile<'a>>,
}

#[derive(Serialize)]
struct ListFile<'a> {
    path: String,
    error: Option<String>,
    refs: Vec<ListRef<'a>>,
}

#[derive(Serialize)]
struct ListRef<'a> {
    line: usize,
    column: usize,
    end_line: usize,
    instruction: &'static str,
    original: &'a str,
    state: RefState,
    registry: Option<&'a str>,
    repository: Option<&'a str>,
    tag: Option<&'a str>,
    digest: Option<&'a Digest>,
}

/// Lookup fields of a reference: registry, repository, followed tag, digest.
fn lookup(r: &ImageRef) -> (Option<&str>, Option<&str>, Option<&str>, Option<&Digest>) {
    match &r.reference {
        Some(reference) => (
            Some(reference.registry()),
            Some(reference.repository()),
            reference.lookup_tag(),
            reference.digest(),
        ),
        None => (None, None, None, None),
    }
}

fn error_text(error: &Option<FileError>) -> Option<String> {
    error.as_ref().map(ToString::to_string)
}

fn list_ref(r: &ImageRef) -> ListRef<'_> {
    let (registry, repository, tag, digest) = lookup(r);
    ListRef {
        line: r.line,
        column: r.column,
        end_line: r.end_line,
        instruction: r.instruction.as_str(),
        original: &r.original,
        state: r.state,
        registry,
        repository,
        tag,
        digest,
    }
}

/// `list --format json`.
pub fn list_json(report: &ScanReport, out: &mut dyn Write) -> io::Result<()> {
    let doc = ListDoc {
        files: report
            .files
            .iter()
            .map(|f| ListFile {
                path: display_path(&f.path),
                error: error_text(&f.error),
                refs: f.refs.iter().map(list_ref).collect(),
            })
            .collect(),
    };
    write_doc(out, &doc)
}

#[derive(Serialize)]
struct PinDoc<'a> {
    files: Vec<PinFile<'a>>,
    summary: Summary,
}

#[derive(Serialize)]
struct PinFile<'a> {
    path: String,
    changed: bool,
    error: Option<String>,
    refs: Vec<PinRef<'a>>,
}

#[derive(Serialize)]
struct PinRef<'a> {
    line: usize,
    column: usize,
    instruction: &'static str,
    original: &'a str,
    registry: Option<&'a str>,
    repository: Option<&'a str>,
    tag: Option<&'a str>,
    digest_before: Option<&'a Digest>,
    digest_after: Option<&'a Digest>,
    updated_at: Option<&'a str>,
    status: Status,
    reason: Option<&'a str>,
}

/// `pin --format json`.
pub fn pin_json(report: &PinReport, out: &mut dyn Write) -> io::Result<()> {
    let doc = PinDoc {
        files: report
            .files
            .iter()
            .map(|f| PinFile {
                path: display_path(&f.path),
                changed: f.changed,
                error: error_text(&f.error),
                refs: f
                    .refs
                    .iter()
                    .map(|p| {
                        let (registry, repository, tag, _) = lookup(&p.found);
                        PinRef {
                            line: p.found.line,
                            column: p.found.column,
                            instruction: p.found.instruction.as_str(),
                            original: &p.found.original,
                            registry,
                            repository,
                            tag,
                            digest_before: p.digest_before.as_ref(),
                            digest_after: p.digest_after.as_ref(),
                            updated_at: p.updated_at.as_deref(),
                            status: p.status,
                            reason: p.reason.as_deref(),
                        }
                    })
                    .collect(),
            })
            .collect(),
        summary: report.summary(),
    };
    write_doc(out, &doc)
}

fn write_doc<T: Serialize>(out: &mut dyn Write, doc: &T) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, doc)?;
    writeln!(out)
}

#[derive(Serialize)]
struct HistoryDoc<'a> {
    registry: &'a str,
    repository: &'a str,
    tag: &'a str,
    history: Vec<HistoryItem<'a>>,
}

#[derive(Serialize)]
struct HistoryItem<'a> {
    #[serde(rename = "updateTimestamp")]
    update_timestamp: &'a str,
    digest: &'a Digest,
}

/// `history --format json`: the Tag History API's own shape, every page joined, oldest first.
pub fn history_json(
    reference: &Reference,
    tag: &str,
    entries: &[HistoryEntry],
    out: &mut dyn Write,
) -> io::Result<()> {
    let doc = HistoryDoc {
        registry: reference.registry(),
        repository: reference.repository(),
        tag,
        history: entries
            .iter()
            .map(|e| HistoryItem {
                update_timestamp: &e.timestamp_text,
                digest: &e.digest,
            })
            .collect(),
    };
    write_doc(out, &doc)
}

//! `--format json`: one JSON document on stdout, shaped exactly as SPEC.md shows.

use std::io::{self, Write};

use serde::Serialize;

use super::json_path;
use crate::digest::Digest;
use crate::engine::{
    FileError, FilePlan, FileScan, PinReport, Reason, RefPlan, ScanReport, Status, Summary,
};
use crate::files::Skipped;
use crate::found::{FoundRef, RefState};
use crate::reference::Reference;
use crate::registry::history::HistoryEntry;
use crate::resolve::TimeSource;
use crate::tag_groups::TagGroup;

#[derive(Serialize)]
struct ListDoc<'a> {
    files: Vec<ListFile<'a>>,
    /// Files found by walking and not read (symlinks out of the tree, FIFOs, devices): present
    /// only when there are some.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    skipped: Vec<SkippedFile>,
}

/// A file found by walking and not read, with why (a notice, not an error).
#[derive(Serialize)]
struct SkippedFile {
    path: String,
    reason: String,
}

fn skipped_files(skipped: &[Skipped]) -> Vec<SkippedFile> {
    skipped
        .iter()
        .map(|s| SkippedFile {
            path: json_path(&s.path).into_owned(),
            reason: s.reason.clone(),
        })
        .collect()
}

#[derive(Serialize)]
struct ListFile<'a> {
    path: std::borrow::Cow<'a, str>,
    kind: Option<&'a str>,
    error: Option<String>,
    refs: Mapped<'a, FoundRef, ListRef<'a>>,
}

/// A JSON array of `f` applied to each item, serialized as it goes: a file with a quarter of a
/// million references is never held twice.
struct Mapped<'a, T, U>(&'a [T], fn(&'a T) -> U);

impl<'a, T, U: Serialize> Serialize for Mapped<'a, T, U> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(self.1))
    }
}

#[derive(Serialize)]
struct ListRef<'a> {
    line: usize,
    column: usize,
    end_line: usize,
    instruction: &'a str,
    site: &'a str,
    original: &'a str,
    state: RefState,
    registry: Option<&'a str>,
    repository: Option<&'a str>,
    tag: Option<&'a str>,
    digest: Option<&'a Digest>,
}

/// Lookup fields of a reference: registry, repository, followed tag, digest.
fn lookup(r: &FoundRef) -> (Option<&str>, Option<&str>, Option<&str>, Option<&Digest>) {
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

fn list_ref(r: &FoundRef) -> ListRef<'_> {
    let (registry, repository, tag, digest) = lookup(r);
    ListRef {
        line: r.line,
        column: r.column,
        end_line: r.end_line,
        instruction: r.site.as_str(),
        site: r.site.as_str(),
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
                path: json_path(&f.path),
                kind: f.kind,
                error: error_text(&f.error),
                refs: Mapped(&f.refs, list_ref),
            })
            .collect(),
        skipped: skipped_files(&report.skipped),
    };
    write_doc(out, &doc)
}

#[derive(Serialize)]
struct PinDoc<'a> {
    files: Vec<PinFile<'a>>,
    summary: Summary,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    skipped: Vec<SkippedFile>,
}

#[derive(Serialize)]
struct PinFile<'a> {
    path: std::borrow::Cow<'a, str>,
    kind: Option<&'a str>,
    changed: bool,
    error: Option<String>,
    refs: Mapped<'a, RefPlan, PinRef<'a>>,
}

#[derive(Serialize)]
struct PinRef<'a> {
    line: usize,
    column: usize,
    instruction: &'a str,
    site: &'a str,
    original: &'a str,
    registry: Option<&'a str>,
    repository: Option<&'a str>,
    tag: Option<&'a str>,
    digest_before: Option<&'a Digest>,
    digest_after: Option<&'a Digest>,
    updated_at: Option<&'a str>,
    time_source: Option<TimeSource>,
    status: Status,
    reason: Option<&'a Reason>,
    detail: Option<&'a str>,
}

fn pin_file(f: &FilePlan) -> PinFile<'_> {
    PinFile {
        path: json_path(&f.path),
        kind: f.kind,
        changed: f.changed,
        error: error_text(&f.error),
        refs: Mapped(&f.refs, pin_ref),
    }
}

fn pin_ref(p: &RefPlan) -> PinRef<'_> {
    let (registry, repository, tag, _) = lookup(&p.found);
    PinRef {
        line: p.found.line,
        column: p.found.column,
        instruction: p.found.site.as_str(),
        site: p.found.site.as_str(),
        original: &p.found.original,
        registry,
        repository,
        tag,
        digest_before: p.digest_before.as_ref(),
        digest_after: p.digest_after.as_ref(),
        updated_at: p.updated_at.as_deref(),
        time_source: p.time_source,
        status: p.status,
        reason: p.reason.as_ref(),
        detail: p.detail.as_deref(),
    }
}

/// `pin --format json`.
pub fn pin_json(report: &PinReport, out: &mut dyn Write) -> io::Result<()> {
    let doc = PinDoc {
        files: report.files.iter().map(pin_file).collect(),
        summary: report.summary(),
        skipped: skipped_files(&report.skipped),
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

/// Writes `{"files": [...]}` one file at a time, byte for byte what pretty-printing the whole
/// document would give, so `list` and `pin --check --offline` keep nothing in memory.
pub struct JsonFiles<'w> {
    out: &'w mut dyn Write,
    count: usize,
    /// Output gathered before it is handed to `out`, reused from file to file.
    buf: Vec<u8>,
}

/// How much [`JsonFiles`] gathers before writing it out (as much as the binary's stdout
/// buffer holds: the text is handed on in about the same blocks as before).
const BATCH: usize = 8 * 1024;

impl<'w> JsonFiles<'w> {
    pub fn begin(out: &'w mut dyn Write) -> io::Result<Self> {
        out.write_all(b"{\n  \"files\": [")?;
        Ok(JsonFiles {
            out,
            count: 0,
            buf: Vec::new(),
        })
    }

    fn item<T: Serialize>(&mut self, value: &T) -> io::Result<()> {
        self.buf.extend_from_slice(if self.count == 0 {
            b"\n    "
        } else {
            b",\n    "
        });
        self.count += 1;
        let mut ser = serde_json::Serializer::with_formatter(&mut self.buf, Nested::at(2));
        value.serialize(&mut ser).map_err(io::Error::from)?;
        if self.buf.len() >= BATCH {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    pub fn list_file(&mut self, file: &FileScan) -> io::Result<()> {
        self.item(&ListFile {
            path: json_path(&file.path),
            kind: file.kind,
            error: error_text(&file.error),
            refs: Mapped(&file.refs, list_ref),
        })
    }

    pub fn pin_file(&mut self, file: &FilePlan) -> io::Result<()> {
        self.item(&pin_file(file))
    }

    fn close_files(&mut self) -> io::Result<()> {
        self.out.write_all(&std::mem::take(&mut self.buf))?;
        self.out
            .write_all(if self.count == 0 { b"]" } else { b"\n  ]" })
    }

    /// Ends a `list` document, with the files walking skipped.
    pub fn finish(mut self, skipped: &[Skipped]) -> io::Result<()> {
        self.close_files()?;
        self.skipped(skipped)?;
        self.out.write_all(b"\n}\n")
    }

    /// Ends a `pin` document with its summary and the files walking skipped.
    pub fn finish_with_summary(mut self, summary: &Summary, skipped: &[Skipped]) -> io::Result<()> {
        self.close_files()?;
        self.key("summary", summary)?;
        self.skipped(skipped)?;
        self.out.write_all(b"\n}\n")
    }

    fn skipped(&mut self, skipped: &[Skipped]) -> io::Result<()> {
        if skipped.is_empty() {
            return Ok(());
        }
        self.key("skipped", &skipped_files(skipped))
    }

    /// `,\n  "KEY": VALUE`, the value pretty-printed one level in.
    fn key<T: Serialize>(&mut self, key: &str, value: &T) -> io::Result<()> {
        write!(self.out, ",\n  \"{key}\": ")?;
        let text = serde_json::to_string_pretty(value)?;
        let mut lines = text.lines();
        if let Some(first) = lines.next() {
            self.out.write_all(first.as_bytes())?;
        }
        for line in lines {
            write!(self.out, "\n  {line}")?;
        }
        Ok(())
    }
}

/// serde_json's pretty layout (two spaces a level) for a value that sits `level` levels deep
/// in the document: what pretty-printing the whole document would give for it, written
/// straight into the buffer.
struct Nested {
    level: usize,
    has_value: bool,
}

impl Nested {
    fn at(level: usize) -> Self {
        Nested {
            level,
            has_value: false,
        }
    }

    fn newline<W: ?Sized + Write>(&self, writer: &mut W, comma: bool) -> io::Result<()> {
        const SPACES: &[u8] = b"                                                                ";
        writer.write_all(if comma { b",\n" } else { b"\n" })?;
        let mut width = self.level * 2;
        while width > 0 {
            let n = width.min(SPACES.len());
            writer.write_all(&SPACES[..n])?;
            width -= n;
        }
        Ok(())
    }
}

impl serde_json::ser::Formatter for Nested {
    fn begin_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.level += 1;
        self.has_value = false;
        writer.write_all(b"[")
    }

    fn end_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.level -= 1;
        if self.has_value {
            self.newline(writer, false)?;
        }
        writer.write_all(b"]")
    }

    fn begin_array_value<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.newline(writer, !first)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.level += 1;
        self.has_value = false;
        writer.write_all(b"{")
    }

    fn end_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.level -= 1;
        if self.has_value {
            self.newline(writer, false)?;
        }
        writer.write_all(b"}")
    }

    fn begin_object_key<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.newline(writer, !first)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine;

    fn sample() -> ScanReport {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Dockerfile"), "FROM a:1 AS b\nCOPY --from=b /x /y\nFROM c@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n").unwrap();
        std::fs::write(dir.path().join("x.dockerfile"), "FROM ${X}\n").unwrap();
        std::os::unix::fs::symlink("/etc/hostname", dir.path().join("out.Dockerfile")).unwrap();
        let mut report = engine::scan_paths(&[dir.path().to_path_buf()], &engine::Scope::default());
        for f in &mut report.files {
            f.path = f.path.strip_prefix(dir.path()).unwrap().to_path_buf();
        }
        assert_eq!(report.skipped.len(), 1);
        for s in &mut report.skipped {
            s.path = s.path.strip_prefix(dir.path()).unwrap().to_path_buf();
            s.reason = "symlink outside".into();
        }
        report
    }

    #[test]
    fn streamed_documents_equal_whole_ones() {
        for files in [0, 1, 2] {
            let mut report = sample();
            report.files.truncate(files);
            if files == 1 {
                report.skipped.clear();
            }
            let mut whole = Vec::new();
            list_json(&report, &mut whole).unwrap();
            let mut streamed = Vec::new();
            let mut w = JsonFiles::begin(&mut streamed).unwrap();
            for f in &report.files {
                w.list_file(f).unwrap();
            }
            w.finish(&report.skipped).unwrap();
            assert_eq!(
                String::from_utf8(streamed).unwrap(),
                String::from_utf8(whole).unwrap()
            );

            let plan = engine::plan_offline(report);
            let mut whole = Vec::new();
            pin_json(&plan, &mut whole).unwrap();
            let mut streamed = Vec::new();
            let mut w = JsonFiles::begin(&mut streamed).unwrap();
            for f in &plan.files {
                w.pin_file(f).unwrap();
            }
            w.finish_with_summary(&plan.summary(), &plan.skipped)
                .unwrap();
            assert_eq!(
                String::from_utf8(streamed).unwrap(),
                String::from_utf8(whole).unwrap()
            );
        }
    }
}

#[derive(Serialize)]
struct JsonGroup<'a> {
    digest: &'a str,
    last_changed: Option<String>,
    tags: &'a [String],
}

/// `[{"digest": "sha256:…", "last_changed": RFC 3339 or null, "tags": […]}]`, rows in order.
pub fn tags_json(groups: &[TagGroup], out: &mut dyn Write) -> io::Result<()> {
    let doc: Vec<JsonGroup<'_>> = groups
        .iter()
        .map(|g| JsonGroup {
            digest: g.digest.as_str(),
            last_changed: g.last_changed.map(|t| t.to_string()),
            tags: &g.tags,
        })
        .collect();
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}

#[cfg(test)]
mod tags_tests {
    use super::*;
    use crate::report::tag_rows::row;

    #[test]
    fn json_is_an_array_of_rows() {
        let mut g = row(
            &["1", "latest"],
            "June 1st",
            "sha256:2222222222222222222222222222222222222222222222222222222222222222",
        );
        g.last_changed = Some("2024-06-01T12:00:00.5Z".parse().unwrap());
        let mut out = Vec::new();
        tags_json(&[g], &mut out).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            value,
            serde_json::json!([{
                "digest": "sha256:2222222222222222222222222222222222222222222222222222222222222222",
                "last_changed": "2024-06-01T12:00:00.5Z",
                "tags": ["1", "latest"],
            }])
        );
    }
}

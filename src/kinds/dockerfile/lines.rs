//! Physical and logical lines, as BuildKit's Dockerfile frontend reads them.
//!
//! A physical line ends at `\n`; trailing `\r`s are not content (CRLF and mixed endings). The
//! first line loses a UTF-8 BOM. Parser directives (`# syntax=`, `# escape=`, `# check=`) are
//! recognised until the first line that is not one. A logical line is a first line (left-trimmed)
//! plus continuation lines while a line ends with the escape character followed only by spaces
//! or tabs; comment lines and whitespace-only lines inside a continuation are skipped. Heredoc
//! bodies are consumed raw, never scanned for instructions.
//!
//! The logical line is assembled into one reused buffer, and [`Segment`]s map each of its byte
//! ranges back to the file, so a token can be located exactly, or found to straddle a
//! continuation.

use std::io::{self, Read};

use super::ScanError;

/// A run of the logical line that is contiguous in the file.
#[derive(Debug, Clone, Copy)]
pub(super) struct Segment {
    /// Offset of this run in the logical line.
    pub logical_start: usize,
    /// Offset of this run in the file.
    pub file_start: usize,
    /// 1-based physical line number.
    pub line: usize,
    /// File offset where that physical line's characters start (after a BOM).
    pub line_start: usize,
}

/// One logical line (an instruction), assembled in [`Lines::logical`].
#[derive(Debug, Clone, Copy)]
pub(super) struct Logical {
    pub first_line: usize,
    /// A `# digestpin: ignore` comment block sits directly above this instruction.
    pub ignored: bool,
}

/// The value of a `# syntax=` parser directive: the frontend image BuildKit pulls first.
#[derive(Debug, Clone)]
pub(super) struct SyntaxValue {
    pub text: String,
    /// Its bytes in the file.
    pub span: std::ops::Range<usize>,
    /// 1-based line and column (in characters, a BOM not counted).
    pub line: usize,
    pub column: usize,
}

#[derive(Clone, Copy)]
struct Physical {
    start: usize,
    content_end: usize,
    number: usize,
}

/// How much is read from the file at a time.
pub(super) const CHUNK: usize = 64 * 1024;

/// The part of the file still needed: from the first physical line of the current instruction
/// to what has been read. Memory is bounded by the longest instruction, not the file.
struct Window<R> {
    reader: R,
    /// How much to read at a time.
    chunk: usize,
    buf: Vec<u8>,
    /// File offset of `buf[0]`.
    base: usize,
    /// File offset before which nothing is needed any more.
    keep_from: usize,
    eof: bool,
}

impl<R: Read> Window<R> {
    fn end(&self) -> usize {
        self.base + self.buf.len()
    }

    fn bytes(&self, range: std::ops::Range<usize>) -> &[u8] {
        &self.buf[range.start - self.base..range.end - self.base]
    }

    /// Reads the next chunk, first dropping what is no longer needed. `false` at end of file.
    fn fill(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        let done = self.keep_from - self.base;
        if done > 0 && done >= self.buf.len() / 2 {
            self.buf.drain(..done);
            self.base = self.keep_from;
        }
        // Room for the whole chunk first: `read_to_end` into a full buffer starts with tiny probe
        // reads and grows from there (eight reads for a 2 KB file instead of two).
        self.buf.reserve(self.chunk);
        let n = (&mut self.reader)
            .take(self.chunk as u64)
            .read_to_end(&mut self.buf)?;
        self.eof = n < self.chunk;
        Ok(n > 0)
    }
}

/// Why reading stopped early.
pub(super) enum Stop {
    /// BuildKit would refuse the file here.
    Scan(ScanError),
    /// The file is not UTF-8 text, from this 1-based line.
    NotUtf8 { line: usize },
    /// The file could not be read.
    Io(io::Error),
}

impl From<ScanError> for Stop {
    fn from(e: ScanError) -> Self {
        Stop::Scan(e)
    }
}

pub(super) struct Lines<R> {
    window: Window<R>,
    pos: usize,
    line_no: usize,
    /// File offset before which every line is known to be UTF-8 text without a NUL byte (or
    /// to come after the first NUL), so it is not checked again line by line.
    clean_to: usize,
    directives: Directives,
    ignore_pending: bool,
    /// 1-based line of the first NUL byte read so far.
    pub first_nul: Option<usize>,
    /// The current logical line.
    pub logical: Vec<u8>,
    pub segments: Vec<Segment>,
}

struct Directives {
    escape: u8,
    done: bool,
    seen: Vec<&'static str>,
    /// A `syntax` directive not yet taken by the scanner.
    syntax: Option<SyntaxValue>,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";
const IGNORE_MARKER: &[u8] = b"digestpin: ignore";

/// The buffers a thread keeps between files (the window, the logical line, its segments), so
/// that scanning many small files neither allocates nor page-faults fresh ones for each.
#[derive(Default)]
struct Spare {
    buf: Vec<u8>,
    logical: Vec<u8>,
    segments: Vec<Segment>,
}

/// A window grown larger than this by a long instruction is freed, not kept for the next file.
const KEEP: usize = 4 * CHUNK;

thread_local! {
    static SPARE: std::cell::Cell<Spare> = std::cell::Cell::default();
}

impl<R> Drop for Lines<R> {
    fn drop(&mut self) {
        let spare = Spare {
            buf: std::mem::take(&mut self.window.buf),
            logical: std::mem::take(&mut self.logical),
            segments: std::mem::take(&mut self.segments),
        };
        if spare.buf.capacity() > KEEP
            || spare.logical.capacity() > KEEP
            || spare.segments.capacity() * std::mem::size_of::<Segment>() > KEEP
        {
            return;
        }
        // During thread teardown there is nowhere to keep them; they are simply freed.
        let _ = SPARE.try_with(|cell| cell.set(spare));
    }
}

impl<R: Read> Lines<R> {
    /// Lines of `reader`, read `chunk` bytes (at least 1) at a time.
    pub fn new(reader: R, chunk: usize) -> Self {
        let Spare {
            mut buf,
            mut logical,
            mut segments,
        } = SPARE.try_with(std::cell::Cell::take).unwrap_or_default();
        buf.clear();
        logical.clear();
        segments.clear();
        Lines {
            window: Window {
                reader,
                chunk: chunk.max(1),
                buf,
                base: 0,
                keep_from: 0,
                eof: false,
            },
            pos: 0,
            line_no: 0,
            clean_to: 0,
            directives: Directives {
                escape: b'\\',
                done: false,
                seen: Vec::new(),
                syntax: None,
            },
            ignore_pending: false,
            first_nul: None,
            logical,
            segments,
        }
    }

    /// The escape character (`\` unless an `escape` directive says otherwise).
    pub fn escape(&self) -> u8 {
        self.directives.escape
    }

    /// The `# syntax=` directive, once read (given out once).
    pub fn take_syntax(&mut self) -> Option<SyntaxValue> {
        self.directives.syntax.take()
    }

    /// File bytes of the current instruction's physical lines.
    pub fn bytes(&self, range: std::ops::Range<usize>) -> &[u8] {
        self.window.bytes(range)
    }

    /// The next physical line, read from the file as needed, checked to be UTF-8 text.
    fn next_physical(&mut self) -> Result<Option<Physical>, Stop> {
        let mut searched = self.pos;
        let end = loop {
            if let Some(i) = memchr::memchr(b'\n', self.window.bytes(searched..self.window.end())) {
                break searched + i + 1;
            }
            searched = self.window.end();
            if !self.window.fill().map_err(Stop::Io)? {
                break self.window.end();
            }
        };
        if self.pos >= end {
            return Ok(None);
        }
        if end > self.clean_to {
            self.check_ahead();
        }
        let mut start = self.pos;
        let raw = self.window.bytes(start..end);
        self.line_no += 1;
        if end > self.clean_to {
            if std::str::from_utf8(raw).is_err() {
                return Err(Stop::NotUtf8 { line: self.line_no });
            }
            if self.first_nul.is_none() && raw.contains(&0) {
                self.first_nul = Some(self.line_no);
            }
        }
        let mut content_end = end;
        while content_end > start && matches!(raw[content_end - 1 - start], b'\n' | b'\r') {
            content_end -= 1;
        }
        if self.line_no == 1 && raw.starts_with(BOM) {
            start += BOM.len();
            content_end = content_end.max(start);
        }
        self.pos = end;
        Ok(Some(Physical {
            start,
            content_end,
            number: self.line_no,
        }))
    }

    /// Moves [`Lines::clean_to`] over the whole lines read and not yet checked that are UTF-8
    /// text (and hold no NUL, while none was seen): one pass over what was read instead of one
    /// per line. It stops at the end of the last good line before a bad byte; that line is
    /// then checked alone.
    fn check_ahead(&mut self) {
        let from = self.clean_to.max(self.pos);
        let read = self.window.bytes(from..self.window.end());
        let whole = if self.window.eof {
            read.len()
        } else {
            memchr::memrchr(b'\n', read).map_or(0, |i| i + 1)
        };
        let lines = &read[..whole];
        let mut good = match std::str::from_utf8(lines) {
            Ok(_) => whole,
            Err(e) => e.valid_up_to(),
        };
        if self.first_nul.is_none() {
            good = memchr::memchr(0, &lines[..good]).unwrap_or(good);
        }
        let clean = if good == whole {
            whole
        } else {
            memchr::memrchr(b'\n', &lines[..good]).map_or(0, |i| i + 1)
        };
        self.clean_to = from + clean;
    }

    /// Reads the next logical line into `self.logical`; `None` at end of file.
    pub fn next_logical(&mut self) -> Result<Option<Logical>, Stop> {
        loop {
            self.window.keep_from = self.pos;
            let Some(first) = self.next_physical()? else {
                return Ok(None);
            };
            let content = self.window.bytes(first.start..first.content_end);
            let lead = leading_whitespace(content);
            let token = &content[lead..];
            self.directives
                .parse(content, lead, first.number, first.start)?;
            if token.first() == Some(&b'#') {
                if is_ignore_comment(token) {
                    self.ignore_pending = true;
                }
                continue;
            }
            if token.is_empty() {
                self.ignore_pending = false;
                continue;
            }
            let ignored = std::mem::take(&mut self.ignore_pending);
            let (len, mut end_of_line) = trim_continuation(token, self.directives.escape);
            self.logical.clear();
            self.segments.clear();
            self.push_segment(first.start + lead, len, first);
            while !end_of_line {
                let Some(next) = self.next_physical()? else {
                    break;
                };
                let content = self.window.bytes(next.start..next.content_end);
                self.directives.parse(content, 0, next.number, next.start)?;
                let trimmed = &content[leading_whitespace(content)..];
                if trimmed.is_empty() || trimmed[0] == b'#' {
                    continue;
                }
                let (len, eol) = trim_continuation(content, self.directives.escape);
                self.push_segment(next.start, len, next);
                end_of_line = eol;
            }
            return Ok(Some(Logical {
                first_line: first.number,
                ignored,
            }));
        }
    }

    fn push_segment(&mut self, file_start: usize, len: usize, line: Physical) {
        self.segments.push(Segment {
            logical_start: self.logical.len(),
            file_start,
            line: line.number,
            line_start: line.start,
        });
        self.logical
            .extend_from_slice(self.window.bytes(file_start..file_start + len));
    }

    /// Consumes a heredoc body up to its terminator line. `false` if the file ends first.
    pub fn skip_heredoc(&mut self, terminator: &[u8], chomp: bool) -> Result<bool, Stop> {
        loop {
            self.window.keep_from = self.pos;
            let Some(line) = self.next_physical()? else {
                return Ok(false);
            };
            let mut content = self.window.bytes(line.start..line.content_end);
            if chomp {
                let tabs = content.iter().take_while(|b| **b == b'\t').count();
                content = &content[tabs..];
            }
            if content == terminator {
                return Ok(true);
            }
        }
    }

    /// Reads the rest of the file only to check that it is text (after BuildKit would have
    /// stopped, a binary or non-UTF-8 file is still reported as such).
    pub fn check_rest(&mut self) -> Result<(), Stop> {
        loop {
            self.window.keep_from = self.pos;
            if self.next_physical()?.is_none() {
                return Ok(());
            }
        }
    }
}

impl Directives {
    /// BuildKit's directive parser: `^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`, looked for
    /// until the first line that does not match or names an unknown directive. `content` is the
    /// physical line (at file offset `file_start`), `lead` the whitespace before its token.
    fn parse(
        &mut self,
        content: &[u8],
        lead: usize,
        number: usize,
        file_start: usize,
    ) -> Result<(), ScanError> {
        if self.done {
            return Ok(());
        }
        let line = &content[lead..];
        let Some((key, value)) = directive(line) else {
            self.done = true;
            return Ok(());
        };
        let Some(name) = ["escape", "syntax", "check"]
            .into_iter()
            .find(|name| key.eq_ignore_ascii_case(name.as_bytes()))
        else {
            self.done = true;
            return Ok(());
        };
        if self.seen.contains(&name) {
            return Err(ScanError::new(
                number,
                format!("only one {name} parser directive can be used"),
            ));
        }
        self.seen.push(name);
        if name == "syntax" {
            let offset = value.as_ptr() as usize - content.as_ptr() as usize;
            let column = content[..offset]
                .iter()
                .filter(|b| (**b & 0xC0) != 0x80)
                .count()
                + 1;
            self.syntax = Some(SyntaxValue {
                text: String::from_utf8_lossy(value).into_owned(),
                span: file_start + offset..file_start + offset + value.len(),
                line: number,
                column,
            });
        }
        if name == "escape" {
            self.escape = match value {
                b"\\" => b'\\',
                b"`" => b'`',
                other => {
                    return Err(ScanError::new(
                        number,
                        format!(
                            "invalid escape token '{}' does not match ` or \\",
                            String::from_utf8_lossy(other)
                        ),
                    ));
                }
            };
        }
        Ok(())
    }
}

/// RE2's `\s`: `[\t\n\f\r ]`.
fn is_re2_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | b'\x0c' | b'\r' | b' ')
}

/// Splits a directive line into key and value, or `None` if it is not one.
fn directive(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let rest = line.strip_prefix(b"#")?;
    let rest = &rest[rest.iter().take_while(|b| is_re2_space(**b)).count()..];
    if !rest.first()?.is_ascii_alphabetic() {
        return None;
    }
    let key_len = rest
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric())
        .count();
    let (key, rest) = rest.split_at(key_len);
    let rest = &rest[rest.iter().take_while(|b| is_re2_space(**b)).count()..];
    let rest = rest.strip_prefix(b"=")?;
    let rest = &rest[rest.iter().take_while(|b| is_re2_space(**b)).count()..];
    let value_len = rest.len() - rest.iter().rev().take_while(|b| is_re2_space(**b)).count();
    if value_len == 0 {
        return None;
    }
    Some((key, &rest[..value_len]))
}

fn is_ignore_comment(comment: &[u8]) -> bool {
    let text = comment[1..].trim_ascii();
    text.len() >= IGNORE_MARKER.len()
        && text[..IGNORE_MARKER.len()].eq_ignore_ascii_case(IGNORE_MARKER)
        && text[IGNORE_MARKER.len()..]
            .first()
            .is_none_or(|b| b.is_ascii_whitespace())
}

/// Length of the leading Unicode whitespace (Go's `unicode.IsSpace`).
pub(super) fn leading_whitespace(bytes: &[u8]) -> usize {
    let mut i = 0;
    while i < bytes.len() {
        match decode_char(&bytes[i..]) {
            Some((c, len)) if c.is_whitespace() => i += len,
            _ => break,
        }
    }
    i
}

/// Length of the trailing Unicode whitespace.
pub(super) fn trailing_whitespace(bytes: &[u8]) -> usize {
    let mut end = bytes.len();
    while end > 0 {
        let mut start = end - 1;
        while start > 0 && (bytes[start] & 0xC0) == 0x80 && end - start < 4 {
            start -= 1;
        }
        match decode_char(&bytes[start..end]) {
            Some((c, len)) if c.is_whitespace() && len == end - start => end = start,
            _ => break,
        }
    }
    bytes.len() - end
}

/// Decodes the first UTF-8 character of `bytes`.
pub(super) fn decode_char(bytes: &[u8]) -> Option<(char, usize)> {
    let len = match *bytes.first()? {
        b if b < 0x80 => 1,
        b if b >= 0xF0 => 4,
        b if b >= 0xE0 => 3,
        _ => 2,
    };
    let s = std::str::from_utf8(bytes.get(..len)?).ok()?;
    s.chars().next().map(|c| (c, len))
}

/// Removes a trailing `ESC[ \t]*`; returns the remaining length and whether the logical line
/// ends here.
fn trim_continuation(line: &[u8], escape: u8) -> (usize, bool) {
    let end = line.len()
        - line
            .iter()
            .rev()
            .take_while(|b| matches!(b, b' ' | b'\t'))
            .count();
    if end > 0 && line[end - 1] == escape {
        (end - 1, false)
    } else {
        (line.len(), true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logical_lines(src: &str) -> Vec<(String, usize)> {
        let mut lines = Lines::new(src.as_bytes(), CHUNK);
        let mut out = Vec::new();
        while let Some(l) = lines.next_logical().ok().unwrap() {
            out.push((
                String::from_utf8(lines.logical.clone()).unwrap(),
                l.first_line,
            ));
        }
        out
    }

    #[test]
    fn continuations_comments_and_blank_lines() {
        let src = "FROM a \\  \n  # c\n\n   AS b\r\nRUN x \\\n\t\n y\n";
        assert_eq!(
            logical_lines(src),
            vec![("FROM a    AS b".to_owned(), 1), ("RUN x  y".to_owned(), 5)]
        );
    }

    #[test]
    fn escape_directive_and_bom() {
        let src = "\u{feff}# escape=`\nFROM a `\n  AS b\nCOPY C:\\x C:\\y\n";
        assert_eq!(
            logical_lines(src),
            vec![
                ("FROM a   AS b".to_owned(), 2),
                ("COPY C:\\x C:\\y".to_owned(), 4)
            ]
        );
    }

    #[test]
    fn directives_stop_at_first_other_line() {
        let src = "# syntax=x\n\n# escape=`\nFROM a `\n";
        assert_eq!(logical_lines(src), vec![("FROM a `".to_owned(), 4)]);
        let dup = "# escape=`\n# escape=`\nFROM a\n";
        assert!(Lines::new(dup.as_bytes(), CHUNK).next_logical().is_err());
        let bad = "# escape=x\nFROM a\n";
        assert!(Lines::new(bad.as_bytes(), CHUNK).next_logical().is_err());
    }

    #[test]
    fn ignore_marker() {
        let src = "# digestpin: ignore\n# why\nFROM a\n# digestpin: ignore\n\nFROM b\n";
        let mut lines = Lines::new(src.as_bytes(), CHUNK);
        assert!(lines.next_logical().ok().unwrap().unwrap().ignored);
        assert!(!lines.next_logical().ok().unwrap().unwrap().ignored);
        assert!(!is_ignore_comment(b"# digestpin: ignored"));
        assert!(is_ignore_comment(b"#digestpin: ignore  (vendored)"));
    }
}

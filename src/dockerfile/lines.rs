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

#[derive(Clone, Copy)]
struct Physical {
    start: usize,
    content_end: usize,
    number: usize,
}

pub(super) struct Lines<'a> {
    src: &'a [u8],
    pos: usize,
    line_no: usize,
    pub escape: u8,
    directives_done: bool,
    seen_directives: Vec<&'static str>,
    ignore_pending: bool,
    /// The current logical line.
    pub logical: Vec<u8>,
    pub segments: Vec<Segment>,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";
const IGNORE_MARKER: &[u8] = b"digestpin: ignore";

impl<'a> Lines<'a> {
    pub fn new(src: &'a [u8]) -> Self {
        Lines {
            src,
            pos: 0,
            line_no: 0,
            escape: b'\\',
            directives_done: false,
            seen_directives: Vec::new(),
            ignore_pending: false,
            logical: Vec::new(),
            segments: Vec::new(),
        }
    }

    fn next_physical(&mut self) -> Option<Physical> {
        if self.pos >= self.src.len() {
            return None;
        }
        let mut start = self.pos;
        let rest = &self.src[start..];
        let end = match memchr(b'\n', rest) {
            Some(i) => start + i + 1,
            None => self.src.len(),
        };
        let mut content_end = end;
        while content_end > start && matches!(self.src[content_end - 1], b'\n' | b'\r') {
            content_end -= 1;
        }
        if self.line_no == 0 && rest.starts_with(BOM) {
            start += BOM.len();
            content_end = content_end.max(start);
        }
        self.pos = end;
        self.line_no += 1;
        Some(Physical {
            start,
            content_end,
            number: self.line_no,
        })
    }

    /// Reads the next logical line into `self.logical`; `None` at end of file.
    pub fn next_logical(&mut self) -> Result<Option<Logical>, ScanError> {
        loop {
            let Some(first) = self.next_physical() else {
                return Ok(None);
            };
            let content = &self.src[first.start..first.content_end];
            let lead = leading_whitespace(content);
            let token = &content[lead..];
            self.parse_directive(token, first.number)?;
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
            self.logical.clear();
            self.segments.clear();
            let token_start = first.start + lead;
            let (len, mut end_of_line) = trim_continuation(token, self.escape);
            self.push_segment(token_start, len, first);
            while !end_of_line {
                let Some(next) = self.next_physical() else {
                    break;
                };
                let content = &self.src[next.start..next.content_end];
                self.parse_directive(content, next.number)?;
                let trimmed = &content[leading_whitespace(content)..];
                if trimmed.is_empty() || trimmed[0] == b'#' {
                    continue;
                }
                let (len, eol) = trim_continuation(content, self.escape);
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
            .extend_from_slice(&self.src[file_start..file_start + len]);
    }

    /// Consumes a heredoc body up to its terminator line. `false` if the file ends first.
    pub fn skip_heredoc(&mut self, terminator: &[u8], chomp: bool) -> bool {
        while let Some(line) = self.next_physical() {
            let mut content = &self.src[line.start..line.content_end];
            if chomp {
                let tabs = content.iter().take_while(|b| **b == b'\t').count();
                content = &content[tabs..];
            }
            if content == terminator {
                return true;
            }
        }
        false
    }

    /// BuildKit's directive parser: `^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`, looked for
    /// until the first line that does not match or names an unknown directive.
    fn parse_directive(&mut self, line: &[u8], number: usize) -> Result<(), ScanError> {
        if self.directives_done {
            return Ok(());
        }
        let Some((key, value)) = directive(line) else {
            self.directives_done = true;
            return Ok(());
        };
        let key = key.to_ascii_lowercase();
        let name = match key.as_slice() {
            b"escape" => "escape",
            b"syntax" => "syntax",
            b"check" => "check",
            _ => {
                self.directives_done = true;
                return Ok(());
            }
        };
        if self.seen_directives.contains(&name) {
            return Err(ScanError::new(
                number,
                format!("only one {name} parser directive can be used"),
            ));
        }
        self.seen_directives.push(name);
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

fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|b| *b == needle)
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
        let mut lines = Lines::new(src.as_bytes());
        let mut out = Vec::new();
        while let Some(l) = lines.next_logical().unwrap() {
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
        assert!(Lines::new(dup.as_bytes()).next_logical().is_err());
        let bad = "# escape=x\nFROM a\n";
        assert!(Lines::new(bad.as_bytes()).next_logical().is_err());
    }

    #[test]
    fn ignore_marker() {
        let src = "# digestpin: ignore\n# why\nFROM a\n# digestpin: ignore\n\nFROM b\n";
        let mut lines = Lines::new(src.as_bytes());
        assert!(lines.next_logical().unwrap().unwrap().ignored);
        assert!(!lines.next_logical().unwrap().unwrap().ignored);
        assert!(!is_ignore_comment(b"# digestpin: ignored"));
        assert!(is_ignore_comment(b"#digestpin: ignore  (vendored)"));
    }
}

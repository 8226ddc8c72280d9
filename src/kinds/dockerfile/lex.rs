//! Splitting a logical line into the words BuildKit sees, keeping where each came from.
//!
//! Each function mirrors one step of BuildKit's frontend: `splitCommand` (keyword, then
//! `--flags`), whitespace-delimited arguments (FROM), `parseWords` (ARG), the shell lexer's
//! quote and escape removal (what an image name means after quotes), and heredoc detection.
//! Positions are offsets into the logical line; [`Lexed`] keeps one per output byte so a value
//! can be mapped back to the file, or found not to be contiguous there.

use std::ops::Range;

use super::lines::{decode_char, leading_whitespace, trailing_whitespace};

/// Text produced from a logical line, with the logical offset of each of its bytes.
#[derive(Debug, Default, Clone)]
pub(super) struct Lexed {
    pub text: Vec<u8>,
    pub offsets: Vec<usize>,
}

impl Lexed {
    fn push(&mut self, byte: u8, offset: usize) {
        self.text.push(byte);
        self.offsets.push(offset);
    }

    fn push_slice(&mut self, line: &[u8], range: Range<usize>) {
        self.text.extend_from_slice(&line[range.clone()]);
        self.offsets.extend(range);
    }

    /// Room for `n` bytes.
    fn with_capacity(n: usize) -> Self {
        Lexed {
            text: Vec::with_capacity(n),
            offsets: Vec::with_capacity(n),
        }
    }

    /// `line[range]` taken as it is.
    pub fn identity(line: &[u8], range: Range<usize>) -> Self {
        let mut lexed = Lexed::with_capacity(range.len());
        lexed.push_slice(line, range);
        lexed
    }

    /// The part of this text in `range`, with its offsets.
    pub fn slice(&self, range: Range<usize>) -> Self {
        Lexed {
            text: self.text[range.clone()].to_vec(),
            offsets: self.offsets[range].to_vec(),
        }
    }

    /// The logical range `range` of the output came from, if it came from one contiguous run.
    pub fn source_range(&self, range: Range<usize>) -> Option<Range<usize>> {
        let offsets = self.offsets.get(range)?;
        let first = *offsets.first()?;
        let contiguous = offsets.windows(2).all(|w| w[1] == w[0] + 1);
        contiguous.then(|| first..first + offsets.len())
    }

    #[cfg(test)]
    pub fn text_lossy(&self) -> String {
        String::from_utf8_lossy(&self.text).into_owned()
    }
}

/// ASCII whitespace as Go's `reWhitespace` (`[\t\v\f\r ]`) sees it.
fn is_ascii_ws(b: u8) -> bool {
    matches!(b, b'\t' | b'\x0b' | b'\x0c' | b'\r' | b' ')
}

/// `unicode.IsSpace(rune(b))` on a single byte, as `extractBuilderFlags` does it.
fn is_flag_space(b: u8) -> bool {
    matches!(
        b,
        b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r' | b' ' | 0x85 | 0xA0
    )
}

/// The instruction keyword, and the rest of the line (flags and arguments).
#[derive(Debug)]
pub(super) struct Command {
    pub keyword: Range<usize>,
    rest: Range<usize>,
}

impl Command {
    /// The `--flags` and the range of the arguments after them (left-trimmed).
    pub fn flags_and_args(&self, line: &[u8]) -> (Vec<Lexed>, Range<usize>) {
        let end = self.rest.end;
        let (flags, args_start) = extract_flags(line, self.rest.clone());
        let args_start = args_start + leading_whitespace(&line[args_start..end]);
        (flags, args_start..end)
    }
}

/// BuildKit's `splitCommand` on `line[range]`: the keyword up to ASCII whitespace; flags are
/// lexed only when asked for (most instructions never need them).
pub(super) fn split_command(line: &[u8], range: Range<usize>) -> Command {
    let slice = &line[range.clone()];
    let start = range.start + leading_whitespace(slice);
    let end = range.end - trailing_whitespace(&line[start..range.end]);
    let keyword_end = (start..end).find(|i| is_ascii_ws(line[*i])).unwrap_or(end);
    let mut rest = keyword_end;
    while rest < end && is_ascii_ws(line[rest]) {
        rest += 1;
    }
    Command {
        keyword: start..keyword_end,
        rest: rest..end,
    }
}

/// BuildKit's `extractBuilderFlags`: leading `--name[=value]` words, with quotes and
/// backslashes removed. Returns the flags and where the remaining arguments start.
fn extract_flags(line: &[u8], range: Range<usize>) -> (Vec<Lexed>, usize) {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote(u8),
    }
    let mut words = Vec::new();
    let mut word = Lexed::default();
    let mut phase = Phase::Spaces;
    let mut blank_ok = false;
    let end = range.end;
    let mut pos = range.start;
    while pos <= end {
        let ch = if pos < end { line[pos] } else { 0 };
        if phase == Phase::Spaces {
            if pos == end {
                break;
            }
            if is_flag_space(ch) {
                pos += 1;
                continue;
            }
            if ch != b'-' || pos + 1 == end || line[pos + 1] != b'-' {
                return (words, pos);
            }
            // Room for a typical flag (`--mount=type=cache,target=/root/.cache`) at once.
            let room = (end - pos).min(64);
            word.text.reserve(room);
            word.offsets.reserve(room);
            phase = Phase::Word;
        }
        if pos == end {
            if word.text != b"--" && (blank_ok || !word.text.is_empty()) {
                words.push(word);
            }
            return (words, end);
        }
        match phase {
            Phase::Word => {
                if is_flag_space(ch) {
                    phase = Phase::Spaces;
                    if word.text == b"--" {
                        return (words, pos);
                    }
                    if blank_ok || !word.text.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                    word = Lexed::default();
                    blank_ok = false;
                } else if ch == b'\'' || ch == b'"' {
                    phase = Phase::Quote(ch);
                    blank_ok = true;
                } else if ch == b'\\' {
                    if pos + 1 < end {
                        pos += 1;
                        word.push(line[pos], pos);
                    }
                } else {
                    word.push(ch, pos);
                }
            }
            Phase::Quote(quote) => {
                if ch == quote {
                    phase = Phase::Word;
                } else if ch == b'\\' {
                    if pos + 1 == end {
                        phase = Phase::Word;
                    } else {
                        pos += 1;
                        word.push(line[pos], pos);
                    }
                } else {
                    word.push(ch, pos);
                }
            }
            Phase::Spaces => unreachable!("handled above"),
        }
        pos += 1;
    }
    (words, end)
}

/// BuildKit's `parseStringsWhitespaceDelimited` (FROM): split on `[\t\v\f\r ]+`.
pub(super) fn split_whitespace(line: &[u8], range: Range<usize>) -> Vec<Range<usize>> {
    let mut words = Vec::new();
    let mut start = None;
    for i in range.clone() {
        match (is_ascii_ws(line[i]), start) {
            (true, Some(s)) => {
                words.push(s..i);
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    // After trailing whitespace Go's regexp Split yields an empty word; it carries no reference.
    if let Some(s) = start {
        words.push(s..range.end);
    }
    words
}

/// BuildKit's `parseWords` (ARG, ENV): whitespace-separated words, quotes and escapes kept.
pub(super) fn parse_words(line: &[u8], range: Range<usize>, escape: u8) -> Vec<Range<usize>> {
    let mut words = Vec::new();
    let mut start: Option<usize> = None;
    let mut quote: Option<u8> = None;
    let mut pos = range.start;
    while pos < range.end {
        let (c, width) = decode_char(&line[pos..range.end]).unwrap_or(('\u{fffd}', 1));
        let b = line[pos];
        match (start, quote) {
            (None, _) if c.is_whitespace() => {}
            (None, _) | (Some(_), None) => {
                if start.is_some() && c.is_whitespace() {
                    words.push(start.take().unwrap_or(pos)..pos);
                    pos += width;
                    continue;
                }
                start.get_or_insert(pos);
                if b == b'\'' || b == b'"' {
                    quote = Some(b);
                } else if b == escape {
                    pos += width;
                    if pos < range.end {
                        pos += decode_char(&line[pos..range.end]).map_or(1, |(_, w)| w);
                    }
                    continue;
                }
            }
            (Some(_), Some(q)) => {
                if b == q {
                    quote = None;
                } else if b == escape && q != b'\'' {
                    pos += width;
                    if pos < range.end {
                        pos += decode_char(&line[pos..range.end]).map_or(1, |(_, w)| w);
                    }
                    continue;
                }
            }
        }
        pos += width;
    }
    if let Some(s) = start {
        words.push(s..range.end);
    }
    words
}

/// Why a word could not be unquoted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum UnquoteError {
    UnterminatedQuote,
}

/// The shell lexer's view of one word: quotes removed, escapes applied. Variables are kept
/// verbatim; `has_variable` says whether any would be expanded.
#[derive(Debug)]
pub(super) struct Unquoted {
    pub lexed: Lexed,
    pub has_variable: bool,
}

/// Removes quotes and escapes from `line[range]` (BuildKit's shell lexer, without expansion).
pub(super) fn unquote(
    line: &[u8],
    range: Range<usize>,
    escape: u8,
) -> Result<Unquoted, UnquoteError> {
    // Unquoting only removes bytes: the word's length is enough.
    let mut out = Lexed::with_capacity(range.len());
    let mut has_variable = false;
    let mut pos = range.start;
    let end = range.end;
    while pos < end {
        let b = line[pos];
        match b {
            b'\'' => {
                let close = (pos + 1..end)
                    .find(|i| line[*i] == b'\'')
                    .ok_or(UnquoteError::UnterminatedQuote)?;
                out.push_slice(line, pos + 1..close);
                pos = close + 1;
            }
            b'"' => {
                pos += 1;
                loop {
                    if pos >= end {
                        return Err(UnquoteError::UnterminatedQuote);
                    }
                    let c = line[pos];
                    if c == b'"' {
                        pos += 1;
                        break;
                    }
                    if c == b'$' && starts_variable(line.get(pos + 1).copied()) {
                        has_variable = true;
                    }
                    let next = line.get(pos + 1).filter(|_| pos + 1 < end);
                    if c == escape && next.is_some_and(|n| matches!(n, b'"' | b'$') || *n == escape)
                    {
                        pos += 1;
                    }
                    out.push(line[pos], pos);
                    pos += 1;
                }
            }
            _ if b == escape => {
                if pos + 1 < end {
                    out.push(line[pos + 1], pos + 1);
                }
                pos += 2;
            }
            _ => {
                if b == b'$'
                    && starts_variable(line.get(pos + 1).filter(|_| pos + 1 < end).copied())
                {
                    has_variable = true;
                }
                out.push(b, pos);
                pos += 1;
            }
        }
    }
    Ok(Unquoted {
        lexed: out,
        has_variable,
    })
}

/// Whether `$` followed by `next` starts a variable in BuildKit's shell lexer.
pub(super) fn starts_variable(next: Option<u8>) -> bool {
    matches!(next, Some(b) if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'{' | b'*' | b'#' | b'@' | b'?' | b'-' | b'$' | b'!') || b >= 0x80)
}

/// A heredoc introduced on an instruction line.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Heredoc {
    pub name: Vec<u8>,
    pub chomp: bool,
}

/// BuildKit's `heredocsFromLine`: shell words of the whole line matching
/// `^(\d*)<<(-?)([^<]*)$`, the delimiter unquoted.
pub(super) fn heredocs(line: &[u8]) -> Vec<Heredoc> {
    let mut docs = Vec::new();
    for word in shell_words(line) {
        let digits = word.iter().take_while(|b| b.is_ascii_digit()).count();
        let Some(rest) = word[digits..].strip_prefix(b"<<") else {
            continue;
        };
        let (chomp, rest) = match rest.strip_prefix(b"-") {
            Some(r) => (true, r),
            None => (false, rest),
        };
        if rest.is_empty() || rest.contains(&b'<') {
            continue;
        }
        let Ok(name) = unquote(rest, 0..rest.len(), b'\\') else {
            continue;
        };
        docs.push(Heredoc {
            name: name.lexed.text,
            chomp,
        });
    }
    docs
}

/// The shell lexer's word split with raw quotes and escapes kept, variables expanded to
/// nothing (no environment), as `heredocsFromLine` calls it.
fn shell_words(line: &[u8]) -> Vec<Vec<u8>> {
    let mut words = Vec::new();
    let mut word = Vec::new();
    let mut in_word = false;
    let mut pos = 0;
    let flush = |word: &mut Vec<u8>, in_word: &mut bool, words: &mut Vec<Vec<u8>>| {
        if *in_word {
            words.push(std::mem::take(word));
            *in_word = false;
        }
    };
    while pos < line.len() {
        let b = line[pos];
        match b {
            b'\'' | b'"' => {
                let close = (pos + 1..line.len()).find(|i| {
                    line[*i] == b
                        && (b == b'\'' || line[*i - 1] != b'\\' || escaped_backslash(line, *i - 1))
                });
                let close = close.unwrap_or(line.len() - 1);
                word.extend_from_slice(&line[pos..=close]);
                in_word = true;
                pos = close + 1;
            }
            b'\\' => {
                let next = (pos + 2).min(line.len());
                word.extend_from_slice(&line[pos..next]);
                in_word = true;
                pos = next;
            }
            b'$' if starts_variable(line.get(pos + 1).copied()) => {
                pos = skip_variable(line, pos);
                in_word = true;
            }
            _ => {
                let (c, width) = decode_char(&line[pos..]).unwrap_or(('\u{fffd}', 1));
                if c.is_whitespace() {
                    flush(&mut word, &mut in_word, &mut words);
                } else {
                    word.extend_from_slice(&line[pos..pos + width]);
                    in_word = true;
                }
                pos += width;
            }
        }
    }
    flush(&mut word, &mut in_word, &mut words);
    words.retain(|w| !w.is_empty());
    words
}

/// Whether the backslash at `i` is itself escaped by an odd run of backslashes before it.
fn escaped_backslash(line: &[u8], i: usize) -> bool {
    let run = line[..=i].iter().rev().take_while(|b| **b == b'\\').count();
    run % 2 == 0
}

/// Skips `$name`, `$1`, `$@` or `${...}` starting at `pos` (the `$`).
pub(super) fn skip_variable(line: &[u8], pos: usize) -> usize {
    let mut i = pos + 1;
    match line.get(i) {
        Some(b'{') => {
            let mut depth = 0;
            while i < line.len() {
                match line[i] {
                    b'{' => depth += 1,
                    b'}' => {
                        depth -= 1;
                        if depth == 0 {
                            return i + 1;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            line.len()
        }
        Some(b) if b.is_ascii_digit() => {
            while i < line.len() && line[i].is_ascii_digit() {
                i += 1;
            }
            i
        }
        Some(b'*' | b'#' | b'@' | b'?' | b'-' | b'$' | b'!') => i + 1,
        _ => {
            while i < line.len() {
                match decode_char(&line[i..]) {
                    Some((c, w)) if c.is_alphanumeric() || c == '_' => i += w,
                    _ => break,
                }
            }
            i
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(line: &[u8], r: &Range<usize>) -> String {
        String::from_utf8_lossy(&line[r.clone()]).into_owned()
    }

    #[test]
    fn command_and_flags() {
        let line = b"  COPY --link --from=\"img:1\" --chown=a\\ b /a /b ";
        let cmd = split_command(line, 0..line.len());
        assert_eq!(text(line, &cmd.keyword), "COPY");
        let (flags, args) = cmd.flags_and_args(line);
        let texts: Vec<String> = flags.iter().map(Lexed::text_lossy).collect();
        assert_eq!(texts, ["--link", "--from=img:1", "--chown=a b"]);
        assert_eq!(text(line, &args), "/a /b");
        let from = &flags[1];
        let r = from.source_range(7..from.text.len()).unwrap();
        assert_eq!(text(line, &r), "img:1");
        let chown = &flags[2];
        assert!(chown.source_range(0..chown.text.len()).is_none());
    }

    #[test]
    fn double_dash_ends_flags() {
        let line = b"RUN --a -- --b x";
        let (flags, args) = split_command(line, 0..line.len()).flags_and_args(line);
        assert_eq!(flags.len(), 1);
        assert_eq!(text(line, &args), "--b x");
    }

    #[test]
    fn words() {
        let line = b"a  b\t\"c d\" e\\ f";
        let w: Vec<String> = parse_words(line, 0..line.len(), b'\\')
            .iter()
            .map(|r| text(line, r))
            .collect();
        assert_eq!(w, ["a", "b", "\"c d\"", "e\\ f"]);
        let w: Vec<String> = split_whitespace(line, 0..line.len())
            .iter()
            .map(|r| text(line, r))
            .collect();
        assert_eq!(w, ["a", "b", "\"c", "d\"", "e\\", "f"]);
    }

    #[test]
    fn unquoting() {
        let cases: [(&[u8], &str, bool); 5] = [
            (b"\"img:1\"", "img:1", false),
            (b"'img:$x'", "img:$x", false),
            (b"img:${TAG}", "img:${TAG}", true),
            (b"a\\:b", "a:b", false),
            (b"\"a\\\"b\"", "a\"b", false),
        ];
        for (word, want, var) in cases {
            let u = unquote(word, 0..word.len(), b'\\').unwrap();
            assert_eq!(u.lexed.text_lossy(), want);
            assert_eq!(u.has_variable, var, "{want}");
        }
        assert!(unquote(b"\"abc", 0..4, b'\\').is_err());
    }

    #[test]
    fn heredoc_words() {
        let name = |n: &str, chomp| Heredoc {
            name: n.as_bytes().to_vec(),
            chomp,
        };
        assert_eq!(heredocs(b"RUN <<EOT bash"), [name("EOT", false)]);
        assert_eq!(
            heredocs(b"RUN <<EOF1 cat && <<-EOF2 cat"),
            [name("EOF1", false), name("EOF2", true)]
        );
        assert_eq!(heredocs(b"RUN cat > /f <<\"EOT\""), [name("EOT", false)]);
        assert_eq!(heredocs(b"RUN cat <<'E O'"), [name("E O", false)]);
        assert_eq!(heredocs(b"RUN 3<<X cat"), [name("X", false)]);
        assert!(heredocs(b"RUN cat > /f << EOT").is_empty());
        assert!(heredocs(b"RUN echo '<<EOT'").is_empty());
        assert!(heredocs(b"RUN a<<EOT").is_empty());
        assert!(heredocs(b"RUN <<$X").is_empty());
    }
}

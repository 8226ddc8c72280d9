//! The Dockerfile scanner: finds every image reference exactly as BuildKit's frontend sees it,
//! with its byte span in the file, so it can be rewritten without touching anything else.
//!
//! Image positions: `FROM IMAGE`, `COPY/ADD --from=X`, `RUN --mount=…,from=X`, the same after
//! `ONBUILD`, and global `ARG` defaults that feed a `FROM ${V}`. Stage names, stage indexes and
//! `scratch` are reported with their own states. Reads the file as a stream (memory bounded by
//! the longest instruction plus the references found), never panics on any input.

mod lex;
mod lines;
mod vars;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io::{self, Read};
use std::ops::Range;
use std::sync::Arc;

use crate::found::Site;
pub use crate::found::{FoundRef, RefState, Scan, ScanError};
use crate::reference::Reference;
use lex::{Lexed, split_command, split_whitespace, unquote};
use lines::{Lines, Logical, Segment, Stop};

/// The instruction a reference appears in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Instruction {
    From,
    Copy,
    Add,
    Run,
    Arg,
    OnbuildCopy,
    OnbuildAdd,
    OnbuildRun,
    /// The `# syntax=` parser directive.
    Syntax,
}

impl Instruction {
    pub fn as_str(self) -> &'static str {
        match self {
            Instruction::From => "FROM",
            Instruction::Copy => "COPY",
            Instruction::Add => "ADD",
            Instruction::Run => "RUN",
            Instruction::Arg => "ARG",
            Instruction::OnbuildCopy => "ONBUILD COPY",
            Instruction::OnbuildAdd => "ONBUILD ADD",
            Instruction::OnbuildRun => "ONBUILD RUN",
            Instruction::Syntax => "syntax",
        }
    }

    fn onbuild(self) -> Self {
        match self {
            Instruction::Copy => Instruction::OnbuildCopy,
            Instruction::Add => Instruction::OnbuildAdd,
            Instruction::Run => Instruction::OnbuildRun,
            other => other,
        }
    }
}

impl Instruction {
    /// Where a reference in this instruction sits, for the format-neutral reports.
    pub fn site(self) -> Site {
        Site::fixed(self.as_str())
    }
}

impl fmt::Display for Instruction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The Dockerfile kind: `Dockerfile`, `Containerfile`, `Dockerfile.*`, `*.Dockerfile`, …
pub struct Dockerfile;

impl super::FileKind for Dockerfile {
    fn name(&self) -> &'static str {
        "dockerfile"
    }

    fn claims(&self, path: &std::path::Path) -> bool {
        path.file_name()
            .is_some_and(|name| is_dockerfile_name(name.as_encoded_bytes()))
    }

    fn scan(&self, reader: &mut dyn Read) -> io::Result<Scan> {
        scan_reader(reader)
    }
}

/// `Dockerfile`, `Containerfile`, `Dockerfile.*`, `Dockerfile-*`, `Containerfile.*`,
/// `*.Dockerfile`, `*.dockerfile`, `*.Containerfile`, `*.containerfile`; on raw bytes, so a name that is not
/// UTF-8 (`\xff.Dockerfile`) is still a Dockerfile.
pub fn is_dockerfile_name(name: &[u8]) -> bool {
    const EXACT: [&[u8]; 2] = [b"Dockerfile", b"Containerfile"];
    const PREFIXES: [&[u8]; 3] = [b"Dockerfile.", b"Dockerfile-", b"Containerfile."];
    const SUFFIXES: [&[u8]; 4] = [
        b".Dockerfile",
        b".dockerfile",
        b".Containerfile",
        b".containerfile",
    ];
    EXACT.contains(&name)
        || PREFIXES
            .iter()
            .any(|p| name.len() > p.len() && name.starts_with(p))
        || SUFFIXES
            .iter()
            .any(|s| name.len() > s.len() && name.ends_with(s))
}

/// Scans Dockerfile `source` for image references.
pub fn scan(source: &[u8]) -> Scan {
    scan_in_chunks(source, lines::CHUNK)
}

/// Scans a Dockerfile read from `reader`, a chunk at a time. An I/O error is returned as such;
/// anything BuildKit would refuse is in [`Scan::error`].
pub fn scan_reader(reader: impl Read) -> io::Result<Scan> {
    scan_chunked(reader, lines::CHUNK)
}

/// [`scan`], reading `chunk` bytes at a time: for tests and fuzzing of the reading window,
/// whose result must not depend on the chunk size.
#[doc(hidden)]
pub fn scan_in_chunks(source: &[u8], chunk: usize) -> Scan {
    match scan_chunked(source, chunk) {
        Ok(scan) => scan,
        Err(_) => unreachable!("reading from a slice cannot fail"),
    }
}

fn scan_chunked(reader: impl Read, chunk: usize) -> io::Result<Scan> {
    let mut scanner = Scanner {
        lines: Lines::new(reader, chunk),
        stage_names: HashSet::new(),
        seen_from: false,
        globals: vars::Globals::new(),
        global_args: HashMap::new(),
        arg_uses: HashMap::new(),
        texts: HashMap::new(),
        refs: Vec::new(),
    };
    let mut stop = scanner.run().err();
    if matches!(stop, Some(Stop::Scan(_))) {
        // A file that is not text is reported as such, wherever BuildKit would have stopped.
        if let Err(e) = scanner.lines.check_rest() {
            stop = Some(e);
        }
    }
    let not_text = match &stop {
        Some(Stop::NotUtf8 { line }) => Some(ScanError::new(*line, "not valid UTF-8 text")),
        _ => (scanner.lines.first_nul)
            .map(|line| ScanError::new(line, "contains a NUL byte (binary file?)")),
    };
    let error = match stop {
        Some(Stop::Io(e)) => return Err(e),
        _ if not_text.is_some() => {
            return Ok(Scan {
                refs: Vec::new(),
                error: not_text,
            });
        }
        Some(Stop::Scan(e)) => Some(e),
        _ => None,
    };
    let mut refs = scanner.finish();
    // Only ARG-fed references are out of order; positions are unique, so no stable sort needed.
    refs.sort_unstable_by_key(|r| (r.line, r.column));
    Ok(Scan { refs, error })
}

/// A global ARG default that may be pinned in place.
struct GlobalArg {
    /// The default as a reference position, when it is a literal (no variables).
    literal: Option<FoundRef>,
}

/// How FROMs use one global ARG.
#[derive(Default)]
struct ArgUse {
    /// FROMs whose whole image is `${V}`, each as it would be reported without ARG pinning.
    sole_uses: Vec<FoundRef>,
    /// Used in some other way (inside a longer image, a modifier, another ARG's default...).
    disqualified: bool,
}

struct Scanner<R> {
    lines: Lines<R>,
    /// Lowercased names of the stages so far.
    stage_names: HashSet<String>,
    seen_from: bool,
    globals: vars::Globals,
    global_args: HashMap<String, GlobalArg>,
    arg_uses: HashMap<String, ArgUse>,
    /// Every reference text of the file, stored once, with its parse once it was needed: a
    /// large file repeats a few images many times.
    texts: HashMap<Arc<str>, Option<Parsed>>,
    refs: Vec<FoundRef>,
}

type Parsed = Result<Arc<Reference>, crate::reference::ReferenceError>;

/// Where a value came from, for classification.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Position {
    From,
    /// `--from=` or a mount's `from=`: digits are stage indexes.
    FromFlag,
}

impl<R: Read> Scanner<R> {
    fn run(&mut self) -> Result<(), Stop> {
        loop {
            let next = self.lines.next_logical();
            // Parser directives are read on the way to the first instruction.
            if let Some(syntax) = self.lines.take_syntax() {
                self.syntax(syntax);
            }
            let Some(logical) = next? else {
                return Ok(());
            };
            self.instruction(logical)?;
        }
    }

    /// The `# syntax=IMAGE` directive: an image like any other, pinned in place.
    fn syntax(&mut self, value: lines::SyntaxValue) {
        let original: Arc<str> = value.text.as_str().into();
        let mut found = FoundRef {
            site: Instruction::Syntax.site(),
            original: original.clone(),
            span: Some(value.span),
            line: value.line,
            column: value.column,
            end_line: value.line,
            state: RefState::Unpinned,
            reference: None,
            problem: None,
        };
        match self.parse(&original) {
            Ok(reference) => {
                if reference.digest().is_some() {
                    found.state = RefState::Pinned;
                }
                found.reference = Some(reference);
            }
            Err(e) => {
                found.state = RefState::Invalid;
                found.problem = Some(e.to_string());
            }
        }
        self.refs.push(found);
    }

    fn instruction(&mut self, logical: Logical) -> Result<(), Stop> {
        let line = std::mem::take(&mut self.lines.logical);
        let result = self.dispatch(&line, logical);
        self.lines.logical = line;
        result
    }

    fn dispatch(&mut self, line: &[u8], logical: Logical) -> Result<(), Stop> {
        let mut cmd = split_command(line, 0..line.len());
        let onbuild = line[cmd.keyword.clone()].eq_ignore_ascii_case(b"onbuild");
        if onbuild {
            let (_, args) = cmd.flags_and_args(line);
            cmd = split_command(line, args);
        }
        let keyword = &line[cmd.keyword.clone()];
        let is = |name: &[u8]| keyword.eq_ignore_ascii_case(name);
        let instruction = if is(b"from") && !onbuild {
            let (_, args) = cmd.flags_and_args(line);
            self.from(line, args, logical);
            return Ok(());
        } else if is(b"arg") && !onbuild {
            if !self.seen_from {
                let (_, args) = cmd.flags_and_args(line);
                self.global_arg(line, args, logical);
            }
            return Ok(());
        } else if is(b"copy") {
            Instruction::Copy
        } else if is(b"add") {
            Instruction::Add
        } else if is(b"run") {
            Instruction::Run
        } else {
            return Ok(());
        };
        let instruction = if onbuild {
            instruction.onbuild()
        } else {
            instruction
        };
        let (flags, args) = cmd.flags_and_args(line);
        for flag in &flags {
            self.flag(flag, instruction, logical);
        }
        if contains(line, b"<<") && !is_json(line, args, logical.first_line)? {
            for heredoc in lex::heredocs(line) {
                if !self.lines.skip_heredoc(&heredoc.name, heredoc.chomp)? {
                    return Err(Stop::Scan(ScanError::new(
                        logical.first_line,
                        format!(
                            "unterminated heredoc <<{}",
                            String::from_utf8_lossy(&heredoc.name)
                        ),
                    )));
                }
            }
        }
        Ok(())
    }

    fn from(&mut self, line: &[u8], args: Range<usize>, logical: Logical) {
        let words = split_whitespace(line, args);
        let Some(image) = words.first().cloned() else {
            self.seen_from = true;
            return;
        };
        let stage_name = match words.as_slice() {
            [_, as_kw, name] if line[as_kw.clone()].eq_ignore_ascii_case(b"as") => {
                String::from_utf8_lossy(&line[name.clone()]).to_lowercase()
            }
            _ => String::new(),
        };
        self.seen_from = true;
        let raw = &line[image.clone()];
        match vars::sole_variable(raw) {
            Some(name) if self.global_args.contains_key(name) && !logical.ignored => {
                let name = name.to_owned();
                let found = self.word(line, image, Instruction::From, logical);
                self.arg_uses.entry(name).or_default().sole_uses.push(found);
            }
            _ => {
                for name in vars::referenced(raw) {
                    self.arg_uses.entry(name).or_default().disqualified = true;
                }
                let found = self.word(line, image, Instruction::From, logical);
                self.refs.push(found);
            }
        }
        if !stage_name.is_empty() {
            self.stage_names.insert(stage_name);
        }
    }

    /// Classifies a FROM image word (before its own stage name is defined).
    fn word(
        &mut self,
        line: &[u8],
        word: Range<usize>,
        instruction: Instruction,
        logical: Logical,
    ) -> FoundRef {
        let escape = self.lines.escape();
        match unquote(line, word.clone(), escape) {
            Err(_) => {
                let lexed = Lexed::identity(line, word);
                let mut found = self.located(instruction, &lexed, RefState::Invalid);
                found.problem = Some("unterminated quote".into());
                found
            }
            Ok(u) if u.has_variable => {
                let state = match vars::expand(&line[word.clone()], escape, &self.globals) {
                    Some(e) if e == "scratch" => RefState::Scratch,
                    Some(e) if self.is_stage(&e, Position::From) => RefState::Stage,
                    _ if logical.ignored => RefState::Ignored,
                    _ => RefState::Variable,
                };
                self.located(instruction, &u.lexed, state)
            }
            Ok(u) => self.classify(instruction, &u.lexed, Position::From, logical.ignored),
        }
    }

    /// A COPY/ADD `--from=` or RUN `--mount=…,from=` flag.
    fn flag(&mut self, flag: &Lexed, instruction: Instruction, logical: Logical) {
        let value = if let Some(v) = flag.text.strip_prefix(b"--from=") {
            if matches!(instruction, Instruction::Run | Instruction::OnbuildRun) {
                return;
            }
            let start = flag.text.len() - v.len();
            Some(start..flag.text.len())
        } else if flag.text.starts_with(b"--mount=") {
            if !matches!(instruction, Instruction::Run | Instruction::OnbuildRun) {
                return;
            }
            mount_from(&flag.text, b"--mount=".len())
        } else {
            None
        };
        let Some(range) = value.filter(|r| !r.is_empty()) else {
            return;
        };
        let lexed = flag.slice(range);
        let found = if has_variable(&lexed.text) {
            for name in vars::referenced(&lexed.text) {
                self.arg_uses.entry(name).or_default().disqualified = true;
            }
            let state = if logical.ignored {
                RefState::Ignored
            } else {
                RefState::Variable
            };
            self.located(instruction, &lexed, state)
        } else {
            self.classify(instruction, &lexed, Position::FromFlag, logical.ignored)
        };
        self.refs.push(found);
    }

    /// A global ARG: records defaults for expansion and ARG-default pinning.
    fn global_arg(&mut self, line: &[u8], args: Range<usize>, logical: Logical) {
        let escape = self.lines.escape();
        for word in lex::parse_words(line, args, escape) {
            let raw = &line[word.clone()];
            let (name, value) = match raw.iter().position(|b| *b == b'=') {
                Some(eq) => (&raw[..eq], Some(word.start + eq + 1..word.end)),
                None => (raw, None),
            };
            let name = String::from_utf8_lossy(name).into_owned();
            let Some(value) = value else {
                self.globals.insert(name.clone(), None);
                self.global_args.remove(&name);
                continue;
            };
            let value_raw = &line[value.clone()];
            for used in vars::referenced(value_raw) {
                self.arg_uses.entry(used).or_default().disqualified = true;
            }
            let expanded = vars::expand(value_raw, escape, &self.globals);
            let literal = match unquote(line, value.clone(), escape) {
                Ok(u) if !u.has_variable && !u.lexed.text.is_empty() => {
                    Some(self.classify(Instruction::Arg, &u.lexed, Position::From, logical.ignored))
                }
                _ => None,
            };
            self.globals.insert(name.clone(), expanded);
            self.global_args.insert(name, GlobalArg { literal });
        }
    }

    /// State of a literal value (no variables) in an image position.
    fn classify(
        &mut self,
        instruction: Instruction,
        lexed: &Lexed,
        position: Position,
        ignored: bool,
    ) -> FoundRef {
        let mut found = self.located(instruction, lexed, RefState::Unpinned);
        let text = found.original.clone();
        let state = if position == Position::From && &*text == "scratch" {
            RefState::Scratch
        } else if instruction != Instruction::Arg && self.is_stage(&text, position) {
            RefState::Stage
        } else if ignored {
            RefState::Ignored
        } else {
            RefState::Unpinned
        };
        found.state = state;
        if state.is_image() {
            match self.parse(&text) {
                Ok(reference) => {
                    if state == RefState::Unpinned && reference.digest().is_some() {
                        found.state = RefState::Pinned;
                    }
                    found.reference = Some(reference);
                }
                Err(e) if state != RefState::Ignored => {
                    found.state = RefState::Invalid;
                    found.problem = Some(e.to_string());
                }
                Err(_) => {}
            }
            if found.span.is_none() && matches!(found.state, RefState::Pinned | RefState::Unpinned)
            {
                found.state = RefState::Split;
            }
        }
        found
    }

    fn is_stage(&self, name: &str, position: Position) -> bool {
        if position == Position::FromFlag
            && !name.is_empty()
            && name.bytes().all(|b| b.is_ascii_digit())
        {
            return true;
        }
        if name.is_empty() || self.stage_names.is_empty() {
            return false;
        }
        if name.bytes().any(|b| b.is_ascii_uppercase() || b >= 0x80) {
            self.stage_names.contains(&name.to_lowercase())
        } else {
            self.stage_names.contains(name)
        }
    }

    /// Builds an [`FoundRef`] at the file position of `lexed`.
    /// The shared copy of `lexed`'s text.
    /// Also whether the text is UTF-8 as it stands (not cut inside a character).
    fn intern(&mut self, lexed: &Lexed) -> (Arc<str>, bool) {
        let text = String::from_utf8_lossy(&lexed.text);
        let whole = matches!(text, std::borrow::Cow::Borrowed(_));
        if let Some((known, _)) = self.texts.get_key_value(&*text) {
            return (known.clone(), whole);
        }
        let text: Arc<str> = text.into();
        self.texts.insert(text.clone(), None);
        (text, whole)
    }

    /// `text` (interned) parsed as a reference, parsed once per distinct text.
    fn parse(&mut self, text: &Arc<str>) -> Parsed {
        match self.texts.get_mut(&**text) {
            Some(slot) => slot
                .get_or_insert_with(|| Reference::parse(text).map(Arc::new))
                .clone(),
            None => Reference::parse(text).map(Arc::new),
        }
    }

    fn located(&mut self, instruction: Instruction, lexed: &Lexed, state: RefState) -> FoundRef {
        let (original, whole) = self.intern(lexed);
        let segments = &self.lines.segments;
        let first = lexed.offsets.first().copied().unwrap_or(0);
        let last = lexed.offsets.last().copied().unwrap_or(first);
        let (start_seg, end_seg) = (segment_of(segments, first), segment_of(segments, last));
        let file_offset =
            |seg: &Segment, logical: usize| seg.file_start + (logical - seg.logical_start);
        let start = file_offset(start_seg, first);
        let span = lexed
            .source_range(0..lexed.offsets.len())
            .filter(|_| std::ptr::eq(start_seg, end_seg))
            // BuildKit splits flags at the bytes 0x85 and 0xA0 even inside a character: such a
            // word is not text in the file, so it has no span to rewrite.
            .filter(|_| whole)
            .map(|r| start..start + r.len());
        let column = self
            .lines
            .bytes(start_seg.line_start..start)
            .iter()
            .filter(|b| (**b & 0xC0) != 0x80)
            .count()
            + 1;
        FoundRef {
            site: instruction.site(),
            original,
            span,
            line: start_seg.line,
            column,
            end_line: end_seg.line,
            state,
            reference: None,
            problem: None,
        }
    }

    /// Resolves ARG-default pinning and returns every reference.
    fn finish(mut self) -> Vec<FoundRef> {
        for (name, uses) in std::mem::take(&mut self.arg_uses) {
            let fed = self
                .global_args
                .get(&name)
                .and_then(|a| a.literal.as_ref())
                .filter(|lit| {
                    !uses.disqualified
                        && !uses.sole_uses.is_empty()
                        && matches!(
                            lit.state,
                            RefState::Pinned
                                | RefState::Unpinned
                                | RefState::Ignored
                                | RefState::Split
                        )
                        && lit.reference.is_some()
                        && uses.sole_uses.iter().all(|u| u.state.is_image())
                });
            match fed {
                Some(lit) => self.refs.push(lit.clone()),
                None => self.refs.extend(uses.sole_uses),
            }
        }
        self.refs
    }
}

fn segment_of(segments: &[Segment], logical: usize) -> &Segment {
    let i = segments.partition_point(|s| s.logical_start <= logical);
    &segments[i.saturating_sub(1)]
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(haystack, needle).is_some()
}

fn has_variable(text: &[u8]) -> bool {
    text.iter()
        .enumerate()
        .any(|(i, b)| *b == b'$' && lex::starts_variable(text.get(i + 1).copied()))
}

/// BuildKit's `parseMaybeJSON`: arguments that are a JSON array of strings are the exec form,
/// which cannot hold heredocs. A JSON array with non-strings is a parse error in BuildKit.
fn is_json(line: &[u8], args: Range<usize>, first_line: usize) -> Result<bool, ScanError> {
    let text = &line[args];
    if text.first() != Some(&b'[') {
        return Ok(false);
    }
    match serde_json::from_slice::<Vec<serde_json::Value>>(text) {
        Ok(items) if items.iter().all(serde_json::Value::is_string) => Ok(true),
        Ok(_) => Err(ScanError::new(
            first_line,
            "Dockerfile JSON array is not a string array",
        )),
        Err(_) => Ok(false),
    }
}

/// The byte range of the `from=` value in a `--mount=` flag's comma-separated fields.
fn mount_from(text: &[u8], start: usize) -> Option<Range<usize>> {
    let mut pos = start;
    while pos <= text.len() {
        let (field, next) = if text.get(pos) == Some(&b'"') {
            let close = (pos + 1..text.len()).find(|i| text[*i] == b'"')?;
            (pos + 1..close, close + 2)
        } else {
            let end = (pos..text.len())
                .find(|i| text[*i] == b',')
                .unwrap_or(text.len());
            (pos..end, end + 1)
        };
        let value = &text[field.clone()];
        if let Some(eq) = value.iter().position(|b| *b == b'=') {
            if value[..eq].eq_ignore_ascii_case(b"from") {
                return Some(field.start + eq + 1..field.end);
            }
        }
        pos = next;
    }
    None
}

#[cfg(test)]
mod tests;

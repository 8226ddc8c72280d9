//! What every file kind reports: a found image reference (where it is, its text, its exact
//! byte span, its state, its parsed reference) and the result of scanning one file. The engine,
//! the rewriter and the reports work on these alone, whatever kind of file they came from.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use crate::reference::Reference;

/// What a found reference is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RefState {
    /// A valid reference that carries a digest.
    Pinned,
    /// A valid reference without a digest.
    Unpinned,
    /// The name or index of an earlier build stage.
    Stage,
    /// `scratch`, the empty image.
    Scratch,
    /// Contains a variable we do not pin in place.
    Variable,
    /// Skipped on purpose (a `# digestpin: ignore` comment, a config rule).
    Ignored,
    /// Not a valid image reference.
    Invalid,
    /// Its characters are split (a line continuation, escapes), so it is never rewritten.
    Split,
    /// The name a build gives its result (a compose service with `build:`): never pulled,
    /// never pinned.
    BuildOutput,
}

impl RefState {
    pub fn as_str(self) -> &'static str {
        match self {
            RefState::Pinned => "pinned",
            RefState::Unpinned => "unpinned",
            RefState::Stage => "stage",
            RefState::Scratch => "scratch",
            RefState::Variable => "variable",
            RefState::Ignored => "ignored",
            RefState::Invalid => "invalid",
            RefState::Split => "split",
            RefState::BuildOutput => "build-output",
        }
    }

    /// Whether this names an image to pin (as opposed to a stage, `scratch` or a build output).
    pub fn is_image(self) -> bool {
        !matches!(
            self,
            RefState::Stage | RefState::Scratch | RefState::BuildOutput
        )
    }
}

impl fmt::Display for RefState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Where in its file a reference sits, as its kind names it: a Dockerfile instruction (`FROM`,
/// `COPY`, `syntax`), or a key path in a YAML document.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Site(Cow<'static, str>);

impl Site {
    pub const fn fixed(name: &'static str) -> Site {
        Site(Cow::Borrowed(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<String> for Site {
    fn from(path: String) -> Site {
        Site(Cow::Owned(path))
    }
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One image reference found in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundRef {
    pub site: Site,
    /// The text as the tool that runs the file sees it, quotes excluded (for a split reference,
    /// the joined text). Shared between the references of a file that have the same text.
    pub original: Arc<str>,
    /// The bytes of `original` in the file, when they are contiguous there.
    pub span: Option<Range<usize>>,
    /// 1-based line of the first character.
    pub line: usize,
    /// 1-based column of the first character, in characters (a BOM not counted).
    pub column: usize,
    /// 1-based line of the last character.
    pub end_line: usize,
    pub state: RefState,
    /// The parsed reference, for a valid image reference (any state but stage/scratch/variable/invalid).
    pub reference: Option<Arc<Reference>>,
    /// Why the reference is invalid, for `RefState::Invalid`; why it is ignored, when a rule says.
    pub problem: Option<String>,
}

/// A file its kind cannot read: one the tool that runs it would refuse, or not text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ScanError {
    pub line: usize,
    pub message: String,
}

impl ScanError {
    pub fn new(line: usize, message: impl Into<String>) -> Self {
        ScanError {
            line,
            message: message.into(),
        }
    }
}

/// The result of scanning one file: references in file order, and the error that stopped the
/// scan, if any (references before it are still reported).
#[derive(Debug, Default)]
pub struct Scan {
    pub refs: Vec<FoundRef>,
    pub error: Option<ScanError>,
}

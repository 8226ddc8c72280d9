//! Applying edits to the bytes of a file: each edit replaces one byte span (a reference token);
//! every byte outside the spans is copied unchanged, so line endings, BOM, comments and
//! whitespace survive exactly.

use std::ops::Range;

/// Replace `span` with `replacement`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub span: Range<usize>,
    pub replacement: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RewriteError {
    #[error("edit {0:?} is outside the file ({1} bytes)")]
    OutOfBounds(Range<usize>, usize),
    #[error("edits {0:?} and {1:?} overlap")]
    Overlap(Range<usize>, Range<usize>),
}

/// Returns `source` with every edit applied. Edits may come in any order; they must not overlap.
pub fn apply(source: &[u8], edits: &[Edit]) -> Result<Vec<u8>, RewriteError> {
    let mut sorted: Vec<&Edit> = edits.iter().collect();
    sorted.sort_by_key(|e| (e.span.start, e.span.end));
    let extra: usize = sorted.iter().map(|e| e.replacement.len()).sum();
    let mut out = Vec::with_capacity(source.len() + extra);
    let mut copied = 0;
    let mut previous: Option<&Range<usize>> = None;
    for edit in sorted {
        let span = &edit.span;
        if span.start > span.end || span.end > source.len() {
            return Err(RewriteError::OutOfBounds(span.clone(), source.len()));
        }
        if let Some(prev) = previous {
            if span.start < prev.end {
                return Err(RewriteError::Overlap(prev.clone(), span.clone()));
            }
        }
        out.extend_from_slice(&source[copied..span.start]);
        out.extend_from_slice(edit.replacement.as_bytes());
        copied = span.end;
        previous = Some(span);
    }
    out.extend_from_slice(&source[copied..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(span: Range<usize>, text: &str) -> Edit {
        Edit {
            span,
            replacement: text.to_owned(),
        }
    }

    #[test]
    fn replaces_only_the_spans() {
        let src = b"\xEF\xBB\xBFFROM a:1 \r\nRUN x\r\nFROM b\t# c";
        let out = apply(src, &[edit(26..27, "b@sha256:x"), edit(8..11, "a:1@d")]).unwrap();
        assert_eq!(
            out,
            b"\xEF\xBB\xBFFROM a:1@d \r\nRUN x\r\nFROM b@sha256:x\t# c".to_vec()
        );
    }

    #[test]
    fn rejects_overlaps_and_out_of_bounds() {
        assert!(matches!(
            apply(b"abcdef", &[edit(1..3, "x"), edit(2..4, "y")]),
            Err(RewriteError::Overlap(..))
        ));
        assert!(matches!(
            apply(b"abc", &[edit(2..9, "x")]),
            Err(RewriteError::OutOfBounds(..))
        ));
        assert_eq!(apply(b"abc", &[]).unwrap(), b"abc");
    }
}

//! Invariants shared by the `scan` and `rewrite` targets.

use digestpin::dockerfile::Scan;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Whether `i` is a UTF-8 character boundary of `bytes` (its end counts as one).
fn is_char_boundary(bytes: &[u8], i: usize) -> bool {
    i == bytes.len() || (i < bytes.len() && (bytes[i] & 0xC0) != 0x80)
}

/// 1-based line of byte `offset` (lines end at `\n`).
fn line_of(bytes: &[u8], offset: usize) -> usize {
    bytes[..offset].iter().filter(|b| **b == b'\n').count() + 1
}

/// 1-based column of byte `offset`, in characters, a BOM on the first line not counted.
fn column_of(bytes: &[u8], offset: usize) -> usize {
    let mut line_start = bytes[..offset]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    if line_start == 0 && bytes.starts_with(BOM) && offset >= BOM.len() {
        line_start = BOM.len();
    }
    bytes[line_start..offset]
        .iter()
        .filter(|b| (**b & 0xC0) != 0x80)
        .count()
        + 1
}

/// Checks every invariant of `scan(input)`; panics (a libFuzzer crash) on a violation.
pub fn check_scan(input: &[u8], scan: &Scan) {
    let lines = line_of(input, input.len());
    for (i, r) in scan.refs.iter().enumerate() {
        assert!(r.line >= 1, "ref {i}: line {} < 1: {r:?}", r.line);
        assert!(r.column >= 1, "ref {i}: column {} < 1: {r:?}", r.column);
        assert!(
            r.line <= r.end_line,
            "ref {i}: line {} > end_line {}: {r:?}",
            r.line,
            r.end_line
        );
        assert!(
            r.end_line <= lines,
            "ref {i}: end_line {} past the file's {lines} lines: {r:?}",
            r.end_line
        );
        if let Some(span) = &r.span {
            assert!(
                span.start <= span.end && span.end <= input.len(),
                "ref {i}: span {span:?} outside the input ({} bytes): {r:?}",
                input.len()
            );
            assert!(
                is_char_boundary(input, span.start) && is_char_boundary(input, span.end),
                "ref {i}: span {span:?} not on char boundaries: {r:?}"
            );
            assert_eq!(
                &input[span.clone()],
                r.original.as_bytes(),
                "ref {i}: input[{span:?}] != original: {r:?}"
            );
            // The reported position is the span's position.
            assert_eq!(
                r.line,
                line_of(input, span.start),
                "ref {i}: line does not match span {span:?}: {r:?}"
            );
            assert_eq!(
                r.column,
                column_of(input, span.start),
                "ref {i}: column does not match span {span:?}: {r:?}"
            );
            if span.end > span.start {
                assert_eq!(
                    r.end_line,
                    line_of(input, span.end - 1),
                    "ref {i}: end_line does not match span {span:?}: {r:?}"
                );
            }
        }
    }
    for (i, w) in scan.refs.windows(2).enumerate() {
        assert!(
            (w[0].line, w[0].column) <= (w[1].line, w[1].column),
            "refs {i} and {} out of (line, column) order: {:?} then {:?}",
            i + 1,
            w[0],
            w[1]
        );
    }
}

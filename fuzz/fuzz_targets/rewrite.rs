//! Pinning every reference that has a span changes exactly those bytes, and the rewritten file
//! scans to as many references.
#![no_main]

use digestpin::rewrite::{Edit, apply};
use libfuzzer_sys::fuzz_target;

mod common;

const PIN: &str = "@sha256:0000000000000000000000000000000000000000000000000000000000000000";

fuzz_target!(|data: &[u8]| {
    let before = digestpin::dockerfile::scan(data);
    common::check_scan(data, &before);
    let mut edits: Vec<Edit> = before
        .refs
        .iter()
        .filter_map(|r| {
            r.span.clone().map(|span| Edit {
                span,
                replacement: format!("{}{PIN}", r.original),
            })
        })
        .collect();
    let out = match apply(data, &edits) {
        Ok(out) => out,
        Err(e) => panic!(
            "apply failed on the scanner's own spans: {e}; refs: {:?}",
            before.refs
        ),
    };

    // Reconstruct: every byte outside the spans is unchanged, each span holds its replacement.
    edits.sort_by_key(|e| (e.span.start, e.span.end));
    let mut copied = 0; // in `data`
    let mut at = 0; // in `out`
    for e in &edits {
        let keep = &data[copied..e.span.start];
        assert_eq!(
            out.get(at..at + keep.len()),
            Some(keep),
            "bytes {copied}..{} before edit {:?} changed",
            e.span.start,
            e.span
        );
        at += keep.len();
        let rep = e.replacement.as_bytes();
        assert_eq!(
            out.get(at..at + rep.len()),
            Some(rep),
            "replacement for {:?} not found at output offset {at}",
            e.span
        );
        at += rep.len();
        copied = e.span.end;
    }
    let tail = &data[copied..];
    assert_eq!(
        out.get(at..),
        Some(tail),
        "bytes after the last edit changed"
    );

    let after = digestpin::dockerfile::scan(&out);
    common::check_scan(&out, &after);
    assert_eq!(
        before.refs.len(),
        after.refs.len(),
        "pinning changed the number of refs\nbefore: {:?}\nafter: {:?}\nrewritten: {:?}",
        before.refs,
        after.refs,
        String::from_utf8_lossy(&out)
    );
});

//! The YAML kinds (compose, GitHub Actions, GitLab CI, Kubernetes) on any bytes: never panic;
//! every reference they would pin has a span inside the input holding exactly its text, spans
//! do not overlap, and pinning them all changes no byte outside them.
#![no_main]

use std::io::Cursor;

use digestpin::found::RefState;
use digestpin::kinds::ALL;
use digestpin::rewrite::{Edit, apply};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for kind in ALL.iter().filter(|k| k.name() != "dockerfile") {
        let scan = kind.scan(&mut Cursor::new(data)).expect("reading a slice");
        let mut edits: Vec<Edit> = scan
            .refs
            .iter()
            .filter(|r| matches!(r.state, RefState::Pinned | RefState::Unpinned))
            .filter_map(|r| {
                let span = r.span.clone()?;
                assert!(span.end <= data.len(), "{}: {span:?}", kind.name());
                assert_eq!(
                    &data[span.clone()],
                    r.original.as_bytes(),
                    "{}",
                    kind.name()
                );
                Some(Edit {
                    span,
                    replacement: format!("{}@sha256:{}", r.original, "0".repeat(64)),
                })
            })
            .collect();
        edits.sort_by_key(|e| e.span.start);
        let pinned = apply(data, &edits).expect("spans inside the input, not overlapping");
        let (mut at, mut out) = (0, 0);
        for e in &edits {
            let len = e.span.start - at;
            assert_eq!(&data[at..e.span.start], &pinned[out..out + len]);
            out += len + e.replacement.len();
            at = e.span.end;
        }
        assert_eq!(&data[at..], &pinned[out..]);
    }
});

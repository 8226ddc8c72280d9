//! Property tests: the scanner never panics on any bytes; rewriting any set of found spans
//! changes no byte outside them; references round-trip through parse and display.

use digestpin::dockerfile::{scan, scan_in_chunks};
use digestpin::reference::Reference;
use digestpin::rewrite::{Edit, apply};
use proptest::prelude::*;

/// Fragments that exercise the scanner's corners, joined into Dockerfile-like text.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("FROM cgr.dev/chainguard/go:latest AS build".to_owned()),
        Just("from alpine:3.20".to_owned()),
        Just("FROM \"img:1\"".to_owned()),
        Just("FROM build".to_owned()),
        Just("FROM scratch".to_owned()),
        Just("FROM [::1]:5000/app:dev".to_owned()),
        Just("FROM a\\".to_owned()),
        Just("FROM ${BASE}".to_owned()),
        Just("ARG BASE=cgr.dev/chainguard/static:latest".to_owned()),
        Just("ARG TAG".to_owned()),
        Just("COPY --from=build /a /b".to_owned()),
        Just("COPY --link --from=img:2 /a /b".to_owned()),
        Just("RUN --mount=type=bind,from=img:3,target=/x true".to_owned()),
        Just("ONBUILD COPY --from=img:4 /a /b".to_owned()),
        Just("RUN <<EOF".to_owned()),
        Just("RUN <<-EOF cat && <<'E2' cat".to_owned()),
        Just("EOF".to_owned()),
        Just("\tEOF".to_owned()),
        Just("E2".to_owned()),
        Just("# escape=`".to_owned()),
        Just("# syntax=docker/dockerfile:1".to_owned()),
        Just("# digestpin: ignore".to_owned()),
        Just("  # comment".to_owned()),
        Just(String::new()),
        Just("RUN echo \\".to_owned()),
        Just("  `".to_owned()),
        Just("\u{feff}FROM x".to_owned()),
        "[ -~]{0,40}",
        "\\PC{0,20}",
    ]
}

fn dockerfile() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(
            (
                fragment(),
                prop_oneof![Just("\n"), Just("\r\n"), Just("\r")],
            ),
            0..30,
        ),
        any::<bool>(),
    )
        .prop_map(|(lines, bom)| {
            let mut s = String::from(if bom { "\u{feff}" } else { "" });
            for (line, end) in lines {
                s.push_str(&line);
                s.push_str(end);
            }
            s
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn scanner_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
        let found = scan(&bytes);
        for r in &found.refs {
            if let Some(span) = &r.span {
                prop_assert!(span.end <= bytes.len());
            }
        }
    }

    #[test]
    fn reading_in_chunks_of_any_size_finds_the_same(src in dockerfile(), chunk in 1usize..64) {
        let whole = scan(src.as_bytes());
        let chunked = scan_in_chunks(src.as_bytes(), chunk);
        prop_assert_eq!(whole.error, chunked.error);
        prop_assert_eq!(whole.refs, chunked.refs);
    }

    #[test]
    fn spans_are_exact_and_in_order(src in dockerfile()) {
        let found = scan(src.as_bytes());
        let mut previous = (0, 0);
        for r in &found.refs {
            prop_assert!(r.line >= 1 && r.column >= 1 && r.end_line >= r.line);
            prop_assert!((r.line, r.column) >= previous);
            previous = (r.line, r.column);
            if let Some(span) = &r.span {
                prop_assert!(src.is_char_boundary(span.start) && src.is_char_boundary(span.end));
                prop_assert_eq!(&src[span.clone()], &*r.original);
            }
        }
    }

    #[test]
    fn rewriting_found_spans_changes_nothing_else(src in dockerfile(), mask in any::<u64>()) {
        let found = scan(src.as_bytes());
        let spans: Vec<_> = found
            .refs
            .iter()
            .filter_map(|r| r.span.clone())
            .enumerate()
            .filter(|(i, _)| mask & (1 << (i % 64)) != 0)
            .map(|(_, s)| s)
            .collect();
        let edits: Vec<Edit> = spans
            .iter()
            .map(|s| Edit { span: s.clone(), replacement: format!("X{}X", s.len()) })
            .collect();
        let out = apply(src.as_bytes(), &edits).unwrap();
        // Walk both buffers: outside the spans they must be byte-identical.
        let (mut i, mut j) = (0, 0);
        let mut sorted = spans.clone();
        sorted.sort_by_key(|s| s.start);
        for span in &sorted {
            prop_assert_eq!(&src.as_bytes()[i..span.start], &out[j..j + (span.start - i)]);
            j += span.start - i;
            let replacement = format!("X{}X", span.len());
            prop_assert_eq!(&out[j..j + replacement.len()], replacement.as_bytes());
            j += replacement.len();
            i = span.end;
        }
        prop_assert_eq!(&src.as_bytes()[i..], &out[j..]);
    }

    #[test]
    fn references_round_trip(
        domain in prop::option::of(prop_oneof![
            "[a-z][a-z0-9-]{0,8}[a-z0-9]\\.[a-z]{2,5}",
            "localhost",
            "[a-z]{1,8}\\.[a-z]{2,4}:[0-9]{2,5}",
            "\\[[0-9a-f:]{2,12}\\]:[0-9]{2,5}",
        ]),
        path in prop::collection::vec("[a-z0-9]{1,6}([._-][a-z0-9]{1,6}){0,2}", 1..4),
        tag in prop::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}"),
        digest in prop::option::of("[0-9a-f]{64}"),
    ) {
        let mut text = String::new();
        if let Some(d) = &domain {
            text.push_str(d);
            text.push('/');
        }
        text.push_str(&path.join("/"));
        if let Some(t) = &tag {
            text.push(':');
            text.push_str(t);
        }
        if let Some(d) = &digest {
            text.push_str("@sha256:");
            text.push_str(d);
        }
        prop_assume!(text.len() < 200);
        let parsed = Reference::parse(&text);
        prop_assert!(parsed.is_ok(), "{text}: {parsed:?}");
        let parsed = parsed.unwrap();
        prop_assert_eq!(parsed.to_string(), text.clone());
        prop_assert_eq!(Reference::parse(&parsed.to_string()).unwrap(), parsed);
    }
}

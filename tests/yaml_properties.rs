//! Properties of the YAML kinds on generated and arbitrary input: no panic on any bytes; every
//! span a kind reports holds exactly the reference's text; and rewriting the spans (pinning
//! them) changes no byte outside them, and scanning the result finds references at the same
//! sites.

use std::io::Cursor;

use digestpin::found::RefState;
use digestpin::kinds::{ALL, FileKind};
use digestpin::rewrite::{Edit, apply};
use proptest::prelude::*;
use proptest::strategy::ValueTree;

fn yaml_kinds() -> Vec<&'static dyn FileKind> {
    ALL.iter()
        .copied()
        .filter(|k| k.name() != "dockerfile")
        .collect()
}

/// Pieces of the YAML the kinds read, joined at random (mostly not YAML): keys, quoting styles, anchors,
/// aliases, merges, flow style, comments, document markers, CRLF, a BOM, tabs, variables.
fn fragment() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "services:\n",
        "  web:\n",
        "    image: cgr.dev/chainguard/go:latest\n",
        "    image: 'alpine:3.20'\n",
        "    image: \"postgres:16\"\n",
        "    image: \"${DB:-redis:7}\"\n",
        "    image: ${X}\n",
        "    build: .\n",
        "    <<: *a\n",
        "x: &a\n  image: busybox\n",
        "jobs:\n  t:\n    container: node:20\n",
        "    steps:\n      - uses: docker://alpine:3.20\n",
        "      - {uses: 'docker://busybox'}\n",
        "apiVersion: v1\nkind: Pod\n",
        "spec:\n  containers:\n  - image: nginx:1\n",
        "  - {name: a, image: \"é:1\"}\n",
        "image: alpine\n",
        "default:\n  services: [postgres:16, {name: 'redis:7'}]\n",
        "    image: >-\n      folded:1\n",
        "    image: \"esc\\x3a1\"\n",
        "# digestpin: ignore\n",
        "  # comment\twith tab\n",
        "---\n",
        "...\n",
        "\r\n",
        "\u{feff}",
        "\t",
        " ",
        "é",
        "{",
        "}",
        "\"",
        "'",
        "&b ",
        "*b",
    ])
}

/// A reference as a YAML value: plain, single- or double-quoted, sometimes behind a Compose
/// default or a `docker://` prefix, sometimes followed by a comment.
fn value(prefix: &'static str) -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec![
            "cgr.dev/chainguard/go:latest",
            "alpine:3.20",
            "busybox",
            "ghcr.io/o/é:1",
            "registry.local:5000/a/b:c",
            "x@sha256:0000000000000000000000000000000000000000000000000000000000000000",
        ]),
        0..5usize,
        prop::sample::select(vec!["", " # c", "  #\ttab", " # digestpin: ignore"]),
    )
        .prop_map(move |(r, style, comment)| {
            let text = format!("{prefix}{r}");
            let v = match style {
                0 => text,
                1 => format!("'{text}'"),
                2 => format!("\"{text}\""),
                3 if prefix.is_empty() => format!("\"${{V:-{text}}}\""),
                _ => format!("\"{text}\""),
            };
            format!("{v}{comment}")
        })
}

/// One document of one of the kinds, built from generated values.
fn document() -> impl Strategy<Value = String> {
    (0..5usize, value(""), value(""), value("docker://"), any::<bool>()).prop_map(
        |(which, a, b, docker, build)| match which {
            0 => format!(
                "x: &a\n  image: {a}\nservices:\n  s:\n    image: {b}\n{}  m:\n    <<: *a\n  f: {{image: {b}}}\n",
                if build { "    build: .\n" } else { "" }
            ),
            1 => format!(
                "jobs:\n  j:\n    container: {a}\n    services:\n      db:\n        image: {b}\n    steps:\n      - uses: {docker}\n"
            ),
            2 => format!(
                "apiVersion: v1\nkind: Pod\nspec:\n  initContainers:\n  - image: {a}\n  containers:\n  - name: x\n    image: {b}\n"
            ),
            3 => format!("image: {a}\ndefault:\n  services:\n    - {b}\n    - name: {a}\n"),
            _ => format!("runs:\n  using: docker\n  image: {docker}\n"),
        },
    )
}

/// Whole files: documents separated by `---` (sometimes ended by `...`), LF or CRLF, a BOM or
/// not, a final newline or not.
fn yamlish() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec((document(), any::<bool>()), 1..4),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(docs, crlf, bom, final_newline)| {
            let mut text = String::new();
            if bom {
                text.push('\u{feff}');
            }
            for (i, (doc, end)) in docs.iter().enumerate() {
                if i > 0 {
                    text.push_str("---\n");
                }
                text.push_str(doc);
                if *end {
                    text.push_str("...\n");
                }
            }
            if !final_newline {
                text.pop();
            }
            if crlf {
                text = text.replace('\n', "\r\n");
            }
            text.into_bytes()
        })
}

/// How many generated files had something to pin (the generator must reach the kinds).
static PINNED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn check(bytes: &[u8]) -> Result<(), TestCaseError> {
    for kind in yaml_kinds() {
        let scan = kind.scan(&mut Cursor::new(bytes)).unwrap();
        let mut edits = Vec::new();
        for r in &scan.refs {
            let Some(span) = &r.span else { continue };
            prop_assert!(span.end <= bytes.len(), "{}: {span:?}", kind.name());
            if matches!(r.state, RefState::Pinned | RefState::Unpinned) {
                prop_assert_eq!(
                    &bytes[span.clone()],
                    r.original.as_bytes(),
                    "{}",
                    kind.name()
                );
                edits.push(Edit {
                    span: span.clone(),
                    replacement: format!("{}@sha256:{}", r.original, "a".repeat(64)),
                });
            }
        }
        if !edits.is_empty() {
            PINNED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let pinned = apply(bytes, &edits).unwrap();
        // Outside the spans, the bytes are unchanged.
        let mut at = 0;
        let mut out = 0;
        let mut sorted = edits.clone();
        sorted.sort_by_key(|e| e.span.start);
        for e in &sorted {
            let len = e.span.start - at;
            prop_assert_eq!(&bytes[at..e.span.start], &pinned[out..out + len]);
            out += len + e.replacement.len();
            at = e.span.end;
        }
        prop_assert_eq!(&bytes[at..], &pinned[out..]);
        // The pinned file has the same references at the same sites.
        let again = kind.scan(&mut Cursor::new(&pinned[..])).unwrap();
        let sites = |s: &digestpin::found::Scan| {
            s.refs
                .iter()
                .map(|r| r.site.to_string())
                .collect::<Vec<_>>()
        };
        prop_assert_eq!(sites(&again), sites(&scan), "{}", kind.name());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn yaml_kinds_never_panic_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        check(&bytes)?;
    }

    #[test]
    fn yaml_kinds_spans_hold_the_text_and_pinning_touches_nothing_else(bytes in yamlish()) {
        check(&bytes)?;
    }

    #[test]
    fn yaml_kinds_hold_on_a_soup_of_yaml_fragments(
        parts in prop::collection::vec(fragment(), 0..24)
    ) {
        check(parts.concat().as_bytes())?;
    }
}

#[test]
fn the_generator_reaches_the_kinds() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    for _ in 0..500 {
        let bytes = yamlish().new_tree(&mut runner).unwrap().current();
        check(&bytes).unwrap();
    }
    let pinned = PINNED.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        pinned >= 50,
        "only {pinned} of 500 generated files had a reference to pin"
    );
}

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

/// PyYAML as the oracle on generated files: each original and its pinned copy (every span
/// pinned by the kind that reads it) load to the same documents but for the pinned values,
/// which only gained a digest; and every reference a kind reports is a string PyYAML sees at
/// its key path. One interpreter for all the files.
#[test]
fn pyyaml_agrees_on_generated_files() {
    let python = crate::yaml_kinds::python();
    if !crate::yaml_kinds::have_pyyaml() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut cases = Vec::new();
    for n in 0..300 {
        let bytes = yamlish().new_tree(&mut runner).unwrap().current();
        for kind in yaml_kinds() {
            let scan = kind.scan(&mut Cursor::new(&bytes[..])).unwrap();
            let edits: Vec<Edit> = scan
                .refs
                .iter()
                .filter(|r| matches!(r.state, RefState::Unpinned))
                .filter_map(|r| {
                    Some(Edit {
                        span: r.span.clone()?,
                        replacement: format!("{}@sha256:{}", r.original, "a".repeat(64)),
                    })
                })
                .collect();
            if scan.refs.is_empty() {
                continue;
            }
            let original = dir.path().join(format!("{n}-{}.orig", kind.name()));
            let pinned = dir.path().join(format!("{n}-{}.pinned", kind.name()));
            std::fs::write(&original, &bytes).unwrap();
            std::fs::write(&pinned, apply(&bytes, &edits).unwrap()).unwrap();
            let listed: Vec<serde_json::Value> = scan
                .refs
                .iter()
                .map(|r| serde_json::json!({"site": r.site.as_str(), "original": &*r.original}))
                .collect();
            cases.push(serde_json::json!({
                "original": original, "pinned": pinned, "listed": listed,
                "pinned_sites": scan.refs.iter()
                    .filter(|r| r.state == RefState::Unpinned && r.span.is_some())
                    .map(|r| r.site.as_str()).collect::<Vec<_>>(),
            }));
        }
    }
    assert!(cases.len() >= 300, "{} cases", cases.len());
    let script = r#"
import json, re, sys, yaml
cases = json.load(open(sys.argv[1]))
load = lambda p: list(yaml.safe_load_all(open(p, encoding="utf-8-sig", newline="")))
def at(doc, site):
    try:
        for part in re.findall(r"[^.\[\]]+|\[\d+\]", site):
            doc = doc[int(part[1:-1])] if part.startswith("[") else doc[part]
        return doc
    except (KeyError, IndexError, TypeError):
        return None
checked = 0
for case in cases:
    orig, pinned = load(case["original"]), load(case["pinned"])
    assert len(orig) == len(pinned), case
    diffs = []
    def walk(a, b, path):
        if isinstance(a, dict):
            assert isinstance(b, dict) and list(a) == list(b), (case, path)
            for k in a:
                walk(a[k], b[k], path + [str(k)])
        elif isinstance(a, list):
            assert isinstance(b, list) and len(a) == len(b), (case, path)
            for i, (x, y) in enumerate(zip(a, b)):
                walk(x, y, path + ["[%d]" % i])
        elif a != b:
            assert isinstance(a, str) and isinstance(b, str), (case, path, a, b)
            assert b.replace("@sha256:" + "a" * 64, "") == a, (case, path, a, b)
            diffs.append(".".join(path).replace(".[", "["))
    for a, b in zip(orig, pinned):
        walk(a, b, [])
    for site in case["pinned_sites"]:
        assert site in diffs, (case, site, diffs)
    for ref in case["listed"]:
        values = [at(d, ref["site"]) for d in orig if isinstance(d, dict)]
        assert any(isinstance(v, str) and ref["original"] in v.replace("$$", "$") for v in values), (case, ref)
    checked += 1
print(checked)
"#;
    let cases_path = dir.path().join("cases.json");
    std::fs::write(&cases_path, serde_json::to_vec(&cases).unwrap()).unwrap();
    let out = std::process::Command::new(&python)
        .args(["-c", script])
        .arg(&cases_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let checked: usize = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert_eq!(checked, cases.len());
}

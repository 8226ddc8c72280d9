use super::*;

const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// (instruction, original, state, line, column) of every reference.
fn refs(src: &str) -> Vec<(String, String, RefState, usize, usize)> {
    let scan = scan(src.as_bytes());
    assert_eq!(scan.error, None, "{src}");
    scan.refs
        .into_iter()
        .map(|r| {
            if let Some(span) = &r.span {
                assert_eq!(&src[span.clone()], &*r.original, "span of {r:?}");
            }
            (
                r.site.to_string(),
                r.original.to_string(),
                r.state,
                r.line,
                r.column,
            )
        })
        .collect()
}

fn r(
    i: &'static str,
    o: &str,
    s: RefState,
    line: usize,
    col: usize,
) -> (String, String, RefState, usize, usize) {
    (i.to_owned(), o.to_owned(), s, line, col)
}

use RefState::*;

#[test]
fn multistage_with_stage_refs_by_name_and_index() {
    let src = "FROM cgr.dev/chainguard/go:latest AS Build\nFROM build AS test\nFROM cgr.dev/chainguard/static\nCOPY --from=BUILD /a /a\nCOPY --from=0 /b /b\nCOPY --from=cgr.dev/chainguard/busybox:latest /c /c\nRUN --mount=type=bind,from=test,target=/t --mount=from=alpine:3,target=/x true\n";
    assert_eq!(
        refs(src),
        vec![
            r("FROM", "cgr.dev/chainguard/go:latest", Unpinned, 1, 6),
            r("FROM", "build", Stage, 2, 6),
            r("FROM", "cgr.dev/chainguard/static", Unpinned, 3, 6),
            r("COPY", "BUILD", Stage, 4, 13),
            r("COPY", "0", Stage, 5, 13),
            r("COPY", "cgr.dev/chainguard/busybox:latest", Unpinned, 6, 13),
            r("RUN", "test", Stage, 7, 28),
            r("RUN", "alpine:3", Unpinned, 7, 56),
        ]
    );
}

#[test]
fn a_stage_is_only_an_earlier_stage() {
    let src = "FROM later\nFROM alpine AS later\nFROM a AS a\n";
    let states: Vec<RefState> = refs(src).into_iter().map(|r| r.2).collect();
    assert_eq!(states, [Unpinned, Unpinned, Unpinned]);
}

#[test]
fn scratch_pinned_and_uppercase_scratch() {
    let src =
        format!("FROM scratch\nFROM img:1@sha256:{HEX}\nfrom img@sha256:{HEX}\nFROM SCRATCH\n");
    let got = refs(&src);
    assert_eq!(got[0].2, Scratch);
    assert_eq!(got[1].2, Pinned);
    assert_eq!(got[2].2, Pinned);
    // BuildKit only treats lowercase `scratch` as the empty image; `SCRATCH` fails to build.
    assert_eq!(got[3].2, Invalid);
}

#[test]
fn heredoc_bodies_are_data() {
    let src = "FROM a\nRUN <<EOT bash\nFROM evil:1\nEOT\nCOPY <<-CONF /x\n\tFROM evil:2\n\tCONF\nRUN <<E1 cat && <<'E2' cat\nFROM e:3\nE1\nFROM e:4\nE2\nRUN cat > /f << EOT\nFROM seen:5\nONBUILD RUN <<X\nFROM e:6\nX\nFROM b\n";
    let got: Vec<String> = refs(src).into_iter().map(|r| r.1).collect();
    assert_eq!(got, ["a", "seen:5", "b"]);
}

#[test]
fn heredoc_in_json_form_is_not_a_heredoc() {
    let src = "FROM a\nRUN [\"cat\", \"<<EOF\"]\nFROM b\nEOF\n";
    let got: Vec<String> = refs(src).into_iter().map(|r| r.1).collect();
    assert_eq!(got, ["a", "b"]);
}

#[test]
fn unterminated_heredoc_is_an_error_with_its_line() {
    let scan = scan(b"FROM a\nRUN <<EOF\necho\n");
    assert_eq!(scan.error.unwrap().line, 2);
    assert_eq!(scan.refs.len(), 1);
}

#[test]
fn continuation_keeps_spans_and_splits() {
    let src = "FROM \\\n  # comment\n\n  cgr.dev/x:1 \\   \n  AS b\nFROM cgr.dev/chainguard/\\\nstatic:latest AS x\n";
    let scan = scan(src.as_bytes());
    let a = &scan.refs[0];
    assert_eq!((a.line, a.column, a.end_line, a.state), (4, 3, 4, Unpinned));
    let b = &scan.refs[1];
    assert_eq!(&*b.original, "cgr.dev/chainguard/static:latest");
    assert_eq!((b.line, b.column, b.end_line, b.state), (6, 6, 7, Split));
    assert_eq!(b.span, None);
}

#[test]
fn escape_directive_backtick() {
    let src = "# escape=`\nFROM cgr.dev/x:1 `\n    AS base\nCOPY --from=base C:\\a C:\\b\n";
    assert_eq!(
        refs(src),
        vec![
            r("FROM", "cgr.dev/x:1", Unpinned, 2, 6),
            r("COPY", "base", Stage, 4, 13)
        ]
    );
}

#[test]
fn crlf_bom_and_columns_in_characters() {
    let src = "\u{feff}FROM a:1\r\nLABEL x=\"é\"\r\nFROM \t b:2 AS é\r\n";
    assert_eq!(
        refs(src),
        vec![
            r("FROM", "a:1", Unpinned, 1, 6),
            r("FROM", "b:2", Unpinned, 3, 8)
        ]
    );
}

#[test]
fn global_arg_default_feeding_from_is_reported_at_the_arg() {
    let src = "ARG BASE=cgr.dev/chainguard/python:latest\nFROM ${BASE} AS one\nARG BASE\nRUN echo $BASE\nFROM $BASE\n";
    assert_eq!(
        refs(src),
        vec![r(
            "ARG",
            "cgr.dev/chainguard/python:latest",
            Unpinned,
            1,
            10
        )]
    );
    let quoted = "ARG BASE=\"img:1\"\nFROM \"${BASE}\"\n";
    assert_eq!(refs(quoted), vec![r("ARG", "img:1", Unpinned, 1, 11)]);
}

#[test]
fn arg_default_used_otherwise_is_not_pinned_in_place() {
    let src = "ARG BASE=img:1\nFROM ${BASE}\nFROM ${BASE}-dev\n";
    assert_eq!(
        refs(src),
        vec![
            r("FROM", "${BASE}", Variable, 2, 6),
            r("FROM", "${BASE}-dev", Variable, 3, 6)
        ]
    );
    let partial =
        "ARG REGISTRY=cgr.dev\nARG TAG=latest\nFROM ${REGISTRY}/chainguard/python:${TAG}\n";
    assert_eq!(
        refs(partial),
        vec![r(
            "FROM",
            "${REGISTRY}/chainguard/python:${TAG}",
            Variable,
            3,
            6
        )]
    );
    let no_default = "ARG IMAGE\nFROM ${IMAGE}\n";
    assert_eq!(
        refs(no_default),
        vec![r("FROM", "${IMAGE}", Variable, 2, 6)]
    );
    let unused = "ARG BASE=img:1\nFROM other\n";
    assert_eq!(refs(unused), vec![r("FROM", "other", Unpinned, 2, 6)]);
    let stage_arg = "FROM a AS base\nARG X=img:1\nFROM ${X}\n";
    assert_eq!(refs(stage_arg)[1].2, Variable);
}

#[test]
fn modifiers_and_stage_through_variables() {
    let src = "ARG TAG\nARG S=build\nFROM node:${TAG:-latest} AS build\nFROM node:latest${TAG:+-dev}\nFROM ${S}\n";
    let states: Vec<RefState> = refs(src).into_iter().map(|r| r.2).collect();
    assert_eq!(states, [Variable, Variable, Stage]);
}

#[test]
fn quoted_images_are_located_inside_quotes() {
    let src = "FROM \"cgr.dev/chainguard/node:latest\"\nCOPY --from='img:1' /a /b\n";
    assert_eq!(
        refs(src),
        vec![
            r("FROM", "cgr.dev/chainguard/node:latest", Unpinned, 1, 7),
            r("COPY", "img:1", Unpinned, 2, 14)
        ]
    );
}

#[test]
fn onbuild_forms() {
    let src = "FROM a\nonbuild COPY --from=b:1 /x /y\nONBUILD RUN --mount=from=c:2,target=/c true\nONBUILD ADD --from=d:3 /x /y\n";
    let got: Vec<String> = refs(src).into_iter().map(|r| r.0).collect();
    assert_eq!(got, ["FROM", "ONBUILD COPY", "ONBUILD RUN", "ONBUILD ADD"]);
}

#[test]
fn ignore_comment_skips_the_next_instruction() {
    let src =
        "# digestpin: ignore\nFROM a:1\nFROM b:1\n# digestpin: ignore\nCOPY --from=c:1 /a /b\n";
    let states: Vec<RefState> = refs(src).into_iter().map(|r| r.2).collect();
    assert_eq!(states, [Ignored, Unpinned, Ignored]);
}

#[test]
fn invalid_references_carry_a_reason() {
    let scan = scan(b"FROM cgr.dev/Chainguard/x:1\nFROM \"unterminated\n");
    assert_eq!(scan.refs[0].state, Invalid);
    assert_eq!(
        scan.refs[0].problem.as_deref(),
        Some("repository name must be lowercase")
    );
    assert_eq!(scan.refs[1].state, Invalid);
}

#[test]
fn ipv6_and_ports() {
    let src = "FROM [::1]:5000/app:dev\nFROM localhost:5000/team/app:1.0\n";
    let states: Vec<RefState> = refs(src).into_iter().map(|r| r.2).collect();
    assert_eq!(states, [Unpinned, Unpinned]);
}

#[test]
fn binary_and_invalid_utf8_are_errors() {
    assert_eq!(scan(b"FROM a\nFROM \xff\n").error.unwrap().line, 2);
    assert_eq!(scan(b"FROM a\n\nx\0").error.unwrap().line, 3);
}

#[test]
fn flags_without_images_and_copy_link() {
    let src = "FROM --platform=$BUILDPLATFORM a AS b\nCOPY --link --chown=1:1 --from=img:1 /a /b\nADD --checksum=sha256:abc https://x /x\nRUN --mount=type=cache,target=/c true\n";
    let got: Vec<String> = refs(src).into_iter().map(|r| r.1).collect();
    assert_eq!(got, ["a", "img:1"]);
}

/// The file is read 64 KiB at a time and only the current instruction is kept: references in a
/// file many chunks long, with instructions, heredocs, CRLFs and multi-byte characters across
/// chunk boundaries, are exactly those of its parts.
#[test]
fn a_file_many_chunks_long_scans_like_its_parts() {
    let header = "# escape=\\\nARG BASE=alpine:3.20\nFROM $BASE\n";
    let block = "FROM cgr.dev/chainguard/static:latest AS b\r\nRUN <<EOF cat\r\n\
                 echo ü FROM x\r\nEOF\r\nCOPY --from=b \\\n  # c\n  /a /b\n\
                 RUN --mount=type=cache,from=python:3.12,target=/x echo ü \\\r\n  done\n\
                 FROM   \"ghcr.io/o/ü-not-lowercase:1\"\n";
    let block_lines = block.matches('\n').count();
    let alone = scan(format!("{header}{block}").as_bytes());
    let header_refs = alone.refs.iter().filter(|r| r.line <= 3).count();
    let copies = 5 * 64 * 1024 / block.len() + 3;
    let whole = format!("{header}{}", block.repeat(copies));
    let scanned = scan(whole.as_bytes());
    assert_eq!(scanned.error, None);
    assert_eq!(
        scanned.refs.len(),
        header_refs + copies * (alone.refs.len() - header_refs)
    );
    for (k, chunk) in scanned.refs[header_refs..]
        .chunks(alone.refs.len() - header_refs)
        .enumerate()
    {
        for (got, want) in chunk.iter().zip(&alone.refs[header_refs..]) {
            let mut want = want.clone();
            want.line += k * block_lines;
            want.end_line += k * block_lines;
            want.span = want
                .span
                .map(|s| s.start + k * block.len()..s.end + k * block.len());
            assert_eq!(*got, want, "copy {k}");
            if let Some(span) = &got.span {
                assert_eq!(&whole.as_bytes()[span.clone()], got.original.as_bytes());
            }
        }
    }
}

/// A file that is not text is reported as such even after a point where BuildKit stops, and a
/// NUL anywhere makes it binary, whatever comes first.
#[test]
fn not_text_outranks_parse_errors_wherever_it_is() {
    let late_bad_utf8 = [&b"# escape=x\nFROM a\n"[..], &[b'F', 0xff, b'\n']].concat();
    let e = scan(&late_bad_utf8).error.unwrap();
    assert_eq!((e.line, e.message.as_str()), (3, "not valid UTF-8 text"));
    let nul_then_bad = [&b"FROM a\nRUN \0\n"[..], &[0xc3, b'\n']].concat();
    let found = scan(&nul_then_bad);
    assert_eq!(found.error.unwrap().line, 3);
    assert!(found.refs.is_empty());
    let nul = scan(b"FROM a\nRUN <<EOF\n\0\n");
    assert_eq!(nul.error.unwrap().line, 3);
    assert!(nul.refs.is_empty());
}

/// Found by fuzzing: BuildKit's flag lexer takes the byte 0xA0 for a space, also inside a
/// character (U+04A0 is D2 A0), so the flag value ends mid-character. It is invalid, and has no
/// span: the bytes are not text of their own in the file.
#[test]
fn a_flag_cut_inside_a_character_has_no_span() {
    let data = b"#stc/passwd /etc/passwd\x7fAR\nCOPY --from=cgr.dev/chainguard\xd2\xa0";
    let found = scan(data);
    assert_eq!(found.refs.len(), 1);
    let r = &found.refs[0];
    assert_eq!(
        (r.state, r.span.clone(), r.line, r.column),
        (RefState::Invalid, None, 2, 13)
    );
    assert_eq!(&*r.original, "cgr.dev/chainguard\u{fffd}");
}

#[test]
fn syntax_directive_is_a_reference_pinned_in_place() {
    let pinned = format!("docker/dockerfile:1.7@sha256:{HEX}");
    type Found = (String, String, RefState, usize, usize);
    let cases: Vec<(String, Vec<Found>)> = vec![
        (
            "# syntax=docker/dockerfile:1\nFROM a\n".into(),
            vec![
                r("syntax", "docker/dockerfile:1", Unpinned, 1, 10),
                r("FROM", "a", Unpinned, 2, 6),
            ],
        ),
        // Spaces, key case, CRLF and trailing blanks as BuildKit's directive regexp allows.
        (
            "  #  Syntax = docker/dockerfile:1  \r\n# escape=`\r\nFROM a\r\n".into(),
            vec![
                r("syntax", "docker/dockerfile:1", Unpinned, 1, 15),
                r("FROM", "a", Unpinned, 3, 6),
            ],
        ),
        // After another directive, and already pinned.
        (
            format!("# escape=\\\n#syntax={pinned}\nFROM a\n"),
            vec![
                r("syntax", &pinned, Pinned, 2, 9),
                r("FROM", "a", Unpinned, 3, 6),
            ],
        ),
        // Not a directive once another line came first: a comment.
        (
            "# hello\n# syntax=docker/dockerfile:1\nFROM a\n".into(),
            vec![r("FROM", "a", Unpinned, 3, 6)],
        ),
        (
            "FROM a\n# syntax=docker/dockerfile:1\n".into(),
            vec![r("FROM", "a", Unpinned, 1, 6)],
        ),
        (
            "\n# syntax=docker/dockerfile:1\nFROM a\n".into(),
            vec![r("FROM", "a", Unpinned, 3, 6)],
        ),
        // An unusable frontend name is reported as invalid, like any reference.
        (
            "# syntax=Docker/Dockerfile\nFROM a\n".into(),
            vec![
                r("syntax", "Docker/Dockerfile", Invalid, 1, 10),
                r("FROM", "a", Unpinned, 2, 6),
            ],
        ),
    ];
    for (src, want) in cases {
        assert_eq!(refs(&src), want, "{src:?}");
    }
    let bom = "\u{feff}# syntax=docker/dockerfile:1\nFROM a\n";
    let scan = scan(bom.as_bytes());
    assert_eq!((scan.refs[0].line, scan.refs[0].column), (1, 10));
    assert_eq!(
        &bom[scan.refs[0].span.clone().unwrap()],
        "docker/dockerfile:1"
    );
    let dup = scan_in_chunks(b"# syntax=a\n# syntax=b\nFROM a\n", 3);
    assert!(dup.error.is_some());
}

#[test]
fn dockerfile_names() {
    for yes in [
        "Dockerfile",
        "Containerfile",
        "Dockerfile.dev",
        "Dockerfile-dev",
        "Containerfile.prod",
        "app.Dockerfile",
        "app.dockerfile",
        "x.Containerfile",
        "x.containerfile",
    ] {
        assert!(is_dockerfile_name(yes.as_bytes()), "{yes}");
    }
    for no in [
        "dockerfile",
        "Dockerfile.",
        ".dockerfile",
        "Dockerfile-",
        "Containerfile-dev",
        "README.md",
        "Makefile",
    ] {
        assert!(!is_dockerfile_name(no.as_bytes()), "{no}");
    }
    assert!(is_dockerfile_name(b"\xff\xfe.Dockerfile"));
    assert!(is_dockerfile_name(b"Dockerfile.\x1b[31m"));
}

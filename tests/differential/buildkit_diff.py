#!/usr/bin/env python3
"""Differential test: digestpin's Dockerfile scanner against BuildKit's own parser.

For every Dockerfile given on the command line (files, or directories searched
recursively for files named like Dockerfiles), this script

1. parses the file with the PyPI package ``dockerfile`` (3.4.0), which embeds
   BuildKit's Go parser, and derives from its ``Command`` tuples every position
   where an image reference sits (``FROM``, ``COPY/ADD --from=``,
   ``RUN --mount=...,from=...``, the same three after ``ONBUILD``), plus the
   ``# syntax=IMAGE`` parser directive (the frontend image BuildKit pulls first;
   the binding returns no directives, so it is read with BuildKit's directive
   regexp, as ``detect_escape`` does) as instruction ``syntax``;
2. runs ``digestpin list --format json FILE``;
3. checks that both sets are exactly equal: same instruction, same text, and our
   ``line``..``end_line`` inside the instruction's ``start_line``..``end_line``.
   It also checks that ``column`` really points at the reference text in the file.

The one allowed difference is the ARG-default rule of SPEC.md: a ``FROM $V`` /
``FROM ${V}`` whose global ARG default is a literal reference may be reported once
at the ARG default instead (``"instruction": "ARG"``).

Usage::

    python buildkit_diff.py --bin target/debug/digestpin fixtures/conformance
    python buildkit_diff.py --bin target/debug/digestpin --random 300 --seed 1 \\
        --workdir /tmp/digestpin-random
    python buildkit_diff.py --show-expected FILE...   # BuildKit side only, no --bin
    python buildkit_diff.py --self-test               # the comparison logic itself

With --random, the generated files that pass are deleted; failing ones are kept
in --workdir and their paths printed (--keep keeps all of them).

Every mismatch is printed as one line; the exit status is 1 if there was any
mismatch (or a tool failure), 0 otherwise.  Only the standard library and the
``dockerfile`` package are used.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

try:
    import dockerfile
except ImportError:  # pragma: no cover - reported to the user
    sys.stderr.write(
        "buildkit_diff.py needs the PyPI package 'dockerfile' (pip install dockerfile==3.4.0)\n"
    )
    sys.exit(3)

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen_dockerfiles  # noqa: E402  (local module, next to this script)


# A FROM whose whole image text is one variable: $V or ${V}.
SINGLE_VARIABLE = re.compile(r"^\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))$")

# A parser directive line (BuildKit's directiveRegexp).
DIRECTIVE = re.compile(r"^#[ \t]*([a-zA-Z][a-zA-Z0-9]*)[ \t]*=[ \t]*(.+?)[ \t]*$")

# Directive keys the oracle (BuildKit v0.12) knows; any other line ends the directive
# block there.  (Newer BuildKit also knows `check`; the generator puts it last.)
KNOWN_DIRECTIVES = ("syntax", "escape")

# The leading ONBUILD keyword of a physical line.
ONBUILD_KEYWORD = re.compile(r"^(\s*)(onbuild)", re.IGNORECASE)

# Exit codes of `digestpin list` that still come with a JSON document.
TOOL_OK_EXIT_CODES = (0, 2)


class DerivationError(Exception):
    """The BuildKit side could not be derived (a bug in this script or the oracle)."""


@dataclass(frozen=True)
class Expected:
    """One image-reference position implied by BuildKit's parse."""

    instruction: str  # "FROM", "COPY", "ONBUILD RUN", ...
    text: str  # reference text, surrounding quotes removed
    start_line: int  # the instruction's line range (1-based, inclusive)
    end_line: int
    variable: str | None = None  # V when a FROM's text is exactly $V or ${V}


@dataclass(frozen=True)
class GlobalArg:
    """One variable declared by an ARG instruction before the first FROM."""

    name: str
    default: str | None  # quotes removed; None when declared without a default
    start_line: int
    end_line: int


@dataclass
class BuildKitView:
    """Everything derived from BuildKit's parse of one file."""

    positions: list[Expected] = field(default_factory=list)
    global_args: list[GlobalArg] = field(default_factory=list)
    parse_error: str | None = None
    instructions: list[str] = field(default_factory=list)  # keywords, uppercased


@dataclass(frozen=True)
class Reported:
    """One reference as reported by `digestpin list --format json`."""

    instruction: str
    text: str
    line: int
    end_line: int
    column: int
    state: str


@dataclass
class ToolView:
    """digestpin's answer for one file."""

    refs: list[Reported] = field(default_factory=list)
    error: str | None = None


@dataclass
class FileResult:
    """Outcome of comparing one file."""

    path: Path
    mismatches: list[str] = field(default_factory=list)
    refs_compared: int = 0
    buildkit_error: str | None = None


# --------------------------------------------------------------------------
# BuildKit side
# --------------------------------------------------------------------------


def strip_quotes(text: str) -> str:
    """Remove one pair of matching surrounding double or single quotes."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def read_text(path: Path) -> str:
    """Read a Dockerfile as UTF-8 text, without a BOM, keeping '\\r' characters."""
    with open(path, encoding="utf-8", errors="replace", newline="") as handle:
        text = handle.read()
    return text.removeprefix("\ufeff")


def detect_escape(lines: list[str]) -> str:
    """The escape character set by a `# escape=` parser directive (default backslash).

    Like BuildKit, directives are only read from the top of the file and the first
    line that is not of the form `# key=value` ends them.
    """
    for line in lines:
        match = DIRECTIVE.match(line.lstrip(" \t"))
        if match is None or match.group(1).lower() not in KNOWN_DIRECTIVES:
            break
        if match.group(1).lower() == "escape":
            return match.group(2)
    return "\\"


def syntax_directive(lines: list[str]) -> Expected | None:
    """The `# syntax=IMAGE` parser directive, as the reference `"instruction": "syntax"`.

    Read like `detect_escape`: only in the directive block at the top of the file.
    """
    for number, line in enumerate(lines, 1):
        match = DIRECTIVE.match(line.lstrip(" \t"))
        if match is None or match.group(1).lower() not in KNOWN_DIRECTIVES:
            break
        if match.group(1).lower() == "syntax":
            return Expected("syntax", match.group(2), number, number)
    return None


def physical_lines(path: Path) -> list[str]:
    """The file's lines as BuildKit counts them: split on '\\n', trailing '\\r' dropped."""
    return [line.removesuffix("\r") for line in read_text(path).split("\n")]


def fix_flag_encoding(flags: tuple[str, ...]) -> tuple[str, ...]:
    """Undo an oracle quirk: the `dockerfile` package decodes flags as Latin-1.

    `COPY --chown=josé` comes back as '--chown=josÃ©'.  Re-encoding as Latin-1 and
    decoding as UTF-8 restores the text; a flag that does not round-trip is kept.
    """
    fixed = []
    for flag in flags:
        try:
            fixed.append(flag.encode("latin-1").decode("utf-8"))
        except (UnicodeEncodeError, UnicodeDecodeError):
            fixed.append(flag)
    return tuple(fixed)


def from_flag_values(flags: tuple[str, ...]) -> list[str]:
    """Values of every `--from=X` flag (COPY/ADD); flag names are case-sensitive."""
    return [flag[len("--from="):] for flag in flags if flag.startswith("--from=")]


def mount_from_values(flags: tuple[str, ...]) -> list[str]:
    """Values of the `from` key (any case) in every `--mount=` flag (RUN).

    BuildKit reads the mount spec with Go's encoding/csv and splits each field at
    its first '='; Python's csv module reads the same way for these inputs.
    """
    values = []
    for flag in flags:
        if not flag.startswith("--mount="):
            continue
        spec = flag[len("--mount="):]
        fields = next(csv.reader([spec]), [])
        for item in fields:
            key, sep, value = item.partition("=")
            if sep and key.lower() == "from":
                values.append(value)
    return values


def flag_references(instruction: str, flags: tuple[str, ...]) -> list[str]:
    """Image-reference texts carried by the flags of a COPY, ADD or RUN instruction."""
    if instruction in ("COPY", "ADD"):
        return from_flag_values(flags)
    if instruction == "RUN":
        return mount_from_values(flags)
    return []


def onbuild_subcommand_flags(path: Path, commands: list) -> dict[int, tuple[str, ...]]:
    """Flags of each ONBUILD's subcommand, keyed by the ONBUILD's start line.

    The `dockerfile` package drops the subcommand's flags (and, for heredocs, its
    `original` holds only the first line).  So the file is parsed a second time
    with every ONBUILD keyword overwritten by spaces: line numbers, the escape
    directive, continuations and heredoc bodies stay exactly as they were, and
    each subcommand becomes an ordinary instruction at the same start line.
    """
    onbuilds = [c for c in commands if c.cmd.upper() == "ONBUILD"]
    if not onbuilds:
        return {}
    lines = read_text(path).split("\n")
    for command in onbuilds:
        index = command.start_line - 1
        match = ONBUILD_KEYWORD.match(lines[index])
        if match is None:
            raise DerivationError(f"line {command.start_line}: ONBUILD keyword not found")
        blank = " " * len(match.group(2))
        lines[index] = match.group(1) + blank + lines[index][match.end():]
    try:
        reparsed = dockerfile.parse_string("\n".join(lines))
    except dockerfile.GoParseError as error:
        raise DerivationError(f"re-parse without ONBUILD keywords failed: {error}") from error
    by_start = {c.start_line: c for c in reparsed}
    result = {}
    for command in onbuilds:
        sub = by_start.get(command.start_line)
        if (
            sub is None
            or sub.cmd.upper() != (command.sub_cmd or "").upper()
            or sub.end_line != command.end_line
            or sub.value != command.value
        ):
            raise DerivationError(
                f"line {command.start_line}: re-parsed ONBUILD subcommand does not match "
                f"({command!r} vs {sub!r})"
            )
        result[command.start_line] = fix_flag_encoding(sub.flags)
    return result


def global_args_of(command) -> list[GlobalArg]:
    """The variables declared by one ARG instruction (`ARG A=x B`)."""
    declared = []
    for item in command.value:
        name, sep, default = item.partition("=")
        declared.append(
            GlobalArg(
                name=strip_quotes(name),
                default=strip_quotes(default) if sep else None,
                start_line=command.start_line,
                end_line=command.end_line,
            )
        )
    return declared


def from_position(command) -> Expected | None:
    """The image position of a FROM instruction (None for a FROM without arguments)."""
    if not command.value:
        return None
    text = strip_quotes(command.value[0])
    match = SINGLE_VARIABLE.match(text)
    variable = (match.group(1) or match.group(2)) if match else None
    return Expected("FROM", text, command.start_line, command.end_line, variable)


def derive_buildkit_view(path: Path) -> BuildKitView:
    """Parse `path` with BuildKit and list the image-reference positions it implies."""
    view = BuildKitView()
    try:
        commands = list(dockerfile.parse_file(str(path)))
    except (dockerfile.GoParseError, dockerfile.GoIOError) as error:
        view.parse_error = f"{type(error).__name__}: {error}"
        return view
    onbuild_flags = onbuild_subcommand_flags(path, commands)
    syntax = syntax_directive(physical_lines(path))
    if syntax is not None:
        view.positions.append(syntax)
    seen_from = False
    for command in commands:
        keyword = command.cmd.upper()
        view.instructions.append(keyword)
        if keyword == "FROM":
            seen_from = True
            position = from_position(command)
            if position is not None:
                view.positions.append(position)
        elif keyword == "ARG" and not seen_from:
            view.global_args.extend(global_args_of(command))
        elif keyword in ("COPY", "ADD", "RUN"):
            for text in flag_references(keyword, fix_flag_encoding(command.flags)):
                view.positions.append(
                    Expected(keyword, text, command.start_line, command.end_line)
                )
        elif keyword == "ONBUILD":
            sub = (command.sub_cmd or "").upper()
            for text in flag_references(sub, onbuild_flags[command.start_line]):
                view.positions.append(
                    Expected(f"ONBUILD {sub}", text, command.start_line, command.end_line)
                )
    return view


def effective_global_default(view: BuildKitView, name: str) -> GlobalArg | None:
    """The last global declaration of `name`, if it has a literal default.

    A default containing '$' is not a literal reference, so it cannot be hoisted.
    """
    declarations = [arg for arg in view.global_args if arg.name == name]
    if not declarations:
        return None
    last = declarations[-1]
    if not last.default or "$" in last.default:
        return None
    return last


# --------------------------------------------------------------------------
# digestpin side
# --------------------------------------------------------------------------


class ToolFailure(Exception):
    """digestpin crashed, exited with an unexpected code or printed bad JSON."""


def run_tool(binary: str, path: Path) -> ToolView:
    """Run `digestpin list --format json PATH` and read its answer for that file."""
    try:
        completed = subprocess.run(
            [binary, "list", "--format", "json", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ToolFailure(f"could not run {binary}: {error}") from error
    if completed.returncode not in TOOL_OK_EXIT_CODES:
        raise ToolFailure(
            f"exit code {completed.returncode}; stderr: {completed.stderr.strip()[:300]!r}"
        )
    try:
        document = json.loads(completed.stdout)
        files = document["files"]
        if len(files) != 1:
            raise ToolFailure(f"expected 1 entry in 'files', got {len(files)}")
        entry = files[0]
        refs = [
            Reported(
                instruction=ref["instruction"],
                text=ref["original"],
                line=ref["line"],
                end_line=ref.get("end_line", ref["line"]),
                column=ref["column"],
                state=ref["state"],
            )
            for ref in entry["refs"]
        ]
        return ToolView(refs=refs, error=entry.get("error"))
    except (ValueError, KeyError, TypeError) as error:
        raise ToolFailure(
            f"unreadable JSON ({error}); exit {completed.returncode}; "
            f"stdout starts {completed.stdout[:200]!r}"
        ) from error


# --------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------


def within(ref: Reported, start_line: int, end_line: int) -> bool:
    """True if the reported line range lies inside start_line..end_line."""
    return start_line <= ref.line <= ref.end_line <= end_line


def describe_ref(ref: Reported) -> str:
    """Short human description of one of our references."""
    span = f"{ref.line}" if ref.end_line == ref.line else f"{ref.line}-{ref.end_line}"
    return f"line {span} col {ref.column} state {ref.state}"


def check_column(ref: Reported, lines: list[str], escape: str) -> str | None:
    """Check that `column` points at the reference text; return a problem or None.

    For a reference split by a line continuation only the first fragment (up to
    the escape character) is checked.
    """
    if not 1 <= ref.line <= len(lines):
        return f"line {ref.line} is outside the file"
    rest = lines[ref.line - 1][ref.column - 1:] if ref.column >= 1 else ""
    if ref.end_line == ref.line:
        if not rest.startswith(ref.text):
            return f"column {ref.column} does not point at the text (line has {rest[:40]!r})"
        return None
    fragment = rest.rstrip(" \t")
    fragment = fragment.removesuffix(escape)
    if not fragment or not ref.text.startswith(fragment):
        return f"column {ref.column} does not point at the first fragment (line has {rest[:40]!r})"
    return None


def match_exact(expected: list[Expected], ours: list[Reported]):
    """Pair expected positions with our refs: same instruction, same text, line inside.

    Returns (pairs, unmatched_expected, unmatched_ours).
    """
    pairs = []
    remaining = list(ours)
    unmatched = []
    for position in expected:
        found = None
        for ref in remaining:
            if (
                ref.instruction == position.instruction
                and ref.text == position.text
                and within(ref, position.start_line, position.end_line)
            ):
                found = ref
                break
        if found is None:
            unmatched.append(position)
        else:
            remaining.remove(found)
            pairs.append((position, found))
    return pairs, unmatched, remaining


def explain_near_miss(position: Expected, ours: list[Reported]) -> tuple[str, Reported] | None:
    """Find one of our leftover refs that is almost `position` and say what differs."""
    for ref in ours:
        same_place = within(ref, position.start_line, position.end_line)
        if ref.text == position.text and ref.instruction == position.instruction:
            return f"line out of range: we said {describe_ref(ref)}", ref
        if same_place and ref.instruction == position.instruction:
            return f"text differs: we said {ref.text!r} ({describe_ref(ref)})", ref
        if same_place and ref.text == position.text:
            return f"instruction differs: we said {ref.instruction} ({describe_ref(ref)})", ref
    return None


def classify_arg_ref(
    ref: Reported,
    view: BuildKitView,
    used_variables: set[str],
    hoisted: dict[str, Reported],
) -> tuple[str | None, str | None]:
    """Decide whether a ref we reported at an ARG is allowed by the ARG-default rule.

    Allowed when it lies on a global ARG declaring V, its text equals V's (last,
    literal) default, some FROM is exactly $V / ${V}, and V was not reported yet.
    Returns (None, V) when allowed, else (reason, None).
    """
    candidates = [
        arg
        for arg in view.global_args
        if arg.default == ref.text and within(ref, arg.start_line, arg.end_line)
    ]
    if not candidates:
        return "reported at ARG but no global ARG on those lines has this default", None
    for arg in candidates:
        if (
            arg.name in used_variables
            and arg.name not in hoisted
            and effective_global_default(view, arg.name) == arg
        ):
            return None, arg.name
    names = ", ".join(sorted({arg.name for arg in candidates}))
    if any(arg.name in hoisted for arg in candidates):
        return f"ARG default of {names} reported twice", None
    if not any(arg.name in used_variables for arg in candidates):
        return f"reported at ARG but no FROM is exactly ${{{names}}}", None
    return f"reported at ARG but the default of {names} is not a literal or is redeclared", None


def compare(path: Path, view: BuildKitView, tool: ToolView) -> FileResult:
    """Compare BuildKit's implied positions with digestpin's refs for one file."""
    result = FileResult(path=path)

    def mismatch(line: object, instruction: str, text: str, what: str) -> None:
        result.mismatches.append(f"{path}:{line}: {instruction} {text!r}: {what}")

    if view.parse_error is not None:
        result.buildkit_error = view.parse_error
        if tool.refs and tool.error is None:
            for ref in tool.refs:
                mismatch(ref.line, ref.instruction, ref.text,
                         f"BuildKit cannot parse the file ({view.parse_error}) "
                         "but we reported this ref and no file error")
        return result

    if tool.error is not None:
        result.mismatches.append(
            f"{path}: we reported a file error {tool.error!r}; BuildKit parses the file"
        )

    arg_refs = [ref for ref in tool.refs if ref.instruction == "ARG"]
    other_refs = [ref for ref in tool.refs if ref.instruction != "ARG"]
    pairs, missing, extra = match_exact(view.positions, other_refs)
    result.refs_compared = len(view.positions)

    lines = physical_lines(path)
    escape = detect_escape(lines)
    for ref in tool.refs:
        problem = check_column(ref, lines, escape)
        if problem is not None:
            mismatch(ref.line, ref.instruction, ref.text, problem)

    # ARG-default rule: which variables did we hoist to their global ARG default?
    used_variables = {p.variable for p in view.positions if p.variable}
    hoisted: dict[str, Reported] = {}
    for ref in arg_refs:
        problem, name = classify_arg_ref(ref, view, used_variables, hoisted)
        if problem is None:
            hoisted[name] = ref
        else:
            mismatch(ref.line, "ARG", ref.text, f"{problem} ({describe_ref(ref)})")

    for position, ref in pairs:
        if position.variable in hoisted:
            mismatch(ref.line, position.instruction, position.text,
                     f"reported at the FROM although {position.variable} was already "
                     "reported at its ARG default")

    for position in missing:
        if position.instruction == "FROM" and position.variable in hoisted:
            continue  # reported once at the ARG default instead
        near = explain_near_miss(position, extra)
        if near is not None:
            what, ref = near
            extra.remove(ref)
        else:
            what = "missing: BuildKit implies this reference, we did not report it"
        mismatch(f"{position.start_line}-{position.end_line}", position.instruction,
                 position.text, what)

    for ref in extra:
        mismatch(ref.line, ref.instruction, ref.text,
                 f"extra: we reported it ({describe_ref(ref)}), BuildKit implies no such "
                 "reference")
    return result


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------


def is_dockerfile_name(name: str) -> bool:
    """True for the file names SPEC.md says a directory walk picks up."""
    for base in ("Dockerfile", "Containerfile"):
        if name == base or name.startswith(base + "."):
            return True
    return name.endswith((".Dockerfile", ".dockerfile", ".Containerfile", ".containerfile"))


def collect_files(arguments: list[str]) -> list[Path]:
    """Expand the command-line paths.

    A file is taken as given; a directory is walked recursively for files with
    Dockerfile names (so golden files such as list.json next to them are skipped).
    """
    files = []
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            files.extend(
                sorted(p for p in path.rglob("*") if p.is_file() and is_dockerfile_name(p.name))
            )
        elif path.is_file():
            files.append(path)
        else:
            raise SystemExit(f"buildkit_diff.py: no such file or directory: {argument}")
    return files


def generate_random_files(count: int, seed: int, workdir: Path) -> list[Path]:
    """Write `count` random Dockerfiles into `workdir` and return their paths."""
    workdir.mkdir(parents=True, exist_ok=True)
    return gen_dockerfiles.write_files(workdir, count, seed)


def show_expected(files: list[Path]) -> int:
    """Print the BuildKit-derived positions of every file (no digestpin needed)."""
    for path in files:
        print(f"=== {path}")
        try:
            view = derive_buildkit_view(path)
        except DerivationError as error:
            print(f"  DERIVATION ERROR {error}")
            continue
        if view.parse_error:
            print(f"  BuildKit parse error: {view.parse_error}")
        for arg in view.global_args:
            print(f"  global ARG {arg.name}={arg.default!r} lines {arg.start_line}-{arg.end_line}")
        for p in view.positions:
            extra = f" (variable {p.variable})" if p.variable else ""
            print(f"  {p.instruction} {p.text!r} lines {p.start_line}-{p.end_line}{extra}")
    return 0


def generator_problem(view: BuildKitView) -> str | None:
    """Why a generated file is not the valid Dockerfile it should be, or None."""
    if view.parse_error:
        return f"BuildKit cannot parse it: {view.parse_error}"
    known = {name.upper() for name in dockerfile.all_cmds()}
    unknown = sorted(set(view.instructions) - known)
    if unknown:
        return f"BuildKit sees unknown instructions {unknown} (a broken continuation?)"
    return None


def check_file(binary: str, path: Path, generated: bool) -> FileResult:
    """Derive, run and compare one file; failures become mismatch lines."""
    try:
        view = derive_buildkit_view(path)
    except DerivationError as error:
        return FileResult(path, [f"{path}: cannot derive BuildKit's view: {error}"])
    if generated:
        problem = generator_problem(view)
        if problem:
            return FileResult(path, [f"{path}: generator bug: {problem}"])
    try:
        tool = run_tool(binary, path)
    except ToolFailure as error:
        return FileResult(path, [f"{path}: digestpin failed: {error}"])
    return compare(path, view, tool)


SELF_TEST_DOCKERFILE = """\
ARG BASE=img:1
ARG REG=cgr.dev
ARG DER=${REG}/x:1
FROM ${BASE} AS a
FROM $BASE
FROM ${DER}
COPY --from=a /x /y
ONBUILD RUN --mount=type=bind,From=tools:2,target=/t ls
"""

# (description, refs as (instruction, text, line), whether compare() must accept them)
SELF_TEST_CASES = [
    ("every position at its instruction",
     [("FROM", "${BASE}", 4), ("FROM", "$BASE", 5), ("FROM", "${DER}", 6), ("COPY", "a", 7),
      ("ONBUILD RUN", "tools:2", 8)], True),
    ("BASE reported once at its ARG default",
     [("ARG", "img:1", 1), ("FROM", "${DER}", 6), ("COPY", "a", 7),
      ("ONBUILD RUN", "tools:2", 8)], True),
    ("ARG default and a FROM using it both reported",
     [("ARG", "img:1", 1), ("FROM", "${BASE}", 4), ("FROM", "${DER}", 6), ("COPY", "a", 7),
      ("ONBUILD RUN", "tools:2", 8)], False),
    ("non-literal ARG default hoisted",
     [("FROM", "${BASE}", 4), ("FROM", "$BASE", 5), ("ARG", "${REG}/x:1", 3), ("COPY", "a", 7),
      ("ONBUILD RUN", "tools:2", 8)], False),
    ("ARG ref on the wrong ARG",
     [("ARG", "img:1", 2), ("FROM", "${DER}", 6), ("COPY", "a", 7),
      ("ONBUILD RUN", "tools:2", 8)], False),
    ("ARG default of a variable no FROM uses",
     [("FROM", "${BASE}", 4), ("FROM", "$BASE", 5), ("FROM", "${DER}", 6), ("COPY", "a", 7),
      ("ARG", "cgr.dev", 2), ("ONBUILD RUN", "tools:2", 8)], False),
    ("a reference missing",
     [("FROM", "${BASE}", 4), ("FROM", "$BASE", 5), ("FROM", "${DER}", 6),
      ("ONBUILD RUN", "tools:2", 8)], False),
    ("an extra reference",
     [("FROM", "${BASE}", 4), ("FROM", "$BASE", 5), ("FROM", "${DER}", 6), ("COPY", "a", 7),
      ("ONBUILD RUN", "tools:2", 8), ("RUN", "tools:2", 8)], False),
    ("ONBUILD subcommand named without ONBUILD",
     [("FROM", "${BASE}", 4), ("FROM", "$BASE", 5), ("FROM", "${DER}", 6), ("COPY", "a", 7),
      ("RUN", "tools:2", 8)], False),
    ("a reference on the wrong line",
     [("FROM", "${BASE}", 5), ("FROM", "$BASE", 4), ("FROM", "${DER}", 6), ("COPY", "a", 7),
      ("ONBUILD RUN", "tools:2", 8)], False),
]


def self_test() -> int:
    """Check that compare() accepts good answers and rejects bad ones (no digestpin needed)."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "Dockerfile"
        path.write_text(SELF_TEST_DOCKERFILE, encoding="utf-8")
        lines = physical_lines(path)
        view = derive_buildkit_view(path)
        failures = 0
        for description, refs, should_pass in SELF_TEST_CASES:
            reported = [
                Reported(instruction, text, line, line, lines[line - 1].find(text) + 1, "x")
                for instruction, text, line in refs
            ]
            result = compare(path, view, ToolView(refs=reported))
            passed = not result.mismatches
            verdict = "ok" if passed == should_pass else "WRONG"
            failures += verdict == "WRONG"
            print(f"self-test {verdict}: {description}: "
                  f"{'accepted' if passed else 'rejected'} {result.mismatches}")
    print(f"self-test: {len(SELF_TEST_CASES) - failures}/{len(SELF_TEST_CASES)} as expected")
    return 1 if failures else 0


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    """Command-line interface."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", help="Dockerfiles or directories of them")
    parser.add_argument("--bin", help="path to the digestpin binary")
    parser.add_argument("--random", type=int, default=0, metavar="N",
                        help="also generate and check N random Dockerfiles")
    parser.add_argument("--seed", type=int, default=1, help="seed for --random (default 1)")
    parser.add_argument("--workdir", type=Path,
                        help="directory for the random files (required with --random)")
    parser.add_argument("--keep", action="store_true",
                        help="keep every generated file (default: only failing ones)")
    parser.add_argument("--show-expected", action="store_true",
                        help="only print BuildKit's derived positions; needs no --bin")
    parser.add_argument("--self-test", action="store_true",
                        help="only check this script's comparison logic; needs no --bin")
    arguments = parser.parse_args(argv)
    if arguments.self_test:
        return arguments
    if arguments.random and arguments.workdir is None:
        parser.error("--random needs --workdir")
    if not arguments.show_expected and not arguments.bin:
        parser.error("--bin is required (unless --show-expected)")
    if not arguments.paths and not arguments.random:
        parser.error("nothing to check: give paths and/or --random N")
    return arguments


def main(argv: list[str]) -> int:
    """Run the differential; return the process exit code."""
    arguments = parse_arguments(argv)
    if arguments.self_test:
        return self_test()
    files = collect_files(arguments.paths)
    generated = []
    if arguments.random:
        generated = generate_random_files(arguments.random, arguments.seed, arguments.workdir)

    if arguments.show_expected:
        return show_expected(files + generated)

    results = [check_file(arguments.bin, path, False) for path in files]
    results += [check_file(arguments.bin, path, True) for path in generated]

    failing = [r for r in results if r.mismatches]
    for result in failing:
        for line in result.mismatches:
            print(line)

    kept = []
    failing_paths = {r.path for r in failing}
    for path in generated:
        if path in failing_paths or arguments.keep:
            kept.append(path)
        else:
            path.unlink(missing_ok=True)
    if arguments.random and not kept:
        try:
            arguments.workdir.rmdir()
        except OSError:
            pass  # not empty or not ours: leave it

    unparsable = [r for r in results if r.buildkit_error]
    mismatch_count = sum(len(r.mismatches) for r in results)
    print(
        f"buildkit_diff: {len(results)} files checked ({len(files)} given, "
        f"{len(generated)} random{f', seed {arguments.seed}' if generated else ''}), "
        f"{sum(r.refs_compared for r in results)} BuildKit refs compared, "
        f"{len(unparsable)} files BuildKit cannot parse, "
        f"{mismatch_count} mismatches in {len(failing)} files"
    )
    for result in unparsable:
        print(f"  BuildKit parse error (accepted, we reported no refs or a file error): "
              f"{result.path}: {result.buildkit_error}")
    for path in kept:
        if path in failing_paths:
            print(f"  failing random file kept: {path}")
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

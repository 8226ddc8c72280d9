#!/usr/bin/env python3
"""Seeded random generator of valid (BuildKit-parseable) Dockerfiles.

Used by buildkit_diff.py (`--random N --seed S`), or on its own::

    python gen_dockerfiles.py --count 20 --seed 7 --out /tmp/dockerfiles

The files exercise the corners listed in the differential test's brief: parser
directives (`# syntax=`, `# escape=\\` and `# escape=``), continuations with
trailing blanks and comment / empty lines inside them, heredocs (`<<EOF`,
`<<-EOF`, quoted delimiters, two per line, after a `--mount` flag, in RUN, COPY,
ADD and ONBUILD) whose bodies look like instructions, stages named in random
letter case and referenced by name or index, `scratch`, `COPY --from`,
`RUN --mount=...,from=`, `ONBUILD`, global ARGs used whole or partly in FROM
(`${V:-d}`, `${V:+a}`), `--platform`, quoted images, pinned references,
registries with ports and `[::1]:5000`, keywords in random case, CRLF or mixed
line endings, a BOM, a missing final newline, tab/space indentation and
`# digestpin: ignore` comments.  Also some traps beyond that list: quoted flag
values (`--from="img"`, `--mount="..."`), non-ASCII text before a reference on
the same line, escape-only lines inside continuations, a comment ending in the
escape character, a file ending inside a continuation, `3<<EOF`, `<<EOF` where it
starts no heredoc (CMD, ENV, LABEL, JSON-form RUN), directive-like comments after
the first instruction, global ARGs redeclared.  Image references follow the
distribution reference grammar.  Most references stay on one line; a few are
split by a line continuation on purpose.

Every generated file is checked by buildkit_diff.py: BuildKit must parse it and
see only known instructions (so a broken continuation or heredoc shows up).

Only the standard library is used; `random.Random` makes every file reproducible
from (seed, index).
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass, field
from pathlib import Path

# --------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------

REGISTRIES = [
    "docker.io",
    "index.docker.io",
    "cgr.dev",
    "ghcr.io",
    "quay.io",
    "gcr.io",
    "localhost",
    "localhost:5000",
    "registry.example.com:5000",
    "[::1]:5000",
    "[::1]",
    "127.0.0.1:5000",
    "my-registry.local:8443",
    "Registry.Example.com",
]

PATH_WORDS = [
    "chainguard", "library", "team", "org", "app", "python", "go", "static",
    "busybox", "node", "wolfi-base", "tools", "alpine", "sub", "x", "a1", "web",
    "build-tools", "img",
]

# Separators allowed inside one path component (the grammar's `separator`).
COMPONENT_SEPARATORS = ["-", "_", "__", ".", "--"]

TAGS = [
    "latest", "latest-dev", "3.12", "v1.2.3", "1.0_rc1", "20.04", "V1",
    "stable-slim", "1", "3.20.1-r0", "nightly.2024-01-01",
]

STAGE_WORDS = ["build", "base", "deps", "test", "final", "runtime", "builder", "tools"]

HEREDOC_NAMES = ["EOF", "EOT", "END", "SCRIPT", "CONF", "DATA_1", "E2"]

GLOBAL_IMAGE_VARS = ["BASE", "BASE_IMAGE", "BUILDER", "RUNTIME", "IMG"]

# Lines placed in heredoc bodies: they look like instructions but are data.
HEREDOC_BODY_LINES = [
    "FROM evil:1",
    "from evil/two:2 AS x",
    "COPY --from=evil:3 /a /b",
    "RUN --mount=type=bind,from=evil:4,target=/x ls",
    "ONBUILD COPY --from=evil:5 /a /b",
    "ARG BASE=evil:6",
    "  FROM evil:7",
    "echo hello",
    "set -e",
    "",
    "  indented line",
    "# syntax=evil/frontend",
    "# digestpin: ignore",
    "<<NOTAHEREDOC",
    "print('FROM evil:8')",
    "key=value",
]

# Comment lines (between instructions or inside continuations).  None of them is
# of the form `# key=value`, so none can be mistaken for a parser directive.
COMMENT_LINES = [
    "# a comment",
    "# FROM evil:comment",
    "#FROM evil:c2",
    "# COPY --from=evil:c3 /a /b",
    "# digestpin is not ignoring this one",
    "#",
]

# Comments that would be parser directives at the top of the file; placed only
# after the first instruction, where they are ordinary comments.
LATE_COMMENT_LINES = [
    "# escape=`",
    "# escape=\\",
    "# syntax=evil/frontend:1",
]

PLAIN_RUN_WORDS = [
    ["apk", "add", "--no-cache", "curl", "git"],
    ["echo", "hello", "world"],
    ["echo", "FROM", "evil:run1"],
    ["go", "build", "-o", "/out/app", "./..."],
    ["pip", "install", "-r", "requirements.txt"],
    ["sh", "-c", "'echo FROM evil:run2'"],
    ["true", "&&", "echo", '"a  b"'],
    ["make", "all"],
]

FILLER_INSTRUCTIONS = [
    ["WORKDIR", "/app"],
    ["ENV", "A=b", "C=d"],
    ["LABEL", 'org.opencontainers.image.source="https://example.com/src"'],
    ["USER", "65532"],
    ["EXPOSE", "8080/tcp"],
    ["CMD", '["app"]'],
    ["ENTRYPOINT", '["/usr/bin/app",', '"--flag"]'],
    ["SHELL", '["/bin/sh",', '"-c"]'],
    ["HEALTHCHECK", "--interval=30s", "CMD", "curl", "-f", "http://localhost/"],
    ["STOPSIGNAL", "SIGTERM"],
    ["VOLUME", "/data"],
    ["ADD", "https://example.com/x.tar.gz", "/x"],
    ["COPY", "--chown=65532:65532", "src", "/src"],
    ["COPY", "--link", "a", "b", "/dst/"],
    ["RUN", "--network=none", "echo", "offline"],
    ["RUN", "--mount=type=cache,target=/root/.cache", "echo", "cached"],
    ["RUN", "--mount=type=secret,id=token", "cat", "/run/secrets/token"],
    # `<<` outside RUN/COPY/ADD (or in JSON form) starts no heredoc: the next
    # lines are instructions again.
    ["CMD", "cat", "<<EOF"],
    ["ENV", "DOC=<<EOF"],
    ["LABEL", "doc=<<EOT"],
    ["RUN", '["cat",', '"<<EOF"]'],
]


@dataclass
class Word:
    """One whitespace-separated word of an instruction.

    `ref_start`/`ref_end` delimit an image reference inside the word (for
    example after `--from=`); such a word may be split by a line continuation.
    """

    text: str
    ref_start: int | None = None
    ref_end: int | None = None

    @property
    def is_ref(self) -> bool:
        """True if the word carries an image reference."""
        return self.ref_start is not None


@dataclass
class Heredoc:
    """A heredoc attached to an instruction: its word, name, body and chomp flag."""

    word: str
    name: str
    body: list[str]
    chomp: bool


@dataclass
class Stage:
    """A build stage: its canonical lowercase name (or None) and index."""

    name: str | None
    index: int


@dataclass
class GlobalArgs:
    """What the generated global ARGs offer to FROM lines."""

    image_vars: list[str] = field(default_factory=list)  # default is a full image
    partial_vars: dict[str, str] = field(default_factory=dict)  # REG/ORG/TAG -> default
    empty_vars: list[str] = field(default_factory=list)  # declared without a default
    derived_vars: list[str] = field(default_factory=list)  # default contains ${...}


# --------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------


class DockerfileGenerator:
    """Builds one random Dockerfile as a list of physical lines."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.escape = "\\"
        self.lines: list[str] = []
        self.stages: list[Stage] = []
        self.globals = GlobalArgs()
        self.local_vars: list[str] = []
        self.started = False  # an instruction was written (directives are over)
        self.last_had_heredoc = False
        self.keyword_style = rng.choice(["upper"] * 5 + ["lower", "title", "random"] * 1)
        self.continuation_rate = rng.choice([0.0, 0.04, 0.12, 0.3])
        self.split_rate = rng.choice([0.0, 0.0, 0.03, 0.08])
        self.interstitial_rate = rng.choice([0.0, 0.3, 0.6])

    # ---- small random helpers ------------------------------------------------

    def chance(self, probability: float) -> bool:
        """True with the given probability."""
        return self.rng.random() < probability

    def keyword(self, word: str) -> str:
        """An instruction keyword in this file's letter-case style."""
        style = self.keyword_style
        if style == "random":
            style = self.rng.choice(["upper", "lower", "title", "mixed"])
        if style == "lower":
            return word.lower()
        if style == "title":
            return word.title()
        if style == "mixed":
            return "".join(c.upper() if self.chance(0.5) else c.lower() for c in word)
        return word.upper()

    def random_case(self, text: str) -> str:
        """`text` with each letter's case chosen at random."""
        return "".join(c.upper() if self.chance(0.5) else c.lower() for c in text)

    def other_case(self, name: str) -> str:
        """`name` in a letter case different from the one just written, usually."""
        return self.rng.choice([name.upper(), name.title(), self.random_case(name), name])

    def blank(self) -> str:
        """A run of spaces and tabs (at least one character)."""
        if self.chance(0.8):
            return " "
        return self.rng.choice(["\t", "  ", " \t", "\t\t"])

    def indentation(self) -> str:
        """Indentation before an instruction keyword (usually none)."""
        if self.chance(0.8):
            return ""
        return self.rng.choice(["  ", "\t", "    ", " \t "])

    def trailing_blanks(self) -> str:
        """What may follow the escape character of a continuation."""
        if self.chance(0.75):
            return ""
        return self.rng.choice([" ", "  ", "\t", " \t "])

    # ---- image references ------------------------------------------------------

    def path_component(self, first: bool) -> str:
        """One lowercase path component of a repository name."""
        word = self.rng.choice(PATH_WORDS)
        if not first and self.chance(0.15):
            word += self.rng.choice(COMPONENT_SEPARATORS) + self.rng.choice(PATH_WORDS).replace("-", "")
        if self.chance(0.1):
            word += str(self.rng.randrange(10))
        return word

    def digest(self) -> str:
        """A random sha256 digest."""
        return "sha256:" + "".join(self.rng.choice("0123456789abcdef") for _ in range(64))

    def image(self) -> str:
        """A random image reference valid per the distribution reference grammar."""
        registry = self.rng.choice(REGISTRIES) if self.chance(0.6) else None
        depth = self.rng.choice([1, 1, 2, 2, 3]) if registry else self.rng.choice([1, 2])
        components = [self.path_component(first=(i == 0 and registry is None)) for i in range(depth)]
        if registry is None and "." in components[0]:
            components[0] = components[0].replace(".", "-")
        name = "/".join(components)
        if registry:
            name = f"{registry}/{name}"
        tagged = self.chance(0.7)
        pinned = self.chance(0.25)
        if tagged:
            name += ":" + self.rng.choice(TAGS)
        if pinned:
            name += "@" + self.digest()
        return name

    def ref_word(self, prefix: str, ref: str, suffix: str = "") -> Word:
        """A word `prefix + ref + suffix` whose reference part is `ref`."""
        return Word(prefix + ref + suffix, len(prefix), len(prefix) + len(ref))

    # ---- physical layout ----------------------------------------------------------

    def interstitial_lines(self, inside_word: bool = False) -> list[str]:
        """Comment, empty, blank-only or escape-only lines inside a continuation.

        An escape-only line continues the continuation; inside a split word it must
        not carry blanks (BuildKit keeps them, which would cut the word).
        """
        lines = []
        while self.chance(self.interstitial_rate) and len(lines) < 3:
            kind = self.rng.choice(["comment", "comment", "empty", "blanks", "escape"])
            if kind == "escape":
                lead = "" if inside_word else self.rng.choice(["", " ", "\t", "   "])
                lines.append(lead + self.escape + self.trailing_blanks())
                continue
            if kind == "comment":
                comment = self.rng.choice(COMMENT_LINES)
                if self.chance(0.2):
                    comment += " " + self.escape  # an escape at the end of a comment is inert
                lines.append(self.indentation() + comment)
            elif kind == "empty":
                lines.append("")
            else:
                lines.append(self.blank())
        return lines

    def word_fragments(self, word: Word) -> list[str]:
        """The word's text, cut into fragments when it is split by continuations."""
        if not word.is_ref or not self.chance(self.split_rate):
            return [word.text]
        # Usually cut inside the reference; sometimes inside the flag before it.
        if word.ref_start > 1 and self.chance(0.2):
            cut = self.rng.randrange(1, word.ref_start)
        else:
            length = word.ref_end - word.ref_start
            if length < 2:
                return [word.text]
            cut = word.ref_start + self.rng.randrange(1, length)
        return [word.text[:cut], word.text[cut:]]

    def emit(self, words: list[Word], heredocs: list[Heredoc] = ()) -> None:
        """Append one instruction (possibly continued over lines) and its heredoc bodies."""
        current = self.indentation() + words[0].text
        for word in words[1:]:
            fragments = self.word_fragments(word)
            if self.chance(self.continuation_rate):
                before = self.rng.choice(["", " ", " ", "\t", "  "])
                self.lines.append(current + before + self.escape + self.trailing_blanks())
                self.lines.extend(self.interstitial_lines())
                after = self.blank() if before == "" else self.rng.choice(["", " ", "  ", "\t", "    "])
                current = after + fragments[0]
            else:
                current += self.blank() + fragments[0]
            for fragment in fragments[1:]:
                # A split reference: no blanks around the break, or the word would split.
                self.lines.append(current + self.escape + self.trailing_blanks())
                self.lines.extend(self.interstitial_lines(inside_word=True))
                current = fragment
        self.lines.append(current)
        self.started = True
        self.last_had_heredoc = bool(heredocs)
        for heredoc in heredocs:
            tabs = "\t" * self.rng.randrange(0, 3) if heredoc.chomp else ""
            for body_line in heredoc.body:
                self.lines.append(tabs + body_line if body_line else body_line)
            self.lines.append(tabs + heredoc.name)

    def words(self, *texts: str) -> list[Word]:
        """Plain words (no references)."""
        return [Word(text) for text in texts]

    def maybe_ignore_comment(self) -> None:
        """Sometimes put `# digestpin: ignore` on the line before the next instruction."""
        if self.chance(0.08):
            self.lines.append(self.rng.choice(["", "", "  "]) + "# digestpin: ignore")

    def maybe_spacing(self) -> None:
        """Sometimes put comments or empty lines between instructions."""
        if self.chance(0.15):
            self.lines.append("")
        if self.chance(0.1):
            pool = COMMENT_LINES + (LATE_COMMENT_LINES if self.started else [])
            comment = self.rng.choice(pool)
            if self.chance(0.2):
                comment += " " + self.escape
            self.lines.append(self.indentation() + comment)

    # ---- heredocs ----------------------------------------------------------------

    def heredoc(self, used: set[str], allow_fd: bool = False) -> Heredoc:
        """A heredoc with a fresh name, a quoting style, and a body of data lines.

        With `allow_fd` (RUN only) the word sometimes starts with a file descriptor.
        """
        name = self.rng.choice([n for n in HEREDOC_NAMES if n not in used])
        used.add(name)
        chomp = self.chance(0.3)
        quote = self.rng.choice(["", "", '"', "'"])
        fd = "3" if allow_fd and self.chance(0.05) else ""
        word = fd + "<<" + ("-" if chomp else "") + quote + name + quote
        body = []
        for _ in range(self.rng.randrange(0, 4)):
            line = self.rng.choice(HEREDOC_BODY_LINES)
            if self.chance(0.1):
                line += " " + self.escape  # data, not a continuation
            body.append(line)
        return Heredoc(word, name, body, chomp)

    def heredoc_run_words(self, used: set[str]) -> tuple[list[Word], list[Heredoc]]:
        """The command part of a RUN with one or two heredocs."""
        first = self.heredoc(used, allow_fd=True)
        shape = self.rng.choice(["alone", "interpreter", "redirect", "two", "two-redirect"])
        if shape == "alone":
            return self.words(first.word), [first]
        if shape == "interpreter":
            return self.words(first.word, self.rng.choice(["bash", "sh", "python3"])), [first]
        if shape == "redirect":
            return self.words("cat", ">", "/f", first.word), [first]
        second = self.heredoc(used)
        if shape == "two":
            return self.words(first.word, "cat", "&&", second.word, "cat"), [first, second]
        return (
            self.words("cat", first.word, ">", "/a", "&&", "cat", second.word, ">", "/b"),
            [first, second],
        )

    def heredoc_copy_words(self, used: set[str]) -> tuple[list[Word], list[Heredoc]]:
        """Sources and destination of a COPY/ADD whose sources are heredocs."""
        first = self.heredoc(used)
        if self.chance(0.3):
            second = self.heredoc(used)
            return self.words(first.word, second.word, "/dst/"), [first, second]
        return self.words(first.word, "/etc/x.conf"), [first]

    # ---- references to stages and images ---------------------------------------

    def from_value(self) -> str:
        """What `--from=` or a mount's `from=` names: an image, a stage (any case), an index."""
        named = [s for s in self.stages if s.name]
        roll = self.rng.random()
        if named and roll < 0.3:
            return self.other_case(self.rng.choice(named).name)
        if self.stages and roll < 0.45:
            return str(self.rng.randrange(len(self.stages)))
        if roll < 0.5 and self.globals.image_vars:
            return f"${{{self.rng.choice(self.globals.image_vars)}}}"
        return self.image()

    def from_source(self) -> Word:
        """A `--from=X` flag; its value is sometimes quoted (BuildKit drops the quotes)."""
        quote = self.rng.choice(['"', "'"]) if self.chance(0.06) else ""
        return self.ref_word("--from=" + quote, self.from_value(), quote)

    def mount_flag(self) -> Word:
        """A `--mount=` flag whose `from` key names an image, a stage or an index.

        Sometimes quoted (the whole spec, the `from` field, or just its value):
        BuildKit removes flag quotes before reading the spec as CSV.
        """
        value = self.from_value()
        from_key = self.rng.choice(["from"] * 8 + ["FROM", "From"])
        quoting = self.rng.choice(["none"] * 22 + ["spec", "field", "value"])
        if quoting == "field":
            from_field, value_offset = f'"{from_key}={value}"', len(from_key) + 2
        elif quoting == "value":
            from_field, value_offset = f'{from_key}="{value}"', len(from_key) + 2
        else:
            from_field, value_offset = f"{from_key}={value}", len(from_key) + 1
        target = self.rng.choice(["x", "mnt", "src", "donn\u00e9es"])
        fields = [from_field, f"target=/{target}"]
        kind = self.rng.choice(["type=bind", "type=bind", "type=cache", None])
        if kind:
            fields.append(kind)
        if self.chance(0.3):
            fields.append(self.rng.choice(["source=/bin", "ro", "readonly", "rw"]))
        self.rng.shuffle(fields)
        prefix = '--mount="' if quoting == "spec" else "--mount="
        text = prefix + ",".join(fields) + ('"' if quoting == "spec" else "")
        start = text.index(from_field) + value_offset
        return Word(text, start, start + len(value))

    # ---- instructions ------------------------------------------------------------

    def global_arg_section(self) -> None:
        """Global ARGs before the first FROM, recorded for later FROM lines."""
        if not self.chance(0.6):
            return
        for _ in range(self.rng.randrange(1, 5)):
            kind = self.rng.choice(
                ["image", "image", "partial", "empty", "multi", "derived", "redeclare"]
            )
            arg = self.keyword("ARG")
            if kind == "image":
                name = self.rng.choice(GLOBAL_IMAGE_VARS)
                quote = self.rng.choice(["", "", "", '"', "'"])
                word = self.ref_word(f"{name}={quote}", self.image(), quote)
                self.maybe_ignore_comment()
                self.emit([Word(arg), word])
                if name not in self.globals.image_vars:
                    self.globals.image_vars.append(name)
            elif kind == "partial":
                name, default = self.rng.choice(
                    [("REG", "cgr.dev"), ("ORG", "chainguard"), ("TAG", "latest"),
                     ("REGISTRY", "localhost:5000")]
                )
                self.emit([Word(arg), Word(f"{name}={default}")])
                self.globals.partial_vars[name] = default
            elif kind == "empty":
                name = self.rng.choice(["TAG", "DEV", "VARIANT"])
                self.emit([Word(arg), Word(name)])
                self.globals.empty_vars.append(name)
            elif kind == "multi":
                name = self.rng.choice(GLOBAL_IMAGE_VARS)
                self.emit([Word(arg), self.ref_word(f"{name}=", self.image()), Word("OTHER=1")])
                if name not in self.globals.image_vars:
                    self.globals.image_vars.append(name)
            elif kind == "redeclare" and self.globals.image_vars:
                # The last global declaration wins: another default, none, or empty.
                name = self.rng.choice(self.globals.image_vars)
                word = self.rng.choice([
                    self.ref_word(f"{name}=", self.image()), Word(name), Word(f"{name}="),
                ])
                self.emit([Word(arg), word])
            elif kind == "redeclare":
                continue
            else:
                name = "DERIVED"
                self.emit([Word(arg), Word(f"{name}=${{REG:-cgr.dev}}/chainguard/static:latest")])
                self.globals.derived_vars.append(name)
            self.maybe_spacing()

    def from_image_word(self) -> Word:
        """The image argument of a FROM line, in one of many shapes.

        Only literal references are marked as references (and so may be split);
        variables, stage names and `scratch` stay whole.
        """
        g = self.globals
        named = [s for s in self.stages if s.name]
        roll = self.rng.random()
        if roll < 0.12 and (g.image_vars or g.derived_vars):
            var = self.rng.choice(g.image_vars + g.derived_vars)
            return Word(self.rng.choice([f"${{{var}}}", f"${var}"]))
        if roll < 0.20:
            reg = self.rng.choice(["REG", "REGISTRY"] + list(g.partial_vars))
            tag = self.rng.choice(["TAG", "VARIANT"])
            text = self.rng.choice([
                f"${{{reg}}}/chainguard/python:${{{tag}}}",
                f"${reg}/app:${tag}",
                f"cgr.dev/chainguard/node:${{{tag}:-latest}}",
                f"cgr.dev/chainguard/node:latest${{DEV:+-dev}}",
                f"${{IMAGE:-cgr.dev/chainguard/static:latest}}",
                f"${{{self.rng.choice(g.image_vars or ['BASE'])}}}-dev",
            ])
            return Word(text)
        if roll < 0.30 and named:
            return Word(self.other_case(self.rng.choice(named).name))
        if roll < 0.36:
            return Word("scratch" if self.chance(0.6) else self.random_case("scratch"))
        if roll < 0.40 and self.local_vars:
            return Word(f"${{{self.rng.choice(self.local_vars)}}}")
        if roll < 0.47:
            quote = self.rng.choice(['"', "'"])
            return self.ref_word(quote, self.image(), quote)
        return self.ref_word("", self.image())

    def from_instruction(self) -> None:
        """A FROM line, maybe with --platform and `AS name`."""
        words = [Word(self.keyword("FROM"))]
        if self.chance(0.25):
            words.append(Word(self.rng.choice([
                "--platform=$BUILDPLATFORM", "--platform=${BUILDPLATFORM}",
                "--platform=linux/amd64", "--platform=${TARGETPLATFORM:-linux/arm64}",
            ])))
        words.append(self.from_image_word())
        name = None
        if self.chance(0.6):
            taken = {s.name for s in self.stages}
            free = [w for w in STAGE_WORDS if w not in taken]
            name = self.rng.choice(free) if free else f"stage{len(self.stages)}"
            if self.chance(0.2):
                name += self.rng.choice(["-1", "_2", ".v3"])
            words += [Word(self.rng.choice(["AS", "as", "As", "aS"])), Word(self.random_case(name))]
        self.maybe_ignore_comment()
        self.emit(words)
        self.stages.append(Stage(name, len(self.stages)))

    def run_instruction(self) -> None:
        """A RUN: plain, with --mount flags, with heredocs, or all of these."""
        flags = []
        for _ in range(self.rng.choice([0, 1, 1, 2])):
            flags.append(self.mount_flag())
        if self.chance(0.15):
            flags.insert(self.rng.randrange(len(flags) + 1), Word("--mount=type=cache,target=/c"))
        used: set[str] = set()
        heredocs = []
        if self.chance(0.3):
            command, heredocs = self.heredoc_run_words(used)
        elif self.chance(0.1):
            command = self.words('["ls",', '"/x"]')
        else:
            command = self.words(*self.rng.choice(PLAIN_RUN_WORDS))
        self.maybe_ignore_comment()
        self.emit([Word(self.keyword("RUN"))] + flags + command, heredocs)

    def copy_instruction(self, keyword: str = "COPY") -> None:
        """A COPY or ADD with `--from=X` among other flags, maybe with heredocs."""
        flags = [self.from_source()]
        for extra in ("--link", "--chown=65532:65532", "--chmod=755", "--chown=jos\u00e9:staff"):
            if self.chance(0.25):
                flags.append(Word(extra))
        self.rng.shuffle(flags)
        used: set[str] = set()
        heredocs = []
        if self.chance(0.2):
            sources, heredocs = self.heredoc_copy_words(used)
        elif self.escape == "`" and self.chance(0.5):
            sources = self.words("C:\\src\\app", "C:\\app\\")
        else:
            sources = self.words("/out/app", "/app")
        self.maybe_ignore_comment()
        self.emit([Word(self.keyword(keyword))] + flags + sources, heredocs)

    def onbuild_instruction(self) -> None:
        """ONBUILD COPY/ADD --from=X, ONBUILD RUN --mount=from=X (maybe with a heredoc)."""
        sub = self.rng.choice(["COPY", "COPY", "ADD", "RUN", "RUN"])
        used: set[str] = set()
        heredocs = []
        if sub == "RUN":
            flags = [self.mount_flag()]
            if self.chance(0.3):
                command, heredocs = self.heredoc_run_words(used)
            elif self.chance(0.15):
                command = self.words('["ls",', '"/x"]')
            else:
                command = self.words("ls", "/x")
        else:
            flags = [self.from_source()]
            if self.chance(0.25):
                flags.insert(0, Word("--link"))
            if self.chance(0.2):
                command, heredocs = self.heredoc_copy_words(used)
            else:
                command = self.words("/a", "/b")
        self.maybe_ignore_comment()
        words = [Word(self.keyword("ONBUILD")), Word(self.keyword(sub))] + flags + command
        self.emit(words, heredocs)

    def local_arg_instruction(self) -> None:
        """An ARG inside a stage (not global): its variable must never be hoisted."""
        name = self.rng.choice(["LOCAL_BASE", "BASE"])
        self.emit([Word(self.keyword("ARG")), Word(f"{name}={self.image()}")])
        if name not in self.globals.image_vars and name not in self.local_vars:
            self.local_vars.append(name)

    def filler_instruction(self) -> None:
        """An instruction that carries no image reference."""
        words = list(self.rng.choice(FILLER_INSTRUCTIONS))
        words[0] = self.keyword(words[0])
        self.emit(self.words(*words))

    def stage_body(self) -> None:
        """A few instructions after a FROM."""
        for _ in range(self.rng.randrange(0, 6)):
            self.maybe_spacing()
            roll = self.rng.random()
            if roll < 0.25:
                self.run_instruction()
            elif roll < 0.45:
                self.copy_instruction("COPY")
            elif roll < 0.52:
                self.copy_instruction("ADD")
            elif roll < 0.62:
                self.onbuild_instruction()
            elif roll < 0.67:
                self.local_arg_instruction()
            else:
                self.filler_instruction()

    def directives(self) -> None:
        """Parser directives at the very top: syntax and escape (any order), then check."""
        found = []
        if self.chance(0.3):
            found.append(self.rng.choice([
                "# syntax=docker/dockerfile:1", "# syntax=docker/dockerfile:1.7",
                "#syntax=docker/dockerfile:1",
            ]))
        if self.chance(0.35):
            self.escape = self.rng.choice(["`", "`", "\\"])
            found.append(self.rng.choice([
                "# escape={}", "#escape={}", "# escape = {}", "# Escape={}",
            ]).format(self.escape))
        self.rng.shuffle(found)
        # `check` goes last: BuildKit v0.12 (the oracle) does not know it and stops
        # reading directives there, newer BuildKit reads on.  Last, both agree.
        if self.chance(0.1):
            found.append("# check=skip=JSONArgsRecommended")
        self.lines.extend(found)
        if found and self.chance(0.5):
            self.lines.append("")

    def generate(self) -> list[str]:
        """The whole file as physical lines (no line endings)."""
        self.directives()
        self.maybe_spacing()
        self.global_arg_section()
        if self.chance(0.02):  # no FROM at all: only global ARGs
            self.emit([Word(self.keyword("ARG")), Word("ONLY=1")])
            return self.lines
        for _ in range(self.rng.randrange(1, 5)):
            self.maybe_spacing()
            self.from_instruction()
            self.stage_body()
        if not self.last_had_heredoc and self.chance(0.03):
            self.lines[-1] += " " + self.escape  # the file ends inside a continuation
        return self.lines


# --------------------------------------------------------------------------
# Bytes on disk
# --------------------------------------------------------------------------


def assemble(lines: list[str], rng: random.Random) -> bytes:
    """Join physical lines with LF, CRLF or mixed endings; maybe a BOM, maybe no final newline."""
    mode = rng.choice(["lf"] * 6 + ["crlf"] * 3 + ["mixed"] * 2)
    parts = []
    for line in lines:
        crlf = mode == "crlf" or (mode == "mixed" and rng.random() < 0.5)
        parts.append(line + ("\r\n" if crlf else "\n"))
    text = "".join(parts)
    if rng.random() < 0.15:
        text = text.rstrip("\r\n")
    if rng.random() < 0.1:
        text = "\ufeff" + text
    return text.encode("utf-8")


def generate_file(seed: int, index: int) -> bytes:
    """The bytes of random Dockerfile number `index` for `seed` (reproducible)."""
    rng = random.Random(seed * 1_000_003 + index)
    return assemble(DockerfileGenerator(rng).generate(), rng)


def write_files(directory: Path, count: int, seed: int) -> list[Path]:
    """Write `count` random Dockerfiles into `directory`; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        path = directory / f"random-s{seed}-{index:04d}.Dockerfile"
        path.write_bytes(generate_file(seed, index))
        paths.append(path)
    return paths


def main() -> None:
    """Command-line entry point: write random Dockerfiles to a directory."""
    parser = argparse.ArgumentParser(description="Write seeded random Dockerfiles.")
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    arguments = parser.parse_args()
    for path in write_files(arguments.out, arguments.count, arguments.seed):
        print(path)


if __name__ == "__main__":
    main()

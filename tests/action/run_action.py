#!/usr/bin/env python3
"""Runs a composite action (action.yml) the way a GitHub Actions runner would, for tests.

What it does, step by step, like the runner:
- takes the inputs (`--input name=value`, else the defaults in action.yml; an unknown name is
  warned about, as the runner does). Composite `run:` steps see inputs only through `${{ }}`,
  never as INPUT_* variables, so none are set here either: an action that read INPUT_MODE would
  pass here and fail on GitHub;
- sets the runner's variables: GITHUB_ACTION_PATH (the action's directory), GITHUB_WORKSPACE
  (also the working directory), GITHUB_OUTPUT and GITHUB_ENV and GITHUB_PATH (a new file per
  step), GITHUB_STEP_SUMMARY, RUNNER_TEMP, RUNNER_TOOL_CACHE, RUNNER_OS, RUNNER_ARCH, CI,
  GITHUB_ACTIONS;
- evaluates the small subset of `${{ }}` expressions the action uses: `inputs.x`,
  `github.action_path`, `github.workspace`, `github.action_repository`,
  `runner.temp|os|arch|tool_cache`,
  `steps.<id>.outputs.<name>`, `env.X`, `'literal'`, `a == b`, `a != b`, `success()`,
  `failure()`, `always()`. Anything else is an error, so the action stays within it;
- runs each `run:` step with `shell: bash` as `bash --noprofile --norc -eo pipefail FILE`,
  skipping the rest after a failure (unless their `if:` says otherwise), and reads workflow
  commands (`::error …::`, `::warning`, `::notice`, `::add-mask::`, `::debug::`) from the
  step's stdout and stderr; `uses:` steps are skipped (this is no place to run actions/cache);
- with ACTIONS_STEP_DEBUG=true prints `##[debug]` lines for every expression it evaluates, as
  the runner does.

Test hooks: `--cargo-shim BIN` puts a fake `cargo` first on PATH whose `install … --root DIR`
copies BIN to DIR/bin/digestpin (and logs its arguments), so the action's install step runs for
real without a build; `--hide-jq` puts a `jq` that does not work first on PATH.

The result is one JSON document (`--result FILE`, else stdout): conclusion, per-step outcomes,
the action's outputs, the annotations, the step summary, the whole log and the shim's calls.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}", re.S)
COMMAND = re.compile(r"^::([a-z-]+)(?: ([^:]*))?::(.*)$")


class ExpressionError(Exception):
    pass


def unescape_data(text: str) -> str:
    return text.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def unescape_property(text: str) -> str:
    return (
        text.replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%3A", ":")
        .replace("%2C", ",")
        .replace("%25", "%")
    )


class Runner:
    def __init__(self, args: argparse.Namespace):
        self.action_dir = Path(args.action_dir).resolve()
        self.workspace = Path(args.workspace).resolve()
        self.action = yaml.safe_load((self.action_dir / "action.yml").read_text(encoding="utf-8"))
        if self.action["runs"]["using"] != "composite":
            raise SystemExit("run_action.py: only composite actions")
        self.temp = Path(args.runner_temp or tempfile.mkdtemp(prefix="runner-temp-"))
        self.temp.mkdir(parents=True, exist_ok=True)
        self.tool_cache = Path(args.tool_cache or (self.temp / "tool-cache"))
        self.tool_cache.mkdir(parents=True, exist_ok=True)
        self.summary = Path(args.step_summary or (self.temp / "step-summary.md"))
        self.summary.touch()
        self.env = dict(os.environ)
        self.env.update(
            {
                "CI": "true",
                "GITHUB_ACTIONS": "true",
                "GITHUB_ACTION_PATH": str(self.action_dir),
                "GITHUB_WORKSPACE": str(self.workspace),
                "GITHUB_STEP_SUMMARY": str(self.summary),
                "RUNNER_TEMP": str(self.temp),
                "RUNNER_TOOL_CACHE": str(self.tool_cache),
                "RUNNER_OS": args.runner_os,
                "RUNNER_ARCH": args.runner_arch,
            }
        )
        for name in list(self.env):
            if name.startswith("INPUT_"):
                del self.env[name]
        self.runner_os = args.runner_os
        self.runner_arch = args.runner_arch
        self.action_repository = args.action_repository
        self.debug = self.env.get("ACTIONS_STEP_DEBUG", "").lower() == "true"
        self.log: list[str] = []
        self.masks: list[str] = []
        self.shim_log = None
        if args.cargo_shim:
            self.shim_log = self.temp / "cargo-shim.log"
            self._shim("cargo", _CARGO_SHIM.format(bin=shlex.quote(args.cargo_shim), log=shlex.quote(str(self.shim_log))))
        if args.hide_jq:
            self._shim("jq", "#!/bin/sh\necho 'jq: hidden by run_action.py' >&2\nexit 127\n")
        declared = self.action.get("inputs") or {}
        self.inputs = {name: str(spec.get("default", "")) for name, spec in declared.items()}
        for item in args.input:
            name, _, value = item.partition("=")
            if name not in declared:
                self.out(f"##[warning]Unexpected input(s) '{name}', valid inputs are {list(declared)}")
            self.inputs[name] = value
        self.steps: dict[str, dict] = {}
        self.results: list[dict] = []
        self.annotations: list[dict] = []
        self.failed = False

    def _shim(self, name: str, text: str) -> None:
        bindir = self.temp / "shims"
        bindir.mkdir(exist_ok=True)
        path = bindir / name
        path.write_text(text, encoding="utf-8")
        path.chmod(0o755)
        self.env["PATH"] = f"{bindir}{os.pathsep}{self.env['PATH']}"

    def out(self, line: str) -> None:
        for secret in self.masks:
            line = line.replace(secret, "***")
        self.log.append(line)
        print(line, file=sys.stderr)

    # Expressions -------------------------------------------------------------------------

    def value(self, expr: str):
        expr = expr.strip()
        if "&&" in expr:
            return all(self.value(part) for part in expr.split("&&"))
        m = re.fullmatch(r"(.+?)\s*(==|!=)\s*(.+)", expr)
        if m:
            left, right = self.value(m.group(1)), self.value(m.group(3))
            equal = str(left).lower() == str(right).lower()
            return equal if m.group(2) == "==" else not equal
        if re.fullmatch(r"'(?:[^']|'')*'", expr):
            return expr[1:-1].replace("''", "'")
        if expr in ("true", "false"):
            return expr == "true"
        if expr == "success()":
            return not self.failed
        if expr == "failure()":
            return self.failed
        if expr == "always()":
            return True
        parts = expr.split(".")
        if parts[0] == "inputs" and len(parts) == 2:
            return self.inputs.get(parts[1], "")
        if parts[0] == "github" and len(parts) == 2:
            known = {
                "action_path": str(self.action_dir),
                "workspace": str(self.workspace),
                "action_repository": self.action_repository,
            }
            if parts[1] in known:
                return known[parts[1]]
        if parts[0] == "runner" and len(parts) == 2:
            known = {
                "temp": str(self.temp),
                "tool_cache": str(self.tool_cache),
                "os": self.runner_os,
                "arch": self.runner_arch,
            }
            if parts[1] in known:
                return known[parts[1]]
        if parts[0] == "env" and len(parts) == 2:
            return self.env.get(parts[1], "")
        if parts[0] == "steps" and len(parts) == 4 and parts[2] == "outputs":
            return self.steps.get(parts[1], {}).get(parts[3], "")
        raise ExpressionError(f"expression outside the supported subset: {expr}")

    def evaluate(self, expr: str):
        result = self.value(expr)
        if self.debug:
            self.out(f"##[debug]Evaluating: {expr}")
            self.out(f"##[debug]Result: {json.dumps(result)}")
        return result

    def substitute(self, text) -> str:
        if text is None:
            return ""
        text = str(text)

        def one(m: re.Match) -> str:
            v = self.evaluate(m.group(1))
            if isinstance(v, bool):
                return "true" if v else "false"
            return str(v)

        return EXPR.sub(one, text)

    def condition(self, cond) -> bool:
        if cond is None:
            return not self.failed
        if isinstance(cond, bool):
            return cond and not self.failed
        text = str(cond).strip()
        m = EXPR.fullmatch(text)
        if m:
            text = m.group(1)
        uses_status = re.search(r"\b(success|failure|always|cancelled)\(\)", text)
        result = bool(self.evaluate(text))
        return result if uses_status else result and not self.failed

    # Workflow commands --------------------------------------------------------------------

    def command(self, line: str) -> bool:
        m = COMMAND.match(line.rstrip("\r"))
        if not m:
            return False
        name, props, data = m.group(1), m.group(2) or "", m.group(3)
        if name in ("error", "warning", "notice"):
            properties = {}
            for item in filter(None, props.split(",")):
                key, _, value = item.partition("=")
                properties[key] = unescape_property(value)
            message = unescape_data(data)
            self.annotations.append({"level": name, "properties": properties, "message": message})
            self.out(f"##[{name}]{message}")
            return True
        if name == "add-mask":
            self.masks.append(unescape_data(data))
            return True
        if name == "debug":
            if self.debug:
                self.out(f"##[debug]{unescape_data(data)}")
            return True
        if name in ("group", "endgroup"):
            self.out(f"##[{name}]{unescape_data(data)}")
            return True
        return False

    # Files the runner hands to a step --------------------------------------------------------

    @staticmethod
    def read_file_commands(path: Path) -> dict[str, str]:
        values: dict[str, str] = {}
        if not path.exists():
            return values
        lines = path.read_text(encoding="utf-8").splitlines()
        i = 0
        while i < len(lines):
            line = lines[i]
            i += 1
            if not line:
                continue
            if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
                name, _, delimiter = line.partition("<<")
                body = []
                while i < len(lines) and lines[i] != delimiter:
                    body.append(lines[i])
                    i += 1
                if i >= len(lines):
                    raise SystemExit(f"run_action.py: unterminated {name}<<{delimiter} in {path}")
                i += 1
                values[name] = "\n".join(body)
            elif "=" in line:
                name, _, value = line.partition("=")
                values[name] = value
            else:
                raise SystemExit(f"run_action.py: invalid line in {path}: {line!r}")
        return values

    # Steps --------------------------------------------------------------------------------

    def run(self) -> dict:
        for index, step in enumerate(self.action["runs"]["steps"]):
            sid = step.get("id") or f"__step{index}"
            label = step.get("name") or step.get("uses") or f"step {index}"
            try:
                take = self.condition(step.get("if"))
            except ExpressionError as e:
                raise SystemExit(f"run_action.py: {label}: {e}")
            if "uses" in step:
                self.out(f"##[skip]{label}: uses: {step['uses']} is not run here")
                self.results.append({"id": sid, "name": label, "outcome": "skipped", "uses": step["uses"], "condition": take})
                self.steps[sid] = {}
                continue
            if not take:
                self.results.append({"id": sid, "name": label, "outcome": "skipped"})
                self.steps[sid] = {}
                continue
            shell = step.get("shell")
            if shell != "bash":
                raise SystemExit(f"run_action.py: {label}: shell {shell!r}, only bash is supported")
            try:
                step_env = {k: self.substitute(v) for k, v in (step.get("env") or {}).items()}
                script = self.substitute(step["run"])
                cwd = self.substitute(step.get("working-directory")) or str(self.workspace)
            except ExpressionError as e:
                raise SystemExit(f"run_action.py: {label}: {e}")
            self.out(f"##[group]Run {script.splitlines()[0] if script else ''}")
            for line in script.splitlines()[1:]:
                self.out(line)
            self.out(f"shell: bash --noprofile --norc -eo pipefail {{0}}")
            if step_env:
                self.out("env:")
                for k, v in step_env.items():
                    self.out(f"  {k}: {v}")
            self.out("##[endgroup]")
            files = {}
            for var in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH"):
                fd, name = tempfile.mkstemp(prefix=f"{var.lower()}-", dir=self.temp)
                os.close(fd)
                files[var] = Path(name)
            script_file = self.temp / f"step-{index}.sh"
            script_file.write_text(script, encoding="utf-8")
            env = dict(self.env)
            env.update(step_env)
            env.update({k: str(v) for k, v in files.items()})
            proc = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script_file)],
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            for line in proc.stdout.decode("utf-8", "replace").splitlines():
                if not self.command(line):
                    self.out(line)
            outputs = self.read_file_commands(files["GITHUB_OUTPUT"])
            self.steps[sid] = outputs
            self.env.update(self.read_file_commands(files["GITHUB_ENV"]))
            for entry in reversed(files["GITHUB_PATH"].read_text(encoding="utf-8").splitlines()):
                if entry:
                    self.env["PATH"] = f"{entry}{os.pathsep}{self.env['PATH']}"
            outcome = "success" if proc.returncode == 0 else "failure"
            if proc.returncode != 0:
                self.out(f"##[error]Process completed with exit code {proc.returncode}.")
                self.failed = True
            self.results.append(
                {"id": sid, "name": label, "outcome": outcome, "exit_code": proc.returncode, "outputs": outputs}
            )
        outputs = {}
        for name, spec in (self.action.get("outputs") or {}).items():
            outputs[name] = self.substitute(spec.get("value"))
        shim_calls = []
        if self.shim_log and self.shim_log.exists():
            shim_calls = self.shim_log.read_text(encoding="utf-8").splitlines()
        return {
            "conclusion": "failure" if self.failed else "success",
            "steps": self.results,
            "outputs": outputs,
            "annotations": self.annotations,
            "summary": self.summary.read_text(encoding="utf-8"),
            "log": "\n".join(self.log),
            "runner_temp": str(self.temp),
            "cargo_calls": shim_calls,
        }


_CARGO_SHIM = """#!/usr/bin/env bash
# Fake cargo (run_action.py --cargo-shim): `cargo install … --root DIR` copies a prebuilt binary.
set -euo pipefail
printf '%s\\n' "$*" >> {log}
root=""
prev=""
for arg in "$@"; do
  if [ "$prev" = --root ]; then root=$arg; fi
  prev=$arg
done
if [ "${{1:-}}" = install ] && [ -n "$root" ]; then
  mkdir -p "$root/bin"
  cp {bin} "$root/bin/digestpin"
  echo "    Finished (cargo shim) installed $root/bin/digestpin" >&2
  exit 0
fi
echo "cargo shim: unsupported: $*" >&2
exit 101
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--action-dir", required=True, help="directory holding action.yml")
    parser.add_argument("--workspace", required=True, help="GITHUB_WORKSPACE and working directory")
    parser.add_argument("--input", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--runner-temp")
    parser.add_argument("--tool-cache", help="RUNNER_TOOL_CACHE (kept between runs to test the cache)")
    parser.add_argument("--step-summary")
    parser.add_argument("--runner-os", default="Linux", help="RUNNER_OS: Linux, macOS or Windows")
    parser.add_argument("--runner-arch", default="X64", help="RUNNER_ARCH: X64, ARM64, …")
    parser.add_argument(
        "--action-repository",
        default="",
        help="github.action_repository (owner/name; empty, as for a local `uses: ./` action)",
    )
    parser.add_argument("--cargo-shim", metavar="BIN", help="fake cargo whose install copies BIN")
    parser.add_argument("--hide-jq", action="store_true")
    parser.add_argument("--result", help="write the JSON result here (default: stdout)")
    args = parser.parse_args()
    result = Runner(args).run()
    text = json.dumps(result, indent=2)
    if args.result:
        Path(args.result).write_text(text, encoding="utf-8")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

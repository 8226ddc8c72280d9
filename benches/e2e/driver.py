#!/usr/bin/env python3
"""End-to-end benchmark driver for `digestpin pin` (called by scripts/bench-e2e).

Python 3 standard library only. Starts its own servers on 127.0.0.1 (the Tag History API
emulator, Debian's docker-registry), generates the Dockerfile trees, runs digestpin and its
peers (a digestabot-style sequential skopeo loop, Renovate's look-up), counts the requests each
made from the servers' own counters, and writes a Markdown report and an SVG plot.

Every scenario runs in its own temporary directory; every server is stopped on exit (also on
Ctrl-C / SIGTERM). See scripts/bench-e2e --help for the options.
"""

import argparse
import json
import math
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, HERE)
import mktree  # noqa: E402
import plot  # noqa: E402
import registry as dockerreg  # noqa: E402

SKOPEO_LOOP = os.path.join(HERE, "skopeo-loop.sh")
RSS_LIMIT_KB = 64 * 1024
MEDIA_NAMES = {dockerreg.OCI_INDEX: "OCI indexes", dockerreg.OCI_MANIFEST: "OCI manifests",
               dockerreg.DOCKER_MANIFEST_LIST: "Docker manifest lists", dockerreg.DOCKER_MANIFEST: "Docker v2 manifests"}

SMALL_DOCKERFILE = """\
# syntax=docker/dockerfile:1
# A small service: Go API, web assets, a test stage and a minimal runtime image.
ARG GO_IMAGE=cgr.dev/chainguard/img-0:latest

FROM ${GO_IMAGE} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/root/.cache/go-build \\
    go mod download
COPY . .
RUN --mount=type=cache,target=/root/.cache/go-build \\
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/api ./cmd/api

FROM cgr.dev/chainguard/img-1:latest AS assets
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci
COPY web/ .
RUN npm run build

FROM cgr.dev/chainguard/img-2:latest AS test
COPY --from=build /out/api /usr/local/bin/api
RUN --mount=type=bind,from=cgr.dev/chainguard/img-3:latest,source=/usr/bin,target=/tools \\
    /tools/sh -c "/usr/local/bin/api --version"

FROM cgr.dev/chainguard/img-4:latest
COPY --from=build /out/api /usr/local/bin/api
COPY --from=assets /web/dist /srv/www
USER nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/api"]
"""

# --------------------------------------------------------------------------------------------
# process bookkeeping: everything we start is stopped on exit


_CHILDREN = []


def _kill(p, sig):
    """Signals p's whole process group when p leads one (measured commands run in their own
    session, so a shell loop's skopeo goes too), else p alone."""
    try:
        if os.getpgid(p.pid) == p.pid:
            os.killpg(p.pid, sig)
            return
    except OSError:
        pass
    try:
        p.send_signal(sig)
    except OSError:
        pass


def _cleanup(*_):
    for p in list(_CHILDREN):
        try:
            if p.poll() is None:
                _kill(p, signal.SIGTERM)
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    _kill(p, signal.SIGKILL)
                    p.wait()
        except Exception:
            pass
    _CHILDREN.clear()


def _on_signal(signum, _frame):
    _cleanup()
    sys.exit(128 + signum)


def _die_with_parent():
    """preexec_fn: the child gets SIGTERM when the driver dies, however it dies (Linux)."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def log(msg):
    print("bench-e2e: " + msg, file=sys.stderr, flush=True)


class Emulator:
    """target/release/examples/emulator as a process; `stop()` returns its request counts."""

    def __init__(self, binary, images, history, latency_ms, workdir):
        self.err_path = tempfile.mktemp(prefix="emulator-", suffix=".err", dir=workdir)
        self.err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(
            [binary, "--port", "0", "--latency-ms", str(latency_ms), "--images", str(images),
             "--history", str(history)],
            stdout=subprocess.PIPE, stderr=self.err, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        _CHILDREN.append(self.proc)
        line = self.proc.stdout.readline().decode().strip()
        m = re.match(r"listening on (http://127\.0\.0\.1:(\d+))$", line)
        if not m:
            self.stop()
            raise RuntimeError("emulator did not start: %r" % line)
        self.url, self.port = m.group(1), int(m.group(2))

    def stop(self):
        """SIGTERM; returns {token, history, manifest, tags_list, other, total}."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc in _CHILDREN:
            _CHILDREN.remove(self.proc)
        self.proc.stdout.close()
        self.err.close()
        text = open(self.err_path).read()
        m = re.search(r"requests: (.*)", text)
        if not m:
            raise RuntimeError("emulator printed no request counts: %r" % text[-500:])
        counts = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(1))}
        counts["total"] = sum(counts.values())
        return counts


# --------------------------------------------------------------------------------------------
# measuring


def measure(cmd, env=None, cwd=None, out=None, err=None, timeout=1800):
    """Runs cmd under GNU time -v, after a `sync`. Returns {wall, rss_kb, user, sys, rc}; wall
    from the monotonic clock around the process (GNU time's own cost, ~1 ms, included)."""
    tfile = tempfile.mktemp(prefix="time-", suffix=".txt")
    # Start from a clean disk state: what earlier runs left dirty (copies, deletions, cache
    # files) is written back now, not during this run's own fsyncs.
    os.sync()
    outf = open(out or os.devnull, "wb")
    errf = open(err or os.devnull, "wb")
    t0 = time.perf_counter()
    p = subprocess.Popen(["/usr/bin/time", "-v", "-o", tfile] + list(cmd), env=env, cwd=cwd,
                         stdout=outf, stderr=errf, stdin=subprocess.DEVNULL, start_new_session=True)
    _CHILDREN.append(p)
    # A blocking wait(): Popen.wait(timeout) polls with sleeps of up to 50 ms, which would add
    # up to 50 ms to every measurement. The timeout is a timer that kills the process instead.
    timed_out = []
    timer = threading.Timer(timeout, lambda: (timed_out.append(1), _kill(p, signal.SIGKILL)))
    timer.start()
    rc = p.wait()
    wall = time.perf_counter() - t0
    timer.cancel()
    if timed_out:
        rc = 124
    _CHILDREN.remove(p)
    outf.close()
    errf.close()
    res = {"wall": wall, "rc": rc, "rss_kb": None, "user": None, "sys": None}
    try:
        text = open(tfile).read()
        os.unlink(tfile)
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
        res["rss_kb"] = int(m.group(1)) if m else None
        m = re.search(r"User time \(seconds\): ([\d.]+)", text)
        res["user"] = float(m.group(1)) if m else None
        m = re.search(r"System time \(seconds\): ([\d.]+)", text)
        res["sys"] = float(m.group(1)) if m else None
        m = re.search(r"Exit status: (\d+)", text)
        if m and rc != 124:
            res["rc"] = int(m.group(1))
    except FileNotFoundError:
        pass
    return res


def median_run(runs):
    """The run with the median wall time (lower median for an even count)."""
    s = sorted(runs, key=lambda r: r["wall"])
    return s[(len(s) - 1) // 2]


def loadavg():
    try:
        return tuple(float(x) for x in open("/proc/loadavg").read().split()[:3])
    except OSError:
        return (float("nan"),) * 3


def wait_for_quiet(max_load, wait_s):
    """Waits (up to wait_s) for the 1-minute load average to drop below max_load."""
    deadline = time.time() + wait_s
    while True:
        l1 = loadavg()[0]
        if l1 < max_load:
            return l1, True
        if time.time() >= deadline:
            log("load average %.2f still >= %.2f after waiting %d s; measuring anyway" % (l1, max_load, wait_s))
            return l1, False
        log("load average %.2f >= %.2f: waiting (up to %d s more)" % (l1, max_load, deadline - time.time()))
        time.sleep(min(30, max(1, deadline - time.time())))


V_LINE = re.compile(r"^(\S+Z)\s+DEBUG request method=(\S+) url=(\S+) status=(\d+)")


def count_v_requests(path):
    """Requests logged by `digestpin -v` (one `request method=... url=... status=...` line each)."""
    n = 0
    with open(path, errors="replace") as f:
        for line in f:
            if V_LINE.match(line) or (" request method=" in line and " url=" in line):
                n += 1
    return n


def count_v_kinds(path):
    """Like count_v_requests, by the emulator's kinds (token, history, manifest, tags_list, other)."""
    kinds = {"token": 0, "history": 0, "manifest": 0, "tags_list": 0, "other": 0}
    with open(path, errors="replace") as f:
        for line in f:
            m = re.search(r" request method=\S+ url=(\S+)", line)
            if not m:
                continue
            path_ = re.sub(r"^https?://[^/]+", "", m.group(1)).split("?", 1)[0]
            if path_ == "/token":
                kinds["token"] += 1
            elif not path_.startswith("/v2/"):
                kinds["other"] += 1
            elif "/_chainguard/history/" in path_:
                kinds["history"] += 1
            elif "/manifests/" in path_:
                kinds["manifest"] += 1
            elif path_.endswith("/tags/list"):
                kinds["tags_list"] += 1
            else:
                kinds["other"] += 1
    kinds["total"] = sum(kinds.values())
    return kinds


def _iso(ts):
    # 2026-11-24T00:59:13.693850Z -> epoch seconds (the system clock)
    import datetime
    return datetime.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def phases(vlog_path, t_start, t_end, jobs, latency_ms):
    """Phase timeline of one `digestpin pin -v` run: process start and end (system clock)
    and the -v log (each line: the response time, and elapsed_ms since its request)."""
    reqs = []
    files_written = None
    for line in open(vlog_path, errors="replace"):
        m = re.match(r"(\S+Z)\s+DEBUG request .* elapsed_ms=(\d+)", line)
        if m:
            end = _iso(m.group(1))
            reqs.append((end - int(m.group(2)) / 1000.0, end, line))
            continue
        m = re.search(r"(\d+) of (\d+) files? changed", line)
        if m:
            files_written = int(m.group(1))
    if not reqs:
        return {"error": "no requests in the -v log"}
    first_req = min(r[0] for r in reqs)
    last_resp = max(r[1] for r in reqs)
    probe = [r for r in reqs if re.search(r"url=\S+/v2/ ", r[2])]
    probe_end = max((r[1] for r in probe), default=first_req)
    busy = sum(r[1] - r[0] for r in reqs)
    return {
        "startup_scan": first_req - t_start,
        "probe": probe_end - first_req,
        "network": last_resp - first_req,
        "network_after_probe": last_resp - probe_end,
        "after": t_end - last_resp,
        "total": t_end - t_start,
        "files_written": files_written or 0,
        "requests_logged": len(reqs),
        "probes": len(probe),
        "concurrency": busy / (last_resp - first_req) if last_resp > first_req else float("nan"),
        "t_exec": t_start, "t_first_req": first_req, "t_last_resp": last_resp,
    }


def readiness(listing, vlog_path, prof):
    """When each file became ready to write: the time its last image's history arrived."""
    done = {}
    for line in open(vlog_path, errors="replace"):
        m = re.match(r"(\S+Z)\s+DEBUG request method=\S+ url=(\S+) status=2\d\d", line)
        if not m:
            continue
        h = re.search(r"/v2/(\S+?)/_chainguard/history/([^?\s]+)", m.group(2))
        if h:
            key = "%s:%s" % (h.group(1), h.group(2))
            done[key] = max(done.get(key, 0), _iso(m.group(1)))
    ready = []
    for f in listing["files"]:
        ts = [done.get("%s:%s" % (r["repository"], r["tag"])) for r in f.get("refs") or []
              if r["state"] in ("pinned", "unpinned") and r.get("registry") == "cgr.dev"]
        if ts and all(t is not None for t in ts):
            ready.append(max(ts))
    if not ready or not prof.get("files_written"):
        return {}
    ready.sort()
    first_req = prof["t_first_req"]
    q = lambda x: ready[min(len(ready) - 1, max(0, int(x * len(ready)) - 1))] - first_req
    return {"ready_q": [(int(x * 100), q(x)) for x in (0.1, 0.5, 0.9)], "ready_n": len(ready)}


def write_experiment(tree, scratch):
    """The same syscalls as digestpin's write_atomic (temp file, write, fchmod, [fsync],
    rename over the original) on a copy of the tree, four ways: how much is fsync, how much
    does doing it from 16 threads help (the journal commits concurrent fsyncs together)."""
    import concurrent.futures
    files = []
    for root, _, names in os.walk(tree):
        files += [os.path.relpath(os.path.join(root, n), tree) for n in names]

    def atomic(path, data, sync):
        fd, tmp = tempfile.mkstemp(prefix=".digestpin-", suffix=".tmp", dir=os.path.dirname(path))
        try:
            os.write(fd, data)
            os.fchmod(fd, 0o644)
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, path)

    variants = (("one after the other, fsync each (digestpin's first version)", True, 1),
                ("16 threads, fsync each", True, 16),
                ("one after the other, no fsync", False, 1),
                ("4 threads, no fsync (digestpin now)", False, 4))
    times = {v[0]: [] for v in variants}
    for _ in range(3):  # interleaved, so slow moments of the disk hit every variant alike
        for label, sync, threads in variants:
            shutil.rmtree(scratch, ignore_errors=True)
            shutil.copytree(tree, scratch)
            paths = [os.path.join(scratch, f) for f in files]
            datas = [open(p_, "rb").read() + b"\n" for p_ in paths]
            os.sync()
            t = time.perf_counter()
            if threads == 1:
                for p_, d_ in zip(paths, datas):
                    atomic(p_, d_, sync)
            else:
                with concurrent.futures.ThreadPoolExecutor(threads) as ex:
                    list(ex.map(lambda a: atomic(a[0], a[1], sync), zip(paths, datas)))
            times[label].append(time.perf_counter() - t)
    out = [(label, statistics.median(times[label]), len(files)) for label, _, _ in variants]
    shutil.rmtree(scratch, ignore_errors=True)
    return out


def fmt_s(x):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if x < 1:
        return "%.0f ms" % (x * 1000)
    if x < 10:
        return "%.2f s" % x
    return "%.1f s" % x


def fmt_cpu(x):
    # GNU time reports CPU time in 10 ms steps
    return "< 10 ms" if x is not None and x < 0.01 else fmt_s(x)


def fmt_mb(kb):
    return "n/a" if kb is None else "%.1f MiB" % (kb / 1024)


def fmt_x(x, digits=2):
    if x is None or (isinstance(x, float) and (math.isnan(x) or math.isinf(x))):
        return "n/a"
    return ("%%.%df×" % digits) % x


def floor_s(requests, jobs, latency_ms):
    return math.ceil(requests / jobs) * latency_ms / 1000.0


# --------------------------------------------------------------------------------------------
# the bench


class Bench:
    def __init__(self, a):
        self.a = a
        self.root = a.root
        self.dp = a.digestpin
        self.emu_bin = a.emulator
        self.work = a.workdir
        self.lat = a.latency_ms
        self.jobs = a.jobs
        self.results = {}
        self.targets = []  # (PASS|FAIL|SKIP, text)
        self.notes = []
        self.loads = []
        os.makedirs(self.work, exist_ok=True)
        self.docker_config = os.path.join(self.work, "docker-config")
        os.makedirs(self.docker_config, exist_ok=True)
        with open(os.path.join(self.docker_config, "config.json"), "w") as f:
            f.write("{}\n")

    # -- helpers ------------------------------------------------------------------------------
    def env(self, cache_dir, endpoint=None):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("DIGESTPIN_", "CHAINGUARD_", "GITHUB_")) and k not in ("CI", "NO_COLOR")}
        env["DOCKER_CONFIG"] = self.docker_config
        env["DIGESTPIN_CACHE_DIR"] = cache_dir
        env["XDG_CACHE_HOME"] = os.path.join(self.work, "xdg-cache")
        env["NO_COLOR"] = "1"
        if endpoint:
            env["DIGESTPIN_ENDPOINTS"] = "cgr.dev=" + endpoint
        return env

    def fresh_copy(self, tree, name):
        """A copy of `tree` to run on, flushed to disk: like a checkout, it holds no dirty
        pages that the next fsync would have to write out first (that costs ~0.5 s here)."""
        dst = os.path.join(self.work, name)
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(tree, dst, symlinks=True)
        os.sync()
        return dst

    def emulator(self, images):
        return Emulator(self.emu_bin, images, self.a.history, self.lat, self.work)

    def note_load(self, label):
        self.loads.append((label, loadavg()))

    def make_tree(self, name, files, distinct, image_format):
        out = os.path.join(self.work, name)
        images = out + ".images"
        shutil.rmtree(out, ignore_errors=True)
        info = mktree.make_tree(out, files, distinct, self.a.seed, image_format, self.dp, images)
        return out, images, info

    # -- digestpin against the emulator ----------------------------------------------------
    def dp_cold_emulator(self, tree, distinct, label, runs):
        """`pin --no-cache` on fresh copies, a fresh emulator per run (exact counts per run)."""
        out = []
        for i in range(runs):
            emu = self.emulator(distinct)
            d = self.fresh_copy(tree, "%s-cold-%d" % (label, i))
            cache = os.path.join(self.work, "%s-cold-cache-%d" % (label, i))
            r = measure([self.dp, "pin", "--no-cache", "--jobs", str(self.jobs), d],
                        env=self.env(cache, emu.url), out=d + ".out", err=d + ".err")
            r["counts"] = emu.stop()
            if r["rc"] != 0:
                raise RuntimeError("%s: digestpin pin exited %d: %s" % (label, r["rc"], open(d + ".err").read()[-2000:]))
            if i == 0:
                chk = subprocess.run([self.dp, "pin", "--check", "--offline", d], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=self.env(cache))
                r["offline_check_rc"] = chk.returncode
            out.append(r)
            shutil.rmtree(d, ignore_errors=True)
        return out

    def dp_warm_emulator(self, tree, distinct, label, runs):
        """One emulator: a cache-filling `pin` (-v), then `pin --check` runs with the cache,
        the last one with -v. The warm count is the -v count of that last run, checked
        against the emulator's total."""
        emu = self.emulator(distinct)
        d = self.fresh_copy(tree, "%s-warm" % label)
        cache = os.path.join(self.work, "%s-warm-cache" % label)
        shutil.rmtree(cache, ignore_errors=True)
        env = self.env(cache, emu.url)
        fill = measure([self.dp, "pin", "-v", "--jobs", str(self.jobs), d], env=env, out=d + ".fill.out", err=d + ".fill.err")
        if fill["rc"] != 0:
            emu.stop()
            raise RuntimeError("%s: filling the cache: exit %d: %s" % (label, fill["rc"], open(d + ".fill.err").read()[-2000:]))
        fill_n = count_v_requests(d + ".fill.err")
        warm = []
        for i in range(runs):
            r = measure([self.dp, "pin", "--check", "--jobs", str(self.jobs), d], env=env, out=d + ".warm.out", err=d + ".warm.err")
            if r["rc"] != 0:
                emu.stop()
                raise RuntimeError("%s: warm pin --check exited %d: %s" % (label, r["rc"], open(d + ".warm.err").read()[-2000:]))
            warm.append(r)
        last = measure([self.dp, "pin", "--check", "-v", "--jobs", str(self.jobs), d], env=env, out=d + ".warmv.out", err=d + ".warmv.err")
        warm_n = count_v_requests(d + ".warmv.err")
        counts = emu.stop()
        expected = fill_n + (runs + 1) * warm_n
        res = median_run(warm)
        res["requests"] = warm_n
        res["fill_requests"] = fill_n
        res["emulator_total"] = counts["total"]
        res["consistent"] = counts["total"] == expected
        res["last_rc"] = last["rc"]
        if not res["consistent"]:
            self.notes.append("%s warm run: the emulator counted %d requests, the -v logs %d (fill %d + %d × %d); "
                              "the warm count may be off" % (label, counts["total"], expected, fill_n, runs + 1, warm_n))
        shutil.rmtree(d, ignore_errors=True)
        return res, warm

    def profile(self, tree, distinct, label, runs=3):
        """Cold `pin -v` runs (not timed with the others): where the wall time goes, from the
        process's start and end and the -v log's request timestamps (no tracer, so nothing is
        slowed down). The run with the median total is reported."""
        profs = []
        for i in range(runs):
            emu = self.emulator(distinct)
            d = self.fresh_copy(tree, "%s-profile-%d" % (label, i))
            t_start = time.time()
            r = measure([self.dp, "pin", "--no-cache", "-v", "--jobs", str(self.jobs), d],
                        env=self.env(os.path.join(self.work, "%s-profile-cache-%d" % (label, i)), emu.url),
                        out=d + ".out", err=d + ".err")
            t_end = t_start + r["wall"]
            counts = emu.stop()
            if r["rc"] != 0:
                self.notes.append("phase profile failed (exit %d): %s" % (r["rc"], open(d + ".err").read()[-300:]))
                return None
            p = phases(d + ".err", t_start, t_end, self.jobs, self.lat)
            if "error" in p:
                self.notes.append("phase profile: %s" % p["error"])
                return None
            p["requests"] = counts["total"]
            p["vlog"] = d + ".err"
            profs.append(p)
            shutil.rmtree(d, ignore_errors=True)
        profs.sort(key=lambda x: x["total"])
        p = profs[(len(profs) - 1) // 2]
        p["totals"] = [x["total"] for x in profs]
        lst = subprocess.run([self.dp, "list", "--format", "json", tree], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL).stdout
        p.update(readiness(json.loads(lst), p["vlog"], p))
        p["fs"] = write_experiment(tree, os.path.join(self.work, "%s-fs" % label))
        return p

    def skopeo_emulator(self, tree, images, distinct, label):
        emu = self.emulator(distinct)
        d = self.fresh_copy(tree, "%s-skopeo" % label)
        conf = os.path.join(self.work, "%s-registries.conf" % label)
        with open(conf, "w") as f:
            f.write('[[registry]]\nprefix = "cgr.dev"\nlocation = "127.0.0.1:%d"\ninsecure = true\n' % emu.port)
        cmd = ["bash", SKOPEO_LOOP, images, d, "raw", "--registries-conf", conf]
        r = measure(cmd, env=self.skopeo_env(), out=d + ".out", err=d + ".err")
        if r["rc"] != 0:
            emu.stop()
            raise RuntimeError("%s: skopeo loop exited %d: %s" % (label, r["rc"], open(d + ".err").read()[-2000:]))
        # Did it pin every reference to the digest the tag points to now? Ask digestpin, on
        # the same emulator (-v, so its own requests can be taken off the total).
        chk = subprocess.run([self.dp, "pin", "--check", "--no-cache", "-v", d], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=self.env(os.path.join(self.work, "skopeo-check-cache"), emu.url))
        chk_err = os.path.join(self.work, "%s-skopeo-check.err" % label)
        with open(chk_err, "wb") as f:
            f.write(chk.stderr)
        counts = emu.stop()
        mine = count_v_kinds(chk_err)
        r["counts"] = {k: counts.get(k, 0) - mine.get(k, 0) for k in counts}
        r["requests"] = r["counts"]["total"]
        r["verified"] = chk.returncode == 0
        if not r["verified"]:
            self.notes.append("%s: after the skopeo loop, `digestpin pin --check` exited %d: %s"
                              % (label, chk.returncode, chk.stdout.decode(errors="replace")[:300]))
        shutil.rmtree(d, ignore_errors=True)
        return r

    def skopeo_env(self):
        env = dict(os.environ)
        env["HOME"] = os.path.join(self.work, "skopeo-home")  # no user registries.conf/auth
        os.makedirs(env["HOME"], exist_ok=True)
        env["REGISTRY_AUTH_FILE"] = os.path.join(self.work, "skopeo-auth.json")
        with open(env["REGISTRY_AUTH_FILE"], "w") as f:
            f.write('{"auths":{}}\n')
        return env

    # -- scenarios -----------------------------------------------------------------------------
    def emulator_scenario(self, key, title, tree, images, distinct, tree_desc):
        a = self.a
        log("%s: digestpin cold (%d runs)" % (key, a.runs))
        self.note_load(key)
        cold = self.dp_cold_emulator(tree, distinct, key, a.runs)
        c = median_run(cold)
        log("%s: digestpin warm (%d runs)" % (key, a.runs))
        warm, _ = self.dp_warm_emulator(tree, distinct, key, a.runs)
        sk = None
        if not a.no_skopeo:
            log("%s: skopeo loop (%d images, one after the other)" % (key, distinct))
            sk = self.skopeo_emulator(tree, images, distinct, key)
        prof = None
        if key == "monorepo" and not a.no_profile:
            log("%s: phase profile (3 more runs with -v)" % key)
            prof = self.profile(tree, distinct, key)
        req = c["counts"]["total"]
        fl = floor_s(req, self.jobs, self.lat)
        depth = 3  # /v2/ probe, then token, then history: one repository's requests are serial
        fl_dep = max(fl, depth * self.lat / 1000.0)
        ideal = floor_s(2 * distinct, self.jobs, self.lat)
        res = {"title": title, "tree": tree_desc, "distinct": distinct, "cold": c, "cold_runs": cold,
               "warm": warm, "skopeo": sk, "floor": fl, "floor_dep": fl_dep, "floor_ideal": ideal,
               "requests": req, "profile": prof}
        self.results[key] = res
        return res

    def monorepo(self):
        a = self.a
        tree, images, info = self.make_tree("monorepo-tree", a.files, a.distinct, "cgr.dev/chainguard/img-{k}:latest")
        desc = ("`benches/gen_tree.py --files %d --seed %d`, image references mapped onto %d emulator images "
                "(`benches/e2e/mktree.py`): %d files, %.1f MB, %d references rewritten (%s)"
                % (a.files, a.seed, info["distinct"], info["files"], info["bytes"] / 1e6, info["refs_rewritten"],
                   ", ".join("%d %s" % (v, k) for k, v in sorted(info["states"].items()))))
        self.tree_info = info
        return self.emulator_scenario("monorepo", "monorepo pin", tree, images, info["distinct"], desc)

    def small(self):
        d = os.path.join(self.work, "small-tree")
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        with open(os.path.join(d, "Dockerfile"), "w") as f:
            f.write(SMALL_DOCKERFILE)
        images = d + ".images"
        with open(images, "w") as f:
            f.write("".join("cgr.dev/chainguard/img-%d:latest\n" % i for i in range(5)))
        return self.emulator_scenario("small", "small repo", d, images, 5,
                                      "one multi-stage Dockerfile, 5 images (ARG-fed FROM, FROM, RUN --mount from=, final FROM)")

    def scaling(self):
        a = self.a
        rows = []
        for n in a.scaling:
            mono = self.results.get("monorepo")
            if mono and n == mono["distinct"] and a.scaling_files == a.files:
                log("scaling: %d images: reusing the monorepo measurements" % n)
                rows.append({"n": n, "dp": mono["cold"]["wall"], "dp_rss": mono["cold"]["rss_kb"],
                             "requests": mono["requests"], "skopeo": mono["skopeo"]["wall"] if mono["skopeo"] else None,
                             "skopeo_requests": mono["skopeo"]["requests"] if mono["skopeo"] else None,
                             "floor": mono["floor"]})
                continue
            tree, images, info = self.make_tree("scaling-%d" % n, a.scaling_files, n, "cgr.dev/chainguard/img-{k}:latest")
            self.note_load("scaling %d" % n)
            log("scaling: %d images: digestpin (%d runs)" % (n, a.scaling_runs))
            cold = self.dp_cold_emulator(tree, info["distinct"], "scaling-%d" % n, a.scaling_runs)
            c = median_run(cold)
            sk = None
            if not a.no_skopeo:
                log("scaling: %d images: skopeo loop" % n)
                sk = self.skopeo_emulator(tree, images, info["distinct"], "scaling-%d" % n)
            rows.append({"n": n, "dp": c["wall"], "dp_rss": c["rss_kb"], "requests": c["counts"]["total"],
                         "skopeo": sk["wall"] if sk else None, "skopeo_requests": sk["requests"] if sk else None,
                         "floor": floor_s(c["counts"]["total"], self.jobs, self.lat)})
            shutil.rmtree(tree, ignore_errors=True)
        self.results["scaling"] = rows
        return rows

    def generic(self):
        regdir = os.path.join(self.work, "registry")
        shutil.rmtree(regdir, ignore_errors=True)
        os.makedirs(regdir)
        try:
            reg = dockerreg.Registry(regdir).start()
        except RuntimeError as e:
            self.notes.append("generic registry scenario skipped: %s" % e)
            return None
        _CHILDREN.append(reg.proc)
        try:
            return self._generic(reg)
        finally:
            if reg.proc in _CHILDREN:
                _CHILDREN.remove(reg.proc)
            reg.stop()

    def _generic(self, reg):
        a = self.a
        n = a.generic_images
        log("generic: pushing %d images to docker-registry at %s" % (n, reg.url()))
        pushed = reg.push_many(n)
        want = {"%s/%s" % (reg.host(), ref): digest for ref, digest, _ in pushed}
        kinds = {}
        for _, _, mt in pushed:
            kinds[mt] = kinds.get(mt, 0) + 1
        tree, images, info = self.make_tree("generic-tree", a.generic_files, n, reg.host() + "/bench/img-{k}:1.0")
        desc = ("`gen_tree.py --files %d --seed %d` mapped onto `%s/bench/img-K:1.0`: %d files, %d distinct images "
                "(%s), no `--endpoint`; docker-registry adds no latency"
                % (a.generic_files, a.seed, reg.host(), info["files"], info["distinct"],
                   ", ".join("%d %s" % (v, MEDIA_NAMES.get(k, k)) for k, v in sorted(kinds.items()))))
        self.note_load("generic")

        def delta(fn):
            before = reg.settled_count()
            r = fn()
            r["requests"] = reg.settled_count() - before
            return r

        log("generic: digestpin cold (%d runs)" % a.runs)
        cold = []
        for i in range(a.runs):
            d = self.fresh_copy(tree, "generic-cold-%d" % i)
            cache = os.path.join(self.work, "generic-cold-cache-%d" % i)
            r = delta(lambda: measure([self.dp, "pin", "--no-cache", "--jobs", str(self.jobs), d],
                                      env=self.env(cache), out=d + ".out", err=d + ".err"))
            if r["rc"] != 0:
                raise RuntimeError("generic: digestpin pin exited %d: %s" % (r["rc"], open(d + ".err").read()[-2000:]))
            if i == 0:
                r["verified"] = self.verify_generic(d, want)
            cold.append(r)
            shutil.rmtree(d, ignore_errors=True)
        c = median_run(cold)
        c["verified"] = cold[0].get("verified")

        log("generic: digestpin warm")
        d = self.fresh_copy(tree, "generic-warm")
        cache = os.path.join(self.work, "generic-warm-cache")
        shutil.rmtree(cache, ignore_errors=True)
        fill = measure([self.dp, "pin", "--jobs", str(self.jobs), d], env=self.env(cache), err=d + ".fill.err")
        if fill["rc"] != 0:
            raise RuntimeError("generic: filling the cache: exit %d: %s" % (fill["rc"], open(d + ".fill.err").read()[-2000:]))
        warm = []
        for i in range(a.runs):
            r = delta(lambda: measure([self.dp, "pin", "--check", "--jobs", str(self.jobs), d], env=self.env(cache),
                                      out=d + ".warm.out", err=d + ".warm.err"))
            if r["rc"] != 0:
                raise RuntimeError("generic: warm pin --check exited %d: %s" % (r["rc"], open(d + ".warm.err").read()[-2000:]))
            warm.append(r)
        w = median_run(warm)
        shutil.rmtree(d, ignore_errors=True)

        sk = None
        if not a.no_skopeo:
            log("generic: skopeo loop (%d images)" % info["distinct"])
            d = self.fresh_copy(tree, "generic-skopeo")
            sk = delta(lambda: measure(["bash", SKOPEO_LOOP, images, d, "format"], env=self.skopeo_env(),
                                       out=d + ".out", err=d + ".err"))
            if sk["rc"] != 0:
                raise RuntimeError("generic: skopeo loop exited %d: %s" % (sk["rc"], open(d + ".err").read()[-2000:]))
            sk["verified"] = self.verify_generic(d, want)
            shutil.rmtree(d, ignore_errors=True)

        rv = None
        if not a.no_renovate:
            rv = self.renovate(tree, reg, delta, info["distinct"])
        res = {"title": "generic registry", "tree": desc, "distinct": info["distinct"], "cold": c, "warm": w,
               "skopeo": sk, "renovate": rv, "requests": c["requests"]}
        self.results["generic"] = res
        return res

    def verify_generic(self, d, want):
        """Every reference in d is pinned to the digest we pushed for its tag."""
        out = subprocess.run([self.dp, "list", "--format", "json", d], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL).stdout
        bad = 0
        for f in json.loads(out)["files"]:
            for r in f.get("refs") or []:
                if r["state"] == "unpinned":
                    bad += 1
                elif r["state"] == "pinned":
                    key = "%s/%s:%s" % (r["registry"], r["repository"], r["tag"])
                    if key in want and r["digest"] != want[key]:
                        bad += 1
        return bad == 0

    # -- Renovate ------------------------------------------------------------------------------
    def renovate_bin(self):
        if self.a.renovate_bin:
            return self.a.renovate_bin if os.path.exists(self.a.renovate_bin) else None
        cand = os.path.join(self.a.renovate_dir, "node_modules", ".bin", "renovate")
        return cand if os.path.exists(cand) else None

    def renovate(self, tree, reg, delta, distinct):
        rb = self.renovate_bin()
        if not rb:
            self.notes.append(
                "Renovate skipped: not installed at %s. Install it with `scripts/bench-e2e --install-renovate` "
                "(npm i renovate@39 into target/e2e/renovate; Renovate 40+ needs Node 22+, this machine has %s)."
                % (os.path.join(self.a.renovate_dir, "node_modules/.bin/renovate"), node_version()))
            return None
        log("generic: Renovate look-up (%s)" % renovate_version(rb))
        d = self.fresh_copy(tree, "generic-renovate")
        with open(os.path.join(d, "renovate.json"), "w") as f:
            json.dump({
                "extends": [],
                "enabledManagers": ["dockerfile"],
                "pinDigests": True,
                "hostRules": [{"matchHost": reg.host(), "insecureRegistry": True}],
                # Only the local registry: the tree's `# syntax=` directives and variable-fed
                # Docker Hub images would otherwise be looked up on the internet (unreachable
                # here, and an external-host error aborts the run).
                "packageRules": [{"matchPackageNames": ["*"], "enabled": False},
                                 {"matchPackageNames": ["/^127\\.0\\.0\\.1:[0-9]+\\//"], "enabled": True}],
            }, f, indent=1)
        # Renovate's local platform reads the repository from the working directory (a git repo).
        g = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", "-c", "init.defaultBranch=main"]
        subprocess.run(g + ["init", "-q"], cwd=d, check=True)
        subprocess.run(g + ["add", "-A"], cwd=d, check=True)
        subprocess.run(g + ["commit", "-qm", "tree"], cwd=d, check=True)
        base = os.path.join(self.work, "renovate-base")
        shutil.rmtree(base, ignore_errors=True)
        env = dict(os.environ)
        for k in list(env):
            if k.startswith("RENOVATE_") or k in ("CI", "GITHUB_TOKEN"):
                env.pop(k)
        env.update({"LOG_LEVEL": "debug", "LOG_FORMAT": "json", "RENOVATE_BASE_DIR": base,
                    "RENOVATE_CACHE_DIR": os.path.join(base, "cache"), "RENOVATE_X_IGNORE_NODE_WARN": "true",
                    "HOME": os.path.join(self.work, "renovate-home"), "NO_COLOR": "1"})
        os.makedirs(env["HOME"], exist_ok=True)
        cmd = [rb, "--platform=local", "--dry-run=lookup", "--onboarding=false", "--require-config=optional",
               "--persist-repo-data=false"]
        self.renovate_cmd = " ".join(shlex.quote(c) for c in ["renovate"] + cmd[1:])
        logf = d + ".log"
        r = delta(lambda: measure(cmd, env=env, cwd=d, out=logf, err=d + ".err", timeout=900))
        r["version"] = renovate_version(rb)
        r["lookup_s"], r["digests"], r["total_ms"] = parse_renovate_log(logf)
        r["log"] = logf
        if r["rc"] != 0:
            self.notes.append("Renovate exited %d; see %s" % (r["rc"], logf))
        if r["digests"] < distinct:
            self.notes.append("Renovate reported %d digest updates for %d distinct images (log: %s)"
                              % (r["digests"], distinct, logf))
        return r

    # -- report --------------------------------------------------------------------------------
    def check(self, ok, text):
        self.targets.append(("PASS" if ok else "FAIL", text))

    def skip(self, text):
        self.targets.append(("SKIP", text))


def node_version():
    try:
        return subprocess.run(["node", "--version"], stdout=subprocess.PIPE, text=True).stdout.strip()
    except OSError:
        return "no node"


_RV = {}


def renovate_version(rb):
    if rb not in _RV:
        try:
            out = subprocess.run([rb, "--version"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                 text=True, timeout=120).stdout
            found = re.findall(r"^\s*(\d+\.\d+\.\d+\S*)\s*$", out, re.M)
            _RV[rb] = found[-1] if found else "?"
        except Exception:
            _RV[rb] = "?"
    return _RV[rb]


def parse_renovate_log(path):
    """From Renovate's JSON debug log: (its `lookup` timing split in seconds, the number of
    distinct images it found a digest for, its repository total in ms)."""
    lookup, total, names = None, None, set()
    with open(path, errors="replace") as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            msg = rec.get("msg", "")
            if msg.startswith("Repository timing splits") and isinstance(rec.get("splits"), dict):
                if "lookup" in rec["splits"]:
                    lookup = rec["splits"]["lookup"] / 1000.0
                total = rec.get("total")
            elif msg == "packageFiles with updates" and isinstance(rec.get("config"), dict):
                for files in rec["config"].values():
                    for pf in files if isinstance(files, list) else []:
                        for dep in pf.get("deps") or []:
                            if any(u.get("newDigest") for u in dep.get("updates") or []):
                                names.add(dep.get("depName"))
    return lookup, len(names), total


def display_path(path, root):
    rel = os.path.relpath(os.path.abspath(path), root)
    return path if rel.startswith("..") else rel


def field(path, key):
    """The value after the first `key` line of a `key: value` or `key=value` file, or None."""
    try:
        for line in open(path):
            if line.startswith(key):
                return line[len(key):].lstrip(" \t:=").strip()
    except OSError:
        pass
    return None


def machine_table():
    cpu = field("/proc/cpuinfo", "model name") or platform.machine()
    total_kb = field("/proc/meminfo", "MemTotal")
    mem = "%.1f GiB" % (int(total_kb.split()[0]) / 1024 / 1024) if total_kb else "?"
    osname = (field("/etc/os-release", "PRETTY_NAME") or "?").strip('"')
    rows = [("CPU", "%s, `nproc` = %s" % (cpu, os.cpu_count() if not hasattr(os, "sched_getaffinity") else len(os.sched_getaffinity(0)))),
            ("memory", mem), ("kernel", "%s %s" % (platform.system(), platform.release())), ("OS", osname)]
    return rows


def tool_versions(b):
    def out(cmd):
        try:
            return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60).stdout.strip().splitlines()[0]
        except Exception:
            return "not installed"
    rows = [("digestpin", "%s (%s)" % (out([b.dp, "--version"]), b.a.commit)),
            ("skopeo", out(["skopeo", "--version"])),
            ("docker-registry", out(["dpkg-query", "-W", "-f", "${Version}", "docker-registry"])),
            ("rustc", out(["rustc", "--version"]))]
    rb = b.renovate_bin()
    rows.append(("Renovate", "%s on Node %s" % (renovate_version(rb), node_version()) if rb else "not installed"))
    return rows


def report(b, started, load_start, quiet_ok):
    a = b.a
    L = []
    w = L.append
    w("## End-to-end: `digestpin pin` against registries (`scripts/bench-e2e`)")
    w("")
    w("Command: `%s`" % a.command)
    w("")
    w("| machine | |")
    w("| --- | --- |")
    for k, v in machine_table() + tool_versions(b):
        w("| %s | %s |" % (k, v))
    end_load = loadavg()
    w("| load average (1/5/15 min) | at start %.2f / %.2f / %.2f%s; at end %.2f / %.2f / %.2f |" % (
        load_start + (("" if quiet_ok else " (did not drop below %.1f within %d s)" % (a.max_load, a.load_wait)),) + end_load))
    w("| date | %s, %.0f s in all |" % (time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(started)), time.time() - started))
    w("")
    w("Method: each scenario in its own temporary directory under `%s`; servers on 127.0.0.1 started and "
      "stopped by the script. Wall time from a monotonic clock around the process, peak RSS from GNU "
      "`time -v` (for the shell loop: the largest single process). Every run works on a fresh copy of "
      "the tree, synced to disk first (`sync`: no dirty pages of the copy left for the run's own fsyncs "
      "to flush). digestpin: median of %d runs, each against a freshly started emulator, whose request "
      "counters give the requests. Emulator: `--latency-ms %d --history %d`. Floor = ⌈requests ÷ jobs⌉ × %d ms with "
      "jobs = %d." % (a.workdir, a.runs, a.latency_ms, a.history, a.latency_ms, a.jobs))
    w("")

    rss_all = []  # (label, kb)

    for key in ("monorepo", "small"):
        r = b.results.get(key)
        if not r:
            continue
        c, wm, sk = r["cold"], r["warm"], r["skopeo"]
        w("### %s" % ("Monorepo pin" if key == "monorepo" else "Small repo"))
        w("")
        w("Input: %s. Tag History emulator with %d ms added to every request." % (r["tree"], a.latency_ms))
        w("")
        w("| run | wall time | requests | peak RSS | × floor | × digestpin cold |")
        w("| --- | ---: | ---: | ---: | ---: | ---: |")
        cnt = c["counts"]
        w("| `digestpin pin --no-cache` (cold, `--jobs %d`) | %s | %d (%d token, %d history, %d other) | %s | %s | 1.00× |" % (
            a.jobs, fmt_s(c["wall"]), cnt["total"], cnt.get("token", 0), cnt.get("history", 0),
            cnt.get("other", 0) + cnt.get("manifest", 0) + cnt.get("tags_list", 0), fmt_mb(c["rss_kb"]),
            fmt_x(c["wall"] / r["floor"]), ))
        w("| `digestpin pin --check` (warm cache) | %s | %d | %s | %s | %s |" % (
            fmt_s(wm["wall"]), wm["requests"], fmt_mb(wm["rss_kb"]),
            fmt_x(wm["wall"] / floor_s(max(wm["requests"], 1), a.jobs, a.latency_ms)), fmt_x(wm["wall"] / c["wall"])))
        if sk:
            sc = sk["counts"]
            w("| skopeo loop (`skopeo inspect --raw`, sequential, + `sed -i`) | %s | %d (%d token, %d manifest, %d other) | %s | %s | %s |" % (
                fmt_s(sk["wall"]), sk["requests"], sc.get("token", 0), sc.get("manifest", 0),
                sc.get("other", 0), fmt_mb(sk["rss_kb"]),
                fmt_x(sk["wall"] / r["floor"]), fmt_x(sk["wall"] / c["wall"])))
        w("| floor: ⌈%d ÷ %d⌉ × %d ms | %s | — | — | 1.00× | %s |" % (
            r["requests"], a.jobs, a.latency_ms, fmt_s(r["floor"]), fmt_x(r["floor"] / c["wall"])))
        w("")
        walls = sorted(x["wall"] for x in r["cold_runs"])
        w("digestpin cold runs: %s (median %s); CPU %s user + %s sys; %d distinct images, so the "
          "fewest requests possible are 2 per image (token + history), whose floor is %s; one "
          "repository's requests are serial (/v2/ probe → token → history), so nothing can finish "
          "under %s." % (", ".join(fmt_s(x) for x in walls), fmt_s(c["wall"]), fmt_cpu(c["user"]), fmt_cpu(c["sys"]),
                          r["distinct"], fmt_s(r["floor_ideal"]), fmt_s(3 * a.latency_ms / 1000)))
        if key == "small":
            w("The floor formula ignores that chain: for 5 images ⌈%d ÷ %d⌉ = 1 round trip, while at least "
              "3 are needed (%s), so the ratio to the floor cannot approach 1 here; startup and the first "
              "request dominate." % (r["requests"], a.jobs, fmt_s(r["floor_dep"])))
        if sk:
            w("skopeo: cgr.dev is sent to the emulator with `--registries-conf` (`prefix = \"cgr.dev\"`, "
              "`location = \"127.0.0.1:PORT\"`), so the loop resolves the references exactly as written. "
              "`--raw` (digest = sha256 of the manifest bytes) because the emulator serves empty OCI "
              "indexes and no blobs, where `--format '{{.Digest}}'` fails choosing a platform; `--raw` is "
              "skopeo's cheapest path (one manifest GET after the /v2/ probe and token). "
              "Verified afterwards: `digestpin pin --check` on the loop's output %s." %
              ("exits 0 (every digest current)" if sk["verified"] else "FAILED"))
        w("")
        pr = r.get("profile")
        if pr and "error" not in pr:
            w("Where the time goes: %d more cold `pin -v` runs (%s; the median one is shown), phases from the "
              "process's start and end and the request timestamps of the `-v` log:" % (
                  len(pr["totals"]), ", ".join(fmt_s(x) for x in pr["totals"])))
            w("")
            w("| phase | time | share | what happens |")
            w("| --- | ---: | ---: | --- |")
            tot = pr["total"] or float("nan")
            nreq = pr["requests_logged"] - pr["probes"]
            rows = [
                ("start-up, walk, scan", pr["startup_scan"], "exec to the first request: find and parse the files, dedupe references"),
                ("auth probe", pr["probe"], "`GET /v2/` (401: learns the token realm) before any token request: one serial round trip"),
                ("tokens + histories", pr["network_after_probe"], "%d requests, %.1f in flight on average (jobs = %d); their own floor ⌈%d ÷ %d⌉ × %d ms = %s" % (
                    nreq, pr["concurrency"], a.jobs, nreq, a.jobs, a.latency_ms,
                    fmt_s(math.ceil(nreq / a.jobs) * a.latency_ms / 1000.0))),
                ("plan, diff, write files, exit", pr["after"], "last response to exit: of the %d files rewritten, only those "
                 "waiting for the last answers are left; each file is read, rewritten, diffed, written to a temp file and "
                 "renamed by one of 4 writer threads as soon as its own images have resolved" % pr["files_written"]),
            ]
            for name, t, what in rows:
                w("| %s | %s | %.0f%% | %s |" % (name, fmt_s(t), 100 * t / tot, what))
            w("| total | %s | 100%% | %s the floor |" % (fmt_s(pr["total"]), fmt_x(pr["total"] / r["floor"])))
            w("")
            if pr.get("ready_q"):
                w("Files are written while the network work goes on: %s of the %d files are ready %s after the "
                  "first request (the last response comes at %s), and each is written as soon as it is ready, so "
                  "the run ends %s after the last response." % (
                      ", ".join("%d%%" % q for q, _ in pr["ready_q"]), pr["ready_n"],
                      ", ".join(fmt_s(t) for _, t in pr["ready_q"]),
                      fmt_s(pr["t_last_resp"] - pr["t_first_req"]), fmt_s(pr["after"])))
                w("")
            if pr.get("fs"):
                w("The same write syscalls from Python (temp file, write, fchmod, fsync, rename) on a copy of the tree, "
                  "median of 3 interleaved runs: " + "; ".join("%s %s (%.2f ms/file)" % (lab, fmt_s(t), 1000 * t / n) for lab, t, n in pr["fs"]) + ".")
                w("")
        rss_all += [("%s cold" % key, c["rss_kb"]), ("%s warm" % key, wm["rss_kb"])]
        if key == "monorepo":
            ratio = c["wall"] / r["floor"]
            b.check(ratio <= 1.3, "monorepo pin within 1.3× of the floor (issue 5): %s vs %s = %s" % (
                fmt_s(c["wall"]), fmt_s(r["floor"]), fmt_x(ratio)))
            b.check(ratio <= 1.5, "monorepo pin within 1.5× of the floor (issue 3): %s" % fmt_x(ratio))
            n = r["distinct"]
            b.check(cnt.get("token", 0) <= n and cnt.get("history", 0) <= n,
                    "at most one token + one history request per distinct image: %d token, %d history, %d other for %d images"
                    % (cnt.get("token", 0), cnt.get("history", 0), cnt.get("other", 0), n))
            if sk:
                sp = sk["wall"] / c["wall"]
                b.check(sp >= 20, "≥ 20× faster than the sequential skopeo loop on the same images: %s" % fmt_x(sp, 1))
        b.check(wm["requests"] <= r["distinct"], "%s: warm-cache re-run at most one request per distinct image: %d requests for %d images%s" % (
            key, wm["requests"], r["distinct"], "" if wm["consistent"] else " (-v count; emulator total disagreed)"))

    g = b.results.get("generic")
    if g:
        c, wm, sk, rv = g["cold"], g["warm"], g["skopeo"], g["renovate"]
        w("### Generic registry")
        w("")
        w("Input: %s. Requests counted from the registry's access log." % g["tree"])
        w("")
        w("| run | wall time | requests | peak RSS | × digestpin cold |")
        w("| --- | ---: | ---: | ---: | ---: |")
        w("| `digestpin pin --no-cache` (cold) | %s | %d | %s | 1.00× |" % (fmt_s(c["wall"]), c["requests"], fmt_mb(c["rss_kb"])))
        w("| `digestpin pin --check` (warm cache) | %s | %d | %s | %s |" % (fmt_s(wm["wall"]), wm["requests"], fmt_mb(wm["rss_kb"]), fmt_x(wm["wall"] / c["wall"])))
        if sk:
            w("| skopeo loop (`skopeo inspect --format '{{.Digest}}'`, sequential, + `sed -i`) | %s | %d | %s | %s |" % (
                fmt_s(sk["wall"]), sk["requests"], fmt_mb(sk["rss_kb"]), fmt_x(sk["wall"] / c["wall"])))
        if rv:
            w("| Renovate %s `--platform=local --dry-run=lookup` (whole run) | %s | %d | %s | %s |" % (
                rv["version"], fmt_s(rv["wall"]), rv["requests"], fmt_mb(rv["rss_kb"]), fmt_x(rv["wall"] / c["wall"])))
            if rv.get("lookup_s") is not None:
                w("| Renovate: its own `lookup` timing split | %s | — | — | %s |" % (fmt_s(rv["lookup_s"]), fmt_x(rv["lookup_s"] / c["wall"])))
        w("")
        w("Checks: digestpin's pins %s the digests pushed (OCI index and Docker list tags pin to the index/list itself)%s." % (
            "match" if c.get("verified") else "DO NOT match",
            "" if not sk else "; the skopeo loop's %s" % ("match too" if sk["verified"] else "DO NOT match")))
        if rv:
            w("Renovate (`renovate.json`: `pinDigests: true`, `hostRules: [{matchHost: \"127.0.0.1:PORT\", insecureRegistry: true}]`, "
              "`enabledManagers: [\"dockerfile\"]`, package rules enabling only `127.0.0.1:PORT/…` images; command `%s` "
              "with `LOG_LEVEL=debug`, an empty cache and base dir) found digests for %d of %d images; exit %d. Its "
              "`lookup` split is Renovate's own \"Repository timing splits\" figure: the time from the end of "
              "extraction to the end of the look-ups, which excludes Node start-up, config and extraction."
              % (getattr(b, "renovate_cmd", "renovate"), rv["digests"], g["distinct"], rv["rc"]))
        w("")
        rss_all += [("generic cold", c["rss_kb"]), ("generic warm", wm["rss_kb"])]
        if sk:
            sp = sk["wall"] / c["wall"]
            b.check(sp >= 10, "generic registry: ≥ 10× faster than the skopeo loop: %s" % fmt_x(sp, 1))
        if rv:
            base = rv["lookup_s"] if rv.get("lookup_s") else rv["wall"]
            sp = base / c["wall"]
            b.check(sp >= 5, "generic registry: ≥ 5× faster than Renovate's look-up (%s %s vs %s): %s" % (
                "its lookup split" if rv.get("lookup_s") else "its whole run", fmt_s(base), fmt_s(c["wall"]), fmt_x(sp, 1)))
            mr = c["rss_kb"] / rv["rss_kb"] if rv["rss_kb"] else float("nan")
            b.check(mr <= 0.2, "generic registry: ≤ 1/5 of Renovate's peak memory (%s vs %s = %.3f)" % (
                fmt_mb(c["rss_kb"]), fmt_mb(rv["rss_kb"]), mr))
        else:
            b.skip("generic registry vs Renovate: Renovate not run (see notes)")
        b.check(wm["requests"] <= g["distinct"], "generic: warm-cache re-run at most one request per distinct image: %d for %d" % (
            wm["requests"], g["distinct"]))

    rows = b.results.get("scaling")
    if rows:
        w("### Scaling with the number of distinct images")
        w("")
        w("Trees of %d files (`gen_tree.py --files %d`), N distinct emulator images, %d ms per request; "
          "digestpin cold `pin --no-cache`, median of %d; skopeo loop once. Plot: `%s`." % (
              a.scaling_files, a.scaling_files, a.latency_ms, a.scaling_runs, display_path(a.svg, a.root)))
        w("")
        w("| distinct images | digestpin | requests | floor | × floor | skopeo loop | skopeo requests | skopeo ÷ digestpin | digestpin peak RSS |")
        w("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for x in rows:
            w("| %d | %s | %d | %s | %s | %s | %s | %s | %s |" % (
                x["n"], fmt_s(x["dp"]), x["requests"], fmt_s(x["floor"]), fmt_x(x["dp"] / x["floor"]),
                fmt_s(x["skopeo"]), "—" if x["skopeo_requests"] is None else x["skopeo_requests"],
                fmt_x(x["skopeo"] / x["dp"], 1) if x["skopeo"] else "—", fmt_mb(x["dp_rss"])))
            rss_all.append(("scaling %d" % x["n"], x["dp_rss"]))
        w("")

    worst = max((kb for _, kb in rss_all if kb), default=None)
    if worst is not None:
        b.check(worst < RSS_LIMIT_KB, "peak RSS under 64 MiB in every scenario: largest %s (%s)" % (
            fmt_mb(worst), ", ".join("%s %s" % (k, fmt_mb(v)) for k, v in rss_all)))

    w("### Targets")
    w("")
    for verdict, text in b.targets:
        w("- **%s**: %s" % (verdict, text))
    w("")
    if b.notes:
        w("### Notes")
        w("")
        for n in b.notes:
            w("- %s" % n)
        w("")
    if b.loads:
        w("Load average (1 min) at the start of each scenario: %s." % ", ".join(
            "%s %.2f" % (k, v[0]) for k, v in b.loads))
        w("")
    return "\n".join(L)


def write_plot(b):
    rows = b.results.get("scaling")
    if not rows:
        return None
    data = {
        "title": "Pinning N distinct images: wall time",
        "subtitle": "Tag History emulator, %d ms per request; digestpin --jobs %d; %d-file trees; %s" % (
            b.a.latency_ms, b.a.jobs, b.a.scaling_files, time.strftime("%Y-%m-%d", time.gmtime())),
        "xlabel": "distinct images (log scale)",
        "ylabel": "wall time, seconds (log scale)",
        "x": [r["n"] for r in rows],
        "series": [
            {"name": "digestpin pin --no-cache", "y": [r["dp"] for r in rows], "color": "#1f77b4"},
            {"name": "skopeo loop (sequential)", "y": [r["skopeo"] for r in rows], "color": "#d62728"},
            {"name": "floor", "y": [r["floor"] for r in rows], "color": "#2ca02c", "dash": True},
        ],
        "notes": ["floor = ceil(requests / %d) x %d ms" % (b.a.jobs, b.a.latency_ms),
                  "requests = digestpin's, counted", "by the emulator", "scripts/bench-e2e"],
    }
    os.makedirs(os.path.dirname(os.path.abspath(b.a.svg)), exist_ok=True)
    svg = plot.render(data)
    # The plotted numbers travel with the plot: `plot.py` can redraw it from this comment.
    svg += "<!-- data for benches/e2e/plot.py: %s -->\n" % plot.embed(data)
    with open(b.a.svg, "w") as f:
        f.write(svg)
    return b.a.svg


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", required=True)
    ap.add_argument("--digestpin", required=True)
    ap.add_argument("--emulator", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--report", required=True)
    ap.add_argument("--svg", required=True)
    ap.add_argument("--command", default="scripts/bench-e2e")
    ap.add_argument("--commit", default="?")
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--distinct", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--latency-ms", type=int, default=50)
    ap.add_argument("--history", type=int, default=100)
    ap.add_argument("--jobs", type=int, default=16)
    ap.add_argument("--scaling", default="10,25,50,100,200,400")
    ap.add_argument("--scaling-files", type=int, default=1000)
    ap.add_argument("--scaling-runs", type=int, default=3)
    ap.add_argument("--generic-images", type=int, default=50)
    ap.add_argument("--generic-files", type=int, default=200)
    ap.add_argument("--scenarios", default="monorepo,small,generic,scaling")
    ap.add_argument("--no-skopeo", action="store_true")
    ap.add_argument("--no-renovate", action="store_true")
    ap.add_argument("--no-profile", action="store_true")
    ap.add_argument("--renovate-dir", required=True)
    ap.add_argument("--renovate-bin")
    ap.add_argument("--max-load", type=float, default=1.5)
    ap.add_argument("--load-wait", type=int, default=600)
    ap.add_argument("--strict", action="store_true")
    a = ap.parse_args()
    a.scaling = [int(x) for x in a.scaling.split(",") if x]
    scenarios = [s for s in a.scenarios.split(",") if s]

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    if not a.no_skopeo and not shutil.which("skopeo"):
        raise SystemExit("skopeo is not installed (apt-get install -y skopeo), or pass --no-skopeo")
    started = time.time()
    try:
        b = Bench(a)
        load_start, quiet_ok = wait_for_quiet(a.max_load, a.load_wait)
        load_start = loadavg()
        for s in scenarios:
            getattr(b, s)()
        text = report(b, started, load_start, quiet_ok)
        svg = write_plot(b)
    finally:
        _cleanup()
    os.makedirs(os.path.dirname(os.path.abspath(a.report)), exist_ok=True)
    with open(a.report, "w") as f:
        f.write(text + "\n")
    print(text)
    log("report: %s%s" % (a.report, "; plot: %s" % svg if svg else ""))
    if a.strict and any(v == "FAIL" for v, _ in b.targets):
        sys.exit(1)


if __name__ == "__main__":
    main()

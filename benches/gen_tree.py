#!/usr/bin/env python3
"""Generate a deterministic tree of realistic Dockerfiles for digestpin benchmarks.

Python 3 standard library only. The same arguments always produce byte-identical output.

Modes:
  gen_tree.py --out DIR [--files 10000] [--seed 1] [--distinct 200] [--size 2048]
      A nested tree of --files Dockerfiles (services/.../Dockerfile, Dockerfile.dev,
      app.dockerfile, Containerfile, ...) of about --size bytes each, using exactly
      --distinct distinct image references (registry/repository:tag) overall when the
      tree holds enough references (a few per file), fewer otherwise.
  gen_tree.py --out DIR --flat [--files 10000] [--size 400]
      The same files, all in DIR itself (a flat folder of small files).
  gen_tree.py --out DIR --yaml [--files 10000] [--size 2048]
      A tree of compose files, GitHub workflows, Kubernetes manifests and GitLab CI files.
  gen_tree.py --out DIR --big-file BYTES [--seed 1] [--distinct 200]
      One file DIR/Dockerfile of about BYTES bytes (suffixes k/M/G accepted): many
      stages, one very long RUN continuation and one large heredoc.

--manifest PATH writes a JSON summary of what was generated (file count, bytes, and the
references by the state `digestpin list` should report) for sanity checks.

Content mirrors what real repositories hold: `# syntax=` directives, global ARGs feeding
FROM, multi-stage builds (2-4 stages, `AS name`), `FROM --platform=$BUILDPLATFORM`,
cgr.dev/chainguard/* and Docker Hub images with tags, some pinned `@sha256:<64 hex>`,
`COPY --from=stage|image`, `RUN --mount=type=cache,...`, long `RUN` commands with `\\`
continuations, comments, heredocs, LABEL/ENV/USER/EXPOSE/HEALTHCHECK, a few files with CRLF
line endings or lower-case keywords.
"""

import argparse
import hashlib
import json
import os
import random
import sys

# ---------------------------------------------------------------------------
# Image pool
# ---------------------------------------------------------------------------

# (name, tags, ecosystem, role) ; role: "build", "run" or "any"
CHAINGUARD = [
    ("python", ["latest", "latest-dev", "3.12", "3.12-dev", "3.11-dev"], "python", "any"),
    ("go", ["latest", "latest-dev", "1.22", "1.23-dev"], "go", "build"),
    ("node", ["latest", "latest-dev", "20", "22-dev"], "node", "any"),
    ("static", ["latest", "latest-glibc"], "static", "run"),
    ("wolfi-base", ["latest"], "generic", "any"),
    ("jdk", ["latest", "openjdk-21"], "java", "build"),
    ("jre", ["latest", "openjdk-21"], "java", "run"),
    ("maven", ["latest", "openjdk-21"], "java", "build"),
    ("gradle", ["latest"], "java", "build"),
    ("ruby", ["latest", "latest-dev"], "ruby", "any"),
    ("nginx", ["latest", "latest-dev"], "static", "run"),
    ("busybox", ["latest"], "generic", "any"),
    ("git", ["latest", "latest-root"], "generic", "build"),
    ("curl", ["latest", "latest-dev"], "generic", "any"),
    ("rust", ["latest", "latest-dev"], "rust", "build"),
    ("php", ["latest", "latest-fpm", "latest-dev"], "php", "any"),
    ("dotnet-sdk", ["latest", "latest-dev"], "dotnet", "build"),
    ("aspnet-runtime", ["latest"], "dotnet", "run"),
    ("glibc-dynamic", ["latest", "latest-dev"], "rust", "run"),
    ("bash", ["latest"], "generic", "any"),
    ("postgres", ["latest", "16"], "generic", "run"),
    ("redis", ["latest"], "generic", "run"),
]

HUB = [
    ("python", ["3.13-slim", "3.12-slim", "3.12-slim-bookworm", "3.11-alpine", "3.12", "3.10-slim"], "python", "any"),
    ("golang", ["1.23-alpine", "1.22-bookworm", "1.22", "1.21-alpine3.19", "1.23"], "go", "build"),
    ("node", ["22-alpine", "20-bookworm-slim", "20-alpine", "18-slim", "lts-alpine"], "node", "any"),
    ("alpine", ["3.20", "3.19", "3.18", "latest", None], "generic", "run"),
    ("debian", ["bookworm-slim", "bullseye-slim", "12", "bookworm"], "generic", "run"),
    ("ubuntu", ["24.04", "22.04", "20.04", "jammy", None], "generic", "any"),
    ("nginx", ["1.27-alpine", "1.25-alpine", "stable", "mainline-alpine-slim"], "static", "run"),
    ("eclipse-temurin", ["21-jre", "21-jdk", "17-jre-alpine", "17-jdk-jammy"], "java", "any"),
    ("maven", ["3.9-eclipse-temurin-21", "3.9.6-eclipse-temurin-17"], "java", "build"),
    ("rust", ["1.81-slim-bookworm", "1.80-alpine", "1.79", "slim"], "rust", "build"),
    ("ruby", ["3.3-slim", "3.2-alpine", "3.3"], "ruby", "any"),
    ("php", ["8.3-fpm-alpine", "8.2-apache", "8.3-cli"], "php", "any"),
    ("busybox", ["1.36", "1.36-musl", "stable"], "generic", "any"),
    ("postgres", ["16-alpine", "15", "16"], "generic", "run"),
    ("redis", ["7-alpine", "7.2"], "generic", "run"),
    ("library/httpd", ["2.4-alpine", "2.4"], "static", "run"),
    ("tonistiigi/xx", ["1.4.0", "1.5.0", "master"], "xx", "build"),
    ("bitnami/kubectl", ["1.29", "1.30", "latest"], "generic", "any"),
    ("hashicorp/terraform", ["1.7", "1.9.5", "latest"], "generic", "any"),
    ("grafana/grafana", ["10.4.2", "11.1.0"], "generic", "run"),
    ("docker.io/library/golang", ["1.22-alpine", "1.23"], "go", "build"),
    ("docker.io/library/python", ["3.12-slim"], "python", "any"),
    ("index.docker.io/library/alpine", ["3.20"], "generic", "run"),
]

OTHER = [
    ("gcr.io/distroless/static-debian12", ["nonroot", "latest", "debug"], "static", "run"),
    ("gcr.io/distroless/base-debian12", ["nonroot", "latest"], "static", "run"),
    ("gcr.io/distroless/cc-debian12", ["nonroot"], "rust", "run"),
    ("gcr.io/distroless/java21-debian12", ["nonroot", "latest"], "java", "run"),
    ("gcr.io/distroless/nodejs20-debian12", ["nonroot"], "node", "run"),
    ("gcr.io/distroless/python3-debian12", ["nonroot"], "python", "run"),
    ("mcr.microsoft.com/dotnet/sdk", ["8.0", "8.0-alpine", "9.0"], "dotnet", "build"),
    ("mcr.microsoft.com/dotnet/aspnet", ["8.0", "8.0-alpine", "9.0-noble-chiseled"], "dotnet", "run"),
    ("mcr.microsoft.com/dotnet/runtime-deps", ["8.0-jammy-chiseled"], "dotnet", "run"),
    ("quay.io/prometheus/busybox", ["latest", "glibc"], "generic", "run"),
    ("quay.io/keycloak/keycloak", ["25.0", "24.0.5"], "java", "run"),
    ("ghcr.io/astral-sh/uv", ["0.4.20", "latest", "python3.12-bookworm-slim"], "python", "build"),
    ("ghcr.io/acme/platform/base", ["v1.4.2", "v1.5.0", "main"], "generic", "any"),
    ("ghcr.io/acme/ci-tools", ["2024.06.1", "latest"], "generic", "build"),
    ("public.ecr.aws/docker/library/alpine", ["3.20", "3.19"], "generic", "run"),
    ("public.ecr.aws/lambda/python", ["3.12", "3.11"], "python", "run"),
    ("registry.example.com:5000/platform/base", ["2024.06", "2024.09", "stable"], "generic", "any"),
    ("registry.example.com/team-infra/golang-builder", ["1.22.5", "1.23.1"], "go", "build"),
    ("localhost:5000/dev/base", ["latest", "dev"], "generic", "any"),
    ("harbor.internal.example.net/library/node", ["20.15.1-alpine"], "node", "any"),
]


def _pool_candidates():
    out = []
    for name, tags, eco, role in CHAINGUARD:
        for t in tags:
            out.append(("cgr.dev/chainguard/" + name, t, eco, role))
    for name, tags, eco, role in HUB + OTHER:
        for t in tags:
            out.append((name, t, eco, role))
    return out


class Image:
    __slots__ = ("repo", "tag", "eco", "role", "digest")

    @property
    def apt(self):
        """Debian/Ubuntu-based (apt-get) rather than Wolfi/Alpine (apk)."""
        if self.repo.startswith(("cgr.dev/", "gcr.io/distroless", "registry.example.com", "localhost")):
            return False
        return not ("alpine" in (self.tag or "") or self.repo.endswith("alpine"))

    def __init__(self, repo, tag, eco, role, digest):
        self.repo, self.tag, self.eco, self.role, self.digest = repo, tag, eco, role, digest

    def text(self, pinned):
        s = self.repo if self.tag is None else "%s:%s" % (self.repo, self.tag)
        if pinned:
            s += "@sha256:" + self.digest
        return s

    def key(self):
        return self.text(False)


def build_pool(rng, distinct, seed):
    cands = _pool_candidates()
    rng.shuffle(cands)
    # Keep Chainguard images near the front: they are what the tool is mostly used on.
    cands.sort(key=lambda c: 0 if c[0].startswith("cgr.dev/") and rng.random() < 0.6 else 1)
    pool = []
    for repo, tag, eco, role in cands[:distinct]:
        pool.append((repo, tag, eco, role))
    k = 0
    synth_ecos = ["go", "python", "node", "java", "generic", "rust"]
    while len(pool) < distinct:
        # Internal registry images beyond the catalogue: team base images with versions.
        team = k % 97
        eco = synth_ecos[k % len(synth_ecos)]
        role = "build" if k % 3 == 0 else ("run" if k % 3 == 1 else "any")
        ver = "%d.%d.%d" % (1 + (k // 97) % 4, (k * 7) % 13, (k * 11) % 23)
        pool.append(("registry.example.com/team-%02d/%s-base" % (team, eco), ver, eco, role))
        k += 1
    images = []
    for repo, tag, eco, role in pool:
        d = hashlib.sha256(("%s|%s:%s" % (seed, repo, tag)).encode()).hexdigest()
        images.append(Image(repo, tag, eco, role, d))
    return images


class Picker:
    """Zipf-like image choice that first walks through every image once (coverage)."""

    def __init__(self, rng, images):
        self.rng = rng
        self.images = images
        self.unused = list(images)
        rng.shuffle(self.unused)
        self.by_role = {}
        for role in ("build", "run"):
            sub = [im for im in images if im.role in (role, "any")] or list(images)
            self.by_role[role] = (sub, self._cum([1.0 / (i + 1) ** 0.9 for i in range(len(sub))]))
        self.all = (images, self._cum([1.0 / (i + 1) ** 0.9 for i in range(len(images))]))
        self.used = set()

    @staticmethod
    def _cum(ws):
        out, acc = [], 0.0
        for w in ws:
            acc += w
            out.append(acc)
        return out

    def pick(self, role=None):
        if self.unused:
            im = self.unused.pop()
        else:
            sub, cum = self.by_role.get(role, self.all)
            x = self.rng.random() * cum[-1]
            lo, hi = 0, len(cum) - 1
            while lo < hi:
                mid = (lo + hi) // 2
                if cum[mid] < x:
                    lo = mid + 1
                else:
                    hi = mid
            im = sub[lo]
        self.used.add(im.key())
        return im


# ---------------------------------------------------------------------------
# Content
# ---------------------------------------------------------------------------

STAGE_NAMES_BUILD = ["build", "builder", "compile", "deps", "base", "dev", "tools", "assets"]
STAGE_NAMES_FINAL = ["runtime", "final", "prod", "release", "app", None, None, None]
PKGS = ["ca-certificates", "curl", "git", "make", "gcc", "musl-dev", "openssl", "tzdata",
        "bash", "jq", "unzip", "build-base", "libffi-dev", "zlib-dev", "pkgconf", "wget",
        "openssh-client", "gnupg", "xz", "tar", "python3", "py3-pip", "nodejs", "npm"]
WORDS = ["payments", "ledger", "search", "gateway", "auth", "billing", "catalog", "orders",
         "notify", "metrics", "profile", "inventory", "shipping", "checkout", "reports",
         "scheduler", "ingest", "export", "media", "thumbnailer", "mailer", "audit"]


class Doc:
    """Accumulates lines and the references `digestpin list` should report."""

    def __init__(self):
        self.lines = []
        self.refs = []  # (state, kind)

    def add(self, *lines):
        self.lines.extend(lines)

    def ref(self, state, kind):
        self.refs.append((state, kind))

    def size(self):
        return sum(len(l) + 1 for l in self.lines)


class Gen:
    def __init__(self, rng, picker):
        self.rng = rng
        self.picker = picker

    def ch(self, seq):
        return seq[self.rng.randrange(len(seq))]

    def kw(self, word, lower):
        return word.lower() if lower else word

    def pkgs(self, n):
        return sorted(self.rng.sample(PKGS, n))

    # -- pieces --------------------------------------------------------------
    def comment_block(self, d, svc):
        r = self.rng
        opts = [
            "# Build image for %s. Keep base images pinned; see docs/containers.md." % svc,
            "# Maintainer: team-%s <team-%s@example.com>" % (self.ch(WORDS), self.ch(WORDS)),
            "# Stage layout: deps -> build -> runtime (distroless style, non-root)",
            "# NOTE: bump the toolchain together with .tool-versions",
            "# Generated sections below are kept in sync by scripts/sync-dockerfiles.sh",
            "#",
            "# Do not add secrets here; use --mount=type=secret instead.",
        ]
        for line in r.sample(opts, r.randint(1, 4)):
            d.add(line)

    def long_run(self, d, lower, eco, cache, apt=False):
        r = self.rng
        mounts = ""
        if cache:
            target = {"go": "/root/.cache/go-build", "python": "/root/.cache/pip",
                      "node": "/root/.npm", "java": "/root/.m2", "rust": "/usr/local/cargo/registry",
                      "dotnet": "/root/.nuget/packages"}.get(eco, "/var/cache/apk")
            mounts = "--mount=type=cache,target=%s,sharing=locked " % target
            if r.random() < 0.3:
                mounts += "\\\n    --mount=type=cache,target=/var/cache/apk,id=apk-%s " % r.randrange(100)
        head = self.kw("RUN", lower) + " " + mounts
        body = []
        if eco == "generic" or r.random() < 0.4:
            if apt:
                body.append("apt-get update")
                body.append("apt-get install -y --no-install-recommends %s" % " ".join(self.pkgs(r.randint(3, 7))))
                body.append("rm -rf /var/lib/apt/lists/*")
            else:
                body.append("apk add --no-cache %s" % " ".join(self.pkgs(r.randint(3, 7))))
        cmds = {
            "go": ["go mod download", "CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH:-amd64} go build -trimpath -ldflags=\"-s -w -X main.version=${VERSION}\" -o /out/app ./cmd/server", "go vet ./...", "go test -short ./internal/..."],
            "python": ["python -m venv /opt/venv", "/opt/venv/bin/pip install --no-cache-dir -r requirements.txt", "/opt/venv/bin/pip install --no-deps .", "python -m compileall -q /app"],
            "node": ["npm ci --omit=dev", "npm run build -- --mode=production", "npm prune --production", "rm -rf /root/.npm/_logs"],
            "java": ["mvn -B -q -DskipTests package", "java -Djarmode=layertools -jar target/app.jar extract --destination /out", "./gradlew --no-daemon bootJar"],
            "rust": ["cargo fetch --locked", "cargo build --release --locked --bin server", "strip target/release/server", "cp target/release/server /out/server"],
            "dotnet": ["dotnet restore --locked-mode", "dotnet publish -c Release -o /out --no-restore /p:UseAppHost=false"],
            "ruby": ["bundle config set --local deployment true", "bundle install --jobs 4 --retry 3", "bundle exec bootsnap precompile --gemfile"],
            "php": ["composer install --no-dev --prefer-dist --no-interaction", "composer dump-autoload --optimize"],
        }.get(eco, ["mkdir -p /out /etc/app", "curl -fsSL -o /tmp/tool.tar.gz https://downloads.example.com/tool/v1.2.3/tool-linux-amd64.tar.gz", "echo \"9b74c9897bac770ffc029102a200c5de  /tmp/tool.tar.gz\" | md5sum -c -", "tar -xzf /tmp/tool.tar.gz -C /usr/local/bin", "rm -rf /tmp/*"])
        n = r.randint(2, len(cmds))
        body.extend(r.sample(cmds, n))
        if apt and len(body) > 3 and body[0] == "apt-get update":
            body.append(body.pop(2))  # clean the apt lists last
        if r.random() < 0.3:
            body.append("find / -xdev -name '*.pyc' -delete 2>/dev/null || true")
        lines = [head + "set -eux; \\"]
        for i, c in enumerate(body):
            last = i == len(body) - 1
            if not last and r.random() < 0.08:
                lines.append("    # %s" % self.ch(["pinned by renovate", "see INFRA-%d" % r.randrange(9999), "keep in sync with Makefile"]))
            lines.append("    %s%s" % (c, "" if last else " && \\"))
        d.add(*lines)

    def heredoc(self, d, lower, eco):
        r = self.rng
        delim = self.ch(["EOF", "EOT", "SCRIPT"])
        if r.random() < 0.5:
            d.add(self.kw("RUN", lower) + " <<" + delim)
            d.add("set -euo pipefail")
            d.add("mkdir -p /etc/%s" % self.ch(WORDS))
            d.add("cat > /etc/profile.d/app.sh <<'INNER'")
            d.add("export APP_ENV=production")
            d.add("INNER")
            d.add("echo \"built at $(date -u +%Y-%m-%dT%H:%M:%SZ)\" > /etc/build-info")
            d.add(delim)
        else:
            d.add(self.kw("COPY", lower) + " <<" + delim + " /etc/app/config.yaml")
            d.add("server:")
            d.add("  port: %d" % self.ch([8080, 8000, 3000, 9090]))
            d.add("  # FROM here on the values come from the environment")
            d.add("log_level: info")
            d.add(delim)

    def labels(self, d, lower, svc):
        r = self.rng
        L = self.kw("LABEL", lower)
        if r.random() < 0.5:
            d.add(L + ' org.opencontainers.image.source="https://github.com/acme/%s" \\' % svc,
                  '      org.opencontainers.image.description="%s service" \\' % svc.capitalize(),
                  '      org.opencontainers.image.licenses="Apache-2.0"')
        else:
            d.add(L + ' maintainer="team-%s@example.com"' % self.ch(WORDS))
            d.add(L + " org.opencontainers.image.vendor=Acme version=${VERSION}")

    # -- stages --------------------------------------------------------------
    def from_line(self, d, lower, img, name, platform, pinned, ignore=False):
        parts = [self.kw("FROM", lower)]
        if platform:
            parts.append(platform)
        parts.append(img.text(pinned))
        if name:
            parts.append(self.kw("AS", lower) + " " + name)
        if ignore:
            d.add("# digestpin: ignore")
            d.ref("ignored", "from")
        else:
            d.ref("pinned" if pinned else "unpinned", "from")
        d.add(" ".join(parts))

    def build_stage(self, d, lower, apt, eco, stages, budget):
        """Body of a build stage (its FROM line already added), grown to about budget bytes."""
        r = self.rng
        d.add(self.kw("WORKDIR", lower) + " " + self.ch(["/src", "/app", "/build", "/workspace"]))
        if r.random() < 0.5:
            d.add(self.kw("ARG", lower) + " TARGETOS TARGETARCH")
        if r.random() < 0.5:
            d.add(self.kw("ENV", lower) + " " + {
                "go": "CGO_ENABLED=0 GOFLAGS=-mod=readonly", "python": "PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1",
                "node": "NODE_ENV=production NPM_CONFIG_UPDATE_NOTIFIER=false",
                "java": "MAVEN_OPTS=\"-Xmx1g -XX:+UseParallelGC\"", "dotnet": "DOTNET_CLI_TELEMETRY_OPTOUT=1",
                "rust": "CARGO_TERM_COLOR=never CARGO_NET_RETRY=5"}.get(eco, "LANG=C.UTF-8 TZ=UTC"))
        dep = {"go": "go.mod go.sum ./", "python": "requirements.txt pyproject.toml ./",
               "node": "package.json package-lock.json ./", "java": "pom.xml ./",
               "rust": "Cargo.toml Cargo.lock ./", "dotnet": "*.csproj ./"}.get(eco, "scripts/ ./scripts/")
        d.add(self.kw("COPY", lower) + " " + dep)
        self.long_run(d, lower, eco, cache=r.random() < 0.7, apt=apt)
        d.add(self.kw("COPY", lower) + " . .")
        if stages and r.random() < 0.3:
            src = self.ch(stages)
            d.add(self.kw("RUN", lower) + " --mount=type=bind,from=%s,source=/out,target=/mnt/%s \\" % (src, src))
            d.add("    cp -r /mnt/%s/. /opt/deps/" % src)
            d.ref("stage", "mount")
        while d.size() < budget:
            x = r.random()
            if x < 0.4:
                self.long_run(d, lower, eco, cache=r.random() < 0.5, apt=apt and r.random() < 0.3)
            elif x < 0.5:
                d.add(self.kw("ARG", lower) + " " + self.ch(["COMMIT_SHA", "BUILD_DATE", "GIT_TAG=dev", "FEATURES=\"metrics tracing\""]))
                d.add(self.kw("ENV", lower) + " " + self.ch(["BUILD_INFO=${COMMIT_SHA:-unknown}", "PATH=/opt/venv/bin:$PATH", "HOME=/home/build"]))
            elif x < 0.6:
                d.add(self.kw("COPY", lower) + " " + self.ch(["--chmod=0755 scripts/entrypoint.sh /usr/local/bin/", "configs/ /etc/app/", "--link migrations/ /app/migrations/"]))
            else:
                d.add("")
                self.comment_block(d, eco)
                d.add(self.kw("RUN", lower) + " " + self.ch([
                    "make -j\"$(nproc)\" build", "./scripts/codegen.sh --check",
                    "chmod +x /out/* && ls -la /out", "test -x /out/app || exit 1"]))

    def runtime_stage(self, d, lower, svc, build_names, eco):
        r = self.rng
        if build_names:
            src = build_names[-1]
            d.add(self.kw("COPY", lower) + " --from=%s /out/ /usr/local/bin/" % src)
            d.ref("stage", "copy")
            if r.random() < 0.4:
                d.add(self.kw("COPY", lower) + " --link --chown=65532:65532 --from=%s /etc/app /etc/app" % self.ch(build_names))
                d.ref("stage", "copy")
        if r.random() < 0.12:
            d.add(self.kw("COPY", lower) + " --from=0 /etc/passwd /etc/passwd")
            d.ref("stage", "copy")
        if r.random() < 0.2:
            im = self.picker.pick("run")
            pinned = r.random() < 0.3
            d.add(self.kw("COPY", lower) + " --from=%s /bin/busybox /bin/busybox" % im.text(pinned))
            d.ref("pinned" if pinned else "unpinned", "copy")
        if r.random() < 0.5:
            self.labels(d, lower, svc)
        if r.random() < 0.5:
            d.add(self.kw("ENV", lower) + " APP_NAME=%s \\" % svc, "    APP_PORT=8080")
        d.add(self.kw("USER", lower) + " " + self.ch(["65532:65532", "nonroot", "1000", "app"]))
        d.add(self.kw("EXPOSE", lower) + " " + self.ch(["8080", "8080/tcp", "3000", "9090 9091"]))
        if r.random() < 0.3:
            d.add(self.kw("HEALTHCHECK", lower) + " --interval=30s --timeout=3s CMD [\"/usr/local/bin/app\", \"healthcheck\"]")
        d.add(self.kw("ENTRYPOINT", lower) + ' ["/usr/local/bin/app"]')
        if r.random() < 0.5:
            d.add(self.kw("CMD", lower) + ' ["serve", "--port=8080"]')

    def small_dockerfile(self, svc):
        """A short Dockerfile (a few hundred bytes): one or two stages."""
        r = self.rng
        d = Doc()
        P = r.random() < 0.25
        if r.random() < 0.3:
            d.add("# syntax=docker/dockerfile:1")
        if r.random() < 0.5:
            im = self.picker.pick("build")
            self.from_line(d, False, im, "build", "--platform=$BUILDPLATFORM" if r.random() < 0.3 else None, P)
            d.add("WORKDIR /src", "COPY . .")
            if r.random() < 0.5:
                d.add("RUN --mount=type=cache,target=/root/.cache \\", "    make build && \\", "    cp bin/%s /out/app" % svc)
            else:
                d.add("RUN make build && cp bin/%s /out/app" % svc)
            d.add("")
            im = self.picker.pick("run")
            self.from_line(d, False, im, None, None, r.random() < 0.25)
            d.add("COPY --from=build /out/app /usr/local/bin/app")
            d.ref("stage", "copy")
        else:
            im = self.picker.pick("run")
            self.from_line(d, False, im, None, None, P)
            d.add("# %s: single-stage image" % svc)
            d.add("RUN apk add --no-cache %s" % " ".join(self.pkgs(r.randint(1, 4))))
            d.add("COPY --chown=65532:65532 %s /usr/local/bin/app" % svc)
        d.add("USER 65532", 'ENTRYPOINT ["/usr/local/bin/app"]')
        return d

    def dockerfile(self, svc, target_size):
        """One Dockerfile of about target_size bytes."""
        if target_size < 700:
            return self.small_dockerfile(svc)
        r = self.rng
        d = Doc()
        lower = r.random() < 0.04
        if r.random() < 0.6:
            d.add("# syntax=docker/dockerfile:" + self.ch(["1", "1", "1.7", "1.4"]))
        if r.random() < 0.7:
            self.comment_block(d, svc)
            d.add("")
        P = lambda: r.random() < 0.25  # noqa: E731  (already pinned)

        # Global ARGs feeding FROM.
        arg_base = None  # ARG-fed full image used by the first build stage
        var_tag = None  # ARG feeding part of a reference -> "variable"
        if r.random() < 0.3:
            im = self.picker.pick("build")
            pinned = P()
            d.add(self.kw("ARG", lower) + " BASE_IMAGE=" + im.text(pinned))
            d.ref("pinned" if pinned else "unpinned", "arg")
            arg_base = im
        if r.random() < 0.15:
            d.add(self.kw("ARG", lower) + " " + self.ch(["GO_VERSION=1.22", "PYTHON_VERSION=3.12", "NODE_VERSION=20"]))
            var_tag = True
        if r.random() < 0.4:
            d.add(self.kw("ARG", lower) + " VERSION=0.%d.%d" % (r.randrange(30), r.randrange(10)))
        if d.lines and d.lines[-1] != "":
            d.add("")

        n_stages = self.ch([2, 2, 2, 3, 3, 4])
        n_build = n_stages - 1
        build_names = []
        names_pool = list(STAGE_NAMES_BUILD)
        r.shuffle(names_pool)
        final_size = 420  # typical size of the runtime stage below
        per_stage = max(200, target_size - final_size - d.size()) / n_build
        # Optional cross-compilation helper stage (tonistiigi/xx pattern).
        for si in range(n_build):
            name = names_pool[si]
            platform = "--platform=$BUILDPLATFORM" if r.random() < 0.35 else None
            budget = d.size() + per_stage * (0.85 if si < n_build - 1 else 1.0)
            if si == 0 and arg_base is not None:
                d.add(" ".join([self.kw("FROM", lower)] + ([platform] if platform else []) +
                               [self.ch(["${BASE_IMAGE}", "$BASE_IMAGE"]), self.kw("AS", lower), name]))
                eco, apt = arg_base.eco, arg_base.apt
            elif si == 0 and var_tag:
                v = d.lines
                argline = [l for l in v if l.upper().startswith("ARG ") and "_VERSION=" in l][0]
                var = argline.split()[1].split("=")[0]
                repo = {"GO_VERSION": "golang", "PYTHON_VERSION": "python", "NODE_VERSION": "node"}[var]
                flavour = self.ch(["alpine", "bookworm", "slim"])
                d.add(" ".join([self.kw("FROM", lower)] + ([platform] if platform else []) +
                               ["%s:${%s}-%s" % (repo, var, flavour), self.kw("AS", lower), name]))
                d.ref("variable", "from")
                apt = flavour != "alpine"
                eco = {"golang": "go", "python": "python", "node": "node"}[repo]
            elif si > 0 and r.random() < 0.3:
                # Stage built on an earlier stage.
                d.add(" ".join([self.kw("FROM", lower), self.ch(build_names), self.kw("AS", lower), name]))
                d.ref("stage", "from")
                eco = "generic"
            else:
                im = self.picker.pick("build")
                self.from_line(d, lower, im, name, platform, P(), ignore=r.random() < 0.02)
                eco, apt = im.eco, im.apt
            if r.random() < 0.15:
                self.heredoc(d, lower, eco)
            self.build_stage(d, lower, apt, eco, build_names, budget)
            build_names.append(name)
            d.add("")

        # Final stage.
        fname = self.ch(STAGE_NAMES_FINAL)
        if r.random() < 0.08:
            d.add(" ".join([self.kw("FROM", lower), "scratch"] +
                           ([self.kw("AS", lower), fname] if fname else [])))
            d.ref("scratch", "from")
        else:
            im = self.picker.pick("run")
            platform = self.ch(["--platform=$TARGETPLATFORM", "--platform=linux/amd64"]) if r.random() < 0.1 else None
            self.from_line(d, lower, im, fname, platform, P(), ignore=r.random() < 0.02)
        self.runtime_stage(d, lower, svc, build_names, "generic")
        if r.random() < 0.1:
            self.heredoc(d, lower, "generic")
        return d


# ---------------------------------------------------------------------------
# Tree layout
# ---------------------------------------------------------------------------

def tree_paths(rng, n):
    """n unique relative paths of Dockerfiles in a nested, repo-like layout."""
    paths = []
    k = 0
    while len(paths) < n:
        top = rng.random()
        w = WORDS[k % len(WORDS)]
        if top < 0.5:
            d = "services/%s/svc-%04d" % (w, k)
        elif top < 0.7:
            d = "apps/team-%02d/app-%04d" % (k % 40, k)
            if rng.random() < 0.5:
                d += "/docker"
        elif top < 0.8:
            d = "tools/tool-%04d" % k
        elif top < 0.9:
            d = "platform/images/%s/base-%04d" % (w, k)
        else:
            d = "infra/%s/deploy/env-%02d/c-%04d" % (w, k % 7, k)
        k += 1
        names = []
        x = rng.random()
        if x < 0.6:
            names.append("Dockerfile")
        elif x < 0.72:
            names.append("Containerfile")
        elif x < 0.86:
            names.append("%s.dockerfile" % rng.choice(["app", "api", "worker", w]))
        elif x < 0.93:
            names.append("Dockerfile.%s" % rng.choice(["prod", "ci", "build"]))
        else:
            names.append("%s.Containerfile" % rng.choice(["app", "job"]))
        if rng.random() < 0.3:
            names.append("Dockerfile.dev")
        if rng.random() < 0.1:
            names.append(rng.choice(["Dockerfile.test", "Containerfile.ci", "debug.dockerfile"]))
        for nm in names:
            if len(paths) < n:
                paths.append((d, nm, d.split("/")[-1] if not d.endswith("/docker") else d.split("/")[-2]))
    return paths


def write_file(path, lines, crlf):
    nl = "\r\n" if crlf else "\n"
    data = (nl.join(lines) + nl).encode()
    with open(path, "wb") as f:
        f.write(data)
    return len(data)


def parse_size(s):
    s = s.strip()
    mult = 1
    for suf, m in (("k", 1000), ("K", 1000), ("M", 1000 ** 2), ("G", 1000 ** 3)):
        if s.endswith(suf):
            s, mult = s[:-1], m
            break
    return int(float(s) * mult)


def summarize(refs, counts):
    for state, kind in refs:
        counts[state] = counts.get(state, 0) + 1
        counts["%s/%s" % (state, kind)] = counts.get("%s/%s" % (state, kind), 0) + 1


def gen_tree(args):
    rng = random.Random(args.seed)
    images = build_pool(rng, args.distinct, args.seed)
    picker = Picker(rng, images)
    g = Gen(rng, picker)
    paths = tree_paths(rng, args.files)
    if args.flat:
        # One folder: svc-00001.Dockerfile, … (the "small files" tree).
        paths = [("", "%s-%05d.Dockerfile" % (svc, i), svc) for i, (_, _, svc) in enumerate(paths)]
    total = 0
    counts = {}
    made = set()
    for d, nm, svc in paths:
        full = os.path.join(args.out, d)
        if full not in made:
            os.makedirs(full, exist_ok=True)
            made.add(full)
        size = int(args.size * (0.7 + 0.6 * rng.random()))
        doc = g.dockerfile(svc, size)
        crlf = rng.random() < 0.02
        total += write_file(os.path.join(full, nm), doc.lines, crlf)
        summarize(doc.refs, counts)
    return {"files": len(paths), "bytes": total, "refs": counts,
            "distinct_images": len(picker.used), "dirs": len(made)}


def gen_big(args):
    rng = random.Random(args.seed)
    images = build_pool(rng, args.distinct, args.seed)
    picker = Picker(rng, images)
    g = Gen(rng, picker)
    target = parse_size(args.big_file)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "Dockerfile")
    counts = {}
    total = 0
    stage_names = []
    with open(path, "wb") as f:
        def emit(doc):
            nonlocal total
            data = ("\n".join(doc.lines) + "\n").encode()
            f.write(data)
            total += len(data)
            summarize(doc.refs, counts)

        head = Doc()
        head.add("# syntax=docker/dockerfile:1", "# Generated stress input: one very large Dockerfile.", "")
        im = picker.pick("build")
        head.add("ARG BASE_IMAGE=" + im.text(False))
        head.ref("unpinned", "arg")
        head.add("ARG VERSION=1.0.0", "", "FROM ${BASE_IMAGE} AS s0", "WORKDIR /src")
        stage_names.append("s0")
        # One RUN with a very long continuation (about 2% of the file).
        head.add("RUN set -eux; \\")
        n_cont = max(10, target // 50 // 40)
        for i in range(n_cont):
            head.add("    echo line-%07d-of-a-very-long-continued-run && \\" % i)
        head.add("    true")
        # One large heredoc (about 2% of the file); its body is data, never instructions.
        head.add("RUN <<EOF")
        for i in range(n_cont):
            head.add("FROM not-an-image:%d  # heredoc body line %d" % (i, i) if i % 50 == 0 else "echo heredoc body line %07d" % i)
        head.add("EOF", "")
        emit(head)
        i = 1
        while total < target:
            d = Doc()
            name = "s%d" % i
            r = rng.random()
            if r < 0.15:
                d.add("FROM %s AS %s" % (g.ch(stage_names[-20:]), name))
                d.ref("stage", "from")
                eco = "generic"
            else:
                im = picker.pick("build" if i % 2 else "run")
                g.from_line(d, False, im, name, "--platform=$BUILDPLATFORM" if rng.random() < 0.3 else None, rng.random() < 0.25)
                eco = im.eco
            if rng.random() < 0.05:
                g.heredoc(d, False, eco)
            g.build_stage(d, False, rng.random() < 0.3, eco, stage_names[-20:], 0)
            if rng.random() < 0.5:
                d.add("COPY --from=%s /out /opt/%s" % (g.ch(stage_names[-50:]), name))
                d.ref("stage", "copy")
            d.add("")
            stage_names.append(name)
            emit(d)
            i += 1
    return {"files": 1, "bytes": total, "stages": i, "refs": counts,
            "distinct_images": len(picker.used)}


def gen_yaml(args):
    """A tree of --files YAML files of the four YAML kinds, about --size bytes each: compose
    files, GitHub workflows (under .github/workflows/), Kubernetes manifests and GitLab CI
    files, with quoted and plain images, comments, anchors, `${VAR:-REF}` defaults and
    `build:` services, some already pinned."""
    rng = random.Random(args.seed)
    images = build_pool(rng, args.distinct, args.seed)
    picker = Picker(rng, images)
    counts = {}
    total = 0
    made = set()

    def image():
        img = picker.pick()
        pinned = rng.random() < 0.25
        counts["pinned" if pinned else "unpinned"] = counts.get("pinned" if pinned else "unpinned", 0) + 1
        text = img.text(pinned)
        return rng.choice([text, '"%s"' % text, "'%s'" % text]) if rng.random() < 0.3 else text

    def filler(lines, size):
        n = 0
        while sum(len(l) + 1 for l in lines) < size:
            lines.append("      # %s" % " ".join(rng.choice(["keep", "the", "service", "healthy", "and", "small", "logs", "to", "stdout"]) for _ in range(8)))
            n += 1
        return lines

    def compose(size):
        lines = ["# services of one app", "x-base: &base", "  restart: unless-stopped", "services:"]
        for i in range(rng.randint(3, 6)):
            lines += ["  svc%d:" % i, "    <<: *base"]
            if rng.random() < 0.15:
                lines += ["    build: ./svc%d" % i, "    image: local/svc%d:dev" % i]
                counts["build-output"] = counts.get("build-output", 0) + 1
            else:
                lines += ["    image: %s" % image()]
            lines += ["    environment:", "      LOG_LEVEL: info"]
        return filler(lines, size)

    def workflow(size):
        lines = ["name: ci", "on: [push, pull_request]", "jobs:"]
        for i in range(rng.randint(2, 4)):
            lines += ["  job%d:" % i, "    runs-on: ubuntu-latest", "    container: %s" % image(),
                      "    services:", "      db:", "        image: %s" % image(), "    steps:",
                      "      - uses: docker://%s" % picker.pick().text(False), "      - run: make test"]
            counts["unpinned"] = counts.get("unpinned", 0) + 1
        return filler(lines, size)

    def kubernetes(size):
        lines = []
        for i in range(rng.randint(1, 3)):
            lines += ["---", "apiVersion: apps/v1", "kind: Deployment", "metadata:", "  name: app%d" % i,
                      "spec:", "  template:", "    spec:", "      initContainers:", "        - name: init",
                      "          image: %s" % image(), "      containers:", "        - name: app",
                      "          image: %s" % image(), "          ports:", "            - containerPort: 8080"]
        return filler(lines, size)

    def gitlab(size):
        lines = ["image: %s" % image(), "stages: [test]", "default:", "  services:", "    - %s" % image()]
        for i in range(rng.randint(2, 4)):
            lines += ["job%d:" % i, "  stage: test", "  image:", "    name: %s" % image(), "  script:", "    - make test"]
        return filler(lines, size)

    kinds = [("compose", compose), ("workflow", workflow), ("kubernetes", kubernetes), ("gitlab", gitlab)]
    for n in range(args.files):
        name, make = kinds[n % 4]
        d = "team-%02d/app-%04d" % (n % 37, n // 4)
        if name == "compose":
            rel, fname = d, "docker-compose.yml"
        elif name == "workflow":
            rel, fname = os.path.join(d, ".github", "workflows"), "ci-%d.yml" % n
        elif name == "kubernetes":
            rel, fname = os.path.join(d, "deploy"), "app-%d.yaml" % n
        else:
            rel, fname = d, ".gitlab-ci.yml"
        full = os.path.join(args.out, rel)
        if full not in made:
            os.makedirs(full, exist_ok=True)
            made.add(full)
        size = int(args.size * (0.7 + 0.6 * rng.random()))
        total += write_file(os.path.join(full, fname), make(size), rng.random() < 0.02)
    return {"files": args.files, "bytes": total, "refs": counts,
            "distinct_images": len(picker.used), "dirs": len(made)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="output directory (created)")
    ap.add_argument("--files", type=int, default=10000, help="number of Dockerfiles (default 10000)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--distinct", type=int, default=200, help="distinct images used overall (default 200)")
    ap.add_argument("--size", type=int, default=2048, help="approximate bytes per file (default 2048)")
    ap.add_argument("--flat", action="store_true", help="every file in --out itself, named SERVICE-NNNNN.Dockerfile")
    ap.add_argument("--yaml", action="store_true", help="a tree of compose, workflow, Kubernetes and GitLab CI files instead of Dockerfiles")
    ap.add_argument("--big-file", metavar="BYTES", help="write one DIR/Dockerfile of about BYTES instead of a tree")
    ap.add_argument("--manifest", metavar="PATH", help="write a JSON summary of what was generated")
    args = ap.parse_args(argv)
    if args.distinct < 1 or args.files < 0:
        ap.error("--distinct must be >= 1 and --files >= 0")
    summary = gen_big(args) if args.big_file else gen_yaml(args) if args.yaml else gen_tree(args)
    summary["params"] = {"files": args.files if not args.big_file else 1, "seed": args.seed,
                         "distinct": args.distinct, "size": args.size, "big_file": args.big_file}
    text = json.dumps(summary, indent=1, sort_keys=True)
    if args.manifest:
        with open(args.manifest, "w") as f:
            f.write(text + "\n")
    print(text, file=sys.stderr)


if __name__ == "__main__":
    main()

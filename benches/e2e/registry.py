#!/usr/bin/env python3
"""Debian's real Docker registry (`docker-registry`, distribution 2.8) for the end-to-end bench.

Python 3 standard library only. A port of tests/it/support/registry.rs: start the registry on
127.0.0.1 with filesystem storage in a directory of ours and its access log in a file (one line
per request, which is how the bench counts requests), then push small synthetic images over the
registry HTTP API (monolithic blob uploads, then the manifest PUT).

As a command (for trying it by hand):
  registry.py --dir DIR --images 50 [--repo-prefix bench/img-] [--tag 1.0]
starts a registry, pushes the images, prints `listening on http://127.0.0.1:PORT` and each
`REPO:TAG DIGEST MEDIATYPE`, then serves until interrupted.
"""

import argparse
import hashlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"

# The four kinds tests/it/support/registry.rs pushes; the bench cycles through them.
KINDS = ["oci-index", "oci-manifest", "docker-list", "docker-manifest"]
PLATFORMS = [("linux", "amd64"), ("linux", "arm64")]


def sha256_digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def find_binary():
    env = os.environ.get("DIGESTPIN_REGISTRY_BIN")
    if env:
        return env if os.path.isfile(env) else None
    for d in os.environ.get("PATH", "").split(os.pathsep):
        c = os.path.join(d, "docker-registry")
        if os.path.isfile(c):
            return c
    return "/usr/bin/docker-registry" if os.path.isfile("/usr/bin/docker-registry") else None


def _die_with_parent():
    """preexec_fn: SIGTERM to the registry when its parent dies, however it dies (Linux)."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)


def _request(method, url, body=None, headers=None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with _OPENER.open(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


class Registry:
    """A running docker-registry on 127.0.0.1; `stop()` kills it."""

    def __init__(self, workdir):
        self.bin = find_binary()
        if not self.bin:
            raise RuntimeError("docker-registry is not installed (apt-get install -y docker-registry)")
        self.dir = workdir
        os.makedirs(os.path.join(workdir, "storage"), exist_ok=True)
        self.access_log = os.path.join(workdir, "access.log")
        self.proc = None
        self.addr = None

    def start(self, attempts=4):
        config = os.path.join(self.dir, "config.yml")
        with open(config, "w") as f:
            f.write(
                "version: 0.1\n"
                "log:\n  level: error\n  accesslog:\n    disabled: false\n"
                "storage:\n  filesystem:\n    rootdirectory: %s\n"
                "  maintenance:\n    uploadpurging:\n      enabled: false\n"
                "http:\n  addr: 127.0.0.1:5000\n  secret: digestpin-bench-secret\n"
                % json.dumps(os.path.join(self.dir, "storage"))
            )
        for attempt in range(1, attempts + 1):
            port = free_port()
            self.addr = "127.0.0.1:%d" % port
            log = open(self.access_log, "ab")
            env = dict(os.environ, REGISTRY_HTTP_ADDR=self.addr)
            self.proc = subprocess.Popen([self.bin, "serve", config], stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log, env=env, preexec_fn=_die_with_parent)
            log.close()
            deadline = time.time() + 20
            while time.time() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    status, headers, _ = _request("GET", self.url() + "/v2/")
                    if status == 200 and headers.get("Docker-Distribution-Api-Version") == "registry/2.0":
                        return self
                    break  # something else answers on that port
                except OSError:
                    time.sleep(0.02)
            self.stop()
        raise RuntimeError("docker-registry did not start; see %s" % self.access_log)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def url(self):
        return "http://" + self.addr

    def host(self):
        return self.addr

    def request_count(self):
        """Requests the registry has logged so far (its access log, one line per request)."""
        n = 0
        try:
            with open(self.access_log, "rb") as f:
                for line in f:
                    if b'"GET ' in line or b'"HEAD ' in line or b'"POST ' in line or b'"PUT ' in line \
                            or b'"PATCH ' in line or b'"DELETE ' in line:
                        n += 1
        except FileNotFoundError:
            pass
        return n

    def settled_count(self, timeout=2.0):
        """`request_count()` once it stops changing (the log is written after each response)."""
        last, stable_since = self.request_count(), time.time()
        deadline = time.time() + timeout
        while time.time() < deadline:
            time.sleep(0.05)
            n = self.request_count()
            if n != last:
                last, stable_since = n, time.time()
            elif time.time() - stable_since >= 0.2:
                break
        return last

    # ---- push ----------------------------------------------------------------------
    def upload_blob(self, repo, data):
        digest = sha256_digest(data)
        start = "%s/v2/%s/blobs/uploads/" % (self.url(), repo)
        status, headers, body = _request("POST", start)
        if status != 202:
            raise RuntimeError("POST %s: %s %r" % (start, status, body[:200]))
        location = headers.get("Location")
        put = urllib.parse.urljoin(start, location)
        put += ("&" if "?" in put else "?") + urllib.parse.urlencode({"digest": digest})
        status, headers, body = _request("PUT", put, data, {"Content-Type": "application/octet-stream"})
        if status != 201:
            raise RuntimeError("PUT blob %s: %s %r" % (digest, status, body[:200]))
        return digest

    def put_manifest(self, repo, reference, media_type, body):
        url = "%s/v2/%s/manifests/%s" % (self.url(), repo, reference)
        status, headers, resp = _request("PUT", url, body, {"Content-Type": media_type})
        if status != 201:
            raise RuntimeError("PUT %s (%s): %s %r" % (url, media_type, status, resp[:200]))
        reported = headers.get("Docker-Content-Digest")
        if reported != sha256_digest(body):
            raise RuntimeError("registry reports digest %s for %s" % (reported, url))
        return reported

    def _image(self, repo, tag, docker, platform, salt):
        os_, arch = platform
        layer = ("digestpin bench layer\nrepo=%s\ntag=%s\nplatform=%s/%s\nsalt=%s\n"
                 % (repo, tag, os_, arch, salt)).encode()
        layer_digest = sha256_digest(layer)
        config = json.dumps({"architecture": arch, "os": os_, "config": {},
                             "rootfs": {"type": "layers", "diff_ids": [layer_digest]}},
                            separators=(",", ":")).encode()
        config_digest = self.upload_blob(repo, config)
        self.upload_blob(repo, layer)
        mt, ct, lt = (DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_LAYER) if docker else (OCI_MANIFEST, OCI_CONFIG, OCI_LAYER)
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": mt,
            "config": {"mediaType": ct, "size": len(config), "digest": config_digest},
            "layers": [{"mediaType": lt, "size": len(layer), "digest": layer_digest}],
        }, separators=(",", ":")).encode()
        return manifest, mt

    def push(self, repo, tag, kind, salt=""):
        """Pushes one image of `kind` (see KINDS); returns (digest, media type)."""
        docker = kind.startswith("docker")
        if kind in ("oci-manifest", "docker-manifest"):
            body, mt = self._image(repo, tag, docker, PLATFORMS[0], salt)
            return self.put_manifest(repo, tag, mt, body), mt
        entries = []
        for platform in PLATFORMS:
            body, mt = self._image(repo, tag, docker, platform, salt)
            digest = self.put_manifest(repo, sha256_digest(body), mt, body)
            entries.append({"mediaType": mt, "size": len(body), "digest": digest,
                            "platform": {"os": platform[0], "architecture": platform[1]}})
        mt = DOCKER_MANIFEST_LIST if docker else OCI_INDEX
        body = json.dumps({"schemaVersion": 2, "mediaType": mt, "manifests": entries},
                          separators=(",", ":")).encode()
        return self.put_manifest(repo, tag, mt, body), mt

    def push_many(self, n, repo_prefix="bench/img-", tag="1.0"):
        """Pushes `repo_prefix{i}:{tag}` for i < n, cycling through KINDS. Returns
        [(reference without host, digest, media type)]."""
        out = []
        for i in range(n):
            repo = "%s%d" % (repo_prefix, i)
            digest, mt = self.push(repo, tag, KINDS[i % len(KINDS)])
            out.append(("%s:%s" % (repo, tag), digest, mt))
        return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--images", type=int, default=50)
    ap.add_argument("--repo-prefix", default="bench/img-")
    ap.add_argument("--tag", default="1.0")
    args = ap.parse_args()
    # Block the signals first so sigwait() receives them and the registry is always stopped.
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGINT, signal.SIGTERM])
    reg = Registry(args.dir).start()
    try:
        pushed = reg.push_many(args.images, args.repo_prefix, args.tag)
        print("listening on %s" % reg.url(), flush=True)
        for ref, digest, mt in pushed:
            print("%s %s %s" % (ref, digest, mt), flush=True)
        signal.sigwait([signal.SIGINT, signal.SIGTERM])
    finally:
        reg.stop()


if __name__ == "__main__":
    main()

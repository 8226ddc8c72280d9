#!/usr/bin/env python3
"""A Dockerfile tree for the end-to-end bench whose images all live on one test server.

Python 3 standard library only.

  mktree.py --out DIR --files N --distinct D [--seed S] --image-format FMT --digestpin BIN
            [--images-out PATH]

1. Runs benches/gen_tree.py --out DIR --files N --seed S --distinct D: realistic multi-stage
   Dockerfiles (global ARGs feeding FROM, COPY --from=image, RUN --mount=...,from=image,
   heredocs, continuations, some references already pinned, CRLF files, ...).
2. Asks `digestpin list --format json DIR` where every image reference is (line, column and
   the exact text), so the rewrite touches exactly the characters BuildKit would read as the
   reference and nothing else.
3. Maps each distinct (registry, repository, tag) to FMT.format(k=K) for K = 0, 1, ... in
   sorted order (gen_tree is asked for a few more than D images, since a few appear only
   behind variables; the surplus folds onto K mod D so exactly D remain), e.g. `cgr.dev/chainguard/img-{k}:latest` (the Tag History emulator's repos)
   or `127.0.0.1:5000/bench/img-{k}:1.0` (pushed to docker-registry), and rewrites each
   reference in place. A reference that had a digest keeps it (now a stale pin, refreshed by
   `pin`), so the tree still mixes unpinned and (stale-)pinned references. References that
   digestpin cannot pin (a variable, split by a continuation) are left as they are.
4. Writes the distinct references left to resolve (pinned or unpinned, as written, without
   a digest), one a line, to --images-out (the list a digestabot-style loop resolves) and prints a JSON summary on stdout.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
GEN = os.path.join(os.path.dirname(HERE), "gen_tree.py")
REWRITE_STATES = ("pinned", "unpinned", "ignored")


def list_refs(digestpin, tree):
    out = subprocess.run([digestpin, "list", "--format", "json", tree], check=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE).stdout
    return json.loads(out)


def key_of(ref):
    return (ref.get("registry") or "", ref.get("repository") or "", ref.get("tag") or "latest")


def mapping_text(ref):
    """The reference as written, without its digest."""
    text = ref["original"]
    return text.split("@", 1)[0] if ref.get("digest") else text


def rewrite_file(path, refs, mapping):
    with open(path, "rb") as f:
        data = f.read()
    text = data.decode("utf-8")
    bom = text.startswith("\ufeff")
    lines = text.split("\n")
    # Right to left within a line so earlier columns stay valid.
    for ref in sorted(refs, key=lambda r: (r["line"], r["column"]), reverse=True):
        if ref.get("end_line", ref["line"]) != ref["line"]:
            continue
        i = ref["line"] - 1
        col = ref["column"] - 1 + (1 if bom and i == 0 else 0)
        orig = ref["original"]
        line = lines[i]
        if line[col:col + len(orig)] != orig:
            raise SystemExit("%s:%d:%d: expected %r, found %r" % (path, ref["line"], ref["column"], orig, line[col:col + len(orig)]))
        new = mapping[key_of(ref)]
        if ref.get("digest"):
            new += "@" + ref["digest"]
        lines[i] = line[:col] + new + line[col + len(orig):]
    with open(path, "wb") as f:
        f.write("\n".join(lines).encode("utf-8"))


def generate(out, files, distinct, seed, digestpin):
    """gen_tree.py into `out`; returns (digestpin list document, distinct pinnable keys)."""
    subprocess.run([sys.executable, GEN, "--out", out, "--files", str(files), "--seed", str(seed),
                    "--distinct", str(distinct)], check=True, stderr=subprocess.DEVNULL)
    doc = list_refs(digestpin, out)
    keys = set()
    for f in doc["files"]:
        for r in f.get("refs") or []:
            if r["state"] in REWRITE_STATES:
                keys.add(key_of(r))
    return doc, sorted(keys)


def make_tree(out, files, distinct, seed, image_format, digestpin, images_out=None):
    if os.path.exists(out):
        raise SystemExit("%s exists" % out)
    # A few of gen_tree's images appear only behind variables (`FROM ${REGISTRY}/app:${V}`),
    # which nothing pins: ask for a few more and fold the surplus onto the first ones (image
    # K mod D), so exactly D distinct images are left to resolve.
    ask = distinct + max(2, distinct // 20)
    for _ in range(4):
        doc, keys = generate(out, files, ask, seed, digestpin)
        if len(keys) >= distinct:
            break
        shutil.rmtree(out)
        ask += max(2, distinct // 10)
    else:
        raise SystemExit("gen_tree.py --files %d cannot hold %d distinct images" % (files, distinct))
    mapping = {k: image_format.format(k=i % distinct) for i, k in enumerate(keys)}
    nrefs = 0
    for f in doc["files"]:
        refs = [r for r in f.get("refs") or [] if r["state"] in REWRITE_STATES]
        if refs:
            rewrite_file(f["path"], refs, mapping)
            nrefs += len(refs)
    # Check: the tree now holds exactly the mapped images.
    after = list_refs(digestpin, out)
    states, seen = {}, set()
    for f in after["files"]:
        for r in f.get("refs") or []:
            states[r["state"]] = states.get(r["state"], 0) + 1
            if r["state"] in ("pinned", "unpinned"):
                seen.add(mapping_text(r))
    images = sorted(seen, key=lambda s: (len(s), s))
    if images_out:
        with open(images_out, "w") as f:
            f.write("".join(i + "\n" for i in images))
    if len(seen) != distinct:
        print("mktree: %d distinct images to resolve, not %d" % (len(seen), distinct), file=sys.stderr)
    return {"files": len(after["files"]), "refs_rewritten": nrefs, "distinct": len(images),
            "gen_tree_distinct": ask,
            "distinct_to_resolve": len(seen), "states": states,
            "bytes": sum(os.path.getsize(f["path"]) for f in after["files"])}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--distinct", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--image-format", default="cgr.dev/chainguard/img-{k}:latest")
    ap.add_argument("--digestpin", required=True)
    ap.add_argument("--images-out")
    a = ap.parse_args()
    print(json.dumps(make_tree(a.out, a.files, a.distinct, a.seed, a.image_format, a.digestpin, a.images_out), sort_keys=True))


if __name__ == "__main__":
    main()

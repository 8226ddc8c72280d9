#!/usr/bin/env bash
# The digestabot-style peer: one `skopeo inspect` per distinct image, one after the other, then
# `sed -i` over the files that mention it. This is what a shell pinning job typically does.
#
#   skopeo-loop.sh IMAGES_FILE TREE_DIR MODE [SKOPEO_GLOBAL_OPTION...]
#
# IMAGES_FILE: one image reference a line, exactly as written in the Dockerfiles (no digest).
# MODE:
#   format  `skopeo inspect --format '{{.Digest}}' docker://IMAGE` (what digestabot-style loops
#           run; skopeo also reads the platform manifest, the config blob and the tag list)
#   raw     `skopeo inspect --raw docker://IMAGE | sha256sum`: the top-level manifest only. Used
#           against the Tag History emulator, which serves empty OCI indexes and no blobs, so
#           `--format` cannot work there (it fails choosing a linux/amd64 instance). It is the
#           cheapest way to get a digest with skopeo: fewer requests than `format`.
# SKOPEO_GLOBAL_OPTION: e.g. `--registries-conf FILE` to send cgr.dev to the emulator.
# Every inspect gets `--tls-verify=false` (the servers are plain http on 127.0.0.1).
# A reference already carrying a digest (`IMAGE@sha256:...`) gets the new one.
set -euo pipefail
images=$1 tree=$2 mode=$3
shift 3
n=0
while IFS= read -r img; do
    [ -n "$img" ] || continue
    case $mode in
        format) digest=$(skopeo "$@" inspect --tls-verify=false --format '{{.Digest}}' "docker://$img") ;;
        raw) digest=sha256:$(skopeo "$@" inspect --tls-verify=false --raw "docker://$img" | sha256sum | cut -d' ' -f1) ;;
        *) echo "skopeo-loop.sh: unknown mode $mode" >&2; exit 2 ;;
    esac
    [[ $digest =~ ^sha256:[0-9a-f]{64}$ ]] || { echo "skopeo-loop.sh: $img: bad digest '$digest'" >&2; exit 1; }
    esc=$(printf '%s' "$img" | sed 's/[][\.*^$/]/\\&/g')
    grep -rlF --null -- "$img" "$tree" |
        xargs -0 -r sed -i -E "s/${esc}(@sha256:[0-9a-f]{64})?([[:space:],\"]|\$)/${esc}@${digest}\\2/g"
    n=$((n + 1))
done <"$images"
echo "skopeo-loop.sh: $n images pinned" >&2

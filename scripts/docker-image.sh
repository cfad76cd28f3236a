#!/usr/bin/env bash
# docker-image.sh: build the iobench image from the repository alone (see Dockerfile): a static
# binary compiled here, copied onto scratch. Tags iobench:<git-rev> (with -dirty for a modified
# tree) and iobench:dev, and prints the rev tag. No image is pulled.
#
# Usage: scripts/docker-image.sh [extra tag...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
rev=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then rev="$rev-dirty"; fi
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
# The build context is a fresh folder holding only the binary, so nothing else of the tree
# reaches the daemon whatever .dockerignore says.
CGO_ENABLED=0 GOOS=linux go build -trimpath -o "$ctx/iobench" ./cmd/iobench
cp Dockerfile "$ctx/Dockerfile"
tags=(-t "iobench:$rev" -t iobench:dev)
for t in "$@"; do tags+=(-t "$t"); done
docker build -q "${tags[@]}" "$ctx" >&2
# A rebuild moves the tags: the image they left is untagged; remove such iobench images only.
docker image prune -f --filter label=org.opencontainers.image.title=iobench >/dev/null
echo "iobench:$rev"

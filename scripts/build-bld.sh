#!/usr/bin/env bash
# scripts/build-bld.sh OUT [FLAG...]: builds bld as make build does, static (no
# cgo), with the step init embedded: bld-init
# (sandbox/internal/stepinit/cmd/bld-init) is built first, and bld is
# built with the bld_initbin tag and an -overlay that puts that program at
# sandbox/initbin/bld-init, where package sandbox embeds it. Nothing is
# written into the tree. A plain `go build ./cmd/bld` also works; its RUN
# steps re-execute bld itself, which starts more slowly (package sandbox,
# initexe.go). The tests' bld (internal/testutil) and bld's image
# (scripts/image-context.sh) are built by this script. FLAGs go to bld's go
# build (-trimpath, -ldflags ...).
set -euo pipefail
out=${1:?usage: build-bld.sh OUT [FLAG...]}
shift
out=$(realpath -m "$out") # relative to the caller's directory, not the tree's
cd "$(dirname "$0")/.."
mkdir -p "$(dirname "$out")"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bld-init.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export CGO_ENABLED=0
# -s -w: no symbol table or DWARF (Go's tracebacks keep their function
# names): 2.4 MB instead of 3.7, which every bld that runs a RUN step
# copies into its memfd.
"${GO:-go}" build -ldflags "-s -w" -o "$tmp/bld-init" ./sandbox/internal/stepinit/cmd/bld-init
printf '{"Replace":{"%s":"%s"}}\n' "$PWD/sandbox/initbin/bld-init" "$tmp/bld-init" >"$tmp/overlay.json"
"${GO:-go}" build -tags bld_initbin -overlay "$tmp/overlay.json" "$@" -o "$out" ./cmd/bld

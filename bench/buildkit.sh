# bench/buildkit.sh, sourced by bench/run.sh: BuildKit (buildkitd + buildctl)
# at a pinned version, built from its Go module into a cache directory
# outside the repository, run with the OCI worker (Debian's runc, the
# overlayfs snapshotter, its default network: host, as it picks without
# CNI), with its state under the bench's work directory; stopped and
# removed at the end. When it cannot be built or started, BK_SKIP says why
# and every BuildKit column reads "skipped".
BKVER=${BKVER:-v0.34.2}
BKBIN=${BKBIN:-${XDG_CACHE_HOME:-$HOME/.cache}/bld-bench/buildkit-$BKVER/bin}
BK_SKIP=""
BKPID=""

# bk_install builds buildkitd and buildctl from the module's source (go
# install PKG@VERSION refuses it: BuildKit's go.mod has exclude
# directives), in a writable copy, with its go.mod's dependencies from the
# module proxy (the module zip carries no vendor directory).
bk_install() {
  [ -x "$BKBIN/buildkitd" ] && [ -x "$BKBIN/buildctl" ] && return 0
  echo "bench: building BuildKit $BKVER into $BKBIN (go build of the module's source)" >&2
  mkdir -p "$BKBIN"
  local dir
  dir=$(go mod download -json "github.com/moby/buildkit@$BKVER" 2>"$W/bk-install.log" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -n "$dir" ] || return 1
  rm -rf "$W/bk-src"
  cp -r "$dir" "$W/bk-src" && chmod -R u+w "$W/bk-src" &&
    (cd "$W/bk-src" && GOFLAGS=-mod=mod go build -o "$BKBIN/" ./cmd/buildkitd ./cmd/buildctl) >>"$W/bk-install.log" 2>&1
  local rc=$?
  rm -rf "$W/bk-src"
  return $rc
}

# bk_start REGISTRY: starts buildkitd with REGISTRY reached over plain HTTP.
bk_start() {
  if ! bk_install; then
    BK_SKIP="skipped: BuildKit $BKVER could not be built ($(tail -1 "$W/bk-install.log"))"
    return 0
  fi
  if ! command -v runc >/dev/null; then
    BK_SKIP="skipped: no runc for BuildKit's OCI worker"
    return 0
  fi
  mkdir -p "$W/bk"
  printf '[registry."%s"]\n  http = true\n  insecure = true\n' "$1" >"$W/bk/buildkitd.toml"
  "$BKBIN/buildkitd" --root "$W/bk/root" --addr "unix://$W/bk/buildkitd.sock" --config "$W/bk/buildkitd.toml" \
    --oci-worker=true --containerd-worker=false --oci-worker-snapshotter=overlayfs >"$W/bk/log" 2>&1 &
  BKPID=$!
  for _ in $(seq 100); do
    "$BKBIN/buildctl" --addr "unix://$W/bk/buildkitd.sock" debug workers >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  BK_SKIP="skipped: buildkitd did not start ($(tail -1 "$W/bk/log"))"
  bk_stop
}

bk_stop() {
  if [ -n "$BKPID" ]; then
    kill "$BKPID" 2>/dev/null || true
    wait "$BKPID" 2>/dev/null || true
    BKPID=""
  fi
  # buildkitd leaves its overlay mounts to the kernel only if killed hard.
  grep -o "$W/bk/[^ ]*" /proc/mounts 2>/dev/null | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
}

bkctl() { "$BKBIN/buildctl" --addr "unix://$W/bk/buildkitd.sock" "$@"; }
# bkbuild CTX [buildctl build args...]: the Dockerfile frontend on CTX.
bkbuild() {
  local ctx=$1
  shift
  bkctl build --progress plain --frontend dockerfile.v0 --local "context=$ctx" --local "dockerfile=$ctx" "$@"
}
# bk_prune: BuildKit with an empty cache (a cold build).
bk_prune() { bkctl prune --all >/dev/null 2>&1; }

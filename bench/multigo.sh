#!/usr/bin/env bash
# bench/multigo.sh: a two-platform build (linux/amd64 + linux/arm64) of a
# small Go program whose FROM --platform=$BUILDPLATFORM stage cross-compiles
# it with this machine's Go toolchain (trimmed, in the context), and whose
# final stage runs it (arm64 under QEMU): bld, BuildKit and buildah
# (build --platform ... --manifest), --no-cache, warm base, median of RUNS.
# Needs root, qemu-user-static, .cache/busybox-static-arm64 (make test
# makes it); registers the arm64 handler if none is, removes it after.
#   RUNS=3 ./scripts/with-registry.sh bench/multigo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
REG=${BLD_TEST_REGISTRY:?run under scripts/with-registry.sh}
W=$(mktemp -d /var/tmp/bld-multigo.XXXXXX)
make -s build
BLD=$PWD/bin/bld
BHROOT=$W/buildah
bh() { buildah --root "$BHROOT/root" --runroot "$BHROOT/run" --storage-driver overlay "$@"; }
. bench/buildkit.sh
# binfmt_misc is host-wide: hold the lock the tests take (testutil.LockBinfmt)
exec 9>/run/lock/bld-binfmt-test.lock
flock 9
mounted=$(test -e /proc/sys/fs/binfmt_misc/register && echo yes || echo no)
had=$($BLD binfmt 2>/dev/null | awk '$2 == "arm64" && $3 == "true" && $4 == "true"' | wc -l)
cleanup() {
  bk_stop
  bh rm -a >/dev/null 2>&1 || true
  umount -R "$BHROOT/root/overlay" 2>/dev/null || true
  [ "$had" = 0 ] && $BLD binfmt --uninstall arm64 >/dev/null 2>&1 || true
  [ "$mounted" = no ] && umount /proc/sys/fs/binfmt_misc 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT
[ "$had" = 0 ] && $BLD binfmt --install arm64 >/dev/null

./scripts/foreign-busybox.sh arm64
R=$W/root
for arch in amd64 arm64; do
  ./scripts/busybox-rootfs.sh "$W/bb-$arch"
  [ $arch = arm64 ] && cp .cache/busybox-static-arm64/busybox "$W/bb-$arch/bin/busybox"
  $BLD --root "$R" import --platform "linux/$arch" "$W/bb-$arch" "busybox-$arch" >/dev/null
done
# the base as a two-platform index in the registry, for all three builders
mkdir -p "$W/base"
printf 'ARG TARGETARCH\nFROM busybox-${TARGETARCH}\n' >"$W/base/Dockerfile"
$BLD --root "$R" build --progress quiet --platform linux/amd64,linux/arm64 --push -t "$REG/bench/busybox-multi:1" "$W/base" >/dev/null
BASE=$REG/bench/busybox-multi:1

C=$W/ctx
mkdir -p "$C"
cp -al "$(go env GOROOT)" "$C/go" 2>/dev/null || cp -a "$(go env GOROOT)" "$C/go"
rm -rf "$C/go/test" "$C/go/api" "$C/go/doc" "$C/go/misc" "$C/go/lib" "$C/go/src/cmd"
find "$C/go" \( -name '*_test.go' -o -name testdata \) -prune -exec rm -rf {} +
printf 'package main\n\nimport (\n\t"fmt"\n\t"runtime"\n)\n\nfunc main() { fmt.Println("hello from", runtime.GOARCH) }\n' >"$C/hello.go"
cat >"$C/Dockerfile" <<'DF'
ARG BASE
FROM --platform=$BUILDPLATFORM ${BASE} AS build
COPY go/ /usr/local/go/
COPY hello.go /src/
ARG TARGETOS TARGETARCH
RUN cd /src && GOROOT=/usr/local/go GOCACHE=/tmp/gocache CGO_ENABLED=0 GO111MODULE=off GOOS=$TARGETOS GOARCH=$TARGETARCH /usr/local/go/bin/go build -o /out/hello hello.go

FROM ${BASE}
COPY --from=build /out/hello /usr/local/bin/hello
RUN hello > /hello.txt
DF
bk_start "$REG"

now() { date +%s.%N; }
timeit() {
  local s e
  s=$(now)
  "$@" >"$W/last.log" 2>&1 || { echo "multigo: command failed: $*" >&2; tail -20 "$W/last.log" >&2; exit 1; }
  e=$(now)
  awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f\n", e - s }'
}
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
P=linux/amd64,linux/arm64
# warm bases (untimed)
$BLD --root "$R" build --progress quiet --platform $P --build-arg BASE="$BASE" -t gomulti "$C" >/dev/null
[ -z "$BK_SKIP" ] && bkbuild "$C" --opt platform=$P --opt build-arg:BASE="$BASE" --output type=image,name=gomulti >/dev/null 2>&1
bh build --tls-verify=false --platform $P --manifest gomulti-warm --build-arg BASE="$BASE" "$C" >/dev/null 2>&1
b=() k=() h=()
for i in $(seq "$RUNS"); do
  b+=("$(timeit $BLD --root "$R" build --no-cache --progress quiet --platform $P --build-arg BASE="$BASE" -t gomulti "$C")")
  if [ -z "$BK_SKIP" ]; then k+=("$(timeit bkbuild "$C" --no-cache --opt platform=$P --opt build-arg:BASE="$BASE" --output type=image,name=gomulti)"); fi
  h+=("$(timeit bh build --no-cache --tls-verify=false --platform $P --manifest "gomulti-$i" --build-arg BASE="$BASE" "$C")")
done
# output check: bld's arm64 binary ran under QEMU and says so
$BLD --root "$R" build --progress quiet --platform $P --build-arg BASE="$BASE" --output "type=local,dest=$W/out" "$C" >/dev/null
grep -qx 'hello from arm64' "$W/out/linux_arm64/hello.txt" || { echo "multigo: wrong arm64 output" >&2; exit 1; }
bm=$(printf '%s\n' "${b[@]}" | median)
km=$(printf '%s\n' "${k[@]:-}" | grep . | median)
hm=$(printf '%s\n' "${h[@]}" | median)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b != "-" && b > 0) printf "%.3f", a / b; else print "-" }'; }
printf 'two-platform Go cross-compile build, --no-cache\tbld %s s\tBuildKit %s s\tbuildah %s s\tbld/BuildKit %s\tbld/buildah %s (target <= 0.5)\n' "$bm" "$km" "$hm" "$(ratio "$bm" "$km")" "$(ratio "$bm" "$hm")"

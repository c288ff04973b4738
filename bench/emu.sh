#!/usr/bin/env bash
# bench/emu.sh: an emulated RUN (arm64 on this amd64 host, QEMU user mode
# through binfmt_misc) against the floor, the same shell loop run by
# qemu-aarch64-static directly on the same busybox. Median of RUNS runs.
# Registers the arm64 handler if none is (and removes it at the end); needs
# root, qemu-user-static and .cache/busybox-static-arm64 (make test makes it).
#   RUNS=5 bench/emu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
LOOP=${LOOP:-300000}
W=$(mktemp -d /var/tmp/bld-emu.XXXXXX)
make -s build
BLD=$PWD/bin/bld
./scripts/busybox-rootfs.sh "$W/rootfs" arm64
# The tests that register handlers take this lock (testutil.LockBinfmt):
# holding it keeps them from removing the handler under the loop.
exec 9>/run/lock/bld-binfmt-test.lock
flock 9
mounted=$(test -e /proc/sys/fs/binfmt_misc/register && echo yes || echo no)
had=$($BLD binfmt 2>/dev/null | awk '$2 == "arm64" && $3 == "true" && $4 == "true"' | wc -l)
cleanup() {
  [ "$had" = 0 ] && $BLD binfmt --uninstall arm64 >/dev/null 2>&1 || true
  [ "$mounted" = no ] && umount /proc/sys/fs/binfmt_misc 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT
[ "$had" = 0 ] && $BLD binfmt --install arm64 >/dev/null
$BLD --root "$W/root" import --platform linux/arm64 "$W/rootfs" busybox-arm64 >/dev/null
mkdir -p "$W/ctx"
script="i=0; while [ \$i -lt $LOOP ]; do i=\$((i+1)); done; echo \$i"
printf 'FROM busybox-arm64\nRUN %s > /out\n' "$script" >"$W/ctx/Dockerfile"
now() { date +%s.%N; }
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
b=() f=()
for i in $(seq "$RUNS"); do
  s=$(now); $BLD --root "$W/root" build --progress quiet --no-cache --platform linux/arm64 "$W/ctx" >/dev/null 2>&1; e=$(now)
  b+=("$(awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f", e - s }')")
  s=$(now); /usr/bin/qemu-aarch64-static "$W/rootfs/bin/busybox" sh -c "$script" >/dev/null; e=$(now)
  f+=("$(awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f", e - s }')")
done
bm=$(printf '%s\n' "${b[@]}" | median)
fm=$(printf '%s\n' "${f[@]}" | median)
printf 'emulated RUN (arm64 shell loop of %d)\tbld %s s\tqemu-aarch64-static directly %s s\tratio %s (target <= 1.2)\n' "$LOOP" "$bm" "$fm" "$(awk -v a="$bm" -v b="$fm" 'BEGIN { printf "%.3f", a / b }')"

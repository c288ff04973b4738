#!/usr/bin/env bash
# bench/runstep.sh: the fixed cost of a RUN step (issue 13). Rows in
# bench/run.sh's format (scenario, bld seconds, -, -, target), the median
# of RUNS runs, on a warm base image (imported, no registry needed):
#   runstep50   50 trivial `RUN true` steps, --no-cache (target 15 ms each);
#               wall time, and CPU time per RUN (steadier on a loaded host)
#   parallel4   four stages of `RUN sleep 1` in parallel (target 1.15 s)
#   initstart   one start of a step's init (the bld-init make build embeds),
#               exiting at once (no config): the Go runtime and the package
#               initialisers a step still pays (sandbox/internal/stepinit)
#   initself    the same with bld itself as the init (a plain go build)
# then BenchmarkFloor (sandbox): fork+exec, namespaces, overlay, and Run.
#   RUNS=5 bench/runstep.sh      (as root; bench/run.sh may call it)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
W=$(mktemp -d /var/tmp/bld-runstep.XXXXXX)
trap 'rm -rf "$W"' EXIT
make -s build
BLD=$PWD/bin/bld
./scripts/busybox-rootfs.sh "$W/rootfs"
R=$W/root
$BLD --root "$R" import "$W/rootfs" busybox >/dev/null

now() { date +%s.%N; }
timeit() {
  local s e
  s=$(now)
  "$@" >"$W/last.log" 2>&1 || { echo "runstep: command failed: $*" >&2; tail -20 "$W/last.log" >&2; exit 1; }
  e=$(now)
  awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f\n", e - s }'
}
# rcputime CMD...: prints the wall, user and system seconds of CMD (user
# and system of its children too).
rcputime() {
  local TIMEFORMAT='%R %U %S' out
  out=$({ time "$@" >"$W/last.log" 2>&1; } 2>&1) || { echo "runstep: command failed: $*" >&2; tail -20 "$W/last.log" >&2; exit 1; }
  echo "$out"
}
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
row() { printf '%s\t%s\t-\t-\t%s\n' "$1" "$2" "$3"; }

mkdir -p "$W/run50" "$W/par"
{ echo 'FROM busybox'; for i in $(seq 50); do echo "RUN true # $i"; done; } >"$W/run50/Dockerfile"
cat >"$W/par/Dockerfile" <<'DF'
FROM busybox AS a
RUN sleep 1 && echo a > /a
FROM busybox AS b
RUN sleep 1 && echo b > /b
FROM busybox AS c
RUN sleep 1 && echo c > /c
FROM busybox AS d
RUN sleep 1 && echo d > /d
FROM busybox
COPY --from=a /a /
COPY --from=b /b /
COPY --from=c /c /
COPY --from=d /d /
DF
for d in run50 par; do $BLD --root "$R" build --progress quiet "$W/$d" >/dev/null; done

# Wall time, and CPU time (user+sys of bld and the steps it waited for):
# on a loaded host (other builds on its 2 cores) CPU is the steadier figure.
t=() c=()
for i in $(seq "$RUNS"); do
  read -r real user sys <<<"$(rcputime $BLD --root "$R" build --no-cache --progress quiet "$W/run50")"
  t+=("$real")
  c+=("$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.3f\n", u + s }')")
done
m=$(printf '%s\n' "${t[@]}" | median)
mc=$(printf '%s\n' "${c[@]}" | median)
row runstep50 "$m" "<= 0.75 s ($(awk -v m="$m" -v c="$mc" 'BEGIN { printf "%.1f ms/RUN wall, %.1f ms/RUN CPU", m * 1000 / 50, c * 1000 / 50 }'); target 15)"
t=()
for i in $(seq "$RUNS"); do t+=("$(timeit $BLD --root "$R" build --no-cache --progress quiet "$W/par")"); done
row parallel4 "$(printf '%s\n' "${t[@]}" | median)" "<= 1.15 s"

# The init reads its config from fd 4 and reports on fd 3: /dev/null for
# both makes it fail at once, after everything a step pays before setup.
# Wall time per start, and CPU time (user+sys: steadier on a loaded host),
# of the init make build embeds (bld-init, initstart) and of bld itself
# re-executed as the init (initself: a plain go build of bld).
CGO_ENABLED=0 go build -ldflags "-s -w" -o "$W/bld-init" ./sandbox/internal/stepinit/cmd/bld-init # as scripts/build-bld.sh
n=200
TIMEFORMAT='%R %U %S'
for v in initstart:"$W/bld-init" initself:"$BLD"; do
  exe=${v#*:}
  t=$({ time (for ((i = 0; i < n; i++)); do _BLD_SANDBOX_INIT=1 "$exe" 3</dev/null 4</dev/null 2>/dev/null || true; done); } 2>&1)
  read -r real user sys <<<"$t"
  row "${v%%:*}" "$(awk -v r="$real" -v n=$n 'BEGIN { printf "%.4f", r / n }')" \
    "($(awk -v r="$real" -v u="$user" -v s="$sys" -v n=$n 'BEGIN { printf "%.1f ms wall, %.1f ms CPU", r * 1000 / n, (u + s) * 1000 / n }') per start, bash's fork included)"
done

go test -run '^$' -bench Floor -benchtime 100x ./sandbox | grep '^Benchmark'

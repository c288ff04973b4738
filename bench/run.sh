#!/usr/bin/env bash
# make bench: the scenarios of DESIGN.md, built by bld and by buildah
# (`buildah bud --layers`, the reference that runs here) on this machine in
# the same run. Prints the median of RUNS runs per tool and the ratio
# bld/buildah. All data is generated here; nothing large is committed.
#   RUNS=3 ONLY="noop onefile" ./scripts/with-registry.sh bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
ONLY=${ONLY:-"cold noop onefile cachefrom parallel files50k layer1g push"}
REG=${BLD_TEST_REGISTRY:?run under scripts/with-registry.sh}
W=$(mktemp -d /var/tmp/bld-bench.XXXXXX)
BLD=$PWD/bin/bld
BHROOT=$W/buildah
bh() { buildah --root "$BHROOT/root" --runroot "$BHROOT/run" --storage-driver overlay "$@"; }
cleanup() { bh rm -a >/dev/null 2>&1 || true; umount -R "$BHROOT/root/overlay" 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT

now() { date +%s.%N; }
# timeit CMD...: prints the seconds CMD took; its output goes to $W/last.log
timeit() {
  local s e
  s=$(now)
  "$@" >"$W/last.log" 2>&1 || { echo "bench: command failed: $*" >&2; tail -20 "$W/last.log" >&2; exit 1; }
  e=$(now)
  awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f\n", e - s }'
}
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
RESULTS=$W/results.tsv
: >"$RESULTS"
row() { # scenario bld buildah target
  local ratio
  ratio=$(awk -v a="$2" -v b="$3" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "-" }')
  printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$ratio" "$4" | tee -a "$RESULTS"
}
want() { case " $ONLY " in *" $1 "*) return 0 ;; esac; return 1; }

echo "bench: preparing base image and contexts in $W" >&2
make -s build
./scripts/busybox-rootfs.sh "$W/rootfs"
SEED=$W/seed
$BLD --root "$SEED" import "$W/rootfs" busybox >/dev/null
$BLD --root "$SEED" push busybox "$REG/bench/busybox:1" >/dev/null
BASE=$REG/bench/busybox:1

# The 200-file multi-stage build.
gen200() {
  local d=$1
  mkdir -p "$d/deps" "$d/src"
  for i in $(seq 1 20); do head -c 2048 /dev/urandom | base64 >"$d/deps/dep$i.txt"; done
  for i in $(seq 1 180); do head -c 4096 /dev/urandom | base64 >"$d/src/file$i.txt"; done
  cat >"$d/Dockerfile" <<'DF'
ARG BASE
FROM ${BASE} AS deps
COPY deps/ /deps/
RUN cat /deps/* | md5sum > /deps.sum

FROM ${BASE} AS build
COPY --from=deps /deps.sum /
COPY src/ /src/
RUN find /src -type f | sort | xargs cat | md5sum > /build.sum

FROM ${BASE}
COPY --from=deps /deps.sum /app/
COPY --from=build /build.sum /app/
CMD ["cat", "/app/build.sum"]
DF
}
CTX=$W/ctx200
gen200 "$CTX"

printf 'scenario\tbld_s\tbuildah_s\tratio\ttarget\n' | tee -a "$RESULTS"

if want cold || want noop || want onefile; then
  b=() h=()
  for i in $(seq "$RUNS"); do
    rm -rf "$W/r-cold"; cleanup_bh() { bh rmi -a -f >/dev/null 2>&1 || true; }; cleanup_bh
    b+=("$(timeit $BLD --root "$W/r-cold" build --progress quiet --build-arg BASE="$BASE" -t app:1 "$CTX")")
    h+=("$(timeit bh bud --layers --tls-verify=false --runtime runc --build-arg BASE="$BASE" -t app:1 "$CTX")")
  done
  want cold && row "cold build (base pulled from registry)" "$(printf '%s\n' "${b[@]}" | median)" "$(printf '%s\n' "${h[@]}" | median)" "<= 0.35"
  if want noop; then
    b=() h=()
    for i in $(seq "$RUNS"); do
      b+=("$(timeit $BLD --root "$W/r-cold" build --progress quiet --build-arg BASE="$BASE" -t app:1 "$CTX")")
      h+=("$(timeit bh bud --layers --tls-verify=false --runtime runc --build-arg BASE="$BASE" -t app:1 "$CTX")")
    done
    row "no-op rebuild" "$(printf '%s\n' "${b[@]}" | median)" "$(printf '%s\n' "${h[@]}" | median)" "<= 0.05"
  fi
  if want onefile; then
    b=() h=()
    for i in $(seq "$RUNS"); do
      echo "change $i" >>"$CTX/src/file7.txt"
      b+=("$(timeit $BLD --root "$W/r-cold" build --progress quiet --build-arg BASE="$BASE" -t app:1 "$CTX")")
      h+=("$(timeit bh bud --layers --tls-verify=false --runtime runc --build-arg BASE="$BASE" -t app:1 "$CTX")")
    done
    row "one-file change" "$(printf '%s\n' "${b[@]}" | median)" "$(printf '%s\n' "${h[@]}" | median)" "<= 0.30"
  fi
fi

if want cachefrom; then
  # A CI runner with an empty store and --cache-from, against a cold build;
  # the output is a push to the same registry, so no layer need be pulled.
  $BLD --root "$W/r-cf-seed" build --progress quiet --build-arg BASE="$BASE" \
    --cache-to "type=registry,ref=$REG/bench/cache:main,mode=max" --output "type=registry,name=$REG/bench/cf:seed" "$CTX" >/dev/null
  c=() b=() pulled=()
  for i in $(seq "$RUNS"); do
    rm -rf "$W/r-cf-cold" "$W/r-cf"
    c+=("$(timeit $BLD --root "$W/r-cf-cold" build --progress quiet --build-arg BASE="$BASE" --output "type=registry,name=$REG/bench/cf:cold$i" "$CTX")")
    b+=("$(timeit $BLD --root "$W/r-cf" build --progress quiet --build-arg BASE="$BASE" --cache-from "$REG/bench/cache:main" --output "type=registry,name=$REG/bench/cf:$i" "$CTX")")
    pulled+=("$(du -sb "$W/r-cf/content/blobs" 2>/dev/null | cut -f1)")
  done
  row "empty runner with --cache-from vs cold (bld both)" "$(printf '%s\n' "${b[@]}" | median)" "$(printf '%s\n' "${c[@]}" | median)" "<= 0.30"
  echo "# bytes in the empty runner's store after the --cache-from build: $(printf '%s\n' "${pulled[@]}" | sort -n | tail -1) (no layer pulled: only what the output needs)" | tee -a "$RESULTS"
fi

if want parallel; then
  P=$W/ctxpar
  mkdir -p "$P"
  cat >"$P/Dockerfile" <<'DF'
ARG BASE
FROM ${BASE} AS a
RUN sleep 1 && echo a > /a
FROM ${BASE} AS b
RUN sleep 1 && echo b > /b
FROM ${BASE} AS c
RUN sleep 1 && echo c > /c
FROM ${BASE} AS d
RUN sleep 1 && echo d > /d
FROM ${BASE}
COPY --from=a /a /
COPY --from=b /b /
COPY --from=c /c /
COPY --from=d /d /
DF
  b=() h=()
  $BLD --root "$W/r-par" build --progress quiet --build-arg BASE="$BASE" "$P" >/dev/null
  for i in $(seq "$RUNS"); do
    b+=("$(timeit $BLD --root "$W/r-par" build --no-cache --progress quiet --build-arg BASE="$BASE" "$P")")
    h+=("$(timeit bh bud --layers --no-cache --tls-verify=false --runtime runc --jobs 4 --build-arg BASE="$BASE" -t par "$P")")
  done
  row "four 1-s stages (seconds, wall)" "$(printf '%s\n' "${b[@]}" | median)" "$(printf '%s\n' "${h[@]}" | median)" "bld <= 1.3 s"
fi

if want files50k; then
  F=$W/ctx50k
  mkdir -p "$F/data"
  python3 - "$F/data" <<'PY'
import os, sys
root = sys.argv[1]
for d in range(100):
    os.makedirs(f"{root}/d{d}", exist_ok=True)
    for f in range(500):
        with open(f"{root}/d{d}/f{f}.txt", "w") as fh:
            fh.write(f"file {d}/{f}\n" * 8)
PY
  printf 'ARG BASE\nFROM ${BASE}\nCOPY data/ /data/\n' >"$F/Dockerfile"
  $BLD --root "$W/r-50k" build --progress quiet --build-arg BASE="$BASE" "$F" >/dev/null
  b=() h=() c=()
  for i in $(seq "$RUNS"); do
    b+=("$(timeit $BLD --root "$W/r-50k" build --no-cache --progress quiet --build-arg BASE="$BASE" -t f50k "$F")")
    h+=("$(timeit bh bud --layers --no-cache --tls-verify=false --runtime runc --build-arg BASE="$BASE" -t f50k "$F")")
    rm -rf "$W/cpa"
    c+=("$(timeit cp -a "$F/data" "$W/cpa")")
  done
  bm=$(printf '%s\n' "${b[@]}" | median)
  row "50,000 small files COPY + export" "$bm" "$(printf '%s\n' "${h[@]}" | median)" "<= 0.5"
  row "50,000 small files, bld vs cp -a" "$bm" "$(printf '%s\n' "${c[@]}" | median)" "<= 2.0 (cp -a in buildah column)"
fi

if want layer1g; then
  G=$W/ctx1g
  mkdir -p "$G"
  # Half random, half repetitive text: like a real mix of binaries and data.
  head -c 512M /dev/urandom >"$G/random.bin"
  python3 -c 'import sys; line = b"bld layer benchmark line: the quick brown fox jumps over the lazy dog 0123456789\n"; sys.stdout.buffer.write(line * (512 * 1024 * 1024 // len(line)))' >"$G/text.txt"
  printf 'FROM scratch\nCOPY . /data/\n' >"$G/Dockerfile"
  $BLD --root "$W/r-1g" build --progress quiet -t big "$G" >/dev/null
  bh bud --layers --runtime runc -t big "$G" >/dev/null 2>&1
  for comp in gzip zstd; do
    b=() h=() m=()
    for i in $(seq "$RUNS"); do
      rm -f "$W/out.tar"
      s=$(now)
      /usr/bin/time -f '%M' -o "$W/rss" $BLD --root "$W/r-1g" build --progress quiet --output "type=oci,dest=$W/out.tar,compression=$comp,force-compression=true" "$G" >/dev/null 2>&1
      e=$(now)
      b+=("$(awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f\n", e - s }')")
      m+=("$(cat "$W/rss")")
      rm -f "$W/bh.tar"
      h+=("$(timeit bh push --compression-format "$comp" big "oci-archive:$W/bh.tar")")
    done
    row "1 GiB layer export, $comp" "$(printf '%s\n' "${b[@]}" | median)" "$(printf '%s\n' "${h[@]}" | median)" "$([ $comp = gzip ] && echo '<= 0.8' || echo '<= 0.3')"
    echo "# peak RSS of bld, 1 GiB $comp export: $(printf '%s\n' "${m[@]}" | sort -n | tail -1) KiB (target < 131072)" | tee -a "$RESULTS"
  done
  f=()
  for i in $(seq "$RUNS"); do f+=("$(timeit sh -c "tar -cf - -C '$G' . | zstd -3 -T2 -q -o /dev/null -f")"); done
  echo "# floor: tar | zstd -3 -T2 of the same data: $(printf '%s\n' "${f[@]}" | median) s (target: bld zstd within 1.5x)" | tee -a "$RESULTS"
  rm -rf "$G"
fi

if want push; then
  # The 200-file image plus a 64 MiB layer, so a push moves real bytes.
  PC=$W/ctxpush
  cp -a "$CTX" "$PC"
  head -c 64M /dev/urandom >"$PC/blob.bin"
  printf '\nCOPY blob.bin /blob.bin\n' >>"$PC/Dockerfile"
  $BLD --root "$W/r-cold" build --progress quiet --build-arg BASE="$BASE" -t app:1 "$PC" >/dev/null
  bh bud --layers --tls-verify=false --runtime runc --build-arg BASE="$BASE" -t app:1 "$PC" >/dev/null 2>&1
  b1=() b2=() b3=() h1=() h2=() h3=()
  for i in $(seq "$RUNS"); do
    # First push, with no hint that the registry holds the blobs elsewhere
    # (bld's blob locations and buildah's blob-info cache are cleared).
    rm -f "$W/r-cold/cache/blob-locations.json" /var/lib/containers/cache/blob-info-cache-v1.boltdb
    b1+=("$(timeit $BLD --root "$W/r-cold" push app:1 "$REG/bench/bld-push$i:1")")
    b2+=("$(timeit $BLD --root "$W/r-cold" push app:1 "$REG/bench/bld-push$i:1")")
    b3+=("$(timeit $BLD --root "$W/r-cold" push app:1 "$REG/bench/bld-mount$i:1")")
    h1+=("$(timeit bh push --tls-verify=false app:1 "docker://$REG/bench/bh-push$i:1")")
    h2+=("$(timeit bh push --tls-verify=false app:1 "docker://$REG/bench/bh-push$i:1")")
    h3+=("$(timeit bh push --tls-verify=false app:1 "docker://$REG/bench/bh-mount$i:1")")
  done
  bf=$(printf '%s\n' "${b1[@]}" | median)
  row "push (first, uploads every blob)" "$bf" "$(printf '%s\n' "${h1[@]}" | median)" "-"
  bp=$(printf '%s\n' "${b2[@]}" | median)
  row "re-push (all blobs present)" "$bp" "$(printf '%s\n' "${h2[@]}" | median)" "-"
  row "push to a new repository of the same registry (mounts)" "$(printf '%s\n' "${b3[@]}" | median)" "$(printf '%s\n' "${h3[@]}" | median)" "-"
  echo "# bld re-push / bld first push: $(awk -v a="$bp" -v b="$bf" 'BEGIN { printf "%.3f", a / b }') (target < 0.1)" | tee -a "$RESULTS"
fi

echo
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ { print $2 }') GiB, $(uname -r), $(buildah --version)"
column -t -s $'\t' "$RESULTS"
cp "$RESULTS" bench/last-results.tsv

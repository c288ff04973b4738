#!/usr/bin/env bash
# make bench: the scenarios of DESIGN.md and issue 13, built by bld, by
# BuildKit (buildkitd + buildctl, bench/buildkit.sh) and by buildah
# (`buildah bud --layers`) on this machine in the same run, and where one
# exists against the floor (the least work any builder must do: tar the
# context and compress it to a file with zstd -3 or pigz -6 on all cores;
# read and hash the context for a no-op; sleep 1 for the parallel stages). Prints the median of RUNS runs per tool,
# the ratios bld/BuildKit, bld/buildah and bld/floor, and bld's peak RSS.
# Every row's outputs are checked (bld's image against BuildKit's files,
# layer formats, blob counts). All data is generated here. The rootless
# rows (bld as root, bld rootless, buildah rootless) are bench/rootless.sh's.
#   RUNS=3 ONLY="noop onefile" ./scripts/with-registry.sh bench/run.sh
#   RUNS=5 ONLY=rootless ./scripts/with-registry.sh bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
ONLY=${ONLY:-"cold noop onefile cachefrom parallel runs50 files50k layer1g zstd256 push rootless"}
REG=${BLD_TEST_REGISTRY:?run under scripts/with-registry.sh}
W=$(mktemp -d /var/tmp/bld-bench.XXXXXX)
BLD=$PWD/bin/bld
BHROOT=$W/buildah
bh() { buildah --root "$BHROOT/root" --runroot "$BHROOT/run" --storage-driver overlay "$@"; }
. bench/buildkit.sh
. bench/rootless.sh
cleanup() {
  bk_stop
  rl_cleanup
  bh rm -a >/dev/null 2>&1 || true
  umount -R "$BHROOT/root/overlay" 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT

now() { date +%s.%N; }
# timeit CMD...: prints the seconds CMD took; its output goes to
# $W/last.log, its peak RSS (KiB) to $W/rss.last; a failure ends the bench.
timeit() {
  local s e
  s=$(now)
  if [ "$(type -t "$1")" = function ]; then
    # A shell function (bkbuild, bh): no RSS of interest, none taken.
    "$@" >"$W/last.log" 2>&1 || { echo "bench: command failed: $*" >&2; tail -20 "$W/last.log" >&2; exit 1; }
  else
    /usr/bin/time -f '%M' -o "$W/rss.last" "$@" >"$W/last.log" 2>&1 || { echo "bench: command failed: $*" >&2; tail -20 "$W/last.log" >&2; exit 1; }
  fi
  e=$(now)
  awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f\n", e - s }'
}
# tb CMD...: timeit for a bld command; its RSS counts for the row.
tb() {
  timeit "$@"
  cat "$W/rss.last" >>"$W/rss.row"
}
# tk CMD...: timeit for BuildKit, or "-" when it is skipped.
tk() {
  if [ -n "$BK_SKIP" ]; then echo "-"; else timeit "$@"; fi
}
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
med() { printf '%s\n' "$@" | grep -v '^-$' | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "-" && b != "-" && b > 0) printf "%.3f", a / b; else print "-" }'; }
RESULTS=$W/results.tsv
: >"$RESULTS"
: >"$W/rss.row"
# row SCENARIO BLD BUILDKIT BUILDAH FLOOR TARGET: one line of the table;
# the peak RSS is the largest of the row's bld runs (tb).
row() {
  local rss
  rss=$(sort -n "$W/rss.row" | tail -1)
  rss=$([ -n "$rss" ] && awk -v k="$rss" 'BEGIN { printf "%.0f", k / 1024 }' || echo "-")
  : >"$W/rss.row"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$(ratio "$2" "$3")" "$(ratio "$2" "$4")" "$5" "$(ratio "$2" "$5")" "$rss" "$6" | tee -a "$RESULTS"
}
note() { echo "# $*" | tee -a "$RESULTS"; }
want() { case " $ONLY " in *" $1 "*) return 0 ;; esac; return 1; }
# check WHAT CONDITION...: a failed output check ends the bench.
check() {
  local what=$1
  shift
  "$@" || { echo "bench: output check failed: $what" >&2; exit 1; }
}

echo "bench: preparing base image, contexts and BuildKit in $W (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
make -s build
./scripts/busybox-rootfs.sh "$W/rootfs"
SEED=$W/seed
$BLD --root "$SEED" import "$W/rootfs" busybox >/dev/null
$BLD --root "$SEED" push busybox "$REG/bench/busybox:1" >/dev/null
BASE=$REG/bench/busybox:1
# BuildKit only for the rows that have it (not the rootless ones).
if [ -n "$(echo " $ONLY " | sed 's/ rootless / /g' | tr -d ' ')" ]; then
  bk_start "$REG"
else
  BK_SKIP="not run: no row asked needs it"
fi
[ -n "$BK_SKIP" ] && note "BuildKit $BKVER: $BK_SKIP"

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

printf 'scenario\tbld_s\tbuildkit_s\tbuildah_s\tbld/buildkit\tbld/buildah\tfloor_s\tbld/floor\tbld_rss_MiB\ttarget\n' | tee -a "$RESULTS"

# bkimg NAME: BuildKit's output for the rows that build into a store: its
# own image store (the OCI worker keeps images there, as bld's local store).
bkimg() { echo "type=image,name=$1"; }

# The floors of the 200-file build: what any builder must do and nothing
# more. floor_pull: fetch every blob of the base image once (curl);
# floor_hash: read and hash the context; floor_layer DIR...: tar the
# directories a COPY adds and gzip them on all cores; floor_run: one
# process in new PID, mount, UTS, IPC and network namespaces (a RUN).
floor_pull() {
  local d
  for d in $(curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "http://$REG/v2/bench/busybox/manifests/1" | grep -o 'sha256:[0-9a-f]\{64\}' | sort -u); do
    curl -fsS -o /dev/null "http://$REG/v2/bench/busybox/blobs/$d"
  done
}
floor_hash() { tar -cf - -C "$CTX" . | sha256sum >/dev/null; }
floor_layer() { tar -cf - -C "$CTX" "$@" | pigz -6 >/dev/null; }
floor_run() { unshare --fork --pid --mount --uts --ipc --net --mount-proc true; }
# cold: pull, hash, the two COPY layers, the two RUNs.
floor_cold() { floor_pull && floor_hash && floor_layer deps && floor_layer src && floor_run && floor_run; }
# one-file change: hash, the changed COPY's layer, its RUN.
floor_onefile() { floor_hash && floor_layer src && floor_run; }

if want cold || want noop || want onefile; then
  b=() k=() h=() f=()
  for i in $(seq "$RUNS"); do
    f+=("$(timeit floor_cold)")
    rm -rf "$W/r-cold"
    bh rmi -a -f >/dev/null 2>&1 || true
    [ -z "$BK_SKIP" ] && bk_prune
    b+=("$(tb $BLD --root "$W/r-cold" build --progress quiet --build-arg BASE="$BASE" -t app:1 "$CTX")")
    k+=("$(tk bkbuild "$CTX" --opt build-arg:BASE="$BASE" --output "$(bkimg app:1)")")
    h+=("$(timeit bh bud --layers --tls-verify=false --runtime runc --build-arg BASE="$BASE" -t app:1 "$CTX")")
  done
  # bld's image holds what BuildKit's does.
  $BLD --root "$W/r-cold" build --progress quiet --build-arg BASE="$BASE" --output "type=local,dest=$W/out-bld" "$CTX" >/dev/null
  if [ -z "$BK_SKIP" ]; then
    bkbuild "$CTX" --opt build-arg:BASE="$BASE" --output "type=local,dest=$W/out-bk" >/dev/null 2>&1
    check "cold: bld's /app equals BuildKit's" diff -r "$W/out-bld/app" "$W/out-bk/app"
  fi
  check "cold: /app/build.sum" test -s "$W/out-bld/app/build.sum"
  want cold && row "cold build (base pulled from registry; floor: pull, hash, 2 layers, 2 RUNs)" "$(med "${b[@]}")" "$(med "${k[@]}")" "$(med "${h[@]}")" "$(med "${f[@]}")" "bk <= 0.35"
  if want noop; then
    b=() k=() h=() f=()
    for i in $(seq "$RUNS"); do
      b+=("$(tb $BLD --root "$W/r-cold" build --progress quiet --build-arg BASE="$BASE" -t app:1 "$CTX")")
      k+=("$(tk bkbuild "$CTX" --opt build-arg:BASE="$BASE" --output "$(bkimg app:1)")")
      h+=("$(timeit bh bud --layers --tls-verify=false --runtime runc --build-arg BASE="$BASE" -t app:1 "$CTX")")
      # The floor of a no-op: read and hash the context once.
      f+=("$(timeit sh -c "tar -cf - -C '$CTX' . | sha256sum")")
    done
    check "no-op: nothing ran" sh -c "! $BLD --root '$W/r-cold' build --progress plain --build-arg BASE='$BASE' -t app:1 '$CTX' 2>&1 | grep -q 'cache miss'"
    row "no-op rebuild" "$(med "${b[@]}")" "$(med "${k[@]}")" "$(med "${h[@]}")" "$(med "${f[@]}")" "bk <= 0.2, floor <= 1.1"
  fi
  if want onefile; then
    b=() k=() h=() f=()
    for i in $(seq "$RUNS"); do
      echo "change $i" >>"$CTX/src/file7.txt"
      f+=("$(timeit floor_onefile)")
      b+=("$(tb $BLD --root "$W/r-cold" build --progress quiet --build-arg BASE="$BASE" -t app:1 "$CTX")")
      k+=("$(tk bkbuild "$CTX" --opt build-arg:BASE="$BASE" --output "$(bkimg app:1)")")
      h+=("$(timeit bh bud --layers --tls-verify=false --runtime runc --build-arg BASE="$BASE" -t app:1 "$CTX")")
    done
    rm -rf "$W/out-bld"
    $BLD --root "$W/r-cold" build --progress quiet --build-arg BASE="$BASE" --output "type=local,dest=$W/out-bld" "$CTX" >/dev/null
    check "one-file: the image's checksum is the changed sources'" test "$(cd "$CTX" && find src -type f | sort | xargs cat | md5sum)" = "$(cat "$W/out-bld/app/build.sum")"
    row "one-file change (floor: hash, 1 layer, 1 RUN)" "$(med "${b[@]}")" "$(med "${k[@]}")" "$(med "${h[@]}")" "$(med "${f[@]}")" "bk <= 0.35"
  fi
fi

want rootless && rl_bench

if want cachefrom; then
  # A CI runner with an empty store and --cache-from, against a cold build;
  # the output is a push to the same registry, so no layer need be pulled.
  $BLD --root "$W/r-cf-seed" build --progress quiet --build-arg BASE="$BASE" \
    --cache-to "type=registry,ref=$REG/bench/cache:main,mode=max" --output "type=registry,name=$REG/bench/cf:seed" "$CTX" >/dev/null
  c=() b=() pulled=()
  for i in $(seq "$RUNS"); do
    rm -rf "$W/r-cf-cold" "$W/r-cf"
    c+=("$(tb $BLD --root "$W/r-cf-cold" build --progress quiet --build-arg BASE="$BASE" --output "type=registry,name=$REG/bench/cf:cold$i" "$CTX")")
    b+=("$(tb $BLD --root "$W/r-cf" build --progress quiet --build-arg BASE="$BASE" --cache-from "$REG/bench/cache:main" --output "type=registry,name=$REG/bench/cf:$i" "$CTX")")
    pulled+=("$(du -sb "$W/r-cf/content/blobs" 2>/dev/null | cut -f1)")
  done
  row "empty runner with --cache-from (bld; the floor column: a cold bld build)" "$(med "${b[@]}")" "-" "-" "$(med "${c[@]}")" "floor <= 0.30"
  note "bytes in the empty runner's store after the --cache-from build: $(printf '%s\n' "${pulled[@]}" | sort -n | tail -1) (no layer pulled: only what the output needs)"
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
  b=() k=() h=()
  $BLD --root "$W/r-par" build --progress quiet --build-arg BASE="$BASE" "$P" >/dev/null
  for i in $(seq "$RUNS"); do
    b+=("$(tb $BLD --root "$W/r-par" build --no-cache --progress quiet --build-arg BASE="$BASE" -t par "$P")")
    k+=("$(tk bkbuild "$P" --no-cache --opt build-arg:BASE="$BASE" --output "$(bkimg par)")")
    h+=("$(timeit bh bud --layers --no-cache --tls-verify=false --runtime runc --jobs 4 --build-arg BASE="$BASE" -t par "$P")")
  done
  rm -rf "$W/out-par"
  $BLD --root "$W/r-par" build --progress quiet --build-arg BASE="$BASE" --output "type=local,dest=$W/out-par" "$P" >/dev/null
  check "parallel: four files" test "$(cat "$W/out-par/a" "$W/out-par/b" "$W/out-par/c" "$W/out-par/d" | tr -d '\n')" = abcd
  row "four 1-s stages in parallel (wall; floor: sleep 1)" "$(med "${b[@]}")" "$(med "${k[@]}")" "$(med "${h[@]}")" "1.000" "floor <= 1.15"
fi

if want runs50; then
  R50=$W/ctx50
  mkdir -p "$R50"
  { echo 'ARG BASE'; echo 'FROM ${BASE}'; for i in $(seq 50); do echo "RUN true # $i"; done; } >"$R50/Dockerfile"
  $BLD --root "$W/r-cold" build --progress quiet --build-arg BASE="$BASE" "$R50" >/dev/null
  b=() k=() h=() f=()
  floor_runs50() { for _ in $(seq 50); do floor_run; done; }
  for i in $(seq "$RUNS"); do
    f+=("$(timeit floor_runs50)")
    b+=("$(tb $BLD --root "$W/r-cold" build --no-cache --progress quiet --build-arg BASE="$BASE" -t r50 "$R50")")
    k+=("$(tk bkbuild "$R50" --no-cache --opt build-arg:BASE="$BASE" --output "$(bkimg r50)")")
    h+=("$(timeit bh bud --layers --no-cache --tls-verify=false --runtime runc --build-arg BASE="$BASE" -t r50 "$R50")")
  done
  check "50 RUNs: 51 layers (every RUN has one, as BuildKit)" test "$($BLD --root "$W/r-cold" inspect r50 | grep -c '"digest": "sha256:4f4fb700')" -ge 50
  row "50 trivial RUN steps, no cache (floor: 50 unshare runs)" "$(med "${b[@]}")" "$(med "${k[@]}")" "$(med "${h[@]}")" "$(med "${f[@]}")" "bk <= 0.2"
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
  [ -z "$BK_SKIP" ] && bkbuild "$F" --opt build-arg:BASE="$BASE" --output "$(bkimg f50k)" >/dev/null 2>&1
  b=() k=() h=() f=() c=()
  for i in $(seq "$RUNS"); do
    b+=("$(tb $BLD --root "$W/r-50k" build --no-cache --progress quiet --build-arg BASE="$BASE" -t f50k "$F")")
    k+=("$(tk bkbuild "$F" --no-cache --opt build-arg:BASE="$BASE" --output "$(bkimg f50k)")")
    h+=("$(timeit bh bud --layers --no-cache --tls-verify=false --runtime runc --build-arg BASE="$BASE" -t f50k "$F")")
    f+=("$(timeit sh -c "tar -cf - -C '$F' data | pigz -6 -p $(nproc) > '$W/floor.out'")")
    rm -rf "$W/cpa"
    c+=("$(timeit cp -a "$F/data" "$W/cpa")")
  done
  check "50k files: 50,000 entries in the layer" test "$($BLD --root "$W/r-50k" build --progress quiet --build-arg BASE="$BASE" --output type=tar,dest=- "$F" | tar -tf - | grep -c '^data/d[0-9]*/f')" = 50000
  row "50,000 small files: COPY + export (floor: tar | pigz)" "$(med "${b[@]}")" "$(med "${k[@]}")" "$(med "${h[@]}")" "$(med "${f[@]}")" "bk <= 0.2, floor <= 1.5"
  # BuildKit and buildah write the 50,000 files into a snapshot (the floor
  # of that is cp -a of the tree); bld writes the COPY, the last step,
  # straight to its layer.
  note "cp -a of the same tree (writing 50,000 files here): $(med "${c[@]}") s"
fi

if want layer1g; then
  G=$W/ctx1g
  mkdir -p "$G"
  # Half random, half repetitive text: like a real mix of binaries and data.
  head -c 512M /dev/urandom >"$G/random.bin"
  python3 -c 'import sys; line = b"bld layer benchmark line: the quick brown fox jumps over the lazy dog 0123456789\n"; sys.stdout.buffer.write(line * (512 * 1024 * 1024 // len(line)))' >"$G/text.txt"
  printf 'FROM scratch\nCOPY . /data/\n' >"$G/Dockerfile"
  $BLD --root "$W/r-1g" build --progress quiet -t big "$G" >/dev/null
  [ -z "$BK_SKIP" ] && bkbuild "$G" --output "$(bkimg big)" >/dev/null 2>&1
  bh bud --layers --runtime runc -t big "$G" >/dev/null 2>&1
  for comp in gzip zstd; do
    b=() k=() h=() f=()
    for i in $(seq "$RUNS"); do
      rm -f "$W/out.tar" "$W/bk.tar" "$W/bh.tar"
      b+=("$(tb $BLD --root "$W/r-1g" build --progress quiet --output "type=oci,dest=$W/out.tar,compression=$comp,force-compression=true" "$G")")
      k+=("$(tk bkbuild "$G" --output "type=oci,dest=$W/bk.tar,compression=$comp,force-compression=true")")
      h+=("$(timeit bh push --compression-format "$comp" big "oci-archive:$W/bh.tar")")
      if [ $comp = zstd ]; then
        f+=("$(timeit sh -c "tar -cf - -C '$G' . | zstd -3 -T$(nproc) -q -o '$W/floor.out' -f")")
      else
        f+=("$(timeit sh -c "tar -cf - -C '$G' . | pigz -6 -p $(nproc) > '$W/floor.out'")")
      fi
    done
    mt=$(tar -xOf "$W/out.tar" index.json | python3 -c 'import json,sys; print(json.load(sys.stdin)["manifests"][0]["digest"].split(":")[1])')
    check "1 GiB $comp: the layer is $comp" sh -c "tar -xOf '$W/out.tar' blobs/sha256/$mt | grep -q 'layer.v1.tar+$comp'"
    row "1 GiB layer exported as $comp (floor: tar | $([ $comp = zstd ] && echo 'zstd -3' || echo 'pigz -6'))" "$(med "${b[@]}")" "$(med "${k[@]}")" "$(med "${h[@]}")" "$(med "${f[@]}")" "$([ $comp = zstd ] && echo 'bk <= 0.4, floor <= 1.3' || echo '-')"
  done
  rm -rf "$G"
fi

if want zstd256; then
  # An empty bld root and a zstd-only export: each new layer is compressed
  # once, to zstd; no gzip blob is written on the way (lazy compression).
  Z=$W/ctxz
  mkdir -p "$Z"
  head -c 128M /dev/urandom >"$Z/random.bin"
  python3 -c 'import sys; line = b"bld zstd benchmark line: the quick brown fox jumps over the lazy dog 0123456789\n"; sys.stdout.buffer.write(line * (128 * 1024 * 1024 // len(line)))' >"$Z/text.txt"
  printf 'FROM scratch\nCOPY . /data/\n' >"$Z/Dockerfile"
  b=() k=() f=()
  for i in $(seq "$RUNS"); do
    rm -rf "$W/r-z" "$W/z.tar" "$W/bkz.tar"
    [ -z "$BK_SKIP" ] && bk_prune
    b+=("$(tb $BLD --root "$W/r-z" build --progress quiet --output "type=oci,dest=$W/z.tar,compression=zstd" "$Z")")
    k+=("$(tk bkbuild "$Z" --output "type=oci,dest=$W/bkz.tar,compression=zstd,force-compression=true")")
    f+=("$(timeit sh -c "tar -cf - -C '$Z' . | zstd -3 -T$(nproc) -q -o '$W/floor.out' -f")")
  done
  # No gzip layer anywhere in the root: the blobs are zstd frames or JSON.
  check "zstd256: no gzip blob in the bld root" sh -c "! find '$W/r-z' -type f -path '*blobs/sha256/*' -size +1k -exec sh -c 'head -c2 \"\$1\" | od -An -tx1 | grep -q \"1f 8b\"' _ {} \; -print | grep -q ."
  row "256 MiB layer, empty root, zstd export only (floor: tar | zstd -3)" "$(med "${b[@]}")" "$(med "${k[@]}")" "-" "$(med "${f[@]}")" "bk <= 0.4"
fi

if want push; then
  # The 200-file image plus a 64 MiB layer, so a push moves real bytes.
  PC=$W/ctxpush
  cp -a "$CTX" "$PC"
  head -c 64M /dev/urandom >"$PC/blob.bin"
  printf '\nCOPY blob.bin /blob.bin\n' >>"$PC/Dockerfile"
  $BLD --root "$W/r-cold" build --progress quiet --build-arg BASE="$BASE" -t app:1 "$PC" >/dev/null
  [ -z "$BK_SKIP" ] && bkbuild "$PC" --opt build-arg:BASE="$BASE" --output "$(bkimg app:1)" >/dev/null 2>&1
  bh bud --layers --tls-verify=false --runtime runc --build-arg BASE="$BASE" -t app:1 "$PC" >/dev/null 2>&1
  # The floor of a first push: the image's largest blob (the 64 MiB
  # layer, nearly all of the bytes) uploaded once with curl (POST, then
  # one streamed PUT); one curl per small blob would cost more in process
  # starts than bld's whole push of them.
  $BLD --root "$W/r-cold" build --progress quiet --build-arg BASE="$BASE" --output "type=oci,tar=false,dest=$W/push-oci" "$PC" >/dev/null
  push_floor() {
    local b loc
    for b in $(ls -S "$W/push-oci/blobs/sha256/"* | head -1); do
      loc=$(curl -fsS -D - -o /dev/null -X POST "http://$REG/v2/bench/floor$1/blobs/uploads/" | awk -F': ' 'tolower($1) == "location" { print $2 }' | tr -d '\r')
      case "$loc" in http*) ;; *) loc="http://$REG$loc" ;; esac
      case "$loc" in *\?*) loc="$loc&" ;; *) loc="$loc?" ;; esac
      curl -fsS -o /dev/null -X PUT -H "Content-Type: application/octet-stream" -T "$b" "${loc}digest=sha256:$(basename "$b")"
    done
  }
  b1=() b2=() b3=() k1=() k2=() k3=() h1=() h2=() h3=() f1=()
  for i in $(seq "$RUNS"); do
    f1+=("$(timeit push_floor "$i")")
    # First push, with no hint that the registry holds the blobs elsewhere
    # (bld's blob locations and buildah's blob-info cache are cleared).
    rm -f "$W/r-cold/cache/blob-locations.json" /var/lib/containers/cache/blob-info-cache-v1.boltdb
    b1+=("$(tb $BLD --root "$W/r-cold" push app:1 "$REG/bench/bld-push$i:1")")
    b2+=("$(tb $BLD --root "$W/r-cold" push app:1 "$REG/bench/bld-push$i:1")")
    b3+=("$(tb $BLD --root "$W/r-cold" push app:1 "$REG/bench/bld-mount$i:1")")
    # BuildKit pushes from a cached build (its push is an export).
    k1+=("$(tk bkbuild "$PC" --opt build-arg:BASE="$BASE" --output "type=image,name=$REG/bench/bk-push$i:1,push=true")")
    k2+=("$(tk bkbuild "$PC" --opt build-arg:BASE="$BASE" --output "type=image,name=$REG/bench/bk-push$i:1,push=true")")
    k3+=("$(tk bkbuild "$PC" --opt build-arg:BASE="$BASE" --output "type=image,name=$REG/bench/bk-mount$i:1,push=true")")
    h1+=("$(timeit bh push --tls-verify=false app:1 "docker://$REG/bench/bh-push$i:1")")
    h2+=("$(timeit bh push --tls-verify=false app:1 "docker://$REG/bench/bh-push$i:1")")
    h3+=("$(timeit bh push --tls-verify=false app:1 "docker://$REG/bench/bh-mount$i:1")")
  done
  check "push: skopeo reads bld's pushed image" skopeo inspect --tls-verify=false "docker://$REG/bench/bld-push1:1" >/dev/null
  bf=$(med "${b1[@]}")
  row "push (first, uploads every blob)" "$bf" "$(med "${k1[@]}")" "$(med "${h1[@]}")" "$(med "${f1[@]}")" "bk <= 0.5"
  bp=$(med "${b2[@]}")
  row "re-push (all blobs present)" "$bp" "$(med "${k2[@]}")" "$(med "${h2[@]}")" "-" "-"
  row "push to a new repository of the same registry (mounts)" "$(med "${b3[@]}")" "$(med "${k3[@]}")" "$(med "${h3[@]}")" "-" "-"
  note "bld re-push / bld first push: $(ratio "$bp" "$bf") (target < 0.1)"
  # BuildKit records where each blob came from and mounts it from its
  # earlier pushes: only its first run uploads every blob.
  [ -z "$BK_SKIP" ] && note "BuildKit's first push of run 1, the only one that uploads every blob: ${k1[0]} s (bld/BuildKit $(ratio "$bf" "${k1[0]}"))"
fi

bk_stop
echo
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ { print $2 }') GiB, $(uname -r), $(buildah --version), BuildKit $BKVER; load after: $(cut -d' ' -f1-3 /proc/loadavg)"
column -t -s $'\t' "$RESULTS"
rl_print
cat "$RESULTS" "$RL_RESULTS" >bench/last-results.tsv

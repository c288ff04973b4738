# bench/rootless.sh, sourced by bench/run.sh for ONLY=rootless (and by
# default): issue 15's rows. The 200-file multi-stage project of the root
# rows ($CTX), built cold, rebuilt with no change and rebuilt after a
# one-file change, each time by bld as root, by bld rootless (an ordinary
# user, made here and removed at the end with its /etc/subuid and
# /etc/subgid lines, runs bld; bld enters its own user namespace) and by
# buildah rootless (the same user, `buildah bud --layers` with its storage
# under the user's home, the driver buildah picks, its default OCI
# isolation with runc). Every side runs its RUN steps with --network none:
# the project's RUN steps need no network, and a rootless default network
# (slirp4netns) needs /dev/net/tun, which some machines keep 0600.
# Each run of a scenario times the three builders in turn on the same
# context (bld root and bld rootless in alternating order, buildah last). Outputs are checked: the rootless image's files equal the root
# image's, a no-op runs nothing, the one-file change is in the image.
# Writes $W/rootless.tsv; rl_print prints it.

RL_RESULTS=$W/rootless.tsv
RL_USER=bldbench$(($$ % 100000))
RL_HOME=$W/rl-home
RL_SKIP=""
RL_BH_SKIP=""
RL_BH_DRIVER=""
: >"$RL_RESULTS"

rl_cleanup() {
  id "$RL_USER" >/dev/null 2>&1 || return 0
  userdel "$RL_USER" >/dev/null 2>&1 || true
  local f
  for f in /etc/subuid /etc/subgid; do
    [ -f "$f" ] && sed -i "/^$RL_USER:/d" "$f"
  done
  rm -rf "$RL_HOME"
}

# rl_setup: the user, with a subordinate range far from the tests' (which
# start at 3000000), and its copy of the context.
rl_setup() {
  if [ "$(id -u)" != 0 ] || ! command -v useradd >/dev/null || ! command -v newuidmap >/dev/null || ! command -v setpriv >/dev/null; then
    RL_SKIP="skipped: needs root, useradd, setpriv and newuidmap (Debian's uidmap)"
    return 0
  fi
  # The user must reach its home under $W.
  chmod 711 "$W"
  useradd --system --home-dir "$RL_HOME" --create-home --shell /bin/sh "$RL_USER"
  chmod 755 "$RL_HOME"
  local start=$((4000000 + ($$ % 1000) * 65536)) f
  for f in /etc/subuid /etc/subgid; do
    echo "$RL_USER:$start:65536" >>"$f"
  done
  cp -a "$CTX" "$RL_HOME/ctx"
  chown -R "$RL_USER:" "$RL_HOME/ctx"
  # setpriv, not runuser: no PAM session in what is timed. bld as root
  # goes through the same env and setpriv (to root), so that both sides
  # pay the same for them.
  # XDG_RUNTIME_DIR in the home: buildah's runtime files (else under
  # /var/tmp/containers-user-UID) go with it.
  mkdir -m 700 "$RL_HOME/run"
  chown "$RL_USER:" "$RL_HOME/run"
  RL_AS=(env -i "HOME=$RL_HOME" "XDG_RUNTIME_DIR=$RL_HOME/run" "PATH=/usr/sbin:/usr/bin:/sbin:/bin" setpriv "--reuid=$RL_USER" "--regid=$RL_USER" --init-groups)
  RL_ROOT=(env -i "HOME=/root" "PATH=/usr/sbin:/usr/bin:/sbin:/bin" setpriv --reuid=0 --regid=0 --init-groups)
  RL_BH=("${RL_AS[@]}" buildah --root "$RL_HOME/buildah/root" --runroot "$RL_HOME/buildah/run")
  RL_BLD_ARGS=(build --progress quiet --network none --build-arg BASE="$BASE")
  # buildah rootless once, untimed: its error, if any, is the column's.
  if ! ("${RL_BH[@]}" bud --layers --tls-verify=false --runtime runc --network none --build-arg BASE="$BASE" -t probe "$RL_HOME/ctx") >"$W/rl-bh-probe.log" 2>&1; then
    RL_BH_SKIP="skipped: $(grep -v '^ *$' "$W/rl-bh-probe.log" | tail -1)"
  else
    RL_BH_DRIVER=$("${RL_BH[@]}" info --format '{{.store.GraphDriverName}}' 2>/dev/null || echo "?")
  fi
}

# tl CMD...: timeit for a bld rootless command; its RSS counts for the row.
tl() {
  timeit "$@"
  cat "$W/rss.last" >>"$W/rss.rl"
}
# tbr: timeit for buildah rootless, or "-" when it is skipped.
tbr() {
  if [ -n "$RL_BH_SKIP" ]; then echo "-"; else timeit "$@"; fi
}
rl_rss() {
  local k
  k=$(sort -n "$1" | tail -1)
  : >"$1"
  [ -n "$k" ] && awk -v k="$k" 'BEGIN { printf "%.0f", k / 1024 }' || echo "-"
}
# rl_row SCENARIO ROOT ROOTLESS BUILDAH_ROOTLESS: the RSS are the largest
# of the row's runs of each bld.
rl_row() {
  local bh=$4 rbh
  rbh=$(ratio "$3" "$4")
  if [ -n "$RL_BH_SKIP" ]; then bh=$RL_BH_SKIP rbh=$RL_BH_SKIP; fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$bh" "$(ratio "$3" "$2")" "$rbh" "$(rl_rss "$W/rss.row")" "$(rl_rss "$W/rss.rl")" "root <= 1.3, buildah <= 0.5" | tee -a "$RL_RESULTS"
}

# rl_has IMAGE: the rootless bld store has IMAGE, with its manifest.
rl_has() { "${RL_AS[@]}" "$BLD" inspect "$1" | grep -q '"digest"'; }
# rl_nomiss BLD...: a rebuild of $RL_HOME/ctx by BLD... runs no step.
rl_nomiss() { ! "$@" build --progress plain --network none --build-arg BASE="$BASE" -t app:1 "$RL_HOME/ctx" 2>&1 | grep -q 'cache miss'; }

# rl_run I: one run of each builder on $RL_HOME/ctx into b, l and h; bld
# as root goes first on odd runs, bld rootless on even ones, buildah last,
# and its writes are synced (untimed) before the next run.
rl_run() {
  local c=$RL_HOME/ctx root rootless
  if [ $(($1 % 2)) = 1 ]; then
    root=$(tb "${RL_ROOT[@]}" "$BLD" --root "$rc" "${RL_BLD_ARGS[@]}" -t app:1 "$c")
    rootless=$(tl "${RL_AS[@]}" "$BLD" "${RL_BLD_ARGS[@]}" -t app:1 "$c")
  else
    rootless=$(tl "${RL_AS[@]}" "$BLD" "${RL_BLD_ARGS[@]}" -t app:1 "$c")
    root=$(tb "${RL_ROOT[@]}" "$BLD" --root "$rc" "${RL_BLD_ARGS[@]}" -t app:1 "$c")
  fi
  b+=("$root")
  l+=("$rootless")
  h+=("$(tbr "${RL_BH[@]}" bud --layers --tls-verify=false --runtime runc --network none --build-arg BASE="$BASE" -t app:1 "$c")")
  sync
}

rl_bench() {
  : >"$RL_RESULTS"
  : >"$W/rss.rl"
  : >"$W/rss.row"
  rl_setup
  if [ -n "$RL_SKIP" ]; then
    echo "# rootless: $RL_SKIP" | tee -a "$RL_RESULTS"
    return 0
  fi
  printf 'scenario (--network none)\tbld_root_s\tbld_rootless_s\tbuildah_rootless_s\trootless/root\trootless/buildah_rootless\troot_rss_MiB\trootless_rss_MiB\ttarget\n' | tee -a "$RL_RESULTS"
  local rc="$W/rl-rootroot" rl="$RL_HOME/.local/share/bld" c="$RL_HOME/ctx" i b l h
  b=() l=() h=()
  for i in $(seq "$RUNS"); do
    rm -rf "$rc" "$rl"
    "${RL_BH[@]}" rmi -a -f >/dev/null 2>&1 || true
    rl_run "$i"
  done
  # The rootless image's files are the root image's; buildah's image is there.
  rm -rf "$W/rl-out-root" "$RL_HOME/out"
  "$BLD" --root "$rc" "${RL_BLD_ARGS[@]}" --output "type=local,dest=$W/rl-out-root" "$c" >/dev/null
  "${RL_AS[@]}" "$BLD" "${RL_BLD_ARGS[@]}" --output "type=local,dest=$RL_HOME/out" "$c" >/dev/null
  check "rootless cold: /app/build.sum" test -s "$RL_HOME/out/app/build.sum"
  check "rootless cold: rootless /app equals root /app" diff -r "$W/rl-out-root/app" "$RL_HOME/out/app"
  check "rootless cold: the rootless store has app:1" rl_has app:1
  [ -n "$RL_BH_SKIP" ] || check "rootless cold: buildah rootless has app:1" "${RL_BH[@]}" inspect --type image app:1 >/dev/null
  rl_row "cold build (base pulled from registry)" "$(med "${b[@]}")" "$(med "${l[@]}")" "$(med "${h[@]}")"

  b=() l=() h=()
  for i in $(seq "$RUNS"); do
    rl_run "$i"
  done
  check "rootless no-op: nothing ran (root)" rl_nomiss "$BLD" --root "$rc"
  check "rootless no-op: nothing ran (rootless)" rl_nomiss "${RL_AS[@]}" "$BLD"
  rl_row "no-op rebuild" "$(med "${b[@]}")" "$(med "${l[@]}")" "$(med "${h[@]}")"

  b=() l=() h=()
  for i in $(seq "$RUNS"); do
    echo "change $i" >>"$c/src/file7.txt"
    rl_run "$i"
  done
  rm -rf "$RL_HOME/out"
  "${RL_AS[@]}" "$BLD" "${RL_BLD_ARGS[@]}" --output "type=local,dest=$RL_HOME/out" "$c" >/dev/null
  check "rootless one-file: the image's checksum is the changed sources'" test "$(cd "$c" && find src -type f | sort | xargs cat | md5sum)" = "$(cat "$RL_HOME/out/app/build.sum")"
  rl_row "one-file change" "$(med "${b[@]}")" "$(med "${l[@]}")" "$(med "${h[@]}")"
  echo "# buildah rootless storage driver: ${RL_BH_DRIVER:--}; bld rootless state: ~/.local/share/bld" | tee -a "$RL_RESULTS"
}

rl_print() {
  [ -s "$RL_RESULTS" ] || return 0
  echo
  echo "rootless (user $RL_USER, setpriv; every side --network none):"
  column -t -s $'\t' "$RL_RESULTS"
}

#!/usr/bin/env bash
# Installs what bld's tests and demo need on a fresh Debian machine (as root):
# busybox-static for base images, slirp4netns for RUN's network, and the
# reference tools the tests check bld's output with. Idempotent: does nothing
# when everything is there. --demo: only what make demo needs; --bench: also
# what make bench measures with (pigz, zstd, /usr/bin/time).
set -euo pipefail
need=()
have() { command -v "$1" >/dev/null 2>&1; }
[ -x /bin/busybox ] && /bin/busybox --list >/dev/null 2>&1 && { ldd /bin/busybox 2>&1 || true; } | grep -qE 'not a dynamic|statically linked' || need+=(busybox-static)
# RUN's default network (its own namespace with outbound access)
have slirp4netns || need+=(slirp4netns)
# bld run by an ordinary user (rootless): newuidmap/newgidmap map its
# /etc/subuid and /etc/subgid ranges
have newuidmap || need+=(uidmap)
if [ "${1:-}" != "--demo" ]; then
  have buildah || need+=(buildah)
  have skopeo || need+=(skopeo)
  have umoci || need+=(umoci)
  have runc || need+=(runc)
  have docker-registry || need+=(docker-registry)
  have curl || need+=(curl)
  # bld build --load is tested against a dockerd the test starts
  have dockerd || need+=(docker.io)
  # multi-platform indexes are read back with podman pull --platform
  have podman || need+=(podman)
  # emulated RUN steps (bld binfmt, --platform linux/arm64)
  [ -x /usr/bin/qemu-aarch64-static ] || need+=(qemu-user-static)
fi
if [ "${1:-}" = "--bench" ]; then
  # make bench's floors (tar | pigz, tar | zstd) and peak RSS (/usr/bin/time)
  have pigz || need+=(pigz)
  have zstd || need+=(zstd)
  [ -x /usr/bin/time ] || need+=(time)
fi
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-deps: need root to install: ${need[*]}" >&2
    exit 1
  fi
  echo "install-deps: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
if [ "${1:-}" != "--demo" ]; then
  # an arm64 busybox for the emulation tests (.cache/busybox-static-arm64)
  "$(dirname "$0")/foreign-busybox.sh" arm64
fi

#!/usr/bin/env bash
# Puts Debian's busybox-static for another architecture (e.g. arm64) at
# .cache/busybox-static-ARCH/busybox, for the tests and users who need a
# foreign base image offline (bld import --platform linux/ARCH). It adds the
# dpkg architecture, downloads the package, and removes the architecture
# again (host-global state this script undoes), then extracts the binary.
# Does nothing when the binary is there.
set -euo pipefail
arch=${1:?usage: foreign-busybox.sh ARCH}
cd "$(dirname "$0")/.."
out=.cache/busybox-static-$arch
[ -x "$out/busybox" ] && exit 0
[ "$(id -u)" = 0 ] || { echo "foreign-busybox: need root (dpkg --add-architecture)" >&2; exit 1; }
work=$(mktemp -d)
added=
cleanup() {
  if [ -n "$added" ]; then
    dpkg --remove-architecture "$arch" 2>/dev/null || true
    apt-get update -qq >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
  dpkg --add-architecture "$arch"
  added=1
fi
apt-get update -qq >/dev/null
(cd "$work" && apt-get download -qq "busybox-static:$arch" 2>/dev/null)
dpkg-deb -x "$work"/busybox-static_*_"$arch".deb "$work/x"
mkdir -p "$out"
cp "$work/x/bin/busybox" "$out/busybox.new"
mv "$out/busybox.new" "$out/busybox"
echo "foreign-busybox: $out/busybox" >&2

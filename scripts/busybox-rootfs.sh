#!/usr/bin/env bash
# Makes a minimal root filesystem in DIR from Debian's static busybox: one
# symlink per applet, /etc/passwd and /etc/group (root, app 1000, nobody).
# With ARCH (a Debian architecture: arm64, armhf, riscv64...) other than
# the host's, the busybox is Debian's busybox-static for ARCH, fetched once
# into .cache by foreign-busybox.sh (the applets are the host busybox's, the
# same Debian version); running it needs an emulator (bld binfmt --install).
set -euo pipefail
dir=${1:?usage: busybox-rootfs.sh DIR [ARCH]}
arch=${2:-}
bb=/bin/busybox
if [ -n "$arch" ] && [ "$arch" != "$(dpkg --print-architecture)" ]; then
  "$(dirname "$0")/foreign-busybox.sh" "$arch"
  bb=$(cd "$(dirname "$0")/.." && pwd)/.cache/busybox-static-$arch/busybox
fi
rm -rf "$dir"
mkdir -p "$dir"/{bin,etc,tmp,root,home/app}
chmod 1777 "$dir/tmp"
cp "$bb" "$dir/bin/busybox"
for a in $(/bin/busybox --list); do
  [ "$a" = busybox ] || ln -sf busybox "$dir/bin/$a"
done
printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$dir/etc/passwd"
printf 'root:x:0:\nstaff:x:50:app\napp:x:1000:\nnogroup:x:65534:\n' > "$dir/etc/group"
chown 1000:1000 "$dir/home/app" 2>/dev/null || true

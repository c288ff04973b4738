#!/usr/bin/env bash
# Makes DIR, the build context of bld's own image (images/bld/Dockerfile):
# a static bld (its step init embedded, as make build), newuidmap/newgidmap (setuid root, from Debian's uidmap) and
# slirp4netns with the shared libraries they load, CA certificates, and the
# accounts: user 1000 with subordinate ranges. Everything comes from this
# machine's Debian packages: no download.
set -euo pipefail
dir=${1:?usage: image-context.sh DIR}
cd "$(dirname "$0")/.."
rm -rf "$dir"
root=$dir/rootfs
mkdir -p "$root"/{usr/local/bin,usr/bin,etc/ssl/certs,tmp} "$dir/home-user/.local/share" "$dir/run-user"
chmod 1777 "$root/tmp"
./scripts/build-bld.sh "$root/usr/local/bin/bld" -trimpath -ldflags "-s -w"
for bin in /usr/bin/newuidmap /usr/bin/newgidmap /usr/bin/slirp4netns; do
  [ -x "$bin" ] || { echo "image-context: $bin missing (apt-get install uidmap slirp4netns)" >&2; exit 1; }
  cp -a "$bin" "$root/usr/bin/"
  # the shared libraries and the loader, at their paths
  for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
done
cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
printf 'root:x:0:0:root:/root:/sbin/nologin\nuser:x:1000:1000:user:/home/user:/sbin/nologin\n' >"$root/etc/passwd"
printf 'root:x:0:\nuser:x:1000:\n' >"$root/etc/group"
echo 'user:100000:65536' >"$root/etc/subuid"
echo 'user:100000:65536' >"$root/etc/subgid"
# home-user/ and run-user/ become /home/user and /run/user/1000, owned by
# 1000 (COPY --chown: context files are copied as root otherwise).
chmod 700 "$dir/run-user"
cp images/bld/Dockerfile "$dir/Dockerfile"

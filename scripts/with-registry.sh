#!/usr/bin/env bash
# Runs a command with a real registry server (Debian's docker-registry) on a
# free loopback port, its address in BLD_TEST_REGISTRY; stops it after.
set -euo pipefail
dir=$(mktemp -d /tmp/bld-registry.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 5555)
cat > "$dir/config.yml" <<CFG
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
CFG
docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null || { cat "$dir/registry.log"; exit 1; }
echo "registry: 127.0.0.1:$port (docker-registry)" >&2
BLD_TEST_REGISTRY=127.0.0.1:$port "$@"

# syntax=docker/dockerfile:1
FROM debian:bookworm-slim
ARG DEBIAN_FRONTEND=noninteractive
RUN <<EOF
set -eux
apt-get update
apt-get install -y --no-install-recommends curl ca-certificates
rm -rf /var/lib/apt/lists/*
EOF
COPY <<-"EOT" /usr/local/bin/entrypoint.sh
	#!/bin/sh
	exec "$@"
	EOT
COPY <<EOF /etc/app.conf
listen = ${PORT:-80}
EOF
RUN <<PYEOF
#!/usr/bin/env python3
print("hello from python")
PYEOF
RUN python3 <<EOF > /hello
print("hi")
EOF
RUN chmod +x /usr/local/bin/entrypoint.sh
ENTRYPOINT ["/usr/local/bin/entrypoint.sh"]

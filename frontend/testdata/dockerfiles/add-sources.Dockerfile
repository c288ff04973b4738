FROM alpine:3.20
ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d https://example.com/tool.tar.gz /tmp/
ADD --keep-git-dir=true https://github.com/moby/buildkit.git#v0.14.0 /buildkit
ADD rootfs.tar.xz /
ADD --chown=1000:1000 --chmod=0644 config/ /etc/app/
COPY --parents --exclude=*.test ./cmd/./**/main.go /src/
COPY --link --from=busybox:stable /bin/busybox /bin/busybox

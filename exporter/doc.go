// Package exporter owns image assembly (base + layers + config into an OCI image) and the sinks an
// image is written to: local store, OCI layout dir/tar, docker archive, registry, local dir, rootfs tar.
package exporter

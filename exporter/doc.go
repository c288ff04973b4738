// Package exporter owns image assembly (base + layers + config into an OCI image) and the sinks an
// image is written to: local store, OCI layout dir/tar, docker archive, registry, local dir, rootfs tar,
// and a running docker daemon or podman (--load: FindEngine, Daemon).
//
// The local dir sink (--output type=local) writes the image's files to the host, so it does not
// keep what would give a reader of the destination the image's privileges: setuid and setgid bits
// are cleared (on files; a setgid directory only passes its group on) and files belong to the user
// running bld. BuildKit's local exporter leaves files to the client's user, and docker cp does the
// same unless -a. `type=local,dest=D,preserve-ownership=true` (LocalOptions.PreserveOwnership)
// keeps owners and setuid/setgid, for a destination no untrusted user can reach. The rootfs tar
// sink (type=tar) writes modes and owners as they are in the image: a tar file runs nothing.
//
// Key types: Exporter (one sink; Tee writes several), OutputSpec (a parsed --output value,
// ParseOutput), Layer (a layer with its history entry, for Image), LocalOptions,
// RegistryOptions and RecompressOptions (RecompressWith: layers in another compression, compressed
// once and concurrently, in a scratch dir the caller gives).
package exporter

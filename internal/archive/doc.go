// Package archive owns tar for bld: the one safe extractor (Extract), the
// one deterministic writer (Writer, WriteDir), the one compression
// sniffer (Detect, Decompress) and the one loop over a tar's entries for
// readers that do not extract (Walk). Every caller that reads or writes a tar of
// a directory tree (snapshot apply and diff, ADD of a local archive,
// --output type=local, cache mounts, bld import) goes through here, so
// there is one path-escape check and one breakout catalogue
// (TestBreakouts, FuzzExtract) that every caller inherits.
//
// # Extract
//
// Entry names, hard-link targets and every symlink on the way are resolved
// inside the root with chroot semantics: an absolute name or symlink, or
// ".." at the top, stops at the root (github.com/cyphar/filepath-securejoin,
// SecureJoin). The resolved path is then opened through an os.Root, which
// refuses to leave the root even if the tree changes meanwhile (a racing
// symlink swap), and entries are created with *at calls on their parent's
// descriptor, O_EXCL|O_NOFOLLOW, never following what they create. A name
// that climbs out with ".." is an error naming the entry.
//
// What is hand-written, and why: the walk over the tar and the *at calls.
// containerd's pkg/archive does the same job but pulls in containerd's
// module tree and follows its own whiteout and ownership rules; moby's is
// built around a chroot re-exec. Neither offers the overlay conversion bld
// needs (overlay whiteouts, directories implied by a layer made like the
// lower's), so the loop is ours and the path resolution is securejoin's
// and os.Root's.
//
// Options cover what callers differ on: OCI whiteouts applied as deletions
// or converted to overlay whiteouts (or kept as plain files); owners kept,
// mapped (--chown) or left to the running user; xattrs; setuid/setgid
// stripping; modification times; device nodes; hard links made last.
//
// # Writer
//
// Writer writes entries read from a directory as a deterministic tar: PAX
// format, numeric owners (no user or group names), no atime or ctime,
// mtimes in whole seconds clamped to an epoch when given, xattrs as
// SCHILY.xattr records (overlay's own left out), hard links within the tar
// pointing at the first name of the inode, sockets skipped. WriteDir walks
// a directory in layer order (depth first, sorted). snapshot's layer
// digests depend on these bytes: change them only with a format version.
//
// # Compression
//
// Detect tells gzip, zstd, bzip2, xz and uncompressed apart by magic bytes;
// Decompress returns the uncompressed stream; OpenTar says whether a
// stream, compressed or not, is a tar archive (ADD's test).
package archive

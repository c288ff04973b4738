// Package snapshot keeps layered filesystem trees and converts them to and
// from OCI layers.
//
// # Vocabulary
//
// A key names an active snapshot (writable) or a view (read-only); a name
// names a committed snapshot (immutable); a parent is always a committed
// name. Keys and names share one namespace and may be any string. A build
// names committed snapshots LayerName(chain ID hex) ("layer-…") for unpacked
// image layers and StepName(cache key hex) ("step-…") for the steps it
// builds, and active ones "active-<random hex>".
//
// Key types: Snapshotter (the interface, with Info, Kind and DiffOptions)
// and its two implementations, Overlay and Native.
//
// # Lifecycle
//
//	mounts, err := sn.Prepare(ctx, "build-1", parent) // active, on top of parent
//	err = mount.WithTempMount(ctx, mounts, func(root string) error {
//		return os.WriteFile(filepath.Join(root, "hello"), []byte("hi"), 0o644)
//	})
//	err = sn.Commit(ctx, name, "build-1")          // now committed as name
//	err = sn.Diff(ctx, w, name, snapshot.DiffOptions{}) // its layer, as a tar
//
// Unpacking an image applies each layer into a fresh active snapshot whose
// parent is the previous layer, and commits it under a name made of the
// layer's chain ID:
//
//	_, err := sn.Prepare(ctx, "active-1f2e…", "layer-"+parentChainID.Hex)
//	err = sn.Apply(ctx, "active-1f2e…", uncompressedLayer)
//	err = sn.Commit(ctx, "layer-"+chainID.Hex, "active-1f2e…") // ErrExists: someone else was first
//
// Snapshots return mounts as values and never mount anything themselves;
// Diff and Apply work on directories directly, so they need no mount either.
// A committed snapshot can be removed once nothing is built on it.
//
// # Implementations
//
// Overlay keeps each snapshot as an overlay upper dir, so a committed
// snapshot's directory is its layer, and Diff reads only that directory.
// Native copies the parent's tree for every new snapshot and diffs by
// comparing trees; it is the fallback where overlays cannot be mounted. New
// picks one for a new root by mounting a probe overlay; a root keeps its
// kind. Both pass the conformance suite in package snapshottest.
//
// # Layers
//
// Diff writes deterministic layers with internal/archive's Writer: entries in depth-first sorted order,
// PAX format, numeric owners with empty names, no atime or ctime, mtimes in
// whole seconds (clamped to DiffOptions.Epoch when set), xattrs as
// SCHILY.xattr records (never trusted.overlay ones), hard links kept,
// whiteouts as ".wh.NAME" and opaque dirs as ".wh..wh..opq" right after the
// dir. The root directory's own attributes are never part of a layer.
//
// Apply extracts with internal/archive's Extract, so it never writes
// outside the snapshot: names are cleaned (an absolute
// name is taken relative to the root, one climbing out with ".." is an
// error naming the entry), symlinks met on the way are resolved as if the
// snapshot were the root, and every entry is created afresh (never written
// through an existing file or symlink). Ownership, modes, xattrs, hard
// links, devices, fifos and mtimes are kept, so Apply needs root (or a user
// namespace mapping the layer's owners); entry types a layer cannot hold
// are skipped.
//
// # On disk
//
// Under the root a snapshotter owns (bld passes "<root>/snapshots"): one
// metadata file per snapshot, written with internal/atomicfile, and snapshots/<n>/fs
// (plus work for overlayfs) per snapshot, with n a small number so that deep
// overlay chains keep short mount options. A lock file serialises metadata
// changes across goroutines and processes. Cleanup (on *Overlay and
// *Native) removes what a crashed process left.
package snapshot

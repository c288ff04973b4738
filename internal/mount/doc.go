// Package mount describes filesystem mounts as plain values and mounts them.
// It is the vocabulary shared by snapshot (which returns mounts) and sandbox
// (which mounts them inside a RUN step's namespaces).
//
// A Mount is data: snapshot returns the mounts that make up a snapshot's root
// without mounting anything, and the caller decides where and when they are
// mounted. All mounts a list at a target, Unmount and UnmountAll undo it, and
// WithTempMount runs a function over a list mounted at a temporary directory
// (or, for a plain writable directory, over the directory itself, with no
// mount at all and so no privileges needed).
//
// For a tree someone else may change while it is being mounted on (a
// sandbox's cache mounts), OpenIn opens a target inside a root with openat2
// RESOLVE_IN_ROOT, Detached makes a mount not attached anywhere yet
// (open_tree for binds, fsopen/fsmount for the rest, flags set on the new
// mount) and Attach puts it on a target's descriptor with move_mount: no
// path is resolved twice. RelativeOverlay rewrites an overlay's directories
// relative to their parent, so the mount table does not show them.
//
// Overlay mounts whose options are longer than the kernel's one-page limit on
// mount data (deep layer chains under a long root) are mounted with lower,
// upper and work directories given relative to their common parent, from a
// locked OS thread with its own working directory.
package mount

package mount

// Mount is one mount, as data. A snapshotter returns the mounts that make up
// a snapshot's root (Target empty, meaning "the root"); the sandbox also gets
// extra mounts (bind, tmpfs, secrets) with Target set inside the root.
type Mount struct {
	Type    string   // "overlay", "bind", "tmpfs", ...
	Source  string   // a host path for "bind", the fs type for the others
	Target  string   // inside the root; "" for a root mount
	Options []string // as in fstab: "ro", "rbind", "lowerdir=...", ...
}

// Package state owns bld's state root: where everything lives on disk, the
// root-wide lock, recovery at start-up, disk-usage accounting (du) and
// pruning across the store, the cache records, the snapshots and the RUN
// cache mounts.
//
// Open opens a root and returns a Root, which holds the opened store.Store,
// cache.Cache and (when asked for) snapshot.Snapshotter; commands and the
// build library take those from the Root instead of joining paths
// themselves. Layout of a root:
//
//	<root>/lock                         the root lock (flock): shared for builds, exclusive for prune
//	<root>/content/                     the store: an OCI image layout
//	<root>/cache/                       cache records
//	<root>/cache/blob-locations.json    which registry repositories hold which blobs
//	<root>/snapshots/                   the snapshotter's root
//	<root>/cachemounts/                 RUN --mount=type=cache contents
//	<root>/statcache.json               the build context's stat cache
//	<root>/tmp/                         scratch: store temp files (flocked while live)
//	<root>/tmp/bld-<pid>-<rand>/        one building process's scratch (Scratch): its lock
//	                                    file, flocked while it lives; step dirs, secrets,
//	                                    mount points, the sandbox's scratch and netns files
//
// Key types: Root (Open, LockShared, LockExclusive, the path methods),
// Scratch (Root.NewScratch: a process's crash-safe scratch directory),
// Usage (Root.Usage, what `bld du` shows), PruneOptions / PruneReport
// (Root.Prune, what `bld prune` does) and Report / Problem (Root.Verify,
// what `bld check` does).
//
// Recovery: Open (and Prune) undo the scratch of every process whose lock
// is free, also while other builds run: secret files first, then every
// mount below (deepest first, lazily as a last resort), then the
// directory, never following a symlink out of tmp/ nor removing through a
// mount. Cgroups and network namespaces of dead steps are the sandbox's
// (sandbox.Recover), which `bld build`, `bld prune` and `bld check` call.
//
// Prune is one mark-and-sweep: blobs of tagged images are marked, records
// are chosen oldest first (the only sort), and what records no longer hold
// is freed by reference counts over records, snapshot parents and blobs, so
// the whole pass is linear in records + snapshots + blobs (plus the sort).
// This bookkeeping is hand-written: no library knows bld's records.
//
// du and prune share that plan: Usage reads what Prune reads and runs the
// plan for prune and for prune -a without freeing anything, so du's
// reclaimable figures are exactly what those commands free. KeepStorage
// bounds the whole root (du's total), dropping least recently used
// records; what no record holds (images' blobs, cache mounts, running
// builds' snapshots) is reported as Pinned.
package state

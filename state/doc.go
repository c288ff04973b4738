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
//	<root>/tmp/                         scratch: store temp files, build step dirs
//
// Key types: Root (Open, LockShared, LockExclusive, the path methods),
// Usage (Root.Usage, what `bld du` shows) and PruneOptions / PruneReport
// (Root.Prune, what `bld prune` does).
//
// Prune is one mark-and-sweep: blobs of tagged images are marked, records
// are chosen oldest first (the only sort), and what records no longer hold
// is freed by reference counts over records, snapshot parents and blobs, so
// the whole pass is linear in records + snapshots + blobs (plus the sort).
// This bookkeeping is hand-written: no library knows bld's records.
package state

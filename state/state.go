package state

import (
	"context"
	"fmt"
	"github.com/bldbuild/bld/internal/userns"
	"os"
	"path/filepath"

	"github.com/bldbuild/bld/cache"
	"github.com/bldbuild/bld/snapshot"
	"github.com/bldbuild/bld/store"
)

// Root is an opened state root.
type Root struct {
	// Dir is the root directory, absolute.
	Dir string
	// Store holds blobs and named images.
	Store *store.Store
	// Cache holds the build's cache records.
	Cache *cache.Cache
	// Snapshots holds unpacked layers; nil unless Options.Snapshots.
	Snapshots snapshot.Snapshotter

	// cleaned is closed when the snapshot clean-up that Open started on
	// its own goroutine (Options.CleanupBeside) is over; nil if none.
	cleaned chan struct{}
}

// Options tunes Open. The zero value opens the store and the cache only.
type Options struct {
	// Snapshots opens the snapshotter too (a new root probes whether
	// overlayfs works, by mounting one), and removes the active snapshots of
	// bld processes that died. Commands that only read the store leave it
	// false.
	Snapshots bool
	// CleanupBeside removes those snapshots on a goroutine of their own,
	// beside the caller's work (a build's first steps are context hashing
	// and cache look-ups), instead of before Open returns; Wait waits for
	// it. The snapshotter serializes it with the caller's own snapshot
	// operations, and it removes only dead processes' active snapshots and
	// views, whose keys no new one takes.
	CleanupBeside bool
}

// DefaultDir is the root used when none is given: $BLD_ROOT, else
// /var/lib/bld for root, else $XDG_DATA_HOME/bld or ~/.local/share/bld
// (also inside the user namespace of a rootless bld, see internal/userns).
func DefaultDir() string {
	if r := os.Getenv("BLD_ROOT"); r != "" {
		return r
	}
	if os.Geteuid() == 0 && !userns.Rootless() {
		return "/var/lib/bld"
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "bld")
	}
	home, _ := os.UserHomeDir() // "" leaves a relative path, made absolute by Open
	return filepath.Join(home, ".local", "share", "bld")
}

// Open opens the root at dir, creating it if needed, and recovers from
// crashes: the store drops its dead temporary files; the scratch
// directories of dead processes (see Scratch) are recovered (secrets
// removed, mounts unmounted, then the directories), and other leftovers in
// tmp/ too when no build holds the root lock; then the snapshotter (with
// opts.Snapshots) drops the active snapshots of dead processes. Cgroups
// and network namespaces of dead steps are sandbox.Recover's.
func Open(ctx context.Context, dir string, opts Options) (*Root, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open root: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open root: %w", err)
	}
	r := &Root{Dir: dir}
	if r.Store, err = store.Open(dir); err != nil {
		return nil, err
	}
	if r.Cache, err = cache.Open(r.cacheDir()); err != nil {
		return nil, err
	}
	// Best effort: a scratch dir that cannot be removed now is
	// retried by the next start, and Prune reports the error. Dead
	// processes' scratch is recovered while other builds run; other
	// leftovers in tmp/ only when no build holds the root lock.
	unlock, err := r.tryLockExclusive()
	_ = r.cleanTmp(err == nil)
	if err == nil {
		unlock()
	}
	if opts.Snapshots {
		if r.Snapshots, err = snapshot.New(r.SnapshotsDir()); err != nil {
			return nil, err
		}
		// After the scratch that mounted them. Best effort: what is left
		// is retried by the next start, and Prune reports the error.
		if opts.CleanupBeside {
			r.cleaned = make(chan struct{})
			go func() {
				defer close(r.cleaned)
				_ = r.cleanupSnapshots(ctx)
			}()
		} else {
			_ = r.cleanupSnapshots(ctx)
		}
	}
	return r, nil
}

// Wait waits for the snapshot clean-up Open started beside its caller
// (Options.CleanupBeside); it returns at once when there is none. A
// process that exits without it leaves the clean-up half done, as a kill
// would: the next Open finishes it.
func (r *Root) Wait() {
	if r.cleaned != nil {
		<-r.cleaned
	}
}

// cleanupSnapshots removes the active snapshots and views of processes that
// are gone (a crash, kill -9), for snapshotters that keep owners.
func (r *Root) cleanupSnapshots(ctx context.Context) error {
	if c, ok := r.Snapshots.(interface{ Cleanup(context.Context) error }); ok {
		if err := c.Cleanup(ctx); err != nil {
			return fmt.Errorf("clean up snapshots: %w", err)
		}
	}
	return nil
}

// TmpDir is the root's scratch directory: every build step's temporary
// files, mount points and secrets live in a directory under it.
func (r *Root) TmpDir() string { return filepath.Join(r.Dir, "tmp") }

// SnapshotsDir is the snapshotter's root.
func (r *Root) SnapshotsDir() string { return filepath.Join(r.Dir, "snapshots") }

// CacheMountsDir holds the contents of RUN --mount=type=cache.
func (r *Root) CacheMountsDir() string { return filepath.Join(r.Dir, "cachemounts") }

// StatCachePath is the file of the build context's stat cache.
func (r *Root) StatCachePath() string { return filepath.Join(r.Dir, "statcache.json") }

// BlobLocationsPath is the file remembering which registry repositories
// hold which blobs (a hint for cross-repository mounts on push).
func (r *Root) BlobLocationsPath() string {
	return filepath.Join(r.cacheDir(), "blob-locations.json")
}

func (r *Root) cacheDir() string { return filepath.Join(r.Dir, "cache") }

package build

// TEMPORARY: replaced by the state package's Root when it lands.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/bldbuild/bld/cache"
	"github.com/bldbuild/bld/internal/fscopy"
	"github.com/bldbuild/bld/snapshot"
	"github.com/bldbuild/bld/store"
)

// Root is an opened state root.
type Root struct {
	Dir       string
	Store     *store.Store
	Cache     *cache.Cache
	Snapshots snapshot.Snapshotter
}

// OpenRoot opens the root at dir.
func OpenRoot(dir string) (*Root, error) {
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("open root: %w", err)
	}
	r := &Root{Dir: root}
	if r.Store, err = store.Open(root); err != nil {
		return nil, err
	}
	if r.Cache, err = cache.Open(filepath.Join(root, "cache")); err != nil {
		return nil, err
	}
	if r.Snapshots, err = snapshot.New(filepath.Join(root, "snapshots")); err != nil {
		return nil, err
	}
	if c, ok := r.Snapshots.(interface{ Cleanup(context.Context) error }); ok {
		_ = c.Cleanup(context.Background())
	}
	return r, nil
}

func (r *Root) MountsDir() string { return filepath.Join(r.Dir, "cachemounts") }
func (r *Root) TmpDir() string    { return filepath.Join(r.Dir, "tmp") }
func (r *Root) StatCache() (*fscopy.FileStatCache, error) {
	return fscopy.OpenStatCache(filepath.Join(r.Dir, "statcache.json"))
}

func (r *Root) Lock(exclusive bool) (func(), error) {
	f, err := os.OpenFile(filepath.Join(r.Dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock root: %w", err)
	}
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	if err := unix.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock root: %w", err)
	}
	return func() { f.Close() }, nil
}

package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/bldbuild/bld/internal/mount"
	"golang.org/x/sys/unix"
)

// Native keeps each snapshot as a full copy of its tree: Prepare copies
// the parent (with reflinks where the filesystem has them), and Diff
// compares the tree with its parent's. It needs no overlay and, apart from
// keeping ownership and device nodes, no privileges: it is the fallback
// where overlays cannot be mounted.
//
// A Native is safe for concurrent use, also by several processes.
type Native struct {
	s *store
}

var _ Snapshotter = (*Native)(nil)

// NewNative opens the native snapshotter under root, creating root if
// needed. It fails if root holds overlayfs snapshots.
func NewNative(root string) (*Native, error) {
	s, err := openStore(root, nativeDriver)
	if err != nil {
		return nil, fmt.Errorf("open native snapshots: %w", err)
	}
	return &Native{s: s}, nil
}

// Name returns "native".
func (n *Native) Name() string { return nativeDriver }

// Prepare creates active snapshot key as a copy of committed parent ("" for
// an empty tree). Its mount is a writable bind mount of the copy, usable
// without mounting (see mount.WithTempMount).
func (n *Native) Prepare(ctx context.Context, key, parent string) (_ []mount.Mount, err error) {
	r, err := n.s.create(key, parent, KindActive, n.init)
	if err != nil {
		return nil, fmt.Errorf("prepare snapshot %q: %w", key, err)
	}
	if parent == "" {
		return n.mounts(r), nil
	}
	// The copy runs without the lock; the record already holds key and
	// keeps parent from being removed.
	defer func() {
		if err != nil {
			trash, rerr := n.s.remove(key)
			if rerr == nil && trash != "" {
				rerr = removeAll(trash)
			}
			err = errors.Join(err, rerr)
		}
	}()
	if err := copyTree(ctx, n.s.fsDir(r.Lowers[0]), n.s.fsDir(r.ID)); err != nil {
		return nil, fmt.Errorf("prepare snapshot %q: %w", key, err)
	}
	copied, err := ctimeNow(n.s.snapshotDir(r.ID))
	if err != nil {
		return nil, fmt.Errorf("prepare snapshot %q: %w", key, err)
	}
	if err := n.s.update(key, func(r *record) { r.Copied = copied }); err != nil {
		return nil, fmt.Errorf("prepare snapshot %q: %w", key, err)
	}
	return n.mounts(r), nil
}

// View creates read-only snapshot key of committed parent ("" for an empty
// tree). It copies nothing: its mount is a read-only bind of the parent.
func (n *Native) View(ctx context.Context, key, parent string) ([]mount.Mount, error) {
	r, err := n.s.create(key, parent, KindView, n.init)
	if err != nil {
		return nil, fmt.Errorf("view snapshot %q: %w", key, err)
	}
	return n.mounts(r), nil
}

func (n *Native) init(r *record, dir string) error {
	fsDir := n.s.fsDir(r.ID)
	if err := os.Mkdir(fsDir, 0o755); err != nil {
		return err
	}
	return os.Chmod(fsDir, 0o755)
}

// Mounts returns the mounts of active snapshot or view key.
func (n *Native) Mounts(ctx context.Context, key string) ([]mount.Mount, error) {
	r, err := n.s.get(key)
	if err != nil {
		return nil, fmt.Errorf("mounts of snapshot %q: %w", key, err)
	}
	if r.kind() == KindCommitted {
		return nil, fmt.Errorf("mounts of snapshot %q: it is committed", key)
	}
	return n.mounts(r), nil
}

func (n *Native) mounts(r *record) []mount.Mount {
	if r.kind() == KindView {
		src := n.s.fsDir(r.ID)
		if len(r.Lowers) > 0 {
			src = n.s.fsDir(r.Lowers[0])
		}
		return []mount.Mount{{Type: "bind", Source: src, Options: []string{"rbind", "ro"}}}
	}
	return []mount.Mount{{Type: "bind", Source: n.s.fsDir(r.ID), Options: []string{"rbind", "rw"}}}
}

// Commit turns active snapshot key into committed snapshot name.
func (n *Native) Commit(ctx context.Context, name, key string) error {
	if err := n.s.commit(name, key); err != nil {
		return fmt.Errorf("commit snapshot %q as %q: %w", key, name, err)
	}
	return nil
}

// Remove deletes snapshot key; see Snapshotter.
func (n *Native) Remove(ctx context.Context, key string) error {
	trash, err := n.s.remove(key)
	if err == nil && trash != "" {
		err = removeAll(trash)
	}
	if err != nil {
		return fmt.Errorf("remove snapshot %q: %w", key, err)
	}
	return nil
}

// Stat describes snapshot key.
func (n *Native) Stat(ctx context.Context, key string) (Info, error) {
	r, err := n.s.get(key)
	if err != nil {
		return Info{}, fmt.Errorf("stat snapshot %q: %w", key, err)
	}
	return r.info(), nil
}

// Walk calls fn for every snapshot in name order.
func (n *Native) Walk(ctx context.Context, fn func(Info) error) error {
	return n.s.walk(ctx, fn)
}

// Usage returns the bytes on disk of snapshot key's copy (blocks shared by
// reflinks are counted in full).
func (n *Native) Usage(ctx context.Context, key string) (int64, error) {
	u, err := n.s.usage(ctx, key)
	if err != nil {
		return 0, fmt.Errorf("usage of snapshot %q: %w", key, err)
	}
	return u, nil
}

// Cleanup removes what crashed processes left; see Overlay.Cleanup.
func (n *Native) Cleanup(ctx context.Context) error {
	if err := n.s.cleanup(ctx); err != nil {
		return fmt.Errorf("clean up snapshots: %w", err)
	}
	return nil
}

// Diff writes the layer of snapshot name by comparing its tree with its
// parent's. An entry counts as changed when its type, mode, owner, size,
// link target, device, xattrs or mtime (in seconds, as the tar keeps it)
// differ; the contents of regular files are compared only when all that is
// equal and the file may still have changed (a sub-second mtime change, or
// an inode changed since the copy). Deleted entries become whiteouts, and
// every parent dir of a changed entry is included.
func (n *Native) Diff(ctx context.Context, w io.Writer, name string, opt DiffOptions) error {
	r, err := n.s.get(name)
	if err == nil && r.kind() == KindView {
		err = fmt.Errorf("it is a view")
	}
	if err != nil {
		return fmt.Errorf("diff snapshot %q: %w", name, err)
	}
	newRoot := n.s.fsDir(r.ID)
	oldRoot := ""
	if len(r.Lowers) > 0 {
		oldRoot = n.s.fsDir(r.Lowers[0])
	}
	changes, err := nativeChanges(ctx, oldRoot, newRoot, r.Copied)
	if err == nil {
		err = writeLayer(ctx, w, newRoot, changes, opt)
	}
	if err != nil {
		return fmt.Errorf("diff snapshot %q: %w", name, err)
	}
	return nil
}

// Apply unpacks layer r into active snapshot key; whiteouts delete.
func (n *Native) Apply(ctx context.Context, key string, r io.Reader) error {
	rec, err := n.s.get(key)
	if err == nil && rec.kind() != KindActive {
		err = fmt.Errorf("it is %s, not active", rec.Kind)
	}
	if err != nil {
		return fmt.Errorf("apply layer to snapshot %q: %w", key, err)
	}
	if err := apply(ctx, r, n.s.fsDir(rec.ID), applyNative, nil); err != nil {
		return fmt.Errorf("apply layer to snapshot %q: %w", key, err)
	}
	return nil
}

// ctimeNow returns the ctime the filesystem under dir gives a new inode
// now: every inode changed later gets one at least as large.
func ctimeNow(dir string) (int64, error) {
	f, err := os.CreateTemp(dir, ".stamp-")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return 0, &os.PathError{Op: "fstat", Path: f.Name(), Err: err}
	}
	return st.Ctim.Nano(), nil
}

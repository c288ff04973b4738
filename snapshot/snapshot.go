package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/bldbuild/bld/internal/mount"
	"golang.org/x/sys/unix"
)

var (
	// ErrNotFound means no snapshot has the given key or name.
	ErrNotFound = errors.New("snapshot not found")
	// ErrExists means a snapshot with the given key or name already exists.
	ErrExists = errors.New("snapshot already exists")
)

// Kind is the state of a snapshot.
type Kind int

const (
	// KindActive is a writable snapshot made by Prepare.
	KindActive Kind = iota + 1
	// KindView is a read-only snapshot made by View.
	KindView
	// KindCommitted is an immutable snapshot made by Commit; only
	// committed snapshots can be parents.
	KindCommitted
)

// String returns "active", "view" or "committed".
func (k Kind) String() string {
	switch k {
	case KindActive:
		return "active"
	case KindView:
		return "view"
	case KindCommitted:
		return "committed"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Info describes a snapshot.
type Info struct {
	Name    string // the key of an active snapshot or view, the name of a committed one
	Parent  string // the committed parent's name, "" for none
	Kind    Kind
	Created time.Time
}

// Snapshotter manages layered filesystem snapshots; see the package
// documentation for the lifecycle. Keys and names share one namespace and
// may be any string. Implementations are safe for concurrent use, also by
// several processes sharing one root.
type Snapshotter interface {
	// Prepare creates active snapshot key on top of committed parent ("" for
	// none) and returns its mounts. It returns ErrExists if key exists and
	// ErrNotFound if parent does not.
	Prepare(ctx context.Context, key, parent string) ([]mount.Mount, error)
	// View is Prepare for a read-only snapshot (mounts carry "ro"); it
	// cannot be committed.
	View(ctx context.Context, key, parent string) ([]mount.Mount, error)
	// Mounts returns the mounts of an existing active snapshot or view.
	Mounts(ctx context.Context, key string) ([]mount.Mount, error)
	// Commit turns active snapshot key into committed snapshot name; key no
	// longer exists afterwards. It returns ErrExists if name exists (the
	// caller then removes key and uses name) and ErrNotFound if key does not.
	Commit(ctx context.Context, name, key string) error
	// Remove deletes a snapshot. It refuses to remove a committed snapshot
	// that is the parent of another snapshot.
	Remove(ctx context.Context, key string) error
	// Stat describes snapshot key, or returns ErrNotFound.
	Stat(ctx context.Context, key string) (Info, error)
	// Walk calls fn for every snapshot, in name order, and stops at the
	// first error fn returns.
	Walk(ctx context.Context, fn func(Info) error) error
	// Usage returns the bytes on disk of the snapshot's own directory (the
	// upper dir for overlayfs, the whole copy for native).
	Usage(ctx context.Context, key string) (int64, error)
	// Diff writes the changes of committed snapshot name relative to its
	// parent to w as an uncompressed, deterministic OCI layer tar. An
	// active snapshot with no writers may be diffed too.
	Diff(ctx context.Context, w io.Writer, name string, opt DiffOptions) error
	// Apply unpacks the uncompressed OCI layer tar r into active snapshot
	// key, which must have no other writers. It reads r to its end.
	Apply(ctx context.Context, key string, r io.Reader) error
	// Name returns "overlayfs" or "native".
	Name() string
}

// DiffOptions tunes Diff. The zero value is ready to use.
type DiffOptions struct {
	// Epoch, when set, clamps every modification time later than it to it
	// (SOURCE_DATE_EPOCH).
	Epoch *time.Time
}

// New opens the snapshotter under root, creating root if needed. A root
// keeps the kind it was created with; for a new root New probes whether an
// overlay can be mounted there (it really mounts a tiny one) and picks
// Overlay if so, Native otherwise.
func New(root string) (Snapshotter, error) {
	driver, err := recordedDriver(root)
	if err != nil {
		return nil, fmt.Errorf("open snapshots: %w", err)
	}
	if driver == "" {
		driver = nativeDriver
		if err := probeOverlay(root); err == nil {
			driver = overlayDriver
		}
	}
	if driver == overlayDriver {
		o, err := NewOverlay(root)
		if err != nil {
			return nil, err
		}
		return o, nil
	}
	n, err := NewNative(root)
	if err != nil {
		return nil, err
	}
	return n, nil
}

// probeOverlay mounts a two-layer overlay under root/tmp and unmounts it.
func probeOverlay(root string) (err error) {
	tmp := filepath.Join(root, "tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return err
	}
	dir, err := os.MkdirTemp(tmp, "probe-")
	if err != nil {
		return err
	}
	var sub []string
	for _, s := range []string{"l1", "l2", "upper", "work", "merged"} {
		p := filepath.Join(dir, s)
		if err := os.Mkdir(p, 0o755); err != nil {
			return err
		}
		sub = append(sub, p)
	}
	opts := append(OverlayOptions(), "lowerdir="+sub[0]+":"+sub[1], "upperdir="+sub[2], "workdir="+sub[3])
	m := mount.Mount{Type: "overlay", Source: "overlay", Options: opts}
	merged := sub[4]
	if err := mount.All([]mount.Mount{m}, merged); err != nil {
		_ = os.RemoveAll(dir)
		return err
	}
	probe := filepath.Join(merged, "probe")
	werr := os.WriteFile(probe, nil, 0o644)
	if werr == nil {
		werr = os.Remove(probe)
	}
	if err := mount.Unmount(merged); err != nil {
		// Leave dir in place: removing it would reach into the mount.
		return err
	}
	return errors.Join(werr, os.RemoveAll(dir))
}

// fileID identifies an inode.
type fileID struct {
	dev uint64
	ino uint64
}

func idOf(st *unix.Stat_t) fileID { return fileID{uint64(st.Dev), st.Ino} }

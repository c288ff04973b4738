package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/bldbuild/bld/internal/mount"
	"github.com/bldbuild/bld/internal/userns"
	"golang.org/x/sys/unix"
)

// Overlay keeps each snapshot as the upper dir of an overlay whose lower
// dirs are its parent chain; a committed snapshot's directory is exactly
// its layer, with overlay whiteouts. Prepare, View and Mounts return mounts
// without mounting anything, and Diff and Apply read and write the upper dir
// directly, so only mounting the returned mounts needs privileges.
//
// An Overlay is safe for concurrent use, also by several processes.
type Overlay struct {
	s *store
}

var _ Snapshotter = (*Overlay)(nil)

// NewOverlay opens the overlayfs snapshotter under root, creating root if
// needed. It fails if root holds native snapshots. It does not check that
// overlays can be mounted; New does.
func NewOverlay(root string) (*Overlay, error) {
	s, err := openStore(root, overlayDriver)
	if err != nil {
		return nil, fmt.Errorf("open overlayfs snapshots: %w", err)
	}
	return &Overlay{s: s}, nil
}

// Name returns "overlayfs".
func (o *Overlay) Name() string { return overlayDriver }

// Prepare creates active snapshot key on top of committed parent ("" for
// none). Without a parent the mount is a writable bind mount of the
// snapshot's directory, usable without mounting (see mount.WithTempMount);
// with one it is an overlay.
func (o *Overlay) Prepare(ctx context.Context, key, parent string) ([]mount.Mount, error) {
	r, err := o.s.create(key, parent, KindActive, o.init)
	if err != nil {
		return nil, fmt.Errorf("prepare snapshot %q: %w", key, err)
	}
	return o.mounts(r), nil
}

// View creates read-only snapshot key of committed parent ("" for none).
func (o *Overlay) View(ctx context.Context, key, parent string) ([]mount.Mount, error) {
	r, err := o.s.create(key, parent, KindView, o.init)
	if err != nil {
		return nil, fmt.Errorf("view snapshot %q: %w", key, err)
	}
	return o.mounts(r), nil
}

// init makes fs and work; the fs dir of a snapshot with a parent is the
// root of the merged tree, so it takes the parent's root attributes.
func (o *Overlay) init(r *record, dir string) error {
	fsDir, work := o.s.fsDir(r.ID), o.s.workDir(r.ID)
	if err := os.Mkdir(fsDir, 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(work, 0o700); err != nil {
		return err
	}
	if len(r.Lowers) > 0 {
		return copyAttrs(o.s.fsDir(r.Lowers[0]), fsDir) // the mode too
	}
	return os.Chmod(fsDir, 0o755) // whatever the umask
}

// Mounts returns the mounts of active snapshot or view key.
func (o *Overlay) Mounts(ctx context.Context, key string) ([]mount.Mount, error) {
	r, err := o.s.get(key)
	if err != nil {
		return nil, fmt.Errorf("mounts of snapshot %q: %w", key, err)
	}
	if r.kind() == KindCommitted {
		return nil, fmt.Errorf("mounts of snapshot %q: it is committed", key)
	}
	return o.mounts(r), nil
}

func (o *Overlay) mounts(r *record) []mount.Mount {
	ro := r.kind() == KindView
	if len(r.Lowers) == 0 {
		mode := "rw"
		if ro {
			mode = "ro"
		}
		return []mount.Mount{{Type: "bind", Source: o.s.fsDir(r.ID), Options: []string{"rbind", mode}}}
	}
	if ro && len(r.Lowers) == 1 {
		return []mount.Mount{{Type: "bind", Source: o.s.fsDir(r.Lowers[0]), Options: []string{"rbind", "ro"}}}
	}
	lowers := make([]string, len(r.Lowers))
	for i, id := range r.Lowers {
		lowers[i] = o.s.fsDir(id)
	}
	opts := OverlayOptions()
	if ro {
		opts = append([]string{"ro"}, opts...)
		opts = append(opts, "lowerdir="+strings.Join(lowers, ":"))
	} else {
		if volatileOK() {
			// See Commit: it syncs what a volatile overlay did not.
			opts = append(opts, "volatile")
		}
		opts = append(opts, "lowerdir="+strings.Join(lowers, ":"), "upperdir="+o.s.fsDir(r.ID), "workdir="+o.s.workDir(r.ID))
	}
	return []mount.Mount{{Type: "overlay", Source: "overlay", Options: opts}}
}

// Commit turns active snapshot key into committed snapshot name. An
// active snapshot mounted as a volatile overlay is synced first.
//
// Durability: an overlay's unmount syncs its upper dir's whole file system
// (a few milliseconds per RUN step, for every step, even one that changed
// nothing), unless it is mounted "volatile" (kernel 5.10 and later), which
// bld's active snapshots are. What such an overlay wrote is made durable
// here instead, by a syncfs of the upper dir's file system before the
// committed record (the commit point, itself synced) is written: a
// committed snapshot's tree is on disk before anything refers to it. A
// crash before Commit loses only an active snapshot, which is discarded
// after a crash anyway (Cleanup removes those of dead processes with their
// whole directory, the volatile overlay's work/work/incompat/volatile mark
// included, which would refuse a remount), so nothing unsynced is ever
// trusted. A step whose snapshot is dropped unchanged (Unchanged) pays no
// sync at all, nor does one whose name is taken already (ErrExists: every
// changed step of a --no-cache rebuild, which then diffs the snapshot
// there): its tree is never committed, so syncing it would only wait on
// the disk for files about to be removed.
func (o *Overlay) Commit(ctx context.Context, name, key string) error {
	if _, err := o.s.get(name); err == nil {
		return fmt.Errorf("commit snapshot %q as %q: %w", key, name, ErrExists)
	}
	if err := o.syncVolatile(key); err != nil {
		return fmt.Errorf("commit snapshot %q as %q: %w", key, name, err)
	}
	if err := o.s.commit(name, key); err != nil {
		return fmt.Errorf("commit snapshot %q as %q: %w", key, name, err)
	}
	return nil
}

// volatileMark is what mounting a volatile overlay makes in its work dir.
const volatileMark = "work/incompat/volatile"

// syncVolatile syncs the file system of active snapshot key's upper dir if
// a volatile overlay was mounted on it (its work dir has the mark). A
// snapshot filled without a mount (Apply, a copy into the upper dir) is
// not synced, as before.
func (o *Overlay) syncVolatile(key string) error {
	r, err := o.s.get(key)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(filepath.Join(o.s.workDir(r.ID), volatileMark)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	f, err := os.Open(o.s.fsDir(r.ID))
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return &os.PathError{Op: "syncfs", Path: f.Name(), Err: err}
	}
	// A committed snapshot is never an upper dir again; its work dir
	// keeps no mark, whose mode-0 dirs an unprivileged user's rm -r of a
	// rootless root could not remove.
	return os.RemoveAll(filepath.Join(o.s.workDir(r.ID), "work", "incompat"))
}

// volatileOK reports whether overlays may be mounted "volatile": the
// option exists since Linux 5.10.
var volatileOK = sync.OnceValue(func() bool {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return false
	}
	major, minor := kernelVersion(unix.ByteSliceToString(u.Release[:]))
	return major > 5 || major == 5 && minor >= 10
})

// Remove deletes snapshot key; see Snapshotter.
func (o *Overlay) Remove(ctx context.Context, key string) error {
	trash, err := o.s.remove(key)
	if err == nil && trash != "" {
		err = removeAll(trash)
	}
	if err != nil {
		return fmt.Errorf("remove snapshot %q: %w", key, err)
	}
	return nil
}

// Stat describes snapshot key.
func (o *Overlay) Stat(ctx context.Context, key string) (Info, error) {
	r, err := o.s.get(key)
	if err != nil {
		return Info{}, fmt.Errorf("stat snapshot %q: %w", key, err)
	}
	return r.info(), nil
}

// Walk calls fn for every snapshot in name order.
func (o *Overlay) Walk(ctx context.Context, fn func(Info) error) error {
	return o.s.walk(ctx, fn)
}

// Usage returns the bytes on disk of snapshot key's upper and work dirs.
func (o *Overlay) Usage(ctx context.Context, key string) (int64, error) {
	n, err := o.s.usage(ctx, key)
	if err != nil {
		return 0, fmt.Errorf("usage of snapshot %q: %w", key, err)
	}
	return n, nil
}

// Cleanup removes what crashed processes left: their active snapshots and
// views (a snapshot records the PID and start time of the process that
// made it, and is removed once that process is gone), half-finished
// commits and removals, and temporary files. Snapshots of live processes,
// this one included, are kept. Call it at start-up.
func (o *Overlay) Cleanup(ctx context.Context) error {
	if err := o.s.cleanup(ctx); err != nil {
		return fmt.Errorf("clean up snapshots: %w", err)
	}
	return nil
}

// Diff writes the layer of snapshot name: its upper dir, with overlay
// whiteouts and opaque dirs turned into OCI ones. It never reads the lower
// dirs except to check whether an opaque dir hides anything.
func (o *Overlay) Diff(ctx context.Context, w io.Writer, name string, opt DiffOptions) error {
	r, err := o.s.get(name)
	if err == nil && r.kind() == KindView {
		err = fmt.Errorf("it is a view")
	}
	if err != nil {
		return fmt.Errorf("diff snapshot %q: %w", name, err)
	}
	upper := o.s.fsDir(r.ID)
	var lowers []string
	for _, id := range r.Lowers {
		lowers = append(lowers, o.s.fsDir(id))
	}
	changes, err := overlayChanges(ctx, upper, lowers)
	if err == nil {
		err = writeLayer(ctx, w, upper, changes, opt)
	}
	if err != nil {
		return fmt.Errorf("diff snapshot %q: %w", name, err)
	}
	return nil
}

// Apply unpacks layer r into the upper dir of active snapshot key,
// turning OCI whiteouts into overlay ones.
func (o *Overlay) Apply(ctx context.Context, key string, r io.Reader) error {
	rec, err := o.s.get(key)
	if err == nil && rec.kind() != KindActive {
		err = fmt.Errorf("it is %s, not active", rec.Kind)
	}
	if err != nil {
		return fmt.Errorf("apply layer to snapshot %q: %w", key, err)
	}
	var lowers []string
	for _, id := range rec.Lowers {
		lowers = append(lowers, o.s.fsDir(id))
	}
	mode := applyNative // nothing below to hide: whiteouts just delete
	if len(lowers) > 0 {
		mode = applyOverlay
	}
	if err := apply(ctx, r, o.s.fsDir(rec.ID), mode, lowers); err != nil {
		return fmt.Errorf("apply layer to snapshot %q: %w", key, err)
	}
	return nil
}

// kernelOverlayOptions are the options that make the upper dir a plain
// layer: no inode index, no redirects (a renamed lower dir is copied up
// whole), no metadata-only copy-up (a chmod copies the file's data). Each
// is given only where the kernel knows it.
var kernelOverlayOptions = sync.OnceValue(func() []string {
	var opts []string
	for _, o := range []string{"index", "redirect_dir", "metacopy"} {
		if overlayParamKnown(o) {
			opts = append(opts, o+"=off")
		}
	}
	return opts
})

// OverlayOptions are the mount options of bld's overlays (snapshots, and the
// copy an rw bind mount of a RUN step writes to); in bld's own
// user namespace (rootless) with userxattr, so that overlay keeps its
// whiteouts' and opaque dirs' marks in user.overlay. attributes, as
// containerd's rootless overlay does (kernels 5.11 and later).
func OverlayOptions() []string {
	opts := slices.Clone(kernelOverlayOptions())
	if userns.Rootless() {
		// With userxattr the kernel refuses redirect_dir=off when the
		// module follows redirects (redirect_always_follow=Y): nofollow
		// creates none and follows none.
		for i, o := range opts {
			if o == "redirect_dir=off" {
				opts[i] = "redirect_dir=nofollow"
			}
		}
		opts = append(opts, "userxattr")
	}
	return opts
}

// overlayParamKnown reports whether the overlay module has parameter p.
// Before the module is loaded its parameters are not listed; then the
// kernel version decides (all three exist since 4.19).
func overlayParamKnown(p string) bool {
	if _, err := os.Stat("/sys/module/overlay/parameters/" + p); err == nil {
		return true
	}
	if _, err := os.Stat("/sys/module/overlay/parameters"); err == nil {
		return false
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return false
	}
	major, minor := kernelVersion(unix.ByteSliceToString(u.Release[:]))
	return major > 4 || major == 4 && minor >= 19
}

func kernelVersion(release string) (int, int) {
	parts := strings.SplitN(release, ".", 3)
	if len(parts) < 2 {
		return 0, 0
	}
	return leadingInt(parts[0]), leadingInt(parts[1])
}

func leadingInt(s string) int {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	n, _ := strconv.Atoi(s[:i])
	return n
}

// Unchanged reports whether active snapshot key of sn certainly holds no
// change: its diff would be an empty layer. It answers false when it
// cannot tell cheaply (a native snapshot), so a caller that drops a
// snapshot for an empty diff still diffs it then. For an overlay it walks
// the upper dir until the first change (a step that changed nothing
// leaves at most the directories its mount points were made in). A step
// that changed nothing (RUN true) can so be removed without committing
// it: no record written and synced, no layer written.
func Unchanged(ctx context.Context, sn Snapshotter, key string) (bool, error) {
	o, ok := sn.(*Overlay)
	if !ok {
		return false, nil
	}
	r, err := o.s.get(key)
	if err == nil && r.kind() != KindActive {
		err = fmt.Errorf("it is %s, not active", r.Kind)
	}
	if err != nil {
		return false, fmt.Errorf("check snapshot %q: %w", key, err)
	}
	var lowers []string
	for _, id := range r.Lowers {
		lowers = append(lowers, o.s.fsDir(id))
	}
	changes, err := overlayWalk(ctx, o.s.fsDir(r.ID), lowers, true)
	if errors.Is(err, errChanged) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check snapshot %q: %w", key, err)
	}
	return len(changes) == 0, nil
}

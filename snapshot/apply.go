package snapshot

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"
)

// applyMode says how apply treats whiteouts.
type applyMode int

const (
	// applyNative deletes whiteout targets and empties opaque dirs, as
	// unpacking onto the full tree of the layers below.
	applyNative applyMode = iota
	// applyOverlay writes an overlay upper dir: whiteouts become 0/0
	// character devices and opaque dirs get trusted.overlay.opaque=y.
	applyOverlay
)

// maxPath bounds names and resolved paths (PATH_MAX): no real layer needs
// more, and without a bound a tiny layer could make a very deep tree.
const maxPath = 4096

var (
	errEscape  = errors.New("path escapes the root")
	errTooLong = errors.New("path too long")
	errNotRoot = errors.New("entry for the root is not a directory")
)

// applier unpacks one layer into a directory. Every path is resolved
// inside the root with chroot semantics (securejoin: an absolute symlink or
// ".." stops at the root) and then opened through an os.Root, which refuses
// to leave the root even if the tree changed meanwhile. Entries are created
// with *at calls on their parent's descriptor and never followed.
type applier struct {
	ctx      context.Context
	mode     applyMode
	rootPath string
	root     *os.Root
	lowers   *lowerCheck // overlay: the layers below, for implicit dirs

	// The directory the last entry was created in, by its name in the
	// layer. Only that directory's children are ever removed, so it cannot
	// go stale.
	cacheKey string
	cacheRel string
	cacheDir *os.File

	written  map[string]bool      // native: paths this layer wrote, for opaque dirs
	dirTimes map[string]time.Time // mtimes set once all entries are written
}

// apply unpacks the layer tar r into dir; lowers are the upper dirs of the
// layers below, nearest first (applyOverlay only).
func apply(ctx context.Context, r io.Reader, dir string, mode applyMode, lowers []string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	a := &applier{
		ctx:      ctx,
		mode:     mode,
		rootPath: dir,
		root:     root,
		lowers:   &lowerCheck{dirs: lowers},
		written:  map[string]bool{},
		dirTimes: map[string]time.Time{},
	}
	defer a.close()
	tr := tar.NewReader(r)
	for n := 0; ; n++ {
		if n%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil && !errors.Is(err, tar.ErrInsecurePath) {
			return fmt.Errorf("read layer: %w", err)
		}
		if err := a.entry(hdr, tr); err != nil {
			return fmt.Errorf("entry %q: %w", hdr.Name, err)
		}
	}
	if err := a.finish(); err != nil {
		return err
	}
	// Read to the end, so that a caller hashing r sees all of it.
	if _, err := io.Copy(io.Discard, r); err != nil {
		return fmt.Errorf("read layer: %w", err)
	}
	return nil
}

func (a *applier) close() {
	if a.cacheDir != nil {
		a.cacheDir.Close()
		a.cacheDir = nil
	}
	a.lowers.close()
	a.root.Close()
}

// cleanName turns an entry name into a clean relative path, "" for the
// root. Absolute names are taken relative to the root; a name that climbs
// out of it with ".." is refused.
func cleanName(n string) (string, error) {
	if strings.IndexByte(n, 0) >= 0 {
		return "", errors.New("name holds a NUL byte")
	}
	if len(n) > maxPath {
		return "", errTooLong
	}
	n = path.Clean(strings.TrimLeft(n, "/"))
	if n == "." || n == "" {
		return "", nil
	}
	if n == ".." || strings.HasPrefix(n, "../") {
		return "", errEscape
	}
	return n, nil
}

func (a *applier) entry(hdr *tar.Header, r io.Reader) error {
	name, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	dir, base := path.Split(name)
	dir = strings.TrimSuffix(dir, "/")
	if strings.HasPrefix(base, whiteoutPfx) {
		return a.whiteout(dir, base)
	}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeDir, tar.TypeSymlink, tar.TypeLink, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
	default:
		return nil // not a filesystem entry (or one a layer cannot hold)
	}
	if hdr.Uid < 0 || hdr.Gid < 0 {
		return fmt.Errorf("negative owner %d:%d", hdr.Uid, hdr.Gid)
	}
	if name == "" {
		if hdr.Typeflag != tar.TypeDir {
			return errNotRoot
		}
		d, err := openDirIn(a.root, ".")
		if err != nil {
			return err
		}
		defer d.Close()
		return a.dirAttrs(d, "", hdr, true)
	}
	parent, prel, _, err := a.openDir(dir, createDirs)
	if err != nil {
		return err
	}
	if hdr.Typeflag == tar.TypeLink {
		return a.link(parent, prel, base, hdr)
	}
	return a.create(parent, prel, base, hdr, r)
}

// How openDir treats a missing directory.
type missingDir int

const (
	createDirs      missingDir = iota // create it (overlay: like the lower's, if any)
	createIfInLower                   // overlay: create it only if a lower has it
	skipMissing                       // leave it missing
)

// openDir opens directory dir (a clean layer path) resolved inside the
// root, and returns it with its resolved path; ok is false when it is
// missing and was not created.
func (a *applier) openDir(dir string, missing missingDir) (f *os.File, rel string, ok bool, err error) {
	if a.cacheDir != nil && a.cacheKey == dir {
		return a.cacheDir, a.cacheRel, true, nil
	}
	f, rel, err = a.resolveDir(dir)
	if errors.Is(err, fs.ErrNotExist) && missing != skipMissing {
		if a.mode == applyNative && missing == createIfInLower {
			return nil, "", false, nil
		}
		created, merr := a.mkdirs(rel, missing == createIfInLower)
		if merr != nil || !created {
			return nil, "", false, merr
		}
		f, rel, err = a.resolveDir(dir)
	}
	if errors.Is(err, fs.ErrNotExist) && missing == skipMissing {
		return nil, "", false, nil
	}
	if err != nil {
		return nil, "", false, err
	}
	if a.cacheDir != nil {
		a.cacheDir.Close()
	}
	a.cacheKey, a.cacheRel, a.cacheDir = dir, rel, f
	return f, rel, true, nil
}

// resolveDir opens directory dir resolved inside the root. On a missing
// directory it returns an fs.ErrNotExist error and the resolved path.
func (a *applier) resolveDir(dir string) (*os.File, string, error) {
	resolved, err := securejoin.SecureJoin(a.rootPath, filepath.FromSlash(dir))
	if err != nil {
		return nil, "", err
	}
	rel, err := filepath.Rel(a.rootPath, resolved)
	if err != nil {
		return nil, "", err
	}
	rel = filepath.ToSlash(rel)
	if rel == "." {
		rel = ""
	}
	if len(rel) > maxPath {
		// Symlinks can make a short name resolve to a very deep path.
		return nil, "", errTooLong
	}
	f, err := openDirIn(a.root, dotIfEmpty(rel))
	if err != nil {
		return nil, rel, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.IsDir() {
		err = &os.PathError{Op: "open", Path: rel, Err: unix.ENOTDIR}
	}
	if err != nil {
		f.Close()
		return nil, rel, err
	}
	return f, rel, nil
}

// openDirIn opens directory name in r. O_DIRECTORY makes opening anything
// else fail at once: opening a fifo for reading would block.
func openDirIn(r *os.Root, name string) (*os.File, error) {
	return r.OpenFile(name, os.O_RDONLY|unix.O_DIRECTORY, 0)
}

func dotIfEmpty(rel string) string {
	if rel == "" {
		return "."
	}
	return rel
}

// mkdirs creates the missing directories of resolved path rel. In overlay
// mode a created dir copies the attributes of the same dir in the nearest
// lower, so the merged tree still shows the lower's; with needLower only
// such dirs are created (created is false otherwise).
func (a *applier) mkdirs(rel string, needLower bool) (created bool, err error) {
	cur := ""
	for _, part := range strings.Split(rel, "/") {
		next := path.Join(cur, part)
		fi, err := a.root.Lstat(next)
		if err == nil {
			if !fi.IsDir() {
				return false, &os.PathError{Op: "mkdir", Path: next, Err: unix.ENOTDIR}
			}
			cur = next
			continue
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return false, err
		}
		var lower *lowerDir
		if a.mode == applyOverlay {
			if lower, err = a.lowers.dirAttrs(next); err != nil {
				return false, err
			}
		}
		if lower == nil && needLower {
			return false, nil
		}
		a.touch(cur)
		if err := a.root.Mkdir(next, 0o755); err != nil {
			return false, err
		}
		d, err := openDirIn(a.root, next)
		if err != nil {
			return false, err
		}
		err = setDirAttrs(d, lower)
		d.Close()
		if err != nil {
			return false, err
		}
		if lower != nil {
			a.dirTimes[next] = lower.mtime
		} else {
			// A parent the layer implies but does not list: the Unix
			// epoch, not the time of the unpack, so that unpacking a
			// layer twice gives equal trees (and equal diffs).
			a.dirTimes[next] = time.Unix(0, 0)
		}
		cur = next
	}
	return true, nil
}

func setDirAttrs(d *os.File, lower *lowerDir) error {
	if lower == nil {
		return d.Chmod(0o755) // not subject to the umask
	}
	if err := d.Chown(int(lower.st.Uid), int(lower.st.Gid)); err != nil {
		return err
	}
	if err := unix.Fchmod(int(d.Fd()), lower.st.Mode&07777); err != nil {
		return &os.PathError{Op: "fchmod", Path: d.Name(), Err: err}
	}
	for k, v := range lower.xattrs {
		if err := unix.Fsetxattr(int(d.Fd()), k, []byte(v), 0); err != nil {
			return &os.PathError{Op: "fsetxattr " + k, Path: d.Name(), Err: err}
		}
	}
	return nil
}

// touch remembers the mtime of directory rel before this layer changes
// its entries, to restore it at the end unless an entry sets it.
func (a *applier) touch(rel string) {
	if _, ok := a.dirTimes[rel]; ok {
		return
	}
	if fi, err := a.root.Lstat(dotIfEmpty(rel)); err == nil && fi.IsDir() {
		a.dirTimes[rel] = fi.ModTime()
	}
}

// whiteout handles ".wh.NAME" and ".wh..wh..opq" in directory dir.
func (a *applier) whiteout(dir, base string) error {
	if base == opaqueMarker {
		return a.opaque(dir)
	}
	if strings.HasPrefix(base, metaWhiteouts) {
		return nil // other aufs metadata
	}
	target := strings.TrimPrefix(base, whiteoutPfx)
	if target == "" || target == "." || target == ".." {
		return errors.New("whiteout of no name")
	}
	d, rel, ok, err := a.openDir(dir, createIfInLower)
	if err != nil || !ok {
		return err // a missing dir hides nothing
	}
	p := path.Join(rel, target)
	a.touch(rel)
	if err := a.root.RemoveAll(p); err != nil {
		return err
	}
	if a.mode == applyOverlay {
		if err := unix.Mknodat(int(d.Fd()), target, unix.S_IFCHR, 0); err != nil {
			return &os.PathError{Op: "mknod", Path: p, Err: err}
		}
	}
	return nil
}

// opaque makes dir hide everything the layers below have in it.
func (a *applier) opaque(dir string) error {
	d, rel, ok, err := a.openDir(dir, createIfInLower)
	if err != nil || !ok {
		return err
	}
	if a.mode == applyOverlay {
		if err := unix.Fsetxattr(int(d.Fd()), opaqueXattr, []byte("y"), 0); err != nil {
			return &os.PathError{Op: "fsetxattr", Path: rel, Err: err}
		}
		return nil
	}
	// Keep what this layer wrote (and the dirs leading to it), remove
	// the rest.
	kept := map[string]bool{}
	for p := range a.written {
		for q := p; q != "." && q != "" && !kept[q]; q = path.Dir(q) {
			kept[q] = true
		}
	}
	return a.clear(d, rel, kept)
}

func (a *applier) clear(d *os.File, rel string, kept map[string]bool) error {
	// A fresh descriptor: d may have been read before.
	fd, err := unix.Openat(int(d.Fd()), ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: rel, Err: err}
	}
	dir := os.NewFile(uintptr(fd), rel)
	defer dir.Close()
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return err
	}
	for _, n := range names {
		p := path.Join(rel, n)
		if !kept[p] {
			a.touch(rel)
			if err := a.root.RemoveAll(p); err != nil {
				return err
			}
			continue
		}
		sfd, err := unix.Openat(fd, n, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
			continue
		}
		if err != nil {
			return &os.PathError{Op: "open", Path: p, Err: err}
		}
		sub := os.NewFile(uintptr(sfd), p)
		err = a.clear(sub, p, kept)
		sub.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// finish sets the mtimes of the directories this layer touched.
func (a *applier) finish() error {
	if a.cacheDir != nil {
		a.cacheDir.Close()
		a.cacheDir = nil
	}
	for rel, t := range a.dirTimes {
		if err := a.ctx.Err(); err != nil {
			return err
		}
		dir, base := path.Split(rel)
		if rel == "" {
			dir, base = "", "."
		}
		d, _, err := a.resolveDir(strings.TrimSuffix(dir, "/"))
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed by a later entry
		}
		if err != nil {
			return fmt.Errorf("set mtime of %q: %w", rel, err)
		}
		var st unix.Stat_t
		err = unix.Fstatat(int(d.Fd()), base, &st, unix.AT_SYMLINK_NOFOLLOW)
		if err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
			err = setTimesAt(int(d.Fd()), base, rel, t)
		} else if errors.Is(err, unix.ENOENT) {
			err = nil
		}
		d.Close()
		if err != nil {
			return fmt.Errorf("set mtime of %q: %w", rel, err)
		}
	}
	return nil
}

package archive

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

// MaxPath bounds names and resolved paths (PATH_MAX): no real archive
// needs more, and without a bound a tiny archive could make a very deep
// tree.
const MaxPath = 4096

// Errors Extract wraps (with the entry's name).
var (
	ErrEscape   = errors.New("path escapes the root")
	ErrTooLong  = errors.New("path too long")
	ErrNotRoot  = errors.New("entry for the root is not a directory")
	ErrTooLarge = errors.New("archive too large")
)

const (
	whiteoutPfx      = ".wh."
	opaqueMarker     = ".wh..wh..opq"
	metaWhiteouts    = ".wh..wh."
	paxXattr         = "SCHILY.xattr."
	overlayXattr     = "trusted.overlay."
	userOverlayXattr = "user.overlay."
	opaqueXattr      = "trusted.overlay.opaque"
)

// extractor unpacks one archive into a directory. Every path is resolved
// inside the root with chroot semantics (securejoin: an absolute symlink
// or ".." stops at the root) and then opened through an os.Root, which
// refuses to leave the root even if the tree changed meanwhile. Entries
// are created with *at calls on their parent's descriptor and never
// followed.
type extractor struct {
	ctx      context.Context
	opt      *Options
	rootPath string
	root     *os.Root
	chownOK  bool // running as root: every chown error counts

	// The directory the last entry was created in, by its name in the
	// archive. Only that directory's children are ever removed, so it
	// cannot go stale.
	cacheKey string
	cacheRel string
	cacheDir *os.File

	written  map[string]bool      // WhiteoutApply: paths this archive wrote, for opaque dirs
	dirTimes map[string]time.Time // mtimes set once all entries are written
	links    []*tar.Header        // LinksLast: hard links to make at the end
	bytes    int64                // written to regular files, for MaxBytes
}

// Extract unpacks the uncompressed tar r into the directory dir, which
// must exist. Nothing is read or written outside dir (see the package
// doc); an entry that would leave it through ".." is an error naming the
// entry, absolute names and symlinks are taken relative to dir. What is
// already in dir is replaced entry by entry (a directory over a directory
// is kept and gets the entry's attributes). Entry types a filesystem
// cannot hold are skipped. Entries before a failing one stay extracted.
// r is read to its end, so a caller hashing it sees all of it.
func Extract(ctx context.Context, r io.Reader, dir string, opt Options) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	x := &extractor{
		ctx:      ctx,
		opt:      &opt,
		rootPath: dir,
		root:     root,
		chownOK:  os.Geteuid() == 0,
		written:  map[string]bool{},
		dirTimes: map[string]time.Time{},
	}
	defer x.close()
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
			return fmt.Errorf("read archive: %w", err)
		}
		if err := x.entry(hdr, tr); err != nil {
			return fmt.Errorf("entry %q: %w", hdr.Name, err)
		}
	}
	for _, hdr := range x.links {
		if err := x.entry(hdr, nil); err != nil {
			return fmt.Errorf("entry %q: %w", hdr.Name, err)
		}
	}
	if err := x.finish(); err != nil {
		return err
	}
	// Read to the end: a caller may hash r, and a producer like
	// mutate.Extract reports its error after the tar trailer.
	if _, err := io.Copy(io.Discard, r); err != nil {
		return fmt.Errorf("read archive: %w", err)
	}
	return nil
}

func (x *extractor) close() {
	if x.cacheDir != nil {
		x.cacheDir.Close()
		x.cacheDir = nil
	}
	x.root.Close()
}

// CleanName turns an entry name into a clean relative path, "" for the
// root. Absolute names are taken relative to the root; a name that climbs
// out of it with ".." is refused with ErrEscape.
func CleanName(n string) (string, error) {
	if strings.IndexByte(n, 0) >= 0 {
		return "", errors.New("name holds a NUL byte")
	}
	if len(n) > MaxPath {
		return "", ErrTooLong
	}
	n = path.Clean(strings.TrimLeft(n, "/"))
	if n == "." || n == "" {
		return "", nil
	}
	if n == ".." || strings.HasPrefix(n, "../") {
		return "", ErrEscape
	}
	return n, nil
}

func (x *extractor) entry(hdr *tar.Header, r io.Reader) error {
	name, err := CleanName(hdr.Name)
	if err != nil {
		return err
	}
	dir, base := path.Split(name)
	dir = strings.TrimSuffix(dir, "/")
	if x.opt.Whiteouts != WhiteoutFiles && strings.HasPrefix(base, whiteoutPfx) {
		return x.whiteout(dir, base)
	}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeGNUSparse, tar.TypeDir, tar.TypeSymlink, tar.TypeLink:
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		if x.opt.SkipDevices && name != "" {
			return nil
		}
	default:
		return nil // not a filesystem entry (or one a layer cannot hold)
	}
	if x.opt.Owners && (hdr.Uid < 0 || hdr.Gid < 0) {
		return fmt.Errorf("negative owner %d:%d", hdr.Uid, hdr.Gid)
	}
	if name == "" {
		if hdr.Typeflag != tar.TypeDir {
			return ErrNotRoot
		}
		if !x.opt.RootAttrs {
			return nil
		}
		d, err := openDirIn(x.root, ".")
		if err != nil {
			return err
		}
		defer d.Close()
		return x.dirAttrs(d, "", hdr, true)
	}
	if hdr.Typeflag == tar.TypeLink && x.opt.LinksLast && r != nil {
		x.links = append(x.links, hdr)
		return nil
	}
	parent, prel, _, err := x.openDir(dir, createDirs)
	if err != nil {
		return err
	}
	if hdr.Typeflag == tar.TypeLink {
		return x.link(parent, prel, base, hdr)
	}
	return x.create(parent, prel, base, hdr, r)
}

// How openDir treats a missing directory.
type missingDir int

const (
	createDirs      missingDir = iota // create it (overlay: like the lower's, if any)
	createIfInLower                   // overlay: create it only if a lower has it
	skipMissing                       // leave it missing
)

// openDir opens directory dir (a clean archive path) resolved inside the
// root, and returns it with its resolved path; ok is false when it is
// missing and was not created.
func (x *extractor) openDir(dir string, missing missingDir) (f *os.File, rel string, ok bool, err error) {
	if x.cacheDir != nil && x.cacheKey == dir {
		return x.cacheDir, x.cacheRel, true, nil
	}
	f, rel, err = x.resolveDir(dir)
	if errors.Is(err, fs.ErrNotExist) && missing != skipMissing {
		if x.opt.Whiteouts != WhiteoutOverlay && missing == createIfInLower {
			return nil, "", false, nil
		}
		created, merr := x.mkdirs(rel, missing == createIfInLower)
		if merr != nil || !created {
			return nil, "", false, merr
		}
		f, rel, err = x.resolveDir(dir)
	}
	if errors.Is(err, fs.ErrNotExist) && missing == skipMissing {
		return nil, "", false, nil
	}
	if err != nil {
		return nil, "", false, err
	}
	if x.cacheDir != nil {
		x.cacheDir.Close()
	}
	x.cacheKey, x.cacheRel, x.cacheDir = dir, rel, f
	return f, rel, true, nil
}

// resolveDir opens directory dir resolved inside the root. On a missing
// directory it returns an fs.ErrNotExist error and the resolved path.
func (x *extractor) resolveDir(dir string) (*os.File, string, error) {
	resolved, err := securejoin.SecureJoin(x.rootPath, filepath.FromSlash(dir))
	if err != nil {
		return nil, "", err
	}
	rel, err := filepath.Rel(x.rootPath, resolved)
	if err != nil {
		return nil, "", err
	}
	rel = filepath.ToSlash(rel)
	if rel == "." {
		rel = ""
	}
	if len(rel) > MaxPath {
		// Symlinks can make a short name resolve to a very deep path.
		return nil, "", ErrTooLong
	}
	f, err := openDirIn(x.root, dotIfEmpty(rel))
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

// mkdirs creates the missing directories of resolved path rel. With
// WhiteoutOverlay a created dir copies the attributes of the same dir in
// the nearest lower, so the merged tree still shows the lower's; with
// needLower only such dirs are created (created is false otherwise).
func (x *extractor) mkdirs(rel string, needLower bool) (created bool, err error) {
	cur := ""
	for _, part := range strings.Split(rel, "/") {
		next := path.Join(cur, part)
		fi, err := x.root.Lstat(next)
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
		var lower *DirAttrs
		if x.opt.Whiteouts == WhiteoutOverlay && x.opt.Lower != nil {
			if lower, err = x.opt.Lower.Dir(next); err != nil {
				return false, err
			}
		}
		if lower == nil && needLower {
			return false, nil
		}
		x.touch(cur)
		if err := x.root.Mkdir(next, 0o755); err != nil {
			return false, err
		}
		d, err := openDirIn(x.root, next)
		if err != nil {
			return false, err
		}
		err = x.impliedDirAttrs(d, lower)
		d.Close()
		if err != nil {
			return false, err
		}
		switch {
		case lower != nil:
			x.dirTimes[next] = lower.ModTime
		case !x.opt.ImpliedDirTime.IsZero():
			x.dirTimes[next] = x.opt.ImpliedDirTime
		default:
			// Not the time of the unpack, so that unpacking an archive
			// twice gives equal trees (and equal diffs).
			x.dirTimes[next] = time.Unix(0, 0)
		}
		cur = next
	}
	return true, nil
}

// impliedDirAttrs gives a directory the archive implies the attributes of
// the lower's, or 0755 owned by MapOwner(0, 0).
func (x *extractor) impliedDirAttrs(d *os.File, lower *DirAttrs) error {
	if lower == nil {
		if x.opt.Owners && x.opt.MapOwner != nil {
			if err := x.chown(d.Chown(x.opt.MapOwner(0, 0))); err != nil {
				return err
			}
		}
		return d.Chmod(0o755) // not subject to the umask
	}
	if err := d.Chown(int(lower.Uid), int(lower.Gid)); err != nil {
		return err
	}
	if err := unix.Fchmod(int(d.Fd()), lower.Mode&07777); err != nil {
		return &os.PathError{Op: "fchmod", Path: d.Name(), Err: err}
	}
	for k, v := range lower.Xattrs {
		if err := unix.Fsetxattr(int(d.Fd()), k, []byte(v), 0); err != nil {
			return &os.PathError{Op: "fsetxattr " + k, Path: d.Name(), Err: err}
		}
	}
	return nil
}

// touch remembers the mtime of directory rel before this archive changes
// its entries, to restore it at the end unless an entry sets it.
func (x *extractor) touch(rel string) {
	if _, ok := x.dirTimes[rel]; ok {
		return
	}
	if fi, err := x.root.Lstat(dotIfEmpty(rel)); err == nil && fi.IsDir() {
		x.dirTimes[rel] = fi.ModTime()
	}
}

// whiteout handles ".wh.NAME" and ".wh..wh..opq" in directory dir.
func (x *extractor) whiteout(dir, base string) error {
	if base == opaqueMarker {
		return x.opaque(dir)
	}
	if strings.HasPrefix(base, metaWhiteouts) {
		return nil // other aufs metadata
	}
	target := strings.TrimPrefix(base, whiteoutPfx)
	if target == "" || target == "." || target == ".." {
		return errors.New("whiteout of no name")
	}
	d, rel, ok, err := x.openDir(dir, createIfInLower)
	if err != nil || !ok {
		return err // a missing dir hides nothing
	}
	p := path.Join(rel, target)
	x.touch(rel)
	if err := x.root.RemoveAll(p); err != nil {
		return err
	}
	if x.opt.Whiteouts == WhiteoutOverlay {
		if err := unix.Mknodat(int(d.Fd()), target, unix.S_IFCHR, 0); err != nil {
			return &os.PathError{Op: "mknod", Path: p, Err: err}
		}
	}
	return nil
}

// opaque makes dir hide everything the layers below have in it.
func (x *extractor) opaque(dir string) error {
	d, rel, ok, err := x.openDir(dir, createIfInLower)
	if err != nil || !ok {
		return err
	}
	if x.opt.Whiteouts == WhiteoutOverlay {
		if err := unix.Fsetxattr(int(d.Fd()), OpaqueXattr(), []byte("y"), 0); err != nil {
			return &os.PathError{Op: "fsetxattr", Path: rel, Err: err}
		}
		return nil
	}
	// Keep what this archive wrote (and the dirs leading to it), remove
	// the rest.
	kept := map[string]bool{}
	for p := range x.written {
		for q := p; q != "." && q != "" && !kept[q]; q = path.Dir(q) {
			kept[q] = true
		}
	}
	return x.clear(d, rel, kept)
}

func (x *extractor) clear(d *os.File, rel string, kept map[string]bool) error {
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
			x.touch(rel)
			if err := x.root.RemoveAll(p); err != nil {
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
		err = x.clear(sub, p, kept)
		sub.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// finish sets the mtimes of the directories this archive touched.
func (x *extractor) finish() error {
	if x.cacheDir != nil {
		x.cacheDir.Close()
		x.cacheDir = nil
	}
	for rel, t := range x.dirTimes {
		if err := x.ctx.Err(); err != nil {
			return err
		}
		dir, base := path.Split(rel)
		if rel == "" {
			dir, base = "", "."
		}
		d, _, err := x.resolveDir(strings.TrimSuffix(dir, "/"))
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

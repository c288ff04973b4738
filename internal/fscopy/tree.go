package fscopy

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// tree is the destination root: the image's "/" on the host.
type tree struct {
	dr     *os.Root
	rootf  *os.File // dstRoot itself, for linkat by path
	rootfd int
	opt    *Options
	chmod  *Chmod // --chmod, or nil
	// made are the directories mkdirs created, whose mtimes are set again
	// by finish once the copy has filled them.
	made []dirTime
	// up is Options.Upper, open, and upfd its root; nil without one.
	up   *os.Root
	upf  *os.File
	upfd int
	// reuse is Options.Reuse, open (with Upper): nil without one, or
	// when it cannot be opened (the copy then writes every file).
	reuse *os.Root
}

func openTree(dstRoot string, opt *Options) (*tree, error) {
	dr, err := os.OpenRoot(dstRoot)
	if err != nil {
		return nil, err
	}
	rootf, err := openDirIn(dr, ".")
	if err != nil {
		dr.Close()
		return nil, err
	}
	t := &tree{dr: dr, rootf: rootf, rootfd: int(rootf.Fd()), opt: opt}
	t.chmod = opt.Chmod
	if opt.Upper != "" {
		if t.up, err = os.OpenRoot(opt.Upper); err == nil {
			if t.upf, err = openDirIn(t.up, "."); err != nil {
				t.up.Close()
			}
		}
		if err != nil {
			t.rootf.Close()
			dr.Close()
			return nil, fmt.Errorf("upper dir: %w", err)
		}
		t.upfd = int(t.upf.Fd())
		if opt.Reuse != "" {
			// Best effort: see Options.Reuse.
			t.reuse, _ = os.OpenRoot(opt.Reuse)
		}
	}
	return t, nil
}

func (t *tree) close() {
	if t.reuse != nil {
		t.reuse.Close()
	}
	if t.up != nil {
		t.upf.Close()
		t.up.Close()
	}
	t.rootf.Close()
	t.dr.Close()
}

// upperDir opens rel, a directory this copy has just created through
// dstRoot, in the upper dir, where overlayfs created it: its entries can be
// written there directly. It returns nil, nil when there is no upper dir.
func (t *tree) upperDir(rel string) (*os.File, error) {
	if t.up == nil {
		return nil, nil
	}
	f, err := openDirIn(t.up, rel)
	if err != nil {
		return nil, fmt.Errorf("upper dir: %w", err)
	}
	return f, nil
}

// dest is a resolved destination.
type dest struct {
	shown   string // as written
	rel     string // resolved inside dstRoot
	intoDir bool   // sources go into rel rather than becoming it
}

// dest resolves the destination as written. multi says more than one
// source may be copied, which needs a directory.
func (t *tree) dest(p string, multi bool) (*dest, error) {
	rel, err := resolveIn(t.dr, p)
	if err != nil {
		return nil, fmt.Errorf("%s destination %q: %w", t.opt.command(), p, err)
	}
	into := rel == "." || t.opt.Parents || strings.HasSuffix(p, "/") || p == "." || strings.HasSuffix(p, "/.")
	if fi, err := t.dr.Lstat(rel); err == nil && fi.IsDir() {
		into = true
	}
	if multi && !into {
		return nil, fmt.Errorf("%s to %q: with more than one source the destination must be a directory and end with a /", t.opt.command(), p)
	}
	return &dest{shown: p, rel: rel, intoDir: into}, nil
}

// dirMode is the mode of a directory a copy creates on the way to its
// destination: 0755 (BuildKit), with --chmod applied.
func (t *tree) dirMode() uint32 {
	if t.chmod != nil {
		return t.chmod.Apply(0o755, true)
	}
	return 0o755
}

// mkdirs creates the missing directories of rel (resolved, relative to
// dstRoot), like BuildKit's MkdirAll: mode --chmod or 0755, owned by
// --chown or 0:0. Directories that exist are left as they are.
func (t *tree) mkdirs(rel string) error { return t.mkdirsMode(rel, t.dirMode()) }

// mkdirsMode is mkdirs with the mode of the created directories given.
func (t *tree) mkdirsMode(rel string, mode uint32) error {
	if rel == "." || rel == "" {
		return nil
	}
	comps := splitPath(rel)
	for i := range comps {
		p := strings.Join(comps[:i+1], "/")
		fi, err := t.dr.Lstat(p)
		if err == nil {
			if !fi.IsDir() {
				return &fs.PathError{Op: "mkdir", Path: imagePath(p), Err: unix.ENOTDIR}
			}
			continue
		}
		if !errorsIsNotExist(err) {
			return err
		}
		uid, gid := t.opt.owner(0, 0)
		mtime := t.opt.now()
		if err := t.mkdirMeta(p, uid, gid, mode, mtime); err != nil {
			return err
		}
		t.made = append(t.made, dirTime{p, mtime})
	}
	return nil
}

// finish sets the mtimes of the directories mkdirs created, innermost
// first: adding entries to them moved their mtimes.
func (t *tree) finish() error {
	for i := len(t.made) - 1; i >= 0; i-- {
		d := t.made[i]
		pf, err := openDirIn(t.dr, path.Dir(d.name))
		if err != nil {
			return err
		}
		err = lutimesAt(int(pf.Fd()), path.Base(d.name), d.mtime)
		pf.Close()
		if err != nil {
			return &fs.PathError{Op: "chtimes", Path: imagePath(d.name), Err: err}
		}
	}
	t.made = nil
	return nil
}

// mkdirMeta creates the directory rel, whose parent exists, with exactly
// this metadata.
func (t *tree) mkdirMeta(rel string, uid, gid int, mode uint32, mtime time.Time) error {
	if err := t.dr.Mkdir(rel, 0o700); err != nil {
		return err
	}
	f, err := openDirIn(t.dr, rel)
	if err != nil {
		return err
	}
	defer f.Close()
	fd := int(f.Fd())
	if err := chownErr(unix.Fchown(fd, uid, gid)); err != nil {
		return &fs.PathError{Op: "chown", Path: imagePath(rel), Err: err}
	}
	if err := unix.Fchmod(fd, mode); err != nil {
		return &fs.PathError{Op: "chmod", Path: imagePath(rel), Err: err}
	}
	if err := futimes(fd, mtime); err != nil {
		return &fs.PathError{Op: "chtimes", Path: imagePath(rel), Err: err}
	}
	return nil
}

// fileTarget opens the directory that receives a file copied to target
// (relative to dstRoot, final component not followed), creating it and its
// parents as needed, and returns it with the file's name.
func (t *tree) fileTarget(target string) (*dstDir, string, error) {
	if target == "." || target == "" {
		return nil, "", &fs.PathError{Op: "copy", Path: "/", Err: unix.EISDIR}
	}
	prel, err := resolveIn(t.dr, path.Dir(target))
	if err != nil {
		return nil, "", err
	}
	if err := t.mkdirs(prel); err != nil {
		return nil, "", err
	}
	f, err := openDirIn(t.dr, prel)
	if err != nil {
		return nil, "", err
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil || !isDir(&st) {
		f.Close()
		return nil, "", &fs.PathError{Op: "copy", Path: imagePath(prel), Err: unix.ENOTDIR}
	}
	return &dstDir{f: f, fd: int(f.Fd()), rel: prel}, path.Base(target), nil
}

// singleFile returns where a single new file named name goes for dest d.
func (t *tree) singleFile(d *dest, name string) (*dstDir, string, error) {
	target := d.rel
	if d.intoDir {
		target = joinRel(d.rel, name)
	}
	return t.fileTarget(target)
}

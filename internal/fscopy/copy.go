package fscopy

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path"
	"runtime"
	"strings"
	"time"

	"github.com/moby/patternmatcher"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"
)

// Options are the flags of one COPY or ADD. The zero value is a plain COPY.
type Options struct {
	// Chown is the resolved --chown. Nil: files from the build context are
	// owned by 0:0, files from a stage keep their owner.
	Chown *Owner
	// Chmod is the parsed --chmod. Like BuildKit, it applies to files, to
	// copied directories, and to the directories the copy creates on the
	// way (missing parents, and the destination directory created for a
	// directory source's contents); not to symbolic links, to directories
	// that exist, or to what ADD extracts from an archive. A symbolic mode
	// applies to each entry's own mode (0755 for a created directory).
	Chmod *Chmod
	// Exclude are the --exclude patterns (.dockerignore syntax), matched
	// against paths below each copied directory, and against a wildcard's
	// matches relative to the wildcard's literal prefix.
	Exclude []string
	// Add selects ADD: local tar archives (plain, gzip, bzip2, xz, zstd) are
	// extracted into dest, URLs are downloaded.
	Add bool
	// Checksum is ADD --checksum ("sha256:<hex>"; sha384, sha512 too),
	// verified for a URL.
	Checksum string
	// HTTPClient downloads URLs; nil means http.DefaultClient.
	HTTPClient *http.Client
	// Epoch is SOURCE_DATE_EPOCH: mtimes of created files are clamped to it.
	Epoch *time.Time
	// Parents is --parents: each source keeps its path (below an optional
	// "/./" pivot) under dest, and a "**" component of a wildcard matches
	// any number of directories (BuildKit 1.7+).
	Parents bool
	// Upper is, when dstRoot is an overlay mount, that overlay's upper
	// dir ("" otherwise). A directory the copy creates where dstRoot had
	// nothing is made through the overlay (which keeps or adds what hides
	// a deleted lower one: a whiteout, an opaque mark) and then filled in
	// Upper directly: everything below a new directory is new, so there is
	// no lower entry to merge or hide, and the upper dir ends up as writing
	// through the overlay would leave it, at a fraction of the cost per
	// file. Paths that exist in dstRoot (files replaced, directories
	// merged) are still written through it.
	Upper string
	// Reuse is, with Upper, the upper dir of a snapshot an earlier run of
	// this copy committed ("" for none): a regular file this copy writes
	// in Upper that is there at the same path, with the same size,
	// contents, mode, owner and mtime, and no xattrs on either side, is
	// hard-linked from there instead of written (see reuseFile). It is
	// only read; a file that cannot be compared or linked is copied.
	Reuse string
}

func (o *Options) command() string {
	if o.Add {
		return "ADD"
	}
	return "COPY"
}

func (o *Options) clamp(t time.Time) time.Time {
	if o.Epoch != nil && t.After(*o.Epoch) {
		return *o.Epoch
	}
	return t
}

// now is the mtime of what a copy creates from nothing (parents, URLs,
// heredocs): the current time, clamped.
func (o *Options) now() time.Time { return o.clamp(time.Now()) }

// owner applies --chown to the ids a file would otherwise get.
func (o *Options) owner(uid, gid int) (int, int) {
	if o.Chown != nil {
		if o.Chown.UID >= 0 {
			uid = o.Chown.UID
		}
		if o.Chown.GID >= 0 {
			gid = o.Chown.GID
		}
	}
	return uid, gid
}

// Copy performs one COPY or ADD. sources are as written in the Dockerfile
// after expansion: paths in the source tree (a leading "/" is its root, and
// ".." never leaves it), wildcards (filepath.Match syntax), or, for ADD,
// http(s) URLs. dest is absolute in dstRoot, the host directory that is the
// image's root; it is resolved inside dstRoot, following the image's
// symbolic links as if dstRoot were "/".
//
// The rules are BuildKit's: a file is copied to dest, or into it when dest
// ends in "/" or is a directory; a directory's contents are copied into
// dest, created as needed. Directories the copy creates on the way, a
// new dest for a directory's contents included, are --chmod or 0755 and
// owned by --chown or 0:0 (a new dest keeps the source directory's mtime).
// Several sources, or a wildcard matching several paths, need dest to be a
// directory (end in "/" or exist); a wildcard matching nothing is fine as
// long as something is copied. A source that is a symbolic link is
// followed, inside the source tree; links inside a copied directory are
// copied as links. Modes (setuid, setgid and sticky included), mtimes
// (clamped to Epoch), xattrs and hard links are kept; owners follow
// Options.Chown and Source.IsContext.
//
// A missing source is an error wrapping ErrNotFound that names it. Copy is
// not atomic: after an error, dstRoot holds part of the copy.
func Copy(ctx context.Context, src Source, sources []string, dstRoot, dest string, opt Options) error {
	if len(sources) == 0 {
		return nil
	}
	p, err := planCopy(ctx, src, sources, dstRoot, dest, &opt)
	if err != nil {
		return err
	}
	defer p.close()
	t, d := p.t, p.d

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(2 * runtime.GOMAXPROCS(0))
	c := &copier{tree: t, ctx: gctx, g: g, ctxSrc: src.IsContext, links: map[devIno]string{}, reused: map[devIno]bool{}}
	w := newWalker(gctx, src, p.pm, c)
	err = firstErr(ctx, c.run(gctx, p.sr, p.items, d, w), g.Wait())
	if err == nil {
		err = t.finish()
	}
	return err
}

// copyPlan is what Copy and Layer set up before they walk: the sources
// selected (selection) and the destination tree with the destination
// resolved in it.
type copyPlan struct {
	*selection
	t *tree
	d *dest
}

func planCopy(ctx context.Context, src Source, sources []string, dstRoot, dest string, opt *Options) (*copyPlan, error) {
	sel, err := selectAll(ctx, src, sources, opt)
	if err != nil {
		return nil, err
	}
	p := &copyPlan{selection: sel}
	if p.t, err = openTree(dstRoot, opt); err != nil {
		p.close()
		return nil, fmt.Errorf("%s: destination: %w", opt.command(), err)
	}
	if p.d, err = p.t.dest(dest, sel.multi); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

// selection is what Copy, Layer and Checksum read: the --exclude matcher,
// the source tree and the items selected in it (selectSources).
type selection struct {
	pm    *patternmatcher.PatternMatcher
	sr    *os.Root // nil when every source is a URL
	items []*item
	multi bool
}

func selectAll(ctx context.Context, src Source, sources []string, opt *Options) (*selection, error) {
	cmd := opt.command()
	pm, err := excludeMatcher(opt.Exclude)
	if err != nil {
		return nil, fmt.Errorf("%s --exclude: %w", cmd, err)
	}
	sel := &selection{pm: pm}
	if !allURLs(sources) {
		if sel.sr, err = os.OpenRoot(src.Dir); err != nil {
			return nil, fmt.Errorf("%s: source tree: %w", cmd, err)
		}
	}
	if sel.items, sel.multi, err = selectSources(ctx, sel.sr, src, sources, opt, pm); err != nil {
		sel.close()
		return nil, err
	}
	return sel, nil
}

func (sel *selection) close() {
	if sel.sr != nil {
		sel.sr.Close()
	}
}

func (p *copyPlan) close() {
	if p.t != nil {
		p.t.close()
	}
	p.selection.close()
}

// newWalker is a walker of src for visitor v: .dockerignore applies to
// the build context.
func newWalker(ctx context.Context, src Source, pm *patternmatcher.PatternMatcher, v visitor) *walker {
	w := &walker{ctx: ctx, pm: pm, v: v}
	if src.IsContext {
		w.ignore, w.prune = src.Exclude, src.Prune
	}
	return w
}

// firstErr picks the error to report from a walk and its worker pool: a
// worker's failure cancels the walk, whose "context canceled" must not hide
// it.
func firstErr(ctx context.Context, walkErr, poolErr error) error {
	if poolErr != nil && (walkErr == nil || (ctx.Err() == nil && errors.Is(walkErr, context.Canceled))) {
		return poolErr
	}
	if walkErr != nil {
		return walkErr
	}
	return ctx.Err()
}

func (c *copier) run(ctx context.Context, sr *os.Root, items []*item, d *dest, w *walker) error {
	for _, it := range items {
		if it.url != "" {
			if err := c.fetch(ctx, it, d); err != nil {
				return err
			}
			continue
		}
		if c.opt.Add && it.reg {
			done, err := c.extractFile(ctx, sr, it, d)
			if err != nil {
				return fmt.Errorf("ADD %s: %w", it.src, err)
			}
			if done {
				continue
			}
		}
		if err := c.copyItem(sr, it, d, w); err != nil {
			return err
		}
	}
	return nil
}

func allURLs(sources []string) bool {
	for _, s := range sources {
		if !isURL(s) {
			return false
		}
	}
	return true
}

func excludeMatcher(patterns []string) (*patternmatcher.PatternMatcher, error) {
	if len(patterns) == 0 {
		return nil, nil
	}
	return patternmatcher.New(patterns)
}

type devIno struct{ dev, ino uint64 }

// copier writes a walk of the source into the destination tree.
type copier struct {
	*tree
	ctx    context.Context
	g      *errgroup.Group
	ctxSrc bool
	// links maps a source inode with several links to the first path it
	// was copied to (relative to dstRoot), within the current item.
	links map[devIno]string
	// reused holds the inodes of Options.Reuse this copy has linked: each
	// once at most (reuseFile).
	reused map[devIno]bool
	stack  []*dstDir

	// The current item: a directory item copies into topRel; a file item
	// is written as leafName in leafDir. topKeep says a topRel created for
	// the item takes the source directory's owner, mode and xattrs
	// (--parents), rather than being a plain new directory.
	topRel   string
	topKeep  bool
	leafDir  *dstDir
	leafName string
}

// dstDir is an open destination directory.
type dstDir struct {
	f     *os.File
	fd    int
	rel   string // relative to dstRoot
	mtime time.Time
	touch bool // set mtime when leaving
	// upper says f is the directory in Options.Upper rather than in
	// dstRoot: it is new, and so is everything the copy writes in it.
	upper bool
	// reuse is the directory at rel in Options.Reuse, when d is upper and
	// there is one.
	reuse *os.File
}

func (c *copier) copyItem(sr *os.Root, it *item, d *dest, w *walker) error {
	clear(c.links) // hard links are kept within an item (BuildKit)
	target := d.rel
	if it.sub != "" {
		if err := c.parentsDirs(sr, it, d); err != nil {
			return err
		}
		target = joinRel(d.rel, it.sub)
	} else if !it.dir && d.intoDir {
		target = joinRel(d.rel, it.name)
	}
	if it.dir {
		rel, err := resolveIn(c.dr, target)
		if err != nil {
			return err
		}
		c.topRel, c.topKeep = rel, it.sub != ""
	} else {
		dir, name, err := c.fileTarget(target)
		if err != nil {
			return err
		}
		defer dir.f.Close()
		c.leafDir, c.leafName = dir, name
	}
	return walkItem(w, sr, it, c.opt.command(), c.ctxSrc)
}

// walkItem walks an item; an excluded directory with nothing re-included
// below it is missing, unless a wildcard matched it.
func walkItem(w *walker, sr *os.Root, it *item, cmd string, context bool) error {
	err := w.walk(sr, it)
	if errors.Is(err, errNothingIncluded) {
		if it.wild {
			return nil
		}
		return notFound(cmd, it.src, context, true)
	}
	return err
}

// parentsDirs creates the directories between dest and a --parents item,
// with the metadata of the source directories they stand for (BuildKit).
func (c *copier) parentsDirs(sr *os.Root, it *item, d *dest) error {
	comps := splitPath(it.sub)
	srcBase := strings.TrimSuffix(it.match, it.sub)
	for i := 1; i < len(comps); i++ {
		sub := strings.Join(comps[:i], "/")
		rel, err := resolveIn(c.dr, joinRel(d.rel, sub))
		if err != nil {
			return err
		}
		if fi, err := c.dr.Lstat(rel); err == nil {
			if !fi.IsDir() {
				return &fs.PathError{Op: "mkdir", Path: imagePath(rel), Err: unix.ENOTDIR}
			}
			continue
		}
		var st unix.Stat_t
		sdir, err := resolveIn(sr, joinRel(srcBase, sub))
		if err == nil {
			err = statIn(sr, sdir, &st)
		}
		if err != nil || !isDir(&st) {
			st = unix.Stat_t{Mode: unix.S_IFDIR | 0o755}
		}
		if err := c.mkdirs(path.Dir(rel)); err != nil {
			return err
		}
		uid, gid, mode, mtime := c.meta(&st)
		if err := c.mkdirMeta(rel, uid, gid, mode, mtime); err != nil {
			return err
		}
	}
	return nil
}

// statIn lstats rel (free of links) in r as a unix.Stat_t.
func statIn(r *os.Root, rel string, st *unix.Stat_t) error {
	pf, err := openDirIn(r, path.Dir(rel))
	if err != nil {
		return err
	}
	defer pf.Close()
	name := path.Base(rel)
	if rel == "." {
		name = "."
	}
	return lstatAt(int(pf.Fd()), name, st)
}

// meta is what a copied entry gets: owner, mode and mtime.
func (c *copier) meta(st *unix.Stat_t) (uid, gid int, mode uint32, mtime time.Time) {
	uid, gid = int(st.Uid), int(st.Gid)
	if c.ctxSrc {
		uid, gid = 0, 0
	}
	uid, gid = c.opt.owner(uid, gid)
	mode = st.Mode & 0o7777
	if c.chmod != nil && !isSymlink(st) {
		mode = c.chmod.Apply(mode, st.Mode&unix.S_IFMT == unix.S_IFDIR)
	}
	return uid, gid, mode, c.opt.clamp(mtimeOf(st))
}

func (c *copier) enter(n *node) error {
	if n.rel == "" {
		return c.enterTop(n)
	}
	p := c.stack[len(c.stack)-1]
	rel := joinRel(p.rel, n.name)
	err := unix.Mkdirat(p.fd, n.name, 0o700)
	made := err == nil
	if err == unix.EEXIST {
		var st unix.Stat_t
		if err = lstatAt(p.fd, n.name, &st); err == nil && !isDir(&st) {
			err = unix.ENOTDIR
		}
	}
	if err != nil {
		return &fs.PathError{Op: "copy", Path: imagePath(rel), Err: err}
	}
	f, err := openDirAt(p.fd, n.name)
	if err != nil {
		return &fs.PathError{Op: "open", Path: imagePath(rel), Err: err}
	}
	d := &dstDir{f: f, fd: int(f.Fd()), rel: rel, touch: true, upper: p.upper}
	if made && !p.upper {
		if err := c.toUpper(d); err != nil {
			f.Close()
			return err
		}
	} else if made && p.reuse != nil {
		d.reuse = openReuseDir(p.reuse, n.name)
	}
	c.stack = append(c.stack, d)
	// BuildKit also overwrites the metadata of a directory that exists.
	uid, gid, mode, mtime := c.meta(&n.st)
	d.mtime = mtime
	return c.setDirMeta(d, uid, gid, mode, n.fd)
}

// enterTop opens, or creates, the directory that receives a directory
// item's contents. One that exists is left as it is. One created for it is,
// as in BuildKit (which makes it with MkdirAll), owned by --chown or 0:0
// with mode --chmod or 0755, whatever the source directory's owner and
// mode; it keeps the source's mtime (clamped). With --parents the item's
// directory stands for the source one and takes its metadata.
func (c *copier) enterTop(n *node) error {
	rel := c.topRel
	fi, err := c.dr.Lstat(rel)
	touch := false
	switch {
	case err == nil && !fi.IsDir():
		return &fs.PathError{Op: "copy", Path: imagePath(rel), Err: unix.ENOTDIR}
	case errorsIsNotExist(err):
		if rel == "." {
			return err
		}
		if err := c.mkdirs(path.Dir(rel)); err != nil {
			return err
		}
		if err := c.dr.Mkdir(rel, 0o700); err != nil {
			return err
		}
		touch = true
	case err != nil:
		return err
	}
	f, err := openDirIn(c.dr, rel)
	if err != nil {
		return err
	}
	d := &dstDir{f: f, fd: int(f.Fd()), rel: rel, touch: touch}
	if touch {
		if err := c.toUpper(d); err != nil {
			f.Close()
			return err
		}
	}
	c.stack = append(c.stack, d)
	if !touch {
		return nil
	}
	uid, gid, mode, mtime := c.meta(&n.st)
	d.mtime = mtime
	if !c.topKeep {
		uid, gid = c.opt.owner(0, 0)
		return c.setDirMeta(d, uid, gid, c.dirMode(), -1)
	}
	return c.setDirMeta(d, uid, gid, mode, n.fd)
}

// toUpper switches d, a directory this copy has just created through
// dstRoot, to its copy in the upper dir, if there is one (Options.Upper).
func (c *copier) toUpper(d *dstDir) error {
	f, err := c.upperDir(d.rel)
	if err != nil || f == nil {
		return err
	}
	d.f.Close()
	d.f, d.fd, d.upper = f, int(f.Fd()), true
	d.reuse = c.reuseDir(d.rel)
	return nil
}

// setDirMeta sets the owner and mode of d, and copies the xattrs of srcfd
// unless it is -1.
func (c *copier) setDirMeta(d *dstDir, uid, gid int, mode uint32, srcfd int) error {
	if err := chownErr(unix.Fchown(d.fd, uid, gid)); err != nil {
		return &fs.PathError{Op: "chown", Path: imagePath(d.rel), Err: err}
	}
	if err := unix.Fchmod(d.fd, mode); err != nil {
		return &fs.PathError{Op: "chmod", Path: imagePath(d.rel), Err: err}
	}
	if srcfd >= 0 {
		copyXattrs(d.fd, srcfd)
	}
	return nil
}

func (c *copier) leave(*node) error {
	d := c.stack[len(c.stack)-1]
	c.stack = c.stack[:len(c.stack)-1]
	defer d.f.Close()
	if d.reuse != nil {
		defer d.reuse.Close()
	}
	// Entries were all created by now (file contents still being written
	// do not change a directory's mtime), so the time set here stays.
	if d.touch {
		if err := futimes(d.fd, d.mtime); err != nil {
			return &fs.PathError{Op: "chtimes", Path: imagePath(d.rel), Err: err}
		}
	}
	return nil
}

func (c *copier) leaf(n *node) error {
	dir, name := c.leafDir, c.leafName
	if n.rel != "" {
		dir, name = c.stack[len(c.stack)-1], n.name
	}
	rel := joinRel(dir.rel, name)
	uid, gid, mode, mtime := c.meta(&n.st)
	pfd := dir.fd
	wrap := func(op string, err error) error {
		if err == nil {
			return nil
		}
		return &fs.PathError{Op: op, Path: imagePath(rel), Err: err}
	}
	switch n.st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		if n.st.Nlink > 1 {
			key := devIno{uint64(n.st.Dev), n.st.Ino}
			if first, ok := c.links[key]; ok {
				rootfd := c.rootfd
				if dir.upper {
					rootfd = c.upfd // first is in the upper dir too
				}
				return wrap("link", createAt(pfd, name, func() error {
					return unix.Linkat(rootfd, first, pfd, name, 0)
				}))
			}
			c.links[key] = rel
		}
		if dir.reuse != nil && c.reuseFile(dir, name, n, uid, gid, mode, mtime) {
			return nil
		}
		sfd, err := openat(n.dirfd, n.name, flagRead, 0)
		if err != nil {
			return &fs.PathError{Op: "copy", Path: n.srel, Err: err}
		}
		var dfd int
		err = createAt(pfd, name, func() (err error) {
			dfd, err = openat(pfd, name, flagCreate, 0o600)
			return err
		})
		if err != nil {
			unix.Close(sfd)
			return wrap("copy", err)
		}
		size, srel := n.st.Size, n.srel
		c.g.Go(func() error {
			return c.writeFile(dfd, sfd, size, uid, gid, mode, mtime, srel, rel)
		})
		return nil
	case unix.S_IFLNK:
		if err := createAt(pfd, name, func() error { return unix.Symlinkat(n.link, pfd, name) }); err != nil {
			return wrap("symlink", err)
		}
		if err := chownErr(unix.Fchownat(pfd, name, uid, gid, unix.AT_SYMLINK_NOFOLLOW)); err != nil {
			return wrap("chown", err)
		}
		return wrap("chtimes", lutimesAt(pfd, name, mtime))
	case unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO:
		typ := n.st.Mode & unix.S_IFMT
		if err := createAt(pfd, name, func() error { return unix.Mknodat(pfd, name, typ|mode, int(n.st.Rdev)) }); err != nil {
			return wrap("mknod", err)
		}
		if err := chownErr(unix.Fchownat(pfd, name, uid, gid, unix.AT_SYMLINK_NOFOLLOW)); err != nil {
			return wrap("chown", err)
		}
		if err := unix.Fchmodat(pfd, name, mode, 0); err != nil {
			return wrap("chmod", err)
		}
		return wrap("chtimes", lutimesAt(pfd, name, mtime))
	}
	return nil // sockets are not copied
}

// writeFile copies the contents and metadata of an open source file to a
// new destination file and closes both. It runs on the worker pool.
func (c *copier) writeFile(dfd, sfd int, size int64, uid, gid int, mode uint32, mtime time.Time, srel, rel string) error {
	defer unix.Close(sfd)
	defer unix.Close(dfd)
	if err := c.ctx.Err(); err != nil {
		return err
	}
	if size > 0 {
		if err := copyData(dfd, sfd); err != nil {
			return &fs.PathError{Op: "copy", Path: srel, Err: err}
		}
	}
	// chown before chmod (chown clears setuid), xattrs after both (chown
	// clears security.capability), times last.
	if err := chownErr(unix.Fchown(dfd, uid, gid)); err != nil {
		return &fs.PathError{Op: "chown", Path: imagePath(rel), Err: err}
	}
	if err := unix.Fchmod(dfd, mode); err != nil {
		return &fs.PathError{Op: "chmod", Path: imagePath(rel), Err: err}
	}
	copyXattrs(dfd, sfd)
	if err := futimes(dfd, mtime); err != nil {
		return &fs.PathError{Op: "chtimes", Path: imagePath(rel), Err: err}
	}
	return nil
}

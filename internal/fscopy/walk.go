package fscopy

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path"
	"runtime"
	"slices"
	"sync"

	"github.com/moby/patternmatcher"
	"golang.org/x/sys/unix"
)

// node is one entry met by a walk of a source tree.
type node struct {
	rel   string // path below the item root; "" for the root itself
	srel  string // path in the source root (.dockerignore, errors, stat cache)
	dirfd int    // the source directory that holds the entry
	name  string // the entry's name in dirfd
	st    unix.Stat_t
	link  string // a symbolic link's target
	fd    int    // a directory's own descriptor, open from enter to leave
}

// visitor receives a walk. enter and leave bracket the entries of a
// directory; every other entry is a leaf. Only included entries, and the
// excluded directories that lead to re-included ones, are visited. Entries
// of a directory come in byte order of their names.
type visitor interface {
	enter(n *node) error
	leave(n *node) error
	leaf(n *node) error
}

// walker walks items of one source tree: with directory descriptors and
// *at calls below the item, so nothing is followed and nothing outside the
// tree is reached.
type walker struct {
	ctx    context.Context
	ignore func(string) bool // .dockerignore, on paths in the source root
	prune  func(string) bool
	pm     *patternmatcher.PatternMatcher // --exclude, on paths below the item
	v      visitor
	// pending holds excluded directories entered but not visited yet: they
	// are visited when an entry below them turns out to be included.
	pending []*node
	visits  int // entries visited so far
}

// errNothingIncluded is returned by walk for an excluded directory item
// with nothing included below it.
var errNothingIncluded = errors.New("nothing included")

// walk visits the item it, found in the root r.
func (w *walker) walk(r *os.Root, it *item) error {
	parent, name := path.Dir(it.resolved), path.Base(it.resolved)
	if it.resolved == "." {
		name = "."
	}
	pf, err := openDirIn(r, parent)
	if err != nil {
		return err
	}
	defer pf.Close()
	n := &node{srel: it.resolved, dirfd: int(pf.Fd()), name: name}
	if err := lstatAt(n.dirfd, name, &n.st); err != nil {
		return &fs.PathError{Op: "lstat", Path: it.resolved, Err: err}
	}
	if isDir(&n.st) {
		before := w.visits
		if err := w.dir(n, patternmatcher.MatchInfo{}, !it.lazy); err != nil {
			return err
		}
		if it.lazy && w.visits == before {
			return errNothingIncluded
		}
		return nil
	}
	if isSymlink(&n.st) { // a link loop cut short by resolveIn
		return &fs.PathError{Op: "resolve", Path: it.match, Err: unix.ELOOP}
	}
	return w.v.leaf(n)
}

// dir walks the directory n. emit is false for an excluded directory,
// visited only if something below it is included.
func (w *walker) dir(n *node, mi patternmatcher.MatchInfo, emit bool) error {
	f, err := openDirAt(n.dirfd, n.name)
	if err != nil {
		return &fs.PathError{Op: "open", Path: n.srel, Err: err}
	}
	defer f.Close()
	n.fd = int(f.Fd())
	if emit {
		w.visits++
		if err := w.v.enter(n); err != nil {
			return err
		}
	} else {
		w.pending = append(w.pending, n)
	}
	names, err := f.Readdirnames(-1)
	if err != nil {
		return &fs.PathError{Op: "readdir", Path: n.srel, Err: err}
	}
	slices.Sort(names)
	var stats statBatch
	for i, name := range names {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		c := &node{rel: joinRel(n.rel, name), srel: joinRel(n.srel, name), dirfd: n.fd, name: name}
		if err := stats.lstat(n.fd, names, i, &c.st); err != nil {
			if err == unix.ENOENT {
				continue // removed while we walk
			}
			return &fs.PathError{Op: "lstat", Path: c.srel, Err: err}
		}
		byIgnore := w.ignore != nil && w.ignore(c.srel)
		byPattern := false
		var cmi patternmatcher.MatchInfo
		if w.pm != nil {
			if byPattern, cmi, err = w.pm.MatchesUsingParentResults(c.rel, mi); err != nil {
				return err
			}
		}
		if isDir(&c.st) {
			if byIgnore || byPattern {
				if (byIgnore && w.prune != nil && w.prune(c.srel)) || (byPattern && !w.pm.Exclusions()) {
					continue
				}
				if err := w.dir(c, cmi, false); err != nil {
					return err
				}
				continue
			}
			if err := w.flush(); err != nil {
				return err
			}
			if err := w.dir(c, cmi, true); err != nil {
				return err
			}
			continue
		}
		if byIgnore || byPattern {
			continue
		}
		if isSymlink(&c.st) {
			if c.link, err = readlinkAt(n.fd, name); err != nil {
				return &fs.PathError{Op: "readlink", Path: c.srel, Err: err}
			}
		}
		if err := w.flush(); err != nil {
			return err
		}
		w.visits++
		if err := w.v.leaf(c); err != nil {
			return err
		}
	}
	if k := len(w.pending); k > 0 && w.pending[k-1] == n {
		w.pending = w.pending[:k-1]
		return nil
	}
	return w.v.leave(n)
}

// statBatch lstats the entries of a large directory ahead of the walk, in
// batches of statBatchSize, on as many threads as GOMAXPROCS allows: the
// lstat of every entry was most of a walk of 50,000 small files (25 % of
// bld's CPU for COPY + export of them, BLD_CPUPROFILE), and one thread
// made it, the walk being in order. The batch is bounded, so a directory
// of a million entries costs no more memory than one of 4096.
type statBatch struct {
	procs int // GOMAXPROCS, read at the first entry; 0 before
	start int // index in names of sts[0]
	sts   []unix.Stat_t
	errs  []error
}

const (
	statBatchSize = 1024
	statAheadMin  = 64 // fewer entries: lstat each in turn, as before
)

// lstat sets *st to the lstat of names[i] in dirfd: from the batch holding
// i, made first if need be, or, in a small directory, at once.
func (b *statBatch) lstat(dirfd int, names []string, i int, st *unix.Stat_t) error {
	if len(names) < statAheadMin {
		return lstatAt(dirfd, names[i], st)
	}
	if b.procs == 0 {
		b.procs = runtime.GOMAXPROCS(0) // it takes the scheduler's lock: once a directory
	}
	if b.procs < 2 {
		return lstatAt(dirfd, names[i], st)
	}
	if b.sts == nil || i < b.start || i >= b.start+len(b.sts) {
		b.fill(dirfd, names, i, b.procs)
	}
	k := i - b.start
	*st = b.sts[k]
	return b.errs[k]
}

// fill lstats names[start:start+statBatchSize] on procs threads.
func (b *statBatch) fill(dirfd int, names []string, start, procs int) {
	n := min(statBatchSize, len(names)-start)
	if cap(b.sts) < n {
		b.sts, b.errs = make([]unix.Stat_t, n), make([]error, n)
	}
	b.start, b.sts, b.errs = start, b.sts[:n], b.errs[:n]
	workers := min(procs, 4, (n+statAheadMin-1)/statAheadMin)
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := n*w/workers, n*(w+1)/workers
		wg.Go(func() {
			for k := lo; k < hi; k++ {
				b.errs[k] = lstatAt(dirfd, names[start+k], &b.sts[k])
			}
		})
	}
	wg.Wait()
}

// flush visits the pending excluded directories, outermost first.
func (w *walker) flush() error {
	for _, p := range w.pending {
		w.visits++
		if err := w.v.enter(p); err != nil {
			return err
		}
	}
	w.pending = w.pending[:0]
	return nil
}

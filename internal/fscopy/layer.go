package fscopy

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/bldbuild/bld/internal/archive"
)

// ErrNoLayer is returned by Layer, before it writes anything, for a copy it
// does not write as a layer alone: the caller copies with Copy instead.
var ErrNoLayer = errors.New("copy not written straight to a layer")

// Layer writes to w, as a layer tar, what Copy would add to dstRoot,
// without writing a file: a COPY whose snapshot no step needs is a layer
// read straight from its sources (tar | gzip), not 50,000 files created
// and then read back. dstRoot is only read (a view of the parent
// snapshot): it resolves dest as Copy does, and gives the metadata of the
// directories on the way that exist.
//
// It handles the copies whose every entry is new, which need nothing from
// the entries they would replace or merge with: one source (a file or a
// directory; a wildcard matching one), COPY rather than ADD, without
// --parents, to a destination that does not exist in dstRoot. The missing
// directories on the way are made as Copy makes them. The entries, their
// order and their metadata are those of the layer a Copy into an overlay
// would give (TestLayerMatchesCopy), but for the mtimes of the existing
// directories on the way, which keep dstRoot's. For anything else it
// returns ErrNoLayer before writing anything; other errors are Copy's.
func Layer(ctx context.Context, src Source, sources []string, dstRoot, dest string, opt Options, w io.Writer) error {
	if opt.Add || opt.Parents || len(sources) != 1 || isURL(sources[0]) {
		return ErrNoLayer
	}
	p, err := planCopy(ctx, src, sources, dstRoot, dest, &opt)
	if err != nil {
		return err
	}
	defer p.close()
	if len(p.items) != 1 || p.items[0].url != "" || p.items[0].sub != "" {
		return ErrNoLayer
	}
	it, t, d, cmd := p.items[0], p.t, p.d, opt.command()
	// top is what the item becomes: a directory item's new directory, a
	// file item's file; base is the directory that holds it.
	var top, base string
	if it.dir {
		if top, err = resolveIn(t.dr, d.rel); err != nil {
			return err
		}
		base = path.Dir(top)
	} else {
		target := d.rel
		if d.intoDir {
			target = joinRel(d.rel, it.name)
		}
		if target == "." {
			return ErrNoLayer // Copy's error
		}
		if base, err = resolveIn(t.dr, path.Dir(target)); err != nil {
			return err
		}
		top = joinRel(base, path.Base(target))
	}
	if top == "." {
		return ErrNoLayer
	}
	if _, err := t.dr.Lstat(top); !errorsIsNotExist(err) {
		return ErrNoLayer // it exists (or cannot be told): Copy replaces or merges
	}
	// The directories on the way: those that exist must be directories
	// (else Copy's error), those missing are made.
	var made bool
	var dirs []string
	comps := splitPath(base)
	for i := range comps {
		p := strings.Join(comps[:i+1], "/")
		if !made {
			fi, err := t.dr.Lstat(p)
			switch {
			case err == nil && !fi.IsDir():
				return ErrNoLayer
			case errorsIsNotExist(err):
				made = true
			case err != nil:
				return err
			}
		}
		dirs = append(dirs, p)
	}

	// Headers and small files go to w in large writes (w is a pipe to
	// the compressor, and each write a hand-over between goroutines).
	bw := bufio.NewWriterSize(w, 256<<10)
	aw := archive.NewWriter(bw, dstRoot, archive.WriteOptions{Epoch: opt.Epoch})
	made = false
	for _, p := range dirs {
		if !made {
			if _, err := t.dr.Lstat(p); err == nil {
				if err := aw.WriteEntry(p); err != nil {
					return err
				}
				continue
			}
			made = true
		}
		uid, gid := opt.owner(0, 0)
		hdr := &tar.Header{Typeflag: tar.TypeDir, Name: p, Mode: int64(t.dirMode()), Uid: uid, Gid: gid, ModTime: opt.now()}
		if err := aw.WriteFrom(hdr, -1, nil); err != nil {
			return err
		}
	}
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	lw := &layerWriter{copier: copier{tree: t, ctxSrc: src.IsContext}, top: top, links: map[devIno]string{},
		ctx: wctx, q: make(chan *entry, layerQueue), readers: make(chan struct{}, layerReaders)}
	written := make(chan error, 1)
	go func() { written <- lw.writeAll(aw, cancel) }()
	walkErr := walkItem(newWalker(wctx, src, p.pm, lw), p.sr, it, cmd, src.IsContext)
	close(lw.q)
	if err := <-written; err != nil {
		return err // the cause; the walk's is "canceled"
	}
	if walkErr != nil {
		return walkErr
	}
	if err := aw.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

// Layer's pipeline: the walk (getdents, lstat, open) runs in the caller's
// goroutine, up to layerReaders goroutines read small files ahead (their
// xattrs and contents, up to layerReadAhead bytes each), and one writes
// the entries to the tar in the walk's order. On two cores this takes
// about a fifth off 50,000 small files against doing it all in turn.
const (
	layerQueue     = 256
	layerReaders   = 4
	layerReadAhead = 64 << 10
)

// layerWriter is the visitor of Layer: each entry of the walk goes to the
// tar with the metadata Copy would give it (copier.meta).
type layerWriter struct {
	copier
	top     string
	dirs    []string // the destination of each directory entered
	links   map[devIno]string
	ctx     context.Context
	q       chan *entry
	readers chan struct{} // a slot per read-ahead goroutine
}

// entry is one tar entry on its way: its header, and for a regular file
// either its xattrs and contents read ahead (when ready is closed) or the
// open source file, which the writer streams and closes.
type entry struct {
	hdr   *tar.Header
	xs    map[string]string
	data  []byte
	fd    int // -1: none
	srel  string
	err   error
	ready chan struct{} // nil: ready now
}

// push queues e for the writer; once the writer has failed it drops e.
func (l *layerWriter) push(e *entry) error {
	select {
	case l.q <- e:
		return nil
	case <-l.ctx.Done():
		if e.ready == nil && e.fd >= 0 {
			unix.Close(e.fd)
		}
		return context.Cause(l.ctx)
	}
}

// writeAll writes the queued entries in order until the queue is closed.
// After a failure (its own or a reader's) it cancels the walk and only
// closes what is left.
func (l *layerWriter) writeAll(aw *archive.Writer, cancel context.CancelCauseFunc) error {
	var failed error
	for e := range l.q {
		if e.ready != nil {
			<-e.ready
		}
		if failed == nil {
			failed = e.err
			if failed == nil {
				failed = e.write(aw)
			}
			if failed != nil {
				cancel(failed)
			}
		}
		if e.fd >= 0 {
			unix.Close(e.fd)
		}
	}
	return failed
}

func (e *entry) write(aw *archive.Writer) error {
	var err error
	switch {
	case e.data != nil:
		err = aw.WriteBytes(e.hdr, e.data, e.xs)
	case e.fd >= 0:
		if e.xs, err = copiedXattrs(e.fd, e.srel); err == nil {
			err = aw.WriteFrom(e.hdr, e.fd, e.xs)
		}
	default:
		err = aw.WriteFrom(e.hdr, -1, e.xs)
	}
	if err != nil && e.fd >= 0 {
		return &os.PathError{Op: "copy", Path: e.srel, Err: err}
	}
	return err
}

func (l *layerWriter) enter(n *node) error {
	if n.rel == "" {
		// A directory item's new destination: 0755 or --chmod, owned by
		// --chown or 0:0, the source's mtime; no xattrs (enterTop).
		l.dirs = append(l.dirs, l.top)
		uid, gid := l.opt.owner(0, 0)
		_, _, _, mtime := l.meta(&n.st)
		return l.push(&entry{hdr: &tar.Header{Typeflag: tar.TypeDir, Name: l.top, Mode: int64(l.dirMode()), Uid: uid, Gid: gid, ModTime: mtime}, fd: -1})
	}
	rel := joinRel(l.dirs[len(l.dirs)-1], n.name)
	l.dirs = append(l.dirs, rel)
	uid, gid, mode, mtime := l.meta(&n.st)
	xs, err := copiedXattrs(n.fd, n.srel)
	if err != nil {
		return err
	}
	return l.push(&entry{hdr: &tar.Header{Typeflag: tar.TypeDir, Name: rel, Mode: int64(mode), Uid: uid, Gid: gid, ModTime: mtime}, xs: xs, fd: -1})
}

func (l *layerWriter) leave(*node) error {
	l.dirs = l.dirs[:len(l.dirs)-1]
	return nil
}

func (l *layerWriter) leaf(n *node) error {
	rel := l.top
	if n.rel != "" {
		rel = joinRel(l.dirs[len(l.dirs)-1], n.name)
	}
	uid, gid, mode, mtime := l.meta(&n.st)
	e := &entry{hdr: &tar.Header{Name: rel, Mode: int64(mode), Uid: uid, Gid: gid, ModTime: mtime}, fd: -1, srel: n.srel}
	hdr := e.hdr
	switch n.st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		if n.st.Nlink > 1 {
			key := devIno{uint64(n.st.Dev), n.st.Ino}
			if first, ok := l.links[key]; ok {
				hdr.Typeflag, hdr.Linkname = tar.TypeLink, first
				return l.push(e)
			}
			l.links[key] = rel
		}
		sfd, err := openat(n.dirfd, n.name, flagRead, 0)
		if err != nil {
			return &os.PathError{Op: "copy", Path: n.srel, Err: err}
		}
		// The size walked: a file cut short meanwhile is an error, one
		// grown is cut at it.
		hdr.Typeflag, hdr.Size = tar.TypeReg, n.st.Size
		if n.st.Size > layerReadAhead {
			e.fd = sfd
			return l.push(e)
		}
		e.ready = make(chan struct{})
		select {
		case l.readers <- struct{}{}:
		case <-l.ctx.Done():
			unix.Close(sfd)
			return context.Cause(l.ctx)
		}
		go func() {
			defer func() { <-l.readers; close(e.ready) }()
			defer unix.Close(sfd)
			if e.xs, e.err = copiedXattrs(sfd, e.srel); e.err == nil {
				e.data, e.err = readSize(sfd, hdr.Size)
			}
			if e.err != nil {
				e.err = &os.PathError{Op: "copy", Path: e.srel, Err: e.err}
			}
		}()
		return l.push(e)
	case unix.S_IFLNK:
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, n.link
	case unix.S_IFCHR, unix.S_IFBLK:
		hdr.Typeflag = tar.TypeChar
		if n.st.Mode&unix.S_IFMT == unix.S_IFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(n.st.Rdev)), int64(unix.Minor(n.st.Rdev))
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	default:
		return nil // sockets are not copied
	}
	return l.push(e)
}

// readSize reads exactly size bytes of fd (a file shorter than that is
// io.ErrUnexpectedEOF); never nil, so an empty file is data too.
func readSize(fd int, size int64) ([]byte, error) {
	b := make([]byte, size)
	for off := 0; off < len(b); {
		n, err := unix.Read(fd, b[off:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, io.ErrUnexpectedEOF
		}
		off += n
	}
	return b, nil
}

// copiedXattrs are the xattrs of the open source fd that Copy copies
// (copyXattrs) and a layer keeps.
func copiedXattrs(fd int, name string) (map[string]string, error) {
	xs, err := archive.FdXattrs(fd, name)
	for k := range xs {
		if skipXattr(k) {
			delete(xs, k)
		}
	}
	return xs, err
}

package snapshot

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/bldbuild/bld/internal/archive"
)

// changeKind says how a change is written to a layer.
type changeKind uint8

const (
	changeAdd      changeKind = iota // the entry as it is on disk
	changeWhiteout                   // the entry was deleted: ".wh.NAME"
	changeOpaque                     // the dir hides what was below it: ".wh..wh..opq"
)

// change is one entry of a layer. path is slash-separated and relative to
// the snapshot root; for changeOpaque it is the directory.
type change struct {
	path string
	kind changeKind
}

func (c change) tarName() string {
	switch c.kind {
	case changeWhiteout:
		dir, base := path.Split(c.path)
		return dir + whiteoutPfx + base
	case changeOpaque:
		return c.path + "/" + opaqueMarker
	}
	return c.path
}

// sortKey orders a layer as a depth-first walk with sorted directories:
// parents before children, and "a/b" before "a-b" (so "/" sorts below
// every byte). An opaque marker comes right after its directory, before
// any of its children, so unpackers clear the dir before filling it.
func (c change) sortKey() string {
	if c.kind == changeOpaque {
		return strings.ReplaceAll(c.path, "/", "\x00") + "\x00"
	}
	return strings.ReplaceAll(c.tarName(), "/", "\x00")
}

// sortChanges sorts changes into layer order and drops duplicates.
func sortChanges(cs []change) []change {
	type keyed struct {
		key string
		c   change
	}
	ks := make([]keyed, len(cs))
	for i, c := range cs {
		ks[i] = keyed{c.sortKey(), c}
	}
	slices.SortFunc(ks, func(a, b keyed) int { return strings.Compare(a.key, b.key) })
	ks = slices.CompactFunc(ks, func(a, b keyed) bool { return a.key == b.key })
	out := cs[:0]
	for _, k := range ks {
		out = append(out, k.c)
	}
	return out
}

// writeLayer writes changes, in layer order, with internal/archive's
// deterministic writer, reading entries from root.
func writeLayer(ctx context.Context, w io.Writer, root string, changes []change, opt DiffOptions) error {
	changes = sortChanges(changes)
	// Headers and small files come in pieces of 512 bytes: batch them, so
	// that w (a pipe to a compressor, often) sees few large writes.
	bw := bufio.NewWriterSize(w, 256<<10)
	aw := archive.NewWriter(bw, root, archive.WriteOptions{Epoch: opt.Epoch})
	for i, c := range changes {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		var err error
		if c.kind != changeAdd {
			err = aw.WriteWhiteout(c.tarName())
		} else {
			err = aw.WriteEntry(c.path)
		}
		if err != nil {
			return err
		}
	}
	if err := aw.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

// overlayChanges lists the layer of an upper dir: every entry in it, with
// overlay whiteouts (0/0 character devices) as whiteouts and opaque dirs
// followed by an opaque marker when something below could be hidden.
// Without lowers nothing is converted: there is nothing below to hide.
func overlayChanges(ctx context.Context, upper string, lowers []string) ([]change, error) {
	return overlayWalk(ctx, upper, lowers, false)
}

// errChanged ends overlayWalk at the first change when asked to.
var errChanged = errors.New("changed")

// overlayWalk is overlayChanges; with first it returns errChanged as soon
// as it meets a change that will be in the layer (any entry but a
// directory that overlayChanges leaves out), reading no further.
func overlayWalk(ctx context.Context, upper string, lowers []string, first bool) ([]change, error) {
	lc := &lowerCheck{dirs: lowers}
	defer lc.close()
	var changes []change
	var walk func(rel string) error
	walk = func(rel string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		dir := filepath.Join(upper, filepath.FromSlash(rel))
		ents, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range ents {
			p := path.Join(rel, e.Name())
			if t := e.Type(); t.IsRegular() || t&fs.ModeSymlink != 0 {
				// The directory entry's type is all a file or a link
				// needs here (the layer writer stats it).
				changes = append(changes, change{p, changeAdd})
				if first {
					return errChanged
				}
				continue
			}
			full := filepath.Join(dir, e.Name())
			var st unix.Stat_t
			if err := unix.Lstat(full, &st); err != nil {
				return &os.PathError{Op: "lstat", Path: full, Err: err}
			}
			mode := st.Mode & unix.S_IFMT
			if len(lowers) > 0 && mode == unix.S_IFCHR && st.Rdev == 0 {
				changes = append(changes, change{p, changeWhiteout})
				if first {
					return errChanged
				}
				continue
			}
			at := len(changes)
			changes = append(changes, change{p, changeAdd})
			if mode != unix.S_IFDIR {
				if first {
					return errChanged
				}
				continue
			}
			opaque := false
			if len(lowers) > 0 {
				o, err := isOpaque(full)
				if err != nil {
					return err
				}
				// Overlay marks new dirs opaque too, and a dir removed
				// and made again; the marker is needed only where a
				// lower's dir has something to hide (the native
				// differ, comparing trees, writes none otherwise).
				if o && lc.hidesEntries(p) {
					opaque = true
					changes = append(changes, change{p, changeOpaque})
					if first {
						return errChanged
					}
				}
			}
			if err := walk(p); err != nil {
				return err
			}
			// A directory that is only in the upper dir because something
			// below it was copied up and then removed again (a mount
			// point the sandbox made, a file written and deleted) is not
			// a change: leave it out when nothing below it changed and
			// its metadata equals the lower's.
			if !opaque && len(changes) == at+1 && lc.sameDir(p, &st) {
				changes = changes[:at]
			} else if first {
				return errChanged
			}
		}
		return nil
	}
	return changes, walk("")
}

// nativeDiffer compares a snapshot tree with its parent's.
type nativeDiffer struct {
	ctx              context.Context
	oldRoot, newRoot string
	since            int64 // inodes with a ctime before this are unchanged since the copy
	changes          []change
	inodes           map[fileID][]string // paths of multiply-linked files in the new tree
	changedInodes    map[fileID]bool
}

// nativeChanges lists the changes from the tree at oldRoot ("" for none)
// to the tree at newRoot. A changed file with other links in the new tree
// brings those along, so the layer keeps the link; every changed entry
// brings its parent dirs.
func nativeChanges(ctx context.Context, oldRoot, newRoot string, since int64) ([]change, error) {
	d := &nativeDiffer{ctx: ctx, oldRoot: oldRoot, newRoot: newRoot, since: since,
		inodes: map[fileID][]string{}, changedInodes: map[fileID]bool{}}
	if err := d.dir("", oldRoot != ""); err != nil {
		return nil, err
	}
	for id := range d.changedInodes {
		for _, p := range d.inodes[id] {
			d.changes = append(d.changes, change{p, changeAdd})
		}
	}
	parents := map[string]bool{}
	for _, c := range d.changes {
		for dir := path.Dir(c.path); dir != "." && !parents[dir]; dir = path.Dir(dir) {
			parents[dir] = true
		}
	}
	for dir := range parents {
		d.changes = append(d.changes, change{dir, changeAdd})
	}
	return d.changes, nil
}

func (d *nativeDiffer) dir(rel string, oldIsDir bool) error {
	if err := d.ctx.Err(); err != nil {
		return err
	}
	newNames, err := archive.ReadDirNames(filepath.Join(d.newRoot, filepath.FromSlash(rel)))
	if err != nil {
		return err
	}
	var oldNames []string
	if oldIsDir {
		if oldNames, err = archive.ReadDirNames(filepath.Join(d.oldRoot, filepath.FromSlash(rel))); err != nil {
			return err
		}
	}
	inOld := map[string]bool{}
	for _, n := range oldNames {
		inOld[n] = true
	}
	inNew := map[string]bool{}
	for _, n := range newNames {
		inNew[n] = true
	}
	for _, n := range oldNames {
		if !inNew[n] {
			d.changes = append(d.changes, change{path.Join(rel, n), changeWhiteout})
		}
	}
	for _, n := range newNames {
		p := path.Join(rel, n)
		np := filepath.Join(d.newRoot, filepath.FromSlash(p))
		var nst unix.Stat_t
		if err := unix.Lstat(np, &nst); err != nil {
			return &os.PathError{Op: "lstat", Path: np, Err: err}
		}
		isDir := nst.Mode&unix.S_IFMT == unix.S_IFDIR
		if nst.Mode&unix.S_IFMT == unix.S_IFREG && nst.Nlink > 1 {
			d.inodes[idOf(&nst)] = append(d.inodes[idOf(&nst)], p)
		}
		var ost unix.Stat_t
		if inOld[n] {
			op := filepath.Join(d.oldRoot, filepath.FromSlash(p))
			if err := unix.Lstat(op, &ost); err != nil {
				return &os.PathError{Op: "lstat", Path: op, Err: err}
			}
			same, err := d.same(p, &ost, &nst)
			if err != nil {
				return err
			}
			if !same {
				d.add(p, &nst)
			}
		} else {
			d.add(p, &nst)
		}
		if isDir {
			if err := d.dir(p, inOld[n] && ost.Mode&unix.S_IFMT == unix.S_IFDIR); err != nil {
				return err
			}
		}
	}
	return nil
}

func (d *nativeDiffer) add(p string, st *unix.Stat_t) {
	d.changes = append(d.changes, change{p, changeAdd})
	if st.Mode&unix.S_IFMT == unix.S_IFREG && st.Nlink > 1 {
		d.changedInodes[idOf(st)] = true
	}
}

// same reports whether entry p would be written to a layer the same way
// from both trees.
func (d *nativeDiffer) same(p string, ost, nst *unix.Stat_t) (bool, error) {
	if ost.Mode != nst.Mode || ost.Uid != nst.Uid || ost.Gid != nst.Gid || ost.Mtim.Sec != nst.Mtim.Sec {
		return false, nil
	}
	op := filepath.Join(d.oldRoot, filepath.FromSlash(p))
	np := filepath.Join(d.newRoot, filepath.FromSlash(p))
	switch nst.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		if ost.Size != nst.Size {
			return false, nil
		}
	case unix.S_IFLNK:
		ot, err := os.Readlink(op)
		if err != nil {
			return false, err
		}
		nt, err := os.Readlink(np)
		if err != nil {
			return false, err
		}
		if ot != nt {
			return false, nil
		}
	case unix.S_IFCHR, unix.S_IFBLK:
		if ost.Rdev != nst.Rdev {
			return false, nil
		}
	}
	ox, err := lxattrs(op)
	if err != nil {
		return false, err
	}
	nx, err := lxattrs(np)
	if err != nil {
		return false, err
	}
	if len(ox) != len(nx) {
		return false, nil
	}
	for k, v := range ox {
		if w, ok := nx[k]; !ok || w != v {
			return false, nil
		}
	}
	if nst.Mode&unix.S_IFMT != unix.S_IFREG {
		return true, nil
	}
	// Metadata is equal. The copy kept the exact mtime and predates
	// d.since; a file equal in both ways is untouched. Otherwise (written
	// within the same second, or written keeping its mtime) compare data.
	if ost.Mtim == nst.Mtim && nst.Ctim.Nano() < d.since {
		return true, nil
	}
	return sameContent(op, np)
}

func sameContent(a, b string) (bool, error) {
	fa, err := os.OpenFile(a, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return false, err
	}
	defer fa.Close()
	fb, err := os.OpenFile(b, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return false, err
	}
	defer fb.Close()
	ba, bb := make([]byte, 64*1024), make([]byte, 64*1024)
	for {
		na, ea := io.ReadFull(fa, ba)
		nb, eb := io.ReadFull(fb, bb)
		if !bytes.Equal(ba[:na], bb[:nb]) {
			return false, nil
		}
		aEnd := errors.Is(ea, io.EOF) || errors.Is(ea, io.ErrUnexpectedEOF)
		bEnd := errors.Is(eb, io.EOF) || errors.Is(eb, io.ErrUnexpectedEOF)
		if ea != nil && !aEnd {
			return false, ea
		}
		if eb != nil && !bEnd {
			return false, eb
		}
		if aEnd || bEnd {
			return aEnd == bEnd, nil
		}
	}
}

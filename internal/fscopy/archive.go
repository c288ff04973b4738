package fscopy

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"golang.org/x/sys/unix"
)

// Magic numbers of the compressions ADD understands.
var (
	magicGzip  = []byte{0x1f, 0x8b}
	magicBzip2 = []byte("BZh")
	magicXz    = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
	magicZstd  = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// archive is an open tar stream whose first header has been read.
type archive struct {
	tr    *tar.Reader
	first *tar.Header
	close func()
}

// openArchive reports whether r holds a tar archive, plain or compressed
// (gzip, bzip2, xz, zstd), judged by content like Docker: the stream must
// decompress and start with a valid tar header. A non-archive is not an
// error (ADD copies it as a file); an empty archive counts as a non-archive.
func openArchive(r io.Reader) (*archive, bool) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, _ := br.Peek(6)
	var dr io.Reader = br
	closeFn := func() {}
	switch {
	case bytes.HasPrefix(magic, magicGzip):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, false
		}
		dr, closeFn = zr, func() { zr.Close() }
	case bytes.HasPrefix(magic, magicBzip2):
		dr = bzip2.NewReader(br)
	case bytes.HasPrefix(magic, magicXz):
		xr, err := xz.NewReader(br)
		if err != nil {
			return nil, false
		}
		dr = xr
	case bytes.HasPrefix(magic, magicZstd):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(1<<30))
		if err != nil {
			return nil, false
		}
		dr, closeFn = zr, zr.Close
	}
	tr := tar.NewReader(dr)
	hdr, err := tr.Next()
	if err != nil {
		closeFn()
		return nil, false
	}
	return &archive{tr: tr, first: hdr, close: closeFn}, true
}

// extractFile extracts the item it into dest when it is an archive. done
// is false when it is not one, to be copied as a file.
func (c *copier) extractFile(ctx context.Context, sr *os.Root, it *item, d *dest) (done bool, err error) {
	f, err := sr.OpenFile(it.resolved, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return false, err
	}
	defer f.Close()
	a, ok := openArchive(f)
	if !ok {
		return false, nil
	}
	defer a.close()
	return true, c.extract(ctx, a, d.rel, 0)
}

// extract writes the archive a into the directory rel of the tree
// (created with parents as needed). Entries are confined to rel: a name
// with ".." that leaves it is an error, absolute names are taken as
// relative to it, and links are followed only while they stay inside it
// (an absolute link, or one that climbs out, cannot be written through).
// Owners come from the archive unless --chown; --chmod does not apply
// (BuildKit), not even to the directories made for rel, which are 0755.
// limit > 0 caps the bytes written (fuzzing).
func (t *tree) extract(ctx context.Context, a *archive, rel string, limit int64) error {
	if err := t.mkdirsMode(rel, 0o755); err != nil {
		return err
	}
	r, err := t.dr.OpenRoot(rel)
	if err != nil {
		return err
	}
	defer r.Close()
	x := &extractor{t: t, r: r, limit: limit}
	hdr := a.first
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := x.entry(a.tr, hdr); err != nil {
			return err
		}
		if hdr, err = a.tr.Next(); err == io.EOF {
			break
		} else if err != nil {
			return fmt.Errorf("read archive: %w", err)
		}
	}
	return x.finish()
}

type extractor struct {
	t       *tree
	r       *os.Root // the extraction directory
	limit   int64
	written int64
	dirs    []dirTime
}

type dirTime struct {
	name  string
	mtime time.Time
}

// entryName cleans an entry name to a path relative to the extraction
// directory ("." for itself).
func entryName(name string) (string, error) {
	c := path.Clean(name)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("archive entry %q: path leaves the destination", name)
	}
	c = strings.TrimLeft(c, "/")
	if c == "" {
		c = "."
	}
	return c, nil
}

func (x *extractor) entry(tr *tar.Reader, hdr *tar.Header) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	name, err := entryName(hdr.Name)
	if err != nil {
		return err
	}
	if name == "." {
		return nil // the archive's root: the destination stays as it is
	}
	wrap := func(err error) error {
		if err == nil {
			return nil
		}
		return fmt.Errorf("archive entry %q: %w", hdr.Name, err)
	}
	pf, err := x.parent(path.Dir(name))
	if err != nil {
		return wrap(err)
	}
	defer pf.Close()
	pfd, base := int(pf.Fd()), path.Base(name)

	// An existing entry is replaced, except a directory by a directory.
	var st unix.Stat_t
	if lstatAt(pfd, base, &st) == nil && !(isDir(&st) && hdr.Typeflag == tar.TypeDir) {
		if isDir(&st) {
			err = x.r.RemoveAll(name)
		} else {
			err = unix.Unlinkat(pfd, base, 0)
		}
		if err != nil {
			return wrap(err)
		}
	}
	uid, gid := x.t.opt.owner(hdr.Uid, hdr.Gid)
	mode := uint32(hdr.Mode) & 0o7777
	mtime := x.t.opt.clamp(hdr.ModTime)
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := unix.Mkdirat(pfd, base, 0o700); err != nil && err != unix.EEXIST {
			return wrap(err)
		}
		f, err := openDirAt(pfd, base)
		if err != nil {
			return wrap(err)
		}
		defer f.Close()
		if err := x.meta(int(f.Fd()), uid, gid, mode, hdr); err != nil {
			return wrap(err)
		}
		x.dirs = append(x.dirs, dirTime{name, mtime})
		return nil
	case tar.TypeReg, tar.TypeGNUSparse: // the reader turns old TypeRegA into TypeReg
		fd, err := openat(pfd, base, flagCreate, 0o600)
		if err != nil {
			return wrap(err)
		}
		f := os.NewFile(uintptr(fd), name)
		defer f.Close()
		var src io.Reader = tr
		if x.limit > 0 {
			src = io.LimitReader(tr, x.limit-x.written)
		}
		n, err := io.Copy(f, src)
		x.written += n
		if err != nil {
			return wrap(err)
		}
		if x.limit > 0 && x.written >= x.limit {
			return wrap(errors.New("archive too large"))
		}
		if err := x.meta(fd, uid, gid, mode, hdr); err != nil {
			return wrap(err)
		}
		return wrap(futimes(fd, mtime))
	case tar.TypeSymlink:
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return wrap(err)
		}
		if err := chownErr(unix.Fchownat(pfd, base, uid, gid, unix.AT_SYMLINK_NOFOLLOW)); err != nil {
			return wrap(err)
		}
		return wrap(lutimesAt(pfd, base, mtime))
	case tar.TypeLink:
		target, err := entryName(hdr.Linkname)
		if err != nil {
			return err
		}
		tf, err := openDirIn(x.r, path.Dir(target))
		if err != nil {
			return wrap(err)
		}
		defer tf.Close()
		return wrap(unix.Linkat(int(tf.Fd()), path.Base(target), pfd, base, 0))
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		typ := map[byte]uint32{tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO}[hdr.Typeflag]
		dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
		if err := unix.Mknodat(pfd, base, typ|mode, int(dev)); err != nil {
			return wrap(err)
		}
		if err := chownErr(unix.Fchownat(pfd, base, uid, gid, unix.AT_SYMLINK_NOFOLLOW)); err != nil {
			return wrap(err)
		}
		if err := unix.Fchmodat(pfd, base, mode, 0); err != nil {
			return wrap(err)
		}
		return wrap(lutimesAt(pfd, base, mtime))
	}
	return wrap(fmt.Errorf("unsupported entry type %q", hdr.Typeflag))
}

// parent opens the directory dir of the extraction root, creating what is
// missing (0755, owned by --chown or 0:0). os.Root follows links only while
// they stay inside the extraction directory.
func (x *extractor) parent(dir string) (*os.File, error) {
	if dir != "." {
		comps := splitPath(dir)
		for i := range comps {
			p := strings.Join(comps[:i+1], "/")
			if _, err := x.r.Stat(p); err == nil {
				continue
			} else if !errorsIsNotExist(err) {
				return nil, err
			}
			if err := x.r.Mkdir(p, 0o700); err != nil {
				return nil, err
			}
			uid, gid := x.t.opt.owner(0, 0)
			if err := x.r.Lchown(p, uid, gid); chownErr(err) != nil {
				return nil, err
			}
			if err := x.r.Chmod(p, 0o755); err != nil {
				return nil, err
			}
			x.dirs = append(x.dirs, dirTime{p, x.t.opt.now()})
		}
	}
	f, err := openDirIn(x.r, dir)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil || !isDir(&st) {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: dir, Err: unix.ENOTDIR}
	}
	return f, nil
}

// meta sets owner, mode and PAX xattrs on an open entry.
func (x *extractor) meta(fd, uid, gid int, mode uint32, hdr *tar.Header) error {
	if err := chownErr(unix.Fchown(fd, uid, gid)); err != nil {
		return err
	}
	if err := unix.Fchmod(fd, mode); err != nil {
		return err
	}
	for k, v := range hdr.PAXRecords {
		if name, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok && !skipXattr(name) {
			_ = unix.Fsetxattr(fd, name, []byte(v), 0) // best effort, like BuildKit
		}
	}
	return nil
}

// finish sets directory mtimes, innermost first, once every entry is in.
func (x *extractor) finish() error {
	for i := len(x.dirs) - 1; i >= 0; i-- {
		d := x.dirs[i]
		pf, err := openDirIn(x.r, path.Dir(d.name))
		if err != nil {
			continue // replaced by a later entry
		}
		var st unix.Stat_t
		pfd := int(pf.Fd())
		if lstatAt(pfd, path.Base(d.name), &st) == nil && isDir(&st) {
			err = lutimesAt(pfd, path.Base(d.name), d.mtime)
		}
		pf.Close()
		if err != nil {
			return &fs.PathError{Op: "chtimes", Path: d.name, Err: err}
		}
	}
	return nil
}

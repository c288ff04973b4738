package archive

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// WriteOptions are the choices of a Writer.
type WriteOptions struct {
	// Epoch, if set, clamps every mtime to it (SOURCE_DATE_EPOCH).
	Epoch *time.Time
	// SkipDevices leaves out character and block devices and FIFOs
	// (cache mounts: not content).
	SkipDevices bool
}

// Writer writes entries read from a directory tree as a deterministic tar
// (see the package doc). The caller gives the entries in order; WriteDir
// does it for a whole tree. Not safe for concurrent use.
type Writer struct {
	tw    *tar.Writer
	root  string
	opt   WriteOptions
	links map[[2]uint64]string // dev, inode -> first name, for hard links
	buf   []byte               // file contents on their way to tw
}

// NewWriter returns a Writer of entries under root to w.
func NewWriter(w io.Writer, root string, opt WriteOptions) *Writer {
	return &Writer{tw: tar.NewWriter(w), root: root, opt: opt, links: map[[2]uint64]string{}}
}

// Time returns t as the tar holds it: whole seconds, UTC, clamped to the
// epoch.
func (w *Writer) Time(t time.Time) time.Time {
	if w.opt.Epoch != nil && t.After(*w.opt.Epoch) {
		t = *w.opt.Epoch
	}
	return time.Unix(t.Unix(), 0).UTC()
}

// WriteWhiteout writes name (".wh.X" or ".wh..wh..opq" under its
// directory) as the empty regular file an OCI whiteout is, dated the Unix
// epoch.
func (w *Writer) WriteWhiteout(name string) error {
	return w.tw.WriteHeader(&tar.Header{
		Typeflag: tar.TypeReg,
		Name:     name,
		ModTime:  w.Time(time.Unix(0, 0)),
		Format:   tar.FormatPAX,
	})
}

// WriteEntry writes the entry at rel (slash-separated, relative to the
// root) as it is on disk, not following a final symlink: a directory
// (name ending in "/"), a regular file with its content or a hard link to
// the first name written of its inode, a symlink, a device or a FIFO.
// Sockets have no tar form and are skipped.
func (w *Writer) WriteEntry(rel string) error {
	p := filepath.Join(w.root, filepath.FromSlash(rel))
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return &os.PathError{Op: "lstat", Path: p, Err: err}
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO:
		if w.opt.SkipDevices {
			return nil
		}
	}
	hdr := &tar.Header{
		Name:    rel,
		Mode:    int64(st.Mode & 07777),
		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: w.Time(time.Unix(st.Mtim.Unix())),
		Format:  tar.FormatPAX,
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		hdr.Typeflag = tar.TypeDir
		hdr.Name += "/"
	case unix.S_IFREG:
		hdr.Typeflag = tar.TypeReg
		hdr.Size = st.Size
		if st.Nlink > 1 {
			id := [2]uint64{uint64(st.Dev), st.Ino}
			if first, ok := w.links[id]; ok {
				hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
			} else {
				w.links[id] = rel
			}
		}
	case unix.S_IFLNK:
		target, err := os.Readlink(p)
		if err != nil {
			return err
		}
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
	case unix.S_IFCHR, unix.S_IFBLK:
		hdr.Typeflag = tar.TypeChar
		if st.Mode&unix.S_IFMT == unix.S_IFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(uint64(st.Rdev))), int64(unix.Minor(uint64(st.Rdev)))
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	default:
		return nil // sockets have no tar form
	}
	// A regular file with contents is opened once: its xattrs and data
	// are read from the descriptor (no second walk of the path, no
	// *os.File to set up per file of a layer of many small ones).
	fd := -1
	var xs map[string]string
	var err error
	if hdr.Typeflag == tar.TypeReg && hdr.Size > 0 {
		if fd, err = openNoFollow(p); err != nil {
			return &os.PathError{Op: "open", Path: p, Err: err}
		}
		defer unix.Close(fd)
		xs, err = fdXattrs(fd, p)
	} else {
		xs, err = Lxattrs(p)
	}
	if err != nil {
		return err
	}
	if err := w.writeHeader(hdr, xs); err != nil {
		return err
	}
	if fd < 0 {
		return nil
	}
	if err := w.copyData(fd, hdr.Size); err != nil {
		return fmt.Errorf("%s: %w", rel, err)
	}
	return nil
}

// WriteFrom writes hdr, an entry of another tree given with the owner,
// mode and mtime its writer decided (a COPY's, which writes its result
// straight to a layer: fscopy.Layer), and then, for a regular file with a
// size, that many bytes read from fd. The Writer sets the format and
// clamps the time as for WriteEntry, and adds xattrs as PAX records.
func (w *Writer) WriteFrom(hdr *tar.Header, fd int, xattrs map[string]string) error {
	if err := w.writeHeader(hdr, xattrs); err != nil {
		return err
	}
	if hdr.Typeflag != tar.TypeReg || hdr.Size == 0 {
		return nil
	}
	if err := w.copyData(fd, hdr.Size); err != nil {
		return fmt.Errorf("%s: %w", hdr.Name, err)
	}
	return nil
}

// WriteBytes is WriteFrom for a regular file whose content, data, was
// read already: hdr.Size is len(data).
func (w *Writer) WriteBytes(hdr *tar.Header, data []byte, xattrs map[string]string) error {
	hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(data))
	if err := w.writeHeader(hdr, xattrs); err != nil {
		return err
	}
	if _, err := w.tw.Write(data); err != nil {
		return fmt.Errorf("%s: %w", hdr.Name, err)
	}
	return nil
}

// writeHeader is the header part of WriteFrom and WriteBytes.
func (w *Writer) writeHeader(hdr *tar.Header, xattrs map[string]string) error {
	hdr.Format = tar.FormatPAX
	hdr.ModTime = w.Time(hdr.ModTime)
	if hdr.Typeflag == tar.TypeDir && !strings.HasSuffix(hdr.Name, "/") {
		hdr.Name += "/"
	}
	for k, v := range xattrs {
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = map[string]string{}
		}
		hdr.PAXRecords[paxXattr+k] = v
	}
	if err := w.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("%s: %w", hdr.Name, err)
	}
	return nil
}

// FdXattrs returns the xattrs of the open file fd (named name in errors)
// that belong in a tar.
func FdXattrs(fd int, name string) (map[string]string, error) { return fdXattrs(fd, name) }

// openNoFollow opens the regular file p for reading, never following a
// final symlink.
func openNoFollow(p string) (int, error) {
	for {
		fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// copyData writes size bytes of fd to the tar, with the Writer's buffer;
// a file that is shorter than size is an error.
func (w *Writer) copyData(fd int, size int64) error {
	if w.buf == nil {
		w.buf = make([]byte, 128<<10)
	}
	for size > 0 {
		b := w.buf
		if int64(len(b)) > size {
			b = b[:size]
		}
		n, err := unix.Read(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrUnexpectedEOF
		}
		if _, err := w.tw.Write(b[:n]); err != nil {
			return err
		}
		size -= int64(n)
	}
	return nil
}

// Close writes the tar trailer. It does not close the underlying writer.
func (w *Writer) Close() error { return w.tw.Close() }

// WriteDir writes the tree under dir (not dir itself) to w as a
// deterministic tar, in layer order: depth first, each directory's
// entries sorted by name.
func WriteDir(ctx context.Context, w io.Writer, dir string, opt WriteOptions) error {
	tw := NewWriter(w, dir, opt)
	n := 0
	var walk func(rel string) error
	walk = func(rel string) error {
		names, err := ReadDirNames(filepath.Join(dir, filepath.FromSlash(rel)))
		if err != nil {
			return err
		}
		for _, name := range names {
			if n++; n%256 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			p := path.Join(rel, name)
			if err := tw.WriteEntry(p); err != nil {
				return err
			}
			fi, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(p)))
			if err != nil {
				return err
			}
			if fi.IsDir() {
				if err := walk(p); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(""); err != nil {
		return err
	}
	return tw.Close()
}

// ReadDirNames returns the names in dir, sorted: the order of every
// deterministic walk (layers, diffs).
func ReadDirNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	return names, nil
}

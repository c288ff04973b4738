package remotecache

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/zstd"
)

// MountDir is a RUN cache mount to export: its id and the directory holding
// its content.
type MountDir struct {
	ID  string
	Dir string
}

// PackMount returns the content of dir as a layer: a deterministic tar
// (entries in path order, PAX, numeric owners, mtimes in whole seconds,
// hardlinks kept; sockets, pipes and devices left out) compressed with
// zstd. It reads dir when the layer is read or hashed, so dir must not
// change until the layer has been written. DiffID reads dir without
// compressing; Digest and Size compress it once, Compressed again.
func PackMount(dir string) (v1.Layer, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("pack %s: not a directory", dir)
	}
	return &mountLayer{dir: dir}, nil
}

// mountLayer is PackMount's layer.
type mountLayer struct {
	dir string

	diffOnce sync.Once
	diffID   v1.Hash
	diffErr  error

	digestOnce sync.Once
	digest     v1.Hash
	size       int64
	digestErr  error
}

var _ v1.Layer = (*mountLayer)(nil)

func (m *mountLayer) MediaType() (types.MediaType, error) { return types.OCILayerZStd, nil }

// DiffID hashes the tar of the directory.
func (m *mountLayer) DiffID() (v1.Hash, error) {
	m.diffOnce.Do(func() {
		h := sha256.New()
		if m.diffErr = writeTar(m.dir, h); m.diffErr == nil {
			m.diffID = sum(h)
		}
	})
	return m.diffID, m.diffErr
}

// Digest compresses the tar of the directory to hash it.
func (m *mountLayer) Digest() (v1.Hash, error) {
	m.compute()
	return m.digest, m.digestErr
}

// Size compresses the tar of the directory to count it.
func (m *mountLayer) Size() (int64, error) {
	m.compute()
	return m.size, m.digestErr
}

func (m *mountLayer) compute() {
	m.digestOnce.Do(func() {
		zh, th := sha256.New(), sha256.New()
		cw := &countWriter{w: zh}
		zw, err := newZstdWriter(cw)
		if err != nil {
			m.digestErr = err
			return
		}
		if err := writeTar(m.dir, io.MultiWriter(zw, th)); err != nil {
			zw.Close()
			m.digestErr = err
			return
		}
		if err := zw.Close(); err != nil {
			m.digestErr = err
			return
		}
		m.digest, m.size = sum(zh), cw.n
		m.diffOnce.Do(func() { m.diffID = sum(th) })
	})
}

// Compressed streams the tar of the directory through zstd.
func (m *mountLayer) Compressed() (io.ReadCloser, error) {
	pr, pw := io.Pipe()
	go func() {
		zw, err := newZstdWriter(pw)
		if err != nil {
			pw.CloseWithError(err)
			return
		}
		err = writeTar(m.dir, zw)
		if cerr := zw.Close(); err == nil {
			err = cerr
		}
		pw.CloseWithError(err)
	}()
	return pr, nil
}

// Uncompressed streams the tar of the directory.
func (m *mountLayer) Uncompressed() (io.ReadCloser, error) {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeTar(m.dir, pw)) }()
	return pr, nil
}

func newZstdWriter(w io.Writer) (*zstd.Encoder, error) {
	// The output is the same for any concurrency (checked with
	// klauspost/compress v1.20.4), so the digest is stable across machines.
	return zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(2))
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func sum(h hash.Hash) v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", h.Sum(nil))}
}

// writeTar writes the deterministic tar of dir's content to w.
func writeTar(dir string, w io.Writer) error {
	tw := tar.NewWriter(w)
	inodes := map[[2]uint64]string{} // dev, inode -> first name, for hardlinks
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		name := filepath.ToSlash(rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		var link string
		switch mode := fi.Mode(); {
		case mode.IsRegular(), mode.IsDir():
		case mode&fs.ModeSymlink != 0:
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		default:
			return nil // sockets, pipes, devices: not cache content
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		hdr.Name = name
		if fi.IsDir() {
			hdr.Name += "/"
		}
		hdr.Format = tar.FormatPAX
		hdr.Uname, hdr.Gname = "", ""
		hdr.ModTime = fi.ModTime().Truncate(time.Second)
		hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			hdr.Uid, hdr.Gid = int(st.Uid), int(st.Gid)
			if fi.Mode().IsRegular() && st.Nlink > 1 {
				key := [2]uint64{uint64(st.Dev), st.Ino}
				if first, ok := inodes[key]; ok {
					hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
				} else {
					inodes[key] = name
				}
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if hdr.Typeflag != tar.TypeReg {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		if _, err := io.CopyN(tw, f, hdr.Size); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// dirSize returns the total size of the regular files under dir.
func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			n += fi.Size()
		}
		return nil
	})
	return n, err
}

// UnpackMount extracts the cache mount layer l (see PackMount) into dir,
// creating dir if needed and replacing entries already there. Nothing is
// written outside dir: names that are absolute or have a ".." component,
// hardlinks to such names, and entries that would be reached through a
// symlink pointing out of dir are refused with an error naming the entry.
// Owners are restored when running as root. Entries before a refused one
// stay extracted.
func UnpackMount(ctx context.Context, l v1.Layer, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	rc, err := l.Uncompressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	u := unpacker{root: root, owner: os.Geteuid() == 0}
	tr := tar.NewReader(rc)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read cache mount tar: %w", err)
		}
		if err := u.entry(hdr, tr); err != nil {
			return fmt.Errorf("entry %q: %w", hdr.Name, err)
		}
	}
	// Directory modes and times last: a read-only directory must not stop
	// its own content being written, and writing it changes its mtime.
	for i := len(u.dirs) - 1; i >= 0; i-- {
		hdr := u.dirs[i]
		name, _ := entryName(hdr.Name)
		if err := root.Chmod(name, modeOf(hdr)); err != nil {
			return fmt.Errorf("entry %q: %w", hdr.Name, err)
		}
		if err := root.Chtimes(name, hdr.ModTime, hdr.ModTime); err != nil {
			return fmt.Errorf("entry %q: %w", hdr.Name, err)
		}
	}
	return nil
}

type unpacker struct {
	root  *os.Root
	owner bool          // restore owners (running as root)
	dirs  []*tar.Header // directories, to set their modes at the end
}

var errEscape = errors.New("path escapes the cache mount directory")

// entryName validates a tar entry name and returns it cleaned, relative to
// the root.
func entryName(n string) (string, error) {
	switch {
	case n == "":
		return "", errors.New("empty name")
	case strings.HasPrefix(n, "/"):
		return "", fmt.Errorf("absolute name: %w", errEscape)
	case strings.ContainsRune(n, 0):
		return "", errors.New("NUL in name")
	}
	for _, part := range strings.Split(n, "/") {
		if part == ".." {
			return "", fmt.Errorf("name has a .. component: %w", errEscape)
		}
	}
	return path.Clean(n), nil
}

func (u *unpacker) entry(hdr *tar.Header, r io.Reader) error {
	name, err := entryName(hdr.Name)
	if err != nil {
		return err
	}
	if name == "." {
		return nil // the root itself
	}
	root := u.root
	// os.Root refuses to follow a symlink out of the root here and below.
	if parent := path.Dir(name); parent != "." {
		if err := root.MkdirAll(parent, 0o755); err != nil {
			return err
		}
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		if fi, err := root.Lstat(name); err == nil && !fi.IsDir() {
			if err := root.Remove(name); err != nil {
				return err
			}
		}
		if err := root.Mkdir(name, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		u.dirs = append(u.dirs, hdr)
		return u.chown(name, hdr)
	case tar.TypeReg:
		if err := u.remove(name); err != nil {
			return err
		}
		// O_EXCL: never open through whatever is (or appears) at name.
		f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, r); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		if err := u.chown(name, hdr); err != nil {
			return err
		}
		if err := root.Chmod(name, modeOf(hdr)); err != nil {
			return err
		}
		return root.Chtimes(name, hdr.ModTime, hdr.ModTime)
	case tar.TypeSymlink:
		if err := u.remove(name); err != nil {
			return err
		}
		if err := root.Symlink(hdr.Linkname, name); err != nil {
			return err
		}
		return u.chown(name, hdr)
	case tar.TypeLink:
		target, err := entryName(hdr.Linkname)
		if err != nil {
			return fmt.Errorf("link target %q: %w", hdr.Linkname, err)
		}
		if err := u.remove(name); err != nil {
			return err
		}
		return root.Link(target, name)
	}
	return fmt.Errorf("unsupported entry type %q", hdr.Typeflag)
}

// remove removes what is at name, if anything, without following it.
func (u *unpacker) remove(name string) error {
	fi, err := u.root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return u.root.RemoveAll(name)
	}
	return u.root.Remove(name)
}

func (u *unpacker) chown(name string, hdr *tar.Header) error {
	if !u.owner {
		return nil
	}
	return u.root.Lchown(name, hdr.Uid, hdr.Gid)
}

// modeOf returns the permission bits of an entry, setuid, setgid and sticky
// included.
func modeOf(hdr *tar.Header) fs.FileMode {
	return hdr.FileInfo().Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
}

package exporter

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// Tar returns an Exporter that writes the image's final filesystem (the
// layers flattened, whiteouts applied) as one tar at the file dest, through
// a temporary file renamed at the end.
func Tar(dest string) Exporter {
	return ExporterFunc(func(ctx context.Context, img v1.Image) error {
		err := writeFileAtomic(dest, func(w io.Writer) error { return writeFlat(ctx, w, img) })
		if err != nil {
			return fmt.Errorf("rootfs tar %s: %w", dest, err)
		}
		return nil
	})
}

// TarTo returns an Exporter that writes the image's final filesystem as a
// tar to w, as Tar does to a file.
func TarTo(w io.Writer) Exporter {
	return ExporterFunc(func(ctx context.Context, img v1.Image) error {
		if err := writeFlat(ctx, w, img); err != nil {
			return fmt.Errorf("rootfs tar: %w", err)
		}
		return nil
	})
}

func writeFlat(ctx context.Context, w io.Writer, img v1.Image) error {
	rc := mutate.Extract(img)
	defer rc.Close()
	_, err := io.Copy(ctxWriter{ctx, w}, rc)
	return err
}

// Local returns an Exporter that writes the image's final filesystem (the
// layers flattened, whiteouts applied) into the directory dest, created if
// missing; what is already there is overwritten entry by entry. Every path
// stays inside dest: entries that would leave it through "..", an absolute
// path or a symlink are an error. Modes, times and (when run as root)
// ownership are kept. Device nodes, FIFOs and extended attributes are not
// written.
func Local(dest string) Exporter {
	return ExporterFunc(func(ctx context.Context, img v1.Image) error {
		if err := writeLocal(ctx, dest, img); err != nil {
			return fmt.Errorf("local output %s: %w", dest, err)
		}
		return nil
	})
}

type dirTime struct {
	name  string
	mtime time.Time
}

type hardlink struct {
	name, target string
}

func writeLocal(ctx context.Context, dest string, img v1.Image) error {
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return err
	}
	root, err := os.OpenRoot(dest)
	if err != nil {
		return err
	}
	defer root.Close()

	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	chown := os.Geteuid() == 0
	var dirs []dirTime
	// Extract emits upper layers first, so a hard link can come before its
	// target: links are made at the end.
	var links []hardlink
	for {
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			// Extract writes the tar trailer before it reports an error
			// (an unsafe path, a bad layer): the error comes after it.
			if _, err := io.Copy(io.Discard, rc); err != nil {
				return err
			}
			break
		}
		if err != nil {
			return err
		}
		name, err := cleanPath(hdr.Name)
		if err != nil {
			return err
		}
		if name == "." {
			continue
		}
		mode := hdr.FileInfo().Mode()
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := mkdir(root, name); err != nil {
				return err
			}
			dirs = append(dirs, dirTime{name, hdr.ModTime})
		case tar.TypeReg:
			if err := writeRegular(root, name, tr); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := prepare(root, name); err != nil {
				return err
			}
			if err := root.Symlink(hdr.Linkname, name); err != nil {
				return err
			}
		case tar.TypeLink:
			target, err := cleanPath(hdr.Linkname)
			if err != nil {
				return err
			}
			links = append(links, hardlink{name, target})
			continue
		default:
			continue // devices, FIFOs: not written (see Local)
		}
		if err := setAttrs(root, name, hdr, mode, chown); err != nil {
			return err
		}
	}
	for _, l := range links {
		if err := prepare(root, l.name); err != nil {
			return err
		}
		if err := root.Link(l.target, l.name); err != nil {
			return err
		}
	}
	// Directory times last: writing into a directory changes its mtime.
	for _, d := range dirs {
		if err := root.Chtimes(d.name, d.mtime, d.mtime); err != nil {
			return err
		}
	}
	return nil
}

// cleanPath returns a tar entry name as a clean relative path, or an error
// if it is absolute or leaves the root.
func cleanPath(p string) (string, error) {
	c := path.Clean(p)
	if path.IsAbs(c) || c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("tar entry %q: path outside the root", p)
	}
	return c, nil
}

// prepare makes the parent directories of name and removes what is at name
// unless it is a directory to be reused.
func prepare(root *os.Root, name string) error {
	if dir := path.Dir(name); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	fi, err := root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return root.RemoveAll(name)
	}
	return root.Remove(name)
}

func mkdir(root *os.Root, name string) error {
	if fi, err := root.Lstat(name); err == nil && fi.IsDir() {
		return nil
	}
	if err := prepare(root, name); err != nil {
		return err
	}
	return root.Mkdir(name, 0o755)
}

func writeRegular(root *os.Root, name string, r io.Reader) error {
	if err := prepare(root, name); err != nil {
		return err
	}
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	return errors.Join(err, f.Close())
}

// setAttrs sets owner, mode and mtime. The owner goes first: chown clears
// setuid and setgid bits.
func setAttrs(root *os.Root, name string, hdr *tar.Header, mode fs.FileMode, chown bool) error {
	if chown {
		if err := root.Lchown(name, hdr.Uid, hdr.Gid); err != nil {
			return err
		}
	}
	if hdr.Typeflag == tar.TypeSymlink {
		return nil // no lchmod or lutimes in os.Root; symlink modes do not matter
	}
	if err := root.Chmod(name, mode.Perm()|mode&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
		return err
	}
	if hdr.Typeflag == tar.TypeDir {
		return nil // at the end
	}
	return root.Chtimes(name, hdr.ModTime, hdr.ModTime)
}

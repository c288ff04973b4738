package build

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/bldbuild/bld/state"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bldbuild/bld/exporter"
	"github.com/bldbuild/bld/internal/compress"
)

// Import makes a one-layer image from a root filesystem and stores it
// under ref, as docker import: src is a directory, a tarball (gzip, zstd,
// bzip2, xz or plain), or "-" for stdin. The image is as old as epoch, or
// now. It returns the image's digest.
func Import(ctx context.Context, root *state.Root, src string, stdin io.Reader, ref string, epoch *time.Time) (v1.Hash, error) {
	if _, err := name.ParseReference(ref); err != nil {
		return v1.Hash{}, fmt.Errorf("invalid reference %q: %w", ref, err)
	}
	var r io.Reader
	switch fi, err := os.Stat(src); {
	case src == "-":
		r = stdin
	case err != nil:
		return v1.Hash{}, fmt.Errorf("import %s: %w", src, err)
	case fi.IsDir():
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(tarDir(pw, src)) }()
		defer pr.Close()
		r = pr
	default:
		f, err := os.Open(src)
		if err != nil {
			return v1.Hash{}, fmt.Errorf("import %s: %w", src, err)
		}
		defer f.Close()
		r = f
	}
	rc, err := compress.Decompress(r)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("import %s: %w", src, err)
	}
	defer rc.Close()

	w, err := root.Store.Writer()
	if err != nil {
		return v1.Hash{}, err
	}
	defer w.Close()
	res, err := compress.Compress(ctx, w, rc, compress.Options{Format: "gzip"})
	if err != nil {
		return v1.Hash{}, fmt.Errorf("import %s: %w", src, err)
	}
	digest, size, err := w.Commit(res.Digest)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("import %s: %w", src, err)
	}
	layer, err := root.Store.Layer(v1.Descriptor{MediaType: res.MediaType, Size: size, Digest: digest}, res.DiffID)
	if err != nil {
		return v1.Hash{}, err
	}
	created := time.Now().UTC().Truncate(time.Second)
	if epoch != nil {
		created = *epoch
	}
	img, err := exporter.Image(nil, []exporter.Layer{{Layer: layer, History: v1.History{CreatedBy: "bld import " + filepath.Base(src), Comment: "Imported from " + src}}},
		v1.Config{}, HostPlatform(), created)
	if err != nil {
		return v1.Hash{}, err
	}
	if err := exporter.Store(root.Store, []string{ref}).Export(ctx, img); err != nil {
		return v1.Hash{}, err
	}
	return img.Digest()
}

// tarDir writes dir as a tar with sorted entries, numeric owners and
// hardlinks kept, so importing the same tree twice gives the same layer.
func tarDir(w io.Writer, dir string) error {
	tw := tar.NewWriter(w)
	seen := map[[2]uint64]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if fi.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uname, hdr.Gname = "", ""
		hdr.Format = tar.FormatPAX
		hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			hdr.Uid, hdr.Gid = int(st.Uid), int(st.Gid)
			if fi.Mode().IsRegular() && st.Nlink > 1 {
				id := [2]uint64{st.Dev, st.Ino}
				if first, ok := seen[id]; ok {
					hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
				} else {
					seen[id] = hdr.Name
				}
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeReg {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

package main

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

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"github.com/bldbuild/bld/exporter"
	"github.com/bldbuild/bld/internal/compress"
)

func newImportCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "import TARBALL|DIR|- NAME",
		Short: "Make a one-layer image from a root filesystem tarball or directory",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImport(cmd.Context(), g, args[0], args[1], cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
}

func runImport(ctx context.Context, g *globalOptions, src, name string, stdin io.Reader, stdout io.Writer) error {
	if _, err := parseRef(g, name); err != nil {
		return err
	}
	var r io.Reader
	switch fi, err := os.Stat(src); {
	case src == "-":
		r = stdin
	case err != nil:
		return fmt.Errorf("import %s: %w", src, err)
	case fi.IsDir():
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(tarDir(pw, src)) }()
		defer pr.Close()
		r = pr
	default:
		f, err := os.Open(src)
		if err != nil {
			return fmt.Errorf("import %s: %w", src, err)
		}
		defer f.Close()
		r = f
	}
	rc, err := compress.Decompress(r)
	if err != nil {
		return fmt.Errorf("import %s: %w", src, err)
	}
	defer rc.Close()

	st, err := g.openRoot(ctx, false)
	if err != nil {
		return err
	}
	// Like a build: prune must not free the layer before the image names it.
	unlock, err := st.LockShared(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	w, err := st.Store.Writer()
	if err != nil {
		return err
	}
	defer w.Close()
	res, err := compress.Compress(ctx, w, rc, compress.Options{Format: "gzip"})
	if err != nil {
		return fmt.Errorf("import %s: %w", src, err)
	}
	digest, size, err := w.Commit(res.Digest)
	if err != nil {
		return fmt.Errorf("import %s: %w", src, err)
	}
	layer, err := st.Store.Layer(v1.Descriptor{MediaType: res.MediaType, Size: size, Digest: digest}, res.DiffID)
	if err != nil {
		return err
	}
	created := time.Now().UTC().Truncate(time.Second)
	if epoch, err := sourceDateEpoch(nil); err != nil {
		return err
	} else if epoch != nil {
		created = *epoch
	}
	img, err := exporter.Image(nil, []exporter.Layer{{Layer: layer, History: v1.History{CreatedBy: "bld import " + filepath.Base(src), Comment: "Imported from " + src}}},
		v1.Config{}, hostPlatform(), created)
	if err != nil {
		return err
	}
	if err := exporter.Store(st.Store, []string{name}).Export(ctx, img); err != nil {
		return err
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, d)
	return nil
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

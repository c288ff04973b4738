package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"github.com/bldbuild/bld/exporter"
	"github.com/bldbuild/bld/internal/archive"
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
	epoch, err := sourceDateEpoch(nil)
	if err != nil {
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
		// The one deterministic writer: importing the same tree twice
		// gives the same layer.
		go func() {
			pw.CloseWithError(archive.WriteDir(ctx, pw, src, archive.WriteOptions{Epoch: epoch}))
		}()
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

	st, err := openState(g, false)
	if err != nil {
		return err
	}
	w, err := st.store.Writer()
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
	layer, err := st.store.Layer(v1.Descriptor{MediaType: res.MediaType, Size: size, Digest: digest}, res.DiffID)
	if err != nil {
		return err
	}
	created := time.Now().UTC().Truncate(time.Second)
	if epoch != nil {
		created = *epoch
	}
	img, err := exporter.Image(nil, []exporter.Layer{{Layer: layer, History: v1.History{CreatedBy: "bld import " + filepath.Base(src), Comment: "Imported from " + src}}},
		v1.Config{}, hostPlatform(), created)
	if err != nil {
		return err
	}
	if err := exporter.Store(st.store, []string{name}).Export(ctx, img); err != nil {
		return err
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, d)
	return nil
}

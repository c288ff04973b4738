package build

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/bldbuild/bld/internal/archive"

	"github.com/bldbuild/bld/state"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bldbuild/bld/exporter"
	"github.com/bldbuild/bld/frontend"
	"github.com/bldbuild/bld/internal/compress"
)

// Import makes a one-layer image from a root filesystem and stores it
// under ref, as docker import: src is a directory, a tarball (gzip, zstd,
// bzip2, xz or plain), or "-" for stdin. The image is as old as epoch, or
// now. It returns the image's digest.
func Import(ctx context.Context, root *state.Root, src string, stdin io.Reader, ref string, epoch *time.Time) (v1.Hash, error) {
	return ImportWith(ctx, root, src, stdin, ref, ImportOptions{Epoch: epoch})
}

// ImportOptions are the settings of ImportWith beyond the source and name.
type ImportOptions struct {
	// Epoch is the image's creation time (SOURCE_DATE_EPOCH); nil is now.
	Epoch *time.Time
	// Changes are Dockerfile instructions applied to the empty config, as
	// `docker import --change` (see frontend.ApplyChanges).
	Changes []string
	// Message is the history entry's comment, as `docker import -m`;
	// empty is "Imported from SRC".
	Message string
	// Platform is the image's os/architecture/variant (`docker import
	// --platform`); nil is the host's. The files are not checked against it.
	Platform *v1.Platform
}

// ImportWith is Import with the options of `docker import`.
func ImportWith(ctx context.Context, root *state.Root, src string, stdin io.Reader, ref string, o ImportOptions) (v1.Hash, error) {
	epoch := o.Epoch
	if _, err := name.ParseReference(ref); err != nil {
		return v1.Hash{}, fmt.Errorf("invalid reference %q: %w", ref, err)
	}
	// The changes are checked before the (possibly large) source is read.
	cfg, err := frontend.ApplyChanges(ctx, v1.Config{}, o.Changes)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("import: %w", err)
	}
	platform := HostPlatform()
	if o.Platform != nil {
		platform = *o.Platform
	}
	comment := o.Message
	if comment == "" {
		comment = "Imported from " + src
	}
	var r io.Reader
	switch fi, err := os.Stat(src); {
	case src == "-":
		r = stdin
	case err != nil:
		return v1.Hash{}, fmt.Errorf("import %s: %w", src, err)
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
	img, err := exporter.Image(nil, []exporter.Layer{{Layer: layer, History: v1.History{CreatedBy: "bld import " + filepath.Base(src), Comment: comment}}},
		cfg, platform, created)
	if err != nil {
		return v1.Hash{}, err
	}
	if err := exporter.Store(root.Store, []string{ref}).Export(ctx, img); err != nil {
		return v1.Hash{}, err
	}
	return img.Digest()
}

package exporter

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"github.com/bldbuild/bld/internal/compress"
)

// Recompress returns img with its layers compressed as format (gzip, zstd
// or uncompressed; "" is gzip) at level (0: the format's default). A layer
// already in format is kept as it is, unless force. Each layer is read and
// compressed once, several at a time (at most GOMAXPROCS), and checked
// against the diffID the config records. The result has OCI media types
// (zstd has no Docker one); its config is img's, byte for byte.
//
// Recompressed layers live in unlinked temporary files under os.TempDir,
// freed when the image is garbage collected. A build uses RecompressWith,
// whose files live under the state root's tmp/.
func Recompress(ctx context.Context, img v1.Image, format string, level int, force bool) (v1.Image, error) {
	return RecompressWith(ctx, img, RecompressOptions{Format: format, Level: level, Force: force})
}

// A Source gives the uncompressed content of a layer by its compressed
// digest when the caller has it at hand (a builder's snapshot), which is
// cheaper than decompressing the blob; ok false: decompress the blob.
type Source func(ctx context.Context, digest v1.Hash) (rc io.ReadCloser, ok bool)

// RecompressOptions say how RecompressWith compresses.
type RecompressOptions struct {
	Format string // gzip, zstd or uncompressed; "" is gzip
	Level  int    // 0: the format's default
	Force  bool   // recompress layers already in Format too
	// Source, when not nil, gives layers' content; what it gives is
	// checked against the config's diffID like the rest, and on a mismatch
	// the layer is compressed again from its blob.
	Source Source
	// ScratchDir holds the compressed layers, in files unlinked as soon as
	// they are made (so nothing is left there after a crash but space
	// until the process ends). "" is os.TempDir; a build passes its state
	// root's tmp/ (state.Root.TmpDir).
	ScratchDir string
}

// RecompressWith is Recompress with every option.
func RecompressWith(ctx context.Context, img v1.Image, o RecompressOptions) (v1.Image, error) {
	format, level, force, src := o.Format, o.Level, o.Force, o.Source
	if format == "" {
		format = compress.Gzip
	}
	if _, err := compress.MediaType(format); err != nil {
		return nil, fmt.Errorf("recompress: %w", err)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("recompress: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("recompress: %w", err)
	}
	ls, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("recompress: %w", err)
	}
	if len(ls) != len(m.Layers) || len(ls) != len(cf.RootFS.DiffIDs) {
		return nil, fmt.Errorf("recompress: %d layers, %d manifest layers, %d diff_ids", len(ls), len(m.Layers), len(cf.RootFS.DiffIDs))
	}

	out := m.DeepCopy()
	layers := make([]v1.Layer, len(ls))
	changed := m.MediaType != types.OCIManifestSchema1 || m.Config.MediaType != types.OCIConfigJSON
	// One compression per distinct layer, even when an image repeats one.
	type job struct {
		l     v1.Layer
		diff  v1.Hash
		out   *fileLayer
		index []int
	}
	jobs := map[v1.Hash]*job{}
	var order []*job
	for i, l := range ls {
		d := m.Layers[i]
		cur := compress.FormatOf(d.MediaType)
		if !d.MediaType.IsDistributable() || cur == "" || (cur == format && !force) {
			d.MediaType = ociLayerType(d.MediaType)
			out.Layers[i] = d
			layers[i] = withMediaType(l, d.MediaType)
			changed = changed || d.MediaType != m.Layers[i].MediaType
			continue
		}
		changed = true
		j := jobs[d.Digest]
		if j == nil {
			j = &job{l: l, diff: cf.RootFS.DiffIDs[i]}
			jobs[d.Digest] = j
			order = append(order, j)
		}
		j.index = append(j.index, i)
	}
	if !changed {
		return img, nil
	}

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for _, j := range order {
		g.Go(func() error {
			var err error
			opt := compress.Options{Format: format, Level: level}
			if src != nil {
				if d, derr := j.l.Digest(); derr == nil {
					if rc, ok := src(gctx, d); ok {
						j.out, err = compressLayer(gctx, o.ScratchDir, rc, d, j.diff, opt)
						rc.Close()
						if err == nil {
							return nil
						}
					}
				}
			}
			j.out, err = recompressLayer(gctx, o.ScratchDir, j.l, j.diff, opt)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("recompress: %w", err)
	}
	for _, j := range order {
		for _, i := range j.index {
			out.Layers[i] = v1.Descriptor{MediaType: j.out.res.MediaType, Size: j.out.res.Size, Digest: j.out.res.Digest, Annotations: out.Layers[i].Annotations}
			layers[i] = j.out
		}
	}
	out.MediaType = types.OCIManifestSchema1
	out.Config.MediaType = types.OCIConfigJSON
	raw, err := img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("recompress: %w", err)
	}
	return newImage(raw, out, layers)
}

func recompressLayer(ctx context.Context, dir string, l v1.Layer, diffID v1.Hash, opt compress.Options) (*fileLayer, error) {
	digest, err := l.Digest()
	if err != nil {
		return nil, err
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", digest, err)
	}
	defer rc.Close()
	ur, err := compress.Decompress(rc)
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", digest, err)
	}
	defer ur.Close()
	return compressLayer(ctx, dir, ur, digest, diffID, opt)
}

// compressLayer compresses the uncompressed layer content ur (of the layer
// whose blob is digest) into an unlinked temporary file in dir ("" is
// os.TempDir), checking diffID.
func compressLayer(ctx context.Context, dir string, ur io.Reader, digest, diffID v1.Hash, opt compress.Options) (*fileLayer, error) {
	f, err := os.CreateTemp(dir, "bld-layer-*")
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", digest, err)
	}
	// Unlinked at once: nothing is left behind, whatever happens. The
	// space is freed when f is closed or collected. A failed unlink only
	// leaves a file in the scratch dir, which start-up or prune cleans.
	_ = os.Remove(f.Name())
	res, err := compress.Compress(ctx, f, ur, opt)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("layer %s: %w", digest, err)
	}
	if res.DiffID != diffID {
		f.Close()
		return nil, fmt.Errorf("layer %s: content has diffID %s, config says %s", digest, res.DiffID, diffID)
	}
	return &fileLayer{f: f, res: res}, nil
}

// fileLayer is a compressed layer in an unlinked temporary file.
type fileLayer struct {
	f   *os.File
	res compress.Result
}

var _ v1.Layer = (*fileLayer)(nil)

func (l *fileLayer) Digest() (v1.Hash, error)            { return l.res.Digest, nil }
func (l *fileLayer) DiffID() (v1.Hash, error)            { return l.res.DiffID, nil }
func (l *fileLayer) Size() (int64, error)                { return l.res.Size, nil }
func (l *fileLayer) MediaType() (types.MediaType, error) { return l.res.MediaType, nil }

func (l *fileLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(io.NewSectionReader(l.f, 0, l.res.Size)), nil
}

func (l *fileLayer) Uncompressed() (io.ReadCloser, error) {
	return compress.Decompress(io.NewSectionReader(l.f, 0, l.res.Size))
}

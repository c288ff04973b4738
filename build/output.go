package build

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bldbuild/bld/registry"
	"github.com/bldbuild/bld/state"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bldbuild/bld/exporter"
	"github.com/bldbuild/bld/internal/compress"
)

// outputs turns o's outputs, Push and Tags into exporters, and the names
// the image gets.
func outputs(ctx context.Context, o Options, scratch string, client *registry.Client, prog Progress) ([]exporter.Exporter, []string, error) {
	names := o.Tags
	var exps []exporter.Exporter
	// As in buildx, --push is --output type=registry: no local copy.
	storeOut := len(o.Outputs) == 0 && !o.Push
	for _, spec := range o.Outputs {
		out, err := exporter.ParseOutput(spec)
		if err != nil {
			return nil, nil, fmt.Errorf("--output %s: %w", spec, err)
		}
		onames := names
		if len(out.Names) > 0 {
			onames = out.Names
		}
		var e exporter.Exporter
		switch out.Type {
		case exporter.TypeOCI:
			e = both{exporter.OCI(out.Dest, onames, out.Tar), exporter.OCIIndex(out.Dest, onames, out.Tar)}
			if out.Dest == "-" {
				e = both{exporter.OCITo(o.Stdout, onames), exporter.OCIIndexTo(o.Stdout, onames)}
			}
		case exporter.TypeDocker:
			if out.Load {
				// bld's store is always written; the engine gets a copy.
				// Without one the build fails before it starts.
				engine, err := exporter.FindEngine(ctx)
				if err != nil {
					return nil, nil, err
				}
				storeOut = true
				load := exporter.Daemon(engine, onames)
				e = dockerOutput{exporter.ExporterFunc(func(ctx context.Context, img v1.Image) error {
					if err := load.Export(ctx, img); err != nil {
						return err
					}
					prog.Message("loaded into " + engine.String())
					return nil
				})}
				break
			}
			e = dockerOutput{exporter.Docker(out.Dest, onames)}
			if out.Dest == "-" {
				e = dockerOutput{exporter.DockerTo(o.Stdout, onames)}
			}
		case exporter.TypeLocal:
			lo := exporter.LocalOptions{PreserveOwnership: out.PreserveOwnership}
			e = both{exporter.LocalWith(out.Dest, lo), exporter.LocalIndex(out.Dest, lo, split(out))}
		case exporter.TypeTar:
			e = both{exporter.Tar(out.Dest), exporter.TarIndex(out.Dest, split(out))}
			if out.Dest == "-" {
				e = both{exporter.TarTo(o.Stdout), exporter.TarIndexTo(o.Stdout, split(out))}
			}
		case exporter.TypeRegistry:
			e = newPushExporter(o, client, onames, prog)
		case exporter.TypeImage:
			// type=registry is image,push=true for ParseOutput, but it
			// means the registry only, as in buildx: no local store.
			if !strings.Contains(spec, "type=registry") {
				storeOut = true
			}
			if out.Push {
				if len(onames) == 0 {
					return nil, nil, fmt.Errorf("--output %s: needs name= or -t", spec)
				}
				e = newPushExporter(o, client, onames, prog)
			}
		default:
			return nil, nil, fmt.Errorf("--output %s: unknown type %q", spec, out.Type)
		}
		if e == nil {
			continue
		}
		if out.Compression != "" || out.ForceCompression {
			e = &recompressed{e: e, opts: exporter.RecompressOptions{
				Format: out.Compression, Level: out.CompressionLevel, Force: out.ForceCompression,
				ScratchDir: scratch,
			}}
		}
		exps = append(exps, e)
	}
	if o.Push {
		if len(names) == 0 {
			return nil, nil, errors.New("--push needs at least one -t name")
		}
		exps = append(exps, newPushExporter(o, client, names, prog))
	}
	if storeOut {
		exps = append([]exporter.Exporter{&storeExporter{root: o.Root, names: names,
			recompress: exporter.RecompressOptions{Format: compress.Gzip, ScratchDir: scratch}}}, exps...)
	}
	return exps, names, nil
}

// split is an output's platform-split: true unless set false, as buildx.
func split(out exporter.OutputSpec) bool {
	return out.PlatformSplit == nil || *out.PlatformSplit
}

// ToStdout reports whether an output writes to standard output (-o -),
// which then carries nothing else.
func ToStdout(specs []string) bool {
	for _, spec := range specs {
		if out, err := exporter.ParseOutput(spec); err == nil && out.Dest == "-" {
			return true
		}
	}
	return false
}

// pushExporter pushes to names, showing each push's upload progress.
type pushExporter struct {
	client *registry.Client
	names  []string
	prog   Progress
	locs   *registry.BlobLocations // where registries already hold blobs
}

func newPushExporter(o Options, client *registry.Client, names []string, prog Progress) *pushExporter {
	return &pushExporter{client: client, names: names, prog: prog, locs: registry.OpenBlobLocations(o.Root.BlobLocationsPath())}
}

func (p *pushExporter) Export(ctx context.Context, img v1.Image) error {
	if p.locs != nil && len(p.names) > 0 {
		if ref, err := p.client.ParseReference(p.names[0]); err == nil {
			img = p.locs.Mountable(img, ref.Context())
		}
	}
	// The updates of a push do not say which name they are for, so push
	// one name at a time. Pushing names[:i+1] rather than names[i] alone
	// keeps the exporter mounting blobs from the first name pushed to the
	// same registry; the names before i are there already and cost a
	// HEAD each.
	for i, n := range p.names {
		updates := make(chan v1.Update)
		total := make(chan int64)
		go func() { total <- p.prog.Pushing(n, updates) }()
		start := time.Now()
		err := exporter.Registry(p.names[:i+1], exporter.RegistryOptions{Client: p.client, Progress: updates}).Export(ctx, img)
		close(updates) // the exporter never closes it, and sends nothing once Export returns
		p.prog.Pushed(n, <-total, time.Since(start), err)
		if err != nil {
			return err
		}
	}
	if p.locs != nil {
		for _, n := range p.names {
			if ref, err := p.client.ParseReference(n); err == nil {
				p.locs.Add(ref.Context(), registry.LayerDigests(img))
			}
		}
	}
	return nil
}

// recompressed exports an image with its layers in another compression
// (each layer compressed once, concurrently; layers already in the format
// are kept unless forced).
// Its scratch files live under the state root's tmp/; Run sets
// opts.Source to the build's snapshots.
type recompressed struct {
	e    exporter.Exporter
	opts exporter.RecompressOptions
}

func (r *recompressed) Export(ctx context.Context, img v1.Image) error {
	img, err := exporter.RecompressWith(ctx, img, r.opts)
	if err != nil {
		return err
	}
	return r.e.Export(ctx, img)
}

// storeExporter writes into the local store, then keeps the pulled base
// images too (their layers are stored now).
type storeExporter struct {
	root  *state.Root
	names []string
	res   *resolver
	// recompress brings layers a zstd-only build committed (now cache
	// hits) back to gzip, the store's format; Run sets its Source.
	recompress exporter.RecompressOptions
}

func (s *storeExporter) Export(ctx context.Context, img v1.Image) error {
	if other, err := notIn(img, compress.Gzip); err != nil {
		return err
	} else if other {
		if img, err = exporter.RecompressWith(ctx, img, s.recompress); err != nil {
			return err
		}
	}
	if err := exporter.Store(s.root.Store, s.names).Export(ctx, img); err != nil {
		return err
	}
	if s.res != nil {
		return s.res.keepPulled(ctx)
	}
	return nil
}

// Push pushes img to names (the `bld push` of a stored image), mounting
// blobs the registry holds in another repository.
func Push(ctx context.Context, root *state.Root, img v1.Image, names []string, insecure []string) error {
	client := registry.New(registry.Options{Insecure: insecure})
	p := &pushExporter{client: client, names: names, prog: discard{}, locs: registry.OpenBlobLocations(root.BlobLocationsPath())}
	return p.Export(ctx, img)
}

// PushIndex pushes a multi-platform image of the store to names (the
// `bld push` of an index): every platform's manifest, then the index.
func PushIndex(ctx context.Context, root *state.Root, idx v1.ImageIndex, names []string, insecure []string) error {
	client := registry.New(registry.Options{Insecure: insecure})
	p := &pushExporter{client: client, names: names, prog: discard{}}
	return p.ExportIndex(ctx, idx)
}

// commitFormat is the compression a build commits its new layers in: zstd
// when every output that carries compressed layers asks for zstd (so a
// zstd-only export never writes gzip first), else gzip (""), which the
// local store, a push without compression= and a cache export get.
// Outputs of files (type=local, type=tar) carry no layers and do not vote.
func commitFormat(o Options) string {
	if len(o.Outputs) == 0 || o.Push || len(o.CacheTo) > 0 {
		return ""
	}
	zstd := false
	for _, spec := range o.Outputs {
		out, err := exporter.ParseOutput(spec)
		if err != nil {
			return ""
		}
		switch {
		case out.Type == exporter.TypeLocal || out.Type == exporter.TypeTar:
			continue
		case out.Type == exporter.TypeImage && !strings.Contains(spec, "type=registry"):
			return "" // the local store keeps gzip
		case out.Compression != compress.Zstd:
			return ""
		}
		zstd = true
	}
	if zstd {
		return compress.Zstd
	}
	return ""
}

// notIn reports whether some distributable layer of img is compressed
// other than format, so an exporter that wants format must recompress.
func notIn(img v1.Image, format string) (bool, error) {
	m, err := img.Manifest()
	if err != nil {
		return false, err
	}
	for _, l := range m.Layers {
		if f := compress.FormatOf(l.MediaType); l.MediaType.IsDistributable() && f != "" && f != format {
			return true, nil
		}
	}
	return false, nil
}

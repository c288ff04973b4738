package remotecache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/google/go-containerregistry/pkg/compression"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/bldbuild/bld/cache"
	"github.com/bldbuild/bld/internal/compress"
)

// What a build does with --cache-from and --cache-to, for package build
// (the one caller): ParseExportSpecs before the build (a typo fails at once),
// ImportAll for builder.Builder.Remote, Inline on the assembled image,
// ExportAll after the outputs are written.

var _ cache.Source = (*Remote)(nil)

// Transport is how caches reach registries: the caller's registry
// settings.
type Transport struct {
	// NameOptions returns the options to parse a reference to the registry
	// host with (name.Insecure for a loopback or --insecure-registry host).
	// nil means none.
	NameOptions func(registry string) []name.Option
	// Options carry auth and the HTTP transport.
	Options []remote.Option
}

// nameOpts returns t's name options for the registry of ref; none when ref
// does not parse (Import then reports it).
func (t Transport) nameOpts(ref string) []name.Option {
	if t.NameOptions == nil || ref == "" {
		return nil
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil
	}
	return t.NameOptions(r.Context().RegistryStr())
}

// ImportOptions say how ImportAll reads caches and where it restores their
// RUN cache mounts.
type ImportOptions struct {
	Transport
	// MountDir returns the local directory of RUN cache mount id, as the
	// builder lays them out (builder.CacheMountDir: the id is written to
	// MountDir(id)+".id"). nil: cache mounts are not restored.
	MountDir func(id string) string
	// Log receives a line per cache: its number of steps, that it does not
	// exist yet, or a warning (starting "warning: ") why it is not used.
	// nil discards them.
	Log io.Writer
}

// ImportAll reads every --cache-from value, in order. A cache that cannot
// be read is a warning on Log, never an error: the build runs without it;
// a missing one is the first build's normal. A cache's RUN cache mounts are
// restored where the local root has none of that id (a local one is
// newer). The result is what builder.Builder.Remote takes.
func ImportAll(ctx context.Context, specs []string, o ImportOptions) []cache.Source {
	log := o.Log
	if log == nil {
		log = io.Discard
	}
	var out []cache.Source
	for _, raw := range specs {
		s, err := ParseImportSpec(raw)
		var r *Remote
		if err == nil {
			r, err = s.Import(ctx, o.nameOpts(s.Ref), o.Options...)
		} else {
			err = fmt.Errorf("cache-from %q: %w", raw, err)
		}
		switch {
		case errors.Is(err, ErrNoCache):
			fmt.Fprintf(log, "cache-from %s: no cache there yet\n", raw)
			continue
		case err != nil:
			fmt.Fprintf(log, "warning: %v (building without it)\n", err)
			continue
		}
		fmt.Fprintf(log, "cache-from %s: %d steps\n", r, r.Len())
		if o.MountDir != nil {
			for _, m := range r.Mounts() {
				if err := restoreMount(ctx, o.MountDir(m.ID), m); err != nil {
					fmt.Fprintf(log, "warning: cache-from %s: cache mount %s: %v\n", r, m.ID, err)
				}
			}
		}
		out = append(out, r)
	}
	return out
}

// restoreMount unpacks m into dir unless dir exists. A failed unpack
// removes what it wrote, so the next build starts the mount empty rather
// than half filled.
func restoreMount(ctx context.Context, dir string, m MountBlob) error {
	if _, err := os.Lstat(dir); err == nil {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// On failure the clean-up is best effort: the error returned is the
	// cause, and a mount dir left behind is only a cache mount restored
	// empty or partly, which a RUN step tolerates.
	if err := os.WriteFile(dir+".id", []byte(m.ID), 0o600); err != nil {
		_ = os.RemoveAll(dir)
		return err
	}
	if err := UnpackMount(ctx, m.Layer, dir); err != nil {
		_ = os.RemoveAll(dir)
		_ = os.Remove(dir + ".id")
		return err
	}
	return nil
}

// ParseExportSpecs parses every --cache-to value; the error names the
// value that is wrong.
func ParseExportSpecs(values []string) ([]ExportSpec, error) {
	var out []ExportSpec
	for _, v := range values {
		s, err := ParseExportSpec(v)
		if err != nil {
			return nil, fmt.Errorf("--cache-to %s: %w", v, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// Step is one step of a finished build, as a cache export sees it.
type Step struct {
	// Record is the step's record, Key set.
	Record cache.Record
	// Source is the imported cache the step's layer came from when its
	// blob is not in the local store; nil otherwise.
	Source cache.Source
	// Target says the step is one of the final image's: mode=min and the
	// inline cache export these, mode=max every step.
	Target bool
}

// records selects the records of steps a cache of mode carries, once
// each, in key order.
func records(steps []Step, mode string) []cache.Record {
	byKey := map[cache.Key]cache.Record{}
	for _, s := range steps {
		if mode == "max" || s.Target {
			byKey[s.Record.Key] = s.Record
		}
	}
	out := make([]cache.Record, 0, len(byKey))
	for _, r := range byKey {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key.String() < out[j].Key.String() })
	return out
}

// Inline returns img with the inline cache of steps (the records of its
// own layers, see InlineAnnotations) in its manifest's annotations when
// one of specs is type=inline, so --cache-from of the pushed image finds
// them; img itself otherwise.
func Inline(img v1.Image, specs []ExportSpec, steps []Step) (v1.Image, error) {
	inline := false
	for _, s := range specs {
		inline = inline || s.Inline
	}
	if !inline {
		return img, nil
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("inline cache: %w", err)
	}
	ann, err := InlineAnnotations(records(steps, "min"), m.Layers)
	if err != nil || ann == nil {
		return img, err
	}
	return mutate.Annotations(img, ann).(v1.Image), nil
}

// ExportOptions are what ExportAll exports and how.
type ExportOptions struct {
	Transport
	// Steps are the build's steps.
	Steps []Step
	// Store holds the layers of the steps without a Source (the local
	// store, *store.Store).
	Store interface {
		Layer(desc v1.Descriptor, diffID v1.Hash) (v1.Layer, error)
	}
	// CacheMounts lists the local RUN cache mounts, id to directory
	// (builder.CacheMountIDs); asked only for a spec with cache-mounts=true.
	CacheMounts func() (map[string]string, error)
	// MountFrom, if not nil, is a repository of the cache's registry that
	// holds the layers already (the image the build pushed): the registry
	// is asked to mount blobs from it before they are uploaded.
	MountFrom *name.Repository
	// Log receives remarks and, for a spec with ignore-error=true, the
	// warning of its failed export. nil discards them.
	Log io.Writer
}

// ExportAll writes every cache of specs but type=inline (see Inline). A
// failed export fails the build unless its spec says ignore-error=true
// (buildx's rule); then it is a warning on Log.
func ExportAll(ctx context.Context, specs []ExportSpec, o ExportOptions) error {
	log := o.Log
	if log == nil {
		log = io.Discard
	}
	type src struct {
		diffID v1.Hash
		source cache.Source
	}
	layers := map[v1.Hash]src{}
	for _, s := range o.Steps {
		if s.Record.Layer != nil {
			layers[s.Record.Layer.Digest] = src{s.Record.DiffID, s.Source}
		}
	}
	for _, spec := range specs {
		if spec.Inline {
			continue
		}
		e := Export{
			Records:   records(o.Steps, spec.Mode),
			MountFrom: o.MountFrom,
			Note:      func(msg string) { fmt.Fprintf(log, "%s\n", msg) },
			Layer: func(desc v1.Descriptor) (v1.Layer, error) {
				s := layers[desc.Digest]
				var l v1.Layer
				var err error
				switch {
				case s.source != nil:
					l, err = s.source.Layer(desc, s.diffID)
				case o.Store != nil:
					l, err = o.Store.Layer(desc, s.diffID)
				default:
					err = errors.New("no store to read layers from")
				}
				if err != nil || spec.Compression == "" || compress.FormatOf(desc.MediaType) == spec.Compression {
					return l, err
				}
				// ggcr's WithCompression leaves the media type gzip's.
				mt, err := compress.MediaType(spec.Compression)
				if err != nil {
					return nil, err
				}
				return tarball.LayerFromOpener(l.Uncompressed,
					tarball.WithCompression(compression.Compression(spec.Compression)), tarball.WithMediaType(mt))
			},
		}
		err := exportMounts(spec, &e, o.CacheMounts)
		if err == nil {
			err = spec.Write(ctx, e, o.nameOpts(spec.Ref), o.Options...)
		}
		if err != nil {
			if spec.IgnoreError {
				fmt.Fprintf(log, "warning: %v\n", err)
				continue
			}
			return err
		}
	}
	return nil
}

// exportMounts fills e.Mounts when spec exports cache mounts.
func exportMounts(spec ExportSpec, e *Export, list func() (map[string]string, error)) error {
	if !spec.CacheMounts || list == nil {
		return nil
	}
	ids, err := list()
	if err != nil {
		return fmt.Errorf("cache-to: list cache mounts: %w", err)
	}
	for id, dir := range ids {
		e.Mounts = append(e.Mounts, MountDir{ID: id, Dir: dir})
	}
	return nil
}

package build

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/bldbuild/bld/builder"
	"github.com/bldbuild/bld/dag"
	"github.com/bldbuild/bld/exporter"
	"github.com/bldbuild/bld/frontend"
	"github.com/bldbuild/bld/internal/compress"
)

// ParsePlatforms reads --platform values: each a comma-separated list
// (the flag is repeatable, as buildx's), each item as ParsePlatform reads
// it ("local" is the host's). Duplicates after normalisation are dropped;
// the order is kept (the index lists the platforms in it).
func ParsePlatforms(specs []string) ([]v1.Platform, error) {
	var out []v1.Platform
	seen := map[string]bool{}
	for _, spec := range specs {
		for _, item := range strings.Split(spec, ",") {
			if strings.TrimSpace(item) == "" {
				return nil, fmt.Errorf("--platform %s: empty platform in the list", spec)
			}
			p, err := ParsePlatform(item)
			if err != nil {
				return nil, err
			}
			if k := FormatPlatform(p); !seen[k] {
				seen[k] = true
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// indexOutput is an output that can take a multi-platform build's index.
type indexOutput interface {
	exporter.IndexExporter
}

// multiPlatformOutputs fails, before anything runs, when an output cannot
// take several platforms: the docker archive, as buildx refuses it.
func multiPlatformOutputs(exps []exporter.Exporter) error {
	for _, e := range exps {
		if r, ok := e.(*recompressed); ok {
			e = r.e
		}
		switch e.(type) {
		case dockerOutput:
			// buildx's (BuildKit's) words.
			return errors.New("docker exporter does not currently support exporting manifest lists")
		case indexOutput:
		default:
			return fmt.Errorf("output %T: a multi-platform build cannot be written there", e)
		}
	}
	return nil
}

// platformIndex is the OCI index of a multi-platform build.
// --annotation index: and manifest-descriptor: values go on the index and
// its descriptors.
func platformIndex(imgs []v1.Image, platforms []v1.Platform, a annotations) (v1.ImageIndex, error) {
	pis := make([]exporter.PlatformImage, len(imgs))
	for i := range imgs {
		pis[i] = exporter.PlatformImage{Platform: platforms[i], Image: imgs[i], Annotations: a.descriptor}
	}
	idx, err := exporter.Index(pis)
	if err != nil || len(a.index) == 0 {
		return idx, err
	}
	return mutate.Annotations(idx, a.index).(v1.ImageIndex), nil
}

// exportIndex writes idx to every output at once, as Tee does for an image.
func exportIndex(ctx context.Context, exps []exporter.Exporter, idx v1.ImageIndex) error {
	errs := make([]error, len(exps))
	var wg sync.WaitGroup
	for i, e := range exps {
		ie, ok := e.(indexOutput)
		if !ok {
			errs[i] = fmt.Errorf("output %T: a multi-platform build cannot be written there", e)
			continue
		}
		wg.Go(func() { errs[i] = ie.ExportIndex(ctx, idx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// newIndexResult sums up a finished multi-platform build and reports the
// export of its index.
func newIndexResult(idx v1.ImageIndex, imgs []v1.Image, names []string, plans []*frontend.Result, result *builder.Result, prog Progress) (*Result, error) {
	digest, err := idx.Digest()
	if err != nil {
		return nil, err
	}
	cfg, err := imgs[0].ConfigName()
	if err != nil {
		return nil, err
	}
	r := &Result{Image: imgs[0], Index: idx, Digest: digest, ConfigDigest: cfg, Names: names}
	for _, v := range plans[0].Target.Chain() {
		s := result.Steps[v]
		if _, src := v.Op.(*dag.Source); src || s == nil {
			continue
		}
		r.Steps = append(r.Steps, Step{Name: v.Name, Cached: s.Cached, Reason: s.Reason})
	}
	// A step shared by the platforms counts once.
	r.CacheHits, r.CacheMisses = countSteps(result, true)
	prog.Exported(fmt.Sprintf("exporting manifest list %s", digest), names)
	return r, nil
}

// ExportIndex writes a multi-platform build into the store, under the
// names, then keeps the pulled base images.
func (s *storeExporter) ExportIndex(ctx context.Context, idx v1.ImageIndex) error {
	pis, err := exporter.IndexImages(idx)
	if err != nil {
		return err
	}
	// The store keeps gzip: each platform's image brought back to it.
	changed := false
	for i, pi := range pis {
		if other, err := notIn(pi.Image, compress.Gzip); err != nil {
			return err
		} else if other {
			if pis[i].Image, err = exporter.RecompressWith(ctx, pi.Image, s.recompress); err != nil {
				return err
			}
			changed = true
		}
	}
	if changed {
		if idx, err = exporter.Reindex(idx, pis); err != nil {
			return err
		}
	}
	if err := exporter.StoreIndex(s.root.Store, s.names).ExportIndex(ctx, idx); err != nil {
		return err
	}
	if s.res != nil {
		return s.res.keepPulled(ctx)
	}
	return nil
}

// ExportIndex pushes a multi-platform build: every platform's manifest,
// then the index, to each name.
func (p *pushExporter) ExportIndex(ctx context.Context, idx v1.ImageIndex) error {
	for i, n := range p.names {
		updates := make(chan v1.Update)
		total := make(chan int64)
		go func() { total <- p.prog.Pushing(n, updates) }()
		start := time.Now()
		err := exporter.RegistryIndex(p.names[i:i+1], exporter.RegistryOptions{Client: p.client, Progress: updates}).ExportIndex(ctx, idx)
		close(updates)
		p.prog.Pushed(n, <-total, time.Since(start), err)
		if err != nil {
			return err
		}
	}
	return nil
}

// ExportIndex recompresses every platform's image, then writes the index.
func (r *recompressed) ExportIndex(ctx context.Context, idx v1.ImageIndex) error {
	ie, ok := r.e.(indexOutput)
	if !ok {
		return fmt.Errorf("output %T: a multi-platform build cannot be written there", r.e)
	}
	pis, err := exporter.IndexImages(idx)
	if err != nil {
		return err
	}
	for i := range pis {
		if pis[i].Image, err = exporter.RecompressWith(ctx, pis[i].Image, r.opts); err != nil {
			return err
		}
	}
	if idx, err = exporter.Reindex(idx, pis); err != nil {
		return err
	}
	return ie.ExportIndex(ctx, idx)
}

// both is an output that writes an image or an index.
type both struct {
	exporter.Exporter
	exporter.IndexExporter
}

// dockerOutput is a docker archive or --load: one platform only.
type dockerOutput struct{ exporter.Exporter }

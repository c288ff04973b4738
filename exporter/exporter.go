package exporter

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/bldbuild/bld/internal/imageref"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// An Exporter writes an image somewhere. Export may be called more than
// once, and concurrently, unless an implementation says otherwise.
type Exporter interface {
	Export(ctx context.Context, img v1.Image) error
}

// ExporterFunc adapts a function to Exporter.
type ExporterFunc func(ctx context.Context, img v1.Image) error

// Export calls f.
func (f ExporterFunc) Export(ctx context.Context, img v1.Image) error { return f(ctx, img) }

// ImageStore is where the Store exporter writes: store.Store satisfies it.
type ImageStore interface {
	// WriteImage writes the image's blobs and returns its manifest's
	// descriptor, without naming it.
	WriteImage(ctx context.Context, img v1.Image) (v1.Descriptor, error)
	// Tag points a name at a manifest already written.
	Tag(name string, desc v1.Descriptor) error
}

// Store returns an Exporter that writes the image into s and then gives it
// each of names. All blobs are written before any name, so a name never
// points at a partial image. With no names the image is stored unnamed.
func Store(s ImageStore, names []string) Exporter {
	return ExporterFunc(func(ctx context.Context, img v1.Image) error {
		desc, err := s.WriteImage(ctx, img)
		if err != nil {
			return fmt.Errorf("store image: %w", err)
		}
		for _, n := range names {
			if err := s.Tag(n, desc); err != nil {
				return fmt.Errorf("store image: %w", err)
			}
		}
		return nil
	})
}

// Tee returns an Exporter that runs all of es concurrently and returns
// their errors joined. One failing does not stop the others.
func Tee(es ...Exporter) Exporter {
	return ExporterFunc(func(ctx context.Context, img v1.Image) error {
		errs := make([]error, len(es))
		var wg sync.WaitGroup
		for i, e := range es {
			wg.Go(func() { errs[i] = e.Export(ctx, img) })
		}
		wg.Wait()
		return errors.Join(errs...)
	})
}

// normalizeAll normalizes names, naming the first bad one in the error.
func normalizeAll(names []string) ([]string, error) {
	out := make([]string, 0, len(names))
	for _, n := range names {
		full, err := imageref.Normalize(n)
		if err != nil {
			return nil, fmt.Errorf("image name %q: %w", n, err)
		}
		if strings.Contains(full, "@") {
			return nil, fmt.Errorf("image name %q: a name must be a tag, not a digest", n)
		}
		out = append(out, full)
	}
	return out, nil
}

package state

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bldbuild/bld/store"
)

// ImageBlobs is a named image and the blobs it needs.
type ImageBlobs struct {
	Name       string
	Descriptor v1.Descriptor // what the name points at: a manifest or an index
	// Blobs is every blob the image needs, each once: the index and
	// manifests, configs, layers. Manifests of an index that the store
	// does not have (platforms never pulled) are left out.
	Blobs []v1.Descriptor
	// Layers is the layer blobs, bottom first (per manifest, for an index).
	Layers []v1.Descriptor
}

// Blob kinds, as du shows them.
const (
	KindManifest = "manifest" // an image manifest or an index
	KindConfig   = "config"
	KindLayer    = "layer"
)

// imageSet is what the named images hold.
type imageSet struct {
	images    []ImageBlobs
	kind      map[v1.Hash]string
	createdBy map[v1.Hash]string // layer -> the instruction that made it, from the config's history
}

// ImageBlobs returns every named image with the blobs it needs, sorted by
// name.
func (r *Root) ImageBlobs(ctx context.Context) ([]ImageBlobs, error) {
	set, err := r.imageSet(ctx)
	if err != nil {
		return nil, err
	}
	return set.images, nil
}

func (r *Root) imageSet(ctx context.Context) (*imageSet, error) {
	named, err := r.Store.Images()
	if err != nil {
		return nil, err
	}
	set := &imageSet{kind: map[v1.Hash]string{}, createdBy: map[v1.Hash]string{}}
	for _, n := range named {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ib := ImageBlobs{Name: n.Name, Descriptor: n.Descriptor}
		seen := map[v1.Hash]bool{}
		if err := r.walkImage(n.Descriptor, &ib, seen, set); err != nil {
			return nil, fmt.Errorf("image %s: %w", n.Name, err)
		}
		set.images = append(set.images, ib)
	}
	return set, nil
}

// maxManifest bounds the manifests, indexes and configs read here.
const maxManifest = 8 << 20

// readBlob reads a small blob; ok is false if the store does not have it.
func (r *Root) readBlob(h v1.Hash) (data []byte, ok bool, err error) {
	rc, err := r.Store.Open(h)
	if errors.Is(err, store.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer rc.Close()
	data, err = io.ReadAll(io.LimitReader(rc, maxManifest+1))
	if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", h, err)
	}
	if len(data) > maxManifest {
		return nil, false, fmt.Errorf("blob %s: larger than %d bytes", h, maxManifest)
	}
	return data, true, nil
}

// walkImage adds d and every blob below it to ib. A manifest the store
// does not have holds nothing there, so it is skipped (for the named
// descriptor itself, the image is broken and only its name remains).
func (r *Root) walkImage(d v1.Descriptor, ib *ImageBlobs, seen map[v1.Hash]bool, set *imageSet) error {
	if seen[d.Digest] {
		return nil
	}
	seen[d.Digest] = true
	raw, ok, err := r.readBlob(d.Digest)
	if err != nil || !ok {
		return err
	}
	ib.Blobs = append(ib.Blobs, d)
	set.kind[d.Digest] = KindManifest
	if d.MediaType.IsIndex() {
		idx, err := v1.ParseIndexManifest(bytes.NewReader(raw))
		if err != nil {
			return fmt.Errorf("index %s: %w", d.Digest, err)
		}
		for _, m := range idx.Manifests {
			if err := r.walkImage(m, ib, seen, set); err != nil {
				return err
			}
		}
		return nil
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("manifest %s: %w", d.Digest, err)
	}
	if !seen[m.Config.Digest] {
		seen[m.Config.Digest] = true
		ib.Blobs = append(ib.Blobs, m.Config)
	}
	set.kind[m.Config.Digest] = KindConfig
	for _, l := range m.Layers {
		ib.Layers = append(ib.Layers, l)
		if !seen[l.Digest] {
			seen[l.Digest] = true
			ib.Blobs = append(ib.Blobs, l)
		}
		set.kind[l.Digest] = KindLayer
	}
	// The instruction of each layer, from the config's history.
	cfgRaw, ok, err := r.readBlob(m.Config.Digest)
	if err != nil || !ok {
		return err
	}
	cf, err := v1.ParseConfigFile(bytes.NewReader(cfgRaw))
	if err != nil {
		return nil // not an image config (an artifact): no history to read
	}
	i := 0
	for _, h := range cf.History {
		if h.EmptyLayer {
			continue
		}
		if i < len(m.Layers) {
			if _, ok := set.createdBy[m.Layers[i].Digest]; !ok {
				set.createdBy[m.Layers[i].Digest] = Instruction(h.CreatedBy)
			}
		}
		i++
	}
	return nil
}

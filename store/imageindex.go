package store

import (
	"bytes"
	"context"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// WriteIndex writes idx (a multi-platform image) into the store: each of
// its image manifests with their blobs (WriteImage), then the index
// itself, and returns the index's descriptor. It does not name it: Tag
// does. Nested indexes are written the same way.
func (s *Store) WriteIndex(ctx context.Context, idx v1.ImageIndex) (v1.Descriptor, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("write index: %w", err)
	}
	for _, d := range im.Manifests {
		switch {
		case d.MediaType.IsImage():
			img, err := idx.Image(d.Digest)
			if err != nil {
				return v1.Descriptor{}, fmt.Errorf("write index: manifest %s: %w", d.Digest, err)
			}
			if _, err := s.WriteImage(ctx, img); err != nil {
				return v1.Descriptor{}, fmt.Errorf("write index: manifest %s: %w", d.Digest, err)
			}
		case d.MediaType.IsIndex():
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return v1.Descriptor{}, fmt.Errorf("write index: index %s: %w", d.Digest, err)
			}
			if _, err := s.WriteIndex(ctx, child); err != nil {
				return v1.Descriptor{}, err
			}
		}
	}
	return s.WriteIndexManifest(idx)
}

// WriteIndexManifest writes idx's own manifest only, for an index whose
// manifests the store holds some of (a pulled base image: the platforms
// used); it returns the index's descriptor. Readers skip the manifests
// that are not here.
func (s *Store) WriteIndexManifest(idx v1.ImageIndex) (v1.Descriptor, error) {
	raw, err := idx.RawManifest()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("write index: %w", err)
	}
	desc, err := partial.Descriptor(idx)
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("write index: %w", err)
	}
	if err := s.writeBytes(raw, desc.Digest); err != nil {
		return v1.Descriptor{}, fmt.Errorf("write index %s: %w", desc.Digest, err)
	}
	return v1.Descriptor{MediaType: desc.MediaType, Size: desc.Size, Digest: desc.Digest}, nil
}

// Index returns the index ref resolves to (anything Resolve accepts), read
// from the store and verified against its digest; its images are read as
// Image reads them. It is an error if ref names an image manifest.
func (s *Store) Index(ref string) (v1.ImageIndex, error) {
	return s.IndexLimited(ref, ReadLimits{})
}

// IndexLimited is Index with the manifests and configs bounded by lim.
func (s *Store) IndexLimited(ref string, lim ReadLimits) (v1.ImageIndex, error) {
	lim = lim.withDefaults()
	desc, err := s.Resolve(ref)
	if err != nil {
		return nil, err
	}
	if !desc.MediaType.IsIndex() {
		return nil, fmt.Errorf("image %s: %s is an image manifest, not an index", ref, desc.Digest)
	}
	if err := s.checkSize(ref, "index "+desc.Digest.String(), desc.Digest, lim.ManifestSize, "manifest-size"); err != nil {
		return nil, err
	}
	raw, err := s.readBlob(desc.Digest)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", ref, err)
	}
	im, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("image %s: index %s: %w", ref, desc.Digest, err)
	}
	mt := im.MediaType
	if mt == "" {
		mt = desc.MediaType
	}
	return &storeIndex{s: s, raw: raw, manifest: im, mediaType: mt, digest: desc.Digest, lim: lim}, nil
}

// storeIndex is an index in the store.
type storeIndex struct {
	s         *Store
	raw       []byte
	manifest  *v1.IndexManifest
	mediaType types.MediaType
	digest    v1.Hash
	lim       ReadLimits
}

var _ v1.ImageIndex = (*storeIndex)(nil)

func (i *storeIndex) MediaType() (types.MediaType, error)       { return i.mediaType, nil }
func (i *storeIndex) Digest() (v1.Hash, error)                  { return i.digest, nil }
func (i *storeIndex) Size() (int64, error)                      { return int64(len(i.raw)), nil }
func (i *storeIndex) RawManifest() ([]byte, error)              { return i.raw, nil }
func (i *storeIndex) IndexManifest() (*v1.IndexManifest, error) { return i.manifest.DeepCopy(), nil }

func (i *storeIndex) Image(h v1.Hash) (v1.Image, error) {
	if !i.lists(h) {
		return nil, fmt.Errorf("index %s: no manifest %s", i.digest, h)
	}
	return i.s.ImageLimited(h.String(), i.lim)
}

func (i *storeIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	if !i.lists(h) {
		return nil, fmt.Errorf("index %s: no index %s", i.digest, h)
	}
	return i.s.IndexLimited(h.String(), i.lim)
}

func (i *storeIndex) lists(h v1.Hash) bool {
	for _, d := range i.manifest.Manifests {
		if d.Digest == h {
			return true
		}
	}
	return false
}

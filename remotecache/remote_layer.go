package remotecache

import (
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// blobLayer is a layer known by its descriptor and diffID whose bytes are
// opened only when read: every property but the content comes from the
// descriptor, so building a manifest from it costs no request.
type blobLayer struct {
	desc   v1.Descriptor
	diffID v1.Hash
	open   func() (io.ReadCloser, error)
}

var _ partial.CompressedLayer = (*blobLayer)(nil)

func (b *blobLayer) Digest() (v1.Hash, error)            { return b.desc.Digest, nil }
func (b *blobLayer) Size() (int64, error)                { return b.desc.Size, nil }
func (b *blobLayer) MediaType() (types.MediaType, error) { return b.desc.MediaType, nil }
func (b *blobLayer) DiffID() (v1.Hash, error)            { return b.diffID, nil }

// Compressed opens the blob.
func (b *blobLayer) Compressed() (io.ReadCloser, error) {
	rc, err := b.open()
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", b.desc.Digest, err)
	}
	return rc, nil
}

// newBlobLayer makes a v1.Layer of b (partial derives Uncompressed, which
// detects gzip, zstd or a plain tar).
func newBlobLayer(b *blobLayer) v1.Layer {
	l, _ := partial.CompressedToLayer(b) // never fails
	return l
}

// registryLayer returns the lazy layer d of repo: a MountableLayer, so that
// remote.Write to another repository of the registry mounts it. The
// registry client is made on first read; ggcr verifies the blob's digest
// as it is read.
func registryLayer(repo name.Repository, d v1.Descriptor, diffID v1.Hash, opts []remote.Option) v1.Layer {
	ref := repo.Digest(d.Digest.String())
	l := newBlobLayer(&blobLayer{desc: d, diffID: diffID, open: func() (io.ReadCloser, error) {
		rl, err := remote.Layer(ref, opts...)
		if err != nil {
			return nil, registryError(err)
		}
		rc, err := rl.Compressed()
		if err != nil {
			return nil, registryError(err)
		}
		return rc, nil
	}})
	return &remote.MountableLayer{Layer: l, Reference: ref}
}

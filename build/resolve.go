package build

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/bldbuild/bld/registry"
	"github.com/bldbuild/bld/state"
	"github.com/bldbuild/bld/store"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/bldbuild/bld/dag"
	"github.com/bldbuild/bld/frontend"
)

// resolver finds base images: in the local store first (as docker does),
// else in a registry. A pulled image stays remote and lazy: its layers are
// fetched only when a step must run on them or the output needs them
// (a push to the same registry mounts them instead).
type resolver struct {
	root   *state.Root
	client *registry.Client
	pull   bool // --pull: always ask the registry for tags

	mu     sync.Mutex // protects pulled
	pulled map[v1.Hash]pulledImage
}

type pulledImage struct {
	name string
	img  v1.Image
}

// Resolve implements frontend.Options.Resolve.
func (r *resolver) Resolve(ctx context.Context, ref string, platform v1.Platform) (*frontend.Image, error) {
	if !r.pull {
		img, desc, err := r.local(ref)
		var le *registry.LimitError
		if errors.As(err, &le) {
			return nil, fmt.Errorf("image %s: %w", ref, err) // not a miss: it is here, too large
		}
		if err == nil {
			if err := r.client.Limits().CheckImage(ref, img); err != nil {
				return nil, err
			}
			cfg, err := img.ConfigFile()
			if err != nil {
				return nil, fmt.Errorf("image %s: config: %w", ref, err)
			}
			return &frontend.Image{Ref: ref, Digest: desc.Digest, Config: cfg}, nil
		}
	}
	nref, err := r.client.ParseReference(ref)
	if err != nil {
		return nil, err
	}
	img, err := remote.Image(nref, r.client.RemoteOptions(ctx, remote.WithPlatform(platform))...)
	if err != nil {
		if !r.pull {
			return nil, fmt.Errorf("not in the local store, and pull %w", registry.Error(ref, err))
		}
		return nil, fmt.Errorf("pull %w", registry.Error(ref, err))
	}
	// Before the config or layers are read: the manifest (bounded by the
	// client's transport) declares both.
	if err := r.client.Limits().CheckImage(nref.Name(), img); err != nil {
		return nil, fmt.Errorf("pull %w", err) // the error names the image
	}
	digest, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", ref, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("pull %s: config: %w", ref, err)
	}
	registry.OpenBlobLocations(r.root.BlobLocationsPath()).Add(nref.Context(), registry.LayerDigests(img))
	r.mu.Lock()
	if r.pulled == nil {
		r.pulled = map[v1.Hash]pulledImage{}
	}
	r.pulled[digest] = pulledImage{name: nref.Name(), img: img}
	r.mu.Unlock()
	return &frontend.Image{Ref: nref.Name(), Digest: digest, Config: cfg}, nil
}

// storeLimits are the client's pull limits for reads of the store.
func (r *resolver) storeLimits() store.ReadLimits {
	lim := r.client.Limits()
	return store.ReadLimits{ManifestSize: lim.ManifestSize, ConfigSize: lim.ConfigSize}
}

func (r *resolver) local(ref string) (v1.Image, v1.Descriptor, error) {
	desc, err := r.root.Store.Resolve(ref)
	if err != nil {
		return nil, v1.Descriptor{}, err
	}
	img, err := r.root.Store.ImageLimited(desc.Digest.String(), r.storeLimits())
	if err != nil {
		return nil, v1.Descriptor{}, err
	}
	return img, desc, nil
}

// Image implements builder.Builder.Image: the image a Source resolved to,
// from the store or as pulled.
func (r *resolver) Image(ctx context.Context, src *dag.Source) (v1.Image, error) {
	if img, err := r.root.Store.ImageLimited(src.Digest.String(), r.storeLimits()); err == nil {
		return img, nil
	}
	r.mu.Lock()
	p, ok := r.pulled[src.Digest]
	r.mu.Unlock()
	if ok {
		return p.img, nil
	}
	return nil, fmt.Errorf("image %s@%s is no longer in the store", src.Ref, src.Digest)
}

// keepPulled stores and names the base images this build pulled, as docker
// pull would, once the build's image (which holds their layers) is stored.
func (r *resolver) keepPulled(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.pulled {
		desc, err := r.root.Store.WriteImage(ctx, p.img)
		if err != nil {
			return fmt.Errorf("store %s: %w", p.name, err)
		}
		if err := r.root.Store.Tag(p.name, desc); err != nil {
			return err
		}
	}
	return nil
}

package build

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/containerd/platforms"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

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
	// warn reports a warning (a base image of another platform); nil
	// drops it.
	warn func(string)

	mu     sync.Mutex // protects pulled, indexes and resolved
	pulled map[v1.Hash]pulledImage
	// indexes are the indexes pulled names resolved through, by name:
	// the name is kept pointing at the index, as docker's containerd
	// store keeps it, with the platforms this build pulled.
	indexes map[string]v1.ImageIndex
	// resolved are the Resolve calls of this build, by reference and
	// platform.
	resolved map[string]func() (*frontend.Image, error)
}

type pulledImage struct {
	name string
	img  v1.Image
}

// Resolve implements frontend.Options.Resolve. A multi-platform build
// parses the Dockerfile once per platform: a reference and platform
// already resolved (a FROM --platform=$BUILDPLATFORM base) is answered
// from memory, one registry lookup and one warning per build.
func (r *resolver) Resolve(ctx context.Context, ref string, platform v1.Platform) (*frontend.Image, error) {
	key := ref + " " + FormatPlatform(platform)
	r.mu.Lock()
	if r.resolved == nil {
		r.resolved = map[string]func() (*frontend.Image, error){}
	}
	f, ok := r.resolved[key]
	if !ok {
		f = sync.OnceValues(func() (*frontend.Image, error) { return r.resolve(ctx, ref, platform) })
		r.resolved[key] = f
	}
	r.mu.Unlock()
	return f()
}

func (r *resolver) resolve(ctx context.Context, ref string, platform v1.Platform) (*frontend.Image, error) {
	if !r.pull {
		img, desc, err := r.local(ref, platform)
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
			r.checkPlatform(ref, cfg, platform)
			return &frontend.Image{Ref: ref, Digest: desc.Digest, Config: cfg}, nil
		}
	}
	nref, err := r.client.ParseReference(ref)
	if err != nil {
		return nil, err
	}
	img, idx, err := r.remoteImage(ctx, nref, platform)
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
	r.checkPlatform(ref, cfg, platform)
	registry.OpenBlobLocations(r.root.BlobLocationsPath()).Add(nref.Context(), registry.LayerDigests(img))
	r.mu.Lock()
	if r.pulled == nil {
		r.pulled = map[v1.Hash]pulledImage{}
	}
	r.pulled[digest] = pulledImage{name: nref.Name(), img: img}
	if idx != nil {
		if r.indexes == nil {
			r.indexes = map[string]v1.ImageIndex{}
		}
		r.indexes[nref.Name()] = idx
	}
	r.mu.Unlock()
	return &frontend.Image{Ref: nref.Name(), Digest: digest, Config: cfg}, nil
}

// storeLimits are the client's pull limits for reads of the store.
func (r *resolver) storeLimits() store.ReadLimits {
	lim := r.client.Limits()
	return store.ReadLimits{ManifestSize: lim.ManifestSize, ConfigSize: lim.ConfigSize}
}

func (r *resolver) local(ref string, platform v1.Platform) (v1.Image, v1.Descriptor, error) {
	desc, err := r.root.Store.Resolve(ref)
	if err != nil {
		return nil, v1.Descriptor{}, err
	}
	if desc.MediaType.IsIndex() {
		// A multi-platform image: the manifest for platform.
		idx, err := r.root.Store.IndexLimited(desc.Digest.String(), r.storeLimits())
		if err != nil {
			return nil, v1.Descriptor{}, err
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return nil, v1.Descriptor{}, fmt.Errorf("image %s: %w", ref, err)
		}
		d, err := matchPlatform(ref, im.Manifests, platform)
		if err != nil {
			return nil, v1.Descriptor{}, err
		}
		desc = d
	}
	img, err := r.root.Store.ImageLimited(desc.Digest.String(), r.storeLimits())
	if err != nil {
		return nil, v1.Descriptor{}, err
	}
	return img, desc, nil
}

// remoteImage fetches ref's manifest for platform: from an index, the
// manifest containerd's matcher picks.
// The index is returned too, when there is one.
func (r *resolver) remoteImage(ctx context.Context, ref name.Reference, platform v1.Platform) (v1.Image, v1.ImageIndex, error) {
	opts := r.client.RemoteOptions(ctx)
	desc, err := remote.Get(ref, opts...)
	if err != nil {
		return nil, nil, err
	}
	if !desc.MediaType.IsIndex() {
		img, err := desc.Image()
		return img, nil, err
	}
	idx, err := desc.ImageIndex()
	if err != nil {
		return nil, nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, nil, err
	}
	d, err := matchPlatform(ref.String(), im.Manifests, platform)
	if err != nil {
		return nil, nil, err
	}
	img, err := idx.Image(d.Digest)
	return img, idx, err
}

// matchPlatform picks the manifest for want among an index's, as
// containerd's matcher does (variants: arm/v7 runs arm/v6; amd64/v2
// falls back to amd64), the best match first.
func matchPlatform(ref string, ds []v1.Descriptor, want v1.Platform) (v1.Descriptor, error) {
	m := platforms.Only(specs.Platform{OS: want.OS, Architecture: want.Architecture, Variant: want.Variant})
	var best *v1.Descriptor
	var have []string
	for i, d := range ds {
		if d.Platform == nil || !d.MediaType.IsImage() {
			continue
		}
		p := specs.Platform{OS: d.Platform.OS, Architecture: d.Platform.Architecture, Variant: d.Platform.Variant}
		have = append(have, platforms.Format(p))
		if !m.Match(p) {
			continue
		}
		if best == nil || m.Less(p, specs.Platform{OS: best.Platform.OS, Architecture: best.Platform.Architecture, Variant: best.Platform.Variant}) {
			best = &ds[i]
		}
	}
	if best == nil {
		return v1.Descriptor{}, fmt.Errorf("image %s: no manifest for %s (the index has %s)", ref, FormatPlatform(want), strings.Join(have, ", "))
	}
	return *best, nil
}

// checkPlatform warns, as BuildKit's InvalidBaseImagePlatform, when a
// single-platform base image is not for the platform asked; the image is
// used all the same.
func (r *resolver) checkPlatform(ref string, cfg *v1.ConfigFile, want v1.Platform) {
	if r.warn == nil || cfg.Architecture == "" {
		return
	}
	got := specs.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}
	if platforms.Only(specs.Platform{OS: want.OS, Architecture: want.Architecture, Variant: want.Variant}).Match(got) {
		return
	}
	r.warn("WARN: " + linter.RuleInvalidBaseImagePlatform.Name + ": " +
		linter.RuleInvalidBaseImagePlatform.Format(ref, FormatPlatform(want), platforms.Format(platforms.Normalize(got))))
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
		if _, ok := r.indexes[p.name]; ok {
			continue // named below
		}
		if err := r.root.Store.Tag(p.name, desc); err != nil {
			return err
		}
	}
	// A name pulled through an index points at the index: the store
	// holds the platforms this build pulled, a later build for another
	// platform asks the registry.
	for n, idx := range r.indexes {
		desc, err := r.root.Store.WriteIndexManifest(idx)
		if err != nil {
			return fmt.Errorf("store %s: %w", n, err)
		}
		if err := r.root.Store.Tag(n, desc); err != nil {
			return err
		}
	}
	return nil
}

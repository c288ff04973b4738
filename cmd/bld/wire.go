package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/bldbuild/bld/cache"
	"github.com/bldbuild/bld/dag"
	"github.com/bldbuild/bld/frontend"
	"github.com/bldbuild/bld/internal/fscopy"
	"github.com/bldbuild/bld/registry"
	"github.com/bldbuild/bld/snapshot"
	"github.com/bldbuild/bld/store"
)

// state is an opened root: the store, the cache and the snapshotter.
type state struct {
	root  string
	store *store.Store
	cache *cache.Cache
	snaps snapshot.Snapshotter
}

// openState opens the root's store and cache; the snapshotter only when
// withSnapshots (it probes overlay, which commands like images need not).
func openState(g *globalOptions, withSnapshots bool) (*state, error) {
	root, err := filepath.Abs(g.root)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("open root: %w", err)
	}
	st := &state{root: root}
	if st.store, err = store.Open(root); err != nil {
		return nil, err
	}
	if st.cache, err = cache.Open(filepath.Join(root, "cache")); err != nil {
		return nil, err
	}
	if withSnapshots {
		if st.snaps, err = snapshot.New(filepath.Join(root, "snapshots")); err != nil {
			return nil, err
		}
		// Active snapshots of bld processes that died (a crash, kill -9).
		if c, ok := st.snaps.(interface{ Cleanup(context.Context) error }); ok {
			_ = c.Cleanup(context.Background())
		}
	}
	return st, nil
}

// mountsDir holds RUN --mount=type=cache contents.
func (st *state) mountsDir() string { return filepath.Join(st.root, "cachemounts") }

// hostPlatform is the platform images are built for by default.
func hostPlatform() v1.Platform {
	p := v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	if runtime.GOARCH == "arm" {
		p.Variant = "v7"
	}
	return p
}

// registryClient is the registry client for the global options: the
// --insecure-registry list, the default keychain, the retry policy.
func registryClient(g *globalOptions) *registry.Client {
	return registry.New(registry.Options{Insecure: g.insecure})
}

// parseRef parses an image reference, plain HTTP for loopback registries
// and the --insecure-registry ones.
func parseRef(g *globalOptions, ref string) (name.Reference, error) {
	return registryClient(g).ParseReference(ref)
}

func remoteOptions(ctx context.Context, g *globalOptions, platform *v1.Platform) []remote.Option {
	var extra []remote.Option
	if platform != nil {
		extra = append(extra, remote.WithPlatform(*platform))
	}
	return registryClient(g).RemoteOptions(ctx, extra...)
}

// openBlobLocations opens the root's memory of which repositories hold
// which blobs.
func openBlobLocations(root string) *registry.BlobLocations {
	return registry.OpenBlobLocations(filepath.Join(root, "cache", "blob-locations.json"))
}

// resolver finds base images: in the local store first (as docker does),
// else in a registry. A pulled image stays remote and lazy: its layers are
// fetched only when a step must run on them or the output needs them
// (a push to the same registry mounts them instead).
type resolver struct {
	g    *globalOptions
	st   *state
	pull bool // --pull: always ask the registry for tags

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
		if img, desc, err := r.local(ref); err == nil {
			cfg, err := img.ConfigFile()
			if err != nil {
				return nil, fmt.Errorf("image %s: config: %w", ref, err)
			}
			return &frontend.Image{Ref: ref, Digest: desc.Digest, Config: cfg}, nil
		}
	}
	nref, err := parseRef(r.g, ref)
	if err != nil {
		return nil, err
	}
	img, err := remote.Image(nref, remoteOptions(ctx, r.g, &platform)...)
	if err != nil {
		if !r.pull {
			return nil, fmt.Errorf("not in the local store, and pull %w", registry.Error(ref, err))
		}
		return nil, fmt.Errorf("pull %w", registry.Error(ref, err))
	}
	digest, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", ref, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("pull %s: config: %w", ref, err)
	}
	openBlobLocations(r.st.root).Add(nref.Context(), registry.LayerDigests(img))
	r.mu.Lock()
	if r.pulled == nil {
		r.pulled = map[v1.Hash]pulledImage{}
	}
	r.pulled[digest] = pulledImage{name: nref.Name(), img: img}
	r.mu.Unlock()
	return &frontend.Image{Ref: nref.Name(), Digest: digest, Config: cfg}, nil
}

func (r *resolver) local(ref string) (v1.Image, v1.Descriptor, error) {
	desc, err := r.st.store.Resolve(ref)
	if err != nil {
		return nil, v1.Descriptor{}, err
	}
	img, err := r.st.store.Image(desc.Digest.String())
	if err != nil {
		return nil, v1.Descriptor{}, err
	}
	return img, desc, nil
}

// Image implements builder.Builder.Image: the image a Source resolved to,
// from the store or as pulled.
func (r *resolver) Image(ctx context.Context, src *dag.Source) (v1.Image, error) {
	if img, err := r.st.store.Image(src.Digest.String()); err == nil {
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
		desc, err := r.st.store.WriteImage(ctx, p.img)
		if err != nil {
			return fmt.Errorf("store %s: %w", p.name, err)
		}
		if err := r.st.store.Tag(p.name, desc); err != nil {
			return err
		}
	}
	return nil
}

// openStatCache opens the context stat cache kept in the root.
func openStatCache(root string) (*fscopy.FileStatCache, error) {
	return fscopy.OpenStatCache(filepath.Join(root, "statcache.json"))
}

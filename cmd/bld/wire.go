package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/bldbuild/bld/dag"
	"github.com/bldbuild/bld/frontend"
	"github.com/bldbuild/bld/internal/fscopy"
	"github.com/bldbuild/bld/state"
)

// hostPlatform is the platform images are built for by default.
func hostPlatform() v1.Platform {
	p := v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	if runtime.GOARCH == "arm" {
		p.Variant = "v7"
	}
	return p
}

// isLoopback reports whether a registry host is on this machine; those are
// reached over plain HTTP by default.
func isLoopback(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(h, "[]"))
	return ip != nil && ip.IsLoopback()
}

// parseRef parses an image reference, allowing plain HTTP for loopback
// registries and the --insecure-registry hosts.
func parseRef(g *globalOptions, ref string) (name.Reference, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("invalid reference %q: %w", ref, err)
	}
	host := r.Context().RegistryStr()
	insecure := isLoopback(host)
	for _, h := range g.insecure {
		if h == host {
			insecure = true
		}
	}
	if insecure {
		return name.ParseReference(ref, name.Insecure)
	}
	return r, nil
}

func remoteOptions(ctx context.Context, platform *v1.Platform) []remote.Option {
	opts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(authn.DefaultKeychain),
		remote.WithJobs(4),
	}
	if platform != nil {
		opts = append(opts, remote.WithPlatform(*platform))
	}
	return opts
}

// resolver finds base images: in the local store first (as docker does),
// else in a registry. A pulled image stays remote and lazy: its layers are
// fetched only when a step must run on them or the output needs them
// (a push to the same registry mounts them instead).
type resolver struct {
	g    *globalOptions
	st   *state.Root
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
	img, err := remote.Image(nref, remoteOptions(ctx, &platform)...)
	if err != nil {
		if !r.pull {
			return nil, fmt.Errorf("not in the local store, and pull: %w", registryError(err))
		}
		return nil, fmt.Errorf("pull: %w", registryError(err))
	}
	digest, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", ref, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("pull %s: config: %w", ref, err)
	}
	openBlobLocations(r.st.Dir).add(nref.Context(), layerDigests(img))
	r.mu.Lock()
	if r.pulled == nil {
		r.pulled = map[v1.Hash]pulledImage{}
	}
	r.pulled[digest] = pulledImage{name: nref.Name(), img: img}
	r.mu.Unlock()
	return &frontend.Image{Ref: nref.Name(), Digest: digest, Config: cfg}, nil
}

func (r *resolver) local(ref string) (v1.Image, v1.Descriptor, error) {
	desc, err := r.st.Store.Resolve(ref)
	if err != nil {
		return nil, v1.Descriptor{}, err
	}
	img, err := r.st.Store.Image(desc.Digest.String())
	if err != nil {
		return nil, v1.Descriptor{}, err
	}
	return img, desc, nil
}

// Image implements builder.Builder.Image: the image a Source resolved to,
// from the store or as pulled.
func (r *resolver) Image(ctx context.Context, src *dag.Source) (v1.Image, error) {
	if img, err := r.st.Store.Image(src.Digest.String()); err == nil {
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
		desc, err := r.st.Store.WriteImage(ctx, p.img)
		if err != nil {
			return fmt.Errorf("store %s: %w", p.name, err)
		}
		if err := r.st.Store.Tag(p.name, desc); err != nil {
			return err
		}
	}
	return nil
}

// openStatCache opens the context stat cache kept in the root.
func openStatCache(st *state.Root) (*fscopy.FileStatCache, error) {
	return fscopy.OpenStatCache(st.StatCachePath())
}

// registryError puts the HTTP status first in a registry's error, so the
// one line a user sees says what the registry answered.
func registryError(err error) error {
	var te *transport.Error
	if errors.As(err, &te) && te.StatusCode != 0 {
		return fmt.Errorf("HTTP %d %s: %w", te.StatusCode, http.StatusText(te.StatusCode), err)
	}
	return err
}

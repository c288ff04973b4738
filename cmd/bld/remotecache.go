package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/compression"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/bldbuild/bld/builder"
	"github.com/bldbuild/bld/cache"
	"github.com/bldbuild/bld/dag"
	"github.com/bldbuild/bld/frontend"
	"github.com/bldbuild/bld/internal/compress"
)

// cacheNameOpts makes a cache reference plain HTTP when its registry is on
// loopback or named by --insecure-registry, as for images.
func cacheNameOpts(g *globalOptions, spec string) []name.Option {
	ref := spec
	if strings.Contains(spec, "=") {
		ref = ""
		for _, f := range strings.Split(spec, ",") {
			if k, v, _ := strings.Cut(f, "="); k == "ref" {
				ref = v
			}
		}
	}
	if ref == "" {
		return nil
	}
	return registryClient(g).NameOptions(ref)
}

// importCaches reads every --cache-from. A cache that cannot be read is a
// warning, never a failed build; a missing one is the first build's normal.
// Exported RUN cache mounts are restored when this root has none of that id.
func importCaches(ctx context.Context, g *globalOptions, specs []string, cacheMounts string, w io.Writer) []builder.RemoteCache {
	var out []builder.RemoteCache
	for _, spec := range specs {
		r, err := cache.Import(ctx, spec, cacheNameOpts(g, spec), remoteOptions(ctx, g, nil)...)
		switch {
		case errors.Is(err, cache.ErrNoCache):
			fmt.Fprintf(w, "cache-from %s: no cache there yet\n", spec)
			continue
		case err != nil:
			fmt.Fprintf(w, "warning: %v (building without it)\n", err)
			continue
		}
		fmt.Fprintf(w, "cache-from %s: %d steps\n", r, r.Len())
		for _, m := range r.Mounts() {
			dir := builder.CacheMountDir(cacheMounts, m.ID)
			if _, err := os.Stat(dir); err == nil {
				continue
			}
			if err := os.MkdirAll(dir, 0o755); err == nil {
				_ = os.WriteFile(dir+".id", []byte(m.ID), 0o600)
				if err := cache.UnpackMount(ctx, m.Layer, dir); err != nil {
					fmt.Fprintf(w, "warning: cache-from %s: cache mount %s: %v\n", r, m.ID, err)
					_ = os.RemoveAll(dir)
				}
			}
		}
		out = append(out, r)
	}
	return out
}

// parseCacheTo parses every --cache-to before the build, so a typo fails
// at once.
func parseCacheTo(specs []string) ([]cache.ExportSpec, error) {
	var out []cache.ExportSpec
	for _, s := range specs {
		e, err := cache.ParseExportSpec(s)
		if err != nil {
			return nil, fmt.Errorf("--cache-to %s: %w", s, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// cacheRecords selects the records a cache export carries: mode=min the
// target's own chain (the final image's steps), mode=max every step.
func cacheRecords(plan *frontend.Result, result *builder.Result, mode string) []cache.Record {
	var out []cache.Record
	seen := map[cache.Key]bool{}
	add := func(v *dag.Vertex) {
		s := result.Steps[v]
		if s == nil || seen[s.Key] {
			return
		}
		if _, src := v.Op.(*dag.Source); src {
			return
		}
		seen[s.Key] = true
		r := s.Record
		r.Key = s.Key
		out = append(out, r)
	}
	if mode == "max" {
		for v := range result.Steps {
			add(v)
		}
	} else {
		for _, v := range plan.Target.Chain() {
			add(v)
		}
	}
	return out
}

// inlineCache adds the records of the image's own layers to its manifest
// (--cache-to type=inline), so --cache-from of the pushed image works.
func inlineCache(img v1.Image, plan *frontend.Result, result *builder.Result) (v1.Image, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	ann, err := cache.InlineAnnotations(cacheRecords(plan, result, "min"), m.Layers)
	if err != nil {
		return nil, err
	}
	return mutate.Annotations(img, ann).(v1.Image), nil
}

// exportCaches writes every --cache-to but inline. A failed export fails
// the build unless ignore-error=true (buildx's rule).
func exportCaches(ctx context.Context, g *globalOptions, specs []cache.ExportSpec, raw []string, st *state, plan *frontend.Result, result *builder.Result, pushed []string, w io.Writer) error {
	type src struct {
		diffID v1.Hash
		remote builder.RemoteCache
	}
	layers := map[v1.Hash]src{}
	for _, s := range result.Steps {
		if s.Layer != nil {
			layers[s.Layer.Digest] = src{s.DiffID, s.Remote}
		}
	}
	for i, spec := range specs {
		if spec.Inline {
			continue
		}
		e := cache.Export{
			Records: cacheRecords(plan, result, spec.Mode),
			Note:    func(msg string) { fmt.Fprintf(w, "cache-to: %s\n", msg) },
			Layer: func(desc v1.Descriptor) (v1.Layer, error) {
				s := layers[desc.Digest]
				var l v1.Layer
				var err error
				if s.remote != nil {
					l, err = s.remote.Layer(desc, s.diffID)
				} else {
					l, err = st.store.Layer(desc, s.diffID)
				}
				if err != nil || spec.Compression == "" || compress.FormatOf(desc.MediaType) == spec.Compression {
					return l, err
				}
				return tarball.LayerFromOpener(l.Uncompressed, tarball.WithCompression(compression.Compression(spec.Compression)))
			},
		}
		if spec.CacheMounts {
			ids, err := builder.CacheMountIDs(st.mountsDir())
			if err != nil {
				return err
			}
			for id, dir := range ids {
				e.Mounts = append(e.Mounts, cache.MountDir{ID: id, Dir: dir})
			}
		}
		if len(pushed) > 0 {
			if ref, err := parseRef(g, pushed[0]); err == nil {
				repo := ref.Context()
				e.MountFrom = &repo
			}
		}
		err := spec.Write(ctx, e, cacheNameOpts(g, raw[i]), remoteOptions(ctx, g, nil)...)
		if err != nil {
			if spec.IgnoreError {
				fmt.Fprintf(w, "warning: %v\n", err)
				continue
			}
			return err
		}
	}
	return nil
}

package build

import (
	"context"
	"io"
	"time"

	"github.com/bldbuild/bld/state"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/bldbuild/bld/builder"
	"github.com/bldbuild/bld/dag"
	"github.com/bldbuild/bld/exporter"
	"github.com/bldbuild/bld/frontend"
	"github.com/bldbuild/bld/snapshot"
)

// assemble turns the build result into an image: the base image, then one
// layer or empty history entry per instruction of the target's chain.
func assemble(ctx context.Context, res *resolver, root *state.Root, plan *frontend.Result, result *builder.Result, platform v1.Platform, epoch *time.Time) (v1.Image, error) {
	var base v1.Image
	if plan.Base != nil {
		img, err := res.Image(ctx, &dag.Source{Ref: plan.Base.Ref, Digest: plan.Base.Digest})
		if err != nil {
			return nil, err
		}
		base = img
	}
	var entries []exporter.Layer
	for _, s := range plan.History {
		h := s.History
		if s.Vertex == nil {
			h.EmptyLayer = true
			entries = append(entries, exporter.Layer{History: h})
			continue
		}
		step := result.Steps[s.Vertex]
		if step == nil || step.Layer == nil {
			h.EmptyLayer = true
			entries = append(entries, exporter.Layer{History: h})
			continue
		}
		var l v1.Layer
		var err error
		if step.Remote != nil {
			// From an imported cache and not needed locally: a lazy remote
			// layer, mounted rather than re-uploaded on a push to its registry.
			l, err = step.Remote.Layer(*step.Layer, step.DiffID)
		} else {
			l, err = root.Store.Layer(*step.Layer, step.DiffID)
		}
		if err != nil {
			return nil, err
		}
		entries = append(entries, exporter.Layer{Layer: l, History: h})
	}
	// The image is as old as its newest step, so a rebuild that reuses
	// every step reproduces the same digest (SOURCE_DATE_EPOCH pins it).
	var created time.Time
	for _, s := range plan.History {
		if step := result.Steps[s.Vertex]; s.Vertex != nil && step != nil && step.Created.After(created) {
			created = step.Created
		}
	}
	if created.IsZero() {
		created = time.Now().UTC().Truncate(time.Second)
	}
	if epoch != nil {
		created = *epoch
	}
	img, err := exporter.Image(base, entries, plan.Config, platform, created)
	if err != nil || plan.Author == "" {
		return img, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Author = plan.Author
	return mutate.ConfigFile(img, cf)
}

// snapshotSource gives a layer's content from the snapshot its step left
// on disk: the same bytes as the stored blob (the recompressor checks the
// diffID), without decompressing it.
func snapshotSource(root *state.Root, result *builder.Result, epoch *time.Time) exporter.Source {
	snaps := map[v1.Hash]string{}
	for _, s := range result.Steps {
		// An empty layer's record names its parent's snapshot.
		if s.Layer != nil && s.Record.Snapshot != "" && s.DiffID != builder.EmptyTarDiffID {
			snaps[s.Layer.Digest] = s.Record.Snapshot
		}
	}
	return func(ctx context.Context, digest v1.Hash) (io.ReadCloser, bool) {
		name, ok := snaps[digest]
		if !ok {
			return nil, false
		}
		if _, err := root.Snapshots.Stat(ctx, name); err != nil {
			return nil, false
		}
		pr, pw := io.Pipe()
		go func() {
			pw.CloseWithError(root.Snapshots.Diff(ctx, pw, name, snapshot.DiffOptions{Epoch: epoch}))
		}()
		return pr, true
	}
}

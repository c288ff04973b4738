package snapshot_test

import (
	"context"
	"testing"

	"github.com/bldbuild/bld/internal/testutil"
	"github.com/bldbuild/bld/snapshot"
)

// BenchmarkPrepareRemove is what a RUN step that changed nothing costs
// the snapshot store: an active snapshot over a committed parent, then
// its removal.
func BenchmarkPrepareRemove(b *testing.B) {
	testutil.RequireOverlay(b)
	ctx := context.Background()
	o, err := snapshot.NewOverlay(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	if _, err := o.Prepare(ctx, "base-active", ""); err != nil {
		b.Fatal(err)
	}
	if err := o.Commit(ctx, "base", "base-active"); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := o.Prepare(ctx, "step", "base"); err != nil {
			b.Fatal(err)
		}
		if err := o.Remove(ctx, "step"); err != nil {
			b.Fatal(err)
		}
	}
}

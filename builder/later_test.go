package builder_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bldbuild/bld/builder"
	"github.com/bldbuild/bld/dag"
	"github.com/bldbuild/bld/snapshot"
)

// TestLayerBesideNextStep: a step's layer is written while the next step
// runs on its snapshot (here the first diff waits until the next step
// has started, and would time out if the layer came first); the result
// and the cache record are as if written first: a rebuild is all cached.
func TestLayerBesideNextStep(t *testing.T) {
	e := newEnv(t, map[string]string{"f": "hello"})
	g := &graph{}
	cp := g.copyCtx(g.from("main"), "f", "/f")
	target := g.run(cp, "write /g x")
	release := make(chan struct{})
	var once sync.Once
	slow := &waitingDiff{release: release}
	e.runner.funcs["write /g x"] = func(ctx context.Context, root string) error {
		once.Do(func() { close(release) })
		return interpret(ctx, root, "write /g x")
	}
	res, _, _ := e.mustBuild(target, func(b *builder.Builder) {
		slow.Snapshotter = b.Snapshots
		b.Snapshots = slow
	})
	if slow.timedOut {
		t.Error("the COPY's layer was written before the RUN after it started")
	}
	for _, v := range []*dag.Vertex{cp, target} {
		if st := res.Steps[v]; st == nil || st.Layer == nil || st.DiffID.Hex == "" {
			t.Errorf("%s: no layer in the result: %+v", v.Name, st)
		}
	}
	_, _, runs := e.mustBuild(target)
	if runs != 0 {
		t.Errorf("rebuild ran %d steps, want 0 (the records were written)", runs)
	}
}

// TestLayerBesideNextStepFails: a layer written beside the next steps
// that fails fails the build, and its step has no record: the next build
// runs it again (the RUN after it, recorded, may be a hit: its key is the
// same, its layer its own).
func TestLayerBesideNextStepFails(t *testing.T) {
	e := newEnv(t, map[string]string{"f": "hello"})
	g := &graph{}
	cp := g.copyCtx(g.from("main"), "f", "/f")
	target := g.run(cp, "write /g x")
	// The RUN waits until the first Diff (the COPY's layer, being written
	// beside it) has failed: without that, a RUN quick enough had its own
	// layer's Diff come first and fail instead, and the COPY was recorded.
	failing := &failingDiff{called: make(chan struct{})}
	e.runner.funcs["write /g x"] = func(ctx context.Context, root string) error {
		select {
		case <-failing.called:
		case <-time.After(10 * time.Second):
		}
		return interpret(ctx, root, "write /g x")
	}
	_, _, _, err := e.build(target, func(b *builder.Builder) {
		failing.Snapshotter = b.Snapshots
		b.Snapshots = failing
	})
	var se *builder.StepError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "diff refused") {
		t.Fatalf("build: %v, want a StepError from the failed layer", err)
	}
	res, _, _ := e.mustBuild(target)
	if st := res.Steps[cp]; st == nil || st.Cached || st.Layer == nil {
		t.Errorf("rebuild: the COPY whose layer failed: %+v, want it run again, with a layer", st)
	}
}

// waitingDiff's first Diff waits (up to 10 s) for release.
type waitingDiff struct {
	snapshot.Snapshotter
	release  chan struct{}
	once     sync.Once
	timedOut bool
}

func (w *waitingDiff) Diff(ctx context.Context, out io.Writer, name string, opt snapshot.DiffOptions) error {
	w.once.Do(func() {
		select {
		case <-w.release:
		case <-time.After(10 * time.Second):
			w.timedOut = true
		}
	})
	return w.Snapshotter.Diff(ctx, out, name, opt)
}

// failingDiff fails the first Diff.
type failingDiff struct {
	snapshot.Snapshotter
	once   sync.Once
	called chan struct{} // closed by the first Diff
}

func (f *failingDiff) Diff(ctx context.Context, out io.Writer, name string, opt snapshot.DiffOptions) (err error) {
	failed := false
	f.once.Do(func() { failed = true; close(f.called) })
	if failed {
		return errors.New("diff refused")
	}
	return f.Snapshotter.Diff(ctx, out, name, opt)
}

package builder_test

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/bldbuild/bld/builder"
	"github.com/bldbuild/bld/cache"
	"github.com/bldbuild/bld/internal/archive"
	"github.com/bldbuild/bld/snapshot"
	"github.com/bldbuild/bld/store"
)

// TestCopyStraightToLayer: a COPY no step of the build builds on (the
// last of the target stage) is written straight to its layer: the layer
// holds the files, and no snapshot is made. A later build whose RUN
// builds on that COPY (a cache hit) gets the snapshot made from the layer,
// files included, and the record names it from then on.
func TestCopyStraightToLayer(t *testing.T) {
	e := newEnv(t, nil)
	if err := os.MkdirAll(filepath.Join(e.ctxDir, "data", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	e.write("data/a", "A")
	e.write("data/sub/b", "B")
	g := &graph{}
	cp := g.copyCtx(g.from("main"), "data", "/data")
	res, _, _ := e.mustBuild(cp)
	st := res.Steps[cp]
	if st == nil || st.Layer == nil {
		t.Fatalf("the COPY has no layer: %+v", st)
	}
	if st.Record.Snapshot != "" {
		t.Errorf("the COPY's record names snapshot %q, want none", st.Record.Snapshot)
	}
	snaps, err := snapshot.NewNative(filepath.Join(e.state, "snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	name := snapshot.StepName(st.Key.String())
	if _, err := snaps.Stat(t.Context(), name); !errors.Is(err, snapshot.ErrNotFound) {
		t.Errorf("Stat(the COPY's snapshot) = %v, want ErrNotFound: it was made", err)
	}
	names := layerNames(t, e, st)
	if want := []string{"data/", "data/a", "data/sub/", "data/sub/b"}; !slices.Equal(names, want) {
		t.Errorf("layer = %q, want %q", names, want)
	}

	run := g.run(cp, "exists /data/sub/b")
	res, _, runs := e.mustBuild(run)
	if runs != 1 || !res.Steps[cp].Cached {
		t.Errorf("second build ran %d steps (the COPY cached: %v), want only the RUN", runs, res.Steps[cp].Cached)
	}
	if _, err := snaps.Stat(t.Context(), name); err != nil {
		t.Errorf("the COPY's snapshot after a step built on it: %v", err)
	}
	c, err := cache.Open(filepath.Join(e.state, "cache"))
	if err != nil {
		t.Fatal(err)
	}
	if rec, err := c.Get(st.Key); err != nil || rec.Snapshot != name {
		t.Errorf("record after the restore: snapshot %q (%v), want %q", rec.Snapshot, err, name)
	}
}

// TestCopyFromStraightToLayer: so is a COPY --from that no step builds on
// (a final stage's last COPY of a binary): its layer holds the file and
// the directories made on the way, and no snapshot is made for it.
func TestCopyFromStraightToLayer(t *testing.T) {
	e := newEnv(t, nil)
	g := &graph{}
	build := g.run(g.from("build"), "write /out/app binary")
	cp := g.copyFrom(g.from("main"), build, "/out/app", "/usr/bin/")
	res, _, _ := e.mustBuild(cp)
	st := res.Steps[cp]
	if st == nil || st.Layer == nil || st.Record.Snapshot != "" {
		t.Fatalf("the COPY --from: %+v, want a layer and no snapshot", st)
	}
	if got, want := layerNames(t, e, st), []string{"usr/", "usr/bin/", "usr/bin/app"}; !slices.Equal(got, want) {
		t.Errorf("layer = %q, want %q", got, want)
	}
}

// layerNames lists the entries of step st's layer in e's store.
func layerNames(t *testing.T, e *env, st *builder.Step) []string {
	t.Helper()
	s, err := store.Open(filepath.Join(e.state, "store"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.Layer(*st.Layer, st.DiffID)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var names []string
	if err := archive.Walk(t.Context(), rc, func(h *tar.Header, _ io.Reader) error {
		names = append(names, h.Name)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return names
}

package builder_test

import (
	"testing"

	"github.com/bldbuild/bld/dag"
)

// TestSharedStageRunsOnce: two platforms' graphs, each a cross-compile
// stage on the build platform (the same steps, the same keys) and a final
// stage of its own platform that copies from it. BuildAll runs the shared
// stage once, as BuildKit merges identical vertices, and each platform's
// own step once; both final images get the shared layer.
func TestSharedStageRunsOnce(t *testing.T) {
	e := newEnv(t, nil)
	g := &graph{}
	platform := func(p string) *dag.Vertex {
		build := g.add(nil, "build", &dag.Source{Platform: "linux/amd64"}, "FROM scratch")
		cross := g.run(build, "write /out/app cross-compiled")
		final := g.add(nil, "final", &dag.Source{Platform: p}, "FROM scratch")
		v := g.copyFrom(final, cross, "/out/app", "/app")
		return g.run(v, "write /arch "+p)
	}
	amd64, arm64 := platform("linux/amd64"), platform("linux/arm64")

	ev := &events{}
	res, err := e.builder(ev).BuildAll(t.Context(), []*dag.Vertex{amd64, arm64})
	if err != nil {
		t.Fatalf("BuildAll: %v", err)
	}
	for cmd, want := range map[string]int{
		"write /out/app cross-compiled": 1,
		"write /arch linux/amd64":       1,
		"write /arch linux/arm64":       1,
	} {
		if got := e.runner.runs(cmd); got != want {
			t.Errorf("%q ran %d times, want %d", cmd, got, want)
		}
	}
	// Each platform's COPY --from got the shared stage's file: its layer
	// is the same, and recorded for both vertices.
	a, b := res.Steps[amd64.Inputs[0]], res.Steps[arm64.Inputs[0]]
	if a == nil || b == nil || a.Layer == nil || b.Layer == nil {
		t.Fatalf("COPY steps missing from the result: %+v %+v", a, b)
	}
	if a.Layer.Digest != b.Layer.Digest {
		t.Errorf("COPY --from layers differ: %s and %s", a.Layer.Digest, b.Layer.Digest)
	}
	sa, sb := res.Steps[amd64.Inputs[0].Inputs[1]], res.Steps[arm64.Inputs[0].Inputs[1]]
	if sa == nil || sb == nil || sa.Key != sb.Key || sa.Layer == nil || sb.Layer == nil {
		t.Fatalf("shared stage's step: %+v and %+v, want one result for both", sa, sb)
	}
	// The final stages differ by platform: their steps ran apart.
	if res.Steps[amd64].Key == res.Steps[arm64].Key {
		t.Errorf("the platforms' own steps share key %s", res.Steps[amd64].Key)
	}

	// Again, fully cached: nothing runs.
	before := e.runner.n.Load()
	if _, err := e.builder(&events{}).BuildAll(t.Context(), []*dag.Vertex{amd64, arm64}); err != nil {
		t.Fatalf("second BuildAll: %v", err)
	}
	if n := e.runner.n.Load() - before; n != 0 {
		t.Errorf("second BuildAll ran %d steps, want 0", n)
	}
}

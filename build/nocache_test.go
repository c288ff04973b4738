package build

import (
	"testing"

	"github.com/bldbuild/bld/dag"
)

// TestNoCacheFunc: --no-cache runs every step, --no-cache-filter the named
// stages (any case), and with neither the builder gets no function at all.
// A function that answers false for everything is not the same: the
// builder then writes every layer before the next step starts (layerLater):
// bld build never wrote a layer beside the next step (aa06b76) until this
// test's fix, and a one-file rebuild took 150 ms rather than 139.
func TestNoCacheFunc(t *testing.T) {
	build, test := &dag.Vertex{Stage: "build"}, &dag.Vertex{Stage: "test"}
	for _, tc := range []struct {
		name        string
		o           Options
		nilFunc     bool
		build, test bool
	}{
		{name: "neither", nilFunc: true},
		{name: "no-cache", o: Options{NoCache: true}, build: true, test: true},
		{name: "filter", o: Options{NoCacheFilter: []string{"Build"}}, build: true},
		{name: "both", o: Options{NoCache: true, NoCacheFilter: []string{"x"}}, build: true, test: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := noCacheFunc(tc.o)
			if (f == nil) != tc.nilFunc {
				t.Fatalf("noCacheFunc nil = %v, want %v", f == nil, tc.nilFunc)
			}
			if f == nil {
				return
			}
			if got := f(build); got != tc.build {
				t.Errorf("stage build: %v, want %v", got, tc.build)
			}
			if got := f(test); got != tc.test {
				t.Errorf("stage test: %v, want %v", got, tc.test)
			}
		})
	}
}

package builder

import (
	"testing"

	"github.com/bldbuild/bld/dag"
)

// firstRuns counts the RUN steps that will run in the default network
// with no such step before them: the networks a build warms once its plan
// is known (Builder.WarmNetworks).
func TestFirstRuns(t *testing.T) {
	base := &dag.Vertex{Op: &dag.Source{}}
	run := func(net string, in ...*dag.Vertex) *dag.Vertex {
		return &dag.Vertex{Op: &dag.Run{Args: []string{"true"}, Network: net}, Inputs: in}
	}
	cp := func(in ...*dag.Vertex) *dag.Vertex { return &dag.Vertex{Op: &dag.Copy{}, Inputs: in} }
	plan := func(hits map[*dag.Vertex]bool, vs ...*dag.Vertex) map[*dag.Vertex]*node {
		p := map[*dag.Vertex]*node{base: {hit: true}}
		for _, v := range vs {
			p[v] = &node{hit: hits[v]}
		}
		return p
	}

	r1 := run("", base)
	r2 := run("", r1)
	r3 := run("", r2)
	chain := plan(nil, r1, r2, r3)

	a, b, c, d := run("", base), run("", base), run("default", base), run("", base)
	final := cp(cp(cp(cp(base, a), b), c), d)
	stages := plan(nil, a, b, c, d, final, final.Inputs[0], final.Inputs[0].Inputs[0], final.Inputs[0].Inputs[0].Inputs[0])

	copied := cp(base)
	after := run("", copied)
	oneFile := plan(nil, copied, after)

	cached1 := run("", base)
	cached2 := run("", cached1)
	noop := plan(map[*dag.Vertex]bool{cached1: true, cached2: true}, cached1, cached2)

	// The first of the chain is cached: the second is the first to run.
	h1 := run("", base)
	h2 := run("", h1)
	h3 := run("", h2)
	half := plan(map[*dag.Vertex]bool{h1: true}, h1, h2, h3)

	n1 := run("none", base)
	n2 := run("host", base)
	n3 := run("", n1)
	other := plan(nil, n1, n2, n3)

	for _, tc := range []struct {
		name    string
		plan    map[*dag.Vertex]*node
		network string
		want    int
		runs    bool // runsAny: a RUN step will run, in any network
	}{
		{"chain of three RUNs", chain, "", 1, true},
		{"four stages with one RUN each", stages, "", 4, true},
		{"COPY then RUN", oneFile, "", 1, true},
		{"all cached", noop, "", 0, false},
		{"first cached", half, "", 1, true},
		{"none and host, then a default one after none", other, "", 1, true},
		{"build default --network none", chain, "none", 0, true},
		{"build default --network default", chain, "default", 1, true},
		{"no RUN", plan(nil, copied), "", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := firstRuns(tc.plan, tc.network); got != tc.want {
				t.Errorf("firstRuns = %d, want %d", got, tc.want)
			}
			if got := runsAny(tc.plan); got != tc.runs {
				t.Errorf("runsAny = %v, want %v", got, tc.runs)
			}
		})
	}
}

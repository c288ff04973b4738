package builder_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/bldbuild/bld/builder"
	"github.com/bldbuild/bld/dag"
)

// countingImage counts the reads of its layers' contents.
type countingImage struct {
	v1.Image
	reads *atomic.Int64
}

func (c countingImage) Layers() ([]v1.Layer, error) {
	ls, err := c.Image.Layers()
	out := make([]v1.Layer, len(ls))
	for i, l := range ls {
		out[i] = countingLayer{l, c.reads}
	}
	return out, err
}

type countingLayer struct {
	v1.Layer
	reads *atomic.Int64
}

func (c countingLayer) Uncompressed() (io.ReadCloser, error) {
	c.reads.Add(1)
	return c.Layer.Uncompressed()
}

func (c countingLayer) Compressed() (io.ReadCloser, error) {
	c.reads.Add(1)
	return c.Layer.Compressed()
}

// stagesGraph is issue 11's Dockerfile: n stages FROM one base image with
// a RUN each, in chains of ten (so the target needs every RUN), and a
// target FROM scratch that copies the file of each chain's last stage.
func stagesGraph(g *graph, n int) *dag.Vertex {
	src := &dag.Source{Ref: "example.com/base:1", Digest: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)}}
	var ends []*dag.Vertex
	var last *dag.Vertex
	for i := 1; i <= n; i++ {
		if (i-1)%10 == 0 {
			last = g.add(nil, fmt.Sprintf("s%d", i), src, "FROM base")
		}
		last = g.run(last, fmt.Sprintf("write /n%d %d", i, i))
		if i%10 == 0 || i == n {
			ends = append(ends, last)
		}
	}
	target := g.from("target")
	for _, e := range ends {
		target = g.copyFrom(target, e, "/n*", "/")
	}
	return target
}

func buildStages(t *testing.T, n int) (time.Duration, int64, *events) {
	t.Helper()
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	var reads atomic.Int64
	e := newEnv(t, nil)
	target := stagesGraph(&graph{}, n)
	start := time.Now()
	_, ev, runs := e.mustBuild(target, func(b *builder.Builder) {
		b.Image = func(context.Context, *dag.Source) (v1.Image, error) {
			return countingImage{img, &reads}, nil
		}
	})
	took := time.Since(start)
	if runs != n {
		t.Fatalf("%d stages: %d RUNs executed, want %d", n, runs, n)
	}
	return took, reads.Load(), ev
}

// TestManyStagesUnpackBaseOnce: issue 11. Before the fix every one of
// 1,000 stages FROM one base unpacked its layer itself, all at once, before
// the first RUN could start (27 s of a 95 s build of 1,000 stages, and
// progress drew every unpack on every event); on that code this test saw
// one read of the layer per FROM of it (10 for 100 stages in chains of ten). Now the layer is read once per build,
// whatever the number of stages, and only one FROM reports the pull.
func TestManyStagesUnpackBaseOnce(t *testing.T) {
	for _, n := range []int{10, 100} {
		took, reads, ev := buildStages(t, n)
		pulls := map[*dag.Vertex]bool{}
		for _, e := range ev.all {
			if e.State == builder.Bytes && strings.HasPrefix(e.What, "pull ") {
				pulls[e.Vertex] = true
			}
		}
		t.Logf("%d stages: %v, %d layer reads, %d FROMs reported a pull", n, took, reads, len(pulls))
		if reads != 1 {
			t.Errorf("%d stages FROM one base read its layer %d times, want 1", n, reads)
		}
		if len(pulls) != 1 {
			t.Errorf("%d stages: %d FROM steps reported pulling the base, want 1", n, len(pulls))
		}
	}
}

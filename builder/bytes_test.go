package builder_test

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/bldbuild/bld/builder"
	"github.com/bldbuild/bld/dag"
)

// bytesOf returns the Bytes events of v.
func (ev *events) bytesOf(v *dag.Vertex) []builder.Event {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	var out []builder.Event
	for _, e := range ev.all {
		if e.State == builder.Bytes && e.Vertex == v {
			out = append(out, e)
		}
	}
	return out
}

// TestBytesCompress: a COPY's layer compression reports its bytes, a few
// times a second rather than once per read, and ends with Current == Total.
func TestBytesCompress(t *testing.T) {
	const size = 32 << 20
	e := newEnv(t, nil)
	data := make([]byte, size)
	rand.Read(data) // incompressible, so compression takes a while
	if err := os.WriteFile(filepath.Join(e.ctxDir, "big"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	g := &graph{}
	target := g.copyCtx(g.from("main"), "big", "/big")
	_, ev, _ := e.mustBuild(target)

	got := ev.bytesOf(target)
	if len(got) == 0 {
		t.Fatal("no Bytes events for the COPY")
	}
	// From the step's start to its last transfer event: the layer may be
	// written after the step is Done (beside the steps after it).
	var took time.Duration
	for _, x := range ev.all {
		if x.Vertex == target && x.State == builder.Started {
			took = got[len(got)-1].Time.Sub(x.Time)
		}
	}
	t.Logf("%d Bytes events in %v", len(got), took)
	// One per read would be a thousand (32 KiB reads); throttled, it is
	// one per 100ms of the step, plus the last.
	if max := int(took/(100*time.Millisecond)) + 2; len(got) > max {
		t.Errorf("%d Bytes events in %v, want at most %d", len(got), took, max)
	}
	var prev int64
	for _, x := range got {
		if x.What != "compress" || x.Current < prev {
			t.Errorf("event %+v after %d bytes, want compress counting up", x, prev)
		}
		prev = x.Current
	}
	last := got[len(got)-1]
	if last.Current != last.Total || last.Total < size {
		t.Errorf("last event %d / %d, want Current == Total >= %d", last.Current, last.Total, size)
	}
	for _, x := range got[:len(got)-1] {
		if x.Total != 0 {
			t.Errorf("event %d / %d before the end, want Total 0 (unknown)", x.Current, x.Total)
		}
	}
}

// TestBytesPull: unpacking a base image reports each layer's compressed
// bytes, ending at the layer's size.
func TestBytesPull(t *testing.T) {
	img, err := random.Image(1<<20, 2)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, nil)
	g := &graph{}
	base := g.add(nil, "main", &dag.Source{Ref: "example.com/base"}, "FROM example.com/base")
	target := g.run(base, "write /x y")
	_, ev, _ := e.mustBuild(target, func(b *builder.Builder) {
		b.Image = func(context.Context, *dag.Source) (v1.Image, error) { return img, nil }
	})

	layers, _ := img.Layers()
	last := map[string]builder.Event{}
	for _, x := range ev.bytesOf(base) {
		last[x.What] = x
	}
	if len(last) != len(layers) {
		t.Errorf("Bytes events for %d transfers, want %d (one per layer): %v", len(last), len(layers), last)
	}
	for _, l := range layers {
		d, _ := l.Digest()
		size, _ := l.Size()
		x, ok := last["pull "+d.Hex[:12]]
		if !ok {
			t.Errorf("no Bytes events for layer %s", d)
			continue
		}
		if x.Current != size || x.Total != size {
			t.Errorf("layer %s: last event %d / %d, want %d / %d", d, x.Current, x.Total, size, size)
		}
	}
}

package builder_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/bldbuild/bld/builder"
	"github.com/bldbuild/bld/dag"
	"github.com/bldbuild/bld/store"
)

// TestUnpackKeepsBaseBlobs: unpacking a base image the store lacks keeps
// each layer's compressed blob in the store, read once, so the export
// need not fetch it again; a layer whose diff_id does not check is not
// kept (nor unpacked).
func TestUnpackKeepsBaseBlobs(t *testing.T) {
	img, err := random.Image(256<<10, 2)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, nil)
	g := &graph{}
	base := g.add(nil, "main", &dag.Source{Ref: "example.com/base"}, "FROM example.com/base")
	target := g.run(base, "write /x y")
	var reads atomic.Int64
	e.mustBuild(target, func(b *builder.Builder) {
		b.Image = func(context.Context, *dag.Source) (v1.Image, error) { return countingImage{img, &reads}, nil }
	})
	st, err := store.Open(filepath.Join(e.state, "store"))
	if err != nil {
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	for _, l := range layers {
		d, _ := l.Digest()
		size, _ := l.Size()
		got, err := st.Stat(d)
		if err != nil {
			t.Errorf("layer %s not kept in the store: %v", d, err)
		} else if got != size {
			t.Errorf("layer %s kept with %d bytes, want %d", d, got, size)
		}
	}
	if n := reads.Load(); n != int64(len(layers)) {
		t.Errorf("%d reads of layers, want %d (one each)", n, len(layers))
	}

	// The same layers under a config with a wrong diff_id: the build
	// fails and keeps nothing.
	bad, err := random.Image(256<<10, 1)
	if err != nil {
		t.Fatal(err)
	}
	wrong, _, _ := v1.SHA256(strings.NewReader("not the layer"))
	bad = wrongDiffIDImage{bad, wrong}
	e2 := newEnv(t, nil)
	g2 := &graph{}
	base2 := g2.add(nil, "main", &dag.Source{Ref: "example.com/bad"}, "FROM example.com/bad")
	_, _, _, err = e2.build(g2.run(base2, "write /x y"), func(b *builder.Builder) {
		b.Image = func(context.Context, *dag.Source) (v1.Image, error) { return bad, nil }
	})
	var de *store.DiffIDError
	if !errors.As(err, &de) {
		t.Fatalf("build on a layer with a wrong diff_id: %v, want a *store.DiffIDError", err)
	}
	st2, err := store.Open(filepath.Join(e2.state, "store"))
	if err != nil {
		t.Fatal(err)
	}
	bl, _ := bad.Layers()
	d, _ := bl[0].Digest()
	if _, err := st2.Stat(d); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the layer with a wrong diff_id was kept in the store (Stat: %v)", err)
	}
}

// wrongDiffIDImage's layers claim diffID, as a config with a wrong
// diff_id makes a registry image's layers do.
type wrongDiffIDImage struct {
	v1.Image
	diffID v1.Hash
}

func (w wrongDiffIDImage) Layers() ([]v1.Layer, error) {
	ls, err := w.Image.Layers()
	out := make([]v1.Layer, len(ls))
	for i, l := range ls {
		out[i] = wrongDiffIDLayer{l, w.diffID}
	}
	return out, err
}

type wrongDiffIDLayer struct {
	v1.Layer
	diffID v1.Hash
}

func (l wrongDiffIDLayer) DiffID() (v1.Hash, error) { return l.diffID, nil }

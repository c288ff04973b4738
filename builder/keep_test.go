package builder_test

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/bldbuild/bld/builder"
	"github.com/bldbuild/bld/cache"
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

// TestUnpackEarly: a base image pulled for the build is unpacked while the
// plan hashes the context (here the hashing waits until the layer is
// read, and would time out if the unpack waited for the plan), once. A
// base with only metadata after it is never read, and under --cache-from
// nothing is read before the plan is made.
func TestUnpackEarly(t *testing.T) {
	img, err := random.Image(64<<10, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		copy      bool
		remote    bool
		early     bool  // the layer is read before the context is hashed
		wantReads int64 // at the end
	}{
		{name: "cold", copy: true, early: true, wantReads: 1},
		{name: "metadata only"},
		{name: "cache-from", copy: true, remote: true, wantReads: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, map[string]string{"f": "x"})
			g := &graph{}
			base := g.add(nil, "main", &dag.Source{Ref: "example.com/base"}, "FROM example.com/base")
			target := base
			if tc.copy {
				target = g.copyCtx(base, "f", "/f")
			}
			var reads atomic.Int64
			sc := &planStatCache{reads: &reads, wait: tc.early}
			e.mustBuild(target, func(b *builder.Builder) {
				b.Image = func(context.Context, *dag.Source) (v1.Image, error) {
					return countingImage{img, &reads}, nil
				}
				b.StatCache = sc
				if tc.remote {
					b.Remote = []builder.RemoteCache{emptyRemote{}}
				}
			})
			if n := reads.Load(); n != tc.wantReads {
				t.Errorf("%d reads of the base layer, want %d", n, tc.wantReads)
			}
			if tc.copy && sc.readsAtHash.Load() != map[bool]int64{true: 1, false: 0}[tc.early] {
				t.Errorf("%d reads of the base layer when the context was hashed, want early=%v", sc.readsAtHash.Load(), tc.early)
			}
		})
	}
}

// planStatCache notes how often the base layer was read when the plan
// hashes a context file; with wait it first waits (up to 10 s) for that
// read, which only an early unpack makes.
type planStatCache struct {
	reads       *atomic.Int64
	wait        bool
	readsAtHash atomic.Int64
}

func (c *planStatCache) Get(string, fs.FileInfo) (v1.Hash, bool) {
	for end := time.Now().Add(10 * time.Second); c.wait && c.reads.Load() == 0 && time.Now().Before(end); {
		time.Sleep(time.Millisecond)
	}
	c.readsAtHash.Store(c.reads.Load())
	return v1.Hash{}, false
}

func (c *planStatCache) Put(string, fs.FileInfo, v1.Hash) {}

// emptyRemote is an imported cache with no records.
type emptyRemote struct{}

func (emptyRemote) Get(cache.Key) (cache.Record, bool) { return cache.Record{}, false }
func (emptyRemote) Layer(v1.Descriptor, v1.Hash) (v1.Layer, error) {
	return nil, errors.New("no layers")
}

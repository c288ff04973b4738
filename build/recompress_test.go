package build_test

import (
	"bytes"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/bldbuild/bld/build"
	"github.com/bldbuild/bld/state"
)

// An export in another compression makes its scratch files under the
// state root's tmp/, never in $TMPDIR (DESIGN: every scratch path of a
// build lives under ROOT/tmp). On the code before this test the
// recompressor called os.CreateTemp("", ...), so a $TMPDIR that does not
// exist failed the export.
func TestRecompressScratchUnderRoot(t *testing.T) {
	dir := t.TempDir()
	ctxDir := filepath.Join(dir, "ctx")
	if err := os.MkdirAll(ctxDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ctxDir, "hello"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	root, err := state.Open(t.Context(), filepath.Join(dir, "root"), state.Options{Snapshots: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", filepath.Join(dir, "no-such-tmpdir"))

	out := filepath.Join(dir, "oci")
	_, err = build.Run(t.Context(), build.Options{
		Root:       root,
		ContextDir: ctxDir,
		Dockerfile: []byte("FROM scratch\nCOPY hello /hello\n"),
		Outputs:    []string{"type=oci,dest=" + out + ",tar=false,compression=zstd"},
	})
	if err != nil {
		t.Fatalf("build with a missing $TMPDIR: %v", err)
	}
	p, err := layout.FromPath(out)
	if err != nil {
		t.Fatal(err)
	}
	ii, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := ii.IndexManifest()
	if err != nil || len(im.Manifests) != 1 {
		t.Fatalf("index: %v, %v", im, err)
	}
	img, err := ii.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Layers) != 1 || m.Layers[0].MediaType != types.OCILayerZStd {
		t.Fatalf("layers %+v, want one zstd layer", m.Layers)
	}
	// Nothing is left in tmp/: the scratch files are unlinked at once.
	ents, err := os.ReadDir(root.TmpDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "bld-layer") {
			t.Errorf("left in %s: %s", root.TmpDir(), e.Name())
		}
	}
}

// A build whose only output asks for zstd commits its layers as zstd and
// never writes a gzip blob (DESIGN: a zstd export never writes gzip
// first). A later build that keeps its image in the local store reuses
// the zstd step from the cache, and the store still gets gzip layers.
// Before the commit format followed the outputs, every new layer was
// written to the store as gzip and then compressed again as zstd.
func TestZstdOnlyBuildWritesNoGzip(t *testing.T) {
	dir := t.TempDir()
	ctxDir := filepath.Join(dir, "ctx")
	if err := os.MkdirAll(ctxDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ctxDir, "hello"), bytes.Repeat([]byte("hello\n"), 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	root, err := state.Open(t.Context(), filepath.Join(dir, "root"), state.Options{Snapshots: true})
	if err != nil {
		t.Fatal(err)
	}
	dockerfile := []byte("FROM scratch\nCOPY hello /hello\n")
	formats := func() map[string]int {
		t.Helper()
		got := map[string]int{}
		err := root.Store.Blobs(func(h v1.Hash, _ int64) error {
			rc, err := root.Store.Open(h)
			if err != nil {
				return err
			}
			defer rc.Close()
			head := make([]byte, 4)
			n, _ := io.ReadFull(rc, head)
			switch {
			case bytes.HasPrefix(head[:n], []byte{0x1f, 0x8b}):
				got["gzip"]++
			case bytes.HasPrefix(head[:n], []byte{0x28, 0xb5, 0x2f, 0xfd}):
				got["zstd"]++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}

	out := filepath.Join(dir, "oci")
	if _, err := build.Run(t.Context(), build.Options{
		Root: root, ContextDir: ctxDir, Dockerfile: dockerfile,
		Outputs: []string{"type=oci,dest=" + out + ",tar=false,compression=zstd"},
	}); err != nil {
		t.Fatal(err)
	}
	if got := formats(); got["gzip"] != 0 || got["zstd"] != 1 {
		t.Errorf("after a zstd-only build the store holds %v blobs, want 1 zstd and no gzip", got)
	}

	res, err := build.Run(t.Context(), build.Options{
		Root: root, ContextDir: ctxDir, Dockerfile: dockerfile, Tags: []string{"app:v1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.CacheHits == 0 {
		t.Errorf("second build: no cache hit, want the COPY reused")
	}
	m, err := res.Image.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	img, err := root.Store.Image("app:v1")
	if err != nil {
		t.Fatal(err)
	}
	sm, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(sm.Layers) != 1 || sm.Layers[0].MediaType != types.OCILayer {
		t.Errorf("stored image layers %+v (built %+v), want one gzip layer", sm.Layers, m.Layers)
	}
}

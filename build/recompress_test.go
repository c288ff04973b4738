package build_test

import (
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

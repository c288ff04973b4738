package exporter

import (
	"path/filepath"
	"testing"

	"github.com/bldbuild/bld/store"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestNamesMatchStore checks that an exported OCI layout names images
// exactly as the store records them (both spell names with
// internal/imageref), so that skopeo or umoci find an exported image under
// the name `bld images` shows.
func TestNamesMatchStore(t *testing.T) {
	img, _ := testImage(t)
	for _, n := range []string{"app", "app:v1", "library/app:v1", "docker.io/app:v1", "index.docker.io/library/app",
		"team/app", "localhost:5000/app:v1", "127.0.0.1:5000/a/b:c"} {
		dir := filepath.Join(t.TempDir(), "layout")
		if err := OCI(dir, []string{n}, false).Export(t.Context(), img); err != nil {
			t.Fatal(err)
		}
		idx, err := layout.ImageIndexFromPath(dir)
		if err != nil {
			t.Fatal(err)
		}
		m, err := idx.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		want, err := store.Normalize(n)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Manifests) != 1 || m.Manifests[0].Annotations[ocispec.AnnotationRefName] != want {
			t.Errorf("export as %q: index %v, want the one name %q", n, m.Manifests, want)
		}
	}
}

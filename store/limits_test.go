package store

import (
	"errors"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/bldbuild/bld/internal/readers"
)

// An image with a 9 MiB config in the store (loaded, or pulled with a
// raised limit) is refused by Image at the 8 MiB default, before the
// config is read, naming --limit config-size; ImageLimited with the limit
// raised reads it.
func TestImageConfigLimit(t *testing.T) {
	s, _ := open(t)
	img := fileImage(t, map[string]string{"f": "x"})
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Config.Labels = map[string]string{"pad": strings.Repeat("A", 9<<20)}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	desc := writeImage(t, s, img)
	_, err = s.Image(desc.Digest.String())
	var le *readers.LimitError
	if !errors.As(err, &le) || le.Key != "config-size" || le.Size <= 9<<20 {
		t.Fatalf("Image = %v, want a config-size LimitError", err)
	}
	if _, err := s.ImageLimited(desc.Digest.String(), ReadLimits{ConfigSize: 16 << 20}); err != nil {
		t.Errorf("with config-size=16MiB: %v", err)
	}
	if _, err := s.ImageLimited(desc.Digest.String(), ReadLimits{ManifestSize: 100, ConfigSize: 16 << 20}); !errors.As(err, &le) || le.Key != "manifest-size" {
		t.Errorf("with manifest-size=100: %v, want a manifest-size LimitError", err)
	}
}

// WriteImage refuses a layer whose content does not match the config's
// diff_id, and stores nothing of the image.
func TestWriteImageWrongDiffID(t *testing.T) {
	s, _ := open(t)
	img := fileImage(t, map[string]string{"f": "x"})
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	right := cf.RootFS.DiffIDs[0]
	wrong, _, _ := v1.SHA256(strings.NewReader("not the layer"))
	cf.RootFS.DiffIDs = []v1.Hash{wrong}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	ls, _ := img.Layers()
	digest, _ := ls[0].Digest()
	_, err = s.WriteImage(t.Context(), img)
	var de *DiffIDError
	if !errors.As(err, &de) || de.Want != wrong || de.Actual != right || de.Layer != digest {
		t.Fatalf("WriteImage = %v, want a DiffIDError naming %s, %s and %s", err, digest, right, wrong)
	}
	if _, err := s.Stat(digest); err == nil {
		t.Errorf("the layer %s was stored", digest)
	}
}

package store

import (
	"errors"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// TestWriteIndex: a two-platform index written and named reads back
// whole (ggcr's validate), each platform's image by its digest; an index
// written alone (a pulled base: one platform here) reads back too, the
// missing platform failing with ErrNotFound.
func TestWriteIndex(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var adds []mutate.IndexAddendum
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := random.Image(256, 2)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		cf.OS, cf.Architecture = "linux", arch
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			t.Fatal(err)
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
	desc, err := s.WriteIndex(t.Context(), idx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tag("app:multi", desc); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Image("app:multi"); err == nil {
		t.Error("Image of an index name: no error")
	}
	got, err := s.Index("app:multi")
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(got); err != nil {
		t.Errorf("validate: %v", err)
	}
	if d, _ := got.Digest(); d != desc.Digest {
		t.Errorf("digest %s, want %s", d, desc.Digest)
	}

	// Only the index and its first platform's image.
	s2, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	first, err := idx.Image(mustManifest(t, idx).Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.WriteImage(t.Context(), first); err != nil {
		t.Fatal(err)
	}
	d2, err := s2.WriteIndexManifest(idx)
	if err != nil || d2.Digest != desc.Digest {
		t.Fatalf("WriteIndexManifest = %v, %v", d2, err)
	}
	if err := s2.Tag("base:1", d2); err != nil {
		t.Fatal(err)
	}
	partial, err := s2.Index("base:1")
	if err != nil {
		t.Fatal(err)
	}
	im := mustManifest(t, partial)
	if _, err := partial.Image(im.Manifests[0].Digest); err != nil {
		t.Errorf("the stored platform: %v", err)
	}
	if _, err := partial.Image(im.Manifests[1].Digest); !errors.Is(err, ErrNotFound) {
		t.Errorf("the platform not stored: %v, want ErrNotFound", err)
	}
}

func mustManifest(t *testing.T, idx v1.ImageIndex) *v1.IndexManifest {
	t.Helper()
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	return im
}

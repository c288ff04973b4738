package registry

import (
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	ggcr "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func quietRegistry(t *testing.T) string {
	srv := httptest.NewServer(ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func asLimit(t *testing.T, err error, key string) *LimitError {
	t.Helper()
	var le *LimitError
	if !errors.As(err, &le) || le.Key != key {
		t.Fatalf("got %v, want a LimitError for %s", err, key)
	}
	if !strings.Contains(err.Error(), "--limit "+key+"=") {
		t.Errorf("%q does not name --limit %s", err, key)
	}
	return le
}

// A manifest of 5 MiB (annotations) was read whole by ggcr (its own limit
// is 100 MiB); the Client now refuses it at the 4 MiB default, from its
// Content-Length, and takes it with the limit raised.
func TestManifestSizeLimit(t *testing.T) {
	reg := quietRegistry(t)
	img, err := random.Image(10, 1)
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.Annotations(img, map[string]string{"pad": strings.Repeat("A", 5<<20)}).(v1.Image)
	c := New(Options{})
	ref, err := c.ParseReference(reg + "/limits/bigmanifest:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, c.RemoteOptions(t.Context())...); err != nil {
		t.Fatal(err)
	}
	_, err = remote.Image(ref, c.RemoteOptions(t.Context())...)
	t.Log(err)
	le := asLimit(t, err, "manifest-size")
	if le.Size <= DefaultManifestSize {
		t.Errorf("LimitError.Size = %d, want the manifest's size", le.Size)
	}
	raised := New(Options{Limits: Limits{ManifestSize: 8 << 20}})
	if _, err := remote.Image(ref, raised.RemoteOptions(t.Context())...); err != nil {
		t.Errorf("with manifest-size=8MiB: %v", err)
	}
}

// A registry that sends a manifest without a Content-Length, and more of
// it than the limit: the read stops at the first byte over, instead of
// reading on to ggcr's 100 MiB.
func TestManifestSizeLimitChunked(t *testing.T) {
	sent := make(chan int64, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.URL.Path, "/manifests/") {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
		w.Header().Set("Docker-Content-Digest", "sha256:"+strings.Repeat("0", 64))
		chunk := []byte(strings.Repeat(" ", 64<<10))
		var n int64
		for n < 64<<20 {
			if _, err := w.Write(chunk); err != nil {
				break
			}
			w.(http.Flusher).Flush()
			n += int64(len(chunk))
		}
		sent <- n
	}))
	defer srv.Close()
	c := New(Options{Limits: Limits{ManifestSize: 1 << 20}})
	ref, err := c.ParseReference(strings.TrimPrefix(srv.URL, "http://") + "/limits/endless:1")
	if err != nil {
		t.Fatal(err)
	}
	_, err = remote.Image(ref, c.RemoteOptions(t.Context())...)
	asLimit(t, err, "manifest-size")
	srv.CloseClientConnections()
	if n := <-sent; n >= 64<<20 {
		t.Errorf("the whole 64 MiB was read (%d bytes)", n)
	}
}

// CheckImage refuses an image over the layer count or with a config over
// the size its manifest declares, before the config is read.
func TestCheckImage(t *testing.T) {
	img, err := random.Image(10, 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := (Limits{}).CheckImage("ok", img); err != nil {
		t.Errorf("3 layers, default limits: %v", err)
	}
	err = (Limits{Layers: 2}).CheckImage("three", img)
	if le := asLimit(t, err, "layers"); le.Size != 3 || le.Ref != "three" {
		t.Errorf("LimitError = %+v", le)
	}
	err = (Limits{ConfigSize: 16}).CheckImage("small", img)
	asLimit(t, err, "config-size")
}

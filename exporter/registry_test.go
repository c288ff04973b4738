package exporter

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// recorder counts registry requests and can fail some.
type recorder struct {
	mu       sync.Mutex
	uploads  int // blob uploads with data (PATCH, or PUT with a body)
	mounts   int // successful cross-repository mounts
	failNext int // manifest PUTs to fail with 503
	h        http.Handler
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	if req.Method == http.MethodPut && strings.Contains(req.URL.Path, "/manifests/") && r.failNext > 0 {
		r.failNext--
		r.mu.Unlock()
		http.Error(w, "try later", http.StatusServiceUnavailable)
		return
	}
	if strings.Contains(req.URL.Path, "/blobs/uploads/") && (req.Method == http.MethodPatch || (req.Method == http.MethodPut && req.ContentLength > 0)) {
		r.uploads++
	}
	r.mu.Unlock()
	sw := &statusWriter{ResponseWriter: w}
	r.h.ServeHTTP(sw, req)
	if req.Method == http.MethodPost && req.URL.Query().Get("from") != "" && sw.status == http.StatusCreated {
		r.mu.Lock()
		r.mounts++
		r.mu.Unlock()
	}
}

func (r *recorder) reset() (uploads, mounts int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	uploads, mounts = r.uploads, r.mounts
	r.uploads, r.mounts = 0, 0
	return
}

func newRegistry(t *testing.T) (*recorder, string) {
	t.Helper()
	rec := &recorder{h: registry.New(registry.Logger(log.New(io.Discard, "", 0)))}
	s := httptest.NewServer(rec)
	t.Cleanup(s.Close)
	return rec, strings.TrimPrefix(s.URL, "http://")
}

func pull(t *testing.T, ref string) v1.Image {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r, remote.WithContext(t.Context()))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestRegistry(t *testing.T) {
	rec, host := newRegistry(t)
	img, _ := testImage(t)
	want := digest(t, img)

	// 127.0.0.1:port is loopback: plain HTTP with no option.
	first := host + "/team/app:v1"
	if err := Registry([]string{first, host + "/team/app:latest"}, RegistryOptions{}).Export(t.Context(), img); err != nil {
		t.Fatal(err)
	}
	got := pull(t, first)
	if digest(t, got) != want {
		t.Errorf("pulled %s, want %s", digest(t, got), want)
	}
	if err := validate.Image(got); err != nil {
		t.Errorf("validate pulled image: %v", err)
	}
	if d := digest(t, pull(t, host+"/team/app:latest")); d != want {
		t.Errorf("second tag: %s, want %s", d, want)
	}
	uploads, _ := rec.reset()
	if uploads == 0 {
		t.Error("first push uploaded no blobs")
	}

	// ggcr's registry shares blobs between repositories: another
	// repository finds them all there.
	if err := Registry([]string{host + "/other/app:v1"}, RegistryOptions{}).Export(t.Context(), img); err != nil {
		t.Fatal(err)
	}
	if uploads, _ := rec.reset(); uploads != 0 {
		t.Errorf("push to another repository uploaded %d blobs, want 0", uploads)
	}
	if d := digest(t, pull(t, host+"/other/app:v1")); d != want {
		t.Errorf("other repository: %s, want %s", d, want)
	}

	// A re-push to a repository that has everything uploads nothing.
	if err := Registry([]string{first}, RegistryOptions{}).Export(t.Context(), img); err != nil {
		t.Fatal(err)
	}
	if uploads, _ := rec.reset(); uploads != 0 {
		t.Errorf("re-push uploaded %d blobs, want 0", uploads)
	}
}

func TestRegistryRetryAndProgress(t *testing.T) {
	rec, host := newRegistry(t)
	rec.failNext = 1
	img, _ := testImage(t)
	updates := make(chan v1.Update)
	var last v1.Update
	var n int
	done := make(chan struct{})
	go func() {
		defer close(done)
		for u := range updates {
			last = u
			n++
		}
	}()
	err := Registry([]string{host + "/app:v1", host + "/app:v2"}, RegistryOptions{Progress: updates, Jobs: 2}).Export(t.Context(), img)
	close(updates) // still open: the exporter never closes it
	<-done
	if err != nil {
		t.Fatalf("push with one 503: %v", err)
	}
	if n == 0 || last.Total == 0 || last.Complete != last.Total {
		t.Errorf("progress: %d updates, last %+v", n, last)
	}
	if d := digest(t, pull(t, host+"/app:v2")); d != digest(t, img) {
		t.Errorf("pulled %s, want %s", d, digest(t, img))
	}
}

func TestRegistryErrors(t *testing.T) {
	img, _ := testImage(t)
	s := httptest.NewServer(http.NotFoundHandler())
	host := strings.TrimPrefix(s.URL, "http://")
	s.Close()
	for _, ref := range []string{host + "/app:v1", "UPPER/app:v1"} {
		err := Registry([]string{ref}, RegistryOptions{}).Export(t.Context(), img)
		if err == nil || !strings.Contains(err.Error(), "push "+ref+": ") {
			t.Errorf("Export(%s) = %v, want error naming the ref", ref, err)
		}
	}
}

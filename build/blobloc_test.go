package build

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/bldbuild/bld/internal/testutil"
)

// A push to a second repository of the same registry mounts the layers the
// first push uploaded, instead of uploading them again.
func TestPushMountsKnownBlobs(t *testing.T) {
	// Debian's docker-registry: unlike ggcr's in-process one, it scopes
	// blobs by repository, so a blob of team/one is unknown to team/two
	// until it is mounted or uploaded there.
	target, _ := url.Parse("http://" + testutil.Registry(t))
	var mu sync.Mutex
	var mounts, uploads int
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		switch {
		case r.Method == http.MethodPost && r.URL.Query().Get("mount") != "":
			mounts++
		case r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/blobs/uploads/"):
			uploads++ // the request that completes a blob upload
		}
		mu.Unlock()
		httputil.NewSingleHostReverseProxy(target).ServeHTTP(w, r)
	}))
	defer proxy.Close()
	host := strings.TrimPrefix(proxy.URL, "http://")

	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "cache"), 0o700); err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(64<<10, 3)
	if err != nil {
		t.Fatal(err)
	}
	push := func(ref string) {
		t.Helper()
		if err := Push(t.Context(), root, img, []string{ref}, nil); err != nil {
			t.Fatalf("push %s: %v", ref, err)
		}
	}
	push(host + "/mounts/one:1")
	mu.Lock()
	firstUploads := uploads
	mounts, uploads = 0, 0
	mu.Unlock()
	if firstUploads < 3 {
		t.Fatalf("first push uploaded %d blobs, want the 3 layers at least", firstUploads)
	}
	push(host + "/mounts/two:1")
	mu.Lock()
	defer mu.Unlock()
	if mounts < 3 {
		t.Errorf("second push mounted %d blobs, want the 3 layers", mounts)
	}
	if uploads > 1 { // the config blob may be uploaded; no layer is
		t.Errorf("second push uploaded %d blobs, want at most the config", uploads)
	}
}

package registry

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/bldbuild/bld/internal/testutil"
)

// A push to a second repository of the same registry mounts the layers the
// first push uploaded, instead of uploading them again, from what the
// blob-location file (reopened, as by a second bld process) remembers.
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

	path := filepath.Join(t.TempDir(), "cache", "blob-locations.json")
	img, err := random.Image(64<<10, 3)
	if err != nil {
		t.Fatal(err)
	}
	c := New(Options{Keychain: authn.NewMultiKeychain()})
	push := func(s string) {
		t.Helper()
		ref, err := c.ParseReference(s)
		if err != nil {
			t.Fatal(err)
		}
		locs := OpenBlobLocations(path)
		if err := remote.Write(ref, locs.Mountable(img, ref.Context()), c.RemoteOptions(t.Context())...); err != nil {
			t.Fatalf("push %s: %v", s, Error(s, err))
		}
		locs.Add(ref.Context(), LayerDigests(img))
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

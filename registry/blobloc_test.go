package registry

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
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

// TestBlobLocationsAddUnchanged: adding what the file already says (a
// re-push) does not write it again; adding a new repository does.
func TestBlobLocationsAddUnchanged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "blob-locations.json")
	repo, err := name.NewRepository("registry.test/a/b")
	if err != nil {
		t.Fatal(err)
	}
	other, err := name.NewRepository("registry.test/c/d")
	if err != nil {
		t.Fatal(err)
	}
	d := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}
	ino := func() uint64 {
		t.Helper()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	OpenBlobLocations(path).Add(repo, []v1.Hash{d})
	first := ino()
	OpenBlobLocations(path).Add(repo, []v1.Hash{d})
	if got := ino(); got != first {
		t.Errorf("adding a known location rewrote the file (inode %d, then %d)", first, got)
	}
	locs := OpenBlobLocations(path)
	locs.Add(other, []v1.Hash{d})
	if got := ino(); got == first {
		t.Error("adding a new location did not rewrite the file")
	}
	if src, ok := OpenBlobLocations(path).Source(d, other); !ok || src.Name() != repo.Name() {
		t.Errorf("Source = %v, %v; want %s", src, ok, repo.Name())
	}
}

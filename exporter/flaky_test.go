package exporter

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcr "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/bldbuild/bld/registry"
)

// flakyProxy sits in front of ggcr's in-process registry. It counts
// requests by method and kind of path, and lets a test answer some of them
// itself (fail, stall, drop the connection) through intercept.
type flakyProxy struct {
	h http.Handler

	mu        sync.Mutex
	counts    map[string]int
	intercept func(w http.ResponseWriter, r *http.Request) bool // true: handled
}

// pathKind names what a registry path addresses: "ping", "manifests",
// "blobs" or "uploads".
func pathKind(p string) string {
	switch {
	case p == "/v2/" || p == "/v2":
		return "ping"
	case strings.Contains(p, "/blobs/uploads"):
		return "uploads"
	case strings.Contains(p, "/blobs/"):
		return "blobs"
	case strings.Contains(p, "/manifests/"):
		return "manifests"
	}
	return p
}

func (p *flakyProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.counts[r.Method+" "+pathKind(r.URL.Path)]++
	intercept := p.intercept
	p.mu.Unlock()
	if intercept != nil && intercept(w, r) {
		return
	}
	p.h.ServeHTTP(w, r)
}

func (p *flakyProxy) setIntercept(f func(w http.ResponseWriter, r *http.Request) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.intercept = f
}

// takeCounts returns the request counts since the last call.
func (p *flakyProxy) takeCounts() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.counts
	p.counts = map[string]int{}
	return c
}

// newFlakyRegistry starts one registry behind two servers: proxied goes
// through a flakyProxy, direct does not (a clean client for checks).
func newFlakyRegistry(t *testing.T) (p *flakyProxy, proxied, direct string) {
	t.Helper()
	reg := ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0)))
	d := httptest.NewServer(reg)
	t.Cleanup(d.Close)
	p = &flakyProxy{h: reg, counts: map[string]int{}}
	s := httptest.NewServer(p)
	t.Cleanup(s.Close)
	return p, strings.TrimPrefix(s.URL, "http://"), strings.TrimPrefix(d.URL, "http://")
}

// fastRetries is the default retry policy with short waits: the same
// number of attempts and growth factor.
func fastRetries() registry.Backoff {
	b := registry.DefaultBackoff
	b.Duration = 5 * time.Millisecond
	return b
}

// flakyImage is a random image of five 64 KiB layers: big enough that a
// connection dropped halfway through a blob really is mid-body.
func flakyImage(t *testing.T) v1.Image {
	t.Helper()
	img, err := random.Image(64<<10, 5)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// anonymous is a keychain that never reads the host's docker config.
var anonymous = authn.NewMultiKeychain()

// checkPulled pulls ref through a clean client and checks that it is img:
// same manifest digest, a valid image, and every blob byte for byte.
func checkPulled(t *testing.T, ref string, img v1.Image) {
	t.Helper()
	got := pull(t, ref)
	if g, w := digest(t, got), digest(t, img); g != w {
		t.Fatalf("pulled %s = %s, want %s", ref, g, w)
	}
	if err := validate.Image(got); err != nil {
		t.Fatalf("validate %s: %v", ref, err)
	}
	gotLayers, err := got.Layers()
	if err != nil {
		t.Fatal(err)
	}
	wantLayers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(gotLayers) != len(wantLayers) {
		t.Fatalf("pulled %d layers, want %d", len(gotLayers), len(wantLayers))
	}
	for i := range wantLayers {
		if g, w := blobBytes(t, gotLayers[i]), blobBytes(t, wantLayers[i]); !bytes.Equal(g, w) {
			t.Errorf("layer %d: pulled %d bytes that differ from the %d pushed", i, len(g), len(w))
		}
	}
	gotCfg, err := got.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	wantCfg, err := img.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gotCfg, wantCfg) {
		t.Error("pulled config differs from the pushed one")
	}
}

func blobBytes(t *testing.T, l v1.Layer) []byte {
	t.Helper()
	rc, err := l.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// isBlobUpload reports whether r carries blob data: a PATCH, or a PUT with
// a body, to an upload session.
func isBlobUpload(r *http.Request) bool {
	return pathKind(r.URL.Path) == "uploads" &&
		(r.Method == http.MethodPatch || (r.Method == http.MethodPut && r.ContentLength > 0))
}

// every returns a func that is true on every nth call.
func every(n int) func() bool {
	var mu sync.Mutex
	var i int
	return func() bool {
		mu.Lock()
		defer mu.Unlock()
		i++
		return i%n == 0
	}
}

// TestRegistryFlaky pushes through a registry that fails a third of the
// time and checks that the image arrives whole.
func TestRegistryFlaky(t *testing.T) {
	for _, tc := range []struct {
		name string
		// fault answers r itself and returns true, or returns false.
		fault func(third func() bool) func(w http.ResponseWriter, r *http.Request) bool
	}{
		{"503 every third request", func(third func() bool) func(http.ResponseWriter, *http.Request) bool {
			return func(w http.ResponseWriter, r *http.Request) bool {
				if !third() {
					return false
				}
				http.Error(w, "flaky", http.StatusServiceUnavailable)
				return true
			}
		}},
		{"connection dropped mid-body every third blob upload", func(third func() bool) func(http.ResponseWriter, *http.Request) bool {
			return func(w http.ResponseWriter, r *http.Request) bool {
				if !isBlobUpload(r) || !third() {
					return false
				}
				if _, err := io.CopyN(io.Discard, r.Body, r.ContentLength/2); err != nil {
					panic(err)
				}
				conn, _, err := http.NewResponseController(w).Hijack()
				if err != nil {
					panic(err)
				}
				conn.Close()
				return true
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, jobs := range []int{1, 4} {
				t.Run("jobs="+strconv.Itoa(jobs), func(t *testing.T) {
					p, proxied, direct := newFlakyRegistry(t)
					var faults int
					var mu sync.Mutex
					inner := tc.fault(every(3))
					p.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
						if !inner(w, r) {
							return false
						}
						mu.Lock()
						faults++
						mu.Unlock()
						return true
					})
					img := flakyImage(t)
					repo := "/ci/app:" + strconv.Itoa(jobs)
					err := Registry([]string{proxied + repo}, RegistryOptions{Keychain: anonymous, Jobs: jobs, Backoff: fastRetries()}).Export(t.Context(), img)
					p.setIntercept(nil)
					if err != nil {
						t.Fatalf("push through flaky registry (%d faults): %v", faults, err)
					}
					if faults == 0 {
						t.Fatal("no faults injected")
					}
					t.Logf("%d faults injected, requests %v", faults, p.takeCounts())
					checkPulled(t, direct+repo, img)
				})
			}
		})
	}
}

// TestRegistryCancelKeepsTag kills a push midway: the tag still names the
// image pushed before, since the manifest is written last.
func TestRegistryCancelKeepsTag(t *testing.T) {
	p, proxied, direct := newFlakyRegistry(t)
	ref := proxied + "/ci/app:latest"
	a, b := flakyImage(t), flakyImage(t)
	if err := Registry([]string{ref}, RegistryOptions{Keychain: anonymous}).Export(t.Context(), a); err != nil {
		t.Fatal(err)
	}

	// Once the first of B's blobs is committed, hold every later request
	// until the client gives up on it.
	firstBlob := make(chan struct{})
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // runs before the servers close
	var once sync.Once
	var mu sync.Mutex
	var committed []string
	stalled := false
	p.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		stall := stalled
		mu.Unlock()
		if stall {
			io.Copy(io.Discard, r.Body) // so the server notices the client leaving
			select {
			case <-r.Context().Done():
			case <-release:
			}
			http.Error(w, "stalled", http.StatusServiceUnavailable)
			return true
		}
		if r.Method != http.MethodPut || pathKind(r.URL.Path) != "uploads" {
			return false
		}
		sw := &statusWriter{ResponseWriter: w}
		p.h.ServeHTTP(sw, r)
		if sw.status == http.StatusCreated {
			mu.Lock()
			stalled = true
			committed = append(committed, r.URL.Query().Get("digest"))
			mu.Unlock()
			once.Do(func() { close(firstBlob) })
		}
		return true
	})

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Registry([]string{ref}, RegistryOptions{Keychain: anonymous}).Export(ctx, b) }()
	select {
	case <-firstBlob:
	case err := <-done:
		t.Fatalf("push of B ended before any blob was committed: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("no blob of B committed in 20s")
	}
	cancel()
	var err error
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("cancelled push did not return in 20s")
	}
	if err == nil {
		t.Fatal("cancelled push returned no error")
	}
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), ref) {
		t.Errorf("cancelled push: %v, want context.Canceled naming %s", err, ref)
	}

	if got, want := digest(t, pull(t, direct+"/ci/app:latest")), digest(t, a); got != want {
		t.Errorf("after a cancelled push the tag names %s, want A %s", got, want)
	}
	checkPulled(t, direct+"/ci/app:latest", a)
	// B really was midway: a blob of it arrived, its manifest did not.
	mu.Lock()
	t.Logf("blobs of B committed before the cancel: %v", committed)
	mu.Unlock()
	r, err := name.NewDigest(direct+"/ci/app@"+digest(t, b).String(), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := remote.Head(r, remote.WithContext(t.Context())); err == nil {
		t.Errorf("manifest of B %s exists after a cancelled push", digest(t, b))
	}
}

// TestRegistryRepushChecksOnly pushes an image whose blobs are all in the
// repository: no blob is uploaded, only checked.
func TestRegistryRepushChecksOnly(t *testing.T) {
	p, proxied, _ := newFlakyRegistry(t)
	img := flakyImage(t)
	push := func(tag string) map[string]int {
		t.Helper()
		if err := Registry([]string{proxied + "/ci/app:" + tag}, RegistryOptions{Keychain: anonymous}).Export(t.Context(), img); err != nil {
			t.Fatal(err)
		}
		return p.takeCounts()
	}
	first := push("v1")
	t.Logf("first push: %v", first)

	// 5 layers and a config.
	const blobs = 6
	for _, tc := range []struct {
		tag  string
		want map[string]int
	}{
		// A new tag: the manifest is missing, so every blob is checked,
		// then the manifest is put.
		{"v2", map[string]int{"GET ping": 1, "HEAD manifests": 1, "HEAD blobs": blobs, "PUT manifests": 1}},
		// The same tag: the manifest is there with the same digest, so
		// nothing else is asked.
		{"v1", map[string]int{"GET ping": 1, "HEAD manifests": 1}},
	} {
		got := push(tc.tag)
		t.Logf("re-push as %s: %v", tc.tag, got)
		for k, n := range got {
			if strings.HasSuffix(k, " uploads") {
				t.Errorf("re-push as %s: %d %s requests, want none", tc.tag, n, k)
			}
		}
		if !mapsEqual(got, tc.want) {
			t.Errorf("re-push as %s: requests %v, want %v", tc.tag, got, tc.want)
		}
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestRegistryDenied checks that a refused push names the reference and
// the HTTP status, whether or not the registry sends an error body.
func TestRegistryDenied(t *testing.T) {
	const (
		unauthorized = `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`
		denied       = `{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}`
	)
	for _, tc := range []struct {
		name   string
		status int
		body   string
		writes bool // refuse only writes; reads pass
	}{
		{"401", http.StatusUnauthorized, "", false},
		{"401 json", http.StatusUnauthorized, unauthorized, false},
		{"403", http.StatusForbidden, "", false},
		{"403 json", http.StatusForbidden, denied, false},
		{"401 json on writes", http.StatusUnauthorized, unauthorized, true},
		{"403 json on writes", http.StatusForbidden, denied, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, proxied, _ := newFlakyRegistry(t)
			p.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
				if tc.writes && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
					return false
				}
				if tc.status == http.StatusUnauthorized {
					w.Header().Set("WWW-Authenticate", `Basic realm="bld-test"`)
				}
				if tc.body != "" {
					w.Header().Set("Content-Type", "application/json")
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
				return true
			})
			ref := proxied + "/ci/app:v1"
			start := time.Now()
			err := Registry([]string{ref}, RegistryOptions{Keychain: anonymous}).Export(t.Context(), flakyImage(t))
			if err == nil {
				t.Fatal("push to a refusing registry succeeded")
			}
			msg := err.Error()
			if !strings.Contains(msg, ref) || !strings.Contains(msg, strconv.Itoa(tc.status)) || !strings.Contains(msg, http.StatusText(tc.status)) {
				t.Errorf("error %q does not name %s and %d %s", msg, ref, tc.status, http.StatusText(tc.status))
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("refused push took %v: a %d is not worth retrying", d, tc.status)
			}
			t.Logf("%v", err)
		})
	}
}

package registry

import (
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
	ggcr "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// fast is the default policy with short waits: same attempts, same growth.
func fast() Backoff {
	b := DefaultBackoff
	b.Duration = 5 * time.Millisecond
	return b
}

// flaky is ggcr's in-process registry behind a handler that can answer
// requests itself (fail, cut short) through fault.
type flaky struct {
	reg http.Handler

	mu       sync.Mutex
	requests int
	faults   int
	fault    func(w http.ResponseWriter, r *http.Request) bool // true: answered
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests++
	fault := f.fault
	f.mu.Unlock()
	if fault != nil && fault(w, r) {
		f.mu.Lock()
		f.faults++
		f.mu.Unlock()
		return
	}
	f.reg.ServeHTTP(w, r)
}

func (f *flaky) set(fault func(w http.ResponseWriter, r *http.Request) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fault, f.requests, f.faults = fault, 0, 0
}

// newFlaky starts a registry holding a random image of five 64 KiB layers
// at ci/app:1, pushed with no fault; it returns the proxy's host and the
// image.
func newFlaky(t *testing.T) (*flaky, string, v1.Image) {
	t.Helper()
	f := &flaky{reg: ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0)))}
	s := httptest.NewServer(f)
	t.Cleanup(s.Close)
	host := strings.TrimPrefix(s.URL, "http://")
	img, err := random.Image(64<<10, 5)
	if err != nil {
		t.Fatal(err)
	}
	c := New(Options{Keychain: authn.NewMultiKeychain(), Backoff: fast()})
	ref, err := c.ParseReference(host + "/ci/app:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, c.RemoteOptions(t.Context())...); err != nil {
		t.Fatal(err)
	}
	return f, host, img
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

// cutShort answers r from the registry but sends only half the body,
// then drops the connection.
func cutShort(reg http.Handler, w http.ResponseWriter, r *http.Request) {
	rec := httptest.NewRecorder()
	reg.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(rec.Code)
	w.Write(body[:len(body)/2])
	rc := http.NewResponseController(w)
	if err := rc.Flush(); err != nil {
		panic(err)
	}
	conn, _, err := rc.Hijack()
	if err != nil {
		panic(err)
	}
	conn.Close()
}

func isBlobGet(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") && !strings.Contains(r.URL.Path, "/uploads")
}

// pullAll pulls host/ci/app:1 through the policy and reads every blob.
func pullAll(ctx context.Context, c *Client, host string) (v1.Image, error) {
	ref, err := c.ParseReference(host + "/ci/app:1")
	if err != nil {
		return nil, err
	}
	img, err := remote.Image(ref, c.RemoteOptions(ctx)...)
	if err != nil {
		return nil, Error(ref.String(), err)
	}
	// validate reads every layer, compressed and not, and checks each
	// digest and diffID: a resumed body with a byte wrong fails here.
	if err := validate.Image(img); err != nil {
		return nil, Error(ref.String(), err)
	}
	return img, nil
}

// TestPullFlaky pulls through a registry that fails a third of the time,
// or cuts blob bodies short, and checks the image arrives whole.
func TestPullFlaky(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault func(reg http.Handler, third func() bool) func(w http.ResponseWriter, r *http.Request) bool
	}{
		{"503 every third request", func(reg http.Handler, third func() bool) func(http.ResponseWriter, *http.Request) bool {
			return func(w http.ResponseWriter, r *http.Request) bool {
				if !third() {
					return false
				}
				http.Error(w, "flaky", http.StatusServiceUnavailable)
				return true
			}
		}},
		{"429 and 500 in turn", func(reg http.Handler, third func() bool) func(http.ResponseWriter, *http.Request) bool {
			n := 0
			var mu sync.Mutex
			return func(w http.ResponseWriter, r *http.Request) bool {
				mu.Lock()
				defer mu.Unlock()
				n++
				switch n % 4 {
				case 1:
					http.Error(w, "slow down", http.StatusTooManyRequests)
				case 3:
					http.Error(w, "oops", http.StatusInternalServerError)
				default:
					return false
				}
				return true
			}
		}},
		{"connection dropped mid-blob", func(reg http.Handler, third func() bool) func(http.ResponseWriter, *http.Request) bool {
			return func(w http.ResponseWriter, r *http.Request) bool {
				// Every blob's first GET (no Range) is cut in half; the
				// resumed request (with Range) is answered.
				if !isBlobGet(r) || r.Header.Get("Range") != "" {
					return false
				}
				cutShort(reg, w, r)
				return true
			}
		}},
		{"connection dropped mid-blob, Range ignored", func(reg http.Handler, third func() bool) func(http.ResponseWriter, *http.Request) bool {
			return func(w http.ResponseWriter, r *http.Request) bool {
				if !isBlobGet(r) {
					return false
				}
				if r.Header.Get("Range") != "" {
					r.Header.Del("Range") // a server without Range: the whole blob again
					return false
				}
				cutShort(reg, w, r)
				return true
			}
		}},
		{"connection dropped before any answer", func(reg http.Handler, third func() bool) func(http.ResponseWriter, *http.Request) bool {
			return func(w http.ResponseWriter, r *http.Request) bool {
				if !third() {
					return false
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
			f, host, want := newFlaky(t)
			f.set(tc.fault(f.reg, every(3)))
			c := New(Options{Keychain: authn.NewMultiKeychain(), Backoff: fast()})
			got, err := pullAll(t.Context(), c, host)
			f.mu.Lock()
			faults, requests := f.faults, f.requests
			f.mu.Unlock()
			if err != nil {
				t.Fatalf("pull through a flaky registry (%d faults in %d requests): %v", faults, requests, err)
			}
			if faults == 0 {
				t.Fatal("no fault injected")
			}
			t.Logf("%d faults in %d requests", faults, requests)
			gd, _ := got.Digest()
			wd, _ := want.Digest()
			if gd != wd {
				t.Errorf("pulled %s, want %s", gd, wd)
			}
		})
	}
}

// TestPullGivesUp: a registry that always answers 503 is asked
// Backoff.Steps times per request, not forever, and the error says
// the reference and the status.
func TestPullGivesUp(t *testing.T) {
	f, host, _ := newFlaky(t)
	f.set(func(w http.ResponseWriter, r *http.Request) bool {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return true
	})
	c := New(Options{Keychain: authn.NewMultiKeychain(), Backoff: fast()})
	_, err := pullAll(t.Context(), c, host)
	if err == nil {
		t.Fatal("pull from a registry always 503 succeeded")
	}
	f.mu.Lock()
	requests := f.requests
	f.mu.Unlock()
	// The ping alone: https then http in parallel, the http one tried
	// Steps times; nothing is retried again on top.
	if requests > fast().Steps+1 {
		t.Errorf("%d requests to a registry always 503, want at most %d", requests, fast().Steps+1)
	}
	if msg := err.Error(); !strings.Contains(msg, host+"/ci/app:1") || !strings.Contains(msg, "503") {
		t.Errorf("error %q does not name the reference and 503", msg)
	}
	t.Logf("%d requests: %v", requests, err)
}

// TestRetryHonoursContext: a cancelled context ends the wait between
// attempts at once.
func TestRetryHonoursContext(t *testing.T) {
	f, host, _ := newFlaky(t)
	f.set(func(w http.ResponseWriter, r *http.Request) bool {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return true
	})
	slow := DefaultBackoff
	slow.Duration = time.Minute
	c := New(Options{Keychain: authn.NewMultiKeychain(), Backoff: slow})
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := pullAll(ctx, c, host)
	if err == nil {
		t.Fatal("pull succeeded")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("cancelled pull returned after %v", d)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cancelled pull: %v, want context.DeadlineExceeded", err)
	}
}

package registry

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// TestInsecureRule is the one insecure rule: loopback hosts are plain
// HTTP; an entry NAME covers NAME at any port, NAME:PORT exactly that.
func TestInsecureRule(t *testing.T) {
	for _, tc := range []struct {
		ref      string
		insecure []string
		http     bool
	}{
		// loopback, with or without a port
		{"localhost/app", nil, true},
		{"localhost:5000/app", nil, true},
		{"127.0.0.1/app", nil, true},
		{"127.0.0.1:5000/app", nil, true},
		{"127.1.2.3:80/app", nil, true},
		{"[::1]/app", nil, true},
		{"[::1]:5000/app", nil, true},
		{"LOCALHOST:5000/app", nil, true},
		// not loopback
		{"registry.example.com/app", nil, false},
		{"registry.example.com:5000/app", nil, false},
		{"128.0.0.1:5000/app", nil, false},
		{"10.0.0.1:5000/app", nil, false},
		{"[::2]:5000/app", nil, false},
		{"localhost.example.com:5000/app", nil, false},
		{"app", nil, false}, // Docker Hub
		{"library/app:1", []string{"registry.example.com"}, false},
		// NAME covers every port
		{"registry.example.com/app", []string{"registry.example.com"}, true},
		{"registry.example.com:5000/app", []string{"registry.example.com"}, true},
		{"registry.example.com:443/app", []string{"registry.example.com"}, true},
		{"other.example.com:5000/app", []string{"registry.example.com"}, false},
		{"sub.registry.example.com/app", []string{"registry.example.com"}, false},
		// NAME:PORT covers that port only
		{"registry.example.com:5000/app", []string{"registry.example.com:5000"}, true},
		{"registry.example.com:5001/app", []string{"registry.example.com:5000"}, false},
		{"registry.example.com/app", []string{"registry.example.com:5000"}, false},
		// case and typed schemes
		{"registry.example.com:5000/app", []string{"Registry.Example.COM"}, true},
		{"registry.example.com:5000/app", []string{"http://registry.example.com:5000/"}, true},
		// IP entries, v4 and v6
		{"10.0.0.1:5000/app", []string{"10.0.0.1"}, true},
		{"10.0.0.1:5000/app", []string{"10.0.0.1:5000"}, true},
		{"10.0.0.1:5001/app", []string{"10.0.0.1:5000"}, false},
		{"[fd00::1]:5000/app", []string{"fd00::1"}, true},
		{"[fd00::1]:5000/app", []string{"[fd00::1]"}, true},
		{"[fd00::1]:5000/app", []string{"[fd00::1]:5000"}, true},
		{"[fd00::1]:5001/app", []string{"[fd00::1]:5000"}, false},
		// several entries
		{"b.example:1/app", []string{"a.example", "b.example:1"}, true},
	} {
		c := New(Options{Insecure: tc.insecure})
		ref, err := c.ParseReference(tc.ref)
		if err != nil {
			t.Errorf("ParseReference(%s): %v", tc.ref, err)
			continue
		}
		want := map[bool]string{true: "http", false: "https"}[tc.http]
		// ggcr lets RFC 1918 addresses fall back to plain HTTP whatever
		// the reference says; Transport refuses that (TestPlainHTTPRefused).
		if got := ref.Context().Scheme(); got != want && !(got == "http" && private(ref.Context().RegistryStr())) {
			t.Errorf("ParseReference(%q) with --insecure-registry %q: scheme %s, want %s", tc.ref, tc.insecure, got, want)
		}
		// Every way in reads the rule the same.
		reg := ref.Context().RegistryStr()
		if got := c.Insecure(reg); got != tc.http {
			t.Errorf("Insecure(%s) with %q = %v, want %v", reg, tc.insecure, got, tc.http)
		}
		r, err := c.ParseRegistry(reg)
		if err != nil {
			t.Errorf("ParseRegistry(%s): %v", reg, err)
		} else if r.Scheme() != want && !private(reg) {
			t.Errorf("ParseRegistry(%s) with %q: scheme %s, want %s", reg, tc.insecure, r.Scheme(), want)
		}
		if got := len(c.NameOptions(tc.ref)) == 1; got != tc.http {
			t.Errorf("NameOptions(%s) with %q: insecure %v, want %v", tc.ref, tc.insecure, got, tc.http)
		}
	}
	if _, err := New(Options{}).ParseReference("UPPER/app"); err == nil || !strings.Contains(err.Error(), "UPPER/app") {
		t.Errorf("ParseReference(UPPER/app) = %v, want an error naming it", err)
	}
}

func private(reg string) bool {
	h, _ := splitHost(reg)
	ip := net.ParseIP(h)
	return ip != nil && ip.IsPrivate()
}

// TestPlainHTTPRefused: a plain-HTTP registry request to a host the rule
// does not cover never leaves the machine, whoever made it (ggcr tries
// plain HTTP for private addresses on its own).
func TestPlainHTTPRefused(t *testing.T) {
	c := New(Options{Insecure: []string{"allowed.example"}})
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"http://10.0.0.1:5000/v2/", false},
		{"http://registry.example.com/v2/app/manifests/1", false},
		{"http://allowed.example:5000/v2/", true},
		{"http://127.0.0.1:1/v2/", true},
		{"http://storage.example.com/blob-data", true}, // not a registry API path: a redirect target
	} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, tc.url, nil)
		called := false
		tr := &Transport{Inner: roundTripFunc(func(*http.Request) (*http.Response, error) {
			called = true
			return &http.Response{StatusCode: 200, Body: http.NoBody, Request: req}, nil
		}), Insecure: c.Insecure}
		_, err := tr.RoundTrip(req)
		if tc.ok != (err == nil) || called != tc.ok {
			t.Errorf("GET %s: err %v, sent %v; want sent %v", tc.url, err, called, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "--insecure-registry") {
			t.Errorf("GET %s: %v, want it to name --insecure-registry", tc.url, err)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestError(t *testing.T) {
	req, _ := http.NewRequest(http.MethodGet, "http://r.example/v2/app/manifests/1", nil)
	notFound := &transport.Error{StatusCode: 404, Request: req, Errors: []transport.Diagnostic{{Code: transport.ManifestUnknownErrorCode, Message: "manifest unknown"}}}
	bare := &transport.Error{StatusCode: 503, Request: req}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{notFound, "r.example/app:1: HTTP 404 Not Found: GET http://r.example/v2/app/manifests/1: MANIFEST_UNKNOWN: manifest unknown"},
		// ggcr already says the status of a body-less answer: once.
		{bare, "r.example/app:1: GET http://r.example/v2/app/manifests/1: unexpected status code 503 Service Unavailable"},
		{fmt.Errorf("wrapped: %w", notFound), "r.example/app:1: HTTP 404 Not Found: wrapped: GET"},
		{errors.New("line one\nline two"), "r.example/app:1: line one line two"},
		{errors.New(`Get "https://r.example/v2/": http: server gave HTTP response to HTTPS client`), "(the registry speaks plain HTTP: allow it with --insecure-registry r.example)"},
	} {
		err := Error("r.example/app:1", tc.err)
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Error() = %q, want it to contain %q", err, tc.want)
		}
		if strings.Count(err.Error(), "404") > 1 || strings.Count(err.Error(), "503") > 1 {
			t.Errorf("Error() = %q names the status twice", err)
		}
		if !errors.Is(err, tc.err) {
			t.Errorf("Error() does not wrap %v", tc.err)
		}
	}
	if Error("x", nil) != nil {
		t.Error("Error(x, nil) is not nil")
	}
}

// TestRetryAfter: a 429 with Retry-After waits what it asks (bounded),
// not the shorter backoff step.
func TestRetryAfter(t *testing.T) {
	var times []time.Time
	tr := &Transport{Backoff: fast(), Inner: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		times = append(times, time.Now())
		resp := &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Header: http.Header{}, Request: r}
		if len(times) == 1 {
			resp.StatusCode = http.StatusTooManyRequests
			resp.Header.Set("Retry-After", "1")
		}
		return resp, nil
	})}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://127.0.0.1:1/v2/", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("RoundTrip: %v, %v", resp, err)
	}
	if len(times) != 2 {
		t.Fatalf("%d requests, want 2", len(times))
	}
	if d := times[1].Sub(times[0]); d < 900*time.Millisecond {
		t.Errorf("retried after %v, want the 1s Retry-After asked", d)
	}
	long := &http.Response{StatusCode: http.StatusServiceUnavailable, Header: http.Header{"Retry-After": {"86400"}}}
	if d := retryAfter(long); d != maxRetryAfter {
		t.Errorf("Retry-After 86400: wait %v, want the bound %v", d, maxRetryAfter)
	}
}

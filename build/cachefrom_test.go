package build_test

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
	"time"

	"github.com/bldbuild/bld/build"
	"github.com/bldbuild/bld/internal/testutil"
	"github.com/bldbuild/bld/state"
)

// A build with --cache-from fetches the cache's manifest while it
// resolves its base image, not after: a proxy in front of a real registry
// holds the base image's manifest request until the cache's manifest has
// been asked for (or 5 s have passed). Before the import ran beside the
// parse, the cache was asked for only once the base was resolved, so the
// request waited the whole 5 s and the test failed.
func TestCacheFromWhileResolving(t *testing.T) {
	testutil.RequireOverlay(t)
	reg := testutil.Registry(t)
	dir := t.TempDir()
	ctxDir := filepath.Join(dir, "ctx")
	if err := os.MkdirAll(ctxDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ctxDir, "hello"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	open := func(name string) *state.Root {
		t.Helper()
		root, err := state.Open(t.Context(), filepath.Join(dir, name), state.Options{Snapshots: true})
		if err != nil {
			t.Fatal(err)
		}
		return root
	}

	var mu sync.Mutex
	cacheAsked := make(chan struct{})
	var asked, waited bool
	target, err := url.Parse("http://" + reg)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.Contains(r.URL.Path, "/cachefrom-cache/manifests/"):
			mu.Lock()
			if !asked {
				asked = true
				close(cacheAsked)
			}
			mu.Unlock()
		case strings.Contains(r.URL.Path, "/cachefrom-base/manifests/"):
			select {
			case <-cacheAsked:
			case <-time.After(5 * time.Second):
				mu.Lock()
				waited = true
				mu.Unlock()
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")

	// The base image, and a cache of the build, pushed straight to the
	// registry.
	if _, err := build.Run(t.Context(), build.Options{
		Root:       open("seed"),
		ContextDir: ctxDir,
		Dockerfile: []byte("FROM scratch\nCOPY hello /base\n"),
		Outputs:    []string{"type=registry,name=" + reg + "/cachefrom-base:1"},
	}); err != nil {
		t.Fatal(err)
	}
	df := []byte("FROM " + addr + "/cachefrom-base:1\nCOPY hello /hello\n")
	if _, err := build.Run(t.Context(), build.Options{
		Root:       open("seed"),
		ContextDir: ctxDir,
		Dockerfile: []byte("FROM " + reg + "/cachefrom-base:1\nCOPY hello /hello\n"),
		CacheTo:    []string{"type=registry,ref=" + reg + "/cachefrom-cache:1,mode=max"},
	}); err != nil {
		t.Fatal(err)
	}

	// A CI runner: an empty root, the cache through the proxy.
	res, err := build.Run(t.Context(), build.Options{
		Root:       open("runner"),
		ContextDir: ctxDir,
		Dockerfile: df,
		CacheFrom:  []string{addr + "/cachefrom-cache:1"},
		Outputs:    []string{"type=oci,dest=" + filepath.Join(dir, "out.tar")},
	})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !asked {
		t.Fatal("the cache's manifest was never asked for")
	}
	if waited {
		t.Error("the base image's manifest was asked for, and the build waited 5 s, before the cache's")
	}
	if res.CacheHits == 0 {
		t.Errorf("no step was a cache hit (%d misses): the cache was not used", res.CacheMisses)
	}
}

package exporter

import (
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/bldbuild/bld/internal/testutil"
)

// startDistribution starts Debian's docker-registry (distribution 2.x) on
// a loopback port, behind a recorder, and returns the recorder's host.
// Unlike ggcr's registry, distribution keeps blobs per repository, so it
// shows whether a push mounts.
func startDistribution(t *testing.T) (*recorder, string) {
	t.Helper()
	bin := testutil.RequireTool(t, "docker-registry")
	dir := t.TempDir()
	addr, err := testutil.StartRegistry(bin, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { testutil.StopRegistry(dir) })
	u, _ := url.Parse("http://" + addr)
	rec := &recorder{h: httputil.NewSingleHostReverseProxy(u)}
	s := httptest.NewServer(rec)
	t.Cleanup(s.Close)
	return rec, strings.TrimPrefix(s.URL, "http://")
}

// TestRegistryMounts pushes one image to three repositories of a real
// registry: the first uploads, the others mount.
func TestRegistryMounts(t *testing.T) {
	rec, host := startDistribution(t)
	img, _ := testImage(t)
	names := []string{host + "/team/app:v1", host + "/other/app:v1", host + "/third/app:v1"}
	if err := Registry(names, RegistryOptions{}).Export(t.Context(), img); err != nil {
		t.Fatal(err)
	}
	uploads, mounts := rec.reset()
	// 2 layers + config: uploaded once, mounted twice.
	if uploads != 3 || mounts != 6 {
		t.Errorf("push to 3 repositories: %d uploads, %d mounts; want 3 and 6", uploads, mounts)
	}
	for _, n := range names {
		if d := digest(t, pull(t, n)); d != digest(t, img) {
			t.Errorf("%s: pulled %s, want %s", n, d, digest(t, img))
		}
	}
	// Again: everything is there, nothing moves.
	if err := Registry(names, RegistryOptions{}).Export(t.Context(), img); err != nil {
		t.Fatal(err)
	}
	if uploads, mounts := rec.reset(); uploads != 0 || mounts != 0 {
		t.Errorf("re-push: %d uploads, %d mounts; want none", uploads, mounts)
	}
}

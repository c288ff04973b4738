package exporter

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startDistribution starts Debian's docker-registry (distribution 2.x) on
// a loopback port, behind a recorder, and returns the recorder's host.
// Unlike ggcr's registry, distribution keeps blobs per repository, so it
// shows whether a push mounts.
func startDistribution(t *testing.T) (*recorder, string) {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		t.Skip("docker-registry not installed")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yml")
	err = os.WriteFile(cfg, fmt.Appendf(nil, "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n", filepath.Join(dir, "data"), addr), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", cfg)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("docker-registry did not start on %s: %v", addr, err)
		}
	}
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

// Package testutil holds the test fixtures shared by bld's packages: root
// and overlay guards, a busybox root filesystem, a real registry server.
package testutil

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// RequireRoot skips t unless it runs as root (CI does).
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (mounts, namespaces); CI runs as root")
	}
}

// RequireTool skips t unless the named program is installed (make test
// installs them).
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("needs %s (make test installs it)", name)
	}
	return p
}

// Passwd and Group are the account files of the busybox fixture.
const (
	Passwd = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
	Group  = "root:x:0:\nstaff:x:50:app\napp:x:1000:\nnogroup:x:65534:\n"
)

// BusyboxRootfs fills dir with a minimal root filesystem: the static
// busybox from Debian's busybox-static, a symlink per applet, /etc/passwd
// and /etc/group with root, app (1000) and nobody, and /tmp.
func BusyboxRootfs(t testing.TB, dir string) {
	t.Helper()
	bb := "/bin/busybox"
	if _, err := os.Stat(bb); err != nil {
		t.Fatalf("busybox-static is not installed (make test installs it): %v", err)
	}
	for _, d := range []string{"bin", "etc", "tmp", "root", "home/app"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(dir, "tmp"), 0o1777); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bin/busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bb, "--list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" {
			continue
		}
		_ = os.Symlink("busybox", filepath.Join(dir, "bin", applet))
	}
	must(t, os.WriteFile(filepath.Join(dir, "etc/passwd"), []byte(Passwd), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "etc/group"), []byte(Group), 0o644))
	must(t, os.Chown(filepath.Join(dir, "home/app"), 1000, 1000))
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var (
	bldOnce sync.Once
	bldPath string
	bldErr  error
)

// Bld builds the bld binary once per test process and returns its path.
func Bld(t testing.TB) string {
	t.Helper()
	bldOnce.Do(func() {
		dir, err := os.MkdirTemp("", "bld-bin-")
		if err != nil {
			bldErr = err
			return
		}
		bldPath = filepath.Join(dir, "bld")
		cmd := exec.Command("go", "build", "-o", bldPath, "github.com/bldbuild/bld/cmd/bld")
		if out, err := cmd.CombinedOutput(); err != nil {
			bldErr = fmt.Errorf("go build bld: %v\n%s", err, out)
		}
	})
	if bldErr != nil {
		t.Fatal(bldErr)
	}
	return bldPath
}

// Registry returns the host:port of a real registry server (Debian's
// docker-registry) on loopback: the one in $BLD_TEST_REGISTRY (make test
// starts one), else one started for this test and stopped after it.
func Registry(t testing.TB) string {
	t.Helper()
	if r := os.Getenv("BLD_TEST_REGISTRY"); r != "" {
		return r
	}
	bin := RequireTool(t, "docker-registry")
	dir := t.TempDir()
	addr, err := StartRegistry(bin, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { StopRegistry(dir) })
	return addr
}

// StartRegistry starts docker-registry storing under dir on a free
// loopback port and waits until it answers; StopRegistry(dir) stops it.
func StartRegistry(bin, dir string) (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	l.Close()
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s/data\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n", dir, addr)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return "", err
	}
	logf, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		return "", err
	}
	cmd := exec.Command(bin, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "pid"), []byte(fmt.Sprint(cmd.Process.Pid)), 0o644); err != nil {
		return "", err
	}
	go cmd.Wait()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			return addr, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	log, _ := os.ReadFile(filepath.Join(dir, "registry.log"))
	return "", fmt.Errorf("docker-registry did not start on %s:\n%s", addr, log)
}

// StopRegistry stops the registry StartRegistry started under dir.
func StopRegistry(dir string) {
	b, err := os.ReadFile(filepath.Join(dir, "pid"))
	if err != nil {
		return
	}
	var pid int
	fmt.Sscan(string(b), &pid)
	if p, err := os.FindProcess(pid); err == nil && pid > 0 {
		_ = p.Kill()
	}
}

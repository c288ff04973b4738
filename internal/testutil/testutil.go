// Package testutil holds the test fixtures shared by bld's packages: the
// root, overlay and tool guards (RequireRoot, RequireOverlay, RequireTool),
// Run for a command that must succeed, a busybox root filesystem
// (BusyboxRootfs), the bld binary (Bld) and a real registry server
// (Registry). Before writing a helper in a _test.go file, look here.
package testutil

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
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

// RequireOverlay skips t unless it runs as root on a kernel and file
// system where an overlay can be mounted (probed once per process, under
// $TMPDIR).
func RequireOverlay(t testing.TB) {
	t.Helper()
	if why := OverlayProblem(); why != "" {
		t.Skip(why)
	}
}

// OverlayProblem says why an overlay cannot be mounted here (not root, or
// the probe mount fails), or returns "" when it can.
func OverlayProblem() string {
	if os.Geteuid() != 0 {
		return "needs root to mount overlays; CI runs as root"
	}
	return overlayProbe()
}

var overlayProbe = sync.OnceValue(func() string {
	d, err := os.MkdirTemp("", "bld-overlay-probe-")
	if err != nil {
		return err.Error()
	}
	defer os.RemoveAll(d)
	for _, s := range []string{"l", "u", "w", "m"} {
		if err := os.Mkdir(filepath.Join(d, s), 0o755); err != nil {
			return err.Error()
		}
	}
	data := fmt.Sprintf("lowerdir=%s/l,upperdir=%s/u,workdir=%s/w", d, d, d)
	if err := unix.Mount("overlay", d+"/m", "overlay", 0, data); err != nil {
		return fmt.Sprintf("overlay cannot be mounted here: %v", err)
	}
	if err := unix.Unmount(d+"/m", 0); err != nil {
		return fmt.Sprintf("unmount the overlay probe: %v", err)
	}
	return ""
})

// Run runs the program name with args, bound to the test's context, and
// returns its combined output; it fails t (with the output) if the
// program does not exit 0.
func Run(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// DirNames returns the names in dir, sorted; it fails t if dir cannot be
// read.
func DirNames(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// Passwd and Group are the account files of the busybox fixture.
const (
	Passwd = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
	Group  = "root:x:0:\nstaff:x:50:app\napp:x:1000:\nnogroup:x:65534:\n"
)

// BusyboxRootfs fills dir with a minimal root filesystem: the static
// busybox from Debian's busybox-static, a symlink per applet, /etc/passwd
// and /etc/group with root, app (1000) and nobody, empty /dev, /proc, /sys
// and /run, /tmp (1777, sticky), /root (0700) and /home/app (owned by app).
// It is also the conformance suite's base image.
func BusyboxRootfs(t testing.TB, dir string) {
	t.Helper()
	busyboxRootfs(t, dir, "/bin/busybox")
}

// ForeignBusyboxRootfs is BusyboxRootfs with Debian's busybox-static for
// arch (e.g. arm64), which scripts/foreign-busybox.sh puts under the
// repository's .cache (make test runs it). Running it needs an emulator.
func ForeignBusyboxRootfs(t testing.TB, dir, arch string) {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	must(t, err)
	bin := filepath.Join(filepath.Dir(strings.TrimSpace(string(out))), ".cache", "busybox-static-"+arch, "busybox")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("no %s busybox: run scripts/foreign-busybox.sh %s (make test does): %v", arch, arch, err)
	}
	busyboxRootfs(t, dir, bin)
}

// busyboxRootfs makes the fixture with the busybox binary bb; the applets
// are the host busybox's (the same Debian version).
func busyboxRootfs(t testing.TB, dir, bb string) {
	t.Helper()
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Fatalf("busybox-static is not installed (make test installs it): %v", err)
	}
	for _, d := range []struct {
		name string
		mode os.FileMode
	}{
		{"bin", 0o755}, {"etc", 0o755}, {"dev", 0o755}, {"proc", 0o755}, {"sys", 0o755}, {"run", 0o755},
		{"tmp", 0o777 | os.ModeSticky}, {"root", 0o700}, {"home/app", 0o755},
	} {
		p := filepath.Join(dir, d.name)
		must(t, os.MkdirAll(p, 0o755))
		must(t, os.Chmod(p, d.mode))
	}
	data, err := os.ReadFile(bb)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, "bin/busybox"), data, 0o755))
	out, err := exec.CommandContext(t.Context(), "/bin/busybox", "--list").Output()
	if err != nil {
		t.Fatalf("busybox --list: %v", err)
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" {
			continue
		}
		must(t, os.Symlink("busybox", filepath.Join(dir, "bin", applet)))
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
		// As make build does: static, with the step init embedded.
		_, self, _, _ := runtime.Caller(0)
		script := filepath.Join(filepath.Dir(self), "..", "..", "scripts", "build-bld.sh")
		if out, err := exec.Command(script, bldPath).CombinedOutput(); err != nil {
			bldErr = fmt.Errorf("%s: %v\n%s", script, err, out)
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

// LockBinfmt serialises the tests that register or remove binfmt_misc
// handlers (host-global state) across test processes: it takes an
// exclusive lock on a file under /run/lock until the test's cleanups have
// run. Call it before registering the test's own cleanup.
func LockBinfmt(t testing.TB) { hostLock(t, "bld-binfmt-test.lock") }

// hostLock takes an exclusive lock on the file name under /run/lock (or
// $TMPDIR) until t's cleanups have run: one test process at a time
// changes the host-global state it guards.
func hostLock(t testing.TB, name string) {
	t.Helper()
	dir := "/run/lock"
	if _, err := os.Stat(dir); err != nil {
		dir = os.TempDir()
	}
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() }) // closing releases the lock
}

// TunMode gives /dev/net/tun the mode want for the test and puts back the
// host's mode after it, holding a host-wide lock meanwhile so that tests
// in other processes do not change it under each other. The rootless
// default network (slirp4netns) opens the device inside the step's user
// namespace, where only the file's mode counts: the kernel creates it
// 0666; a container host (this CI's) may have made it 0600.
func TunMode(t testing.TB, want os.FileMode) {
	t.Helper()
	hostLock(t, "bld-tun-test.lock")
	const tun = "/dev/net/tun"
	fi, err := os.Stat(tun)
	if err != nil {
		t.Fatalf("the rootless default network needs %s: %v", tun, err)
	}
	if mode := fi.Mode().Perm(); mode != want {
		if err := os.Chmod(tun, want); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(tun, mode) })
	}
}

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/bldbuild/bld/internal/binfmt"
	"github.com/bldbuild/bld/internal/testutil"
)

// TestEmulatedRun builds for linux/arm64 on this amd64 host (needs root:
// binfmt_misc is host-global; the test removes the handler it registers,
// and unmounts binfmt_misc if it mounted it, even on failure). Without an
// emulator the build fails before any step runs, naming bld binfmt
// --install arm64; with one, RUN runs the arm64 busybox under QEMU inside
// the sandbox, and the image says linux/arm64.
func TestEmulatedRun(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root (namespaces, binfmt_misc); CI runs as root")
	}
	testutil.LockBinfmt(t) // other packages' tests register handlers too
	mountedBefore := binfmt.Mounted()
	t.Cleanup(func() {
		if err := binfmt.Uninstall("arm64"); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		if !mountedBefore && binfmt.Mounted() {
			if err := unix.Unmount(binfmt.Dir, 0); err != nil {
				t.Errorf("cleanup: unmount binfmt_misc: %v", err)
			}
		}
	})
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "busybox-arm64")
	testutil.ForeignBusyboxRootfs(t, rootfs, "arm64")
	r := bldRunner{t: t, bin: testutil.Bld(t), env: append(os.Environ(), "BLD_ROOT="+filepath.Join(dir, "root"))}
	r.must("import", "--platform", "linux/arm64", rootfs, "busybox-arm64")
	if out := r.must("inspect", "busybox-arm64"); !strings.Contains(out, `"architecture": "arm64"`) {
		t.Fatalf("imported image is not arm64:\n%s", out)
	}
	ctx := filepath.Join(dir, "ctx")
	if err := os.MkdirAll(ctx, 0o755); err != nil {
		t.Fatal(err)
	}
	df := "FROM busybox-arm64\nRUN echo ran > /ran\nRUN uname -m > /arch\n"
	if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}

	arm64 := specs.Platform{OS: "linux", Architecture: "arm64"}
	// A bld handler left by a killed test is ours to remove (the lock
	// keeps other bld tests out); another registrant's is not.
	if err := binfmt.Uninstall("arm64"); err != nil {
		t.Fatal(err)
	}
	if binfmt.Check(arm64) == nil {
		t.Log("an arm64 emulator registered by someone else is present: the build without one cannot be tried")
	} else {
		out, err := r.run("build", "--progress", "plain", "--platform", "linux/arm64", ctx)
		if err == nil || !strings.Contains(out, `Dockerfile:2: RUN echo ran > /ran: linux/arm64: no emulator registered in binfmt_misc; run "bld binfmt --install arm64"`) {
			t.Fatalf("build without an emulator: %v\n%s", err, out)
		}
		if strings.Contains(out, "#2 [2/3]") {
			t.Errorf("a step started before the emulator check:\n%s", out)
		}
	}

	r.must("binfmt", "--install", "arm64")
	if out := r.must("binfmt"); !strings.Contains(out, "bld-qemu-aarch64") {
		t.Errorf("bld binfmt does not list its handler:\n%s", out)
	}
	dest := filepath.Join(dir, "out")
	r.must("build", "--progress", "plain", "--platform", "linux/arm64", "-t", "app:arm64", "--output", "type=local,dest="+dest, ctx)
	if b, err := os.ReadFile(filepath.Join(dest, "arch")); err != nil || strings.TrimSpace(string(b)) != "aarch64" {
		t.Errorf("uname -m in the emulated RUN = %q, %v; want aarch64", b, err)
	}
	r.must("build", "--progress", "quiet", "--platform", "linux/arm64", "-t", "app:arm64", ctx)
	if out := r.must("inspect", "app:arm64"); !strings.Contains(out, `"architecture": "arm64"`) {
		t.Errorf("built image is not arm64:\n%s", out)
	}
	// The handler runs an arm64 program outside a sandbox too.
	if out, err := exec.Command(filepath.Join(rootfs, "bin/busybox"), "uname", "-m").CombinedOutput(); err != nil || string(out) != "aarch64\n" {
		t.Errorf("arm64 busybox on the host: %q, %v", out, err)
	}

	// bld binfmt --uninstall removes bld's handler, and only it.
	r.must("binfmt", "--uninstall", "arm64")
	if out := r.must("binfmt"); strings.Contains(out, "bld-qemu-aarch64") {
		t.Errorf("bld binfmt --uninstall arm64 left its handler:\n%s", out)
	}
	if binfmt.Check(arm64) == nil {
		t.Log("another registrant's arm64 emulator is present: the build after --uninstall cannot fail")
	} else if out, err := r.run("build", "--progress", "quiet", "--no-cache", "--platform", "linux/arm64", ctx); err == nil || !strings.Contains(out, `run "bld binfmt --install arm64"`) {
		t.Errorf("build after bld binfmt --uninstall: %v\n%s", err, out)
	}
	if out, err := r.run("binfmt", "--install", "sparc"); err == nil || !strings.Contains(out, "binfmt --install sparc: unknown architecture (known: 386, amd64, arm, arm64,") {
		t.Errorf("bld binfmt --install sparc: %v\n%s", err, out)
	}
}

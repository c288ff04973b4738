package sandbox

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/bldbuild/bld/internal/binfmt"
	"github.com/bldbuild/bld/internal/testutil"
)

// TestSandboxEmulatedArm64 runs an arm64 busybox root in the sandbox, on
// this amd64 host, through QEMU registered in binfmt_misc with the F flag
// (bld binfmt --install arm64): the interpreter is not in the step's root,
// so only a handler whose interpreter the kernel opened at registration
// works after the pivot_root. It checks that the step's seccomp filter,
// dropped capabilities, a non-root user and cgroup limits
// leave QEMU working. Needs root and qemu-user-static; binfmt_misc is
// host-global, so the handler the test registers (and binfmt_misc, if the
// test mounted it) is removed when it ends, also on failure; one that was
// there before the test stays.
func TestSandboxEmulatedArm64(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root (namespaces, binfmt_misc); CI runs as root")
	}
	testutil.LockBinfmt(t) // the binfmt and cmd/bld tests register handlers too
	mountedBefore := binfmt.Mounted()
	arm64 := v1.Platform{OS: "linux", Architecture: "arm64"}
	// A handler present already may serve a process that does not take
	// the test lock (bench/emu.sh, a user's build): it stays.
	present := binfmt.Check(arm64) == nil
	t.Cleanup(func() {
		if present {
			return
		}
		if err := binfmt.Uninstall("arm64"); err != nil { // only bld's bld-qemu-aarch64
			t.Errorf("cleanup: %v", err)
		}
		if !mountedBefore && binfmt.Mounted() {
			if err := unix.Unmount(binfmt.Dir, 0); err != nil {
				t.Errorf("cleanup: unmount %s: %v", binfmt.Dir, err)
			}
		}
	})
	if err := binfmt.Install("arm64"); err != nil {
		t.Fatal(err)
	}
	if err := binfmt.Check(arm64); err != nil {
		t.Fatalf("after Install: %v", err)
	}

	root := filepath.Join(t.TempDir(), "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	testutil.ForeignBusyboxRootfs(t, root, "arm64")
	t.Cleanup(func() {
		b, _ := os.ReadFile("/proc/self/mountinfo")
		if strings.Contains(string(b), filepath.Dir(root)) {
			t.Errorf("mounts of %s left:\n%s", root, b)
		}
	})
	// No qemu in the root: the handler's interpreter must come from the
	// registration (F), not from a path looked up after pivot_root.
	if _, err := os.Stat(filepath.Join(root, "usr/libexec/qemu-binfmt")); err == nil {
		t.Fatal("the fixture root holds qemu: the test would not show the F flag at work")
	}

	spec := Spec{Network: "none"}
	script := `uname -m; echo pid $$; grep -E '^(Seccomp|CapEff):' /proc/self/status; i=0; while [ $i -lt 2000 ]; do i=$((i+1)); done; echo loop $i; echo x > /tmp/f && cat /tmp/f`
	out := mustRun(t, root, spec, "sh", "-c", script)
	for _, want := range []string{"aarch64\n", "pid 1\n", "Seccomp:\t2\n", "loop 2000\n", "x\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("emulated step output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "CapEff:\t000001ffffffffff") || strings.Contains(out, "CapEff:\t0000003fffffffff") {
		t.Errorf("emulated step has every capability:\n%s", out)
	}

	// A non-root user, and cgroup limits (QEMU reserves a large guest
	// address space without committing it, and starts a second thread).
	spec = Spec{Network: "none", User: "app", Limits: Limits{Memory: 64 << 20, Pids: 16}}
	out = mustRun(t, root, spec, "sh", "-c", "id -u; uname -m; echo $HOME")
	if out != "1000\naarch64\n/home/app\n" {
		t.Errorf("emulated step as app with limits = %q, want 1000, aarch64, /home/app", out)
	}

	// A failing emulated command reports its exit status as a native one.
	_, _, err := runIn(t, root, Spec{Network: "none"}, "sh", "-c", "exit 7")
	var e *ExitError
	if !errors.As(err, &e) || e.Code != 7 {
		t.Errorf("emulated exit 7: %v, want exit code: 7", err)
	}
}

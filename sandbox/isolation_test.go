package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bldbuild/bld/internal/mount"
	"github.com/bldbuild/bld/internal/testutil"
)

// helperEnv makes the test binary, started inside a step, run a helper
// (see runHelper) instead of the tests. busybox lacks keyctl.
const helperEnv = "_BLD_SANDBOX_TEST_HELPER"

// runHelper runs the helper named by helperEnv, if any, and exits.
func runHelper() {
	switch os.Getenv(helperEnv) {
	case "":
		return
	case "run-sleep":
		// Run `sleep 1013` in the root in $ROOT, and wait; the test kills
		// this process.
		spec := Spec{Root: bindRoot(os.Getenv("ROOT")), Args: []string{"sleep", "1013"}}
		fmt.Println(Run(context.Background(), spec))
		os.Exit(0)
	case "keyring":
		// Print the serial of @s, then whether a key of the caller's
		// session keyring, described by KEY, is found through @s.
		id, err := unix.KeyctlGetKeyringID(unix.KEY_SPEC_SESSION_KEYRING, false)
		fmt.Printf("session=%d err=%v\n", id, err)
		_, err = unix.KeyctlSearch(unix.KEY_SPEC_SESSION_KEYRING, "user", os.Getenv("KEY"), 0)
		fmt.Printf("search=%v\n", err)
		os.Exit(0)
	}
	fmt.Fprintln(os.Stderr, "unknown helper")
	os.Exit(2)
}

// hostRootSpec is a spec whose root is a read-only bind of the host's /,
// so the test binary (dynamically linked) runs in the step as a helper.
func hostRootSpec(t *testing.T, helper string) Spec {
	t.Helper()
	testutil.RequireRoot(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return Spec{
		Root: []mount.Mount{{Type: "bind", Source: "/", Options: []string{"rbind", "ro"}}},
		Args: []string{exe},
		Env:  []string{helperEnv + "=" + helper},
	}
}

// The command is PID 1 of the step, as under BuildKit and Docker.
// Reproduced on the code before this test: `echo $$` printed 11 or 14, and
// /proc/1/cmdline was bld's init.
func TestIsolationCommandIsPID1(t *testing.T) {
	root := newRoot(t)
	out := mustRun(t, root, Spec{}, "sh", "-c", "echo $$; cat /proc/1/cmdline; echo; ls -d /proc/[0-9]* | wc -l")
	if want := "1\nsh\x00-c\x00echo $$; cat /proc/1/cmdline; echo; ls -d /proc/[0-9]* | wc -l\x00\n"; !strings.HasPrefix(out, want) {
		t.Errorf("output %q, want the shell as PID 1", out)
	}
	// Orphans of the step are reaped by the command (PID 1) or killed with
	// it: nothing stays behind.
	mustRun(t, root, Spec{}, "sh", "-c", "(sleep 1011 &) ; sleep 1012 & exit 0")
	if p := processes("101"); len(p) > 0 {
		t.Errorf("processes left: %q", p)
	}
}

// A descriptor bld inherited must not reach the step. Reproduced on the
// code before this test: with `9</` held by the caller, /proc/self/fd/9 in
// the step was the host's / and `cat /proc/self/fd/9/etc/shadow` read it.
func TestIsolationInheritedFD(t *testing.T) {
	root := newRoot(t)
	fd, err := unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY, 0) // no O_CLOEXEC, as a shell's 9</
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	n := 9
	for ; n < 1000; n++ {
		if _, err := unix.FcntlInt(uintptr(n), unix.F_GETFD, 0); err == unix.EBADF {
			break
		}
	}
	if err := unix.Dup3(fd, n, 0); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(n)
	out := mustRun(t, root, Spec{}, "sh", "-c", fmt.Sprintf("ls /proc/self/fd/%d/ >/dev/null 2>&1 && echo leaked; ls /proc/self/fd | sort -n | tr '\\n' ' '", n))
	if strings.Contains(out, "leaked") {
		t.Errorf("fd %d of the caller reached the step: %q", n, out)
	}
	// ls itself opens one descriptor (3) to read the directory.
	if want := "0 1 2 3 "; out != want {
		t.Errorf("descriptors in the step: %q, want %q", out, want)
	}
}

// The step gets a new session keyring: the caller's is not reachable
// through @s. Reproduced on the code before this test: the step's @s was
// the caller's, and a key added there was found by the step.
func TestIsolationKeyring(t *testing.T) {
	spec := hostRootSpec(t, "keyring")
	// Add a key to the caller's session keyring, from a locked thread
	// (keyrings are per-thread credentials); the step's init is started by
	// Run from another thread, but all threads share the session keyring
	// the process was started with. The thread is never unlocked, so Go
	// ends it with this test: a process started without a session keyring
	// (CI's) gets one for this thread alone from add_key, and a later
	// test's goroutine on this thread would then not possess the keys of
	// the user keyring (TestSandboxSeccomp's setperm failed with EACCES,
	// now and then).
	runtime.LockOSThread()
	desc := fmt.Sprintf("bld-test-%d", os.Getpid())
	key, err := unix.AddKey("user", desc, []byte("host secret"), unix.KEY_SPEC_SESSION_KEYRING)
	if err != nil {
		t.Fatalf("add_key: %v", err)
	}
	t.Cleanup(func() { unix.KeyctlInt(unix.KEYCTL_INVALIDATE, key, 0, 0, 0) })
	host, err := unix.KeyctlGetKeyringID(unix.KEY_SPEC_SESSION_KEYRING, false)
	if err != nil {
		t.Fatal(err)
	}
	spec.Env = append(spec.Env, "KEY="+desc)
	out := mustRun(t, "", spec, spec.Args...)
	if strings.Contains(out, fmt.Sprintf("session=%d ", host)) {
		t.Errorf("the step's session keyring is the caller's (%d): %q", host, out)
	}
	// ENOKEY: the new session keyring does not have the key; EPERM:
	// seccomp (Docker's profile) denies keyctl before that. Either way
	// the key is not found.
	if !strings.Contains(out, "search=required key not available") && !strings.Contains(out, "search=operation not permitted") {
		t.Errorf("the step found the caller's key through @s: %q", out)
	}
}

// When bld is killed (SIGKILL, no cleanup), its step dies with it
// (PR_SET_PDEATHSIG, set again after the credentials change).
func TestIsolationKilledCaller(t *testing.T) {
	root := newRoot(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	// Its scratch dir stays behind (bld's next start removes it).
	cmd.Env = append(os.Environ(), helperEnv+"=run-sleep", "ROOT="+root, "TMPDIR="+t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// So do the killed caller's cgroups: remove them, empty now.
		prefix := fmt.Sprintf("bld-%d-", cmd.Process.Pid)
		filepath.WalkDir("/sys/fs/cgroup", func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			if strings.HasPrefix(d.Name(), prefix) {
				// The step's processes die with the caller
				// (PDEATHSIG), a moment after it: until then the
				// cgroup is busy.
				var err error
				for range 40 {
					if err = os.Remove(p); !errors.Is(err, unix.EBUSY) {
						break
					}
					time.Sleep(50 * time.Millisecond)
				}
				// Gone already is as good: a bld running beside this
				// test (another package's, go test -p 2) removes a
				// dead caller's cgroups when it starts (Recover).
				if err != nil && !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("remove cgroup: %v", err)
				}
				return filepath.SkipDir
			}
			if strings.Count(p, "/") > 6 {
				return filepath.SkipDir
			}
			return nil
		})
	})
	deadline := time.Now().Add(20 * time.Second)
	for len(processes("1013")) == 0 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the step did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	deadline = time.Now().Add(5 * time.Second)
	for len(processes("1013")) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the step outlived its killed caller: %q", processes("1013"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// maskedPaths and readonlyPaths are Docker's defaults (moby's
// oci/defaults.go, MaskedPaths and ReadonlyPaths).
var (
	dockerMasked = []string{
		"/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
		"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
		"/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
	}
	dockerReadonly = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
)

// Each of Docker's masked paths is empty in the step, each read-only one
// cannot be written. Reproduced on the code before this test: the step
// read /proc/interrupts (missing from its list).
func TestIsolationMaskedPaths(t *testing.T) {
	root := newRoot(t)
	var script strings.Builder
	for _, p := range dockerMasked {
		fmt.Fprintf(&script, "if [ -d %[1]s ]; then echo %[1]s $(ls -A %[1]s | wc -l) $(touch %[1]s/x 2>/dev/null && echo w); elif [ -e %[1]s ]; then echo %[1]s $(head -c 100 %[1]s | wc -c); fi\n", p)
	}
	for _, p := range dockerReadonly {
		fmt.Fprintf(&script, "grep -q ' %[1]s ro,' /proc/self/mountinfo && echo %[1]s ro\n", p)
	}
	script.WriteString("echo c > /proc/sysrq-trigger 2>/dev/null && echo sysrq written; true\n")
	out := mustRun(t, root, Spec{}, "sh", "-c", script.String())
	lines := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		p, rest, _ := strings.Cut(l, " ")
		lines[p] = rest
	}
	for _, p := range dockerMasked {
		if _, err := os.Stat(p); err != nil {
			continue // not on this kernel: nothing to mask
		}
		if got := lines[p]; got != "0" {
			t.Errorf("%s in the step: %q, want empty and unwritable", p, got)
		}
	}
	for _, p := range dockerReadonly {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		if lines[p] != "ro" {
			t.Errorf("%s is not mounted read-only in the step:\n%s", p, out)
		}
	}
	if _, ok := lines["sysrq"]; ok {
		t.Errorf("/proc/sysrq-trigger written")
	}
}

// /proc/self/mountinfo in the step shows no scratch path of the caller,
// nor where an overlay root's layers live. Reproduced on the code before
// this test: /etc/hosts, /etc/resolv.conf and /etc/hostname were binds of
// /tmp/bld-sandbox-N/... files, and the overlay's options named the
// layers' host paths.
//
// What stays visible, as under Docker: a bind root's own path (Docker
// roots are overlays), the host paths of bind and cache mounts' sources
// (the "root" field of their lines), device numbers and filesystem types.
func TestIsolationMountinfo(t *testing.T) {
	lower := newRoot(t)
	dir := t.TempDir()
	upper, work := filepath.Join(dir, "upper"), filepath.Join(dir, "work")
	os.Mkdir(upper, 0o755)
	os.Mkdir(work, 0o755)
	scratch := t.TempDir()
	spec := Spec{
		ScratchDir: scratch,
		Root: []mount.Mount{{
			Type: "overlay", Source: "overlay",
			Options: []string{"lowerdir=" + lower, "upperdir=" + upper, "workdir=" + work},
		}},
	}
	out := mustRun(t, "", spec, "cat", "/proc/self/mountinfo")
	for _, bad := range []string{"bld-sandbox-", scratch, lower, upper, work} {
		if strings.Contains(out, bad) {
			t.Errorf("mountinfo shows %q:\n%s", bad, out)
		}
	}
	if !strings.Contains(out, " /etc/hosts ") || strings.Contains(out, "upperdir=/") || !strings.Contains(out, "upperdir=") {
		t.Errorf("mountinfo lacks /etc/hosts or a relative upperdir:\n%s", out)
	}
	// Run's scratch lives under ScratchDir and is gone afterwards.
	if entries, err := os.ReadDir(scratch); err != nil || len(entries) != 0 {
		t.Errorf("scratch dir after Run: %v, %v", entries, err)
	}
}

// The fixed cost of a step: `true` in a sandbox over a bind root.
func BenchmarkRunTrue(b *testing.B) {
	testutil.RequireRoot(b)
	root := filepath.Join(b.TempDir(), "root")
	os.Mkdir(root, 0o755)
	testutil.BusyboxRootfs(b, root)
	spec := Spec{Root: bindRoot(root), Args: []string{"true"}}
	for b.Loop() {
		if err := Run(context.Background(), spec); err != nil {
			b.Fatal(err)
		}
	}
}

// Symlinks in the image on the way to a mount target are followed inside
// the root, absolute ones from the root (as an image's /var/run -> /run),
// and what had to be created for them is gone after the step.
func TestIsolationSymlinkedTargets(t *testing.T) {
	root := newRoot(t)
	os.MkdirAll(filepath.Join(root, "var"), 0o755)
	if err := os.Symlink("/run", filepath.Join(root, "var/run")); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(root, "proc")) // an empty dir in the test rootfs
	if err := os.Symlink("/kernel/proc", filepath.Join(root, "proc")); err != nil {
		t.Fatal(err)
	}
	before := tree(t, root)
	spec := Spec{Mounts: []mount.Mount{{Type: "tmpfs", Source: "tmpfs", Target: "/var/run/secrets/x"}}}
	out := mustRun(t, root, spec, "sh", "-c", "grep -c ' /run/secrets/x ' /proc/self/mountinfo; grep -c ' /kernel/proc .* - proc ' /proc/self/mountinfo; cat /proc/1/comm")
	if want := "1\n1\ncat\n"; out != want {
		t.Errorf("output %q, want %q", out, want)
	}
	checkTree(t, root, before)
}

package sandbox

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bldbuild/bld/internal/testutil"
)

// loopDevice attaches a loop device to a small file holding a marker, and
// detaches it when the test ends. It returns the device's minor number and
// the file.
func loopDevice(t *testing.T) (minor uint32, file string) {
	t.Helper()
	testutil.RequireRoot(t)
	file = filepath.Join(t.TempDir(), "disk.img")
	data := bytes.Repeat([]byte("bld-loop-marker."), 4096)
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "-f", "--show", file).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup: %v\n%s", err, out)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
			t.Errorf("losetup -d %s: %v\n%s", dev, err, out)
		}
	})
	var st unix.Stat_t
	if err := unix.Stat(dev, &st); err != nil {
		t.Fatal(err)
	}
	if unix.Major(st.Rdev) != 7 {
		t.Fatalf("%s is %d:%d, not a loop device", dev, unix.Major(st.Rdev), unix.Minor(st.Rdev))
	}
	return unix.Minor(st.Rdev), file
}

// checkUnchanged fails the test if the loop device's file lost its marker.
func checkUnchanged(t *testing.T, file string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, bytes.Repeat([]byte("bld-loop-marker."), 4096)) {
		t.Errorf("the step wrote into the host's loop device: %.64q", b)
	}
}

// deviceScript makes nodes in dir and tries them; it prints NAME=ok or
// NAME=the error.
func deviceScript(dir string, loopMinor uint32) string {
	return strings.NewReplacer("$D", dir, "$N", strconv.Itoa(int(loopMinor))).Replace(`
try() { name=$1; shift; if out=$("$@" 2>&1); then echo "$name=ok"; else echo "$name=$out"; fi; }
try mknod-loop mknod $D/loop b 7 $N
try read-loop dd if=$D/loop of=/dev/null bs=512 count=1
try write-loop dd if=/dev/zero of=$D/loop bs=512 count=1 conv=notrunc
try mknod-kmsg mknod $D/kmsg c 1 11
try write-kmsg sh -c "echo bld-test > $D/kmsg"
try mknod-null mknod $D/null c 1 3
try null sh -c "echo x > $D/null"
try mknod-zero mknod $D/zero c 1 5
try zero dd if=$D/zero of=$D/null bs=4 count=1
try mknod-urandom mknod $D/urandom c 1 9
try urandom dd if=$D/urandom of=$D/null bs=4 count=1
try mknod-mem mknod $D/mem c 1 1
try read-mem dd if=$D/mem of=/dev/null bs=1 count=1
`)
}

// deny and allow check deviceScript's output.
func checkDevices(t *testing.T, out string, denied bool) {
	t.Helper()
	for _, ok := range []string{"mknod-loop", "mknod-kmsg", "mknod-null", "null", "zero", "urandom", "mknod-mem"} {
		if !strings.Contains(out, ok+"=ok\n") {
			t.Errorf("%s failed:\n%s", ok, out)
		}
	}
	for _, no := range []string{"read-loop", "write-loop", "write-kmsg", "read-mem"} {
		got := strings.Contains(out, no+"=") && strings.Contains(strings.SplitN(strings.SplitN(out, no+"=", 2)[1], "\n", 2)[0], "Operation not permitted")
		if got != denied {
			t.Errorf("%s denied = %v, want %v:\n%s", no, got, denied, out)
		}
	}
}

// runShell runs busybox sh -c script, optionally in the v2 cgroup cgfd.
func runShell(t *testing.T, script string, cgfd int) string {
	t.Helper()
	cmd := exec.Command("busybox", "sh", "-c", script)
	if cgfd >= 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: cgfd}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sh: %v\n%s", err, out)
	}
	return string(out)
}

// testCgroup makes a cgroup directory under mountpoint and removes it when
// the test ends.
func testCgroup(t *testing.T, mountpoint string) string {
	t.Helper()
	dir := filepath.Join(mountpoint, "bld-devtest-"+randomHex(4))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for range 100 {
			if err := unix.Rmdir(dir); err != unix.EBUSY {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Errorf("cgroup %s left", dir)
	})
	return dir
}

// The v2 device program on its own, on the unified hierarchy (this hybrid
// host's is empty of controllers; device control needs none). Reproduced
// first: in a v2 cgroup without the program, the process reads and writes
// the host's loop device, /dev/mem and /dev/kmsg through nodes it makes.
func TestDevicesV2Program(t *testing.T) {
	minor, file := loopDevice(t)
	hs, err := hierarchies()
	if err != nil {
		t.Fatal(err)
	}
	h := findV2(hs)
	if h == nil {
		t.Fatal("no cgroup v2 hierarchy mounted")
	}
	dir := testCgroup(t, h.mountpoint)
	cg, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer cg.Close()

	scratch := t.TempDir()
	// Before: no program, every access works (the escape).
	checkDevices(t, runShell(t, deviceScript(scratch, minor), int(cg.Fd())), false)
	for _, f := range []string{"loop", "kmsg", "null", "zero", "urandom", "mem"} {
		os.Remove(filepath.Join(scratch, f))
	}
	if err := os.WriteFile(file, bytes.Repeat([]byte("bld-loop-marker."), 4096), 0o600); err != nil {
		t.Fatal(err)
	}

	l, err := attachDevicesV2(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	checkDevices(t, runShell(t, deviceScript(scratch, minor), int(cg.Fd())), true)
	checkUnchanged(t, file)
}

// The v1 rules on their own, in a devices cgroup. Reproduced first as for
// v2: without the rules the same process reads the loop device.
func TestDevicesV1Rules(t *testing.T) {
	minor, file := loopDevice(t)
	hs, err := hierarchies()
	if err != nil {
		t.Fatal(err)
	}
	h := findHierarchy(hs, "devices")
	if h == nil || h.v2 {
		t.Fatal("no cgroup v1 devices controller mounted")
	}
	scratch := t.TempDir()
	join := func(dir string) string {
		return "echo $$ > " + filepath.Join(dir, "cgroup.procs") + " || exit 1\n"
	}
	before := testCgroup(t, h.mountpoint)
	checkDevices(t, runShell(t, join(before)+deviceScript(scratch, minor), -1), false)
	for _, f := range []string{"loop", "kmsg", "null", "zero", "urandom", "mem"} {
		os.Remove(filepath.Join(scratch, f))
	}
	if err := os.WriteFile(file, bytes.Repeat([]byte("bld-loop-marker."), 4096), 0o600); err != nil {
		t.Fatal(err)
	}

	dir := testCgroup(t, h.mountpoint)
	if err := setDevicesV1(dir, defaultDeviceRules); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "devices.list"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "a *:* rwm") || !strings.Contains(string(b), "c 136:* rwm") {
		t.Errorf("devices.list:\n%s", b)
	}
	checkDevices(t, runShell(t, join(dir)+deviceScript(scratch, minor), -1), true)
	checkUnchanged(t, file)
}

// A RUN step gets Docker's device allowlist. Reproduced on the code before
// newCgroup applied it: `mknod /tmp/d b 7 N` of a loop device the test
// attached, then dd read and wrote the host's device, and a node made with
// mknod c 1 11 wrote to the host's /dev/kmsg.
func TestSandboxDevices(t *testing.T) {
	minor, file := loopDevice(t)
	root := newRoot(t)
	script := deviceScript("/tmp", minor) + `
try dev-null sh -c "echo x > /dev/null"
try dev-zero dd if=/dev/zero of=/dev/null bs=4 count=1
try dev-urandom dd if=/dev/urandom of=/dev/null bs=4 count=1
try dev-full sh -c "echo x > /dev/full"
try dev-tty sh -c ": < /dev/tty"
try dev-ptmx sh -c ": <> /dev/ptmx"
try dev-pts ls /dev/pts/ptmx
`
	out := mustRun(t, root, Spec{}, "sh", "-c", script)
	checkDevices(t, out, true)
	for _, want := range []string{
		"dev-null=ok", "dev-zero=ok", "dev-urandom=ok", "dev-ptmx=ok", "dev-pts=ok",
		"dev-full=sh: write error: No space left on device",
		// No controlling terminal: the device answers, not the cgroup.
		"dev-tty=sh: can't open /dev/tty: No such device or address",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	checkUnchanged(t, file)
}

// Device rules hold with limits too, where newCgroup also made the memory
// and pids cgroups.
func TestSandboxDevicesWithLimits(t *testing.T) {
	minor, _ := loopDevice(t)
	root := newRoot(t)
	out := mustRun(t, root, Spec{Limits: Limits{Memory: 64 << 20, Pids: 64}}, "sh", "-c", deviceScript("/tmp", minor))
	checkDevices(t, out, true)
}

func TestDeviceRuleString(t *testing.T) {
	var got []string
	for _, r := range defaultDeviceRules[:3] {
		got = append(got, r.String())
	}
	if want := "c *:* m|b *:* m|c 1:3 rwm"; strings.Join(got, "|") != want {
		t.Errorf("rules %q, want %q", got, want)
	}
}

// BenchmarkSandboxTrue is the cost of a step running true: namespaces,
// mounts, cgroup with device rules, seccomp.
func BenchmarkSandboxTrue(b *testing.B) {
	testutil.RequireRoot(b)
	root := filepath.Join(b.TempDir(), "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		b.Fatal(err)
	}
	testutil.BusyboxRootfs(b, root)
	for b.Loop() {
		if err := Run(b.Context(), Spec{Root: bindRoot(root), Args: []string{"true"}}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNewCgroup is the cost of a step's cgroup, device rules included.
func BenchmarkNewCgroup(b *testing.B) {
	testutil.RequireRoot(b)
	for b.Loop() {
		cg, err := newCgroup(Limits{}, true)
		if err != nil {
			b.Fatal(err)
		}
		if err := cg.remove(); err != nil {
			b.Fatal(err)
		}
	}
}

// The step sees its own cgroups as the root of its cgroup namespace (the
// init makes the namespace on the thread that forks the command).
func TestSandboxCgroupNamespace(t *testing.T) {
	root := newRoot(t)
	out := mustRun(t, root, Spec{}, "cat", "/proc/self/cgroup")
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasSuffix(line, ":/") {
			t.Errorf("step sees a cgroup path outside its namespace: %q\n%s", line, out)
		}
	}
}

// Where the device rules go on each kind of host: the v1 devices
// controller, the v2 hierarchy (a whole mount preferred to a bound part),
// or both.
func TestDeviceHierarchies(t *testing.T) {
	hybrid := `36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
90 23 0:38 /sub /mnt/part rw,relatime - cgroup2 cgroup2 rw
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw`
	v1 := `36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices`
	v2 := `30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate`
	for _, tc := range []struct {
		name, mountinfo string
		devices, v2     string
	}{
		{"hybrid", hybrid, "/sys/fs/cgroup/devices", "/sys/fs/cgroup/unified"},
		{"v1", v1, "/sys/fs/cgroup/devices", ""},
		{"v2", v2, "", "/sys/fs/cgroup"},
		{"none", "", "", ""},
	} {
		hs := parseHierarchies(tc.mountinfo, func(string) ([]string, error) { return []string{"memory"}, nil })
		devices, unified := "", ""
		if h := findHierarchy(hs, "devices"); h != nil && !h.v2 {
			devices = h.mountpoint
		}
		if h := findV2(hs); h != nil {
			unified = h.mountpoint
		}
		if devices != tc.devices || unified != tc.v2 {
			t.Errorf("%s: devices %q, v2 %q; want %q, %q", tc.name, devices, unified, tc.devices, tc.v2)
		}
	}
}

// The step's cgroups include one in each hierarchy that carries device
// rules, and remove takes them all away, the device program with them.
func TestNewCgroupDevices(t *testing.T) {
	testutil.RequireRoot(t)
	hs, err := hierarchies()
	if err != nil {
		t.Fatal(err)
	}
	cg, err := newCgroup(Limits{}, true)
	if err != nil {
		t.Fatal(err)
	}
	dirs := append([]string(nil), cg.dirs...)
	var sawV1, sawV2 bool
	for _, d := range dirs {
		if h := findHierarchy(hs, "devices"); h != nil && !h.v2 && strings.HasPrefix(d, h.mountpoint+"/") {
			sawV1 = true
			b, err := os.ReadFile(filepath.Join(d, "devices.list"))
			if err != nil || !strings.Contains(string(b), "c 1:3 rwm") || strings.Contains(string(b), "a *:* rwm") {
				t.Errorf("devices.list of %s: %v\n%s", d, err, b)
			}
		}
		if h := findV2(hs); h != nil && strings.HasPrefix(d, h.mountpoint+"/") {
			sawV2 = true
		}
	}
	if findHierarchy(hs, "devices") != nil && !sawV1 {
		t.Errorf("no v1 devices cgroup among %q", dirs)
	}
	if findV2(hs) != nil && (!sawV2 || len(cg.detach) != 1) {
		t.Errorf("no v2 cgroup with a device program among %q (%d programs)", dirs, len(cg.detach))
	}
	if err := cg.remove(); err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("%s left", d)
		}
	}
}

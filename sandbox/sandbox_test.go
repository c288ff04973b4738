package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bldbuild/bld/internal/mount"
	"github.com/bldbuild/bld/internal/testutil"
)

func TestMain(m *testing.M) {
	runHelper()
	// Run's scratch directories go to $TMPDIR unless a spec says
	// otherwise: a private one tells this process's from other
	// processes' on the machine.
	if strings.HasPrefix(filepath.Base(os.Getenv("TMPDIR")), "bld-sandbox-test-") {
		// The test binary re-run as a child by a test (seccomp's thread
		// test): the parent owns the scratch and checks it.
		os.Exit(m.Run())
	}
	tmp, err := os.MkdirTemp("", "bld-sandbox-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("TMPDIR", tmp)
	code := m.Run()
	if err := leftovers(tmp); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	if err := os.Remove(tmp); err != nil {
		fmt.Fprintln(os.Stderr, "scratch left:", err)
		code = 1
	}
	os.Exit(code)
}

// leftovers finds mounts of Run's scratch directories under tmp and
// cgroups of this process that outlived their step.
func leftovers(tmp string) error {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	if strings.Contains(string(b), tmp) {
		return fmt.Errorf("sandbox mounts left in mountinfo:\n%s", b)
	}
	prefix := fmt.Sprintf("bld-%d-", os.Getpid())
	var left []string
	filepath.WalkDir("/sys/fs/cgroup", func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if strings.HasPrefix(d.Name(), prefix) {
			left = append(left, p)
		}
		if strings.Count(p, "/") > 6 {
			return filepath.SkipDir
		}
		return nil
	})
	if len(left) > 0 {
		return fmt.Errorf("cgroups left: %v", left)
	}
	return nil
}

// newRoot makes a busybox root directory (testutil.BusyboxRootfs) and
// checks, when the test ends, that nothing is still mounted on it. It skips
// the test unless it runs as root.
func newRoot(t *testing.T) string {
	t.Helper()
	testutil.RequireRoot(t)
	root := filepath.Join(t.TempDir(), "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	testutil.BusyboxRootfs(t, root)
	t.Cleanup(func() {
		b, _ := os.ReadFile("/proc/self/mountinfo")
		if strings.Contains(string(b), filepath.Dir(root)) {
			t.Errorf("mounts of %s left:\n%s", root, b)
		}
	})
	return root
}

// bindRoot is the Root of a spec for a plain directory.
func bindRoot(dir string) []mount.Mount {
	return []mount.Mount{{Type: "bind", Source: dir, Options: []string{"rbind", "rw"}}}
}

// runIn runs args in root with spec's other fields, and returns stdout and
// stderr.
func runIn(t *testing.T, root string, spec Spec, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	if spec.Root == nil {
		spec.Root = bindRoot(root)
	}
	spec.Args = args
	spec.Stdout, spec.Stderr = &stdout, &stderr
	err := Run(ctx, spec)
	return stdout.String(), stderr.String(), err
}

// mustRun is runIn for a command that must succeed.
func mustRun(t *testing.T, root string, spec Spec, args ...string) string {
	t.Helper()
	out, errOut, err := runIn(t, root, spec, args...)
	if err != nil {
		t.Fatalf("Run(%q) = %v; stderr:\n%s", args, err, errOut)
	}
	return out
}

// tree lists root: each entry's path, type, mode, owner, size and mtime.
func tree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		rel, _ := filepath.Rel(root, p)
		out = append(out, fmt.Sprintf("%s %v %d:%d %d %d", rel, fi.Mode(), st.Uid, st.Gid, fi.Size(), fi.ModTime().UnixNano()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func checkTree(t *testing.T, root string, before []string) {
	t.Helper()
	after := tree(t, root)
	if !slices.Equal(before, after) {
		t.Errorf("root changed:\nbefore: %q\nafter:  %q", before, after)
	}
}

// processes returns the command lines of the host's processes that contain
// word as an argument.
func processes(word string) []string {
	var found []string
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if slices.Contains(args, word) {
			found = append(found, d.Name()+": "+strings.Join(args, " "))
		}
	}
	return found
}

func TestSandboxPIDNamespace(t *testing.T) {
	root := newRoot(t)
	out := mustRun(t, root, Spec{}, "sh", "-c", "echo $$; ls -d /proc/[0-9]*")
	lines := strings.Fields(out)
	if len(lines) < 2 {
		t.Fatalf("output %q", out)
	}
	if lines[0] != "1" {
		t.Errorf("the command is PID %s, want 1", lines[0])
	}
	if pids := lines[1:]; len(pids) > 2 || !slices.Contains(pids, "/proc/1") {
		t.Errorf("processes visible: %q, want the shell and ls", pids)
	}
	// Nothing of bld is in the step: not its binary, root or descriptors,
	// nor a cgroup outside the step's.
	out = mustRun(t, root, Spec{}, "sh", "-c", "readlink /proc/1/exe; cut -d: -f3 /proc/self/cgroup | sort -u")
	if want := "/bin/busybox\n/\n"; out != want {
		t.Errorf("the step sees outside itself:\n%s", out)
	}
}

func TestSandboxHostname(t *testing.T) {
	root := newRoot(t)
	out := mustRun(t, root, Spec{Hostname: "builder7"}, "sh", "-c", "hostname; cat /etc/hostname; cat /etc/hosts")
	if !strings.HasPrefix(out, "builder7\nbuilder7\n") || !strings.Contains(out, "127.0.0.1\tlocalhost builder7") {
		t.Errorf("output %q", out)
	}
	if out := mustRun(t, root, Spec{}, "hostname"); out != "bld\n" {
		t.Errorf("default hostname %q, want bld", out)
	}
	host, _ := os.Hostname()
	if host == "builder7" {
		t.Errorf("host's hostname changed")
	}
}

func TestSandboxNetworkNone(t *testing.T) {
	root := newRoot(t)
	if ifaces := netDevices(mustRun(t, root, Spec{Network: "none"}, "cat", "/proc/net/dev")); !slices.Equal(ifaces, []string{"lo"}) {
		t.Errorf("interfaces: %q, want only lo", ifaces)
	}
	if out := mustRun(t, root, Spec{Network: "none"}, "ip", "link", "show"); !strings.HasPrefix(out, "1: lo: <LOOPBACK,UP,LOWER_UP>") {
		t.Errorf("lo is not up:\n%s", out)
	}
	host, err := os.ReadFile("/proc/net/dev")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := netDevices(mustRun(t, root, Spec{Network: "host"}, "cat", "/proc/net/dev")), netDevices(string(host)); !slices.Equal(got, want) {
		t.Errorf("host network: interfaces %q, want the host's %q", got, want)
	}
}

// netDevices lists the interfaces in the contents of /proc/net/dev.
func netDevices(procNetDev string) []string {
	var names []string
	for i, line := range strings.Split(procNetDev, "\n") {
		if name, _, ok := strings.Cut(line, ":"); ok && i >= 2 {
			names = append(names, strings.TrimSpace(name))
		}
	}
	slices.Sort(names)
	return names
}

func TestSandboxReadonlyKernel(t *testing.T) {
	root := newRoot(t)
	script := `echo hacked > /proc/sys/kernel/hostname; echo proc=$?; hostname
echo 0 > /sys/kernel/mm/ksm/run; echo sys=$?
touch /sys/x; echo systouch=$?`
	out := mustRun(t, root, Spec{}, "sh", "-c", script)
	for _, bad := range []string{"proc=0", "hacked", "sys=0", "systouch=0"} {
		if strings.Contains(out, bad) {
			t.Errorf("kernel settings writable (%s):\n%s", bad, out)
		}
	}
	if !strings.Contains(out, "proc=") || !strings.Contains(out, "sys=") {
		t.Errorf("output %q", out)
	}
}

func TestSandboxCapabilities(t *testing.T) {
	root := newRoot(t)
	out := mustRun(t, root, Spec{}, "sh", "-c", "grep -E '^(CapBnd|CapEff|NoNewPrivs)' /proc/self/status; mknod /tmp/null c 1 3 && echo mknod ok")
	for _, want := range []string{"CapBnd:\t00000000a80425fb", "CapEff:\t00000000a80425fb", "NoNewPrivs:\t0", "mknod ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	fi, err := os.Stat(filepath.Join(root, "tmp/null"))
	if err != nil || fi.Mode()&fs.ModeCharDevice == 0 {
		t.Errorf("mknod in the step: %v, %v", fi, err)
	}
}

func TestSandboxExitStatus(t *testing.T) {
	root := newRoot(t)
	_, _, err := runIn(t, root, Spec{}, "sh", "-c", "exit 3")
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != 3 || ee.Signal != "" || ee.OOMKilled || err.Error() != "exit code: 3" {
		t.Errorf("exit 3: %#v (%v)", err, err)
	}
	// The command is PID 1: a signal it has no handler for, sent from
	// inside the step, does nothing (as under Docker). One from outside,
	// like the OOM killer's SIGKILL, is reported (TestSandboxMemoryLimit).
	if out, _, err := runIn(t, root, Spec{}, "sh", "-c", "kill -TERM $$; echo alive"); err != nil || out != "alive\n" {
		t.Errorf("kill -TERM 1 from inside: %v, %q", err, out)
	}
	if _, _, err := runIn(t, root, Spec{}, "true"); err != nil {
		t.Errorf("true: %v", err)
	}
}

// The init forwards a SIGTERM it gets to the command.
func TestSandboxSignalForwarding(t *testing.T) {
	root := newRoot(t)
	_, _, err := runIn(t, root, Spec{}, "sh", "-c", `trap "exit 7" TERM; kill -TERM 1; sleep 5 & wait`)
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != 7 {
		t.Errorf("Run = %v, want exit code 7 from the trap", err)
	}
}

func TestSandboxUser(t *testing.T) {
	root := newRoot(t)
	tests := []struct {
		user, want, home string
	}{
		{"", "uid=0(root) gid=0(root) groups=0(root)", "/root"},
		{"app", "uid=1000(app) gid=1000(app) groups=50(staff),1000(app)", "/home/app"},
		{"1000", "uid=1000(app) gid=1000(app) groups=50(staff),1000(app)", "/home/app"},
		{"app:staff", "uid=1000(app) gid=50(staff) groups=50(staff)", "/home/app"},
		{"1000:65534", "uid=1000(app) gid=65534(nogroup) groups=65534(nogroup)", "/home/app"},
		{"4242", "uid=4242 gid=0(root) groups=0(root)", "/"},
	}
	for _, tc := range tests {
		t.Run(tc.user, func(t *testing.T) {
			out := mustRun(t, root, Spec{User: tc.user}, "sh", "-c", "id; echo $HOME")
			if want := tc.want + "\n" + tc.home + "\n"; out != want {
				t.Errorf("id as %q = %q, want %q", tc.user, out, want)
			}
		})
	}
}

func TestSandboxEnvAndDir(t *testing.T) {
	root := newRoot(t)
	spec := Spec{User: "app", Dir: "/work/sub", Env: []string{"FOO=bar baz", "HOME=/x"}}
	out := mustRun(t, root, spec, "sh", "-c", "pwd; env | sort; touch f")
	want := "/work/sub\nFOO=bar baz\nHOME=/x\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nPWD=/work/sub\nSHLVL=1\n"
	if out != want {
		t.Errorf("output %q, want %q", out, want)
	}
	for _, p := range []string{"work", "work/sub", "work/sub/f"} {
		fi, err := os.Stat(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != 1000 || st.Gid != 1000 {
			t.Errorf("%s owned by %d:%d, want 1000:1000", p, st.Uid, st.Gid)
		}
	}
	if out := mustRun(t, root, Spec{Env: []string{"PATH=/nowhere:/bin"}}, "sh", "-c", "echo $PATH"); out != "/nowhere:/bin\n" {
		t.Errorf("PATH = %q", out)
	}
}

// Mount targets and /etc files missing in the root are there for the step
// and gone after it, with the directories made for them.
func TestSandboxMountTargets(t *testing.T) {
	root := newRoot(t)
	os.Remove(filepath.Join(root, "etc/passwd"))
	os.Remove(filepath.Join(root, "etc/group"))
	os.Remove(filepath.Join(root, "etc"))
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "data.txt"), []byte("from host\n"), 0o644)
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("s3cret\n"), 0o600)
	before := tree(t, root)
	spec := Spec{
		Mounts: []mount.Mount{
			{Type: "bind", Source: src, Target: "/mnt/a/b", Options: []string{"rbind", "ro"}},
			{Type: "bind", Source: secret, Target: "/run/secrets/token", Options: []string{"bind", "ro"}},
			{Type: "tmpfs", Source: "tmpfs", Target: "/cache", Options: []string{"size=1m"}},
		},
		Hosts:  []byte("10.0.0.1 registry\n"),
		Resolv: []byte("nameserver 10.0.0.2\n"),
	}
	script := `cat /mnt/a/b/data.txt /run/secrets/token /etc/hosts /etc/resolv.conf
touch /mnt/a/b/x 2>/dev/null && echo bind-writable
echo hi > /cache/y && cat /cache/y
echo more >> /etc/hosts
ls -d /proc /dev /sys /etc`
	out := mustRun(t, root, spec, "sh", "-c", script)
	want := "from host\ns3cret\n10.0.0.1 registry\nnameserver 10.0.0.2\nhi\n/dev\n/etc\n/proc\n/sys\n"
	if out != want {
		t.Errorf("output %q, want %q", out, want)
	}
	checkTree(t, root, before)
	if b, _ := os.ReadDir(src); len(b) != 1 {
		t.Errorf("bind source changed: %v", b)
	}
}

// A placeholder the step wrote into is the step's: it stays.
func TestSandboxPlaceholderKept(t *testing.T) {
	root := newRoot(t)
	spec := Spec{Mounts: []mount.Mount{{Type: "tmpfs", Source: "tmpfs", Target: "/a/b"}}}
	mustRun(t, root, spec, "sh", "-c", "echo x > /a/file")
	if _, err := os.Stat(filepath.Join(root, "a/file")); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(root, "a/b")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("placeholder /a/b: %v, want it removed", err)
	}
}

// On an overlay root, only what the step wrote reaches the upper directory.
func TestSandboxOverlayRoot(t *testing.T) {
	lower := newRoot(t)
	dir := t.TempDir()
	upper, work := filepath.Join(dir, "upper"), filepath.Join(dir, "work")
	os.Mkdir(upper, 0o755)
	os.Mkdir(work, 0o755)
	spec := Spec{Root: []mount.Mount{{
		Type: "overlay", Source: "overlay",
		Options: []string{"lowerdir=" + lower, "upperdir=" + upper, "workdir=" + work},
	}}}
	mustRun(t, "", spec, "sh", "-c", "echo new > /newfile; cat /etc/hosts /etc/resolv.conf > /dev/null")
	// Placing /etc/hosts and friends copies /etc up; it must come back
	// as it was in the lower directory, for Diff to see no change.
	var got []string
	filepath.WalkDir(upper, func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(upper, p)
		if rel == "." {
			return nil
		}
		if !d.IsDir() {
			got = append(got, rel)
			return nil
		}
		if l, u := tree(t, filepath.Join(lower, rel))[0], tree(t, p)[0]; l != u {
			t.Errorf("directory %s in upper: %s, lower: %s", rel, u, l)
		}
		if entries, _ := os.ReadDir(p); len(entries) > 0 {
			t.Errorf("directory %s in upper holds %v", rel, entries)
		}
		return nil
	})
	if !slices.Equal(got, []string{"newfile"}) {
		t.Errorf("upper dir holds files %q, want only newfile", got)
	}
}

func TestSandboxBackgroundProcess(t *testing.T) {
	root := newRoot(t)
	start := time.Now()
	out := mustRun(t, root, Spec{}, "sh", "-c", "sleep 1001 & echo started")
	if out != "started\n" {
		t.Errorf("output %q", out)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Run took %v with a background process left", d)
	}
	if p := processes("1001"); len(p) > 0 {
		t.Errorf("processes left: %q", p)
	}
}

func TestSandboxPidsLimit(t *testing.T) {
	root := newRoot(t)
	start := time.Now()
	_, errOut, err := runIn(t, root, Spec{Limits: Limits{Pids: 64}}, "sh", "-c",
		"i=0; while [ $i -lt 500 ]; do sleep 1002 & i=$((i+1)); done; wait")
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code == 0 {
		t.Errorf("fork bomb under pids 64: %v, want a non-zero exit", err)
	}
	if !strings.Contains(errOut, "fork") {
		t.Errorf("stderr %q, want a fork failure", errOut)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("took %v", d)
	}
	if p := processes("1002"); len(p) > 0 {
		t.Errorf("processes left: %d", len(p))
	}
}

func TestSandboxMemoryLimit(t *testing.T) {
	root := newRoot(t)
	_, _, err := runIn(t, root, Spec{Limits: Limits{Memory: 64 << 20}}, "sh", "-c", "x=0123456789abcdef; while :; do x=$x$x; done")
	var ee *ExitError
	if !errors.As(err, &ee) || !ee.OOMKilled || ee.Code != 137 {
		t.Fatalf("memory hog under 64MiB: %#v (%v), want OOMKilled", err, err)
	}
	if want := "killed by OOM (memory limit 64MiB)"; err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}
	// Below the limit all is well, and CPUs and pids limits apply too.
	out := mustRun(t, root, Spec{Limits: Limits{Memory: 64 << 20, CPUs: 0.5, Pids: 100}}, "sh", "-c", "head -c 1000000 /dev/zero | wc -c")
	if out != "1000000\n" {
		t.Errorf("output %q", out)
	}
}

func TestSandboxSetupErrors(t *testing.T) {
	root := newRoot(t)
	before := tree(t, root)
	tests := []struct {
		spec Spec
		args []string
		want string
	}{
		{Spec{User: "nobody2"}, []string{"id"}, `sandbox: user "nobody2": no such user in /etc/passwd`},
		{Spec{User: "app:nogroup2"}, []string{"id"}, `sandbox: group "nogroup2": no such group in /etc/group`},
		{Spec{}, []string{"nosuchcmd"}, `sandbox: exec: "nosuchcmd": executable file not found in $PATH`},
		{Spec{Mounts: []mount.Mount{{Type: "bind", Source: "/nonexistent", Target: "/x"}}}, []string{"true"}, "sandbox: mount /x: stat /nonexistent: no such file or directory"},
		{Spec{Network: "bridge"}, []string{"true"}, `sandbox: unknown network mode "bridge"`},
	}
	for _, tc := range tests {
		start := time.Now()
		_, _, err := runIn(t, root, tc.spec, tc.args...)
		if err == nil || err.Error() != tc.want {
			t.Errorf("Run(%+v) = %v, want %s", tc.spec, err, tc.want)
		}
		var ee *ExitError
		if errors.As(err, &ee) {
			t.Errorf("setup error is an ExitError")
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("took %v", d)
		}
	}
	checkTree(t, root, before)
}

func TestSandboxCancel(t *testing.T) {
	root := newRoot(t)
	before := tree(t, root)
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(500*time.Millisecond, cancel)
	start := time.Now()
	spec := Spec{Root: bindRoot(root), Args: []string{"sleep", "1003"}, Limits: Limits{Memory: 64 << 20}}
	err := Run(ctx, spec)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want context.Canceled", err)
	}
	// Cancelled after 500ms, the step is gone within a second of that.
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("cancel took %v", d)
	}
	if p := processes("1003"); len(p) > 0 {
		t.Errorf("processes left: %q", p)
	}
	checkTree(t, root, before)
}

// The OOM message names the limit in binary units.
func TestExitErrorMemory(t *testing.T) {
	for n, want := range map[int64]string{100: "100B", 64 << 20: "64MiB", 3 << 29: "1.5GiB", 1536: "1.5KiB"} {
		e := &ExitError{OOMKilled: true, memory: n}
		if got := e.Error(); got != "killed by OOM (memory limit "+want+")" {
			t.Errorf("ExitError with limit %d = %q, want the limit as %q", n, got, want)
		}
	}
}

// Concurrent steps each have their own root: the mount targets one creates
// in its root are not there for another.
func TestSandboxConcurrentAndStdin(t *testing.T) {
	errs := make(chan error, 4)
	for i := range 4 {
		root := newRoot(t)
		go func() {
			name := fmt.Sprintf("host%d", i)
			var out bytes.Buffer
			err := Run(t.Context(), Spec{
				Root: bindRoot(root), Args: []string{"sh", "-c", "cat; hostname"}, Hostname: name,
				Stdin: strings.NewReader("in" + name + "\n"), Stdout: &out, Limits: Limits{Pids: 50},
			})
			if want := "in" + name + "\n" + name + "\n"; err == nil && out.String() != want {
				err = fmt.Errorf("output %q, want %q", out.String(), want)
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestCgroupHierarchies(t *testing.T) {
	hybrid := `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
90 39 0:36 /docker/abc /mnt/pids\040x rw,relatime - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw`
	v2 := `30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate`
	tests := []struct {
		name, mountinfo string
		v2controllers   []string
		want            map[string]string // controller → mountpoint
	}{
		{"hybrid", hybrid, nil, map[string]string{"memory": "/sys/fs/cgroup/memory", "pids": "/sys/fs/cgroup/pids", "cpu": "/sys/fs/cgroup/cpu,cpuacct"}},
		{"hybrid with memory on v2", hybrid, []string{"memory"}, map[string]string{"memory": "/sys/fs/cgroup/unified", "pids": "/sys/fs/cgroup/pids", "cpu": "/sys/fs/cgroup/cpu,cpuacct"}},
		{"v2", v2, []string{"cpuset", "cpu", "io", "memory", "pids"}, map[string]string{"memory": "/sys/fs/cgroup", "pids": "/sys/fs/cgroup", "cpu": "/sys/fs/cgroup"}},
		{"v2 without controllers", v2, nil, map[string]string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hs := parseHierarchies(tc.mountinfo, func(string) ([]string, error) { return tc.v2controllers, nil })
			for _, c := range []string{"memory", "pids", "cpu"} {
				got := ""
				if h := findHierarchy(hs, c); h != nil {
					got = h.mountpoint
				}
				if got != tc.want[c] {
					t.Errorf("%s on %q, want %q", c, got, tc.want[c])
				}
			}
		})
	}
	hs := parseHierarchies(hybrid, func(string) ([]string, error) { return nil, nil })
	if p := hierarchyPath(&hs[3], "/docker/abc/step"); p != "/mnt/pids x/step" {
		t.Errorf("path in a bound subtree: %q", p)
	}
}

package userns_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/bldbuild/bld/internal/testutil"
	"github.com/bldbuild/bld/internal/userns"
)

func TestMaps(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ranges []userns.Range
		want   []userns.IDMap
		n      int
	}{
		{"none", nil, []userns.IDMap{{0, 1001, 1}}, 1},
		{"one", []userns.Range{{100000, 65536}}, []userns.IDMap{{0, 1001, 1}, {1, 100000, 65536}}, 65537},
		{"two", []userns.Range{{100000, 10}, {300000, 5}}, []userns.IDMap{{0, 1001, 1}, {1, 100000, 10}, {11, 300000, 5}}, 16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, n := userns.Maps(1001, tc.ranges)
			if !reflect.DeepEqual(got, tc.want) || n != tc.n {
				t.Errorf("Maps = %v, %d; want %v, %d", got, n, tc.want, tc.n)
			}
		})
	}
}

func TestReadRanges(t *testing.T) {
	p := filepath.Join(t.TempDir(), "subuid")
	data := "# comment\nalice:100000:65536\nbob:165536:65536\n1001:300000:10\nalice:bad:1\nalice:400000:0\n"
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		id   int
		want []userns.Range
	}{
		{"alice", 1001, []userns.Range{{100000, 65536}, {300000, 10}}},
		{"bob", 1002, []userns.Range{{165536, 65536}}},
		{"carol", 1003, nil},
	} {
		got, err := userns.ReadRanges(p, tc.name, tc.id)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ReadRanges(%s) = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
	if got, err := userns.ReadRanges(filepath.Join(t.TempDir(), "missing"), "alice", 1); got != nil || err != nil {
		t.Errorf("missing file: %v, %v", got, err)
	}
}

// testUser is an unprivileged host user made for a test
// (testutil.NewUser), running the real bld.
type testUser struct {
	*testutil.User
	bld string
}

// newUser adds a user; with sub it has a subordinate range of 65536 ids.
func newUser(t *testing.T, sub bool) *testUser {
	t.Helper()
	u := testutil.NewUser(t, sub)
	bld := testutil.Bld(t)
	if err := os.Chmod(filepath.Dir(bld), 0o755); err != nil {
		t.Fatal(err)
	}
	return &testUser{User: u, bld: bld}
}

// bld runs bld as the user in dir, with SOURCE_DATE_EPOCH set.
func (u *testUser) run(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := u.Command(t.Context(), dir, []string{"SOURCE_DATE_EPOCH=1700000000"}, u.bld, args...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// fixture writes, in a directory the user can read, a busybox tarball
// (ownership kept, or all root with rootOnly) and a context with the
// Dockerfile.
func fixture(t *testing.T, u *testUser, rootOnly bool, dockerfile string) string {
	t.Helper()
	dir := filepath.Join(u.Home, "w")
	os.RemoveAll(dir)
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	testutil.BusyboxRootfs(t, rootfs)
	if err := os.MkdirAll(filepath.Join(dir, "ctx"), 0o755); err != nil {
		t.Fatal(err)
	}
	args := []string{"-C", rootfs, "--numeric-owner", "-cf", filepath.Join(dir, "bb.tar")}
	if rootOnly {
		args = append(args, "--owner=0", "--group=0")
	}
	testutil.Run(t, "tar", append(args, ".")...)
	if err := os.WriteFile(filepath.Join(dir, "ctx", "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "chown", "-R", u.Name, dir)
	return dir
}

const demo = `FROM busybox
RUN echo hi > /greeting && mkdir /data && chown 1000:1000 /data && touch /data/f
USER 1000
RUN test "$(id -u)" = 1000 && echo mine > /data/g
`

// TestRootlessSameDigest: bld run by an ordinary user with subordinate
// ranges builds (RUN, chown, USER 1000) the image a root bld builds,
// digest for digest, and its steps see no host process.
func TestRootlessSameDigest(t *testing.T) {
	u := newUser(t, true)
	// A whiteout and a directory made again: overlay's marks, in
	// user.overlay. xattrs under userxattr, must give root's layer.
	df := "FROM busybox\nRUN rm /bin/vi && rm -rf /home/app && mkdir -p /home/app && touch /home/app/new\n" + strings.TrimPrefix(demo, "FROM busybox\n")
	dir := fixture(t, u, false, df+"RUN test $(ls /proc | grep -c '^[0-9]') -le 4\n")
	out, err := u.run(t, dir, "import", "bb.tar", "busybox")
	if err != nil {
		t.Fatalf("rootless import: %v\n%s", err, out)
	}
	out, err = u.run(t, dir, "build", "-q", "--network", "none", "-t", "demo", "ctx")
	if err != nil {
		t.Fatalf("rootless build: %v\n%s", err, out)
	}
	rootless := lastLine(out)
	// Overlay in the user namespace (userxattr), not the copying fallback.
	if out, err := u.run(t, dir, "version"); err != nil || !strings.Contains(out, "snapshotter: overlayfs") {
		t.Errorf("rootless snapshotter: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(u.Home, ".local/share/bld/content/index.json")); err != nil {
		t.Errorf("rootless state is not under ~/.local/share/bld: %v", err)
	}

	root := t.TempDir()
	var rout []byte
	for _, args := range [][]string{{"import", "bb.tar", "busybox"}, {"build", "-q", "--network", "none", "-t", "demo", "ctx"}} {
		cmd := exec.CommandContext(t.Context(), u.bld, append([]string{"--root", root}, args...)...)
		cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH=1700000000")
		cmd.Dir = dir // the import's history records the path as given
		if rout, err = cmd.CombinedOutput(); err != nil {
			t.Fatalf("root bld %s: %v\n%s", args[0], err, rout)
		}
	}
	if got := lastLine(string(rout)); got != rootless {
		t.Errorf("root build %s, rootless build %s: want the same image", got, rootless)
	}
}

// TestRootlessWithoutRanges: without subordinate ranges bld warns once,
// builds from root-owned files, and a chown to another uid fails.
func TestRootlessWithoutRanges(t *testing.T) {
	u := newUser(t, false)
	dir := fixture(t, u, true, "FROM busybox\nRUN echo hi > /greeting\n")
	out, err := u.run(t, dir, "import", "bb.tar", "busybox")
	if err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	if n := strings.Count(out, "only your own uid mapped"); n != 1 {
		t.Errorf("want the warning once, got %d:\n%s", n, out)
	}
	if out, err := u.run(t, dir, "build", "-q", "--network", "none", "ctx"); err != nil {
		t.Fatalf("build of root-owned files: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "ctx", "Dockerfile"), []byte("FROM busybox\nRUN touch /f && chown 1000 /f\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = u.run(t, dir, "build", "-q", "--network", "none", "ctx")
	if err == nil || !strings.Contains(out, "chown 1000 /f") {
		t.Errorf("chown to 1000 without ranges: want the step to fail, got %v:\n%s", err, out)
	}
}

// TestRootlessWithoutShell: where /bin/sh cannot run (a minimal image),
// bld itself waits for the maps in the namespace (finishWait) instead of
// a shell, and the build has root's powers in it (chown, USER 1000).
func TestRootlessWithoutShell(t *testing.T) {
	u := newUser(t, true)
	dir := fixture(t, u, false, demo)
	sh, err := filepath.EvalSymlinks("/bin/sh")
	if err != nil {
		t.Fatal(err)
	}
	// A file the user can read but not run, mounted over the shell in a
	// mount namespace of the test's own.
	plain := filepath.Join(t.TempDir(), "sh")
	if err := os.WriteFile(plain, []byte("not a shell\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"import", "bb.tar", "busybox"}, {"build", "-q", "--network", "none", "--output", "type=local,dest=out", "ctx"}} {
		cmd := u.Command(t.Context(), dir, nil, u.bld, args...)
		cmd.Args = append([]string{"unshare", "-m", "--propagation", "private", "--", sh, "-c",
			`mount --bind "$0" "$1" && test ! -x /bin/sh && shift && exec "$@"`, plain, sh}, cmd.Args...)
		cmd.Path = testutil.RequireTool(t, "unshare")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("bld %s with no /bin/sh: %v\n%s", args[0], err, out)
		}
	}
	// The demo's steps chown to 1000 and run as USER 1000: they failed
	// had bld started without its capabilities in the namespace.
	if _, err := os.Stat(filepath.Join(dir, "out", "data", "g")); err != nil {
		t.Errorf("USER 1000's file: %v", err)
	}
}

func lastLine(s string) string {
	f := strings.Fields(s)
	if len(f) == 0 {
		return ""
	}
	return f[len(f)-1]
}

// TestRootlessLimits: --memory as an ordinary user on a host that delegates
// no cgroup to it (this one: cgroup v1 controllers owned by root) fails
// before any step runs, naming what is missing; before, the step failed
// with a bare "mkdir ...: permission denied". On a host with delegation
// the limit is set and the build passes.
func TestRootlessLimits(t *testing.T) {
	u := newUser(t, true)
	dir := fixture(t, u, false, "FROM busybox\nRUN echo step-ran\n")
	if out, err := u.run(t, dir, "import", "bb.tar", "busybox"); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	out, err := u.run(t, dir, "build", "--progress", "plain", "--network", "none", "--memory", "64m", "ctx")
	if err == nil {
		return // a delegated cgroup: the limit applies
	}
	if !strings.Contains(out, "bld: --memory, --cpus and --pids-limit need a cgroup delegated to your user when bld runs without root") {
		t.Errorf("want the error naming the missing delegation, got %v:\n%s", err, out)
	}
	if strings.Contains(out, "step-ran") || strings.Contains(out, "[2/2] RUN") {
		t.Errorf("a step ran before the limits were found impossible:\n%s", out)
	}
}

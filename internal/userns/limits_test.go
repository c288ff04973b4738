package userns_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRootlessLimitsDelegated: where the host delegates cgroups to the
// user (here cgroup v1 memory and pids directories chowned to it, the v1
// form of what systemd's Delegate=yes does on v2), a rootless bld applies
// --pids-limit and --memory in a cgroup of its own under them, and
// removes it after. Before, every such step failed on the devices
// hierarchy, which is never delegated (rootless bld now uses no device
// cgroup, as runc's rootless mode). Needs root and cgroup v1 memory and
// pids hierarchies (CI's hybrid mode); a v2-only host's delegation is
// systemd's and cannot be made here.
func TestRootlessLimitsDelegated(t *testing.T) {
	u := newUser(t, true)
	var procs []string
	for _, c := range []string{"memory", "pids"} {
		own := ownV1Cgroup(t, c)
		dir := filepath.Join("/sys/fs/cgroup", c, own, "bld-test-"+u.Name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { removeCgroupTree(t, dir) })
		for _, f := range []string{"", "cgroup.procs", "tasks"} {
			if err := os.Chown(filepath.Join(dir, f), u.UID, -1); err != nil {
				t.Fatal(err)
			}
		}
		procs = append(procs, filepath.Join(dir, "cgroup.procs"))
	}
	dir := fixture(t, u, false, "FROM busybox\nRUN for i in $(seq 30); do sleep 0.3 & done; wait; echo all-\"\"ran\n")
	if out, err := u.run(t, dir, "import", "bb.tar", "busybox"); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	// bld runs as the user inside the delegated cgroups.
	build := func(args ...string) (string, error) {
		sh := "echo $$ > " + procs[0] + " && echo $$ > " + procs[1] + ` && exec "$@"`
		cmd := exec.CommandContext(t.Context(), "sh", append([]string{"-c", sh, "sh", "runuser", "-u", u.Name, "--", "env", "HOME=" + u.Home, u.bld,
			"build", "--progress", "plain", "--network", "none", "--no-cache"}, append(args, "ctx")...)...)
		cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := build("--pids-limit", "10")
	if err == nil || strings.Contains(out, "all-ran") || !strings.Contains(out, "exit code") {
		t.Errorf("--pids-limit 10 and 31 processes: want the step to fail, got %v:\n%s", err, out)
	}
	out, err = build("--pids-limit", "100", "--memory", "64m")
	if err != nil || !strings.Contains(out, "all-ran") {
		t.Errorf("--pids-limit 100 --memory 64m in a delegated cgroup: %v\n%s", err, out)
	}
}

// ownV1Cgroup is this process's cgroup in the v1 hierarchy of controller
// c, from /proc/self/cgroup.
func ownV1Cgroup(t *testing.T, c string) string {
	t.Helper()
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) == 3 && strings.Contains(","+parts[1]+",", ","+c+",") {
			if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", c)); err != nil {
				break
			}
			return parts[2]
		}
	}
	t.Skipf("needs a cgroup v1 %s hierarchy at /sys/fs/cgroup/%s (hybrid mode, as CI has)", c, c)
	return ""
}

// removeCgroupTree removes a cgroup directory and any left below it,
// deepest first (cgroupfs removes a directory with rmdir only).
func removeCgroupTree(t *testing.T, dir string) {
	var dirs []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Remove(dirs[i]); err != nil {
			t.Errorf("remove cgroup %s: %v", dirs[i], err)
		}
	}
}

package main

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bldbuild/bld/internal/mount"
	"github.com/bldbuild/bld/internal/testutil"
)

// diskEnv is a state root with busybox imported and a runner of bld on it.
type diskEnv struct {
	t    testing.TB
	bld  string
	dir  string
	root string
}

func newDiskEnv(t testing.TB, root string) *diskEnv {
	testutil.RequireRoot(t)
	testutil.RequireOverlay(t)
	dir := t.TempDir()
	if root == "" {
		root = filepath.Join(dir, "root")
	}
	e := &diskEnv{t: t, bld: testutil.Bld(t), dir: dir, root: root}
	rootfs := filepath.Join(dir, "busybox")
	testutil.BusyboxRootfs(t, rootfs)
	if out, err := e.run("import", rootfs, "busybox"); err != nil {
		t.Fatalf("bld import: %v\n%s", err, out)
	}
	return e
}

func (e *diskEnv) run(args ...string) (string, error) {
	cmd := exec.Command(e.bld, args...)
	cmd.Env = append(os.Environ(), "BLD_ROOT="+e.root)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// build builds dockerfile (a fresh context each time) with extra flags.
func (e *diskEnv) build(dockerfile string, flags ...string) (string, error) {
	ctx, err := os.MkdirTemp(e.dir, "ctx-")
	if err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		e.t.Fatal(err)
	}
	args := append([]string{"build", "--progress", "plain"}, flags...)
	return e.run(append(args, ctx)...)
}

// contents lists what the root holds that a build must not leave half
// made: blobs, snapshots (with their records) and cache records, i.e.
// every path but the scratch dir and the files that only track use
// (locks, stat cache, last-used times).
func (e *diskEnv) contents() []string {
	var out []string
	err := filepath.WalkDir(e.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(e.root, p)
		if rel == "tmp" {
			return filepath.SkipDir
		}
		// Inside a snapshot's tree (its fs/ and work/) is the snapshot's
		// own business; that the snapshot exists is what counts.
		if d.IsDir() && (d.Name() == "fs" || d.Name() == "work") && strings.HasPrefix(rel, "snapshots"+string(filepath.Separator)) {
			out = append(out, rel+"/")
			return filepath.SkipDir
		}
		if d.IsDir() || strings.HasSuffix(rel, ".lock") || strings.Contains(rel, "statcache") || strings.Contains(rel, "lastused") || filepath.Base(rel) == "generation" {
			return nil
		}
		out = append(out, rel)
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// loopsOn lists the loop devices whose backing file is under dir.
func loopsOn(t *testing.T, dir string) []string {
	files, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // detached meanwhile
		}
		if strings.HasPrefix(strings.TrimSpace(string(b)), dir) {
			out = append(out, f)
		}
	}
	return out
}

func diffLists(a, b []string) (gone, added []string) {
	for _, x := range a {
		if !slices.Contains(b, x) {
			gone = append(gone, x)
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			added = append(added, x)
		}
	}
	return gone, added
}

// A RUN step could fill the host disk: `dd` 200 MB into the root went
// straight to the state root's filesystem, with no way to bound it. With
// --disk-limit the step writes into its own size-limited filesystem: it
// gets ENOSPC at the limit, the build fails saying so, and nothing of the
// step is left (no snapshot, blob or cache record; the scratch filesystem
// and its loop device are gone). Needs root (loop devices, namespaces).
func TestDiskLimit(t *testing.T) {
	e := newDiskEnv(t, "")
	t.Cleanup(func() { detachLoops(e.dir) })

	// Within the limit the step's files, and what it deleted, reach the
	// next step and the layer.
	out, err := e.build("FROM busybox\n"+
		"RUN head -c 10000000 /dev/urandom > /small && rm /bin/ls && mkdir -p /d && echo hi > /d/f\n"+
		"RUN test -s /small && test ! -e /bin/ls && test \"$(cat /d/f)\" = hi && [ $(wc -c < /small) = 10000000 ]\n",
		"--disk-limit", "64MiB")
	if err != nil {
		t.Fatalf("build within the limit: %v\n%s", err, out)
	}
	if l := loopsOn(t, e.dir); len(l) > 0 {
		t.Errorf("loop devices left after a build: %v", l)
	}

	before := e.contents()
	out, err = e.build("FROM busybox\nRUN dd if=/dev/zero of=/big bs=1M count=200\n", "--disk-limit", "64MiB")
	if err == nil {
		t.Fatalf("a step writing 200 MB under --disk-limit 64MiB succeeded:\n%s", out)
	}
	if !strings.Contains(out, "RUN dd if=/dev/zero of=/big bs=1M count=200: disk limit 64MiB reached (--disk-limit)") {
		t.Errorf("the error does not name the limit:\n%s", out)
	}
	t.Logf("bld's output:\n%s", out)
	gone, added := diffLists(before, e.contents())
	if len(gone) > 0 || len(added) > 0 {
		t.Errorf("the failed build changed the root: removed %v, added %v", gone, added)
	}
	if names := testutil.DirNames(t, filepath.Join(e.root, "tmp")); len(names) > 0 {
		t.Errorf("scratch left in the root's tmp: %v", names)
	}
	if l := loopsOn(t, e.dir); len(l) > 0 {
		t.Errorf("loop devices left after the failed build: %v", l)
	}
	if m, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(m), e.root) {
		t.Errorf("mounts left under the root:\n%s", m)
	}

	// The root is fine: a build without the flag works.
	out, err = e.build("FROM busybox\nRUN echo ok > /ok\n")
	if err != nil {
		t.Fatalf("build after the failed one: %v\n%s", err, out)
	}
}

// When the disk under the root fills up (here a 32 MiB tmpfs as the root),
// the build fails saying "no space left on device" and naming the path, and
// the root stays usable: bld builds on it afterwards. Needs root (mount).
func TestDiskFullRoot(t *testing.T) {
	testutil.RequireRoot(t)
	tmpfs := t.TempDir()
	if err := unix.Mount("tmpfs", tmpfs, "tmpfs", 0, "size=32m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(tmpfs, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", tmpfs, err)
		}
	})
	e := newDiskEnv(t, filepath.Join(tmpfs, "root"))

	// Unpack the base: its snapshot is there before and after.
	if out, err := e.build("FROM busybox\nRUN true\n"); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	// 20 MB of random bytes fit in the step's upper dir, but not a second
	// time as the (incompressible) layer blob.
	before := e.contents()
	out, err := e.build("FROM busybox\nRUN head -c 20000000 /dev/urandom > /r\n")
	if err == nil {
		t.Fatalf("a build larger than its root succeeded:\n%s", out)
	}
	t.Logf("bld's output:\n%s", out)
	if !strings.Contains(out, "no space left on device") || !strings.Contains(out, e.root) {
		t.Errorf("the error does not say the disk under the root is full, naming the path:\n%s", out)
	}
	gone, added := diffLists(before, e.contents())
	if len(gone) > 0 || len(added) > 0 {
		t.Errorf("the failed build changed the root: removed %v, added %v", gone, added)
	}

	// The store is consistent: what was there still builds and exports.
	out, err = e.build("FROM busybox\nRUN echo ok > /ok\n", "-t", "small")
	if err != nil {
		t.Fatalf("build after the disk filled: %v\n%s", err, out)
	}
	if out, err := e.run("images"); err != nil || !strings.Contains(out, "small") {
		t.Errorf("bld images after the disk filled: %v\n%s", err, out)
	}
}

// BenchmarkDiskLimitStep measures what --disk-limit costs a RUN step (the
// scratch filesystem, the extra diff + apply of what the step wrote): a
// build of 4 RUN steps writing 8 MB each, rebuilt with --no-cache, with
// and without the flag. Needs root.
func BenchmarkDiskLimitStep(b *testing.B) {
	for _, flags := range [][]string{nil, {"--disk-limit", "1GiB"}} {
		name := "none"
		if flags != nil {
			name = "1GiB"
		}
		b.Run(name, func(b *testing.B) {
			e := newDiskEnv(b, "")
			df := "FROM busybox\n"
			for i := range 4 {
				df += "RUN head -c 8000000 /dev/urandom > /f" + string(rune('0'+i)) + "\n"
			}
			args := append([]string{"--no-cache"}, flags...)
			for b.Loop() {
				if out, err := e.build(df, args...); err != nil {
					b.Fatalf("build: %v\n%s", err, out)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N)/4, "ms/step")
		})
	}
}

// A build killed (kill -9) while a limited step runs leaves its scratch
// filesystem mounted under the root's tmp/; the next bld on the root
// unmounts it, which detaches the loop device, and removes the image.
// Needs root.
func TestDiskLimitKilled(t *testing.T) {
	e := newDiskEnv(t, "")
	t.Cleanup(func() { detachLoops(e.dir) })
	ctx := filepath.Join(e.dir, "slow")
	if err := os.MkdirAll(ctx, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte("FROM busybox\nRUN sleep 4321\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(e.bld, "build", "--progress", "plain", "--disk-limit", "64MiB", ctx)
	cmd.Env = append(os.Environ(), "BLD_ROOT="+e.root)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(loopsOn(t, e.dir)) == 0 {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatal("the limited step's loop device never appeared")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	out, err := e.build("FROM busybox\nRUN echo ok > /ok\n", "--disk-limit", "64MiB")
	if err != nil {
		t.Fatalf("build after the kill: %v\n%s", err, out)
	}
	// The step's process dies with bld (SIGKILL on parent death), but
	// give the kernel a moment to tear its namespaces down.
	deadline = time.Now().Add(10 * time.Second)
	for len(loopsOn(t, e.dir)) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if l := loopsOn(t, e.dir); len(l) > 0 {
		t.Errorf("loop devices left after the next build: %v", l)
	}
	if m, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(m), e.root) {
		t.Errorf("mounts left under the root:\n%s", m)
	}
	if names := testutil.DirNames(t, filepath.Join(e.root, "tmp")); len(names) > 0 {
		t.Errorf("scratch left in the root's tmp: %v", names)
	}
}

// detachLoops detaches loop devices backed by files under dir: a test's
// safety net, should bld leave one (a bug the test reports).
func detachLoops(dir string) {
	_ = mount.UnmountAll(dir)
	files, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil || !strings.HasPrefix(strings.TrimSpace(string(b)), dir) {
			continue
		}
		dev := "/dev/" + filepath.Base(filepath.Dir(filepath.Dir(f)))
		_ = exec.Command("losetup", "-d", dev).Run()
	}
}

// --disk-limit takes a size, as --memory does.
func TestDiskLimitFlag(t *testing.T) {
	bld := testutil.Bld(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"lots", "0", "-1m"} {
		cmd := exec.Command(bld, "build", "--disk-limit", v, dir)
		cmd.Env = append(os.Environ(), "BLD_ROOT="+filepath.Join(dir, "root"))
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "--disk-limit "+v+": not a size") {
			t.Errorf("--disk-limit %s: %v\n%s", v, err, out)
		}
	}
}

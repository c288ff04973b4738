package mount

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bldbuild/bld/internal/testutil"
)

// mounted returns the mount points at or under dir.
func mounted(t *testing.T, dir string) []string {
	t.Helper()
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		real = dir
	}
	ps, err := mountPoints(real)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func cleanupMounts(t *testing.T, dir string) {
	t.Cleanup(func() {
		if err := UnmountAll(dir); err != nil {
			t.Errorf("UnmountAll(%s) = %v", dir, err)
		}
		if ps := mounted(t, dir); len(ps) != 0 {
			t.Errorf("still mounted after test: %v", ps)
		}
	})
}

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestAllRootAndExtras(t *testing.T) {
	testutil.RequireRoot(t)
	base := t.TempDir()
	target := filepath.Join(base, "target")
	src := filepath.Join(base, "src")
	writeFile(t, filepath.Join(src, "data.txt"), "data")
	hostsFile := filepath.Join(base, "hosts")
	writeFile(t, hostsFile, "127.0.0.1 x")
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	cleanupMounts(t, target)

	mounts := []Mount{
		{Type: "bind", Source: src, Target: "/ro-data", Options: []string{"rbind", "ro"}},
		{Type: "tmpfs", Source: "tmpfs", Options: []string{"mode=755", "size=1m"}},
		{Type: "bind", Source: hostsFile, Target: "etc/hosts", Options: []string{"bind", "ro"}},
		{Type: "tmpfs", Source: "tmpfs", Target: "/a/../../escape", Options: []string{"size=1m"}},
	}
	if err := All(mounts, target); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(target, "ro-data/data.txt")); got != "data" {
		t.Errorf("ro-data/data.txt = %q, want %q", got, "data")
	}
	if got := readFile(t, filepath.Join(target, "etc/hosts")); got != "127.0.0.1 x" {
		t.Errorf("etc/hosts = %q", got)
	}
	err := os.WriteFile(filepath.Join(target, "ro-data/new"), []byte("x"), 0o644)
	if !errors.Is(err, unix.EROFS) {
		t.Errorf("write to ro bind: err = %v, want EROFS", err)
	}
	if _, err := os.Stat(filepath.Join(base, "escape")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a Target with .. escaped the root: %v", err)
	}
	if _, err := os.Stat(filepath.Join(target, "escape")); err != nil {
		t.Errorf("confined mount point missing: %v", err)
	}
	// The root is a tmpfs: nothing reached the directory under it.
	if err := UnmountAll(target); err != nil {
		t.Fatal(err)
	}
	if ps := mounted(t, target); len(ps) != 0 {
		t.Fatalf("mounted after UnmountAll: %v", ps)
	}
	if ents, _ := os.ReadDir(target); len(ents) != 0 {
		t.Errorf("target not empty after unmount: %v", ents)
	}
}

func TestAllRollsBack(t *testing.T) {
	testutil.RequireRoot(t)
	target := t.TempDir()
	cleanupMounts(t, target)
	mounts := []Mount{
		{Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1m"}},
		{Type: "bind", Source: filepath.Join(target, "does-not-exist"), Target: "/x", Options: []string{"rbind"}},
	}
	if err := All(mounts, target); err == nil {
		t.Fatal("All with a missing bind source succeeded")
	}
	if ps := mounted(t, target); len(ps) != 0 {
		t.Errorf("mounts left after a failed All: %v", ps)
	}
}

func TestUnmountAllStackedAndNested(t *testing.T) {
	testutil.RequireRoot(t)
	target := t.TempDir()
	cleanupMounts(t, target)
	tmpfs := Mount{Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1m"}}
	if err := All([]Mount{tmpfs, tmpfs}, target); err != nil {
		t.Fatal(err)
	}
	sub := tmpfs
	sub.Target = "/a/b"
	if err := All([]Mount{sub, {Type: "tmpfs", Source: "tmpfs", Target: "/a/b/c"}}, target); err != nil {
		t.Fatal(err)
	}
	if n := len(mounted(t, target)); n != 4 {
		t.Fatalf("%d mounts, want 4", n)
	}
	if err := UnmountAll(target); err != nil {
		t.Fatal(err)
	}
	if ps := mounted(t, target); len(ps) != 0 {
		t.Fatalf("mounted after UnmountAll: %v", ps)
	}
	if err := UnmountAll(filepath.Join(target, "missing")); err != nil {
		t.Errorf("UnmountAll(missing) = %v, want nil", err)
	}
}

func TestUnmountNotMounted(t *testing.T) {
	testutil.RequireRoot(t)
	if err := Unmount(t.TempDir()); !errors.Is(err, unix.EINVAL) {
		t.Errorf("Unmount(not a mount point) = %v, want EINVAL", err)
	}
}

func TestWithTempMountDirect(t *testing.T) {
	src := t.TempDir()
	before := mounted(t, "/")
	var got string
	err := WithTempMount(t.Context(), []Mount{{Type: "bind", Source: src, Options: []string{"rbind", "rw"}}}, func(root string) error {
		got = root
		if n := len(mounted(t, "/")); n != len(before) {
			t.Errorf("a mount was made for a plain directory: %d mounts, had %d", n, len(before))
		}
		return os.WriteFile(filepath.Join(root, "f"), []byte("x"), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	if got != src {
		t.Errorf("fn got root %q, want the source %q", got, src)
	}
	if readFile(t, filepath.Join(src, "f")) != "x" {
		t.Error("write did not reach the source")
	}
}

func TestWithTempMountCleansUp(t *testing.T) {
	testutil.RequireRoot(t)
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "f"), "x")
	ro := []Mount{{Type: "bind", Source: src, Options: []string{"rbind", "ro"}}}

	var dir string
	wantErr := errors.New("boom")
	err := WithTempMount(t.Context(), ro, func(root string) error {
		dir = root
		if root == src {
			t.Error("a read-only bind was used in place")
		}
		if readFile(t, filepath.Join(root, "f")) != "x" {
			t.Error("file not visible in the mount")
		}
		return wantErr
	})
	if !errors.Is(err, wantErr) {
		t.Fatalf("err = %v, want %v", err, wantErr)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temp dir %s left behind: %v", dir, err)
	}

	func() {
		defer func() {
			if r := recover(); r == nil {
				t.Error("panic was swallowed")
			}
		}()
		_ = WithTempMount(t.Context(), ro, func(root string) error {
			dir = root
			panic("in fn")
		})
	}()
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temp dir %s left behind after a panic: %v", dir, err)
	}
	if readFile(t, filepath.Join(src, "f")) != "x" {
		t.Error("source damaged")
	}
}

func TestOverlayLongLowerdir(t *testing.T) {
	testutil.RequireOverlay(t)
	// A long root and 150 layers: the absolute lowerdir list is far more
	// than a page.
	root := filepath.Join(t.TempDir(), strings.Repeat("a-long-directory-name-", 4), strings.Repeat("another-long-name-", 4))
	const layers = 150
	var lowers []string
	for i := range layers {
		d := filepath.Join(root, "snapshots", fmt.Sprint(i), "fs")
		writeFile(t, filepath.Join(d, fmt.Sprintf("f%d", i)), fmt.Sprint(i))
		writeFile(t, filepath.Join(d, "top"), fmt.Sprint(i))
		lowers = append([]string{d}, lowers...) // newest first
	}
	upper := filepath.Join(root, "snapshots", "u", "fs")
	work := filepath.Join(root, "snapshots", "u", "work")
	target := filepath.Join(root, "merged")
	for _, d := range []string{upper, work, target} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	m := Mount{Type: "overlay", Source: "overlay", Options: []string{
		"lowerdir=" + strings.Join(lowers, ":"), "upperdir=" + upper, "workdir=" + work,
	}}
	if n := len(strings.Join(m.Options, ",")); n < os.Getpagesize() {
		t.Fatalf("test options are only %d bytes; they must exceed a page", n)
	}
	cwd, _ := os.Getwd()
	cleanupMounts(t, target)
	if err := All([]Mount{m}, target); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := Unmount(target); err != nil {
			t.Error(err)
		}
	}()
	for i := range layers {
		if got := readFile(t, filepath.Join(target, fmt.Sprintf("f%d", i))); got != fmt.Sprint(i) {
			t.Fatalf("f%d = %q", i, got)
		}
	}
	if got := readFile(t, filepath.Join(target, "top")); got != fmt.Sprint(layers-1) {
		t.Errorf("top = %q, want the newest layer's %d", got, layers-1)
	}
	writeFile(t, filepath.Join(target, "new"), "n")
	if readFile(t, filepath.Join(upper, "new")) != "n" {
		t.Error("write did not land in the upper dir")
	}
	if now, _ := os.Getwd(); now != cwd {
		t.Errorf("working directory changed to %q", now)
	}
}

func TestCommonDir(t *testing.T) {
	for _, tc := range []struct {
		paths []string
		want  string
	}{
		{[]string{"/r/s/1/fs", "/r/s/2/fs", "/r/s/2/work"}, "/r/s"},
		{[]string{"/r/s/1/fs"}, "/r/s/1"},
		{[]string{"/a/x", "/b/y"}, "/"},
		{[]string{"/r/ab/fs", "/r/a/fs"}, "/r"},
	} {
		if got := commonDir(tc.paths); got != tc.want {
			t.Errorf("commonDir(%q) = %q, want %q", tc.paths, got, tc.want)
		}
	}
}

func TestRelativeOverlayData(t *testing.T) {
	dir, data, err := relativeOverlayData([]string{"index=off", "lowerdir=/r/s/2/fs:/r/s/1/fs", "upperdir=/r/s/3/fs", "workdir=/r/s/3/work"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "index=off,lowerdir=2/fs:1/fs,upperdir=3/fs,workdir=3/work"; dir != "/r/s" || data != want {
		t.Errorf("relativeOverlayData = %q, %q; want /r/s, %q", dir, data, want)
	}
	if _, _, err := relativeOverlayData([]string{"lowerdir=rel/a"}); err == nil {
		t.Error("relative lowerdir accepted")
	}
}

func TestParseOptions(t *testing.T) {
	flags, prop, data := parseOptions([]string{"rbind", "ro", "nosuid", "rprivate", "size=1m", "rw"})
	if flags != unix.MS_BIND|unix.MS_REC|unix.MS_NOSUID {
		t.Errorf("flags = %#x", flags)
	}
	if len(prop) != 1 || prop[0] != unix.MS_PRIVATE|unix.MS_REC {
		t.Errorf("propagation = %v", prop)
	}
	if len(data) != 1 || data[0] != "size=1m" {
		t.Errorf("data = %q", data)
	}
}

func TestUnescapeMountinfo(t *testing.T) {
	for in, want := range map[string]string{
		`/a\040b`:   "/a b",
		`/a\134b`:   `/a\b`,
		`/plain`:    "/plain",
		`/trail\04`: `/trail\04`,
	} {
		if got := Unescape(in); got != want {
			t.Errorf("Unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

package testutil

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

func TestBusyboxRootfs(t *testing.T) {
	RequireRoot(t) // chown of /home/app
	dir := t.TempDir()
	BusyboxRootfs(t, dir)
	for name, want := range map[string]os.FileMode{
		"tmp":      os.ModeDir | os.ModeSticky | 0o777,
		"root":     os.ModeDir | 0o700,
		"dev":      os.ModeDir | 0o755,
		"home/app": os.ModeDir | 0o755,
	} {
		fi, err := os.Lstat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode(), want)
		}
	}
	if fi, err := os.Lstat(filepath.Join(dir, "home/app")); err == nil {
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != 1000 || st.Gid != 1000 {
			t.Errorf("home/app owned by %d:%d, want 1000:1000", st.Uid, st.Gid)
		}
	}
	// The rootfs runs: its sh, found through the applet symlink, says hello.
	out := Run(t, filepath.Join(dir, "bin/busybox"), "sh", "-c", "echo hello")
	if strings.TrimSpace(string(out)) != "hello" {
		t.Errorf("busybox sh: %q", out)
	}
	if target, err := os.Readlink(filepath.Join(dir, "bin/sh")); err != nil || target != "busybox" {
		t.Errorf("bin/sh -> %q, %v", target, err)
	}
	if names := DirNames(t, dir); !slices.Contains(names, "etc") || !slices.IsSorted(names) {
		t.Errorf("DirNames = %v", names)
	}
}

func TestOverlayProblem(t *testing.T) {
	RequireRoot(t)
	// CI's kernel mounts overlays; where it cannot, say why.
	if why := OverlayProblem(); why != "" {
		t.Errorf("overlay cannot be mounted as root: %s", why)
	}
}

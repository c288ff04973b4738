package mount

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/bldbuild/bld/internal/testutil"
	"golang.org/x/sys/unix"
)

// OpenIn resolves an absolute symlink inside the root, never on the host.
func TestOpenInStaysInRoot(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	os.Mkdir(filepath.Join(root, "inside"), 0o755)
	os.Symlink(outside, filepath.Join(root, "abs"))
	os.Symlink("../../..", filepath.Join(root, "inside/up"))
	rfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(rfd)
	if fd, err := OpenIn(rfd, "abs"); !errors.Is(err, unix.ENOENT) {
		unix.Close(fd)
		t.Errorf("OpenIn(abs -> %s) = %v, want ENOENT (it is looked up in the root)", outside, err)
	}
	fd, err := OpenIn(rfd, "/inside/up/inside")
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	var a, b unix.Stat_t
	unix.Fstat(fd, &a)
	unix.Stat(filepath.Join(root, "inside"), &b)
	if a.Ino != b.Ino {
		t.Errorf(`"/inside/up/inside" is not the root's /inside`)
	}
}

// A detached read-only bind attached on a descriptor is read-only there,
// and a detached tmpfs takes its options.
func TestDetachedAttach(t *testing.T) {
	testutil.RequireRoot(t)
	src, dst := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(src, "f"), []byte("x"), 0o644)
	target, err := unix.Open(dst, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(target)
	if err := At(Mount{Type: "bind", Source: src, Options: []string{"ro", "nosuid"}}, target); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(dst, unix.MNT_DETACH) })
	if b, err := os.ReadFile(filepath.Join(dst, "f")); err != nil || string(b) != "x" {
		t.Errorf("read through the bind: %q, %v", b, err)
	}
	if err := os.WriteFile(filepath.Join(dst, "g"), nil, 0o644); !errors.Is(err, unix.EROFS) {
		t.Errorf("write to the ro bind: %v, want EROFS", err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dst, &st); err != nil || st.Flags&unix.ST_NOSUID == 0 {
		t.Errorf("nosuid not set: %#x, %v", st.Flags, err)
	}

	tmp := t.TempDir()
	tfd, err := unix.Open(tmp, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(tfd)
	if err := At(Mount{Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1m", "mode=700"}}, tfd); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(tmp, unix.MNT_DETACH) })
	if err := unix.Statfs(tmp, &st); err != nil || st.Type != unix.TMPFS_MAGIC || st.Blocks*uint64(st.Bsize) != 1<<20 {
		t.Errorf("tmpfs: type %#x, %d blocks of %d, %v", st.Type, st.Blocks, st.Bsize, err)
	}
	if fi, err := os.Stat(tmp); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("tmpfs mode: %v, %v", fi, err)
	}
	if _, err := Detached(Mount{Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1m", "remount"}}); err == nil {
		t.Errorf("remount on a detached mount: no error")
	}
}

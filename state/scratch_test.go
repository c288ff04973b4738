package state

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bldbuild/bld/internal/mount"
	"github.com/bldbuild/bld/internal/testutil"
)

// Issue 11: a build killed with -9 left its scratch (mounts, a secret) in
// tmp/, and start-up only cleaned tmp/ when no other build held the root
// lock. Now Open recovers a dead process's scratch while another build
// runs (holds the lock shared, has its own scratch), without following a
// symlink or deleting through a mount. Needs root (mounts).
func TestOpenRecoversDeadScratch(t *testing.T) {
	testutil.RequireRoot(t)
	ctx := context.Background()
	dir := t.TempDir()
	t.Cleanup(func() { _ = mount.UnmountAll(dir) })
	r, err := Open(ctx, filepath.Join(dir, "root"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(dir, "outside")
	keep := filepath.Join(outside, "keep")
	if err := os.MkdirAll(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keep, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}

	// Another build, alive: the root lock shared and its own scratch.
	unlock, err := r.LockShared(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	live, err := r.NewScratch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()

	// A build that died: its lock is free, and it left a secret, a tmpfs,
	// a bind mount of a directory outside and a symlink out.
	dead, err := r.NewScratch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	write := func(p, s string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o400); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dead.Dir, "step-1", SecretsDir, "s"), "secret")
	write(filepath.Join(dead.Dir, "step-2", "secret"), "secret")
	tmpfs := filepath.Join(dead.Dir, "step-2", "tmpfs")
	bind := filepath.Join(dead.Dir, "step-2", "bind")
	for _, p := range []string{tmpfs, bind} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Mount("tmpfs", tmpfs, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	write(filepath.Join(tmpfs, "f"), "f")
	if err := unix.Mount(outside, bind, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dead.Dir, "link")); err != nil {
		t.Fatal(err)
	}
	dead.lock.Close() // as kill -9 would: the lock is free, nothing undone

	if _, err := Open(ctx, r.Dir, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dead.Dir); err == nil {
		t.Errorf("the dead build's scratch is left: %s", dead.Dir)
	}
	if points, _ := mount.Points(r.TmpDir()); len(points) > 0 {
		t.Errorf("mounts left under tmp/: %v", points)
	}
	if b, err := os.ReadFile(keep); err != nil || string(b) != "keep" {
		t.Errorf("the bind-mounted directory outside lost its file: %q, %v", b, err)
	}
	if _, err := os.Stat(live.Dir); err != nil {
		t.Errorf("the live build's scratch was removed: %v", err)
	}
	rep, err := r.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Errorf("Verify after recovery: %v", rep.Problems)
	}
	if err := live.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(live.Dir); err == nil {
		t.Errorf("Close left the scratch %s", live.Dir)
	}
}

// Verify reports a dead process's scratch that recovery could not undo
// (here: one made after Open, whose owner is gone).
func TestVerifyReportsDeadScratch(t *testing.T) {
	ctx := context.Background()
	r, err := Open(ctx, t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	dead, err := r.NewScratch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dead.lock.Close()
	rep, err := r.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 1 || rep.Problems[0].Kind != ProblemScratch || rep.Problems[0].Name != dead.Dir {
		t.Errorf("Verify: %v, want the scratch %s", rep.Problems, dead.Dir)
	}
}

// A bld killed with -9 between NewScratch's mkdir and its lock leaves a
// .new- directory with no lock file. The soak test found one left after
// `bld check`: recovery waited a minute before removing such a directory,
// in case its maker was alive. Now NewScratch holds the root lock shared
// while it makes one, so recovery holding the lock exclusive removes it at
// once; and NewScratch waits while the lock is held exclusive.
func TestOpenRemovesFreshDeadPending(t *testing.T) {
	ctx := context.Background()
	r, err := Open(ctx, t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	pending := filepath.Join(r.TmpDir(), ".new-12345")
	if err := os.MkdirAll(filepath.Join(pending, "step-1"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, r.Dir, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(pending); err == nil {
		t.Errorf("a dead maker's fresh %s is left", pending)
	}

	unlock, err := r.LockExclusive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if s, err := r.NewScratch(short); err == nil {
		s.Close()
		t.Errorf("NewScratch made %s while the root lock was held exclusive", s.Dir)
	}
	unlock()
	s, err := r.NewScratch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// Scratch.Close removes a scratch with nothing mounted in one pass, secrets
// too, and never deletes through a bind mount in it, also when the root is
// reached through a symlink (mountinfo names the real path). Needs root.
func TestScratchCloseMountedOrNot(t *testing.T) {
	testutil.RequireRoot(t)
	ctx := context.Background()
	dir := t.TempDir()
	t.Cleanup(func() { _ = mount.UnmountAll(dir) })
	real := filepath.Join(dir, "real")
	if err := os.MkdirAll(real, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	r, err := Open(ctx, filepath.Join(link, "root"), Options{})
	if err != nil {
		t.Fatal(err)
	}

	// Nothing mounted: files, a secret, nested directories, all gone.
	s, err := r.NewScratch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(s.Dir, "step", SecretsDir), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"step/" + SecretsDir + "/s", "step/secret", "step/file"} {
		if err := os.WriteFile(filepath.Join(s.Dir, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(s.Dir); !os.IsNotExist(err) {
		t.Errorf("scratch %s left: %v", s.Dir, err)
	}

	// A bind mount of a directory outside: unmounted, its files kept.
	outside := filepath.Join(dir, "outside")
	if err := os.MkdirAll(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	keep := filepath.Join(outside, "keep")
	if err := os.WriteFile(keep, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	s2, err := r.NewScratch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(s2.Dir, "ctx")
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(outside, target, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(keep); err != nil || string(b) != "keep" {
		t.Errorf("the bind-mounted directory's file: %q, %v (deleted through the mount)", b, err)
	}
	if _, err := os.Lstat(s2.Dir); !os.IsNotExist(err) {
		t.Errorf("scratch %s left: %v", s2.Dir, err)
	}
}

package state

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/bldbuild/bld/internal/testutil"
	"github.com/bldbuild/bld/snapshot"
)

// TestMain runs the test binary as the helper of TestCleanupBeside when
// asked: a process that prepares an active snapshot and exits without
// removing it, as a kill would leave it.
func TestMain(m *testing.M) {
	if root := os.Getenv("BLD_STATE_TEST_DIE_ROOT"); root != "" {
		r, err := Open(context.Background(), root, Options{Snapshots: true})
		if err == nil {
			_, err = r.Snapshots.Prepare(context.Background(), "left-by-the-dead", "")
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Open with CleanupBeside removes a dead process's active snapshot on its
// own goroutine; after Wait it is gone, and the caller's snapshot work
// meanwhile is unaffected. Needs root (a new root probes overlayfs).
func TestCleanupBeside(t *testing.T) {
	testutil.RequireRoot(t)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "root")
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "BLD_STATE_TEST_DIE_ROOT="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	// It is there, its owner dead (the snapshotter alone does not clean).
	sn, err := snapshot.New(filepath.Join(dir, "snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sn.Stat(ctx, "left-by-the-dead"); err != nil {
		t.Fatalf("the helper's snapshot: %v", err)
	}
	r, err := Open(ctx, dir, Options{Snapshots: true, CleanupBeside: true})
	if err != nil {
		t.Fatal(err)
	}
	// The caller's own work, beside the clean-up.
	if _, err := r.Snapshots.Prepare(ctx, "mine", ""); err != nil {
		t.Fatal(err)
	}
	r.Wait()
	r.Wait() // again: returns at once
	if _, err := r.Snapshots.Stat(ctx, "left-by-the-dead"); err == nil {
		t.Error("the dead process's active snapshot is still there after Wait")
	}
	if _, err := r.Snapshots.Stat(ctx, "mine"); err != nil {
		t.Errorf("the caller's own snapshot: %v", err)
	}
	// Without CleanupBeside, Wait has nothing to wait for.
	r2, err := Open(ctx, dir, Options{Snapshots: true})
	if err != nil {
		t.Fatal(err)
	}
	r2.Wait()
	if _, err := r2.Snapshots.Stat(ctx, "mine"); err != nil {
		t.Errorf("a live process's snapshot was removed: %v", err)
	}
}

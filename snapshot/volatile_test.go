package snapshot

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/bldbuild/bld/internal/mount"
	"github.com/bldbuild/bld/internal/testutil"
)

// An active snapshot is mounted as a volatile overlay (no sync at
// unmount); Commit syncs it and drops the overlay's mark. A crashed
// process's volatile snapshot, whose mark would refuse any remount, is
// removed whole by Cleanup, and its parent mounts again at once.
func TestOverlayVolatile(t *testing.T) {
	testutil.RequireOverlay(t)
	ctx := t.Context()
	root := t.TempDir()
	o, err := NewOverlay(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Prepare(ctx, "base-active", ""); err != nil {
		t.Fatal(err)
	}
	if err := o.Commit(ctx, "base", "base-active"); err != nil {
		t.Fatal(err)
	}
	if !volatileOK() {
		// A kernel before 5.10: overlays are mounted as before.
		ms, err := o.Prepare(ctx, "old-kernel", "base")
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(ms[0].Options, "volatile") {
			t.Errorf("mounts %v: volatile on a kernel without it", ms)
		}
		return
	}
	write := func(key, file string) string {
		t.Helper()
		ms, err := o.Prepare(ctx, key, "base")
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) != 1 || !slices.Contains(ms[0].Options, "volatile") {
			t.Fatalf("mounts of an active snapshot %v: not volatile", ms)
		}
		if err := mount.WithTempMount(ctx, ms, func(dir string) error {
			return os.WriteFile(filepath.Join(dir, file), []byte(file), 0o644)
		}); err != nil {
			t.Fatal(err)
		}
		r, err := o.s.get(key)
		if err != nil {
			t.Fatal(err)
		}
		mark := filepath.Join(o.s.workDir(r.ID), volatileMark)
		if _, err := os.Stat(mark); err != nil {
			t.Fatalf("no volatile mark after the mount: %v", err)
		}
		return r.ID
	}

	id := write("kept", "a")
	if err := o.Commit(ctx, "kept-c", "kept"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(o.s.workDir(id), "work", "incompat")); !os.IsNotExist(err) {
		t.Errorf("Commit left the volatile mark: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(o.s.fsDir(id), "a")); err != nil || string(b) != "a" {
		t.Errorf("committed file: %q, %v", b, err)
	}

	// A twin (a --no-cache rebuild's step): the name is taken, so the
	// commit is refused before the sync, which the mark shows (a sync
	// drops it); the refused snapshot is still removed whole.
	twin := write("twin", "a")
	if err := o.Commit(ctx, "kept-c", "twin"); !errors.Is(err, ErrExists) {
		t.Fatalf("commit as a taken name: %v, want ErrExists", err)
	}
	if _, err := os.Stat(filepath.Join(o.s.workDir(twin), volatileMark)); err != nil {
		t.Errorf("a commit refused for a taken name synced the snapshot (the mark is gone: %v)", err)
	}
	if err := o.Remove(ctx, "twin"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(o.s.snapshotDir(twin)); !os.IsNotExist(err) {
		t.Errorf("the refused snapshot's dir is left: %v", err)
	}

	// A process killed mid-step: its active snapshot was mounted volatile.
	dead := write("dead", "b")
	if err := o.s.update("dead", func(r *record) { r.Owner = &owner{PID: os.Getpid(), Start: 1} }); err != nil {
		t.Fatal(err)
	}
	other, err := NewOverlay(root)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(o.s.snapshotDir(dead)); !os.IsNotExist(err) {
		t.Errorf("Cleanup left the dead volatile snapshot's dir: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "tmp")); len(ents) != 0 {
		t.Errorf("tmp holds %v", ents)
	}
	// The rebuild: a new step on the same parent (the id may be reused).
	write("again", "b")
	if err := other.Commit(ctx, "again-c", "again"); err != nil {
		t.Fatal(err)
	}
	// The committed snapshot is a lower dir: it mounts in a view.
	ms, err := o.View(ctx, "v", "again-c")
	if err != nil {
		t.Fatal(err)
	}
	if err := mount.WithTempMount(ctx, ms, func(dir string) error {
		_, err := os.Stat(filepath.Join(dir, "b"))
		return err
	}); err != nil {
		t.Error(err)
	}
}

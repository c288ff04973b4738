package snapshot_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bldbuild/bld/internal/mount"
	"github.com/bldbuild/bld/internal/testutil"
	"github.com/bldbuild/bld/snapshot"
)

// A directory copied up only because something was created in it and then
// removed again (the sandbox's /etc/hosts mount point) is no change: the
// diff of such a step is empty, so `RUN true` adds no layer; Unchanged
// says so before any commit.
func TestOverlayDiffSkipsUnchangedCopyUp(t *testing.T) {
	testutil.RequireOverlay(t)
	root := t.TempDir()
	noMountsLeft(t, root)
	o, err := snapshot.NewOverlay(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	ms, err := o.Prepare(ctx, "base-active", "")
	if err != nil {
		t.Fatal(err)
	}
	stamp := time.Unix(1600000000, 0)
	err = mount.WithTempMount(ctx, ms, func(dir string) error {
		if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "etc/passwd"), []byte("root:x:0:0::/:/bin/sh\n"), 0o644); err != nil {
			return err
		}
		return os.Chtimes(filepath.Join(dir, "etc"), stamp, stamp)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Commit(ctx, "base", "base-active"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		change  func(dir string) error
		nonEmpy bool
	}{
		{"create and remove, times restored", func(dir string) error {
			p := filepath.Join(dir, "etc/hosts")
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				return err
			}
			if err := os.Remove(p); err != nil {
				return err
			}
			return os.Chtimes(filepath.Join(dir, "etc"), stamp, stamp)
		}, false},
		{"a real change below", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "etc/motd"), []byte("hi\n"), 0o644)
		}, true},
		{"only the dir's mode changed", func(dir string) error {
			if err := os.Chmod(filepath.Join(dir, "etc"), 0o700); err != nil {
				return err
			}
			return os.Chtimes(filepath.Join(dir, "etc"), stamp, stamp)
		}, true},
		{"a file removed", func(dir string) error {
			return os.Remove(filepath.Join(dir, "etc/passwd"))
		}, true},
		{"a new empty dir", func(dir string) error {
			return os.Mkdir(filepath.Join(dir, "new"), 0o755)
		}, true},
		{"nothing", func(dir string) error { return nil }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key, name := "k-"+tc.name, "n-"+tc.name
			ms, err := o.Prepare(ctx, key, "base")
			if err != nil {
				t.Fatal(err)
			}
			if err := mount.WithTempMount(ctx, ms, tc.change); err != nil {
				t.Fatal(err)
			}
			// Unchanged agrees with the diff, before any commit.
			if unchanged, err := snapshot.Unchanged(ctx, o, key); err != nil || unchanged == tc.nonEmpy {
				t.Errorf("Unchanged = %v, %v; want %v", unchanged, err, !tc.nonEmpy)
			}
			if err := o.Commit(ctx, name, key); err != nil {
				t.Fatal(err)
			}
			if _, err := snapshot.Unchanged(ctx, o, name); err == nil {
				t.Error("Unchanged of a committed snapshot: no error")
			}
			var buf bytes.Buffer
			if err := o.Diff(ctx, &buf, name, snapshot.DiffOptions{}); err != nil {
				t.Fatal(err)
			}
			if empty := buf.Len() <= 1024; empty == tc.nonEmpy {
				t.Errorf("diff is %d bytes; want non-empty=%v", buf.Len(), tc.nonEmpy)
			}
		})
	}
}

// Unchanged cannot tell for a native snapshot without diffing: false.
func TestUnchangedNative(t *testing.T) {
	n, err := snapshot.NewNative(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Prepare(t.Context(), "k", ""); err != nil {
		t.Fatal(err)
	}
	if unchanged, err := snapshot.Unchanged(t.Context(), n, "k"); unchanged || err != nil {
		t.Errorf("Unchanged = %v, %v; want false, nil", unchanged, err)
	}
}

package sandbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bldbuild/bld/internal/mount"
)

// Two steps share a directory (as a cache mount is shared); something with
// write access to it (the other step, here the test itself, faster) swaps a
// subdirectory for an absolute symlink in a loop, with renameat2
// RENAME_EXCHANGE, while the steps' inits create the mount targets below
// it. Nothing may be created outside the steps' roots.
//
// Reproduced on the code before this test (targets created by path with
// os.Mkdir after resolving them in user space): within the 200 runs the
// init followed the swapped-in symlink to the host and left directories in
// the canary directory.
func TestRaceMountTargetSymlinkSwap(t *testing.T) {
	roots := [2]string{newRoot(t), newRoot(t)}
	shared := t.TempDir()
	canary := t.TempDir() // on the host, outside both roots
	if err := os.Mkdir(filepath.Join(shared, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(canary, filepath.Join(shared, "link")); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var swaps atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		dir, err := unix.Open(shared, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Error(err)
			return
		}
		defer unix.Close(dir)
		for ctx.Err() == nil {
			if err := unix.Renameat2(dir, "d", dir, "link", unix.RENAME_EXCHANGE); err != nil {
				t.Errorf("renameat2: %v", err)
				return
			}
			swaps.Add(1)
		}
	}()

	const runs = 200
	var failed atomic.Int64
	var workers sync.WaitGroup
	for w := range 2 {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for i := range runs / 2 {
				spec := Spec{
					Root: bindRoot(roots[w]),
					Mounts: []mount.Mount{
						{Type: "bind", Source: shared, Target: "/cache", Options: []string{"rbind"}},
						{Type: "tmpfs", Source: "tmpfs", Target: fmt.Sprintf("/cache/d/w%d/x", w)},
						{Type: "bind", Source: "/bin/busybox", Target: fmt.Sprintf("/cache/d/w%d/file", w), Options: []string{"bind", "ro"}},
					},
					Args: []string{"true"},
				}
				rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
				err := Run(rctx, spec)
				rcancel()
				if err != nil {
					// A race may fail a step (a target gone under it);
					// it must never escape.
					failed.Add(1)
					t.Logf("worker %d run %d: %v", w, i, err)
				}
				if entries, _ := os.ReadDir(canary); len(entries) > 0 {
					t.Errorf("worker %d run %d: created on the host, in %s: %v", w, i, canary, entries)
					return
				}
			}
		}()
	}
	workers.Wait()
	cancel()
	wg.Wait()
	t.Logf("%d runs, %d failed, %d swaps", runs, failed.Load(), swaps.Load())
	if failed.Load() > runs/10 {
		t.Errorf("%d of %d runs failed", failed.Load(), runs)
	}
	// Placeholders made in the roots by the swapped paths are gone.
	for _, root := range roots {
		if _, err := os.Lstat(filepath.Join(root, canary)); err == nil {
			t.Errorf("placeholder %s left in %s", canary, root)
		}
	}
}

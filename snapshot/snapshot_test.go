package snapshot_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bldbuild/bld/internal/mount"
	"github.com/bldbuild/bld/internal/testutil"
	"github.com/bldbuild/bld/snapshot"
	"github.com/bldbuild/bld/snapshot/snapshottest"
	"golang.org/x/sys/unix"
)

// noMountsLeft fails the test if anything is still mounted under dir.
func noMountsLeft(t *testing.T, dir string) {
	t.Cleanup(func() {
		b, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), dir) {
			t.Errorf("mounts left under %s", dir)
			_ = mount.UnmountAll(dir)
		}
	})
}

func TestOverlay(t *testing.T) {
	testutil.RequireOverlay(t)
	snapshottest.Run(t, func(t *testing.T, root string) snapshot.Snapshotter {
		noMountsLeft(t, root)
		o, err := snapshot.NewOverlay(root)
		if err != nil {
			t.Fatal(err)
		}
		return o
	})
}

func TestNative(t *testing.T) {
	snapshottest.Run(t, func(t *testing.T, root string) snapshot.Snapshotter {
		n, err := snapshot.NewNative(root)
		if err != nil {
			t.Fatal(err)
		}
		return n
	})
}

func TestNewKeepsKind(t *testing.T) {
	root := t.TempDir()
	sn, err := snapshot.New(root)
	if err != nil {
		t.Fatal(err)
	}
	want := "native"
	if testutil.OverlayProblem() == "" {
		want = "overlayfs"
	}
	if sn.Name() != want {
		t.Errorf("New picked %s, want %s", sn.Name(), want)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "tmp")); len(ents) != 0 {
		t.Errorf("probe left %v", ents)
	}
	again, err := snapshot.New(root)
	if err != nil || again.Name() != want {
		t.Errorf("reopen: %v, %v", again, err)
	}
	if want == "native" {
		if _, err := snapshot.NewOverlay(root); err == nil {
			t.Error("NewOverlay opened a native root")
		}
	} else if _, err := snapshot.NewNative(root); err == nil {
		t.Error("NewNative opened an overlayfs root")
	}
}

// change makes the same wide set of changes in any snapshotter, with fixed
// times so that two runs give equal trees.
func change(root string) error {
	j := func(p string) string { return filepath.Join(root, p) }
	t2 := time.Date(2021, 5, 6, 7, 8, 9, 0, time.UTC)
	steps := []func() error{
		func() error { return os.MkdirAll(j("new/sub"), 0o755) },
		func() error { return os.WriteFile(j("new/sub/file"), []byte("new"), 0o644) },
		// Same size, then the old mtime back: only the content differs.
		func() error { return os.WriteFile(j("etc/a"), []byte("Z"), 0o644) },
		func() error { return os.Chtimes(j("etc/a"), snapshottest.T0, snapshottest.T0) },
		func() error { return unix.Chmod(j("bin/su"), 0o755) },
		func() error { return os.Lchown(j("etc/b"), 5, 6) },
		func() error { return os.Remove(j("d/x")) },
		func() error { return os.RemoveAll(j("deep")) },
		func() error { return os.RemoveAll(j("tmp")) },
		func() error { return os.Mkdir(j("tmp"), 0o700) },
		func() error { return os.WriteFile(j("tmp/f"), []byte("f"), 0o600) },
		func() error { return os.Remove(j("fifo")) },
		func() error { return os.Mkdir(j("fifo"), 0o755) },
		func() error { return os.Remove(j("sym")) },
		func() error { return os.Symlink("etc/b", j("sym")) },
		func() error { return os.Link(j("d/y"), j("new/hy")) },
		func() error { return unix.Setxattr(j("xattr"), "user.test", []byte("changed"), 0) },
		func() error { return unix.Removexattr(j("xattr"), "user.bin") },
		func() error { return unix.Mkfifo(j("new/p"), 0o600) },
		func() error { return unix.Mknod(j("new/zero"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 5))) },
	}
	for i, s := range steps {
		if err := s(); err != nil {
			return fmt.Errorf("step %d: %w", i, err)
		}
	}
	for _, p := range []string{"new/sub/file", "new/sub", "new/p", "new/zero", "new", "etc/b", "etc", "d", "tmp/f", "tmp", "fifo", "d/y", "xattr", "bin/su", "bin", "."} {
		if err := os.Chtimes(j(p), t2, t2); err != nil {
			return err
		}
	}
	ts := []unix.Timespec{unix.NsecToTimespec(t2.UnixNano()), unix.NsecToTimespec(t2.UnixNano())}
	return unix.UtimesNanoAt(unix.AT_FDCWD, j("sym"), ts, unix.AT_SYMLINK_NOFOLLOW)
}

// TestOverlayNativeEquivalent: overlay's upper-dir diff and native's
// walking diff of the same change unpack to the same tree.
func TestOverlayNativeEquivalent(t *testing.T) {
	testutil.RequireOverlay(t)
	ovRoot := t.TempDir()
	noMountsLeft(t, ovRoot)
	ov, err := snapshot.NewOverlay(ovRoot)
	if err != nil {
		t.Fatal(err)
	}
	nat, err := snapshot.NewNative(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var diffs [][]byte
	var live []map[string]string
	for _, sn := range []snapshot.Snapshotter{ov, nat} {
		snapshottest.Unpack(t, sn, "base", "", snapshottest.BaseLayer(t))
		snapshottest.Modify(t, sn, "changed", "base", change)
		diffs = append(diffs, snapshottest.Diff(t, sn, "changed", snapshot.DiffOptions{}))
		live = append(live, snapshottest.Merged(t, sn, "changed"))
	}
	if d := snapshottest.DiffTrees(live[1], live[0]); d != "" {
		t.Fatalf("the change itself gave different trees (native vs overlay):\n%s", d)
	}
	ents := snapshottest.Entries(t, diffs[1])
	if !slices.ContainsFunc(ents, func(e string) bool { return strings.HasPrefix(e, "etc/a ") }) {
		t.Errorf("native diff misses a content-only change of etc/a:\n%s", strings.Join(ents, "\n"))
	}
	for _, sn := range []snapshot.Snapshotter{ov, nat} {
		for j, diff := range diffs {
			name := fmt.Sprintf("from-%d", j)
			snapshottest.Unpack(t, sn, name, "base", diff)
			if d := snapshottest.DiffTrees(snapshottest.Merged(t, sn, name), live[0]); d != "" {
				t.Errorf("%s: unpacking the %s diff gives another tree:\n%s", sn.Name(), []string{"overlay", "native"}[j], d)
			}
		}
	}
}

func TestOverlayDeepChain(t *testing.T) {
	testutil.RequireOverlay(t)
	base := t.TempDir()
	noMountsLeft(t, base)
	root := filepath.Join(base, strings.Repeat("a-long-path-segment-", 5), strings.Repeat("x", 120))
	ov, err := snapshot.NewOverlay(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	const layers = 125
	parent := ""
	for i := range layers {
		name := fmt.Sprintf("sha256:%064d", i)
		ents := []snapshottest.Entry{
			{Name: fmt.Sprintf("f%03d", i), Mode: 0o644, Body: fmt.Sprint(i)},
			{Name: "top", Mode: 0o644, Body: fmt.Sprint(i)},
		}
		if i == 60 {
			ents = append(ents, snapshottest.Entry{Name: ".wh.f010"})
		}
		snapshottest.Unpack(t, ov, name, parent, snapshottest.Layer(t, ents...))
		parent = name
	}
	ms, err := ov.Prepare(ctx, "work", parent)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Join(ms[0].Options, ",")); n <= 4096 {
		t.Fatalf("mount options are %d bytes; the test needs more than a page", n)
	}
	err = mount.WithTempMount(ctx, ms, func(root string) error {
		for i := range layers {
			b, err := os.ReadFile(filepath.Join(root, fmt.Sprintf("f%03d", i)))
			if i == 10 {
				if !errors.Is(err, os.ErrNotExist) {
					return fmt.Errorf("f010 survived its whiteout: %v", err)
				}
				continue
			}
			if err != nil || string(b) != fmt.Sprint(i) {
				return fmt.Errorf("f%03d = %q, %v", i, b, err)
			}
		}
		if b, _ := os.ReadFile(filepath.Join(root, "top")); string(b) != fmt.Sprint(layers-1) {
			return fmt.Errorf("top = %q", b)
		}
		return os.WriteFile(filepath.Join(root, "result"), []byte("r"), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := ov.Commit(ctx, "result", "work"); err != nil {
		t.Fatal(err)
	}
	ents := snapshottest.Entries(t, snapshottest.Diff(t, ov, "result", snapshot.DiffOptions{}))
	if len(ents) != 1 || !strings.HasPrefix(ents[0], "result ") {
		t.Errorf("diff of the top layer = %q, want only result", ents)
	}
}

// TestTwoProcesses shares one root between two snapshotters, as two bld
// processes would (each has its own lock file descriptor).
func TestTwoProcesses(t *testing.T) {
	root := t.TempDir()
	a, err := snapshot.NewNative(root)
	if err != nil {
		t.Fatal(err)
	}
	b, err := snapshot.NewNative(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	const n = 10
	var wg sync.WaitGroup
	results := make([]error, 2*n)
	for i := range 2 * n {
		sn := []*snapshot.Native{a, b}[i%2]
		wg.Go(func() {
			key := fmt.Sprintf("k%d", i)
			if _, err := sn.Prepare(ctx, key, ""); err != nil {
				results[i] = err
				return
			}
			err := sn.Commit(ctx, fmt.Sprintf("name%d", i/4), key)
			if errors.Is(err, snapshot.ErrExists) {
				if rerr := sn.Remove(ctx, key); rerr != nil {
					t.Error(rerr)
				}
			}
			results[i] = err
		})
	}
	wg.Wait()
	won := 0
	for i, err := range results {
		if err == nil {
			won++
		} else if !errors.Is(err, snapshot.ErrExists) {
			t.Errorf("%d: %v", i, err)
		}
	}
	if want := (2*n + 3) / 4; won != want {
		t.Errorf("%d commits won, want %d", won, want)
	}
	var fromA, fromB []string
	_ = a.Walk(ctx, func(i snapshot.Info) error { fromA = append(fromA, i.Name); return nil })
	_ = b.Walk(ctx, func(i snapshot.Info) error { fromB = append(fromB, i.Name); return nil })
	if !slices.Equal(fromA, fromB) || len(fromA) != won {
		t.Errorf("the two see %q and %q", fromA, fromB)
	}
	// A change by one is seen by the other at once.
	if err := a.Remove(ctx, fromA[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Stat(ctx, fromA[0]); !errors.Is(err, snapshot.ErrNotFound) {
		t.Errorf("b still sees %s: %v", fromA[0], err)
	}
}

func TestApplyErrorNamesEntry(t *testing.T) {
	n, err := snapshot.NewNative(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := n.Prepare(ctx, "k", ""); err != nil {
		t.Fatal(err)
	}
	layer := snapshottest.Layer(t,
		snapshottest.Entry{Name: "ok", Body: "1", Mode: 0o644, UID: os.Getuid(), GID: os.Getgid()},
		snapshottest.Entry{Name: "a/../../evil", Body: "x"})
	err = n.Apply(ctx, "k", bytes.NewReader(layer))
	if err == nil || !strings.Contains(err.Error(), `"a/../../evil"`) {
		t.Errorf("Apply = %v, want an error naming a/../../evil", err)
	}
	// Unknown entry types are skipped.
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	_ = tw.WriteHeader(&tar.Header{Name: "weird", Typeflag: 'Z', Format: tar.FormatPAX})
	_ = tw.WriteHeader(&tar.Header{Name: "fine", Typeflag: tar.TypeReg, Mode: 0o644, Uid: os.Getuid(), Gid: os.Getgid(), Format: tar.FormatPAX})
	_ = tw.Close()
	if err := n.Apply(ctx, "k", &buf); err != nil {
		t.Errorf("Apply of an unknown type = %v", err)
	}
}

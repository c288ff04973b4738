// Package snapshottest is the conformance suite every snapshot.Snapshotter
// passes, plus helpers to build and inspect test layers.
package snapshottest

import (
	"archive/tar"
	"bytes"
	"context"
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
	"github.com/bldbuild/bld/snapshot"
	"golang.org/x/sys/unix"
)

// Run runs the conformance suite against the snapshotters newSnapshotter
// makes, each in a fresh root. Tests that need root (ownership, device
// nodes, read-only mounts) skip without it.
func Run(t *testing.T, newSnapshotter func(t *testing.T, root string) snapshot.Snapshotter) {
	tests := []struct {
		name     string
		needRoot bool
		fn       func(t *testing.T, sn snapshot.Snapshotter)
	}{
		{"Lifecycle", false, testLifecycle},
		{"ArbitraryNames", false, testArbitraryNames},
		{"ChildSeesParent", false, testChildSeesParent},
		{"View", true, testView},
		{"Usage", false, testUsage},
		{"ConcurrentCommit", false, testConcurrentCommit},
		{"Cleanup", false, testCleanup},
		{"ApplyDiffRoundTrip", true, testApplyDiffRoundTrip},
		{"ApplyWhiteouts", true, testApplyWhiteouts},
		{"DeleteAndRecreate", true, testDeleteAndRecreate},
		{"RecreateEmptyDir", true, testRecreateEmptyDir},
		{"MetadataOnlyChange", true, testMetadataOnlyChange},
		{"SpecialFiles", true, testSpecialFiles},
		{"Deterministic", true, testDeterministic},
		{"Epoch", true, testEpoch},
		{"ApplyReadsToEnd", true, testApplyReadsToEnd},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.needRoot && os.Geteuid() != 0 {
				t.Skip("needs root for ownership, device nodes and read-only mounts")
			}
			tc.fn(t, newSnapshotter(t, t.TempDir()))
		})
	}
}

// BaseLayer is a layer with one of everything a layer can hold.
func BaseLayer(t testing.TB) []byte {
	return Layer(t,
		Entry{Name: "bin/", Type: tar.TypeDir, Mode: 0o755},
		Entry{Name: "bin/su", Mode: 0o4755, Body: "setuid"},
		Entry{Name: "d/", Type: tar.TypeDir, Mode: 0o750, UID: 3, GID: 4},
		Entry{Name: "d/x", Mode: 0o644, Body: "x"},
		Entry{Name: "d/y", Mode: 0o644, Body: "y"},
		Entry{Name: "deep/", Type: tar.TypeDir, Mode: 0o755},
		Entry{Name: "deep/" + strings.Repeat("long-name-", 12) + "/", Type: tar.TypeDir, Mode: 0o755},
		Entry{Name: "deep/" + strings.Repeat("long-name-", 12) + "/file", Mode: 0o644, Body: "deep"},
		Entry{Name: "dev/", Type: tar.TypeDir, Mode: 0o755},
		Entry{Name: "dev/null", Type: tar.TypeChar, Mode: 0o666, Major: 1, Minor: 3},
		Entry{Name: "etc/", Type: tar.TypeDir, Mode: 0o755, Xattrs: map[string]string{"user.dir": "d"}},
		Entry{Name: "etc/a", Mode: 0o644, Body: "a"},
		Entry{Name: "etc/b", Mode: 0o600, UID: 1, GID: 2, Body: "bb", ModTime: T0.Add(time.Hour)},
		Entry{Name: "fifo", Type: tar.TypeFifo, Mode: 0o640},
		Entry{Name: "hl1", Mode: 0o644, Body: "shared"},
		Entry{Name: "hl2", Type: tar.TypeLink, Mode: 0o644, Link: "hl1"},
		Entry{Name: "sym", Type: tar.TypeSymlink, Mode: 0o777, Link: "etc/a"},
		Entry{Name: "tmp/", Type: tar.TypeDir, Mode: 0o1777},
		Entry{Name: "xattr", Mode: 0o644, Body: "x", Xattrs: map[string]string{"user.test": "value", "user.bin": "\x00\x01"}},
	)
}

// Unpack applies layer into a new snapshot on parent and commits it as name.
func Unpack(t testing.TB, sn snapshot.Snapshotter, name, parent string, layer []byte) {
	t.Helper()
	ctx := context.Background()
	key := "unpack-" + name
	if _, err := sn.Prepare(ctx, key, parent); err != nil {
		t.Fatal(err)
	}
	if err := sn.Apply(ctx, key, bytes.NewReader(layer)); err != nil {
		t.Fatal(err)
	}
	if err := sn.Commit(ctx, name, key); err != nil {
		t.Fatal(err)
	}
}

// Modify runs fn over a new snapshot on parent and commits it as name.
func Modify(t testing.TB, sn snapshot.Snapshotter, name, parent string, fn func(root string) error) {
	t.Helper()
	ctx := context.Background()
	key := "modify-" + name
	ms, err := sn.Prepare(ctx, key, parent)
	if err != nil {
		t.Fatal(err)
	}
	if err := mount.WithTempMount(ctx, ms, fn); err != nil {
		t.Fatal(err)
	}
	if err := sn.Commit(ctx, name, key); err != nil {
		t.Fatal(err)
	}
}

// Merged returns the Tree of committed snapshot name as a child sees it.
func Merged(t testing.TB, sn snapshot.Snapshotter, name string) map[string]string {
	t.Helper()
	ctx := context.Background()
	key := fmt.Sprintf("inspect-%s-%d", name, time.Now().UnixNano())
	ms, err := sn.Prepare(ctx, key, name)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := sn.Remove(ctx, key); err != nil {
			t.Error(err)
		}
	}()
	var tree map[string]string
	err = mount.WithTempMount(ctx, ms, func(root string) error {
		tree = Tree(t, root)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

// Diff returns the layer of snapshot name.
func Diff(t testing.TB, sn snapshot.Snapshotter, name string, opt snapshot.DiffOptions) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := sn.Diff(context.Background(), &buf, name, opt); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeFiles(files map[string]string) func(string) error {
	return func(root string) error {
		for p, body := range files {
			full := filepath.Join(root, p)
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
				return err
			}
		}
		return nil
	}
}

func mustErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if want == nil && err == nil {
		t.Errorf("%s succeeded, want an error", what)
	}
	if want != nil && !errors.Is(err, want) {
		t.Errorf("%s = %v, want %v", what, err, want)
	}
}

func testLifecycle(t *testing.T, sn snapshot.Snapshotter) {
	ctx := t.Context()
	if sn.Name() != "overlayfs" && sn.Name() != "native" {
		t.Errorf("Name() = %q", sn.Name())
	}
	if _, err := sn.Prepare(ctx, "a-key", ""); err != nil {
		t.Fatal(err)
	}
	info, err := sn.Stat(ctx, "a-key")
	if err != nil || info.Kind != snapshot.KindActive || info.Parent != "" || info.Name != "a-key" || info.Created.IsZero() {
		t.Errorf("Stat(a-key) = %+v, %v", info, err)
	}
	_, err = sn.Prepare(ctx, "a-key", "")
	mustErr(t, "Prepare of an existing key", err, snapshot.ErrExists)
	_, err = sn.Prepare(ctx, "x", "missing")
	mustErr(t, "Prepare on a missing parent", err, snapshot.ErrNotFound)
	_, err = sn.Prepare(ctx, "x", "a-key")
	mustErr(t, "Prepare on an active parent", err, nil)
	if _, err := sn.Stat(ctx, "x"); !errors.Is(err, snapshot.ErrNotFound) {
		t.Errorf("a failed Prepare left snapshot x: %v", err)
	}
	if _, err := sn.Mounts(ctx, "a-key"); err != nil {
		t.Errorf("Mounts(a-key) = %v", err)
	}

	if err := sn.Commit(ctx, "a", "a-key"); err != nil {
		t.Fatal(err)
	}
	_, err = sn.Stat(ctx, "a-key")
	mustErr(t, "Stat of a committed key", err, snapshot.ErrNotFound)
	if info, err := sn.Stat(ctx, "a"); err != nil || info.Kind != snapshot.KindCommitted {
		t.Errorf("Stat(a) = %+v, %v", info, err)
	}
	_, err = sn.Mounts(ctx, "a")
	mustErr(t, "Mounts of a committed snapshot", err, nil)
	mustErr(t, "Commit of a missing key", sn.Commit(ctx, "z", "nope"), snapshot.ErrNotFound)

	if _, err := sn.Prepare(ctx, "b-key", "a"); err != nil {
		t.Fatal(err)
	}
	mustErr(t, "Commit to an existing name", sn.Commit(ctx, "a", "b-key"), snapshot.ErrExists)
	if err := sn.Commit(ctx, "b", "b-key"); err != nil {
		t.Fatal(err)
	}
	if info, _ := sn.Stat(ctx, "b"); info.Parent != "a" {
		t.Errorf("Stat(b).Parent = %q, want a", info.Parent)
	}

	ms, err := sn.View(ctx, "v", "b")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if !slices.Contains(m.Options, "ro") {
			t.Errorf("view mount %+v lacks ro", m)
		}
	}
	if info, _ := sn.Stat(ctx, "v"); info.Kind != snapshot.KindView || info.Parent != "b" {
		t.Errorf("Stat(v) = %+v", info)
	}
	mustErr(t, "Commit of a view", sn.Commit(ctx, "vv", "v"), nil)
	if err := sn.Apply(ctx, "v", bytes.NewReader(nil)); err == nil {
		t.Error("Apply into a view succeeded")
	}

	var walked []string
	err = sn.Walk(ctx, func(i snapshot.Info) error {
		walked = append(walked, i.Name+":"+i.Kind.String()+":"+i.Parent)
		return nil
	})
	if want := []string{"a:committed:", "b:committed:a", "v:view:b"}; err != nil || !slices.Equal(walked, want) {
		t.Errorf("Walk = %q, %v; want %q", walked, err, want)
	}
	stop := errors.New("stop")
	if err := sn.Walk(ctx, func(snapshot.Info) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("Walk did not return fn's error: %v", err)
	}

	mustErr(t, "Remove of a parent", sn.Remove(ctx, "a"), nil)
	mustErr(t, "Remove of a view's parent", sn.Remove(ctx, "b"), nil)
	for _, k := range []string{"v", "b", "a"} {
		if err := sn.Remove(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	mustErr(t, "Remove of a missing snapshot", sn.Remove(ctx, "a"), snapshot.ErrNotFound)
	n := 0
	_ = sn.Walk(ctx, func(snapshot.Info) error { n++; return nil })
	if n != 0 {
		t.Errorf("%d snapshots left after removing all", n)
	}
}

func testArbitraryNames(t *testing.T, sn snapshot.Snapshotter) {
	ctx := t.Context()
	names := []string{"sha256:" + strings.Repeat("ab", 32), "../../etc/passwd", "a/b c\n\x00d", strings.Repeat("n", 5000), "."}
	parent := ""
	for i, name := range names {
		key := fmt.Sprintf("key %d/..", i)
		if _, err := sn.Prepare(ctx, key, parent); err != nil {
			t.Fatalf("Prepare(%q): %v", key, err)
		}
		if err := sn.Commit(ctx, name, key); err != nil {
			t.Fatalf("Commit(%q): %v", name, err)
		}
		if info, err := sn.Stat(ctx, name); err != nil || info.Name != name || info.Parent != parent {
			t.Errorf("Stat(%q) = %+v, %v", name, info, err)
		}
		parent = name
	}
	for i := len(names) - 1; i >= 0; i-- {
		if err := sn.Remove(ctx, names[i]); err != nil {
			t.Errorf("Remove(%q) = %v", names[i], err)
		}
	}
}

func testChildSeesParent(t *testing.T, sn snapshot.Snapshotter) {
	Modify(t, sn, "p", "", writeFiles(map[string]string{"f": "1", "dir/g": "2"}))
	Modify(t, sn, "c", "p", func(root string) error {
		b, err := os.ReadFile(filepath.Join(root, "dir/g"))
		if err != nil || string(b) != "2" {
			return fmt.Errorf("child reads dir/g = %q, %v", b, err)
		}
		return writeFiles(map[string]string{"f": "changed", "h": "3"})(root)
	})
	p, c := Merged(t, sn, "p"), Merged(t, sn, "c")
	if _, ok := p["h"]; ok {
		t.Error("parent sees a file its child wrote")
	}
	if _, ok := c["h"]; !ok {
		t.Error("child's file missing")
	}
	if p["f"] == c["f"] {
		t.Error("child's change of f shows in the parent")
	}
	if p["dir/g"] != c["dir/g"] {
		t.Errorf("dir/g: parent %s, child %s", p["dir/g"], c["dir/g"])
	}
}

func testView(t *testing.T, sn snapshot.Snapshotter) {
	ctx := t.Context()
	Modify(t, sn, "p", "", writeFiles(map[string]string{"f": "1"}))
	Modify(t, sn, "c", "p", writeFiles(map[string]string{"g": "2"}))
	for _, parent := range []string{"p", "c", ""} {
		key := "view-of-" + parent
		ms, err := sn.View(ctx, key, parent)
		if err != nil {
			t.Fatal(err)
		}
		err = mount.WithTempMount(ctx, ms, func(root string) error {
			if parent != "" {
				if _, err := os.Stat(filepath.Join(root, "f")); err != nil {
					return err
				}
			}
			if werr := os.WriteFile(filepath.Join(root, "new"), nil, 0o644); !errors.Is(werr, unix.EROFS) {
				return fmt.Errorf("write into a view: %v, want EROFS", werr)
			}
			return nil
		})
		if err != nil {
			t.Errorf("view of %q: %v", parent, err)
		}
		if ms2, err := sn.Mounts(ctx, key); err != nil || len(ms2) != len(ms) {
			t.Errorf("Mounts(%s) = %v, %v", key, ms2, err)
		}
		if err := sn.Remove(ctx, key); err != nil {
			t.Error(err)
		}
	}
}

func testUsage(t *testing.T, sn snapshot.Snapshotter) {
	ctx := t.Context()
	Modify(t, sn, "big", "", writeFiles(map[string]string{"f": strings.Repeat("x", 1<<20)}))
	n, err := sn.Usage(ctx, "big")
	if err != nil || n < 1<<20 {
		t.Errorf("Usage(big) = %d, %v; want at least 1 MiB", n, err)
	}
	if _, err := sn.Usage(ctx, "missing"); !errors.Is(err, snapshot.ErrNotFound) {
		t.Errorf("Usage(missing) = %v, want ErrNotFound", err)
	}
}

func testConcurrentCommit(t *testing.T, sn snapshot.Snapshotter) {
	ctx := t.Context()
	Modify(t, sn, "base", "", writeFiles(map[string]string{"f": "base"}))
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			key := fmt.Sprintf("cc-%d", i)
			ms, err := sn.Prepare(ctx, key, "base")
			if err == nil {
				err = mount.WithTempMount(ctx, ms, writeFiles(map[string]string{"g": key}))
			}
			if err == nil {
				err = sn.Commit(ctx, "same", key)
				if errors.Is(err, snapshot.ErrExists) {
					// Lost the race: drop the key and use the winner's.
					if rerr := sn.Remove(ctx, key); rerr != nil {
						t.Errorf("remove %s: %v", key, rerr)
					}
				}
			}
			errs[i] = err
		})
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, snapshot.ErrExists):
			t.Errorf("goroutine %d: %v", i, err)
		}
	}
	if won != 1 {
		t.Errorf("%d commits of one name succeeded, want 1", won)
	}
	var names []string
	_ = sn.Walk(ctx, func(i snapshot.Info) error { names = append(names, i.Name); return nil })
	if want := []string{"base", "same"}; !slices.Equal(names, want) {
		t.Errorf("snapshots = %q, want %q", names, want)
	}
}

func testCleanup(t *testing.T, sn snapshot.Snapshotter) {
	c, ok := sn.(interface{ Cleanup(context.Context) error })
	if !ok {
		t.Skip("no Cleanup method")
	}
	ctx := t.Context()
	Modify(t, sn, "done", "", writeFiles(map[string]string{"f": "1"}))
	if _, err := sn.Prepare(ctx, "mine", "done"); err != nil {
		t.Fatal(err)
	}
	if err := c.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"done", "mine"} {
		if _, err := sn.Stat(ctx, k); err != nil {
			t.Errorf("Cleanup removed %s of a live process: %v", k, err)
		}
	}
	if tree := Merged(t, sn, "done"); tree["f"] == "" {
		t.Error("Cleanup damaged a committed snapshot")
	}
}

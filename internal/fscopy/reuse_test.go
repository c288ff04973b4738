package fscopy

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bldbuild/bld/internal/testutil"
)

// TestCopyReuse: with Options.Reuse (the upper dir an earlier run of the
// copy left), a copy leaves exactly the upper dir a fresh copy leaves,
// entry for entry (describeUpper: contents, modes, owners, mtimes, xattrs,
// hard links within the tree), and links from Reuse the files that are
// the same there and only those: not one whose contents changed at the
// same size and mtime, nor one whose mode changed, nor one with xattrs,
// nor one whose earlier copy shares its inode with another file (two
// files of the new tree would then be one), nor one reached through a
// symbolic link out of Reuse.
func TestCopyReuse(t *testing.T) {
	requireRoot(t)
	testutil.RequireOverlay(t)
	dir := t.TempDir()
	base, run := upperLowers(t, dir, "trusted.overlay.")
	lowers := []string{run, base}
	src := filepath.Join(dir, "src")
	upperSource(t, src)
	extra := []ent{
		file("new/same", "same"), file("new/content", "abc"), file("new/mode", "m"),
		file("new/dup1", "dup"), file("new/dup2", "dup"), file("new/trap/x", "secret"),
		file("empty/deep/k", "k"),
	}
	mkTree(t, src, extra...)
	copyInto := func(name, reuse string) string {
		t.Helper()
		upper, err := copyOverlay(t, filepath.Join(dir, name), lowers, false, func(root, upper string) error {
			return Copy(context.Background(), Source{Dir: src}, []string{"/"}, root, "/", Options{Upper: upper, Reuse: reuse})
		})
		if err != nil {
			t.Fatalf("copy %s: %v", name, err)
		}
		return upper
	}
	prev := copyInto("prev", "")

	// The sources change: same size and mtime, other contents; a mode.
	if err := os.WriteFile(filepath.Join(src, "new/content"), []byte("abd"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(src, "new/mode"), 0o600); err != nil {
		t.Fatal(err)
	}
	ts := []unix.Timespec{unix.NsecToTimespec(testTime.UnixNano()), unix.NsecToTimespec(testTime.UnixNano())}
	for _, p := range []string{"new/content", "new/mode", "new"} {
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(src, p), ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			t.Fatal(err)
		}
	}
	// The earlier tree: dup1 and dup2 become one inode; new/trap a link
	// to a directory outside with the same x as the copy would write.
	if err := os.Remove(filepath.Join(prev, "new/dup2")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(prev, "new/dup1"), filepath.Join(prev, "new/dup2")); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(dir, "outside")
	if err := os.Rename(filepath.Join(prev, "new/trap"), outside); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(prev, "new/trap")); err != nil {
		t.Fatal(err)
	}

	got := copyInto("again", prev)
	fresh := describeUpper(t, copyInto("fresh", ""))
	reused := describeUpper(t, got)
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range fresh {
			yield(k)
		}
		for k := range reused {
			if _, ok := fresh[k]; !ok {
				yield(k)
			}
		}
	}) {
		if fresh[k] != reused[k] {
			t.Errorf("%s:\n fresh copy:  %s\n with Reuse:  %s", k, fresh[k], reused[k])
		}
	}

	ino := func(p string) uint64 {
		t.Helper()
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			t.Fatal(err)
		}
		return st.Ino
	}
	for _, tc := range []struct {
		path   string
		from   string // where the inode must come from; "" for a new one
		linked bool
	}{
		{"new/same", prev, true},
		{"new/sub/deep/g", prev, true},
		{"empty/deep/k", prev, true},
		{"new/h1", prev, true}, // and new/sub/h0 its link in this tree, as in the source
		{"new/content", prev, false},
		{"new/mode", prev, false},
		{"new/f", prev, false}, // user.test xattr
		{"new/trap/x", outside, false},
	} {
		from := filepath.Join(tc.from, tc.path)
		if tc.from == outside {
			from = filepath.Join(outside, "x")
		}
		if same := ino(filepath.Join(got, tc.path)) == ino(from); same != tc.linked {
			t.Errorf("%s linked from %s: %v, want %v", tc.path, from, same, tc.linked)
		}
	}
	if ino(filepath.Join(got, "new/dup1")) == ino(filepath.Join(got, "new/dup2")) {
		t.Error("new/dup1 and new/dup2 are one inode: the earlier copy's shared inode was linked twice")
	}
	if ino(filepath.Join(got, "new/h1")) != ino(filepath.Join(got, "new/sub/h0")) {
		t.Error("new/h1 and new/sub/h0, hard links in the source, are not in the copy")
	}
}

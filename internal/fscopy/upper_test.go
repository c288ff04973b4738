package fscopy

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bldbuild/bld/internal/mount"
	"github.com/bldbuild/bld/internal/testutil"
)

// upperLowers makes the layers under the copies of TestCopyUpperFastPath:
// a base, and above it the upper dir of a RUN that deleted /gone (a
// whiteout) and remade /opq (an opaque dir). xattr is the prefix of
// overlay's own attributes: "trusted.overlay." or, with userxattr (bld
// rootless), "user.overlay.".
func upperLowers(t *testing.T, dir, xattr string) (base, run string) {
	t.Helper()
	base, run = filepath.Join(dir, "base"), filepath.Join(dir, "run")
	mkTree(t, base,
		file("etc/file", "old"),
		file("dir/a", "a"),
		file("dir/sub/x", "x"),
		file("gone/old", "old"),
		file("opq/hidden", "hidden"),
		symlink("usr", "dir"),
	)
	mkTree(t, run, file("opq/k", "k"))
	if err := unix.Mknod(filepath.Join(run, "gone"), unix.S_IFCHR, 0); err != nil {
		t.Fatal(err)
	}
	if err := unix.Lsetxattr(filepath.Join(run, "opq"), xattr+"opaque", []byte("y"), 0); err != nil {
		t.Fatal(err)
	}
	return base, run
}

// upperSource is what the copies read: new trees, a file replacing a
// lower file, directories merging into lower ones, a directory where a
// lower layer has a whiteout and one over an opaque dir; every kind of
// entry, hard links within the new tree and across, owners, special mode
// bits and xattrs.
func upperSource(t *testing.T, src string) {
	t.Helper()
	mkTree(t, src,
		dir("new").withMode(0o750).owned(1000, 1000),
		file("new/f", "f").withMode(fs.ModeSetuid|0o755).owned(1001, 1002),
		file("new/sub/deep/g", "g").withMode(0o600),
		file("new/sub/h0", "h"),
		hardlink("new/h1", "new/sub/h0"),
		symlink("new/link", "../etc/file"),
		file("etc/file", "new"),
		file("dir/b", "b").owned(5, 6),
		file("dir/sub/y", "y"),
		file("dir/hl", "hl"),
		hardlink("new/hl2", "dir/hl"),
		file("gone/fresh", "fresh"),
		file("opq/n/m", "m"),
		dir("empty").withMode(fs.ModeSticky|0o777),
	)
	if err := unix.Mkfifo(filepath.Join(src, "new/fifo"), 0o640); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"new/f", "new"} {
		if err := unix.Lsetxattr(filepath.Join(src, p), "user.test", []byte("v-"+p), 0); err != nil {
			t.Fatal(err)
		}
	}
	ts := []unix.Timespec{unix.NsecToTimespec(testTime.UnixNano()), unix.NsecToTimespec(testTime.UnixNano())}
	for _, p := range []string{"new/fifo", "new", "."} {
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(src, p), ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			t.Fatal(err)
		}
	}
}

// copyOverlay mounts an overlay of lowers (topmost first) with a new upper
// dir under dir, runs copy with its root and upper, and returns the upper.
func copyOverlay(t *testing.T, dir string, lowers []string, userxattr bool, copy func(root, upper string) error) (string, error) {
	t.Helper()
	upper, work := filepath.Join(dir, "upper"), filepath.Join(dir, "work")
	for _, d := range []string{upper, work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	opts := []string{"lowerdir=" + strings.Join(lowers, ":"), "upperdir=" + upper, "workdir=" + work}
	if userxattr {
		opts = append(opts, "userxattr")
	}
	m := []mount.Mount{{Type: "overlay", Source: "overlay", Options: opts}}
	err := mount.WithTempMountIn(context.Background(), dir, m, func(root string) error {
		return copy(root, upper)
	})
	return upper, err
}

// describeUpper describes every entry of an upper dir but its root, as
// exactly as a layer would record it: type, mode, owner, mtime, size,
// contents or target, device, every xattr (overlay's own included), and
// which entries are hard links of one another.
func describeUpper(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	inodes := map[uint64]string{}
	err := filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		// A directory the copy does not touch but where it adds an
		// entry (an existing one it copies into, copied up) has the time
		// of that: every other mtime is testTime or the epoch.
		mtime := fmt.Sprint(st.Mtim.Nano())
		if time.Unix(st.Mtim.Unix()).After(time.Now().Add(-time.Hour)) {
			mtime = "now"
		}
		s := fmt.Sprintf("type=%o mode=%04o owner=%d:%d mtime=%s size=%d rdev=%d", st.Mode&unix.S_IFMT, st.Mode&0o7777, st.Uid, st.Gid, mtime, st.Size, st.Rdev)
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			s += fmt.Sprintf(" data=%q", data)
			if first, ok := inodes[st.Ino]; ok {
				s += " link=" + first
			} else {
				inodes[st.Ino] = rel
			}
		case unix.S_IFLNK:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			s += " target=" + target
		}
		names := make([]byte, 4096)
		n, err := unix.Llistxattr(p, names)
		if err != nil {
			return err
		}
		xs := strings.Split(strings.TrimRight(string(names[:n]), "\x00"), "\x00")
		slices.Sort(xs)
		for _, x := range xs {
			if x == "" {
				continue
			}
			val := make([]byte, 256)
			m, err := unix.Lgetxattr(p, x, val)
			if err != nil {
				return err
			}
			s += fmt.Sprintf(" %s=%q", x, val[:m])
		}
		out[rel] = s
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCopyUpperFastPath: with Options.Upper, a copy into an overlay leaves
// exactly the upper dir that writing everything through the overlay
// leaves (new trees, a file replacing a lower file, directories merged
// into lower ones, a directory made where a lower layer deleted one, over
// an opaque dir; ownership, modes, mtimes, xattrs and hard links), and
// the merged tree shows the lower entries it must.
func TestCopyUpperFastPath(t *testing.T) {
	requireRoot(t)
	testutil.RequireOverlay(t)
	epoch := time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)
	owner := Owner{UID: 7, GID: 8}
	chmod, err := ParseChmod("go-w,u+x")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		sources []string
		dest    string
		opt     Options
	}{
		{"into root", []string{"/"}, "/", Options{}},
		{"new dest with parents", []string{"/"}, "/a/b/dest/", Options{}},
		{"new dir item", []string{"new"}, "/usr/new/", Options{}},
		{"several items", []string{"new", "dir", "gone"}, "/opq/", Options{}},
		{"chown chmod", []string{"/"}, "/", Options{Chown: &owner, Chmod: &chmod}},
		{"exclude", []string{"/"}, "/x/", Options{Exclude: []string{"new/sub", "!new/sub/h0"}}},
		{"parents", []string{"new/sub", "dir/sub", "gone"}, "/p/", Options{Parents: true}},
		{"parents into root", []string{"new/sub/deep", "dir/sub", "opq/n"}, "/", Options{Parents: true}},
		{"files", []string{"new/f", "new/sub/h0", "dir/hl"}, "/dir/sub/", Options{}},
	}
	for _, userxattr := range []bool{false, true} {
		xattr := "trusted.overlay."
		if userxattr {
			xattr = "user.overlay."
		}
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%s/userxattr=%v", tc.name, userxattr), func(t *testing.T) {
				dir := t.TempDir()
				base, run := upperLowers(t, dir, xattr)
				src := filepath.Join(dir, "src")
				upperSource(t, src)
				lowers := []string{run, base}
				opt := tc.opt
				opt.Epoch = &epoch
				do := func(fast bool) string {
					upper, err := copyOverlay(t, filepath.Join(dir, fmt.Sprint("fast-", fast)), lowers, userxattr, func(root, upper string) error {
						o := opt
						if fast {
							o.Upper = upper
						}
						return Copy(context.Background(), Source{Dir: src}, tc.sources, root, tc.dest, o)
					})
					if err != nil {
						t.Fatalf("copy (fast path %v): %v", fast, err)
					}
					return upper
				}
				slow, fast := describeUpper(t, do(false)), describeUpper(t, do(true))
				if len(slow) == 0 {
					t.Fatal("the copy wrote nothing")
				}
				keys := slices.Sorted(func(yield func(string) bool) {
					for k := range slow {
						if !yield(k) {
							return
						}
					}
					for k := range fast {
						if _, ok := slow[k]; !ok && !yield(k) {
							return
						}
					}
				})
				for _, k := range keys {
					if slow[k] != fast[k] {
						t.Errorf("%s:\n through the overlay: %s\n fast path:           %s", k, slow[k], fast[k])
					}
				}
			})
		}
	}

	// The merged tree after a fast copy into root: lower entries are
	// kept where directories merge, hidden where the lower layer deleted
	// or remade a directory, and a replaced file is the new one.
	t.Run("merged", func(t *testing.T) {
		dir := t.TempDir()
		base, run := upperLowers(t, dir, "trusted.overlay.")
		src := filepath.Join(dir, "src")
		upperSource(t, src)
		_, err := copyOverlay(t, filepath.Join(dir, "c"), []string{run, base}, false, func(root, upper string) error {
			if err := Copy(context.Background(), Source{Dir: src}, []string{"/"}, root, "/", Options{Upper: upper}); err != nil {
				return err
			}
			got := describe(t, root)
			for p, want := range map[string]string{
				"etc/file":     "f 0644 0:0 new",
				"dir/a":        "f 0644 0:0 a",
				"dir/b":        "f 0644 5:6 b",
				"dir/sub/x":    "f 0644 0:0 x",
				"dir/sub/y":    "f 0644 0:0 y",
				"gone/fresh":   "f 0644 0:0 fresh",
				"gone/old":     "",
				"opq/k":        "f 0644 0:0 k",
				"opq/n/m":      "f 0644 0:0 m",
				"opq/hidden":   "",
				"new/sub/h0":   "f 0644 0:0 h",
				"new/f":        "f 4755 1001:1002 f",
				"new/hl2":      "f 0644 0:0 hl",
				"new/link":     "l 0:0 -> ../etc/file",
				"new/sub/deep": "d 0755 0:0",
			} {
				if got[p] != want {
					t.Errorf("%s = %q, want %q", p, got[p], want)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	// The fast path is taken for directories the copy creates and only
	// for them: with an upper dir that is not the overlay's (empty), a
	// copy into existing directories still works (it never opens the
	// upper dir), and one that creates a directory fails to find it there.
	t.Run("routing", func(t *testing.T) {
		dir := t.TempDir()
		base, run := upperLowers(t, dir, "trusted.overlay.")
		src := filepath.Join(dir, "src")
		mkTree(t, src, file("dir/sub/z", "z"), file("etc/y", "y"), file("n/f", "f"))
		other := filepath.Join(dir, "other")
		if err := os.Mkdir(other, 0o755); err != nil {
			t.Fatal(err)
		}
		_, err := copyOverlay(t, filepath.Join(dir, "c"), []string{run, base}, false, func(root, _ string) error {
			for _, c := range [][2]string{{"dir", "/dir"}, {"etc", "/etc"}, {"n", "/dir/"}, {"etc/y", "/dir/sub/y"}} {
				if err := Copy(context.Background(), Source{Dir: src}, []string{c[0]}, root, c[1], Options{Upper: other}); err != nil {
					return fmt.Errorf("COPY %s %s, into existing directories, opened the upper dir: %w", c[0], c[1], err)
				}
			}
			for _, c := range [][2]string{{"n", "/n"}, {"/", "/dir/"}, {"n", "/gone"}} {
				err := Copy(context.Background(), Source{Dir: src}, []string{c[0]}, root, c[1], Options{Upper: other})
				if err == nil || !strings.Contains(err.Error(), "upper dir") {
					return fmt.Errorf("COPY %s %s: %v, want it to open the directory it creates in the upper dir", c[0], c[1], err)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if names := testutil.DirNames(t, other); len(names) != 0 {
			t.Errorf("unrelated upper dir holds %v", names)
		}
	})
}

package fscopy

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bldbuild/bld/internal/testutil"
)

// ent is one entry of a test tree.
type ent struct {
	path string
	data string // regular file contents
	link string // symlink target ("" for none)
	hard string // hard link to this path of the tree
	dir  bool
	mode fs.FileMode // 0: 0644 for files, 0755 for dirs
	uid  int
	gid  int
}

func file(p, data string) ent            { return ent{path: p, data: data} }
func dir(p string) ent                   { return ent{path: p, dir: true} }
func symlink(p, target string) ent       { return ent{path: p, link: target} }
func hardlink(p, target string) ent      { return ent{path: p, hard: target} }
func (e ent) withMode(m fs.FileMode) ent { e.mode = m; return e }
func (e ent) owned(uid, gid int) ent     { e.uid, e.gid = uid, gid; return e }

// testTime is the mtime of every entry made by mkTree.
var testTime = time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)

// mkTree creates the entries under root, parents first (missing parents
// are created 0755).
func mkTree(t testing.TB, root string, ents ...ent) {
	t.Helper()
	for _, e := range ents {
		p := filepath.Join(root, e.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case e.dir:
			err = os.Mkdir(p, 0o755)
		case e.link != "":
			err = os.Symlink(e.link, p)
		case e.hard != "":
			err = os.Link(filepath.Join(root, e.hard), p)
		default:
			err = os.WriteFile(p, []byte(e.data), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
		if e.hard != "" {
			continue
		}
		if e.uid != 0 || e.gid != 0 {
			if err := os.Lchown(p, e.uid, e.gid); err != nil {
				t.Fatal(err)
			}
		}
		if e.link == "" {
			m := e.mode
			if m == 0 {
				m = 0o644
				if e.dir {
					m = 0o755
				}
			}
			if err := os.Chmod(p, m); err != nil {
				t.Fatal(err)
			}
		}
	}
	// mtimes last, deepest first, so creating children does not move them.
	for i := len(ents) - 1; i >= 0; i-- {
		p := filepath.Join(root, ents[i].path)
		ts := []unix.Timespec{unix.NsecToTimespec(testTime.UnixNano()), unix.NsecToTimespec(testTime.UnixNano())}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			t.Fatal(err)
		}
	}
}

// describe returns a line per entry under root: "path type mode uid:gid
// contents-or-target", sorted, skipping the root itself.
func describe(t testing.TB, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		owner := fmt.Sprintf("%d:%d", st.Uid, st.Gid)
		mode := fmt.Sprintf("%04o", unixMode(fi.Mode()))
		switch {
		case fi.IsDir():
			out[rel] = "d " + mode + " " + owner
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			out[rel] = "l " + owner + " -> " + target
		case fi.Mode().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[rel] = "f " + mode + " " + owner + " " + string(data)
		default:
			out[rel] = "? " + fi.Mode().String()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkTree compares want (path -> description, "" meaning absent) with
// the tree under root.
func checkTree(t testing.TB, root string, want map[string]string) {
	t.Helper()
	got := describe(t, root)
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		w := want[k]
		g, ok := got[k]
		switch {
		case w == "" && ok:
			t.Errorf("%s = %q, want absent", k, g)
		case w != "" && !ok:
			t.Errorf("%s absent, want %q", k, w)
		case w != "" && g != w:
			t.Errorf("%s = %q, want %q", k, g, w)
		}
	}
	if t.Failed() {
		t.Logf("tree:\n%s", dump(got))
	}
}

func dump(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "  %s: %s\n", k, m[k])
	}
	return b.String()
}

// requireRoot is testutil.RequireRoot (chown, mknod), under the name the
// package's tests use.
var requireRoot = testutil.RequireRoot

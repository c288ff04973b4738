package snapshottest

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bldbuild/bld/internal/archive"
	"github.com/bldbuild/bld/snapshot"
	"golang.org/x/sys/unix"
)

func testApplyDiffRoundTrip(t *testing.T, sn snapshot.Snapshotter) {
	layer := BaseLayer(t)
	Unpack(t, sn, "base", "", layer)
	got := Entries(t, Diff(t, sn, "base", snapshot.DiffOptions{}))
	want := Entries(t, layer)
	slices.Sort(want)
	sorted := slices.Sorted(slices.Values(got))
	if !slices.Equal(sorted, want) {
		t.Errorf("Diff after Apply differs from the layer:\n got %s\nwant %s", strings.Join(sorted, "\n    "), strings.Join(want, "\n     "))
	}
	// The merged view shows the layer.
	tree := Merged(t, sn, "base")
	for _, p := range []string{"bin/su", "dev/null", "fifo", "hl2", "sym", "xattr", "tmp"} {
		if _, ok := tree[p]; !ok {
			t.Errorf("merged view lacks %s", p)
		}
	}
	if !strings.Contains(tree["hl2"], "hardlink=hl1") {
		t.Errorf("hl2 = %s, want a hard link to hl1", tree["hl2"])
	}
	if !strings.Contains(tree["bin/su"], "mode=104755") {
		t.Errorf("bin/su = %s, want setuid", tree["bin/su"])
	}
	if !strings.Contains(tree["tmp"], "mode=41777") {
		t.Errorf("tmp = %s, want sticky", tree["tmp"])
	}
}

// upperLayer deletes etc/a, makes d opaque with one new file, replaces a
// dir by a file and a file by a dir.
func upperLayer(t testing.TB) []byte {
	t1 := T0.Add(48 * time.Hour)
	return Layer(t,
		Entry{Name: "bin", Mode: 0o644, Body: "now a file", ModTime: t1},
		Entry{Name: "d/", Type: tar.TypeDir, Mode: 0o700, ModTime: t1},
		Entry{Name: "d/.wh..wh..opq"},
		Entry{Name: "d/z", Mode: 0o644, Body: "z", ModTime: t1},
		Entry{Name: "etc/", Type: tar.TypeDir, Mode: 0o755, ModTime: t1, Xattrs: map[string]string{"user.dir": "d"}},
		Entry{Name: "etc/.wh.a"},
		Entry{Name: "fifo/", Type: tar.TypeDir, Mode: 0o755, ModTime: t1},
		Entry{Name: "fifo/inside", Mode: 0o644, Body: "i", ModTime: t1},
		Entry{Name: "new/deeper/file", Mode: 0o644, Body: "implicit parents", ModTime: t1},
	)
}

func testApplyWhiteouts(t *testing.T, sn snapshot.Snapshotter) {
	Unpack(t, sn, "base", "", BaseLayer(t))
	Unpack(t, sn, "upper", "base", upperLayer(t))
	tree := Merged(t, sn, "upper")
	for _, p := range []string{"etc/a", "d/x", "d/y", "bin/su"} {
		if _, ok := tree[p]; ok {
			t.Errorf("%s survived a whiteout", p)
		}
	}
	for _, p := range []string{"etc/b", "d/z", "fifo/inside", "new/deeper/file", "bin"} {
		if _, ok := tree[p]; !ok {
			t.Errorf("%s missing", p)
		}
	}
	// Diff and unpack again: the same tree.
	diff := Diff(t, sn, "upper", snapshot.DiffOptions{})
	ents := Entries(t, diff)
	if !slices.ContainsFunc(ents, func(e string) bool { return strings.HasPrefix(e, "etc/.wh.a ") }) {
		t.Errorf("diff lacks the whiteout etc/.wh.a:\n%s", strings.Join(ents, "\n"))
	}
	Unpack(t, sn, "again", "base", diff)
	if d := DiffTrees(Merged(t, sn, "again"), tree); d != "" {
		t.Errorf("unpacking the diff gives another tree:\n%s", d)
	}
}

func testDeleteAndRecreate(t *testing.T, sn snapshot.Snapshotter) {
	Unpack(t, sn, "base", "", BaseLayer(t))
	Modify(t, sn, "changed", "base", func(root string) error {
		if err := os.Remove(filepath.Join(root, "etc/a")); err != nil {
			return err
		}
		if err := os.RemoveAll(filepath.Join(root, "d")); err != nil {
			return err
		}
		if err := os.Mkdir(filepath.Join(root, "d"), 0o755); err != nil {
			return err
		}
		if err := os.RemoveAll(filepath.Join(root, "deep")); err != nil {
			return err
		}
		return writeFiles(map[string]string{"d/new": "n", "top": "t"})(root)
	})
	tree := Merged(t, sn, "changed")
	for _, p := range []string{"etc/a", "d/x", "deep"} {
		if _, ok := tree[p]; ok {
			t.Errorf("%s still there", p)
		}
	}
	diff := Diff(t, sn, "changed", snapshot.DiffOptions{})
	ents := Entries(t, diff)
	for _, want := range []string{"etc/.wh.a ", ".wh.deep ", "d/new "} {
		if !slices.ContainsFunc(ents, func(e string) bool { return strings.HasPrefix(e, want) }) {
			t.Errorf("diff lacks %q:\n%s", want, strings.Join(ents, "\n"))
		}
	}
	if slices.ContainsFunc(ents, func(e string) bool { return strings.HasPrefix(e, "bin/su ") }) {
		t.Errorf("diff holds unchanged bin/su:\n%s", strings.Join(ents, "\n"))
	}
	Unpack(t, sn, "again", "base", diff)
	if d := DiffTrees(Merged(t, sn, "again"), tree); d != "" {
		t.Errorf("unpacking the diff gives another tree:\n%s", d)
	}
}

func testMetadataOnlyChange(t *testing.T, sn snapshot.Snapshotter) {
	Unpack(t, sn, "base", "", BaseLayer(t))
	Modify(t, sn, "meta", "base", func(root string) error {
		if err := os.Chmod(filepath.Join(root, "etc/a"), 0o600); err != nil {
			return err
		}
		return os.Lchown(filepath.Join(root, "etc/b"), 1000, 1001)
	})
	ents := Entries(t, Diff(t, sn, "meta", snapshot.DiffOptions{}))
	find := func(name string) string {
		for _, e := range ents {
			if strings.HasPrefix(e, name+" ") {
				return e
			}
		}
		return ""
	}
	if e := find("etc/a"); !strings.Contains(e, "mode=600") || !strings.Contains(e, "size=1") {
		t.Errorf("etc/a in diff = %q, want mode 600 and its content", e)
	}
	if e := find("etc/b"); !strings.Contains(e, "owner=1000:1001") {
		t.Errorf("etc/b in diff = %q, want owner 1000:1001", e)
	}
	for _, p := range []string{"d/x", "bin/su", "hl1", "xattr"} {
		if e := find(p); e != "" {
			t.Errorf("unchanged %s in diff: %s", p, e)
		}
	}
}

func testSpecialFiles(t *testing.T, sn snapshot.Snapshotter) {
	Unpack(t, sn, "base", "", BaseLayer(t))
	Modify(t, sn, "special", "base", func(root string) error {
		j := func(p string) string { return filepath.Join(root, p) }
		if err := writeFiles(map[string]string{"n/h1": "linked", "n/suid": "s", "n/x": "x"})(root); err != nil {
			return err
		}
		if err := os.Link(j("n/h1"), j("n/h2")); err != nil {
			return err
		}
		if err := os.Link(j("etc/b"), j("n/hb")); err != nil {
			return err
		}
		if err := os.Symlink("../etc/a", j("n/s")); err != nil {
			return err
		}
		if err := unix.Mkfifo(j("n/p"), 0o600); err != nil {
			return err
		}
		if err := unix.Chmod(j("n/suid"), 0o4755); err != nil {
			return err
		}
		return unix.Setxattr(j("n/x"), "user.k", []byte("v"), 0)
	})
	ents := Entries(t, Diff(t, sn, "special", snapshot.DiffOptions{}))
	for _, want := range []string{
		"n/h2 type=1 ", "link=n/h1",
		"n/hb type=1 ", "link=etc/b",
		"n/s type=2 ", "link=../etc/a",
		"n/p type=6 mode=600",
		"n/suid type=0 mode=4755",
		"n/x type=0", "xattrs=user.k=v",
	} {
		if !slices.ContainsFunc(ents, func(e string) bool { return strings.Contains(e, want) }) {
			t.Errorf("diff lacks %q:\n%s", want, strings.Join(ents, "\n"))
		}
	}
	if !slices.ContainsFunc(ents, func(e string) bool { return strings.HasPrefix(e, "etc/b type=0 ") }) {
		t.Errorf("diff lacks etc/b, the first path of the new hard link:\n%s", strings.Join(ents, "\n"))
	}
}

func testDeterministic(t *testing.T, sn snapshot.Snapshotter) {
	Unpack(t, sn, "one", "", BaseLayer(t))
	Unpack(t, sn, "two", "", BaseLayer(t))
	a := Diff(t, sn, "one", snapshot.DiffOptions{})
	if b := Diff(t, sn, "one", snapshot.DiffOptions{}); !bytes.Equal(a, b) {
		t.Error("two diffs of one snapshot differ")
	}
	if b := Diff(t, sn, "two", snapshot.DiffOptions{}); !bytes.Equal(a, b) {
		t.Error("diffs of two equal trees differ")
	}
	Unpack(t, sn, "up-one", "one", upperLayer(t))
	Unpack(t, sn, "up-two", "two", upperLayer(t))
	if !bytes.Equal(Diff(t, sn, "up-one", snapshot.DiffOptions{}), Diff(t, sn, "up-two", snapshot.DiffOptions{})) {
		t.Error("diffs of two equal upper layers differ")
	}
	err := archive.Walk(t.Context(), bytes.NewReader(a), func(hdr *tar.Header, _ io.Reader) error {
		if hdr.Uname != "" || hdr.Gname != "" || !hdr.AccessTime.IsZero() || !hdr.ChangeTime.IsZero() || hdr.ModTime.Nanosecond() != 0 {
			t.Errorf("%s: uname %q gname %q atime %v ctime %v mtime %v", hdr.Name, hdr.Uname, hdr.Gname, hdr.AccessTime, hdr.ChangeTime, hdr.ModTime)
		}
		return nil
	})
	if err != nil {
		t.Errorf("read layer: %v", err)
	}
}

func testEpoch(t *testing.T, sn snapshot.Snapshotter) {
	Unpack(t, sn, "base", "", BaseLayer(t))
	epoch := T0.Add(time.Minute)
	layer := Diff(t, sn, "base", snapshot.DiffOptions{Epoch: &epoch})
	n := 0
	err := archive.Walk(t.Context(), bytes.NewReader(layer), func(hdr *tar.Header, _ io.Reader) error {
		n++
		want := T0 // etc/b is an hour later, the rest at T0
		if hdr.Name == "etc/b" {
			want = epoch
		}
		if !hdr.ModTime.Equal(want) {
			t.Errorf("%s: mtime %v, want %v", hdr.Name, hdr.ModTime, want)
		}
		return nil
	})
	if err != nil {
		t.Errorf("read layer: %v", err)
	}
	if n == 0 {
		t.Error("empty layer")
	}
}

func testApplyReadsToEnd(t *testing.T, sn snapshot.Snapshotter) {
	ctx := t.Context()
	layer := append(Layer(t, Entry{Name: "f", Mode: 0o644, Body: "f"}), make([]byte, 10240)...)
	r := bytes.NewReader(layer)
	if _, err := sn.Prepare(ctx, "k", ""); err != nil {
		t.Fatal(err)
	}
	if err := sn.Apply(ctx, "k", r); err != nil {
		t.Fatal(err)
	}
	if r.Len() != 0 {
		t.Errorf("Apply left %d bytes unread", r.Len())
	}
}

// testRecreateEmptyDir: a directory removed and made again over an empty
// one in the parent hides nothing, so its layer has no opaque marker, from
// every implementation alike. (Overlay marked it opaque and wrote the
// marker, native did not: the same Dockerfile gave two digests.)
func testRecreateEmptyDir(t *testing.T, sn snapshot.Snapshotter) {
	Unpack(t, sn, "base", "", BaseLayer(t))
	Modify(t, sn, "changed", "base", func(root string) error {
		p := filepath.Join(root, "tmp")
		if err := os.RemoveAll(p); err != nil {
			return err
		}
		if err := os.Mkdir(p, 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(p, "new"), []byte("n"), 0o644)
	})
	ents := Entries(t, Diff(t, sn, "changed", snapshot.DiffOptions{}))
	if slices.ContainsFunc(ents, func(e string) bool { return strings.HasPrefix(e, "tmp/.wh..wh..opq") }) {
		t.Errorf("opaque marker for a dir that hid nothing:\n%s", strings.Join(ents, "\n"))
	}
	if !slices.ContainsFunc(ents, func(e string) bool { return strings.HasPrefix(e, "tmp/new ") }) {
		t.Errorf("diff lacks tmp/new:\n%s", strings.Join(ents, "\n"))
	}
}

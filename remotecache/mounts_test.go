package remotecache

import (
	"archive/tar"
	"bytes"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// makeMountDir fills a directory like a build tool's cache: nested files,
// modes, a symlink (absolute, pointing out: stored as is), a hardlink.
func makeMountDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "go-build")
	files := map[string]string{
		"README":           "cache\n",
		"00/aa-d":          strings.Repeat("object ", 1000),
		"00/ab-d":          "",
		"ff/zz-a":          "action",
		"deep/a/b/c/d.txt": "deep",
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, []byte(data), 0o644))
	}
	must(t, os.Chmod(filepath.Join(dir, "ff/zz-a"), 0o4750))
	must(t, os.Chmod(filepath.Join(dir, "deep/a"), 0o700))
	must(t, os.Symlink("/etc/passwd", filepath.Join(dir, "abs-link")))
	must(t, os.Symlink("00/aa-d", filepath.Join(dir, "rel-link")))
	must(t, os.Link(filepath.Join(dir, "00/aa-d"), filepath.Join(dir, "hard")))
	old := time.Unix(1700000000, 0)
	must(t, os.Chtimes(filepath.Join(dir, "README"), old, old))
	if os.Geteuid() == 0 {
		must(t, os.Lchown(filepath.Join(dir, "00/ab-d"), 1000, 50))
	}
	return dir
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

type entry struct {
	mode     fs.FileMode
	data     string
	mtime    int64
	uid, gid uint32
}

// tree describes dir: every entry's mode, content or link target, owner and
// (for files) mtime; and which names share an inode.
func tree(t *testing.T, dir string) (map[string]entry, map[string]string) {
	t.Helper()
	out := map[string]entry{}
	inodes := map[uint64]string{}
	links := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		e := entry{mode: fi.Mode(), uid: st.Uid, gid: st.Gid}
		switch {
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			e.data, e.mtime = string(b), fi.ModTime().Unix()
			if first, ok := inodes[st.Ino]; ok {
				links[rel] = first
			} else {
				inodes[st.Ino] = rel
			}
		case fi.Mode()&fs.ModeSymlink != 0:
			e.data, _ = os.Readlink(p)
		}
		if rel != "." {
			out[rel] = e
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out, links
}

func TestPackUnpackMount(t *testing.T) {
	src := makeMountDir(t)
	l, err := PackMount(src)
	if err != nil {
		t.Fatal(err)
	}
	diffID, err := l.DiffID()
	if err != nil {
		t.Fatal(err)
	}
	digest, err := l.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if mt, _ := l.MediaType(); mt != types.OCILayerZStd {
		t.Errorf("MediaType = %s, want %s", mt, types.OCILayerZStd)
	}
	// Deterministic: a second pack of the same directory has the same
	// digests, and the streamed bytes match them.
	l2, _ := PackMount(src)
	if d2, _ := l2.Digest(); d2 != digest {
		t.Errorf("second PackMount digest %s, want %s", d2, digest)
	}
	rc, _ := l2.Compressed()
	if h, _, err := v1.SHA256(rc); err != nil || h != digest {
		t.Errorf("Compressed() hashes to %s (%v), want %s", h, err, digest)
	}
	rc, _ = l2.Uncompressed()
	if h, _, err := v1.SHA256(rc); err != nil || h != diffID {
		t.Errorf("Uncompressed() hashes to %s (%v), want %s", h, err, diffID)
	}

	dst := filepath.Join(t.TempDir(), "restored")
	if err := UnpackMount(t.Context(), l, dst); err != nil {
		t.Fatal(err)
	}
	want, wantLinks := tree(t, src)
	got, gotLinks := tree(t, dst)
	for name, w := range want {
		g, ok := got[name]
		switch {
		case !ok:
			t.Errorf("%s not restored", name)
		case os.Geteuid() != 0 && g.uid != w.uid:
			// owners are restored by root only
		case g != w:
			t.Errorf("%s restored as %+v, want %+v", name, g, w)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s restored but not in the source", name)
		}
	}
	if len(gotLinks) != 1 || len(wantLinks) != 1 || gotLinks["hard"] != wantLinks["hard"] {
		t.Errorf("hardlinks restored %v, want %v", gotLinks, wantLinks)
	}

	// A changed file changes the digest; unpacking over an existing
	// directory replaces entries.
	must(t, os.WriteFile(filepath.Join(src, "ff/zz-a"), []byte("changed"), 0o644))
	l3, _ := PackMount(src)
	if d3, _ := l3.DiffID(); d3 == diffID {
		t.Error("diffID did not change with the content")
	}
	if err := UnpackMount(t.Context(), l3, dst); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "ff/zz-a")); string(b) != "changed" {
		t.Errorf("unpack over existing dir: ff/zz-a = %q", b)
	}

	if _, err := PackMount(filepath.Join(src, "README")); err == nil {
		t.Error("PackMount of a file succeeded")
	}
}

// tarLayer makes an uncompressed layer of the given entries.
func tarLayer(t *testing.T, hdrs ...*tar.Header) v1.Layer {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, h := range hdrs {
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len("payload"))
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		must(t, tw.WriteHeader(h))
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write([]byte("payload")); err != nil {
				t.Fatal(err)
			}
		}
	}
	must(t, tw.Close())
	return static.NewLayer(b.Bytes(), types.OCIUncompressedLayer)
}

func regFile(name string) *tar.Header { return &tar.Header{Name: name, Typeflag: tar.TypeReg} }
func symlink(name, target string) *tar.Header {
	return &tar.Header{Name: name, Linkname: target, Typeflag: tar.TypeSymlink}
}
func hardlink(name, target string) *tar.Header {
	return &tar.Header{Name: name, Linkname: target, Typeflag: tar.TypeLink}
}

// TestUnpackMountBreakout: entries that try to write outside the directory
// are refused naming the entry (entry set) or confined inside it (entry
// ""), and nothing may appear outside. The full catalogue is
// internal/archive's TestBreakouts, run with UnpackMount's options.
func TestUnpackMountBreakout(t *testing.T) {
	tests := []struct {
		name  string
		hdrs  []*tar.Header
		entry string // named in the error
	}{
		{"dotdot", []*tar.Header{regFile("../evil")}, "../evil"},
		{"dotdot inside", []*tar.Header{regFile("a/../../evil")}, "a/../../evil"},
		{"absolute", []*tar.Header{regFile("/evil")}, ""},
		{"dir dotdot", []*tar.Header{{Name: "../evil/", Typeflag: tar.TypeDir, Mode: 0o755}}, "../evil/"},
		{"through relative symlink", []*tar.Header{symlink("up", ".."), regFile("up/evil")}, ""},
		{"through absolute symlink", []*tar.Header{symlink("abs", "OUTSIDE"), regFile("abs/evil")}, ""},
		{"through symlink chain", []*tar.Header{symlink("a", "b"), symlink("b", "../outside"), regFile("a/evil")}, ""},
		{"dir through symlink", []*tar.Header{symlink("up", ".."), {Name: "up/evil/", Typeflag: tar.TypeDir, Mode: 0o755}}, ""},
		{"hardlink dotdot", []*tar.Header{hardlink("hl", "../outside/secret")}, "hl"},
		{"hardlink absolute", []*tar.Header{hardlink("hl", "/etc/passwd")}, "hl"},
		{"hardlink through symlink", []*tar.Header{symlink("up", ".."), hardlink("hl", "up/outside/secret")}, "hl"},
		{"device skipped", []*tar.Header{{Name: "null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			outside := filepath.Join(base, "outside")
			must(t, os.Mkdir(outside, 0o755))
			must(t, os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o600))
			for _, h := range tc.hdrs {
				if h.Linkname == "OUTSIDE" {
					h.Linkname = outside
				}
			}
			dir := filepath.Join(base, "mount")
			err := UnpackMount(t.Context(), tarLayer(t, tc.hdrs...), dir)
			switch {
			case tc.entry == "" && err != nil:
				t.Errorf("UnpackMount = %v, want the entry confined", err)
			case tc.entry != "" && err == nil:
				t.Fatal("UnpackMount succeeded")
			case tc.entry != "" && !strings.Contains(err.Error(), `entry "`+tc.entry+`"`):
				t.Errorf("error %q does not name entry %q", err, tc.entry)
			}
			for _, p := range []string{filepath.Join(base, "evil"), filepath.Join(outside, "evil")} {
				if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("%s exists after the breakout attempt", p)
				}
			}
			ents, _ := os.ReadDir(outside)
			if len(ents) != 1 {
				t.Errorf("outside has %d entries, want 1", len(ents))
			}
			if fi, err := os.Stat(filepath.Join(outside, "secret")); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("outside/secret changed: %v %v", fi, err)
			}
		})
	}

	// Replacing a symlink by a file writes the file, not through the link.
	base := t.TempDir()
	victim := filepath.Join(base, "victim")
	must(t, os.WriteFile(victim, []byte("keep"), 0o644))
	dir := filepath.Join(base, "mount")
	l := tarLayer(t, symlink("x", victim), regFile("x"))
	if err := UnpackMount(t.Context(), l, dir); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep" {
		t.Errorf("victim written through a symlink: %q", b)
	}
	if fi, err := os.Lstat(filepath.Join(dir, "x")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("x = %v, %v; want a regular file", fi, err)
	}
}

func TestExportMounts(t *testing.T) {
	ctx := t.Context()
	host := newRegistry(t)
	f := newFixture(t)
	src := makeMountDir(t)
	big := t.TempDir()
	must(t, os.WriteFile(filepath.Join(big, "blob"), bytes.Repeat([]byte{1}, 100<<10), 0o644))
	var notes []string
	e := Export{
		Records: f.records,
		Layer:   f.layer,
		Mounts:  []MountDir{{ID: "go-build", Dir: src}, {ID: "big", Dir: big}, {ID: "gone", Dir: filepath.Join(big, "nope")}},
		Note:    func(s string) { notes = append(notes, s) },
	}
	c := &counter{rt: http.DefaultTransport}
	for _, spec := range []string{
		"type=registry,ref=" + host + "/app/cache:m,cache-mounts=true,cache-mount-max=64K",
		"type=local,dest=" + filepath.Join(t.TempDir(), "c") + ",cache-mounts=true,cache-mount-max=64K",
	} {
		t.Run(spec[:strings.Index(spec, ",")], func(t *testing.T) {
			notes = nil
			s, err := ParseExportSpec(spec)
			if err != nil {
				t.Fatal(err)
			}
			must(t, s.Write(ctx, e, nameOpts, remote.WithTransport(c)))
			if !slices.Contains(notes, "cache mount big: 100.0 KiB is over cache-mount-max (64.0 KiB), not exported") {
				t.Errorf("notes = %q, want one about cache mount big", notes)
			}
			from := strings.Replace(strings.Replace(spec, "dest=", "src=", 1), ",cache-mounts=true,cache-mount-max=64K", "", 1)
			r, err := Import(ctx, from, nameOpts, remote.WithTransport(c))
			if err != nil {
				t.Fatal(err)
			}
			checkRecords(t, r, f.records)
			ms := r.Mounts()
			if len(ms) != 1 || ms[0].ID != "go-build" {
				t.Fatalf("Mounts() = %v, want go-build only", ms)
			}
			dst := t.TempDir()
			must(t, UnpackMount(ctx, ms[0].Layer, dst))
			want, _ := tree(t, src)
			got, _ := tree(t, dst)
			if len(got) != len(want) || got["00/aa-d"] != want["00/aa-d"] {
				t.Errorf("restored mount has %d entries, want %d", len(got), len(want))
			}

			// Unchanged: nothing is written.
			c.take()
			must(t, s.Write(ctx, e, nameOpts, remote.WithTransport(c)))
			if w := writes(c.take()); len(w) != 0 {
				t.Errorf("export of unchanged mounts wrote %v", w)
			}
			// Changed: the mount blob (and config, manifest) go up.
			must(t, os.WriteFile(filepath.Join(src, "new"), []byte("new object"), 0o644))
			defer os.Remove(filepath.Join(src, "new"))
			must(t, s.Write(ctx, e, nameOpts, remote.WithTransport(c)))
			if s.Type == "registry" {
				if up := uploaded(c.take()); len(up) != 1 {
					t.Errorf("export of a changed mount uploaded %v, want the mount blob", up)
				}
			}
			r, err = Import(ctx, from, nameOpts)
			if err != nil {
				t.Fatal(err)
			}
			dst = t.TempDir()
			must(t, UnpackMount(ctx, r.Mounts()[0].Layer, dst))
			if b, err := os.ReadFile(filepath.Join(dst, "new")); err != nil || string(b) != "new object" {
				t.Errorf("changed mount restored new = %q, %v", b, err)
			}
		})
	}
}

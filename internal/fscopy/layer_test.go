package fscopy

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bldbuild/bld/internal/archive"
)

// TestLayerMatchesCopy: the tar Layer writes, extracted over the parent,
// gives the tree Copy gives, entry for entry: type, mode, owner, contents,
// link targets, hard links, xattrs and mtimes (but for the directories
// that existed, whose mtimes Copy moves by writing into them). Needs root
// (owners, mknod).
func TestLayerMatchesCopy(t *testing.T) {
	requireRoot(t)
	src := t.TempDir()
	mkTree(t, src,
		dir("app"),
		file("app/main.go", "package main"),
		file("app/run.sh", "#!/bin/sh").withMode(0o755),
		file("app/suid", "s").withMode(0o4755),
		file("app/.hidden", "h").withMode(0o600),
		file("app/tmp.tmp", "excluded"),
		dir("app/sub").withMode(0o700).owned(5, 6),
		file("app/sub/x", "x").owned(7, 8),
		dir("app/sub/empty"),
		symlink("app/link", "main.go"),
		symlink("app/abs", "/etc/passwd"),
		hardlink("app/hard", "app/main.go"),
		file("single.txt", "one file"),
		dir("node_modules"),
		file("node_modules/dep.js", "ignored"),
	)
	if err := unix.Mkfifo(filepath.Join(src, "app/fifo"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(filepath.Join(src, "app/main.go"), "user.bld-test", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	parent := []ent{
		dir("usr").withMode(0o755),
		dir("usr/local").withMode(0o750).owned(3, 4),
		dir("etc"),
		file("etc/passwd", "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/app:/bin/sh\n"),
		file("blocker", "a file"),
		symlink("lnk", "usr/local"),
	}
	epoch := time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)
	octal := OctalChmod(0o640)
	for _, tc := range []struct {
		name    string
		sources []string
		dest    string
		opt     Options
		noLayer bool
		stage   bool // from another stage's root: owners kept, no .dockerignore
	}{
		{name: "dir into new dirs", sources: []string{"app"}, dest: "/data/app/"},
		{name: "dir under existing dirs", sources: []string{"app"}, dest: "/usr/local/app"},
		{name: "dir through a symlink", sources: []string{"app"}, dest: "/lnk/app"},
		{name: "dir contents of root", sources: []string{"."}, dest: "/ctx"},
		{name: "file into new dirs", sources: []string{"single.txt"}, dest: "/a/b/c.txt"},
		{name: "file into existing dir", sources: []string{"single.txt"}, dest: "/usr/local/"},
		{name: "wildcard matching one", sources: []string{"sing*"}, dest: "/w/"},
		{name: "chown and chmod", sources: []string{"app"}, dest: "/o/", opt: Options{Chown: &Owner{UID: 1000, GID: 1001}, Chmod: octal}},
		{name: "exclude", sources: []string{"app"}, dest: "/e/", opt: Options{Exclude: []string{"*.tmp", "sub"}}},
		{name: "epoch", sources: []string{"app"}, dest: "/ep/", opt: Options{Epoch: &epoch}},
		{name: "from a stage", sources: []string{"/app"}, dest: "/usr/local/bin/", stage: true},
		{name: "dest exists", sources: []string{"app"}, dest: "/usr/local", noLayer: true},
		{name: "file replaced", sources: []string{"single.txt"}, dest: "/etc/passwd", noLayer: true},
		{name: "under a file", sources: []string{"single.txt"}, dest: "/blocker/x", noLayer: true},
		{name: "two sources", sources: []string{"single.txt", "app"}, dest: "/two/", noLayer: true},
		{name: "ADD", sources: []string{"single.txt"}, dest: "/add/", opt: Options{Add: true}, noLayer: true},
		{name: "parents", sources: []string{"app/sub"}, dest: "/p/", opt: Options{Parents: true}, noLayer: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			source := Source{Dir: src, IsContext: true, Exclude: func(rel string) bool { return rel == "node_modules" || filepath.Dir(rel) == "node_modules" }}
			if tc.stage {
				source = Source{Dir: src}
			}
			copied, layered := t.TempDir(), t.TempDir()
			mkTree(t, copied, parent...)
			mkTree(t, layered, parent...)
			err := compareLayer(t, source, tc.sources, copied, layered, tc.dest, tc.opt)
			if tc.noLayer != errors.Is(err, ErrNoLayer) || (err != nil && !errors.Is(err, ErrNoLayer)) {
				t.Fatalf("Layer: %v (want ErrNoLayer: %v)", err, tc.noLayer)
			}
		})
	}
}

// compareLayer runs Layer against layered and Copy into copied, two equal
// trees, and reports every entry where the layer, extracted over layered,
// differs from what Copy gave (but the mtimes of directories that were
// there). ErrNoLayer is returned, with nothing written; so is Layer's or
// Copy's error, if they agree there is one.
func compareLayer(t *testing.T, source Source, sources []string, copied, layered, dest string, opt Options) error {
	t.Helper()
	before := describe(t, layered)
	var tarball bytes.Buffer
	err := Layer(t.Context(), source, sources, layered, dest, opt, &tarball)
	if errors.Is(err, ErrNoLayer) {
		if tarball.Len() != 0 {
			t.Errorf("Layer refused the copy after writing %d bytes", tarball.Len())
		}
		return err
	}
	cerr := Copy(t.Context(), source, sources, copied, dest, opt)
	if (err == nil) != (cerr == nil) {
		t.Fatalf("Layer: %v; Copy: %v", err, cerr)
	}
	if err != nil {
		return err
	}
	// As a layer is unpacked: owners and xattrs as the tar says.
	if err := archive.Extract(t.Context(), &tarball, layered, archive.Options{Owners: true, Xattrs: archive.XattrsSet}); err != nil {
		t.Fatalf("extract the layer: %v", err)
	}
	want, got := describe(t, copied), describe(t, layered)
	for _, k := range union(want, got) {
		w, g := want[k], got[k]
		if _, existed := before[k]; !existed || !isDirDesc(w) {
			w, g = w+" "+extra(t, copied, k), g+" "+extra(t, layered, k)
		}
		if w != g {
			t.Errorf("%s: layer gives %q, Copy gives %q", k, g, w)
		}
	}
	return nil
}

// FuzzLayer: for a source tree unpacked from arbitrary bytes (a tar, as
// FuzzExtract's), the layer Layer writes gives what Copy gives, or Layer
// refuses before writing, or both fail. Needs root (owners).
func FuzzLayer(f *testing.F) {
	requireRoot(f)
	for _, data := range fuzzSeeds(f) {
		f.Add(data, "/out/", true)
	}
	f.Add(mkTar(f, appTar...), "/usr/x", false)
	f.Fuzz(func(t *testing.T, data []byte, dest string, context bool) {
		if !strings.HasPrefix(dest, "/") || strings.ContainsAny(dest, "\x00") || len(dest) > 64 {
			return
		}
		src := t.TempDir()
		if err := os.Mkdir(filepath.Join(src, "s"), 0o755); err != nil {
			t.Fatal(err)
		}
		rc, ok := archive.OpenTar(bytes.NewReader(data))
		if !ok {
			return
		}
		defer rc.Close()
		opts := archive.Options{Owners: true, Xattrs: archive.XattrsBestEffort, MaxBytes: 1 << 20}
		if archive.Extract(t.Context(), rc, filepath.Join(src, "s"), opts) != nil {
			return
		}
		copied, layered := t.TempDir(), t.TempDir()
		parent := []ent{dir("usr"), file("etc/passwd", "root:x:0:0::/root:/bin/sh\n"), symlink("lnk", "usr")}
		mkTree(t, copied, parent...)
		mkTree(t, layered, parent...)
		_ = compareLayer(t, Source{Dir: src, IsContext: context}, []string{"s"}, copied, layered, dest, Options{})
	})
}

func isDirDesc(d string) bool { return len(d) > 0 && d[0] == 'd' }

func union(a, b map[string]string) []string {
	var keys []string
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// extra describes what describe leaves out: the mtime (to the second, as
// a tar holds it; a directory made "now" may be a second off), the link
// count, the xattrs and a device's type.
func extra(t *testing.T, root, rel string) string {
	p := filepath.Join(root, rel)
	fi, err := os.Lstat(p)
	if err != nil {
		return "absent"
	}
	st := fi.Sys().(*syscall.Stat_t)
	xs, err := archive.Lxattrs(p)
	if err != nil {
		t.Fatal(err)
	}
	mtime := fmt.Sprint(st.Mtim.Sec)
	if fi.IsDir() && time.Since(time.Unix(st.Mtim.Sec, 0)) < time.Minute {
		mtime = "now"
	}
	return fmt.Sprintf("mtime=%s nlink=%d xattrs=%v type=%v", mtime, st.Nlink, xs, fi.Mode()&fs.ModeType)
}

// failingWriter fails every write after the first n bytes.
type failingWriter struct{ n int }

var errWriteRefused = errors.New("write refused")

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		return 0, errWriteRefused
	}
	w.n -= len(p)
	return len(p), nil
}

// TestLayerWriteFails: a layer whose writer fails part way (a full disk
// under the compressor) returns that error, not the walk's cancellation,
// with every source file it opened closed again and no goroutine left.
func TestLayerWriteFails(t *testing.T) {
	src := t.TempDir()
	var ents []ent
	ents = append(ents, dir("data"))
	for i := range 2000 {
		ents = append(ents, file(fmt.Sprintf("data/f%04d", i), strings.Repeat("x", i)))
	}
	ents = append(ents, file("data/big", strings.Repeat("y", 1<<20)))
	mkTree(t, src, ents...)
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	before, goroutines := fds(), runtime.NumGoroutine()
	for _, n := range []int{0, 4 << 10, 512 << 10, 1 << 20, 3 << 20} {
		err := Layer(t.Context(), Source{Dir: src, IsContext: true}, []string{"data"}, t.TempDir(), "/data", Options{}, &failingWriter{n: n})
		if !errors.Is(err, errWriteRefused) {
			t.Errorf("Layer with a writer failing after %d bytes = %v, want the write's error", n, err)
		}
	}
	if after := fds(); after != before {
		t.Errorf("open descriptors: %d before, %d after", before, after)
	}
	for i := 0; runtime.NumGoroutine() > goroutines && i < 100; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > goroutines {
		t.Errorf("goroutines: %d before, %d after", goroutines, g)
	}
}

package snapshot

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bldbuild/bld/internal/testutil"
)

// hdr is a tar entry for the tests here (snapshottest imports this
// package, so its helpers cannot be used).
type hdr struct {
	name string
	typ  byte
	link string
	body string
}

func tarOf(t testing.TB, hs ...hdr) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hs {
		th := &tar.Header{Name: h.name, Typeflag: h.typ, Linkname: h.link, Mode: 0o644, Format: tar.FormatPAX}
		if th.Typeflag == 0 {
			th.Typeflag = tar.TypeReg
		}
		if th.Typeflag == tar.TypeReg {
			th.Size = int64(len(h.body))
		}
		if th.Typeflag == tar.TypeDir {
			th.Mode = 0o755
		}
		if err := tw.WriteHeader(th); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(h.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// breakouts are layers that try to write outside the root. Each is
// either confined or refused with an error naming the entry (errName).
var breakouts = []struct {
	name    string
	entries []hdr
	errName string // the entry an error must name; "" if it must succeed
	inside  string // a path that must exist inside the root afterwards
}{
	{"dotdot", []hdr{{name: "../../x", body: "x"}}, "../../x", ""},
	{"dotdot-inner", []hdr{{name: "a/../../x", body: "x"}}, "a/../../x", ""},
	{"absolute", []hdr{{name: "/abs", body: "x"}}, "", "abs"},
	{"symlink-to-root", []hdr{{name: "a", typ: tar.TypeSymlink, link: "/"}, {name: "a/etc/x", body: "x"}}, "", "etc/x"},
	{"symlink-dotdot", []hdr{{name: "b", typ: tar.TypeSymlink, link: "../.."}, {name: "b/y", body: "y"}}, "", "y"},
	{"symlink-to-canary", []hdr{{name: "c", typ: tar.TypeSymlink, link: "../canary"}, {name: "c/file", body: "pwned"}}, "", "canary/file"},
	{"symlink-chain", []hdr{
		{name: "s1", typ: tar.TypeSymlink, link: "s2/.."},
		{name: "s2", typ: tar.TypeSymlink, link: "../../../canary"},
		{name: "s1/evil", body: "x"},
	}, "", ""},
	{"replace-symlink-file", []hdr{{name: "f", typ: tar.TypeSymlink, link: "../canary/file"}, {name: "f", body: "overwritten"}}, "", "f"},
	{"dir-then-symlink", []hdr{{name: "d/", typ: tar.TypeDir}, {name: "d", typ: tar.TypeSymlink, link: "/../canary"}, {name: "d/z", body: "z"}}, "", "canary/z"},
	{"hardlink-etc-passwd", []hdr{{name: "h", typ: tar.TypeLink, link: "/etc/passwd"}}, "h", ""},
	{"hardlink-outside", []hdr{{name: "h", typ: tar.TypeLink, link: "../canary/file"}}, "h", ""},
	{"hardlink-through-symlink", []hdr{{name: "l", typ: tar.TypeSymlink, link: "../canary"}, {name: "h", typ: tar.TypeLink, link: "l/file"}}, "h", ""},
	{"hardlink-to-symlink", []hdr{{name: "l", typ: tar.TypeSymlink, link: "../canary/file"}, {name: "h", typ: tar.TypeLink, link: "l"}}, "", "h"},
	{"whiteout-dotdot", []hdr{{name: "../.wh.canary"}}, "../.wh.canary", ""},
	{"whiteout-of-dotdot", []hdr{{name: "x/.wh.."}}, "x/.wh..", ""},
	{"whiteout-through-symlink", []hdr{{name: "w", typ: tar.TypeSymlink, link: "../canary"}, {name: "w/.wh.file"}}, "", ""},
	{"opaque-through-symlink", []hdr{{name: "o", typ: tar.TypeSymlink, link: "../../canary"}, {name: "o/.wh..wh..opq"}}, "", ""},
	{"opaque-root-via-symlink", []hdr{{name: "keep", body: "k"}, {name: "r", typ: tar.TypeSymlink, link: "/"}, {name: "r/.wh..wh..opq"}}, "", ""},
	{"device-through-symlink", []hdr{{name: "v", typ: tar.TypeSymlink, link: "../canary"}, {name: "v/null", typ: tar.TypeChar}}, "", "canary/null"},
	// Opening a fifo as a directory must fail, not block.
	{"fifo-as-dir", []hdr{{name: "p", typ: tar.TypeFifo}, {name: "p/x", body: "x"}}, "p/x", ""},
	{"fifo-link-target", []hdr{{name: "p", typ: tar.TypeFifo}, {name: "q", typ: tar.TypeLink, link: "p/x"}}, "q", ""},
	{"symlink-expansion", []hdr{{name: "x", typ: tar.TypeSymlink, link: "x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x"}, {name: "x/f", body: "f"}}, "x/f", ""},
	{"root-entry-file", []hdr{{name: ".", body: "x"}}, ".", ""},
}

// sandbox makes parent/{canary,lower,root} and returns a function that
// reports any change outside root (including to the host's /etc/passwd).
func sandbox(t testing.TB) (root string, lowers []string, check func() string) {
	t.Helper()
	parent := scratchDir(t)
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(parent, "canary/sub"), 0o755))
	must(os.WriteFile(filepath.Join(parent, "canary/file"), []byte("canary"), 0o644))
	must(os.MkdirAll(filepath.Join(parent, "lower/d/inner"), 0o750))
	must(os.WriteFile(filepath.Join(parent, "lower/d/f"), []byte("lower"), 0o644))
	must(os.Symlink("../../canary", filepath.Join(parent, "lower/esc")))
	root = filepath.Join(parent, "root")
	must(os.Mkdir(root, 0o755))
	outside := func() string {
		var b strings.Builder
		err := filepath.WalkDir(parent, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if p == root || strings.HasPrefix(p, root+"/") {
				return nil // the root's own attributes are the layer's to set
			}
			var st unix.Stat_t
			if err := unix.Lstat(p, &st); err != nil {
				return err
			}
			fmt.Fprintf(&b, "%s %o %d:%d %d %d\n", p, st.Mode, st.Uid, st.Gid, st.Size, st.Nlink)
			if d.Type().IsRegular() {
				data, _ := os.ReadFile(p)
				fmt.Fprintf(&b, "  %x\n", sha256.Sum256(data))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var st unix.Stat_t
		if err := unix.Stat("/etc/passwd", &st); err == nil {
			data, _ := os.ReadFile("/etc/passwd")
			sum := sha256.Sum256(data)
			fmt.Fprintf(&b, "/etc/passwd %o %d %d %d %s\n", st.Mode, st.Nlink, st.Size, st.Mtim.Nano(), hex.EncodeToString(sum[:]))
		}
		return b.String()
	}
	before := outside()
	return root, []string{filepath.Join(parent, "lower")}, func() string {
		if after := outside(); after != before {
			return fmt.Sprintf("outside the root changed:\nbefore:\n%s\nafter:\n%s", before, after)
		}
		return ""
	}
}

// scratchDir returns a new directory, on tmpfs where /dev/shm is one:
// fuzzing makes and removes thousands of small trees, which is slow on
// disks mounted with discard.
func scratchDir(t testing.TB) string {
	t.Helper()
	var st unix.Statfs_t
	if unix.Statfs("/dev/shm", &st) != nil || st.Type != unix.TMPFS_MAGIC {
		return t.TempDir()
	}
	dir, err := os.MkdirTemp("/dev/shm", "bld-snapshot-test-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func TestApplyBreakouts(t *testing.T) {
	testutil.RequireRoot(t) // device nodes and overlay xattrs
	for _, mode := range []applyMode{applyNative, applyOverlay} {
		for _, tc := range breakouts {
			t.Run(fmt.Sprintf("%d/%s", mode, tc.name), func(t *testing.T) {
				root, lowers, check := sandbox(t)
				if mode == applyNative {
					lowers = nil
				}
				err := apply(t.Context(), bytes.NewReader(tarOf(t, tc.entries...)), root, mode, lowers)
				if tc.errName == "" && err != nil {
					t.Errorf("apply = %v, want it confined without error", err)
				}
				if tc.errName != "" && (err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", tc.errName))) {
					t.Errorf("apply = %v, want an error naming %q", err, tc.errName)
				}
				if tc.inside != "" {
					if _, err := os.Lstat(filepath.Join(root, tc.inside)); err != nil {
						t.Errorf("confined entry missing: %v", err)
					}
				}
				if msg := check(); msg != "" {
					t.Error(msg)
				}
			})
		}
	}
}

// TestApplyOverlayImplicitDirs: a dir the layer does not list but a lower
// has is created in the upper dir like the lower's, and whiteouts under a
// dir no layer has are dropped.
func TestApplyOverlayImplicitDirs(t *testing.T) {
	testutil.RequireRoot(t) // overlay whiteouts
	root, lowers, check := sandbox(t)
	layer := tarOf(t, hdr{name: "d/inner/new", body: "n"}, hdr{name: "d/.wh.f"}, hdr{name: "nowhere/.wh.x"}, hdr{name: "esc/.wh.file"})
	if err := apply(t.Context(), bytes.NewReader(layer), root, applyOverlay, lowers); err != nil {
		t.Fatal(err)
	}
	var st, lst unix.Stat_t
	if err := unix.Lstat(filepath.Join(root, "d"), &st); err != nil {
		t.Fatal(err)
	}
	if err := unix.Lstat(filepath.Join(lowers[0], "d"), &lst); err != nil {
		t.Fatal(err)
	}
	if st.Mode != lst.Mode || st.Mtim != lst.Mtim {
		t.Errorf("implicit dir d: mode %o mtime %v, lower has %o %v", st.Mode, st.Mtim, lst.Mode, lst.Mtim)
	}
	if err := unix.Lstat(filepath.Join(root, "d/f"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("d/f is not an overlay whiteout: %o %v", st.Mode, err)
	}
	for _, p := range []string{"nowhere", "esc"} {
		if _, err := os.Lstat(filepath.Join(root, p)); err == nil {
			t.Errorf("%s created for a whiteout that hides nothing", p)
		}
	}
	if msg := check(); msg != "" {
		t.Error(msg)
	}
}

// FuzzApply: no layer makes apply panic or write outside the root.
func FuzzApply(f *testing.F) {
	for _, tc := range breakouts {
		f.Add(tarOf(f, tc.entries...))
	}
	f.Add(tarOf(f,
		hdr{name: "d/", typ: tar.TypeDir}, hdr{name: "d/.wh..wh..opq"}, hdr{name: "d/f", body: "f"},
		hdr{name: "l", typ: tar.TypeLink, link: "d/f"}, hdr{name: ".wh.gone"}, hdr{name: "s", typ: tar.TypeSymlink, link: "d"},
		hdr{name: "s/g", body: "g"}, hdr{name: "p", typ: tar.TypeFifo}))
	f.Fuzz(func(t *testing.T, layer []byte) {
		root, lowers, check := sandbox(t)
		for i, mode := range []applyMode{applyNative, applyOverlay} {
			dir := filepath.Join(root, fmt.Sprint(i))
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			ls := lowers
			if mode == applyNative {
				ls = nil
			}
			_ = apply(context.Background(), bytes.NewReader(layer), dir, mode, ls)
		}
		if msg := check(); msg != "" {
			t.Fatal(msg)
		}
		ents, _ := os.ReadDir(filepath.Dir(root))
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		if want := []string{"canary", "lower", "root"}; !slices.Equal(names, want) {
			t.Fatalf("parent holds %q, want %q", names, want)
		}
	})
}

var updateFuzzSeeds = flag.Bool("update-fuzz-seeds", false, "rewrite testdata/fuzz/FuzzApply from the breakout catalogue")

// TestFuzzSeeds keeps the committed seed corpus in step with the
// catalogue: go test -run TestFuzzSeeds -update-fuzz-seeds ./snapshot
func TestFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzApply")
	for _, tc := range breakouts {
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", tarOf(t, tc.entries...))
		p := filepath.Join(dir, "breakout-"+tc.name)
		if *updateFuzzSeeds {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(p)
		if err != nil || string(got) != want {
			t.Errorf("seed %s is missing or stale (%v); run with -update-fuzz-seeds", p, err)
		}
	}
}

func TestCleanName(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		err      bool
	}{
		{"a/b", "a/b", false},
		{"./a/b/", "a/b", false},
		{"/abs/x", "abs/x", false},
		{"//x", "x", false},
		{"a/../b", "b", false},
		{".", "", false},
		{"/", "", false},
		{"..", "", true},
		{"../x", "", true},
		{"a/../../x", "", true},
		{"/../x", "", true},
		{"a\x00b", "", true},
		{strings.Repeat("a/", 3000), "", true},
	} {
		got, err := cleanName(tc.in)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("cleanName(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestSortChanges(t *testing.T) {
	in := []change{
		{"a-b", changeAdd},
		{"a/z", changeAdd},
		{"a", changeAdd},
		{"a/-x", changeAdd},
		{"a", changeOpaque},
		{"a/b", changeWhiteout},
		{"a/z", changeAdd},
		{"b", changeAdd},
	}
	var got []string
	for _, c := range sortChanges(in) {
		got = append(got, c.tarName())
	}
	want := []string{"a", "a/.wh..wh..opq", "a/-x", "a/.wh.b", "a/z", "a-b", "b"}
	if !slices.Equal(got, want) {
		t.Errorf("sortChanges = %q, want %q", got, want)
	}
}

func TestCleanupDeadOwner(t *testing.T) {
	ctx := t.Context()
	root := t.TempDir()
	n, err := NewNative(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Prepare(ctx, "dead", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Prepare(ctx, "live", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Prepare(ctx, "half-committed", ""); err != nil {
		t.Fatal(err)
	}
	dead, _ := n.s.get("dead")
	half, _ := n.s.get("half-committed")
	// A process that is gone: this one's PID with another start time.
	if err := n.s.update("dead", func(r *record) { r.Owner = &owner{PID: os.Getpid(), Start: 1} }); err != nil {
		t.Fatal(err)
	}
	// A crash in Commit after the new record was written.
	committed := *half
	committed.Name, committed.Kind, committed.Owner = "committed", "committed", nil
	if err := n.s.writeRecord(&committed); err != nil {
		t.Fatal(err)
	}
	// And an orphan directory and a temporary record file.
	if err := os.Mkdir(n.s.snapshotDir("999"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "metadata", ".tmp-123"), nil, 0o600); err != nil {
		t.Fatal(err)
	}

	// Another process opening the root sees the commit done.
	other, err := NewNative(root)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := other.Stat(ctx, "committed"); err != nil || info.Kind != KindCommitted {
		t.Errorf("Stat(committed) = %+v, %v", info, err)
	}
	if _, err := other.Stat(ctx, "half-committed"); err == nil {
		t.Error("the key of a finished commit is still visible")
	}
	if err := other.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	var names []string
	_ = n.Walk(ctx, func(i Info) error { names = append(names, i.Name); return nil })
	if want := []string{"committed", "live"}; !slices.Equal(names, want) {
		t.Errorf("after Cleanup: %q, want %q", names, want)
	}
	for _, p := range []string{n.s.snapshotDir(dead.ID), n.s.snapshotDir("999"), filepath.Join(root, "metadata", ".tmp-123"), n.s.recordPath("half-committed")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s left after Cleanup", p)
		}
	}
	if _, err := os.Stat(n.s.fsDir(half.ID)); err != nil {
		t.Errorf("Cleanup removed the committed snapshot's dir: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "tmp")); len(ents) != 0 {
		t.Errorf("tmp holds %v", ents)
	}
}

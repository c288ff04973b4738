package snapshot

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
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

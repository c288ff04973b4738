package archive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"golang.org/x/sys/unix"
)

// readTar lists a tar's headers.
func readTar(t *testing.T, b []byte) []*tar.Header {
	t.Helper()
	var hs []*tar.Header
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return hs
		}
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
}

// TestWriteDir: sorted in layer order, numeric owners, PAX for long names
// and xattrs, hard links kept, sockets skipped, mtimes in whole seconds
// clamped to the epoch; the same tree gives the same bytes.
func TestWriteDir(t *testing.T) {
	dir := t.TempDir()
	long := strings.Repeat("n", 200)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "a/b"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "a-b"), []byte("x"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "a/b/f"), []byte("f"), 0o755))
	must(os.Chmod(filepath.Join(dir, "a/b/f"), 0o755|os.ModeSetuid))
	must(os.Link(filepath.Join(dir, "a/b/f"), filepath.Join(dir, "z-link")))
	must(os.WriteFile(filepath.Join(dir, long), []byte("long"), 0o600))
	must(os.Symlink("/etc/passwd", filepath.Join(dir, "sym")))
	l, err := net.Listen("unix", filepath.Join(dir, "sock"))
	must(err)
	defer l.Close()
	xattr := unix.Setxattr(filepath.Join(dir, "a-b"), "user.test", []byte("v"), 0) == nil
	future := time.Now().Add(48 * time.Hour)
	must(os.Chtimes(filepath.Join(dir, "a-b"), future, future.Add(123*time.Millisecond)))
	epoch := time.Now().Add(time.Hour).Truncate(time.Second)

	var b1, b2 bytes.Buffer
	must(WriteDir(t.Context(), &b1, dir, WriteOptions{Epoch: &epoch}))
	must(WriteDir(t.Context(), &b2, dir, WriteOptions{Epoch: &epoch}))
	if !bytes.Equal(b1.Bytes(), b2.Bytes()) {
		t.Error("two writes of the same tree differ")
	}
	hs := readTar(t, b1.Bytes())
	var names []string
	for _, h := range hs {
		names = append(names, h.Name)
		if h.Uname != "" || h.Gname != "" || !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() {
			t.Errorf("%s: names %q/%q or atime/ctime set", h.Name, h.Uname, h.Gname)
		}
		if h.ModTime.Nanosecond() != 0 || h.ModTime.After(epoch) {
			t.Errorf("%s: mtime %v not whole seconds clamped to %v", h.Name, h.ModTime, epoch)
		}
		switch h.Name {
		case "a-b":
			if xattr && h.PAXRecords["SCHILY.xattr.user.test"] != "v" {
				t.Errorf("a-b: xattr missing from %v", h.PAXRecords)
			}
		case "a/b/f":
			if h.Mode != 0o4755 {
				t.Errorf("a/b/f: mode %o, want 4755 (the writer keeps modes)", h.Mode)
			}
		case "z-link":
			if h.Typeflag != tar.TypeLink || h.Linkname != "a/b/f" {
				t.Errorf("z-link: %c -> %q, want a hard link to a/b/f", h.Typeflag, h.Linkname)
			}
		}
	}
	want := []string{"a/", "a/b/", "a/b/f", "a-b", long, "sym", "z-link"}
	if !slices.Equal(names, want) {
		t.Errorf("entries %q, want %q", names, want)
	}
}

// TestExtractOptions: what the options change, on one archive.
func TestExtractOptions(t *testing.T) {
	requireRoot(t)
	layer := tarOf(t, "",
		hdr{name: "bin/", typ: tar.TypeDir, mode: 0o2755},
		hdr{name: "bin/su", body: "su", mode: 0o4755},
		hdr{name: "old", body: "old"},
		hdr{name: ".wh.old"},
		hdr{name: "dev", typ: tar.TypeFifo},
		hdr{name: "deep/implied/f", body: "f"},
	)
	for _, tc := range []struct {
		opt                 Options
		setuid, old, wh, dv bool
	}{
		{Options{}, true, true, true, true},
		{Options{Whiteouts: WhiteoutApply, StripSetuid: true, SkipDevices: true}, false, false, false, false},
	} {
		dir := t.TempDir()
		if err := Extract(t.Context(), bytes.NewReader(layer), dir, tc.opt); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(filepath.Join(dir, "bin/su"))
		if err != nil || (fi.Mode()&os.ModeSetuid != 0) != tc.setuid {
			t.Errorf("%+v: bin/su %v, %v; want setuid %v", tc.opt, fi.Mode(), err, tc.setuid)
		}
		if fi, err := os.Stat(filepath.Join(dir, "bin")); err != nil || fi.Mode()&os.ModeSetgid == 0 {
			t.Errorf("%+v: bin %v, %v; want setgid kept on a directory", tc.opt, fi.Mode(), err)
		}
		for p, want := range map[string]bool{"old": tc.old, ".wh.old": tc.wh, "dev": tc.dv} {
			if _, err := os.Lstat(filepath.Join(dir, p)); (err == nil) != want {
				t.Errorf("%+v: %s exists = %v, want %v", tc.opt, p, err == nil, want)
			}
		}
		if fi, err := os.Stat(filepath.Join(dir, "deep/implied")); err != nil || !fi.ModTime().Equal(time.Unix(0, 0)) || fi.Mode().Perm() != 0o755 {
			t.Errorf("%+v: implied dir %v, %v; want 0755 at the Unix epoch", tc.opt, fi, err)
		}
	}
}

// TestOpenTar: every compression is recognised and read; what is not a
// tar is not one.
func TestOpenTar(t *testing.T) {
	plain := tarOf(t, "", hdr{name: "f", body: "hello"})
	var gz, zs, xzb bytes.Buffer
	gw := gzip.NewWriter(&gz)
	gw.Write(plain)
	gw.Close()
	zw, _ := zstd.NewWriter(&zs)
	zw.Write(plain)
	zw.Close()
	xw, _ := xz.NewWriter(&xzb)
	xw.Write(plain)
	xw.Close()
	cases := map[Compression][]byte{Uncompressed: plain, Gzip: gz.Bytes(), Zstd: zs.Bytes(), Xz: xzb.Bytes()}
	if _, err := exec.LookPath("bzip2"); err == nil {
		cmd := exec.Command("bzip2", "-c")
		cmd.Stdin = bytes.NewReader(plain)
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		cases[Bzip2] = out
	}
	for c, data := range cases {
		if got := Detect(data[:min(len(data), DetectLen)]); got != c {
			t.Errorf("Detect(%s) = %s", c, got)
		}
		rc, ok := OpenTar(bytes.NewReader(data))
		if !ok {
			t.Errorf("OpenTar(%s): not a tar", c)
			continue
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(b, plain) {
			t.Errorf("OpenTar(%s) read %d bytes, %v; want the plain tar", c, len(b), err)
		}
	}
	for _, data := range [][]byte{nil, []byte("not an archive"), tarOf(t, "")} {
		if rc, ok := OpenTar(bytes.NewReader(data)); ok {
			rc.Close()
			t.Errorf("OpenTar(%q) = a tar", data)
		}
	}
}

// TestExtractMaxBytes: MaxBytes stops a large archive.
func TestExtractMaxBytes(t *testing.T) {
	layer := tarOf(t, "", hdr{name: "a", body: strings.Repeat("a", 100)}, hdr{name: "b", body: strings.Repeat("b", 100)})
	err := Extract(t.Context(), bytes.NewReader(layer), t.TempDir(), Options{MaxBytes: 150})
	if err == nil || !strings.Contains(err.Error(), `entry "b"`) {
		t.Errorf("Extract = %v, want too large at entry b", err)
	}
}

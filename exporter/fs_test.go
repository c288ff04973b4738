package exporter

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// layeredImage has a lower layer and an upper one that deletes a file
// (whiteout) and replaces a directory's content (opaque whiteout).
func layeredImage(t *testing.T) v1.Image {
	t.Helper()
	lower := layerOf(t,
		entry{name: "a/", typ: tar.TypeDir, mode: 0o750, uid: 1000, gid: 1000},
		entry{name: "a/keep", body: "keep\n", uid: 1000, gid: 1000},
		entry{name: "a/gone", body: "gone\n"},
		entry{name: "b/", typ: tar.TypeDir},
		entry{name: "b/old", body: "old\n"},
		entry{name: "bin/", typ: tar.TypeDir},
		entry{name: "bin/su", body: "su", mode: 0o4755},
		entry{name: "link", typ: tar.TypeSymlink, link: "a/keep"},
		entry{name: "hard", typ: tar.TypeLink, link: "a/keep"},
	)
	upper := layerOf(t,
		entry{name: "a/", typ: tar.TypeDir, mode: 0o750, uid: 1000, gid: 1000},
		entry{name: "a/.wh.gone"},
		entry{name: "b/", typ: tar.TypeDir},
		entry{name: "b/.wh..wh..opq"},
		entry{name: "b/new", body: "new\n"},
		entry{name: "c", body: "c\n"},
		entry{name: "uplink", typ: tar.TypeLink, link: "a/keep"},
	)
	img, err := Image(nil, []Layer{
		{Layer: lower, History: v1.History{CreatedBy: "lower"}},
		{Layer: upper, History: v1.History{CreatedBy: "upper"}},
	}, v1.Config{}, linux, created)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

var wantFiles = map[string]string{
	"a/keep": "keep\n",
	"b/new":  "new\n",
	"bin/su": "su",
	"c":      "c\n",
	"hard":   "keep\n",
	"uplink": "keep\n",
}

func TestLocal(t *testing.T) {
	img := layeredImage(t)
	dest := filepath.Join(t.TempDir(), "out")
	// Something already there is overwritten, other files stay.
	os.MkdirAll(filepath.Join(dest, "c"), 0o755)
	os.WriteFile(filepath.Join(dest, "mine"), []byte("mine"), 0o644)
	// preserve-ownership=true: modes (setuid included) and owners as in
	// the image; TestLocalStripsSetuid has the default.
	if err := LocalWith(dest, LocalOptions{PreserveOwnership: true}).Export(t.Context(), img); err != nil {
		t.Fatal(err)
	}
	for name, body := range wantFiles {
		b, err := os.ReadFile(filepath.Join(dest, name))
		if err != nil || string(b) != body {
			t.Errorf("%s = %q, %v; want %q", name, b, err, body)
		}
	}
	for _, gone := range []string{"a/gone", "b/old"} {
		if _, err := os.Lstat(filepath.Join(dest, gone)); !os.IsNotExist(err) {
			t.Errorf("%s exists (%v), want removed by whiteout", gone, err)
		}
	}
	if l, err := os.Readlink(filepath.Join(dest, "link")); err != nil || l != "a/keep" {
		t.Errorf("link -> %q, %v; want a/keep", l, err)
	}
	k, _ := os.Stat(filepath.Join(dest, "a/keep"))
	h, _ := os.Stat(filepath.Join(dest, "hard"))
	if !os.SameFile(k, h) {
		t.Error("hard is not a hard link of a/keep")
	}
	if fi, _ := os.Stat(filepath.Join(dest, "bin/su")); fi.Mode()&os.ModeSetuid == 0 || fi.Mode().Perm() != 0o755 {
		t.Errorf("bin/su mode = %v, want setuid 0755", fi.Mode())
	}
	fi, _ := os.Stat(filepath.Join(dest, "a"))
	if fi.Mode().Perm() != 0o750 || !fi.ModTime().Equal(created) {
		t.Errorf("a: mode %v, mtime %v; want 0750, %v", fi.Mode(), fi.ModTime(), created)
	}
	if os.Geteuid() == 0 {
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != 1000 || st.Gid != 1000 {
			t.Errorf("a owned by %d:%d, want 1000:1000", st.Uid, st.Gid)
		}
	}
	if _, err := os.Stat(filepath.Join(dest, "mine")); err != nil {
		t.Errorf("existing file removed: %v", err)
	}
}

func TestLocalEscapes(t *testing.T) {
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret")
	os.WriteFile(secret, []byte("secret"), 0o600)
	for _, tc := range []struct {
		name    string
		entries []entry
		wantErr bool
	}{
		// Extract drops entries below a non-directory: nothing to refuse.
		{"file below absolute symlink", []entry{
			{name: "esc", typ: tar.TypeSymlink, link: outside},
			{name: "esc/pwned", body: "x"},
		}, false},
		// A hard link to a file reached through a symlink out of dest.
		{"hard link through symlink", []entry{
			{name: "esc", typ: tar.TypeSymlink, link: outside},
			{name: "h", typ: tar.TypeLink, link: "esc/secret"},
		}, true},
		{"dotdot", []entry{{name: "../pwned", body: "x"}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img, err := Image(nil, []Layer{{Layer: layerOf(t, tc.entries...)}}, v1.Config{}, linux, created)
			if err != nil {
				t.Fatal(err)
			}
			dest := filepath.Join(t.TempDir(), "out")
			err = Local(dest).Export(t.Context(), img)
			if tc.wantErr && (err == nil || !strings.Contains(err.Error(), dest)) {
				t.Errorf("Export = %v, want error naming %s", err, dest)
			}
			if !tc.wantErr && err != nil {
				t.Errorf("Export = %v, want nil", err)
			}
			if ents, _ := os.ReadDir(outside); len(ents) != 1 {
				t.Errorf("written outside dest: %v", ents)
			}
			if fi, err := os.Stat(secret); err != nil || fi.Sys().(*syscall.Stat_t).Nlink != 1 {
				t.Errorf("outside file linked from dest: %v", err)
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(dest), "pwned")); err == nil {
				t.Error("written next to dest")
			}
		})
	}
}

func TestTar(t *testing.T) {
	img := layeredImage(t)
	p := filepath.Join(t.TempDir(), "rootfs.tar")
	if err := Tar(p).Export(t.Context(), img); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := map[string]string{}
	var names []string
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Typeflag == tar.TypeReg {
			b, _ := io.ReadAll(tr)
			got[h.Name] = string(b)
		}
	}
	for name, body := range wantFiles {
		if name == "hard" || name == "uplink" {
			continue // hard links: no content of their own
		}
		if got[name] != body {
			t.Errorf("%s = %q, want %q", name, got[name], body)
		}
	}
	for _, gone := range []string{"a/gone", "b/old", "a/.wh.gone", "b/.wh..wh..opq"} {
		if slices.Contains(names, gone) {
			t.Errorf("%s in the tar, want it removed", gone)
		}
	}
	var buf bytes.Buffer
	if err := TarTo(&buf).Export(t.Context(), img); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); !bytes.Equal(b, buf.Bytes()) {
		t.Error("TarTo differs from Tar")
	}
}

// setuidImage has a setuid-root and a setgid-root executable, a setgid
// directory and a file owned by 1000.
func setuidImage(t *testing.T) v1.Image {
	t.Helper()
	img, err := Image(nil, []Layer{{Layer: layerOf(t,
		entry{name: "bin/", typ: tar.TypeDir},
		entry{name: "bin/su", body: "#!/bin/sh\nid\n", mode: 0o4755},
		entry{name: "bin/wall", body: "#!/bin/sh\n", mode: 0o2755},
		entry{name: "shared/", typ: tar.TypeDir, mode: 0o2775},
		entry{name: "home/app", body: "app", mode: 0o640, uid: 1000, gid: 1000},
	)}}, v1.Config{}, linux, created)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// TestLocalStripsSetuid: --output type=local writes no setuid or setgid
// file to the host, where anyone who can reach dest could run it with
// the image owner's (root's) privileges. Without the fix this test
// reproduces the finding on the code before this commit: bin/su lands in
// dest as a setuid-root 04755 file.
func TestLocalStripsSetuid(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the finding is a root-owned setuid file")
	}
	dest := filepath.Join(t.TempDir(), "out")
	if err := Local(dest).Export(t.Context(), setuidImage(t)); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{"bin/su": 0o755, "bin/wall": 0o755} {
		fi, err := os.Stat(filepath.Join(dest, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode()&(os.ModeSetuid|os.ModeSetgid) != 0 || fi.Mode().Perm() != want {
			t.Errorf("%s mode = %v, want %v without setuid/setgid", name, fi.Mode(), want)
		}
	}
	// A setgid directory only passes its group on: kept.
	if fi, err := os.Stat(filepath.Join(dest, "shared")); err != nil || fi.Mode()&os.ModeSetgid == 0 {
		t.Errorf("shared: %v, %v; want setgid kept on a directory", fi.Mode(), err)
	}
	// Files belong to the user running bld, as with docker cp without -a.
	fi, err := os.Stat(filepath.Join(dest, "home/app"))
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != os.Geteuid() {
		t.Errorf("home/app owned by %d, want the running user %d", st.Uid, os.Geteuid())
	}
}

// TestLocalPreserveOwnership: preserve-ownership=true keeps owners and
// setuid bits, as docker cp -a.
func TestLocalPreserveOwnership(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files the image's owners")
	}
	dest := filepath.Join(t.TempDir(), "out")
	if err := LocalWith(dest, LocalOptions{PreserveOwnership: true}).Export(t.Context(), setuidImage(t)); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dest, "bin/su")); err != nil || fi.Mode()&os.ModeSetuid == 0 {
		t.Errorf("bin/su: %v, %v; want setuid kept", fi.Mode(), err)
	}
	fi, err := os.Stat(filepath.Join(dest, "home/app"))
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != 1000 || st.Gid != 1000 {
		t.Errorf("home/app owned by %d:%d, want 1000:1000", st.Uid, st.Gid)
	}
}

// TestTarKeepsSetuid: type=tar writes modes as in the image.
func TestTarKeepsSetuid(t *testing.T) {
	var buf bytes.Buffer
	if err := TarTo(&buf).Export(t.Context(), setuidImage(t)); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			t.Fatal("bin/su not in the tar")
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == "bin/su" {
			if h.Mode&0o4000 == 0 {
				t.Errorf("bin/su mode %o in the tar, want setuid", h.Mode)
			}
			return
		}
	}
}

func TestParseOutputPreserveOwnership(t *testing.T) {
	o, err := ParseOutput("type=local,dest=out,preserve-ownership=true")
	if err != nil || !o.PreserveOwnership || o.Type != TypeLocal {
		t.Errorf("ParseOutput = %+v, %v; want type=local with PreserveOwnership", o, err)
	}
	if o, err := ParseOutput("type=local,dest=out"); err != nil || o.PreserveOwnership {
		t.Errorf("ParseOutput = %+v, %v; want PreserveOwnership false by default", o, err)
	}
	if _, err := ParseOutput("type=local,dest=out,preserve-ownership=maybe"); err == nil || !strings.Contains(err.Error(), "preserve-ownership") {
		t.Errorf("ParseOutput(preserve-ownership=maybe) = %v, want an error naming the key", err)
	}
}

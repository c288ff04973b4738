package fscopy

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bldbuild/bld/dag"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// tarEnt is one entry of a test archive.
type tarEnt struct {
	name string
	typ  byte
	data string
	link string
	mode int64
	uid  int
}

func mkTar(t testing.TB, ents ...tarEnt) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: e.mode, Uid: e.uid, Gid: e.uid,
			ModTime: testTime, Format: tar.FormatPAX}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func compress(t testing.TB, kind string, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	switch kind {
	case "plain":
		return data
	case "gzip":
		w := gzip.NewWriter(&b)
		w.Write(data)
		w.Close()
	case "xz":
		w, err := xz.NewWriter(&b)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		w.Close()
	case "zstd":
		w, err := zstd.NewWriter(&b)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		w.Close()
	case "bzip2":
		if _, err := exec.LookPath("bzip2"); err != nil {
			t.Skip("no bzip2 command to make a fixture")
		}
		cmd := exec.Command("bzip2", "-c")
		cmd.Stdin = bytes.NewReader(data)
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		return out
	default:
		t.Fatalf("unknown compression %q", kind)
	}
	return b.Bytes()
}

var appTar = []tarEnt{
	{name: "app/", typ: tar.TypeDir, mode: 0o750, uid: 1000},
	{name: "app/run.sh", data: "#!/bin/sh\n", mode: 0o4755, uid: 1000},
	{name: "app/lib", typ: tar.TypeSymlink, link: "/usr/lib", uid: 1000},
	{name: "app/hard", typ: tar.TypeLink, link: "app/run.sh"},
	{name: "/abs/file", data: "abs"},
	{name: "./dot/file", data: "dot"},
}

func TestAddArchive(t *testing.T) {
	requireRoot(t)
	want := map[string]string{
		"dst/app":        "d 0750 1000:1000",
		"dst/app/run.sh": "f 4755 1000:1000 #!/bin/sh\n",
		"dst/app/lib":    "l 1000:1000 -> /usr/lib",
		"dst/app/hard":   "f 4755 1000:1000 #!/bin/sh\n",
		"dst/abs/file":   "f 0644 0:0 abs",
		"dst/dot/file":   "f 0644 0:0 dot",
	}
	for _, kind := range []string{"plain", "gzip", "bzip2", "xz", "zstd"} {
		t.Run(kind, func(t *testing.T) {
			tmp := t.TempDir()
			ctxDir, root := filepath.Join(tmp, "ctx"), filepath.Join(tmp, "root")
			mkTree(t, ctxDir, file("a.tar", string(compress(t, kind, mkTar(t, appTar...)))))
			os.Mkdir(root, 0o755)
			// No trailing slash: an archive always extracts into a directory.
			if err := Copy(t.Context(), Source{Dir: ctxDir, IsContext: true}, []string{"a.tar"}, root, "/dst", Options{Add: true}); err != nil {
				t.Fatal(err)
			}
			checkTree(t, root, want)
			fi, err := os.Lstat(filepath.Join(root, "dst/app/run.sh"))
			if err != nil || !fi.ModTime().Equal(testTime) {
				t.Errorf("mtime of run.sh = %v, %v; want %v", fi.ModTime(), err, testTime)
			}
		})
	}
}

func TestAddArchiveOptions(t *testing.T) {
	requireRoot(t)
	tgz := string(compress(t, "gzip", mkTar(t, appTar...)))
	textGz := string(compress(t, "gzip", []byte("just text")))
	tests := []struct {
		name    string
		ctx     []ent
		sources []string
		dest    string
		opt     Options
		want    map[string]string
	}{
		{name: "chown overrides the archive", ctx: []ent{file("a.tgz", tgz)}, sources: []string{"a.tgz"}, dest: "/d/",
			opt:  Options{Add: true, Chown: &Owner{7, 8}},
			want: map[string]string{"d": "d 0755 7:8", "d/app": "d 0750 7:8", "d/app/run.sh": "f 4755 7:8 #!/bin/sh\n", "d/abs": "d 0755 7:8"}},
		{name: "COPY does not extract", ctx: []ent{file("a.tgz", tgz)}, sources: []string{"a.tgz"}, dest: "/d/",
			want: map[string]string{"d/a.tgz": "f 0644 0:0 " + tgz}},
		{name: "not an archive despite its name", ctx: []ent{file("x.tar.gz", "plain text")}, sources: []string{"x.tar.gz"}, dest: "/d/",
			opt:  Options{Add: true},
			want: map[string]string{"d/x.tar.gz": "f 0644 0:0 plain text"}},
		{name: "gzip but not tar", ctx: []ent{file("t.gz", textGz)}, sources: []string{"t.gz"}, dest: "/d/",
			opt:  Options{Add: true},
			want: map[string]string{"d/t.gz": "f 0644 0:0 " + textGz}},
		{name: "archive inside a directory is copied", ctx: []ent{dir("in"), file("in/a.tgz", tgz)}, sources: []string{"in"}, dest: "/d/",
			opt:  Options{Add: true},
			want: map[string]string{"d/a.tgz": "f 0644 0:0 " + tgz}},
		{name: "wildcard archives", ctx: []ent{file("a.tgz", tgz), file("b.tar", string(mkTar(t, tarEnt{name: "b", data: "B"})))},
			sources: []string{"*.t*"}, dest: "/d/", opt: Options{Add: true},
			want: map[string]string{"d/app/run.sh": "f 4755 1000:1000 #!/bin/sh\n", "d/b": "f 0644 0:0 B"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			ctxDir, root := filepath.Join(tmp, "ctx"), filepath.Join(tmp, "root")
			mkTree(t, ctxDir, tc.ctx...)
			os.Mkdir(root, 0o755)
			if err := Copy(t.Context(), Source{Dir: ctxDir, IsContext: true}, tc.sources, root, tc.dest, tc.opt); err != nil {
				t.Fatal(err)
			}
			checkTree(t, root, tc.want)
		})
	}
}

func TestAddURL(t *testing.T) {
	requireRoot(t)
	body := "binary contents"
	sum := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(body)))
	lastMod := time.Date(2019, 5, 6, 7, 8, 9, 0, time.UTC)
	tarBody := string(mkTar(t, tarEnt{name: "x", data: "X"}))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/files/app.bin":
			w.Header().Set("Last-Modified", lastMod.Format(http.TimeFormat))
			fmt.Fprint(w, body)
		case "/files/a.tar":
			fmt.Fprint(w, tarBody)
		case "/":
			fmt.Fprint(w, "index")
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	tests := []struct {
		name    string
		url     string
		dest    string
		opt     Options
		want    map[string]string
		wantErr string
	}{
		{name: "into a directory", url: "/files/app.bin", dest: "/dl/",
			want: map[string]string{"dl": "d 0755 0:0", "dl/app.bin": "f 0600 0:0 " + body}},
		{name: "to a file", url: "/files/app.bin", dest: "/dl/x",
			want: map[string]string{"dl/x": "f 0600 0:0 " + body}},
		{name: "no name", url: "/", dest: "/dl/",
			want: map[string]string{"dl/__unnamed__": "f 0600 0:0 index"}},
		{name: "not extracted", url: "/files/a.tar", dest: "/dl/",
			want: map[string]string{"dl/a.tar": "f 0600 0:0 " + tarBody, "dl/x": ""}},
		{name: "chmod and chown", url: "/files/app.bin", dest: "/dl/", opt: Options{Chmod: OctalChmod(0o755), Chown: &Owner{3, 4}},
			want: map[string]string{"dl": "d 0755 3:4", "dl/app.bin": "f 0755 3:4 " + body}},
		{name: "checksum", url: "/files/app.bin", dest: "/dl/", opt: Options{Checksum: sum},
			want: map[string]string{"dl/app.bin": "f 0600 0:0 " + body}},
		{name: "checksum mismatch", url: "/files/app.bin", dest: "/dl/", opt: Options{Checksum: "sha256:" + strings.Repeat("0", 64)},
			wantErr: "checksum mismatch: want sha256:" + strings.Repeat("0", 64) + ", got " + sum},
		{name: "bad checksum", url: "/files/app.bin", dest: "/dl/", opt: Options{Checksum: "md5:00"},
			wantErr: `invalid checksum "md5:00"`},
		{name: "not found", url: "/nope", dest: "/dl/", wantErr: "unexpected status 404 Not Found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			tc.opt.Add = true
			err := Copy(t.Context(), Source{}, []string{srv.URL + tc.url}, root, tc.dest, tc.opt)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Copy(%s) = %v, want error containing %q", tc.url, err, tc.wantErr)
				}
				if ents, _ := os.ReadDir(filepath.Join(root, "dl")); len(ents) != 0 {
					t.Errorf("after a failed download, /dl holds %v", ents)
				}
				return
			}
			if err != nil {
				t.Fatalf("Copy(%s) = %v", tc.url, err)
			}
			checkTree(t, root, tc.want)
		})
	}
	root := t.TempDir()
	if err := Copy(t.Context(), Source{}, []string{srv.URL + "/files/app.bin"}, root, "/f", Options{Add: true}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(root, "f")); err != nil || !fi.ModTime().Equal(lastMod) {
		t.Errorf("mtime = %v, %v; want Last-Modified %v", fi.ModTime(), err, lastMod)
	}
	// Checksum: the --checksum when given, else the body's digest.
	h1, err := Checksum(t.Context(), Source{}, []string{srv.URL + "/files/app.bin"}, Options{Add: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h2, err := Checksum(t.Context(), Source{}, []string{srv.URL + "/files/a.tar"}, Options{Add: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h3, err := Checksum(t.Context(), Source{}, []string{srv.URL + "/files/app.bin"}, Options{Add: true, Checksum: sum}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if h1 == h2 || h1 == h3 {
		t.Errorf("URL checksums collide: %v %v %v", h1, h2, h3)
	}
}

func TestHeredocs(t *testing.T) {
	requireRoot(t)
	tests := []struct {
		name    string
		docs    []dag.Heredoc
		image   []ent
		dest    string
		opt     Options
		want    map[string]string
		wantErr string
	}{
		{name: "one to a file", docs: []dag.Heredoc{{Name: "EOF", Data: "hi\n"}}, dest: "/app/run.sh",
			want: map[string]string{"app": "d 0755 0:0", "app/run.sh": "f 0644 0:0 hi\n"}},
		{name: "one into a directory", docs: []dag.Heredoc{{Name: "conf", Data: "c"}}, dest: "/etc/",
			want: map[string]string{"etc/conf": "f 0644 0:0 c"}},
		{name: "one into an existing directory", image: []ent{dir("etc")}, docs: []dag.Heredoc{{Name: "conf", Data: "c"}}, dest: "/etc",
			want: map[string]string{"etc/conf": "f 0644 0:0 c"}},
		{name: "several", docs: []dag.Heredoc{{Name: "a", Data: "1"}, {Name: "b", Data: "2"}}, dest: "/d/",
			opt:  Options{Chmod: OctalChmod(0o755), Chown: &Owner{1, 2}},
			want: map[string]string{"d": "d 0755 1:2", "d/a": "f 0755 1:2 1", "d/b": "f 0755 1:2 2"}},
		{name: "several need a directory", docs: []dag.Heredoc{{Name: "a"}, {Name: "b"}}, dest: "/d",
			wantErr: "must be a directory"},
		{name: "name is a base name", docs: []dag.Heredoc{{Name: "../../x", Data: "x"}}, dest: "/d/",
			want: map[string]string{"d/x": "f 0644 0:0 x"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			mkTree(t, root, tc.image...)
			err := Heredocs(t.Context(), tc.docs, root, tc.dest, tc.opt)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Heredocs = %v, want error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkTree(t, root, tc.want)
		})
	}
}

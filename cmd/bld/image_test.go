package main

import (
	"archive/tar"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bldbuild/bld/internal/testutil"
)

// TestBldImage builds bld's own image as `make image` does
// (scripts/image-context.sh + images/bld/Dockerfile, needs root for the
// RUN below), and checks what a CI job relies on: it runs as 1000 with bld
// as its entrypoint, newuidmap/newgidmap keep their setuid bit and root
// owner, the user's home is the user's, and bld runs inside it as uid
// 1000 (a RUN step of an image built FROM it).
func TestBldImage(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root (RUN); CI runs as root")
	}
	dir := t.TempDir()
	ctx := filepath.Join(dir, "ctx")
	cmd := exec.Command("../../scripts/image-context.sh", ctx)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("image-context.sh: %v\n%s", err, out)
	}
	r := bldRunner{t: t, bin: testutil.Bld(t), env: append(os.Environ(), "BLD_ROOT="+filepath.Join(dir, "root"))}
	r.must("build", "--progress", "quiet", "-t", "bld:test", ctx)
	cfg := r.must("inspect", "bld:test")
	for _, want := range []string{`"User": "1000:1000"`, `"/usr/local/bin/bld"`, `"HOME=/home/user"`} {
		if !strings.Contains(cfg, want) {
			t.Errorf("image config lacks %s:\n%s", want, cfg)
		}
	}

	tarPath := filepath.Join(dir, "image.tar")
	r.must("build", "--progress", "quiet", "--output", "type=tar,dest="+tarPath, ctx)
	f, err := os.Open(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := map[string]*tar.Header{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		seen[strings.TrimPrefix(h.Name, "./")] = h
	}
	for _, name := range []string{"usr/bin/newuidmap", "usr/bin/newgidmap"} {
		h := seen[name]
		if h == nil || h.Uid != 0 || h.Mode&0o4000 == 0 {
			t.Errorf("%s: %+v; want it setuid root", name, h)
		}
	}
	if h := seen["home/user"]; h == nil || h.Uid != 1000 {
		t.Errorf("home/user: %+v; want it owned by 1000", h)
	}
	if h := seen["usr/bin/slirp4netns"]; h == nil {
		t.Error("no slirp4netns in the image")
	}

	use := filepath.Join(dir, "use")
	if err := os.MkdirAll(use, 0o755); err != nil {
		t.Fatal(err)
	}
	df := "FROM bld:test\nRUN [\"bld\", \"--version\"]\nRUN [\"bld\", \"images\"]\n"
	if err := os.WriteFile(filepath.Join(use, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	out := r.must("build", "--progress", "plain", use)
	if !strings.Contains(out, " bld dev ") && !strings.Contains(out, " bld v") {
		t.Errorf("bld --version inside the image printed nothing recognisable:\n%s", out)
	}
	if !strings.Contains(out, "NAME   DIGEST") {
		t.Errorf("bld images as uid 1000 inside the image failed:\n%s", out)
	}
}

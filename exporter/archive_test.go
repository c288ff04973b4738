package exporter

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/bldbuild/bld/internal/testutil"
)

func skopeoDigest(t *testing.T, ref string) string {
	t.Helper()
	var got struct{ Digest string }
	out := testutil.Run(t, "skopeo", "inspect", ref)
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("skopeo inspect %s: %v\n%s", ref, err, out)
	}
	return got.Digest
}

// umociCat unpacks image (layout:name) with umoci and returns the content
// of file in its rootfs.
func umociCat(t *testing.T, image, file string) string {
	t.Helper()
	bundle := filepath.Join(t.TempDir(), "bundle")
	args := []string{"unpack", "--image", image, bundle}
	if os.Geteuid() != 0 {
		args = []string{"unpack", "--rootless", "--image", image, bundle}
	}
	testutil.Run(t, "umoci", args...)
	b, err := os.ReadFile(filepath.Join(bundle, "rootfs", file))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// untar extracts a tar of regular files and directories into a new dir.
func untar(t *testing.T, tarPath string) string {
	t.Helper()
	dir := t.TempDir()
	f, err := os.Open(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return dir
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, h.Name)
		if h.Typeflag == tar.TypeDir {
			os.MkdirAll(p, 0o755)
			continue
		}
		os.MkdirAll(filepath.Dir(p), 0o755)
		b, _ := io.ReadAll(tr)
		os.WriteFile(p, b, 0o644)
	}
}

func TestOCIDir(t *testing.T) {
	img, _ := testImage(t)
	dir := filepath.Join(t.TempDir(), "layout")
	if err := OCI(dir, []string{"app:v1", "localhost:5000/app:v1"}, false).Export(t.Context(), img); err != nil {
		t.Fatal(err)
	}
	// Again with another image under one of the names: replaced, not added.
	other, _ := Image(nil, nil, v1.Config{}, linux, created)
	if err := OCI(dir, []string{"app:v1"}, false).Export(t.Context(), other); err != nil {
		t.Fatal(err)
	}
	if err := OCI(dir, []string{"app:v1"}, false).Export(t.Context(), img); err != nil {
		t.Fatal(err)
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := idx.IndexManifest()
	names := map[string]v1.Hash{}
	for _, d := range m.Manifests {
		names[d.Annotations[ocispec.AnnotationRefName]] = d.Digest
		if d.Annotations[annotationImageName] != d.Annotations[ocispec.AnnotationRefName] {
			t.Errorf("annotations %v: image name differs from ref name", d.Annotations)
		}
	}
	want := digest(t, img)
	if len(names) != 2 || names["docker.io/library/app:v1"] != want || names["localhost:5000/app:v1"] != want {
		t.Errorf("index names = %v, want both names at %s", names, want)
	}
	got, err := idx.Image(want)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(got); err != nil {
		t.Errorf("validate: %v", err)
	}

	testutil.RequireTool(t, "skopeo")
	if d := skopeoDigest(t, "oci:"+dir+":localhost:5000/app:v1"); d != want.String() {
		t.Errorf("skopeo inspect: %s, want %s", d, want)
	}
	testutil.RequireTool(t, "umoci")
	if got := umociCat(t, dir+":docker.io/library/app:v1", "etc/hello"); got != "hello\n" {
		t.Errorf("umoci unpack: etc/hello = %q", got)
	}
}

func TestOCITar(t *testing.T) {
	img, _ := testImage(t)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.tar"), filepath.Join(dir, "b.tar")
	for _, p := range []string{a, b} {
		if err := OCI(p, []string{"app:v1"}, true).Export(t.Context(), img); err != nil {
			t.Fatal(err)
		}
	}
	ab, _ := os.ReadFile(a)
	bb, _ := os.ReadFile(b)
	if !bytes.Equal(ab, bb) {
		t.Error("two exports of one image differ")
	}
	var buf bytes.Buffer
	if err := OCITo(&buf, []string{"app:v1"}).Export(t.Context(), img); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), ab) {
		t.Error("OCITo differs from OCI to a file")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	extracted := untar(t, a)
	idx, err := layout.ImageIndexFromPath(extracted)
	if err != nil {
		t.Fatal(err)
	}
	got, err := idx.Image(digest(t, img))
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(got); err != nil {
		t.Errorf("validate: %v", err)
	}

	testutil.RequireTool(t, "skopeo")
	if d := skopeoDigest(t, "oci-archive:"+a+":docker.io/library/app:v1"); d != digest(t, img).String() {
		t.Errorf("skopeo inspect: %s, want %s", d, digest(t, img))
	}
	testutil.RequireTool(t, "umoci")
	if got := umociCat(t, extracted+":docker.io/library/app:v1", "app/run"); got != "#!/bin/sh\n" {
		t.Errorf("umoci unpack: app/run = %q", got)
	}
}

func TestOCIUnnamed(t *testing.T) {
	img, _ := testImage(t)
	dir := filepath.Join(t.TempDir(), "layout")
	for range 2 {
		if err := OCI(dir, nil, false).Export(t.Context(), img); err != nil {
			t.Fatal(err)
		}
	}
	idx, _ := layout.ImageIndexFromPath(dir)
	m, _ := idx.IndexManifest()
	if len(m.Manifests) != 1 || m.Manifests[0].Annotations[ocispec.AnnotationRefName] != "" {
		t.Errorf("index = %+v, want one unnamed manifest", m.Manifests)
	}
	testutil.RequireTool(t, "skopeo")
	if d := skopeoDigest(t, "oci:"+dir); d != digest(t, img).String() {
		t.Errorf("skopeo inspect: %s, want %s", d, digest(t, img))
	}
}

func TestDocker(t *testing.T) {
	img, _ := testImage(t)
	p := filepath.Join(t.TempDir(), "image.tar")
	if err := Docker(p, []string{"app:v1", "localhost:5000/app:v2"}).Export(t.Context(), img); err != nil {
		t.Fatal(err)
	}
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(p) })
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 1 || strings.Join(m[0].RepoTags, " ") == "" {
		t.Fatalf("manifest.json = %+v", m)
	}
	got, err := tarball.ImageFromPath(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(got); err != nil {
		t.Errorf("validate: %v", err)
	}
	wantCfg, _ := img.ConfigName()
	if h, _ := got.ConfigName(); h != wantCfg {
		t.Errorf("config %s, want %s", h, wantCfg)
	}

	unnamed := filepath.Join(t.TempDir(), "unnamed.tar")
	if err := Docker(unnamed, nil).Export(t.Context(), img); err != nil {
		t.Fatal(err)
	}

	testutil.RequireTool(t, "skopeo")
	for _, ref := range []string{"docker-archive:" + p + ":docker.io/library/app:v1", "docker-archive:" + p + ":localhost:5000/app:v2", "docker-archive:" + unnamed} {
		out := testutil.Run(t, "skopeo", "inspect", "--config", ref)
		var cf v1.ConfigFile
		if err := json.Unmarshal(out, &cf); err != nil {
			t.Fatalf("skopeo inspect --config %s: %v", ref, err)
		}
		want, _ := img.ConfigFile()
		if len(cf.RootFS.DiffIDs) != 2 || cf.RootFS.DiffIDs[1] != want.RootFS.DiffIDs[1] {
			t.Errorf("skopeo inspect %s: diff_ids %v, want %v", ref, cf.RootFS.DiffIDs, want.RootFS.DiffIDs)
		}
	}
}

func TestArchiveErrors(t *testing.T) {
	img, _ := testImage(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		e    Exporter
		want string
	}{
		{OCI(filepath.Join(dir, "x.tar"), []string{"Bad:Name"}, true), "Bad:Name"},
		{Docker(filepath.Join(dir, "y.tar"), []string{"app@sha256:" + strings.Repeat("a", 64)}), "not a digest"},
		{OCI(filepath.Join(dir, "missing", "z.tar"), nil, true), "missing"},
	} {
		err := tc.e.Export(t.Context(), img)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Export = %v, want error containing %q", err, tc.want)
		}
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("files left after failed exports: %v", left)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := OCI(filepath.Join(dir, "c.tar"), nil, true).Export(ctx, img); !errors.Is(err, context.Canceled) {
		t.Errorf("Export with cancelled ctx = %v, want context.Canceled", err)
	}
}

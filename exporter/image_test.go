package exporter

import (
	"archive/tar"
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

var (
	linux   = v1.Platform{OS: "linux", Architecture: "amd64"}
	created = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
)

// entry is a tar entry of a test layer.
type entry struct {
	name     string
	typ      byte // tar.TypeReg when 0
	body     string
	link     string
	mode     int64
	uid, gid int
}

// layerOf returns a gzip OCI layer holding entries, in order.
func layerOf(t *testing.T, entries ...entry) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: e.mode, Uid: e.uid, Gid: e.gid, ModTime: created, Format: tar.FormatPAX}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, e.body)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func digest(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	h, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func testImage(t *testing.T) (v1.Image, []Layer) {
	t.Helper()
	l1 := layerOf(t, entry{name: "etc/", typ: tar.TypeDir}, entry{name: "etc/hello", body: "hello\n"})
	l2 := layerOf(t, entry{name: "app/", typ: tar.TypeDir}, entry{name: "app/run", body: "#!/bin/sh\n", mode: 0o755})
	entries := []Layer{
		{Layer: l1, History: v1.History{CreatedBy: "COPY hello /etc/hello"}},
		{History: v1.History{CreatedBy: "ENV A=b", EmptyLayer: true}},
		{Layer: l2, History: v1.History{CreatedBy: "RUN make"}},
	}
	img, err := Image(nil, entries, v1.Config{Env: []string{"A=b"}, Cmd: []string{"/app/run"}}, linux, created)
	if err != nil {
		t.Fatal(err)
	}
	return img, entries
}

func TestImageScratch(t *testing.T) {
	img, entries := testImage(t)
	if err := validate.Image(img); err != nil {
		t.Fatalf("validate: %v", err)
	}
	m, _ := img.Manifest()
	if m.MediaType != types.OCIManifestSchema1 || m.Config.MediaType != types.OCIConfigJSON {
		t.Errorf("media types %s, %s; want OCI", m.MediaType, m.Config.MediaType)
	}
	if len(m.Layers) != 2 {
		t.Fatalf("%d layers, want 2", len(m.Layers))
	}
	cf, _ := img.ConfigFile()
	if cf.OS != "linux" || cf.Architecture != "amd64" || !cf.Created.Equal(created) {
		t.Errorf("config os/arch/created = %s/%s/%s", cf.OS, cf.Architecture, cf.Created)
	}
	if len(cf.History) != 3 {
		t.Fatalf("%d history entries, want 3", len(cf.History))
	}
	for i, h := range cf.History {
		if h.CreatedBy != entries[i].History.CreatedBy || !h.Created.Equal(created) || h.EmptyLayer != entries[i].History.EmptyLayer {
			t.Errorf("history[%d] = %+v", i, h)
		}
	}
	for i, l := range []v1.Layer{entries[0].Layer, entries[2].Layer} {
		want, _ := l.DiffID()
		if cf.RootFS.DiffIDs[i] != want {
			t.Errorf("diff_ids[%d] = %s, want %s", i, cf.RootFS.DiffIDs[i], want)
		}
		if d, _ := l.Digest(); m.Layers[i].Digest != d {
			t.Errorf("manifest layer %d = %s, want %s", i, m.Layers[i].Digest, d)
		}
	}
	if strings.Join(cf.Config.Cmd, " ") != "/app/run" {
		t.Errorf("config Cmd = %v", cf.Config.Cmd)
	}
}

func TestImageDeterministic(t *testing.T) {
	a, entries := testImage(t)
	cfg := v1.Config{Env: []string{"A=b"}, Cmd: []string{"/app/run"}}
	b, err := Image(nil, entries, cfg, linux, created.In(time.FixedZone("X", 3600)))
	if err != nil {
		t.Fatal(err)
	}
	if digest(t, a) != digest(t, b) {
		t.Errorf("equal inputs (created in another zone): digests %s and %s", digest(t, a), digest(t, b))
	}
	c, _ := Image(nil, entries, cfg, linux, created.Add(time.Second))
	if digest(t, a) == digest(t, c) {
		t.Error("another created time gave the same digest")
	}
}

func TestImageOnBase(t *testing.T) {
	base, err := random.Image(1024, 2) // Docker media types, no history
	if err != nil {
		t.Fatal(err)
	}
	bcf, _ := base.ConfigFile()
	bcf = bcf.DeepCopy()
	top, _ := testImage(t)
	l := layerOf(t, entry{name: "x", body: "x"})
	img, err := Image(top, []Layer{{Layer: l, History: v1.History{CreatedBy: "COPY x /x"}}}, v1.Config{User: "1000"}, v1.Platform{}, created)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatalf("validate: %v", err)
	}
	cf, _ := img.ConfigFile()
	if len(cf.History) != 4 || cf.History[3].CreatedBy != "COPY x /x" || cf.History[0].CreatedBy != "COPY hello /etc/hello" {
		t.Errorf("history = %+v, want base's 3 then COPY", cf.History)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("platform %s/%s, want the base's linux/amd64", cf.OS, cf.Architecture)
	}
	if len(cf.RootFS.DiffIDs) != 3 {
		t.Errorf("%d diff_ids, want 3", len(cf.RootFS.DiffIDs))
	}

	// A Docker base: layer media types become OCI, digests stay.
	img, err = Image(base, nil, bcf.Config, linux, created)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatalf("validate: %v", err)
	}
	bm, _ := base.Manifest()
	m, _ := img.Manifest()
	for i := range bm.Layers {
		if bm.Layers[i].MediaType != types.DockerLayer || m.Layers[i].MediaType != types.OCILayer || bm.Layers[i].Digest != m.Layers[i].Digest {
			t.Errorf("layer %d: base %s %s, image %s %s", i, bm.Layers[i].MediaType, bm.Layers[i].Digest, m.Layers[i].MediaType, m.Layers[i].Digest)
		}
	}
	ls, _ := img.Layers()
	if mt, _ := ls[0].MediaType(); mt != types.OCILayer {
		t.Errorf("layer media type %s, want %s", mt, types.OCILayer)
	}
}

func TestImageErrors(t *testing.T) {
	l := layerOf(t, entry{name: "x", body: "x"})
	for _, tc := range []struct {
		name     string
		entries  []Layer
		platform v1.Platform
		want     string
	}{
		{"empty with layer", []Layer{{Layer: l, History: v1.History{CreatedBy: "ENV", EmptyLayer: true}}}, linux, "has a layer"},
		{"layer missing", []Layer{{History: v1.History{CreatedBy: "RUN"}}}, linux, "has no layer"},
		{"no platform", nil, v1.Platform{}, "no platform"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Image(nil, tc.entries, v1.Config{}, tc.platform, created)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Image = %v, want error containing %q", err, tc.want)
			}
		})
	}
}

func emptyIndex(t *testing.T) v1.ImageIndex {
	t.Helper()
	return empty.Index
}

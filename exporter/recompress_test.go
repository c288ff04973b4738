package exporter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/bldbuild/bld/internal/compress"
	"github.com/bldbuild/bld/internal/testutil"
)

func TestRecompress(t *testing.T) {
	img, _ := testImage(t) // OCI gzip
	zimg, err := Recompress(t.Context(), img, "zstd", 0, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := validateAny(zimg); err != nil {
		t.Fatalf("validate: %v", err)
	}
	m, _ := zimg.Manifest()
	for i, d := range m.Layers {
		if d.MediaType != types.OCILayerZStd {
			t.Errorf("layer %d media type %s, want zstd", i, d.MediaType)
		}
	}
	c1, _ := img.RawConfigFile()
	c2, _ := zimg.RawConfigFile()
	if !bytes.Equal(c1, c2) {
		t.Error("config changed")
	}
	// Deterministic.
	again, _ := Recompress(t.Context(), img, "zstd", 0, false)
	if digest(t, again) != digest(t, zimg) {
		t.Errorf("second Recompress: %s, want %s", digest(t, again), digest(t, zimg))
	}
	// Already gzip: unchanged, the same image.
	if same, _ := Recompress(t.Context(), img, "gzip", 0, false); same != img {
		t.Error("Recompress to the current format made a new image")
	}
	// Forced: recompressed anyway (pgzip, not the stdlib gzip of the input).
	forced, err := Recompress(t.Context(), img, "gzip", 9, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(forced); err != nil {
		t.Fatalf("validate forced: %v", err)
	}
	if digest(t, forced) == digest(t, img) {
		t.Error("forced recompression changed nothing")
	}
	// And back, uncompressed.
	plain, err := Recompress(t.Context(), zimg, "uncompressed", 0, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := validateAny(plain); err != nil {
		t.Fatalf("validate uncompressed: %v", err)
	}
	pm, _ := plain.Manifest()
	cf, _ := plain.ConfigFile()
	for i, d := range pm.Layers {
		if d.MediaType != types.OCIUncompressedLayer || d.Digest != cf.RootFS.DiffIDs[i] {
			t.Errorf("uncompressed layer %d: %s %s, want digest = diffID %s", i, d.MediaType, d.Digest, cf.RootFS.DiffIDs[i])
		}
	}

	if _, err := Recompress(t.Context(), img, "lz4", 0, false); err == nil {
		t.Error("Recompress to lz4: no error")
	}
	if _, err := Recompress(t.Context(), img, "zstd", 99, false); err == nil || !strings.Contains(err.Error(), "zstd level 99") {
		t.Errorf("Recompress at level 99 = %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Recompress(ctx, img, "zstd", 0, false); !errors.Is(err, context.Canceled) {
		t.Errorf("Recompress with cancelled ctx = %v", err)
	}
}

func TestRecompressDocker(t *testing.T) {
	img, err := random.Image(10000, 3) // Docker media types
	if err != nil {
		t.Fatal(err)
	}
	// Same format: only media types change, blobs stay.
	oci, err := Recompress(t.Context(), img, "gzip", 0, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(oci); err != nil {
		t.Fatal(err)
	}
	m, _ := oci.Manifest()
	bm, _ := img.Manifest()
	if m.MediaType != types.OCIManifestSchema1 || m.Config.MediaType != types.OCIConfigJSON || m.Config.Digest != bm.Config.Digest {
		t.Errorf("manifest %s config %s %s", m.MediaType, m.Config.MediaType, m.Config.Digest)
	}
	for i := range m.Layers {
		if m.Layers[i].Digest != bm.Layers[i].Digest || m.Layers[i].MediaType != types.OCILayer {
			t.Errorf("layer %d: %s %s", i, m.Layers[i].MediaType, m.Layers[i].Digest)
		}
	}
}

// TestRecompressCompressesOnce checks that each layer is read once, also
// when the image uses it twice.
func TestRecompressCompressesOnce(t *testing.T) {
	l := &countingLayer{Layer: layerOf(t, entry{name: "x", body: strings.Repeat("x", 1<<16)})}
	img, err := Image(nil, []Layer{{Layer: l}, {Layer: l}}, v1.Config{}, linux, created)
	if err != nil {
		t.Fatal(err)
	}
	z, err := Recompress(t.Context(), img, "zstd", 0, false)
	if err != nil {
		t.Fatal(err)
	}
	if n := l.reads.Load(); n != 1 {
		t.Errorf("layer read %d times, want 1", n)
	}
	if err := validateAny(z); err != nil {
		t.Fatal(err)
	}
}

type countingLayer struct {
	v1.Layer
	reads atomic.Int32
}

func (c *countingLayer) Compressed() (io.ReadCloser, error) {
	c.reads.Add(1)
	return c.Layer.Compressed()
}

// TestRecompressTools writes a zstd image as an OCI layout and reads it
// with skopeo (inspect, copy to a dir, zstd -d of the layer) and umoci.
func TestRecompressTools(t *testing.T) {
	testutil.RequireTool(t, "skopeo")
	img, _ := testImage(t)
	z, err := Recompress(t.Context(), img, "zstd", 0, false)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "layout")
	if err := OCI(dir, []string{"app:zstd"}, false).Export(t.Context(), z); err != nil {
		t.Fatal(err)
	}
	ref := "oci:" + dir + ":docker.io/library/app:zstd"
	if d := skopeoDigest(t, ref); d != digest(t, z).String() {
		t.Errorf("skopeo inspect: %s, want %s", d, digest(t, z))
	}
	out := filepath.Join(t.TempDir(), "copy")
	testutil.Run(t, "skopeo", "copy", ref, "dir:"+out)
	m, _ := z.Manifest()
	blob := filepath.Join(out, m.Layers[0].Digest.Hex)
	if _, err := os.Stat(blob); err != nil {
		t.Fatalf("skopeo copy did not keep the zstd layer as it is: %v", err)
	}
	testutil.RequireTool(t, "zstd")
	tarBytes := testutil.Run(t, "zstd", "-d", "-c", blob)
	if !bytes.Contains(tarBytes, []byte("hello\n")) || !bytes.Contains(tarBytes, []byte("etc/hello")) {
		t.Error("zstd -d of the layer: no etc/hello")
	}

	// umoci 0.4.7 predates zstd layers: check what it does, and say so.
	if _, err := exec.LookPath("umoci"); err != nil {
		return
	}
	bundle := filepath.Join(t.TempDir(), "bundle")
	b, err := exec.CommandContext(t.Context(), "umoci", "unpack", "--image", dir+":docker.io/library/app:zstd", bundle).CombinedOutput()
	if err != nil {
		t.Logf("umoci cannot unpack zstd layers (expected for umoci < 0.4.8?): %s", bytes.TrimSpace(b))
		return
	}
	if got, err := os.ReadFile(filepath.Join(bundle, "rootfs", "etc", "hello")); err != nil || string(got) != "hello\n" {
		t.Errorf("umoci unpack of zstd image: etc/hello = %q, %v", got, err)
	}
}

// layoutStore is a real ImageStore for the Store exporter: an OCI layout.
type layoutStore struct{ p layout.Path }

func (s layoutStore) WriteImage(ctx context.Context, img v1.Image) (v1.Descriptor, error) {
	if err := s.p.WriteImage(img); err != nil {
		return v1.Descriptor{}, err
	}
	d, err := img.Digest()
	if err != nil {
		return v1.Descriptor{}, err
	}
	size, _ := img.Size()
	mt, _ := img.MediaType()
	return v1.Descriptor{MediaType: mt, Size: size, Digest: d}, nil
}

func (s layoutStore) Tag(name string, d v1.Descriptor) error {
	if strings.HasPrefix(name, "bad") {
		return errors.New("tag " + name + ": bad name")
	}
	d.Annotations = map[string]string{ocispec.AnnotationRefName: name}
	return s.p.AppendDescriptor(d)
}

func TestStoreAndTee(t *testing.T) {
	img, _ := testImage(t)
	p, err := layout.Write(t.TempDir(), emptyIndex(t))
	if err != nil {
		t.Fatal(err)
	}
	tarPath := filepath.Join(t.TempDir(), "rootfs.tar")
	err = Tee(Store(layoutStore{p}, []string{"app:v1", "bad:v1"}), Tar(tarPath)).Export(t.Context(), img)
	if err == nil || !strings.Contains(err.Error(), "bad:v1") {
		t.Errorf("Tee = %v, want the store's error", err)
	}
	if _, err := os.Stat(tarPath); err != nil {
		t.Errorf("Tee stopped the other exporter: %v", err)
	}
	idx, _ := p.ImageIndex()
	m, _ := idx.IndexManifest()
	if len(m.Manifests) != 1 || m.Manifests[0].Annotations[ocispec.AnnotationRefName] != "app:v1" {
		t.Errorf("store index = %+v, want app:v1", m.Manifests)
	}
	got, err := p.Image(digest(t, img))
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(got); err != nil {
		t.Error(err)
	}
}

// validateAny is validate.Image for any layer compression: ggcr's
// validate reads layers as gzip only, so the layers are checked here.
func validateAny(img v1.Image) error {
	if err := validate.Image(img, validate.Fast); err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	ls, err := img.Layers()
	if err != nil {
		return err
	}
	for i, l := range ls {
		d, _ := l.Digest()
		size, _ := l.Size()
		diffID, _ := l.DiffID()
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return err
		}
		if h, n, _ := v1.SHA256(bytes.NewReader(b)); h != d || n != size {
			return fmt.Errorf("layer %d: compressed %s %d, want %s %d", i, h, n, d, size)
		}
		ur, err := compress.Decompress(bytes.NewReader(b))
		if err != nil {
			return err
		}
		h, _, err := v1.SHA256(ur)
		if err != nil {
			return err
		}
		if h != diffID || h != cf.RootFS.DiffIDs[i] {
			return fmt.Errorf("layer %d: diffID %s, DiffID() %s, config %s", i, h, diffID, cf.RootFS.DiffIDs[i])
		}
		u, err := l.Uncompressed()
		if err != nil {
			return err
		}
		h, _, err = v1.SHA256(u)
		u.Close()
		if err != nil || h != diffID {
			return fmt.Errorf("layer %d: Uncompressed() %s, %v; want %s", i, h, err, diffID)
		}
	}
	return nil
}

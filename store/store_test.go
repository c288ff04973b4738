package store

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/bldbuild/bld/internal/testutil"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

func open(t *testing.T) (*Store, string) {
	t.Helper()
	root := t.TempDir()
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	return s, root
}

func hashOf(t *testing.T, b []byte) v1.Hash {
	t.Helper()
	h, _, err := v1.SHA256(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func tmpFiles(t *testing.T, root string) []string {
	t.Helper()
	return testutil.DirNames(t, filepath.Join(root, "tmp"))
}

func TestOpenLayout(t *testing.T) {
	s, root := open(t)
	for _, f := range []string{"content/oci-layout", "content/index.json", "content/blobs/sha256", "tmp"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Errorf("after Open: %v", err)
		}
	}
	if s.Dir() != filepath.Join(root, "content") {
		t.Errorf("Dir() = %s, want %s/content", s.Dir(), root)
	}
	// ggcr reads it as a layout.
	idx, err := layout.ImageIndexFromPath(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil || len(m.Manifests) != 0 {
		t.Errorf("IndexManifest() = %v, %v; want empty", m, err)
	}
	// Reopening keeps what is there.
	if err := s.writeBytes([]byte("x"), hashOf(t, []byte("x"))); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(root); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(hashOf(t, []byte("x"))); err != nil {
		t.Errorf("blob lost on reopen: %v", err)
	}
}

func TestWriterCommit(t *testing.T) {
	s, root := open(t)
	data := []byte("hello, blob")
	want := hashOf(t, data)

	w, err := s.Writer()
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data[:5])
	w.Write(data[5:])
	h, n, err := w.Commit(v1.Hash{})
	if err != nil {
		t.Fatal(err)
	}
	if h != want || n != int64(len(data)) {
		t.Errorf("Commit = %s, %d; want %s, %d", h, n, want, len(data))
	}
	if _, err := w.Write([]byte("more")); err == nil {
		t.Error("Write after Commit: no error")
	}
	if _, _, err := w.Commit(v1.Hash{}); err == nil {
		t.Error("second Commit: no error")
	}
	if err := w.Close(); err != nil {
		t.Errorf("Close after Commit = %v, want nil", err)
	}

	rc, err := s.Open(h)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, data) {
		t.Errorf("Open = %q, want %q", got, data)
	}
	if size, err := s.Stat(h); err != nil || size != int64(len(data)) {
		t.Errorf("Stat = %d, %v; want %d", size, err, len(data))
	}

	// Committing the same content again is fine (already present).
	w, _ = s.Writer()
	w.Write(data)
	if h2, _, err := w.Commit(want); err != nil || h2 != want {
		t.Errorf("second Commit of same content = %s, %v", h2, err)
	}

	// A mismatch is refused and leaves nothing behind.
	w, _ = s.Writer()
	w.Write([]byte("other"))
	_, _, err = w.Commit(want)
	if err == nil || !strings.Contains(err.Error(), want.String()) {
		t.Errorf("Commit(wrong digest) = %v, want error naming %s", err, want)
	}
	if _, err := s.Stat(hashOf(t, []byte("other"))); !errors.Is(err, ErrNotFound) {
		t.Errorf("Stat of refused blob = %v, want ErrNotFound", err)
	}

	// Close aborts.
	w, _ = s.Writer()
	w.Write([]byte("aborted"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(hashOf(t, []byte("aborted"))); !errors.Is(err, ErrNotFound) {
		t.Errorf("Stat of aborted blob = %v, want ErrNotFound", err)
	}
	if left := tmpFiles(t, root); len(left) != 0 {
		t.Errorf("tmp files left: %v", left)
	}

	var seen []v1.Hash
	s.Blobs(func(h v1.Hash, n int64) error { seen = append(seen, h); return nil })
	if len(seen) != 1 || seen[0] != want {
		t.Errorf("Blobs = %v, want [%s]", seen, want)
	}

	if err := s.Delete(h); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(h); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Delete = %v, want ErrNotFound", err)
	}
	if _, err := s.Open(h); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open after Delete = %v, want ErrNotFound", err)
	}
	if _, err := s.Stat(v1.Hash{Algorithm: "sha256", Hex: "../../etc/passwd"}); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("Stat(bad hash) = %v, want invalid digest", err)
	}
}

func TestOpenCleansTemp(t *testing.T) {
	s, root := open(t)
	live, err := s.Writer()
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	stale := filepath.Join(root, "tmp", tempPrefix+"crashed")
	other := filepath.Join(root, "tmp", "someone-else")
	for _, p := range []string{stale, other} {
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Open(root); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale temp file kept: %v", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("file not the store's removed: %v", err)
	}
	if _, err := os.Stat(live.f.Name()); err != nil {
		t.Errorf("live writer's file removed: %v", err)
	}
	live.Write([]byte("still fine"))
	if _, _, err := live.Commit(v1.Hash{}); err != nil {
		t.Errorf("Commit after another Open: %v", err)
	}
}

// fileImage returns an OCI image with one layer holding files. (skopeo and
// umoci only see OCI manifests in a layout, never Docker ones.)
func fileImage(t *testing.T, files map[string]string) v1.Image {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range files {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(body))
	}
	tw.Close()
	b := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.AppendLayers(base, l)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func writeImage(t *testing.T, s *Store, img v1.Image) v1.Descriptor {
	t.Helper()
	desc, err := s.WriteImage(t.Context(), img)
	if err != nil {
		t.Fatal(err)
	}
	return desc
}

func TestTagResolve(t *testing.T) {
	s, _ := open(t)
	img1, _ := random.Image(512, 2)
	img2, _ := random.Image(512, 1)
	d1 := writeImage(t, s, img1)
	d2 := writeImage(t, s, img2)
	if want, _ := img1.Digest(); d1.Digest != want {
		t.Fatalf("WriteImage digest = %s, want %s", d1.Digest, want)
	}

	for _, n := range []string{"app:v1", "localhost:5000/team/app:v2", "app"} {
		if err := s.Tag(n, d1); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		ref  string
		want v1.Hash
	}{
		{"app:v1", d1.Digest},
		{"docker.io/library/app:v1", d1.Digest},
		{"index.docker.io/library/app:v1", d1.Digest},
		{"library/app:v1", d1.Digest},
		{"app", d1.Digest},
		{"app:latest", d1.Digest},
		{"localhost:5000/team/app:v2", d1.Digest},
		{d1.Digest.String(), d1.Digest},
		{d1.Digest.Hex, d1.Digest},
		{d1.Digest.Hex[:12], d1.Digest},
		{"sha256:" + d1.Digest.Hex[:12], d1.Digest},
		{d2.Digest.String(), d2.Digest}, // not named, found by blob
	} {
		got, err := s.Resolve(tc.ref)
		if err != nil || got.Digest != tc.want {
			t.Errorf("Resolve(%q) = %s, %v; want %s", tc.ref, got.Digest, err, tc.want)
		}
	}
	for _, ref := range []string{"app:v2", "other", d1.Digest.Hex[:11], "localhost:5000/app:v2"} {
		if _, err := s.Resolve(ref); !errors.Is(err, ErrNotFound) {
			t.Errorf("Resolve(%q) = %v, want ErrNotFound", ref, err)
		}
	}
	if got, _ := s.Resolve("app:v1"); got.MediaType != d1.MediaType || got.Size != d1.Size {
		t.Errorf("Resolve(app:v1) = %+v, want %+v", got, d1)
	}

	imgs, err := s.Images()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range imgs {
		names = append(names, n.Name)
	}
	want := "docker.io/library/app:latest docker.io/library/app:v1 localhost:5000/team/app:v2"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("Images() = %s, want %s", got, want)
	}

	// Retag replaces.
	if err := s.Tag("docker.io/library/app:v1", d2); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Resolve("app:v1"); got.Digest != d2.Digest {
		t.Errorf("after retag Resolve(app:v1) = %s, want %s", got.Digest, d2.Digest)
	}
	if imgs, _ := s.Images(); len(imgs) != 3 {
		t.Errorf("after retag %d images, want 3", len(imgs))
	}

	if err := s.Untag("app:v1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Untag("app:v1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Untag = %v, want ErrNotFound", err)
	}
	if _, err := s.Resolve("app:v1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Resolve after Untag = %v, want ErrNotFound", err)
	}

	for _, tc := range []struct {
		name string
		desc v1.Descriptor
		want string
	}{
		{"UPPER:v1", d1, "tag UPPER:v1: "},
		{"app@" + d1.Digest.String(), d1, "not a digest"},
		{"app:v3", v1.Descriptor{MediaType: d1.MediaType, Size: 3, Digest: hashOf(t, []byte("nope"))}, "not found"},
		{"app:v3", v1.Descriptor{MediaType: "application/octet-stream", Size: d1.Size, Digest: d1.Digest}, "not a manifest"},
		{"app:v3", v1.Descriptor{MediaType: d1.MediaType, Size: d1.Size + 1, Digest: d1.Digest}, "descriptor says"},
	} {
		err := s.Tag(tc.name, tc.desc)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Tag(%q, %v) = %v, want error containing %q", tc.name, tc.desc, err, tc.want)
		}
	}
}

func TestImageRoundTrip(t *testing.T) {
	s, _ := open(t)
	img, err := random.Image(4096, 3)
	if err != nil {
		t.Fatal(err)
	}
	d := writeImage(t, s, img)
	// Writing again skips what is there and gives the same descriptor.
	if d2 := writeImage(t, s, img); d2.Digest != d.Digest {
		t.Errorf("second WriteImage = %s, want %s", d2.Digest, d.Digest)
	}
	if err := s.Tag("app:v1", d); err != nil {
		t.Fatal(err)
	}
	got, err := s.Image("app:v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(got); err != nil {
		t.Errorf("validate store image: %v", err)
	}
	if h, _ := got.Digest(); h != d.Digest {
		t.Errorf("Image digest = %s, want %s", h, d.Digest)
	}
	// ggcr's layout reader works on the store too.
	lp, err := layout.FromPath(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	limg, err := lp.Image(d.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(limg); err != nil {
		t.Errorf("validate layout image: %v", err)
	}
	// Copying a store image into another store works.
	s2, _ := open(t)
	if d2 := writeImage(t, s2, got); d2.Digest != d.Digest {
		t.Errorf("copy to second store = %s, want %s", d2.Digest, d.Digest)
	}
	if _, err := s.Image("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Image(nope) = %v, want ErrNotFound", err)
	}
}

func TestLayerVerify(t *testing.T) {
	s, _ := open(t)
	img, _ := random.Image(2048, 1)
	d := writeImage(t, s, img)
	s.Tag("app", d)
	m, _ := img.Manifest()
	ld := m.Layers[0]
	p, _ := s.blobPath(ld.Digest)
	b, _ := os.ReadFile(p)
	b[len(b)/2] ^= 1
	os.WriteFile(p, b, 0o644)

	l, err := s.Layer(ld, v1.Hash{})
	if err != nil {
		t.Fatal(err)
	}
	rc, _ := l.Compressed()
	_, err = io.ReadAll(rc)
	if err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("reading corrupt blob = %v, want corruption error", err)
	}
	got, _ := s.Image("app")
	if err := validate.Image(got); err == nil {
		t.Error("validate image with corrupt layer: no error")
	}
	if _, err := s.Layer(v1.Descriptor{Digest: hashOf(t, []byte("none"))}, v1.Hash{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Layer(missing) = %v, want ErrNotFound", err)
	}

	// A corrupt manifest is refused at once.
	mp, _ := s.blobPath(d.Digest)
	os.WriteFile(mp, []byte("{}"), 0o644)
	if _, err := s.Image("app"); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("Image with corrupt manifest = %v, want corruption error", err)
	}
}

const helperEnv = "BLD_STORE_TEST_HELPER"

// TestHelperProcess is not a test: run by TestConcurrentTag in a child
// process, it tags names in the store given in the environment.
func TestHelperProcess(t *testing.T) {
	spec := os.Getenv(helperEnv)
	if spec == "" {
		t.Skip("helper process only")
	}
	// root|prefix|count|digest|size|mediatype
	f := strings.Split(spec, "|")
	s, err := Open(f[0])
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(f[2])
	size, _ := strconv.ParseInt(f[4], 10, 64)
	h, _ := v1.NewHash(f[3])
	d := v1.Descriptor{Digest: h, Size: size, MediaType: types.MediaType(f[5])}
	for i := range n {
		if err := s.Tag(fmt.Sprintf("%s%d:v1", f[1], i), d); err != nil {
			t.Fatal(err)
		}
	}
}

func TestConcurrentTag(t *testing.T) {
	s, root := open(t)
	img, _ := random.Image(256, 1)
	d := writeImage(t, s, img)
	const n = 25

	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 2 {
		wg.Go(func() {
			// Each goroutine opens its own Store, like a second caller would.
			s, err := Open(root)
			if err != nil {
				errs <- err
				return
			}
			for i := range n {
				if err := s.Tag(fmt.Sprintf("goroutine%d-%d:v1", g, i), d); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for p := range 2 {
		wg.Go(func() {
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
			cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s|process%d-|%d|%s|%d|%s", helperEnv, root, p, n, d.Digest, d.Size, d.MediaType))
			if out, err := cmd.CombinedOutput(); err != nil {
				errs <- fmt.Errorf("helper process %d: %v\n%s", p, err, out)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	b, err := os.ReadFile(filepath.Join(root, "content", "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatalf("index.json is not valid: %v", err)
	}
	if len(idx.Manifests) != 4*n {
		t.Errorf("index.json has %d manifests, want %d", len(idx.Manifests), 4*n)
	}
	for _, who := range []string{"goroutine0-", "goroutine1-", "process0-", "process1-"} {
		for j := range n {
			if _, err := s.Resolve(fmt.Sprintf("%s%d:v1", who, j)); err != nil {
				t.Error(err)
			}
		}
	}
	if left := tmpFiles(t, root); len(left) != 0 {
		t.Errorf("tmp files left: %v", left)
	}
}

// A rebuild tags its image with the name that already names it: index.json
// is left as it is (no rewrite, no fsync), and a real change still writes.
func TestTagUnchangedWritesNothing(t *testing.T) {
	s, _ := open(t)
	img1, _ := random.Image(512, 1)
	img2, _ := random.Image(512, 1)
	d1 := writeImage(t, s, img1)
	d2 := writeImage(t, s, img2)
	if err := s.Tag("app:1", d1); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(s.indexPath())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tag("app:1", d1); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(s.indexPath())
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) {
		t.Errorf("tagging app:1 with the digest it names rewrote index.json")
	}
	if err := s.Tag("app:1", d2); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Resolve("app:1"); err != nil || got.Digest != d2.Digest {
		t.Fatalf("Resolve(app:1) = %s, %v; want %s", got.Digest, err, d2.Digest)
	}
	if changed, _ := os.Stat(s.indexPath()); os.SameFile(after, changed) {
		t.Errorf("retagging app:1 to another image did not rewrite index.json")
	}
}

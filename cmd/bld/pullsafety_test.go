package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcr "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/bldbuild/bld/internal/testutil"
)

// testBlob is a blob a test pushes, streamed from open (never held whole
// when it is large).
type testBlob struct {
	mt     types.MediaType
	size   int64
	digest v1.Hash
	open   func() io.Reader
}

func newTestBlob(t *testing.T, mt types.MediaType, open func() io.Reader) testBlob {
	t.Helper()
	h := sha256.New()
	n, err := io.Copy(h, open())
	if err != nil {
		t.Fatal(err)
	}
	return testBlob{mt: mt, size: n, open: open,
		digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}}
}

func (b testBlob) desc() v1.Descriptor {
	return v1.Descriptor{MediaType: b.mt, Size: b.size, Digest: b.digest}
}

// blobLayer pushes a testBlob with remote.WriteLayer.
type blobLayer struct{ b testBlob }

func (l blobLayer) Digest() (v1.Hash, error)            { return l.b.digest, nil }
func (l blobLayer) Size() (int64, error)                { return l.b.size, nil }
func (l blobLayer) MediaType() (types.MediaType, error) { return l.b.mt, nil }
func (l blobLayer) Compressed() (io.ReadCloser, error)  { return io.NopCloser(l.b.open()), nil }

type rawManifest []byte

func (m rawManifest) RawManifest() ([]byte, error)        { return m, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

// pushRaw pushes an image made of cfg and layers as they are, so a test
// can push what ggcr's own image types would refuse to make.
func pushRaw(t *testing.T, ref string, cfg testBlob, layers ...testBlob) {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	m := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, Config: cfg.desc()}
	for _, b := range append([]testBlob{cfg}, layers...) {
		l, err := partial.CompressedToLayer(blobLayer{b})
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.WriteLayer(r.Context(), l); err != nil {
			t.Fatalf("push blob %s to %s: %v", b.digest, ref, err)
		}
		if b.digest != cfg.digest {
			m.Layers = append(m.Layers, b.desc())
		}
	}
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Put(r, rawManifest(raw)); err != nil {
		t.Fatalf("push manifest %s: %v", ref, err)
	}
}

// configBlob is an image config for this machine's platform with the
// given diff_ids and a label of pad bytes, so its size can be chosen.
func configBlob(t *testing.T, pad int64, diffIDs ...v1.Hash) testBlob {
	ids, _ := json.Marshal(diffIDs)
	if diffIDs == nil {
		ids = []byte("[]")
	}
	head := fmt.Sprintf(`{"architecture":%q,"os":"linux","config":{"Labels":{"pad":"`, runtime.GOARCH)
	tail := fmt.Sprintf(`"}},"rootfs":{"type":"layers","diff_ids":%s}}`, ids)
	return newTestBlob(t, types.OCIConfigJSON, func() io.Reader {
		return io.MultiReader(strings.NewReader(head),
			io.LimitReader(repeatReader('A'), pad), strings.NewReader(tail))
	})
}

type repeatReader byte

func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

// bldIn runs bld with its state under root and returns its combined
// output, its peak RSS in KiB, and whether it failed. bld runs under
// busybox's time, not straight from this process: a vfork+exec'd child's
// rusage counts its parent's peak RSS too (exec_mmap), and this test
// process holds the blobs it pushes.
func bldIn(t *testing.T, root string, args ...string) (string, int64, error) {
	t.Helper()
	rssFile := filepath.Join(t.TempDir(), "rss")
	cmd := exec.Command("/bin/busybox", append([]string{"time", "-f", "%M", "-o", rssFile, testutil.Bld(t)}, args...)...)
	cmd.Env = append(os.Environ(), "BLD_ROOT="+root)
	out, err := cmd.CombinedOutput()
	b, rerr := os.ReadFile(rssFile)
	if rerr != nil {
		t.Fatalf("busybox time: %v\n%s", rerr, out)
	}
	f := strings.Fields(string(b))
	rss, perr := strconv.ParseInt(f[len(f)-1], 10, 64)
	if perr != nil {
		t.Fatalf("busybox time wrote %q", b)
	}
	// busybox's %M takes ru_maxrss (KiB on Linux) for pages and
	// multiplies it by the page size in KiB (ptok in its time.c).
	return string(out), rss / int64(max(os.Getpagesize()/1024, 1)), err
}

func writeContext(t *testing.T, df string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("from the context\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// streamer serves some blobs itself, streamed, and passes every other
// request to ggcr's in-process registry (which holds blobs in memory: a
// 150 MB one there would raise this test process's peak RSS, which a
// vfork+exec'd bld inherits in its own rusage).
type streamer struct {
	next  http.Handler
	mu    sync.Mutex
	blobs map[string]testBlob
}

func (s *streamer) add(b testBlob) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.blobs[b.digest.String()] = b
}

func (s *streamer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if i := strings.LastIndex(r.URL.Path, "/blobs/"); i > 0 {
		s.mu.Lock()
		b, ok := s.blobs[r.URL.Path[i+len("/blobs/"):]]
		s.mu.Unlock()
		if ok && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			w.Header().Set("Content-Length", strconv.FormatInt(b.size, 10))
			w.Header().Set("Docker-Content-Digest", b.digest.String())
			if r.Method == http.MethodGet {
				io.Copy(w, b.open())
			}
			return
		}
	}
	s.next.ServeHTTP(w, r)
}

// testRegistries are ggcr's in-process registry (behind a streamer) and
// the real one (with a nil streamer: blobs are pushed to it).
func testRegistries(t *testing.T) map[string]struct {
	addr string
	s    *streamer
} {
	s := &streamer{next: ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0))), blobs: map[string]testBlob{}}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return map[string]struct {
		addr string
		s    *streamer
	}{
		"ggcr":            {strings.TrimPrefix(srv.URL, "http://"), s},
		"docker-registry": {testutil.Registry(t), nil},
	}
}

// A base image whose config is 150 MB. Reproduced on main before the
// limits: the build accepted it and bld's RSS reached 1.5 GB while it read
// and parsed it. Now the manifest's declared config size is checked before
// the config is fetched: the build fails at once naming the image and the
// --limit key, in a few MiB. A 10 MB config (over the 8 MiB default) goes
// through when the limit is raised.
func TestPullHugeConfig(t *testing.T) {
	testutil.RequireRoot(t)
	for regName, r := range testRegistries(t) {
		reg := r.addr
		t.Run(regName, func(t *testing.T) {
			big := reg + "/pullsafety/bigconfig:1"
			mid := reg + "/pullsafety/midconfig:1"
			bigConfig := configBlob(t, 150_000_000)
			if r.s != nil {
				r.s.add(bigConfig) // served streamed; the push skips it
			}
			pushRaw(t, big, bigConfig)
			pushRaw(t, mid, configBlob(t, 10_000_000))
			root := filepath.Join(t.TempDir(), "root")

			start := time.Now()
			out, rss, err := bldIn(t, root, "build", "--progress", "plain", writeContext(t, "FROM "+big+"\nENV A=1\n"))
			took := time.Since(start)
			t.Logf("150 MB config: %v, peak RSS %d MiB, %s\n%s", err, rss>>10, took, out)
			if err == nil {
				t.Fatalf("a base image with a 150 MB config was accepted:\n%s", out)
			}
			for _, want := range []string{big, "config", "--limit config-size="} {
				if !strings.Contains(out, want) {
					t.Errorf("the error does not name %q:\n%s", want, out)
				}
			}
			if rss > 64<<10 {
				t.Errorf("bld's peak RSS was %d MiB, want under 64 MiB", rss>>10)
			}
			if took > 30*time.Second {
				t.Errorf("the build took %s to fail", took)
			}

			ctx := writeContext(t, "FROM "+mid+"\nENV A=1\n")
			if out, _, err := bldIn(t, root, "build", "--progress", "plain", ctx); err == nil || !strings.Contains(out, "config-size") {
				t.Errorf("a 10 MB config passed the default 8 MiB limit (err %v):\n%s", err, out)
			}
			if out, _, err := bldIn(t, root, "build", "--progress", "plain", "--limit", "config-size=16MiB", ctx); err != nil {
				t.Errorf("a 10 MB config under --limit config-size=16MiB: %v\n%s", err, out)
			}
		})
	}
}

// gzipTar is a gzipped tar of one file, and its uncompressed digest.
func gzipTar(t *testing.T, file, content string) ([]byte, v1.Hash) {
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	if err := tw.WriteHeader(&tar.Header{Name: file, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	io.WriteString(tw, content)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(tb.Bytes())
	var gb bytes.Buffer
	zw := gzip.NewWriter(&gb)
	zw.Write(tb.Bytes())
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return gb.Bytes(), v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
}

// A base image whose config's diff_id does not match its layer's
// uncompressed content. Reproduced on main before the check: the build
// unpacked and used it, and exported it as is. Now unpacking fails naming
// the image, the layer digest and both diff_ids, no snapshot is committed
// for the layer, and a second build fails the same way (nothing poisoned
// the cache); a build that only exports the base (no step unpacks it)
// fails when the store writes the layer. The same layer with the right
// diff_id still builds.
func TestPullWrongDiffID(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireOverlay(t)
	for regName, r := range testRegistries(t) {
		reg := r.addr
		t.Run(regName, func(t *testing.T) {
			gz, diffID := gzipTar(t, "hello", "hello from the base\n")
			layer := newTestBlob(t, types.OCILayer, func() io.Reader { return bytes.NewReader(gz) })
			wrong, _, _ := v1.SHA256(strings.NewReader("not the layer"))
			bad := reg + "/pullsafety/baddiffid:1"
			good := reg + "/pullsafety/gooddiffid:1"
			pushRaw(t, bad, configBlob(t, 0, wrong), layer)
			pushRaw(t, good, configBlob(t, 0, diffID), layer)
			root := filepath.Join(t.TempDir(), "root")

			unpacked := writeContext(t, "FROM "+bad+"\nCOPY f /f\n")
			// No step unpacks the base here: its layers go to the store
			// as they are, checked there.
			exported := writeContext(t, "FROM "+bad+"\nENV A=1\n")
			for i, ctx := range []string{unpacked, unpacked, exported} {
				out, _, err := bldIn(t, root, "build", "--progress", "plain", ctx)
				if err == nil {
					t.Fatalf("build %d: an image with a wrong diff_id was used:\n%s", i+1, out)
				}
				for _, want := range []string{bad, layer.digest.String(), diffID.String(), wrong.String()} {
					if !strings.Contains(out, want) {
						t.Errorf("build %d: the error does not name %s:\n%s", i+1, want, out)
					}
				}
			}
			// The chain ID of a first layer is its diff_id: no snapshot
			// may carry the wrong one's name.
			filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
				if err == nil && strings.Contains(d.Name(), wrong.Hex) {
					t.Errorf("%s left behind for the layer with the wrong diff_id", p)
				}
				return nil
			})

			out, _, err := bldIn(t, root, "build", "--progress", "plain", writeContext(t, "FROM "+good+"\nCOPY f /f\n"))
			if err != nil {
				t.Errorf("the same layer with its right diff_id: %v\n%s", err, out)
			}
		})
	}
}

package registry

import (
	"io"
	"net/http"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bldbuild/bld/internal/readers"
)

// Defaults of Limits.
//
//   - DefaultManifestSize, 4 MiB, is containerd's limit for a manifest or an
//     index (remotes/docker: MaxManifestSize) and the registry distribution's
//     default for a manifest it accepts (4 MiB); ggcr allows 100 MiB, which
//     no real manifest approaches (an index of 500 platforms is under 1 MiB).
//   - DefaultConfigSize, 8 MiB: configs hold history and env and are read
//     whole and parsed; BuildKit and containerd bound them at the manifest
//     limit or not at all, and the largest seen on Docker Hub are a few
//     hundred KiB. Twice the manifest limit leaves room for long histories.
//   - DefaultLayers, 127: Docker's and BuildKit's practical ceiling (the
//     overlay driver stacks at most 128 lower directories, and docker refuses
//     to commit past 127 layers: "max depth exceeded").
const (
	DefaultManifestSize = 4 << 20
	DefaultConfigSize   = 8 << 20
	DefaultLayers       = 127
)

// Limits bound what a pull reads from a registry (or a store, or a layout)
// before it is trusted: each field is enforced where the bytes are read,
// never after reading them whole. Zero fields take the defaults above.
// Each has a `bld build --limit` key, named in the error (LimitError).
type Limits struct {
	ManifestSize int64 // manifest-size: bytes of one manifest or index
	ConfigSize   int64 // config-size: bytes of an image config
	Layers       int   // layers: layers of one image
}

// WithDefaults returns l with its zero fields set to the defaults.
func (l Limits) WithDefaults() Limits {
	if l.ManifestSize <= 0 {
		l.ManifestSize = DefaultManifestSize
	}
	if l.ConfigSize <= 0 {
		l.ConfigSize = DefaultConfigSize
	}
	if l.Layers <= 0 {
		l.Layers = DefaultLayers
	}
	return l
}

// LimitError is a pulled document or image over one of Limits (the one
// type, shared with the store).
type LimitError = readers.LimitError

// CheckImage checks img's manifest against l before its config or layers
// are read: the number of layers, and the config's size as the manifest
// declares it (ggcr and the store read a blob only up to its declared size
// and verify its digest, so the declared size bounds what is read). For a
// remote image, reading the manifest is itself bounded by the Client's
// transport (ManifestSize). ref names the image in the error.
func (l Limits) CheckImage(ref string, img v1.Image) error {
	l = l.WithDefaults()
	m, err := img.Manifest()
	if err != nil {
		return err
	}
	if n := len(m.Layers); n > l.Layers {
		return &LimitError{Ref: ref, What: "layers", Size: int64(n), Limit: int64(l.Layers), Key: "layers"}
	}
	if m.Config.Size > l.ConfigSize || m.Config.Size < 0 {
		return &LimitError{Ref: ref, What: "config " + m.Config.Digest.String(), Size: m.Config.Size, Limit: l.ConfigSize, Key: "config-size"}
	}
	if int64(len(m.Config.Data)) > l.ConfigSize {
		return &LimitError{Ref: ref, What: "config " + m.Config.Digest.String(), Size: int64(len(m.Config.Data)), Limit: l.ConfigSize, Key: "config-size"}
	}
	return nil
}

// ManifestSizeError returns the LimitError for a manifest of size bytes
// (>limit) of ref, for readers of manifests outside the Client's transport
// (a store, a layout).
func ManifestSizeError(ref string, size, limit int64) error {
	return &LimitError{Ref: ref, What: "manifest", Size: size, Limit: limit, Key: "manifest-size"}
}

// limitTransport caps the bodies of manifest responses (GET
// /v2/NAME/manifests/REF, an image manifest or an index) at max bytes: a
// Content-Length over it fails before the body is read, and a body that
// runs past it fails at the first byte over.
type limitTransport struct {
	inner http.RoundTripper
	max   int64
}

func (t *limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.inner.RoundTrip(req)
	if err != nil || req.Method != http.MethodGet || !isManifestPath(req.URL.Path) || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	// The http.Client's error ("Get URL: …") names the manifest.
	const ref = ""
	if resp.ContentLength > t.max {
		resp.Body.Close()
		return nil, ManifestSizeError(ref, resp.ContentLength, t.max)
	}
	resp.Body = &capped{rc: resp.Body, left: t.max, ref: ref, max: t.max}
	return resp, nil
}

// isManifestPath reports whether p is a registry API manifest path,
// /v2/NAME/manifests/REF.
func isManifestPath(p string) bool {
	if !strings.HasPrefix(p, "/v2/") {
		return false
	}
	i := strings.LastIndex(p, "/manifests/")
	return i > len("/v2") && !strings.Contains(p[i+len("/manifests/"):], "/")
}

// capped fails a read that goes past left bytes.
type capped struct {
	rc   io.ReadCloser
	left int64
	ref  string
	max  int64
}

func (c *capped) Read(p []byte) (int, error) {
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.rc.Read(p)
	c.left -= int64(n)
	if c.left < 0 {
		return 0, ManifestSizeError(c.ref, c.max-c.left, c.max)
	}
	return n, err
}

func (c *capped) Close() error { return c.rc.Close() }

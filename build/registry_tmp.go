package build

// TEMPORARY: copies of cmd/bld's registry helpers, replaced by the registry package when it lands.
import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// blobLocations remembers which registry repositories hold a blob (pushed
// or pulled there), so a push to another repository of the same registry
// asks the registry to mount the blob instead of uploading it again, as
// buildah's blob-info cache does. It is a hint: a failed mount falls back
// to an upload. Kept in <root>/cache/blob-locations.json.
type blobLocations struct {
	path string
	mu   sync.Mutex          // protects m
	m    map[string][]string // digest -> repositories ("registry/repo")
}

func openBlobLocations(path string) *blobLocations {
	b := &blobLocations{path: path, m: map[string][]string{}}
	if data, err := os.ReadFile(b.path); err == nil {
		_ = json.Unmarshal(data, &b.m) // a torn file is an empty hint
	}
	return b
}

// maxLocations bounds the repositories remembered per blob.
const maxLocations = 8

// add records that repo holds the blobs and saves the file (temp + rename;
// a lost update between two processes only costs a later upload).
func (b *blobLocations) add(repo name.Repository, digests []v1.Hash) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := repo.Name()
	for _, d := range digests {
		list := b.m[d.String()]
		if slices.Contains(list, r) {
			continue
		}
		list = append([]string{r}, list...)
		b.m[d.String()] = list[:min(len(list), maxLocations)]
	}
	data, err := json.Marshal(b.m)
	if err != nil {
		return
	}
	tmp, err := os.CreateTemp(filepath.Dir(b.path), "blobloc-*")
	if err != nil {
		return
	}
	_, werr := tmp.Write(data)
	if cerr := tmp.Close(); werr != nil || cerr != nil {
		os.Remove(tmp.Name())
		return
	}
	if err := os.Rename(tmp.Name(), b.path); err != nil {
		os.Remove(tmp.Name())
	}
}

// source returns a repository of target's registry, other than target,
// known to hold digest.
func (b *blobLocations) source(insecure []string, digest v1.Hash, target name.Repository) (name.Repository, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range b.m[digest.String()] {
		ref, err := parseRef(insecure, r+":latest")
		if err != nil {
			continue
		}
		repo := ref.Context()
		if repo.RegistryStr() == target.RegistryStr() && repo.RepositoryStr() != target.RepositoryStr() {
			return repo, true
		}
	}
	return name.Repository{}, false
}

// layerDigests lists the digests of an image's layers.
func layerDigests(img v1.Image) []v1.Hash {
	m, err := img.Manifest()
	if err != nil {
		return nil
	}
	out := make([]v1.Hash, 0, len(m.Layers))
	for _, l := range m.Layers {
		out = append(out, l.Digest)
	}
	return out
}

// mountable returns img with each layer that another repository of
// target's registry holds marked as mountable from there.
func (b *blobLocations) mountable(insecure []string, img v1.Image, target name.Repository) v1.Image {
	ls, err := img.Layers()
	if err != nil {
		return img
	}
	out := make([]v1.Layer, len(ls))
	changed := false
	for i, l := range ls {
		out[i] = l
		if _, ok := l.(*remote.MountableLayer); ok {
			continue
		}
		d, err := l.Digest()
		if err != nil {
			continue
		}
		if repo, ok := b.source(insecure, d, target); ok {
			out[i] = &remote.MountableLayer{Layer: l, Reference: repo.Digest(d.String())}
			changed = true
		}
	}
	if !changed {
		return img
	}
	return &mountImage{Image: img, layers: out}
}

// mountImage is an image whose layers are replaced by mountable ones.
type mountImage struct {
	v1.Image
	layers []v1.Layer
}

func (m *mountImage) Layers() ([]v1.Layer, error) { return m.layers, nil }

func (m *mountImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	for _, l := range m.layers {
		if d, err := l.Digest(); err == nil && d == h {
			return l, nil
		}
	}
	return m.Image.LayerByDigest(h)
}

// isLoopback reports whether a registry host is on this machine; those are
// reached over plain HTTP by default.
func isLoopback(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(h, "[]"))
	return ip != nil && ip.IsLoopback()
}

// parseRef parses an image reference, allowing plain HTTP for loopback
// registries and the --insecure-registry hosts.
func parseRef(insecure []string, ref string) (name.Reference, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("invalid reference %q: %w", ref, err)
	}
	host := r.Context().RegistryStr()
	if isInsecure(insecure, host) {
		return name.ParseReference(ref, name.Insecure)
	}
	return r, nil
}

func remoteOptions(ctx context.Context, platform *v1.Platform) []remote.Option {
	opts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(authn.DefaultKeychain),
		remote.WithJobs(4),
	}
	if platform != nil {
		opts = append(opts, remote.WithPlatform(*platform))
	}
	return opts
}

// registryError puts the HTTP status first in a registry's error, so the
// one line a user sees says what the registry answered.
func registryError(err error) error {
	var te *transport.Error
	if errors.As(err, &te) && te.StatusCode != 0 {
		return fmt.Errorf("HTTP %d %s: %w", te.StatusCode, http.StatusText(te.StatusCode), err)
	}
	return err
}

// isInsecure reports whether host is reached over plain HTTP.
func isInsecure(insecure []string, host string) bool {
	return isLoopback(host) || slices.Contains(insecure, host)
}

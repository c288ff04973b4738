package registry

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/bldbuild/bld/internal/atomicfile"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// BlobLocations remembers which registry repositories hold a blob (pushed
// or pulled there), so a push to another repository of the same registry
// asks the registry to mount the blob instead of uploading it again, as
// buildah's blob-info cache does. It is a hint: a failed mount falls back
// to an upload. It is kept in one JSON file; safe for concurrent use.
type BlobLocations struct {
	path string
	mu   sync.Mutex          // protects m
	m    map[string][]string // digest -> repositories ("registry/repo")
}

// OpenBlobLocations reads the locations kept in the file at path (none
// when it is missing or torn).
func OpenBlobLocations(path string) *BlobLocations {
	b := &BlobLocations{path: path, m: map[string][]string{}}
	if data, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(data, &b.m) // a torn file is an empty hint
	}
	return b
}

// maxLocations bounds the repositories remembered per blob.
const maxLocations = 8

// Add records that repo holds the blobs and saves the file (with
// internal/atomicfile; a lost update between two processes only costs a
// later upload, so a failed save is dropped).
func (b *BlobLocations) Add(repo name.Repository, digests []v1.Hash) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := repo.Name()
	changed := false
	for _, d := range digests {
		list := b.m[d.String()]
		if slices.Contains(list, r) {
			continue
		}
		list = append([]string{r}, list...)
		b.m[d.String()] = list[:min(len(list), maxLocations)]
		changed = true
	}
	if !changed {
		// Nothing new (a re-push, a pull of what was pulled): no write,
		// whose two fsyncs were 2 ms of a 35 ms re-push.
		return
	}
	data, err := json.Marshal(b.m)
	if err != nil {
		return
	}
	if err := os.MkdirAll(filepath.Dir(b.path), 0o700); err != nil {
		return
	}
	_ = atomicfile.WriteFile(b.path, data, 0o600) // a hint: see above
}

// Source returns a repository of target's registry, other than target,
// known to hold digest. It is reached as target is (same scheme).
func (b *BlobLocations) Source(digest v1.Hash, target name.Repository) (name.Repository, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range b.m[digest.String()] {
		repo, err := name.NewRepository(r)
		if err != nil {
			continue
		}
		if repo.RegistryStr() == target.RegistryStr() && repo.RepositoryStr() != target.RepositoryStr() {
			return target.Registry.Repo(repo.RepositoryStr()), true
		}
	}
	return name.Repository{}, false
}

// Mountable returns img with each layer that another repository of
// target's registry holds marked as mountable from there; img itself when
// none is.
func (b *BlobLocations) Mountable(img v1.Image, target name.Repository) v1.Image {
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
		if repo, ok := b.Source(d, target); ok {
			out[i] = &remote.MountableLayer{Layer: l, Reference: repo.Digest(d.String())}
			changed = true
		}
	}
	if !changed {
		return img
	}
	return &mountImage{Image: img, layers: out}
}

// LayerDigests lists the digests of an image's layers (none when its
// manifest cannot be read).
func LayerDigests(img v1.Image) []v1.Hash {
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

// MountFrom returns img with every layer, and the config, marked as
// mountable from the repository of from (of the same registry), where
// they were just pushed. Layers already mountable from elsewhere are
// re-pointed at from.
func MountFrom(img v1.Image, from name.Reference) v1.Image {
	return &mountImage{Image: img, from: from}
}

// mountImage is an image whose blobs a push asks the registry to mount:
// either the given layers (some mountable), or all of them and the config
// from one reference.
type mountImage struct {
	v1.Image
	layers []v1.Layer     // when set, the image's layers
	from   name.Reference // when set, where every blob is mounted from
}

func (m *mountImage) Layers() ([]v1.Layer, error) {
	if m.from == nil {
		return m.layers, nil
	}
	ls, err := m.Image.Layers()
	if err != nil {
		return nil, err
	}
	out := make([]v1.Layer, len(ls))
	for i, l := range ls {
		if ml, ok := l.(*remote.MountableLayer); ok {
			l = ml.Layer
		}
		out[i] = &remote.MountableLayer{Layer: l, Reference: m.from}
	}
	return out, nil
}

func (m *mountImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	ls, err := m.Layers()
	if err != nil {
		return nil, err
	}
	for _, l := range ls {
		if d, err := l.Digest(); err == nil && d == h {
			return l, nil
		}
	}
	return m.Image.LayerByDigest(h)
}

// ConfigLayer makes the config blob mountable too when every blob is
// (partial.ConfigLayer looks for this method).
func (m *mountImage) ConfigLayer() (v1.Layer, error) {
	l, err := partial.ConfigLayer(m.Image)
	if err != nil || m.from == nil {
		return l, err
	}
	return &remote.MountableLayer{Layer: l, Reference: m.from}, nil
}

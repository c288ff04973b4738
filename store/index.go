package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"github.com/bldbuild/bld/internal/imageref"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Named is an image name and the manifest descriptor it points at.
type Named struct {
	Name       string
	Descriptor v1.Descriptor
}

// Normalize returns the full form of an image name, as the store records
// it: "app" is "docker.io/library/app:latest", "app:v1" is
// "docker.io/library/app:v1", "localhost:5000/app:v1" stays as it is. It
// is imageref.Normalize, the one spelling the exporters use too.
func Normalize(ref string) (string, error) { return imageref.Normalize(ref) }

// key is what two names are compared by: the normalized name, or the name
// as it is when it does not parse (names other tools wrote, like "v1").
func key(s string) string {
	if n, err := Normalize(s); err == nil {
		return n
	}
	return s
}

func refName(d v1.Descriptor) string { return d.Annotations[ocispec.AnnotationRefName] }

// Tag points the image name at desc, a manifest (or index) already in the
// store, replacing what the name pointed at. name must be a tag reference
// ("app", "app:v1", "registry:5000/team/app:v1"); it is recorded
// normalized. Tag is atomic: a concurrent reader sees the old index or the
// new one.
func (s *Store) Tag(ref string, desc v1.Descriptor) error {
	full, err := Normalize(ref)
	if err != nil {
		return fmt.Errorf("tag %s: %w", ref, err)
	}
	if strings.Contains(full, "@") {
		return fmt.Errorf("tag %s: a name must be a tag, not a digest", ref)
	}
	if !desc.MediaType.IsImage() && !desc.MediaType.IsIndex() {
		return fmt.Errorf("tag %s: %s is not a manifest media type", ref, desc.MediaType)
	}
	size, err := s.Stat(desc.Digest)
	if err != nil {
		return fmt.Errorf("tag %s: %w", ref, err)
	}
	if size != desc.Size {
		return fmt.Errorf("tag %s: manifest %s has %d bytes, descriptor says %d", ref, desc.Digest, size, desc.Size)
	}
	d := desc
	d.Annotations = maps.Clone(desc.Annotations)
	if d.Annotations == nil {
		d.Annotations = map[string]string{}
	}
	d.Annotations[ocispec.AnnotationRefName] = full
	// A rebuild tags its image with the name that names it already: then
	// nothing is locked or written. (Read without the lock: index.json is
	// replaced whole, and a Tag racing this one is as if it came after.)
	if idx, err := s.readIndex(); err == nil {
		for _, e := range idx.Manifests {
			if refName(e) == full && reflect.DeepEqual(e, d) {
				return nil
			}
		}
	}
	err = s.updateIndex(func(ds []v1.Descriptor) ([]v1.Descriptor, bool) {
		ds = removeName(ds, full)
		return append(ds, d), true
	})
	if err != nil {
		return fmt.Errorf("tag %s: %w", ref, err)
	}
	return nil
}

// Untag removes the name, or returns an error wrapping ErrNotFound. The
// manifest and its blobs stay.
func (s *Store) Untag(ref string) error {
	k := key(ref)
	err := s.updateIndex(func(ds []v1.Descriptor) ([]v1.Descriptor, bool) {
		out := removeName(ds, k)
		return out, len(out) != len(ds)
	})
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("image %s: %w", ref, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("untag %s: %w", ref, err)
	}
	return nil
}

func removeName(ds []v1.Descriptor, k string) []v1.Descriptor {
	out := ds[:0:0]
	for _, d := range ds {
		if n := refName(d); n == "" || key(n) != k {
			out = append(out, d)
		}
	}
	return out
}

// Resolve returns the descriptor of an image: by name (short forms like
// "app:v1" and "app", meaning "app:latest", are accepted), by digest
// ("sha256:…", named or not), or by a unique prefix of at least 12 hex
// digits of a named image's digest. It returns an error wrapping
// ErrNotFound when nothing matches.
func (s *Store) Resolve(ref string) (v1.Descriptor, error) {
	idx, err := s.readIndex()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("resolve %s: %w", ref, err)
	}
	k := key(ref)
	for _, d := range idx.Manifests {
		if n := refName(d); n != "" && (n == ref || key(n) == k) {
			return d, nil
		}
	}

	hexs := strings.TrimPrefix(ref, "sha256:")
	if len(hexs) < 12 || len(hexs) > 64 || !isHex(hexs) {
		return v1.Descriptor{}, fmt.Errorf("image %s: %w", ref, ErrNotFound)
	}
	var found []v1.Descriptor
	for _, d := range idx.Manifests {
		if d.Digest.Algorithm == "sha256" && strings.HasPrefix(d.Digest.Hex, hexs) &&
			(len(found) == 0 || found[0].Digest != d.Digest) {
			found = append(found, d)
		}
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(found) > 1:
		return v1.Descriptor{}, fmt.Errorf("image %s: prefix matches %s and %s", ref, found[0].Digest, found[1].Digest)
	case len(hexs) == 64:
		return s.describe(v1.Hash{Algorithm: "sha256", Hex: hexs})
	}
	return v1.Descriptor{}, fmt.Errorf("image %s: %w", ref, ErrNotFound)
}

// describe returns the descriptor of an unnamed manifest blob.
func (s *Store) describe(h v1.Hash) (v1.Descriptor, error) {
	size, err := s.Stat(h)
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("image %s: %w", h, ErrNotFound)
	}
	if size > 4<<20 { // far more than any manifest: a layer
		return v1.Descriptor{}, fmt.Errorf("image %s: blob is not a manifest", h)
	}
	b, err := s.readBlob(h)
	if err != nil {
		return v1.Descriptor{}, err
	}
	var m struct {
		MediaType types.MediaType  `json:"mediaType"`
		Config    *json.RawMessage `json:"config"`
		Manifests *json.RawMessage `json:"manifests"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return v1.Descriptor{}, fmt.Errorf("image %s: blob is not a manifest", h)
	}
	mt := m.MediaType
	switch {
	case mt == "" && m.Config != nil:
		mt = types.OCIManifestSchema1
	case mt == "" && m.Manifests != nil:
		mt = types.OCIImageIndex
	}
	if !mt.IsImage() && !mt.IsIndex() {
		return v1.Descriptor{}, fmt.Errorf("image %s: blob is not a manifest", h)
	}
	return v1.Descriptor{MediaType: mt, Size: size, Digest: h}, nil
}

// Images returns the named images, sorted by name. Manifests in index.json
// without a name are left out.
func (s *Store) Images() ([]Named, error) {
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	var out []Named
	for _, d := range idx.Manifests {
		if n := refName(d); n != "" {
			out = append(out, Named{Name: n, Descriptor: d})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (s *Store) indexPath() string { return filepath.Join(s.content, "index.json") }

func (s *Store) readIndex() (*v1.IndexManifest, error) {
	idx, _, err := s.readIndexBytes()
	return idx, err
}

// readIndexBytes is readIndex that also returns the file's bytes (nil
// when there is none).
func (s *Store) readIndexBytes() (*v1.IndexManifest, []byte, error) {
	b, err := os.ReadFile(s.indexPath())
	if errors.Is(err, fs.ErrNotExist) {
		return &v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", s.indexPath(), err)
	}
	return &idx, b, nil
}

// updateIndex rewrites index.json with fn's result under the index lock.
// If fn reports no change, nothing is written and ErrNotFound returned.
func (s *Store) updateIndex(fn func([]v1.Descriptor) ([]v1.Descriptor, bool)) error {
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	idx, old, err := s.readIndexBytes()
	if err != nil {
		return err
	}
	ds, changed := fn(idx.Manifests)
	if !changed {
		return ErrNotFound
	}
	// Sorted by name, then digest: equal sets of names give equal files.
	sort.SliceStable(ds, func(i, j int) bool {
		if a, b := refName(ds[i]), refName(ds[j]); a != b {
			return a < b
		}
		return ds[i].Digest.String() < ds[j].Digest.String()
	})
	if ds == nil {
		ds = []v1.Descriptor{}
	}
	idx.Manifests = ds
	if idx.SchemaVersion == 0 {
		idx.SchemaVersion = 2
	}
	if idx.MediaType == "" {
		idx.MediaType = types.OCIImageIndex
	}
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if bytes.Equal(b, old) {
		// The same file (a rebuild tagging the image its name already
		// names): it was made durable when it was written.
		return nil
	}
	return s.writeFile(s.indexPath(), b)
}

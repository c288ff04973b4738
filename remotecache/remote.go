package remotecache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/bldbuild/bld/cache"
	"github.com/bldbuild/bld/internal/optspec"
	"github.com/bldbuild/bld/internal/readers"
	"github.com/bldbuild/bld/registry"
)

// The remote cache format. A registry or local cache is one OCI image
// manifest whose config blob (ConfigMediaType) holds the records and whose
// layers are the records' layer blobs, deduplicated, followed by one
// tar+zstd blob per exported RUN cache mount (annotated MountIDAnnotation).
// An inline cache is the same records document in the InlineAnnotation of
// an image's own manifest, with layer indexes into the image's layers.
const (
	// ConfigMediaType is the media type of a cache manifest's config blob.
	ConfigMediaType types.MediaType = "application/vnd.bld.cache.config.v1+json"
	// InlineAnnotation is the image manifest annotation of an inline cache.
	InlineAnnotation = "dev.bld.cache.v1"
	// MountIDAnnotation names the cache mount id of a cache mount blob.
	MountIDAnnotation = "dev.bld.cache.mount.id"
	// MountDiffIDAnnotation holds the digest of a cache mount blob's tar.
	MountDiffIDAnnotation = "dev.bld.cache.mount.diffid"

	// formatVersion is the version of the records document; Import rejects
	// others.
	formatVersion = 1
	// maxDocument bounds the manifests and config blobs Import reads.
	maxDocument = 32 << 20
)

// ErrNoCache is returned, wrapped with the cache's reference, by Import when
// the cache does not exist (the first build of a pipeline).
var ErrNoCache = errors.New("not found")

// document is the config blob of a cache manifest (and the value of
// InlineAnnotation): records by key hex.
type document struct {
	Version int                  `json:"version"`
	Records map[string]docRecord `json:"records"`
}

// docRecord is one record of a document. Layer indexes the manifest's
// layers; nil for a step that changed nothing.
type docRecord struct {
	Layer     *int    `json:"layer"`
	DiffID    v1.Hash `json:"diffID,omitzero"`
	CreatedBy string  `json:"createdBy,omitempty"`
	// Created is when the step was first built, so an image assembled
	// from imported records has the same digest as the exporter's.
	Created time.Time `json:"created,omitzero"`
}

// Remote is an imported cache: read-only records by key, whose layers are
// fetched lazily. It is safe for concurrent use.
type Remote struct {
	src     string // the reference or directory, for messages
	records map[cache.Key]cache.Record
	mounts  []MountBlob
	layer   func(desc v1.Descriptor, diffID v1.Hash) (v1.Layer, error)
}

// MountBlob is an exported RUN cache mount: its id and its content, a
// tar+zstd layer (see UnpackMount).
type MountBlob struct {
	ID    string
	Layer v1.Layer
}

// String returns the reference or directory the cache was imported from.
func (r *Remote) String() string { return r.src }

// Get returns the record for k: Key, Layer (nil for a step that changed
// nothing), DiffID and CreatedBy; Snapshot is "".
func (r *Remote) Get(k cache.Key) (cache.Record, bool) {
	rec, ok := r.records[k]
	if rec.Layer != nil {
		d := *rec.Layer
		rec.Layer = &d
	}
	return rec, ok
}

// Len returns the number of records.
func (r *Remote) Len() int { return len(r.records) }

// Mounts returns the cache mounts the cache carries, sorted by id.
func (r *Remote) Mounts() []MountBlob { return append([]MountBlob(nil), r.mounts...) }

// Layer returns the layer blob desc of the cache, with uncompressed digest
// diffID. It is lazy: nothing is read until the layer's content is. For a
// registry cache it is a *remote.MountableLayer of the cache repository, so
// that remote.Write to another repository of the same registry mounts it
// rather than uploading it again; for a local cache it reads the layout's
// blob file. Reads verify the blob's digest.
func (r *Remote) Layer(desc v1.Descriptor, diffID v1.Hash) (v1.Layer, error) {
	if r.layer == nil {
		return nil, errors.New("cache not imported")
	}
	return r.layer(desc, diffID)
}

// Import reads the cache spec names, a --cache-from value (see
// ParseImportSpec). nameOpts parse the reference (name.Insecure for
// loopback registries); opts carry auth and transport. ctx also governs
// later reads of the cache's layers. Errors start with "cache-from REF" and
// wrap ErrNoCache when the cache does not exist; ImportAll reports them as
// warnings and the build runs without the cache.
func Import(ctx context.Context, spec string, nameOpts []name.Option, opts ...remote.Option) (*Remote, error) {
	s, err := ParseImportSpec(spec)
	if err != nil {
		return nil, fmt.Errorf("cache-from %q: %w", spec, err)
	}
	return s.Import(ctx, nameOpts, opts...)
}

// Import reads the cache s names; see the function Import.
func (s ImportSpec) Import(ctx context.Context, nameOpts []name.Option, opts ...remote.Option) (*Remote, error) {
	switch s.Type {
	case "local":
		r, err := importLocal(s.Src, s.Tag, s.Digest)
		if err != nil {
			return nil, fmt.Errorf("cache-from %s: %w", s.Src, err)
		}
		return r, nil
	default:
		r, err := importRegistry(ctx, s.Ref, s.Type == "inline", nameOpts, opts)
		if err != nil {
			return nil, fmt.Errorf("cache-from %s: %w", s.Ref, err)
		}
		return r, nil
	}
}

// ImportSpec is a parsed --cache-from value.
type ImportSpec struct {
	Type   string // "registry", "local" or "inline"
	Ref    string // registry, inline: the reference of the cache or image
	Src    string // local: the OCI layout directory
	Tag    string // local: the tag in the layout; "latest" unless Digest is set
	Digest string // local: the manifest digest in the layout
}

// ParseImportSpec parses a --cache-from value:
//
//	type=registry,ref=REG/REPO:TAG   (or just REG/REPO:TAG)
//	type=local,src=DIR[,tag=T][,digest=sha256:...]
//	type=inline,ref=REG/REPO:TAG
//
// A registry ref whose manifest is an image carrying InlineAnnotation is
// read as an inline cache. Fields are read with internal/optspec (a field
// holding a comma is quoted, as in buildx). Errors name the bad key or value.
func ParseImportSpec(spec string) (ImportSpec, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return ImportSpec{}, errors.New("empty cache source")
	}
	if !strings.Contains(spec, "=") {
		return ImportSpec{Type: "registry", Ref: spec}, nil
	}
	fields, err := parseSpec(spec, "type", "ref", "src", "tag", "digest")
	if err != nil {
		return ImportSpec{}, err
	}
	s := ImportSpec{}
	s.Type, _ = fields.Get("type")
	s.Ref, _ = fields.Get("ref")
	s.Src, _ = fields.Get("src")
	s.Tag, _ = fields.Get("tag")
	s.Digest, _ = fields.Get("digest")
	if s.Type == "" {
		s.Type = "registry"
	}
	switch s.Type {
	case "registry", "inline":
		if s.Ref == "" {
			return s, fmt.Errorf("type=%s needs ref=", s.Type)
		}
		if s.Src != "" || s.Tag != "" || s.Digest != "" {
			return s, fmt.Errorf("type=%s takes ref=, not src=, tag= or digest=", s.Type)
		}
	case "local":
		if s.Src == "" {
			return s, errors.New("type=local needs src=")
		}
		if s.Ref != "" {
			return s, errors.New("type=local takes src=, not ref=")
		}
		if s.Tag != "" && s.Digest != "" {
			return s, errors.New("type=local takes tag= or digest=, not both")
		}
		if s.Digest != "" {
			if _, err := v1.NewHash(s.Digest); err != nil {
				return s, fmt.Errorf("digest=%s: %w", s.Digest, err)
			}
		}
		if s.Tag == "" && s.Digest == "" {
			s.Tag = "latest"
		}
	default:
		return s, fmt.Errorf("unsupported cache type %q (want registry, local or inline)", s.Type)
	}
	return s, nil
}

// fieldError is the error of a spec field without a value.
type fieldError struct{ field string }

func (e *fieldError) Error() string { return fmt.Sprintf("%q: want key=value", e.field) }

// parseSpec reads a --cache-from or --cache-to spec with internal/optspec
// and keeps the error texts these flags have always had: an unknown key is
// named without the list, a field without a value is a *fieldError.
func parseSpec(spec string, keys ...string) (optspec.Spec, error) {
	fields, err := optspec.Syntax{Keys: keys, Bare: true}.Parse(spec)
	var uk *optspec.UnknownKeyError
	if errors.As(err, &uk) {
		return nil, fmt.Errorf("unknown key %q", uk.Key)
	}
	if err != nil {
		return nil, err
	}
	for _, f := range fields {
		switch {
		case f.Key == "":
			return nil, &fieldError{f.Value}
		case f.Value == "":
			return nil, &fieldError{f.Key + "="}
		}
	}
	return fields, nil
}

// importRegistry reads the cache manifest (or, when inline or when it is an
// image carrying InlineAnnotation, the image manifest) at refStr.
func importRegistry(ctx context.Context, refStr string, inline bool, nameOpts []name.Option, opts []remote.Option) (*Remote, error) {
	ref, err := name.ParseReference(refStr, nameOpts...)
	if err != nil {
		return nil, err
	}
	opts = append(opts[:len(opts):len(opts)], remote.WithContext(ctx))
	// One puller for the manifest, the config and every later layer read,
	// so the registry's ping and token exchange happen once.
	p, err := remote.NewPuller(opts...)
	if err != nil {
		return nil, err
	}
	opts = append(opts, remote.Reuse(p))
	desc, err := remote.Get(ref, opts...)
	if err != nil {
		return nil, registryError(err)
	}
	if desc.Size > maxDocument {
		return nil, fmt.Errorf("manifest is %d bytes, not a bld cache", desc.Size)
	}
	m, err := parseManifest(desc.MediaType, desc.Manifest)
	if err != nil {
		return nil, err
	}
	repo := ref.Context()
	layer := func(d v1.Descriptor, diffID v1.Hash) (v1.Layer, error) {
		return registryLayer(repo, d, diffID, opts), nil
	}
	var doc []byte
	switch {
	case !inline && isCacheManifest(m):
		// A missing config is a broken cache, not a missing one: no
		// registryError here.
		cl, err := remote.Layer(repo.Digest(m.Config.Digest.String()), opts...)
		if err != nil {
			return nil, fmt.Errorf("read cache config %s: %w", m.Config.Digest, err)
		}
		if doc, err = readBlob(cl, m.Config); err != nil {
			return nil, fmt.Errorf("read cache config %s: %w", m.Config.Digest, err)
		}
	case m.Annotations[InlineAnnotation] != "":
		doc = []byte(m.Annotations[InlineAnnotation])
	case inline:
		return nil, fmt.Errorf("image has no inline cache (annotation %s)", InlineAnnotation)
	default:
		return nil, fmt.Errorf("not a bld cache (config media type %s)", m.Config.MediaType)
	}
	return newRemote(ref.String(), doc, m, layer)
}

// isCacheManifest reports whether m is a cache manifest: its config has
// ConfigMediaType, or (for registries that insist on an image config media
// type) its artifactType is ConfigMediaType.
func isCacheManifest(m *v1.Manifest) bool {
	return m.Config.MediaType == ConfigMediaType || m.ArtifactType == string(ConfigMediaType)
}

// parseManifest parses an image manifest, refusing indexes and other kinds.
func parseManifest(mt types.MediaType, raw []byte) (*v1.Manifest, error) {
	switch mt {
	case types.OCIManifestSchema1, types.DockerManifestSchema2:
	case types.OCIImageIndex, types.DockerManifestList:
		return nil, errors.New("an image index, not a bld cache")
	default:
		return nil, fmt.Errorf("not a bld cache (manifest media type %s)", mt)
	}
	m, err := v1.ParseManifest(strings.NewReader(string(raw)))
	if err != nil {
		return nil, fmt.Errorf("corrupt manifest: %w", err)
	}
	return m, nil
}

// readBlob reads a small blob whole, checking its size and digest.
func readBlob(l v1.Layer, d v1.Descriptor) ([]byte, error) {
	if d.Size < 0 || d.Size > maxDocument {
		return nil, fmt.Errorf("blob is %d bytes, want at most %d", d.Size, maxDocument)
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(readers.Verify(rc, d.Digest, d.Size))
	if err != nil {
		return nil, err
	}
	return b, nil
}

// newRemote makes a Remote from a records document and the manifest whose
// layers its indexes refer to.
func newRemote(src string, raw []byte, m *v1.Manifest, layer func(v1.Descriptor, v1.Hash) (v1.Layer, error)) (*Remote, error) {
	var doc document
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("corrupt cache config: %w", err)
	}
	if doc.Version != formatVersion {
		return nil, fmt.Errorf("unsupported cache format version %d (want %d)", doc.Version, formatVersion)
	}
	r := &Remote{src: src, records: make(map[cache.Key]cache.Record, len(doc.Records)), layer: layer}
	for hex, dr := range doc.Records {
		k, err := cache.ParseKey(hex)
		if err != nil {
			return nil, fmt.Errorf("corrupt cache config: %w", err)
		}
		rec := cache.Record{Key: k, CreatedBy: dr.CreatedBy, Created: dr.Created}
		if dr.Layer != nil {
			i := *dr.Layer
			if i < 0 || i >= len(m.Layers) {
				return nil, fmt.Errorf("corrupt cache config: record %s: layer %d of %d", hex, i, len(m.Layers))
			}
			if dr.DiffID.Hex == "" {
				return nil, fmt.Errorf("corrupt cache config: record %s: no diffID", hex)
			}
			d := m.Layers[i]
			d.Annotations = nil
			rec.Layer, rec.DiffID = &d, dr.DiffID
		}
		r.records[k] = rec
	}
	for _, d := range m.Layers {
		id := d.Annotations[MountIDAnnotation]
		if id == "" {
			continue
		}
		diffID, err := v1.NewHash(d.Annotations[MountDiffIDAnnotation])
		if err != nil {
			return nil, fmt.Errorf("corrupt cache manifest: cache mount %s: %w", id, err)
		}
		l, err := layer(d, diffID)
		if err != nil {
			return nil, fmt.Errorf("cache mount %s: %w", id, err)
		}
		r.mounts = append(r.mounts, MountBlob{ID: id, Layer: l})
	}
	sort.Slice(r.mounts, func(i, j int) bool { return r.mounts[i].ID < r.mounts[j].ID })
	return r, nil
}

// registryError turns a registry's "no such manifest, repository or blob"
// into ErrNoCache; other errors (authentication ones say UNAUTHORIZED or
// DENIED) pass as they are.
func registryError(err error) error {
	if registry.IsNotFound(err) {
		return ErrNoCache // the caller names the cache; a missing one is normal
	}
	return err
}

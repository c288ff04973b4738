package remotecache

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	units "github.com/docker/go-units"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/bldbuild/bld/cache"
	"github.com/bldbuild/bld/internal/compress"
)

// DefaultMountMax is the largest cache mount exported when ExportSpec
// does not say (cache-mount-max=).
const DefaultMountMax = 512 << 20

// ExportSpec is a parsed --cache-to value.
type ExportSpec struct {
	Type        string // "registry", "local" or "inline"
	Ref         string // registry: the cache's reference
	Dest        string // local: the OCI layout directory
	Tag         string // local: the tag of the cache in the layout; "latest" by default
	Mode        string // "min" (default: the records of the final image's steps) or "max" (every step)
	Compression string // "" (layers as stored), "gzip" or "zstd"
	CacheMounts bool   // export RUN cache mounts too
	MountMax    int64  // bytes; a larger cache mount is skipped with a note
	IgnoreError bool   // the caller reports a failed export as a warning
	Inline      bool   // type=inline: Write writes nothing; see InlineAnnotations
}

// ParseExportSpec parses a --cache-to value:
//
//	type=registry,ref=REG/REPO:TAG[,mode=min|max][,compression=gzip|zstd]
//	    [,cache-mounts=true][,cache-mount-max=SIZE][,ignore-error=true]
//	REG/REPO:TAG   (type=registry)
//	type=local,dest=DIR[,tag=T][,mode=...][,...]
//	type=inline
//
// SIZE is bytes or a number with a K, M, G suffix (KiB, MiB, GiB). buildx's
// image-manifest= and oci-mediatypes= are accepted and ignored: the cache is
// always an OCI image manifest. Fields are read with internal/optspec.
// Errors name the bad key or value.
func ParseExportSpec(s string) (ExportSpec, error) {
	spec := ExportSpec{Mode: "min", MountMax: DefaultMountMax}
	s = strings.TrimSpace(s)
	if s == "" {
		return spec, errors.New("cache-to: empty value")
	}
	if !strings.Contains(s, "=") && s != "inline" {
		spec.Type, spec.Ref = "registry", s
		return spec, nil
	}
	if s == "inline" {
		s = "type=inline"
	}
	fields, err := parseSpec(s, "type", "ref", "dest", "tag", "mode", "compression", "cache-mounts",
		"ignore-error", "image-manifest", "oci-mediatypes", "cache-mount-max")
	var fe *fieldError
	switch {
	case errors.As(err, &fe):
		return spec, fmt.Errorf("cache-to %w", err)
	case err != nil:
		return spec, fmt.Errorf("cache-to: %w", err)
	}
	for _, f := range fields {
		k, v := f.Key, f.Value
		var err error
		switch k {
		case "type":
			spec.Type = v
		case "ref":
			spec.Ref = v
		case "dest":
			spec.Dest = v
		case "tag":
			spec.Tag = v
		case "mode":
			if v != "min" && v != "max" {
				return spec, fmt.Errorf("cache-to mode=%s: want min or max", v)
			}
			spec.Mode = v
		case "compression":
			if v != "gzip" && v != "zstd" {
				return spec, fmt.Errorf("cache-to compression=%s: want gzip or zstd", v)
			}
			spec.Compression = v
		case "cache-mounts":
			spec.CacheMounts, err = strconv.ParseBool(v)
		case "ignore-error":
			spec.IgnoreError, err = strconv.ParseBool(v)
		case "image-manifest", "oci-mediatypes":
			_, err = strconv.ParseBool(v)
		case "cache-mount-max":
			spec.MountMax, err = parseSize(v)
		}
		if err != nil {
			return spec, fmt.Errorf("cache-to %s=%s: %w", k, v, unwrapNum(err))
		}
	}
	if spec.Type == "" {
		spec.Type = "registry"
	}
	switch spec.Type {
	case "registry":
		if spec.Ref == "" {
			return spec, errors.New("cache-to type=registry needs ref=")
		}
		if spec.Dest != "" || spec.Tag != "" {
			return spec, errors.New("cache-to type=registry takes ref=, not dest= or tag=")
		}
	case "local":
		if spec.Dest == "" {
			return spec, errors.New("cache-to type=local needs dest=")
		}
		if spec.Ref != "" {
			return spec, errors.New("cache-to type=local takes dest=, not ref=")
		}
		if spec.Tag == "" {
			spec.Tag = "latest"
		}
	case "inline":
		if spec.Ref != "" || spec.Dest != "" || spec.Tag != "" {
			return spec, errors.New("cache-to type=inline takes no ref=, dest= or tag= (the cache goes in the image)")
		}
		if spec.CacheMounts {
			return spec, errors.New("cache-to cache-mounts=true needs type=registry or type=local")
		}
		spec.Inline = true
	default:
		return spec, fmt.Errorf("cache-to type=%s: unsupported (want registry, local or inline)", spec.Type)
	}
	return spec, nil
}

// parseSize parses "1048576", "512M", "512MiB", "1g" (binary units) with
// docker/go-units.
func parseSize(v string) (int64, error) {
	n, err := units.RAMInBytes(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return 0, errors.New("want a size such as 536870912, 512M or 1G")
	}
	return n, nil
}

// humanSize formats n bytes for a note: "3.2 GiB", "120 B".
func humanSize(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	return units.CustomSize("%.1f %s", float64(n), 1024, []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"})
}

// unwrapNum drops strconv's repetition of the input from its errors.
func unwrapNum(err error) error {
	var ne *strconv.NumError
	if errors.As(err, &ne) {
		return ne.Err
	}
	return err
}

// Export is what Write exports.
type Export struct {
	// Records are the records to export (the caller selects them by Mode).
	// Records with a Layer need a DiffID.
	Records []cache.Record
	// Layer returns the bytes of a record's layer, from the local store.
	// When ExportSpec.Compression is set it must return the layer in that
	// format. It may return a layer of an imported Remote, so the blob is
	// mounted from the imported cache's repository instead of uploaded.
	Layer func(desc v1.Descriptor) (v1.Layer, error)
	// Mounts are the RUN cache mount directories to export when
	// ExportSpec.CacheMounts is set.
	Mounts []MountDir
	// MountFrom, if not nil, is a repository of the target registry that
	// holds the records' layers already (the image this build pushed):
	// Write asks the registry to mount blobs from it before uploading.
	MountFrom *name.Repository
	// Note, if not nil, receives remarks for the user ("cache mount
	// go-build: 700 MiB is over cache-mount-max ..., not exported").
	Note func(msg string)
}

// Write exports e as the cache s names. A registry cache is pushed as one
// manifest: layers first, concurrently (ggcr's bounded jobs), skipping blobs
// the repository has and mounting those Export.Layer or MountFrom say live
// in another repository of the registry; the manifest last, and not at all
// when the tag already has it. A local cache is written into an OCI layout,
// blobs by temp file and rename, index.json last. A cache mount is uploaded
// only when its content differs from the one the target holds. For
// type=inline Write does nothing (see InlineAnnotations). Errors start with
// "cache-to REF".
func (s ExportSpec) Write(ctx context.Context, e Export, nameOpts []name.Option, opts ...remote.Option) error {
	switch s.Type {
	case "inline":
		return nil
	case "local":
		if err := s.writeLocal(ctx, e); err != nil {
			return fmt.Errorf("cache-to %s: %w", s.Dest, err)
		}
		return nil
	case "registry":
		if err := s.writeRegistry(ctx, e, nameOpts, opts); err != nil {
			return fmt.Errorf("cache-to %s: %w", s.Ref, err)
		}
		return nil
	}
	return fmt.Errorf("cache-to type=%s: unsupported", s.Type)
}

func (s ExportSpec) writeRegistry(ctx context.Context, e Export, nameOpts []name.Option, opts []remote.Option) error {
	ref, err := name.ParseReference(s.Ref, nameOpts...)
	if err != nil {
		return err
	}
	opts = append(opts[:len(opts):len(opts)], remote.WithContext(ctx))
	var prev *Remote
	if s.CacheMounts && len(e.Mounts) > 0 {
		// The cache mounts the target holds now: unchanged ones are kept
		// by reference, not uploaded again. A missing or unreadable cache
		// just means every mount is uploaded.
		prev, _ = importRegistry(ctx, s.Ref, false, nameOpts, opts)
	}
	img, err := s.image(ctx, e, prev)
	if err != nil {
		return err
	}
	e.note(fmt.Sprintf("writing cache manifest %s (%d layers)", img.digest, len(img.layers)))
	return remote.Write(ref, img, opts...)
}

// note passes msg to e.Note, if any.
func (e Export) note(msg string) {
	if e.Note != nil {
		e.Note(msg)
	}
}

// image assembles the cache manifest of e.
func (s ExportSpec) image(ctx context.Context, e Export, prev *Remote) (*cacheImage, error) {
	e.note(fmt.Sprintf("preparing build cache for export (%d records)", len(e.Records)))
	recs := append([]cache.Record(nil), e.Records...)
	sort.Slice(recs, func(i, j int) bool { return bytes.Compare(recs[i].Key[:], recs[j].Key[:]) < 0 })
	img := &cacheImage{}
	doc := document{Version: formatVersion, Records: make(map[string]docRecord, len(recs))}
	index := map[v1.Hash]int{} // source and exported digest -> layer index
	for _, r := range recs {
		dr := docRecord{CreatedBy: r.CreatedBy, Created: r.Created}
		if r.Layer != nil {
			if r.DiffID.Hex == "" {
				return nil, fmt.Errorf("record %s: layer %s has no diffID", r.Key, r.Layer.Digest)
			}
			i, ok := index[r.Layer.Digest]
			if !ok {
				if e.Layer == nil {
					return nil, errors.New("no Export.Layer to read layers with")
				}
				l, err := e.Layer(*r.Layer)
				if err != nil {
					return nil, fmt.Errorf("layer %s of step %q: %w", r.Layer.Digest, r.CreatedBy, err)
				}
				if _, ok := l.(*remote.MountableLayer); !ok && e.MountFrom != nil {
					l = &remote.MountableLayer{Layer: l, Reference: e.MountFrom.Digest(r.Layer.Digest.String())}
				}
				d, err := describe(l)
				if err != nil {
					return nil, fmt.Errorf("layer %s of step %q: %w", r.Layer.Digest, r.CreatedBy, err)
				}
				if s.Compression != "" && compress.FormatOf(d.MediaType) != s.Compression {
					return nil, fmt.Errorf("layer %s of step %q is %s, not compression=%s", d.Digest, r.CreatedBy, d.MediaType, s.Compression)
				}
				if i, ok = index[d.Digest]; !ok {
					i = img.add(l, d)
				}
				index[r.Layer.Digest], index[d.Digest] = i, i
			}
			dr.Layer, dr.DiffID = &i, r.DiffID
		}
		doc.Records[r.Key.String()] = dr
	}
	if s.CacheMounts {
		if err := s.addMounts(ctx, img, e, prev); err != nil {
			return nil, err
		}
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	if err := img.finish(raw); err != nil {
		return nil, err
	}
	return img, nil
}

// addMounts adds a blob per cache mount to img, reusing prev's blob for a
// mount whose tar has not changed.
func (s ExportSpec) addMounts(ctx context.Context, img *cacheImage, e Export, prev *Remote) error {
	ms := append([]MountDir(nil), e.Mounts...)
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].ID < ms[j].ID })
	old := map[string]MountBlob{}
	if prev != nil {
		for _, m := range prev.mounts {
			old[m.ID] = m
		}
	}
	max := s.MountMax
	if max <= 0 {
		max = DefaultMountMax
	}
	seen := map[string]bool{}
	for _, m := range ms {
		if seen[m.ID] || m.ID == "" {
			continue
		}
		seen[m.ID] = true
		if err := ctx.Err(); err != nil {
			return err
		}
		size, err := dirSize(m.Dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue // never created: nothing to keep
		}
		if err != nil {
			return fmt.Errorf("cache mount %s: %w", m.ID, err)
		}
		if size > max {
			e.note(fmt.Sprintf("cache mount %s: %s is over cache-mount-max (%s), not exported", m.ID, humanSize(size), humanSize(max)))
			continue
		}
		var l v1.Layer
		l, err = PackMount(m.Dir)
		if err != nil {
			return fmt.Errorf("cache mount %s: %w", m.ID, err)
		}
		diffID, err := l.DiffID()
		if err != nil {
			return fmt.Errorf("cache mount %s: %w", m.ID, err)
		}
		if o, ok := old[m.ID]; ok {
			if od, err := o.Layer.DiffID(); err == nil && od == diffID {
				l = o.Layer
			}
		}
		d, err := describe(l)
		if err != nil {
			return fmt.Errorf("cache mount %s: %w", m.ID, err)
		}
		d.Annotations = map[string]string{MountIDAnnotation: m.ID, MountDiffIDAnnotation: diffID.String()}
		img.add(l, d)
	}
	return nil
}

// describe returns the descriptor of l (digest, size, media type).
func describe(l v1.Layer) (v1.Descriptor, error) {
	var d v1.Descriptor
	var err error
	if d.Digest, err = l.Digest(); err != nil {
		return d, err
	}
	if d.Size, err = l.Size(); err != nil {
		return d, err
	}
	if d.MediaType, err = l.MediaType(); err != nil {
		return d, err
	}
	return d, nil
}

// InlineAnnotations returns the manifest annotations of an inline cache:
// the records whose layers are the image's own layers (matched by digest)
// and the records of steps that changed nothing. Import of the image reads
// them back. It returns nil when no record qualifies.
func InlineAnnotations(records []cache.Record, layers []v1.Descriptor) (map[string]string, error) {
	index := make(map[v1.Hash]int, len(layers))
	for i := len(layers) - 1; i >= 0; i-- {
		index[layers[i].Digest] = i
	}
	doc := document{Version: formatVersion, Records: map[string]docRecord{}}
	for _, r := range records {
		dr := docRecord{CreatedBy: r.CreatedBy, Created: r.Created}
		if r.Layer != nil {
			i, ok := index[r.Layer.Digest]
			if !ok || r.DiffID.Hex == "" {
				continue
			}
			dr.Layer, dr.DiffID = &i, r.DiffID
		}
		doc.Records[r.Key.String()] = dr
	}
	if len(doc.Records) == 0 {
		return nil, nil
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode inline cache: %w", err)
	}
	return map[string]string{InlineAnnotation: string(raw)}, nil
}

// cacheImage is a cache manifest as a v1.Image, for remote.Write.
type cacheImage struct {
	layers    []v1.Layer
	descs     []v1.Descriptor
	config    []byte
	manifest  []byte
	digest    v1.Hash
	configDsc v1.Descriptor
}

var _ v1.Image = (*cacheImage)(nil)

// add appends layer l with descriptor d and returns its index.
func (c *cacheImage) add(l v1.Layer, d v1.Descriptor) int {
	c.layers = append(c.layers, l)
	c.descs = append(c.descs, d)
	return len(c.layers) - 1
}

// finish sets the config blob and computes the manifest.
func (c *cacheImage) finish(config []byte) error {
	c.config = config
	h, n, err := v1.SHA256(bytes.NewReader(config))
	if err != nil {
		return err
	}
	c.configDsc = v1.Descriptor{MediaType: ConfigMediaType, Size: n, Digest: h}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Config:        c.configDsc,
		Layers:        append([]v1.Descriptor{}, c.descs...),
	}
	if c.manifest, err = json.Marshal(m); err != nil {
		return err
	}
	c.digest, _, err = v1.SHA256(bytes.NewReader(c.manifest))
	return err
}

func (c *cacheImage) Layers() ([]v1.Layer, error)         { return c.layers, nil }
func (c *cacheImage) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (c *cacheImage) Size() (int64, error)                { return int64(len(c.manifest)), nil }
func (c *cacheImage) ConfigName() (v1.Hash, error)        { return c.configDsc.Digest, nil }
func (c *cacheImage) RawConfigFile() ([]byte, error)      { return c.config, nil }
func (c *cacheImage) Digest() (v1.Hash, error)            { return c.digest, nil }
func (c *cacheImage) RawManifest() ([]byte, error)        { return c.manifest, nil }
func (c *cacheImage) ConfigLayer() (v1.Layer, error) {
	return static.NewLayer(c.config, ConfigMediaType), nil
}
func (c *cacheImage) ConfigFile() (*v1.ConfigFile, error) {
	return nil, errors.New("a bld cache has no image config")
}
func (c *cacheImage) Manifest() (*v1.Manifest, error) {
	return v1.ParseManifest(bytes.NewReader(c.manifest))
}

func (c *cacheImage) LayerByDiffID(h v1.Hash) (v1.Layer, error) {
	for _, l := range c.layers {
		if d, err := l.DiffID(); err == nil && d == h {
			return l, nil
		}
	}
	return nil, fmt.Errorf("no layer with diffID %s in the cache", h)
}

func (c *cacheImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	for i, d := range c.descs {
		if d.Digest == h {
			return c.layers[i], nil
		}
	}
	if h == c.configDsc.Digest {
		return c.ConfigLayer()
	}
	return nil, fmt.Errorf("no blob %s in the cache", h)
}

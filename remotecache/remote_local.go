package remotecache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/bldbuild/bld/internal/atomicfile"
	"github.com/bldbuild/bld/internal/readers"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// A local cache is an OCI image layout written and read with ggcr's
// pkg/v1/layout: blobs/sha256/<hex>, oci-layout and index.json, whose
// entries are cache manifests tagged with the
// org.opencontainers.image.ref.name annotation, so tools read it as they
// read any layout (the tests check with skopeo).

// importLocal reads the cache tagged tag (or with digest) in the layout dir.
func importLocal(dir, tag, digest string) (*Remote, error) {
	p, err := layout.FromPath(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoCache
	}
	if err != nil {
		return nil, err
	}
	ii, err := p.ImageIndex()
	if err != nil {
		return nil, err
	}
	idx, err := ii.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("corrupt index.json: %w", err)
	}
	var desc *v1.Descriptor
	for i, d := range idx.Manifests {
		if (digest != "" && d.Digest.String() == digest) || (digest == "" && d.Annotations[ocispec.AnnotationRefName] == tag) {
			desc = &idx.Manifests[i]
		}
	}
	if desc == nil {
		if digest != "" {
			return nil, fmt.Errorf("digest %s: %w", digest, ErrNoCache)
		}
		return nil, fmt.Errorf("tag %s: %w", tag, ErrNoCache)
	}
	raw, err := readLocalBlob(p, *desc)
	if err != nil {
		return nil, err
	}
	m, err := parseManifest(desc.MediaType, raw)
	if err != nil {
		return nil, err
	}
	if !isCacheManifest(m) {
		return nil, fmt.Errorf("not a bld cache (config media type %s)", m.Config.MediaType)
	}
	doc, err := readLocalBlob(p, m.Config)
	if err != nil {
		return nil, fmt.Errorf("read cache config %s: %w", m.Config.Digest, err)
	}
	layer := func(d v1.Descriptor, diffID v1.Hash) (v1.Layer, error) {
		return newBlobLayer(&blobLayer{desc: d, diffID: diffID, open: func() (io.ReadCloser, error) {
			return openLocalBlob(p, d)
		}}), nil
	}
	return newRemote(dir, doc, m, layer)
}

// openLocalBlob opens blob d of layout p, verified as it is read. The
// blob must be a regular file: a FIFO or a device put in a cache
// directory is refused, not read.
func openLocalBlob(p layout.Path, d v1.Descriptor) (io.ReadCloser, error) {
	if d.Digest.Algorithm != "sha256" {
		return nil, fmt.Errorf("bad blob digest %q", d.Digest)
	}
	if _, err := v1.NewHash(d.Digest.String()); err != nil {
		return nil, fmt.Errorf("bad blob digest %q", d.Digest)
	}
	fi, err := os.Lstat(filepath.Join(string(p), "blobs", d.Digest.Algorithm, d.Digest.Hex))
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("blob %s is not a regular file", d.Digest)
	}
	rc, err := p.Blob(d.Digest)
	if err != nil {
		return nil, err
	}
	return readers.Verify(rc, d.Digest, d.Size), nil
}

// readLocalBlob reads the small blob d of layout p whole, verifying it.
func readLocalBlob(p layout.Path, d v1.Descriptor) ([]byte, error) {
	if d.Size < 0 || d.Size > maxDocument {
		return nil, fmt.Errorf("blob %s is %d bytes, want at most %d", d.Digest, d.Size, maxDocument)
	}
	rc, err := openLocalBlob(p, d)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// writeLocal writes the cache into the layout s.Dest under s.Tag, replacing
// the manifest tagged so, then removes the blobs no manifest of the layout
// uses any more.
func (s ExportSpec) writeLocal(ctx context.Context, e Export) error {
	dir := s.Dest
	tag := s.Tag
	if tag == "" {
		tag = "latest"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// Two builds exporting to one directory take turns, so neither removes
	// a blob the other's new manifest needs.
	unlock, err := lockDir(dir)
	if err != nil {
		return err
	}
	defer unlock()

	p, err := layout.FromPath(dir)
	if errors.Is(err, fs.ErrNotExist) {
		p, err = layout.Write(dir, empty.Index)
	}
	if err != nil {
		return err
	}
	var prev *Remote
	if s.CacheMounts && len(e.Mounts) > 0 {
		// The cache already there, whose unchanged cache mounts are
		// reused; none (or an unreadable one) means every mount is
		// written anew, so its error is not the export's.
		prev, _ = importLocal(dir, tag, "")
	}
	img, err := s.image(ctx, e, prev)
	if err != nil {
		return err
	}
	e.note(fmt.Sprintf("writing cache manifest %s (%d layers)", img.digest, len(img.layers)))
	// ggcr writes a layer by temp file and rename but the config and the
	// manifest in place, and keeps any file already at a blob's name: a
	// crash there would leave a torn blob for good. Those two are written
	// first, by rename, so ggcr finds them and writes only the layers.
	md, err := manifestDescriptor(img, tag)
	if err != nil {
		return err
	}
	for _, b := range []struct {
		h   v1.Hash
		raw []byte
	}{{img.configDsc.Digest, img.config}, {md.Digest, img.manifest}} {
		blobs := filepath.Join(dir, "blobs", b.h.Algorithm)
		if err := os.MkdirAll(blobs, 0o755); err != nil {
			return err
		}
		if err := atomicfile.WriteFile(filepath.Join(blobs, b.h.Hex), b.raw, 0o644); err != nil {
			return err // names the blob's path
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := p.WriteImage(verifiedImage{img}); err != nil {
		return err
	}
	// layout.ReplaceImage would rewrite index.json in place; a crash then
	// loses every tag. The new index is written by rename instead.
	ii, err := p.ImageIndex()
	if err != nil {
		return err
	}
	ii = mutate.AppendManifests(mutate.RemoveManifests(ii, match.Annotation(ocispec.AnnotationRefName, tag)),
		mutate.IndexAddendum{Add: img, Descriptor: md})
	raw, err := ii.RawManifest()
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "index.json"), raw, 0o644); err != nil {
		return err
	}
	gcLocal(p)
	return nil
}

// manifestDescriptor is the index.json entry of img under tag.
func manifestDescriptor(img *cacheImage, tag string) (v1.Descriptor, error) {
	mt, err := img.MediaType()
	if err != nil {
		return v1.Descriptor{}, err
	}
	return v1.Descriptor{
		MediaType:   mt,
		Size:        int64(len(img.manifest)),
		Digest:      img.digest,
		Annotations: map[string]string{ocispec.AnnotationRefName: tag},
	}, nil
}

// verifiedImage is a cacheImage whose layers are verified against their
// descriptors as ggcr's layout writer reads them (it names a blob file by
// the digest the layer claims, without hashing it).
type verifiedImage struct{ *cacheImage }

func (v verifiedImage) Layers() ([]v1.Layer, error) {
	out := make([]v1.Layer, len(v.layers))
	for i, l := range v.layers {
		out[i] = verifiedLayer{Layer: l, desc: v.descs[i]}
	}
	return out, nil
}

type verifiedLayer struct {
	v1.Layer
	desc v1.Descriptor
}

func (l verifiedLayer) Compressed() (io.ReadCloser, error) {
	rc, err := l.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	return readers.Verify(rc, l.desc.Digest, l.desc.Size), nil
}

// gcLocal removes the blobs of layout p that no manifest in its index uses
// (ggcr's GarbageCollect lists them). It is best effort: a layout it cannot
// walk (an entry that is not an image or index ggcr reads) keeps every
// blob. The caller holds the directory's lock, so no bld export is writing
// into it; a temp file a crashed export left is removed first, as ggcr
// refuses a blob name that is not a digest.
func gcLocal(p layout.Path) {
	blobs := filepath.Join(string(p), "blobs", "sha256")
	ents, _ := os.ReadDir(blobs) // best effort, as the whole of gcLocal
	for _, e := range ents {
		if _, err := v1.NewHash("sha256:" + e.Name()); err != nil && e.Type().IsRegular() {
			_ = os.Remove(filepath.Join(blobs, e.Name()))
		}
	}
	// GarbageCollect is marked experimental in ggcr; TestLocalRoundTrip
	// catches a change in what it lists.
	unused, err := p.GarbageCollect()
	if err != nil {
		return
	}
	for _, h := range unused {
		_ = p.RemoveBlob(h)
	}
}

// lockDir takes an exclusive lock on dir (a file .bld-cache.lock in it).
func lockDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, ".bld-cache.lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, &os.PathError{Op: "flock", Path: f.Name(), Err: err}
	}
	return func() { f.Close() }, nil
}

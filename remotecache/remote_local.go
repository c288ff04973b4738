package remotecache

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
)

// A local cache is an OCI image layout: blobs/sha256/<hex>, oci-layout and
// index.json, whose entries are cache manifests tagged with the
// org.opencontainers.image.ref.name annotation.

// localJobs bounds the blobs written to a layout at once.
const localJobs = 4

// importLocal reads the cache tagged tag (or with digest) in the layout dir.
func importLocal(dir, tag, digest string) (*Remote, error) {
	idx, err := readIndex(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoCache
	}
	if err != nil {
		return nil, err
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
	raw, err := readLocalBlob(dir, *desc)
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
	doc, err := readLocalBlob(dir, m.Config)
	if err != nil {
		return nil, fmt.Errorf("read cache config %s: %w", m.Config.Digest, err)
	}
	layer := func(d v1.Descriptor, diffID v1.Hash) (v1.Layer, error) {
		return newBlobLayer(&blobLayer{desc: d, diffID: diffID, open: func() (io.ReadCloser, error) {
			f, err := openLocalBlob(dir, d.Digest)
			if err != nil {
				return nil, err
			}
			return verifyReader(f, d.Digest, d.Size), nil
		}}), nil
	}
	return newRemote(dir, doc, m, layer)
}

// readIndex reads dir's index.json.
func readIndex(dir string) (*v1.IndexManifest, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		return nil, err
	}
	idx, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("corrupt index.json: %w", err)
	}
	return idx, nil
}

// blobPath returns the file of blob h in the layout dir.
func blobPath(dir string, h v1.Hash) (string, error) {
	if _, err := v1.NewHash(h.String()); err != nil || h.Algorithm != "sha256" {
		return "", fmt.Errorf("bad blob digest %q", h)
	}
	return filepath.Join(dir, "blobs", h.Algorithm, h.Hex), nil
}

// openLocalBlob opens blob h of the layout dir; it must be a regular file.
func openLocalBlob(dir string, h v1.Hash) (*os.File, error) {
	p, err := blobPath(dir, h)
	if err != nil {
		return nil, err
	}
	fi, err := os.Lstat(p)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("blob %s is not a regular file", h)
	}
	return os.Open(p)
}

// readLocalBlob reads the small blob d whole, verifying it.
func readLocalBlob(dir string, d v1.Descriptor) ([]byte, error) {
	if d.Size < 0 || d.Size > maxDocument {
		return nil, fmt.Errorf("blob %s is %d bytes, want at most %d", d.Digest, d.Size, maxDocument)
	}
	f, err := openLocalBlob(dir, d.Digest)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(verifyReader(f, d.Digest, d.Size))
}

// writeLocal writes the cache into the layout s.Dest under s.Tag, then
// removes the blobs only the manifest it replaced used.
func (s ExportSpec) writeLocal(ctx context.Context, e Export) error {
	dir := s.Dest
	tag := s.Tag
	if tag == "" {
		tag = "latest"
	}
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755); err != nil {
		return err
	}
	// Two builds exporting to one directory take turns, so neither removes
	// a blob the other's new manifest needs.
	unlock, err := lockDir(dir)
	if err != nil {
		return err
	}
	defer unlock()

	var prev *Remote
	if s.CacheMounts && len(e.Mounts) > 0 {
		prev, _ = importLocal(dir, tag, "")
	}
	img, err := s.image(ctx, e, prev)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(localJobs)
	for i, l := range img.layers {
		d := img.descs[i]
		g.Go(func() error {
			if err := writeLocalBlob(gctx, dir, d, l.Compressed); err != nil {
				return fmt.Errorf("write blob %s: %w", d.Digest, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	md := v1.Descriptor{MediaType: types.OCIManifestSchema1, Size: int64(len(img.manifest)), Digest: img.digest}
	for _, b := range []struct {
		d   v1.Descriptor
		raw []byte
	}{{img.configDsc, img.config}, {md, img.manifest}} {
		open := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b.raw)), nil }
		if err := writeLocalBlob(ctx, dir, b.d, open); err != nil {
			return fmt.Errorf("write blob %s: %w", b.d.Digest, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "oci-layout")); errors.Is(err, fs.ErrNotExist) {
		if err := writeFileAtomic(dir, "oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
			return err
		}
	}
	idx, err := readIndex(dir)
	if errors.Is(err, fs.ErrNotExist) {
		idx, err = &v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}, nil
	}
	if err != nil {
		return err
	}
	var kept, removed []v1.Descriptor
	for _, d := range idx.Manifests {
		if d.Annotations[ocispec.AnnotationRefName] == tag {
			removed = append(removed, d)
		} else {
			kept = append(kept, d)
		}
	}
	md.Annotations = map[string]string{ocispec.AnnotationRefName: tag}
	idx.Manifests = append(kept, md)
	raw, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(dir, "index.json", raw); err != nil {
		return err
	}
	gcLocal(dir, removed, idx.Manifests)
	return nil
}

// writeLocalBlob writes blob d of the layout dir from open, by temp file
// and rename, verifying its digest; a blob already there is kept.
func writeLocalBlob(ctx context.Context, dir string, d v1.Descriptor, open func() (io.ReadCloser, error)) (err error) {
	p, err := blobPath(dir, d.Digest)
	if err != nil {
		return err
	}
	if fi, err := os.Lstat(p); err == nil && fi.Mode().IsRegular() && fi.Size() == d.Size {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	rc, err := open()
	if err != nil {
		return err
	}
	defer rc.Close()
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := io.Copy(f, verifyReader(rc, d.Digest, d.Size)); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), p)
}

// writeFileAtomic replaces dir/name with data by temp file and rename.
func writeFileAtomic(dir, name string, data []byte) (err error) {
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), filepath.Join(dir, name))
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

// gcLocal removes the blobs of the manifests removed from the index that no
// manifest still in it uses. It is best effort: when an entry still in the
// index is not an image manifest it can read, nothing is removed.
func gcLocal(dir string, removed, kept []v1.Descriptor) {
	if len(removed) == 0 {
		return
	}
	live := map[v1.Hash]bool{}
	for _, d := range kept {
		bs, ok := manifestBlobs(dir, d)
		if !ok {
			return
		}
		for _, b := range bs {
			live[b] = true
		}
	}
	for _, d := range removed {
		bs, _ := manifestBlobs(dir, d)
		for _, b := range bs {
			if live[b] {
				continue
			}
			if p, err := blobPath(dir, b); err == nil {
				_ = os.Remove(p)
			}
		}
	}
}

// manifestBlobs returns the blobs image manifest d uses, itself included.
func manifestBlobs(dir string, d v1.Descriptor) ([]v1.Hash, bool) {
	if d.MediaType != types.OCIManifestSchema1 && d.MediaType != types.DockerManifestSchema2 {
		return nil, false
	}
	raw, err := readLocalBlob(dir, d)
	if err != nil {
		return nil, false
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, false
	}
	bs := []v1.Hash{d.Digest, m.Config.Digest}
	for _, l := range m.Layers {
		bs = append(bs, l.Digest)
	}
	return bs, true
}

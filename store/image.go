package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/bldbuild/bld/internal/readers"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"
)

// WriteImage writes img's layers (those not already present, concurrently),
// config and manifest into the store, and returns the manifest's
// descriptor. It does not name the image: Tag does. Non-distributable
// (foreign) layers are not stored. Blobs are verified against their digests
// as they are written.
func (s *Store) WriteImage(ctx context.Context, img v1.Image) (v1.Descriptor, error) {
	ls, err := img.Layers()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("write image: %w", err)
	}
	// Each layer written is checked against its config's diff_id as it is
	// copied (a layer already here was checked when it came).
	cf, err := img.ConfigFile()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("write image: config: %w", err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(2, runtime.GOMAXPROCS(0)))
	seen := map[v1.Hash]bool{}
	for i, l := range ls {
		var diffID v1.Hash
		if len(cf.RootFS.DiffIDs) == len(ls) {
			diffID = cf.RootFS.DiffIDs[i]
		}
		mt, err := l.MediaType()
		if err != nil {
			return v1.Descriptor{}, fmt.Errorf("write image: %w", err)
		}
		if !mt.IsDistributable() {
			continue
		}
		// A layer whose digest is not known yet (a stream layer) is
		// written all the same and committed under what it turns out to be.
		h, err := l.Digest()
		if err == nil {
			if seen[h] {
				continue
			}
			seen[h] = true
			if _, err := s.Stat(h); err == nil {
				continue
			}
		}
		g.Go(func() error {
			return s.writeLayer(gctx, l, h, diffID)
		})
	}
	// The config and the manifest are written beside the layers (each
	// blob waits on the disk for its own sync): nothing names the image
	// before WriteImage returns, so the order of its blobs is free.
	cfg, err := img.RawConfigFile()
	if err != nil {
		return v1.Descriptor{}, errors.Join(fmt.Errorf("write image: config: %w", err), g.Wait())
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return v1.Descriptor{}, errors.Join(fmt.Errorf("write image: config: %w", err), g.Wait())
	}
	m, err := img.RawManifest()
	if err != nil {
		return v1.Descriptor{}, errors.Join(fmt.Errorf("write image: manifest: %w", err), g.Wait())
	}
	desc, err := partial.Descriptor(img)
	if err != nil {
		return v1.Descriptor{}, errors.Join(fmt.Errorf("write image: manifest: %w", err), g.Wait())
	}
	g.Go(func() error {
		if err := s.writeBytes(cfg, cfgName); err != nil {
			return fmt.Errorf("config %s: %w", cfgName, err)
		}
		return nil
	})
	g.Go(func() error {
		if err := s.writeBytes(m, desc.Digest); err != nil {
			return fmt.Errorf("manifest %s: %w", desc.Digest, err)
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return v1.Descriptor{}, fmt.Errorf("write image: %w", err)
	}
	return v1.Descriptor{MediaType: desc.MediaType, Size: desc.Size, Digest: desc.Digest}, nil
}

// writeLayer writes layer l (digest h, or unknown) into the store,
// checking its uncompressed content against diffID unless that is zero.
func (s *Store) writeLayer(ctx context.Context, l v1.Layer, h v1.Hash, diffID v1.Hash) (err error) {
	rc, err := l.Compressed()
	if err != nil {
		return fmt.Errorf("layer %s: %w", h, err)
	}
	defer rc.Close()
	w, err := s.Writer()
	if err != nil {
		return err
	}
	defer w.Close()
	r := readers.WithContext(ctx, rc)
	if diffID == (v1.Hash{}) {
		_, err = io.Copy(w, r)
	} else {
		err = copyCheckingDiffID(w, r, h, diffID)
	}
	if err != nil {
		var de *DiffIDError
		if errors.As(err, &de) {
			return err // it names the layer
		}
		return fmt.Errorf("layer %s: %w", h, err)
	}
	_, _, err = w.Commit(h)
	return err
}

func (s *Store) writeBytes(b []byte, h v1.Hash) error {
	if _, err := s.Stat(h); err == nil {
		return nil
	}
	w, err := s.Writer()
	if err != nil {
		return err
	}
	defer w.Close()
	if _, err := w.Write(b); err != nil {
		return err
	}
	_, _, err = w.Commit(h)
	return err
}

// Image returns the image ref resolves to (anything Resolve accepts) as a
// v1.Image read from the store: manifest and config are verified against
// their digests at once, layers lazily as they are read (see Layer). It
// returns an error wrapping ErrNotFound if there is no such image, and an
// error if ref names an index rather than an image.
func (s *Store) Image(ref string) (v1.Image, error) {
	return s.ImageLimited(ref, ReadLimits{})
}

// ReadLimits bound the documents ImageLimited reads whole: zero fields
// take 4 MiB for the manifest and 8 MiB for the config, the registry
// client's defaults (registry.Limits, which says why), so an image that
// could not be pulled cannot be read from the store either.
type ReadLimits struct {
	ManifestSize int64 // --limit manifest-size
	ConfigSize   int64 // --limit config-size
}

func (l ReadLimits) withDefaults() ReadLimits {
	if l.ManifestSize <= 0 {
		l.ManifestSize = 4 << 20
	}
	if l.ConfigSize <= 0 {
		l.ConfigSize = 8 << 20
	}
	return l
}

// ImageLimited is Image with the manifest and config bounded by lim: a
// blob over its bound fails with a *readers.LimitError before it is read.
func (s *Store) ImageLimited(ref string, lim ReadLimits) (v1.Image, error) {
	lim = lim.withDefaults()
	desc, err := s.Resolve(ref)
	if err != nil {
		return nil, err
	}
	if desc.MediaType.IsIndex() {
		return nil, fmt.Errorf("image %s: %s is an index, not an image", ref, desc.Digest)
	}
	if err := s.checkSize(ref, "manifest "+desc.Digest.String(), desc.Digest, lim.ManifestSize, "manifest-size"); err != nil {
		return nil, err
	}
	raw, err := s.readBlob(desc.Digest)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", ref, err)
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("image %s: manifest %s: %w", ref, desc.Digest, err)
	}
	mt := m.MediaType
	if mt == "" {
		mt = desc.MediaType
	}
	if err := s.checkSize(ref, "config "+m.Config.Digest.String(), m.Config.Digest, lim.ConfigSize, "config-size"); err != nil {
		return nil, err
	}
	img := &storeImage{s: s, raw: raw, manifest: m, mediaType: mt}
	if _, err := img.RawConfigFile(); err != nil {
		return nil, fmt.Errorf("image %s: %w", ref, err)
	}
	return partial.CompressedToImage(img)
}

// storeImage is a manifest in the store, as a partial.CompressedImageCore.
type storeImage struct {
	s         *Store
	raw       []byte
	manifest  *v1.Manifest
	mediaType types.MediaType

	configOnce sync.Once
	config     []byte
	diffIDs    []v1.Hash
	configErr  error
}

var _ partial.CompressedImageCore = (*storeImage)(nil)

func (i *storeImage) MediaType() (types.MediaType, error) { return i.mediaType, nil }
func (i *storeImage) RawManifest() ([]byte, error)        { return i.raw, nil }

func (i *storeImage) RawConfigFile() ([]byte, error) {
	i.configOnce.Do(func() {
		i.config, i.configErr = i.s.readBlob(i.manifest.Config.Digest)
		if i.configErr != nil {
			return
		}
		var cf struct {
			RootFS struct {
				DiffIDs []v1.Hash `json:"diff_ids"`
			} `json:"rootfs"`
		}
		if err := json.Unmarshal(i.config, &cf); err != nil {
			i.configErr = fmt.Errorf("config %s: %w", i.manifest.Config.Digest, err)
			return
		}
		i.diffIDs = cf.RootFS.DiffIDs
	})
	return i.config, i.configErr
}

func (i *storeImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if _, err := i.RawConfigFile(); err != nil {
		return nil, err
	}
	for n, d := range i.manifest.Layers {
		if d.Digest != h {
			continue
		}
		if !d.MediaType.IsDistributable() {
			// Foreign layers are not stored (WriteImage skips them).
			return &blobLayer{s: i.s, digest: d.Digest, size: d.Size, mediaType: d.MediaType}, nil
		}
		var diffID v1.Hash
		if n < len(i.diffIDs) && len(i.diffIDs) == len(i.manifest.Layers) {
			diffID = i.diffIDs[n]
		}
		l, err := i.s.Layer(d, diffID)
		if err != nil {
			return nil, err
		}
		return l, nil
	}
	return nil, fmt.Errorf("layer %s is not in the manifest", h)
}

// checkSize fails with a *readers.LimitError when blob h is larger than
// limit (a missing blob is left to the read that follows).
func (s *Store) checkSize(ref, what string, h v1.Hash, limit int64, key string) error {
	size, err := s.Stat(h)
	if err != nil || size <= limit {
		return nil //nolint:nilerr // the read that follows reports a missing blob
	}
	return &readers.LimitError{Ref: ref, What: what, Size: size, Limit: limit, Key: key}
}

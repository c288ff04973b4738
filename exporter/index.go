package exporter

import (
	"context"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/bldbuild/bld/registry"
)

// An IndexExporter writes an image index (a multi-platform build's
// result: one manifest per platform) somewhere.
type IndexExporter interface {
	ExportIndex(ctx context.Context, idx v1.ImageIndex) error
}

// IndexExporterFunc adapts a function to IndexExporter.
type IndexExporterFunc func(ctx context.Context, idx v1.ImageIndex) error

// ExportIndex calls f.
func (f IndexExporterFunc) ExportIndex(ctx context.Context, idx v1.ImageIndex) error {
	return f(ctx, idx)
}

// PlatformImage is one platform's image of a multi-platform build.
type PlatformImage struct {
	Platform v1.Platform
	Image    v1.Image
	// Annotations go on the image's descriptor in the index.
	Annotations map[string]string
}

// Index makes the OCI image index of a multi-platform build: one manifest
// descriptor per image, in order, each with its platform set, as BuildKit
// writes them.
func Index(imgs []PlatformImage) (v1.ImageIndex, error) {
	adds := make([]mutate.IndexAddendum, len(imgs))
	for i, pi := range imgs {
		desc, err := partial.Descriptor(pi.Image)
		if err != nil {
			return nil, fmt.Errorf("index: manifest for %s: %w", pi.Platform.String(), err)
		}
		p := pi.Platform
		adds[i] = mutate.IndexAddendum{Add: pi.Image, Descriptor: v1.Descriptor{
			MediaType: desc.MediaType, Size: desc.Size, Digest: desc.Digest, Platform: &p, Annotations: pi.Annotations,
		}}
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	return mutate.AppendManifests(idx, adds...), nil
}

// Reindex is Index for images taken from orig (and changed, e.g.
// recompressed): orig's own annotations are kept.
func Reindex(orig v1.ImageIndex, imgs []PlatformImage) (v1.ImageIndex, error) {
	idx, err := Index(imgs)
	if err != nil {
		return nil, err
	}
	im, err := orig.IndexManifest()
	if err != nil {
		return nil, err
	}
	if len(im.Annotations) > 0 {
		idx = mutate.Annotations(idx, im.Annotations).(v1.ImageIndex)
	}
	return idx, nil
}

// IndexImages returns the images of idx with their platforms, in order.
// Descriptors that are not image manifests (nested indexes, attestations
// without a platform) are skipped.
func IndexImages(idx v1.ImageIndex) ([]PlatformImage, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var out []PlatformImage
	for _, d := range im.Manifests {
		if !d.MediaType.IsImage() || d.Platform == nil {
			continue
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			return nil, fmt.Errorf("index: manifest %s: %w", d.Digest, err)
		}
		out = append(out, PlatformImage{Platform: *d.Platform, Image: img, Annotations: d.Annotations})
	}
	return out, nil
}

// IndexStore is where StoreIndex writes: store.Store satisfies it.
type IndexStore interface {
	ImageStore
	// WriteIndex writes the index, its manifests and their blobs, and
	// returns the index's descriptor, without naming it.
	WriteIndex(ctx context.Context, idx v1.ImageIndex) (v1.Descriptor, error)
}

// StoreIndex returns an IndexExporter that writes the index into s and
// gives it each of names: the name points at the index, as docker's
// containerd image store keeps a multi-platform image.
func StoreIndex(s IndexStore, names []string) IndexExporter {
	return IndexExporterFunc(func(ctx context.Context, idx v1.ImageIndex) error {
		desc, err := s.WriteIndex(ctx, idx)
		if err != nil {
			return fmt.Errorf("store index: %w", err)
		}
		for _, n := range names {
			if err := s.Tag(n, desc); err != nil {
				return fmt.Errorf("store index: %w", err)
			}
		}
		return nil
	})
}

// OCIIndex is OCI for an index: the layout's index.json lists the index
// (under each of names), whose manifests are the platforms' images.
func OCIIndex(dest string, names []string, tarball bool) IndexExporter {
	if tarball {
		return IndexExporterFunc(func(ctx context.Context, idx v1.ImageIndex) error {
			err := writeDest(dest, func(w io.Writer) error { return writeOCITarIndex(ctx, w, idx, names) })
			if err != nil {
				return fmt.Errorf("oci archive %s: %w", dest, err)
			}
			return nil
		})
	}
	return IndexExporterFunc(func(ctx context.Context, idx v1.ImageIndex) error {
		if err := writeOCIDirIndex(dest, idx, names); err != nil {
			return fmt.Errorf("oci layout %s: %w", dest, err)
		}
		return nil
	})
}

// OCIIndexTo is OCIIndex writing the tar to w.
func OCIIndexTo(w io.Writer, names []string) IndexExporter {
	return IndexExporterFunc(func(ctx context.Context, idx v1.ImageIndex) error {
		if err := writeOCITarIndex(ctx, w, idx, names); err != nil {
			return fmt.Errorf("oci archive: %w", err)
		}
		return nil
	})
}

func writeOCIDirIndex(dest string, idx v1.ImageIndex, names []string) error {
	return writeOCIDirWith(dest, names, idx.Digest, func(p layout.Path, m match.Matcher, opts ...layout.Option) error {
		return p.ReplaceIndex(idx, m, opts...)
	})
}

// writeOCITarIndex streams idx as an OCI image layout tar: every
// platform's blobs (each once), the manifests, the index, and index.json
// naming it (writeOCILayoutTar).
func writeOCITarIndex(ctx context.Context, w io.Writer, idx v1.ImageIndex, names []string) error {
	pis, err := IndexImages(idx)
	if err != nil {
		return err
	}
	imgs := make([]v1.Image, len(pis))
	for i, pi := range pis {
		imgs[i] = pi.Image
	}
	raw, err := idx.RawManifest()
	if err != nil {
		return err
	}
	desc, err := partial.Descriptor(idx)
	if err != nil {
		return err
	}
	return writeOCILayoutTar(ctx, w, imgs, []rawBlob{{desc.Digest, raw}}, *desc, names)
}

// RegistryIndex is Registry for an index: each name gets every platform's
// manifest (blobs first), then the index, so the tag never points at a
// missing manifest.
func RegistryIndex(names []string, opt RegistryOptions) IndexExporter {
	return IndexExporterFunc(func(ctx context.Context, idx v1.ImageIndex) error {
		c := opt.client()
		for _, n := range names {
			ref, err := c.ParseReference(n)
			if err != nil {
				return fmt.Errorf("push %w", registry.Error(n, err))
			}
			err = pushWith(ctx, opt.Progress, func(o ...remote.Option) error {
				return remote.WriteIndex(ref, idx, append(c.RemoteOptions(ctx), o...)...)
			})
			if err != nil {
				return fmt.Errorf("push %w", registry.Error(n, err))
			}
		}
		return nil
	})
}

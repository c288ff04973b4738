package build

import (
	"context"
	"fmt"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bldbuild/bld/exporter"
	"github.com/bldbuild/bld/state"
)

// The queries of the local store that bld's image commands render.

// ImageInfo is a named image of the local store, as `bld images` lists it.
type ImageInfo struct {
	Name    string
	Digest  v1.Hash   // what the name points at
	Created time.Time // zero when the image or its config cannot be read
	Size    int64     // ImageSize; 0 when the image cannot be read
	// Platforms are the platforms of a multi-platform image (an index),
	// in its order; for a single image, its platform when it is not the
	// host's (an arm64 image on amd64), else nil.
	Platforms []string
}

// Images lists the named images of root's store, in the store's order. An
// image that cannot be read is listed with what is known of it (its name
// and digest): the list is for finding it, not for checking it.
func Images(root *state.Root) ([]ImageInfo, error) {
	named, err := root.Store.Images()
	if err != nil {
		return nil, err
	}
	out := make([]ImageInfo, 0, len(named))
	for _, n := range named {
		info := ImageInfo{Name: n.Name, Digest: n.Descriptor.Digest}
		if n.Descriptor.MediaType.IsIndex() {
			indexInfo(root, n.Descriptor, &info)
			out = append(out, info)
			continue
		}
		if img, err := root.Store.Image(n.Descriptor.Digest.String()); err == nil {
			if cf, err := img.ConfigFile(); err == nil {
				info.Created = cf.Created.Time
				if p := cf.Platform(); p != nil && p.Architecture != "" {
					if f := FormatPlatform(*p); f != FormatPlatform(HostPlatform()) {
						info.Platforms = []string{f}
					}
				}
			}
			info.Size = ImageSize(img)
		}
		out = append(out, info)
	}
	return out, nil
}

// ImageSize is the compressed size of img's layers; 0 when its manifest
// cannot be read.
func ImageSize(img v1.Image) int64 {
	m, err := img.Manifest()
	if err != nil {
		return 0
	}
	var n int64
	for _, l := range m.Layers {
		n += l.Size
	}
	return n
}

// indexInfo fills in what `bld images` shows of a multi-platform image:
// its platforms, the newest platform's creation time, and the size of
// the layers of all platforms (each layer once).
func indexInfo(root *state.Root, d v1.Descriptor, info *ImageInfo) {
	idx, err := root.Store.Index(d.Digest.String())
	if err != nil {
		return
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return
	}
	seen := map[v1.Hash]bool{}
	for _, d := range im.Manifests {
		if !d.MediaType.IsImage() || d.Platform == nil {
			continue
		}
		// A pulled base's index lists platforms never pulled: those are
		// not here, and not shown.
		img, err := idx.Image(d.Digest)
		if err != nil {
			continue
		}
		info.Platforms = append(info.Platforms, FormatPlatform(*d.Platform))
		if cf, err := img.ConfigFile(); err == nil && cf.Created.After(info.Created) {
			info.Created = cf.Created.Time
		}
		if m, err := img.Manifest(); err == nil {
			for _, l := range m.Layers {
				if !seen[l.Digest] {
					seen[l.Digest] = true
					info.Size += l.Size
				}
			}
		}
	}
}

// LocalImage finds the image ref names in root's store. The store's errors
// name ref (and wrap store.ErrNotFound when there is none). For a
// multi-platform image desc is the index's and img the host platform's
// manifest, else the first (LocalPlatformImage chooses).
func LocalImage(root *state.Root, ref string) (v1.Descriptor, v1.Image, error) {
	return LocalPlatformImage(root, ref, nil)
}

// LocalPlatformImage is LocalImage choosing the platform of an index:
// platform, or (nil) the host's if the index has it, else its first.
func LocalPlatformImage(root *state.Root, ref string, platform *v1.Platform) (v1.Descriptor, v1.Image, error) {
	desc, err := root.Store.Resolve(ref)
	if err != nil {
		return v1.Descriptor{}, nil, err
	}
	if desc.MediaType.IsIndex() {
		idx, err := root.Store.Index(desc.Digest.String())
		if err != nil {
			return v1.Descriptor{}, nil, err
		}
		img, err := PlatformImage(ref, idx, platform)
		return desc, img, err
	}
	if platform != nil {
		cf, err := root.Store.Image(desc.Digest.String())
		if err == nil {
			if c, err := cf.ConfigFile(); err == nil && (c.OS != platform.OS || c.Architecture != platform.Architecture) {
				return v1.Descriptor{}, nil, fmt.Errorf("image %s is %s/%s only, not %s", ref, c.OS, c.Architecture, FormatPlatform(*platform))
			}
		}
	}
	img, err := root.Store.Image(desc.Digest.String())
	if err != nil {
		return v1.Descriptor{}, nil, err
	}
	return desc, img, nil
}

// PlatformImage is the image of idx for platform, as a build would pick
// it; nil is the host's platform if idx has it, else its first image.
func PlatformImage(ref string, idx v1.ImageIndex, platform *v1.Platform) (v1.Image, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", ref, err)
	}
	want := platform
	if want == nil {
		host := HostPlatform()
		want = &host
	}
	d, err := matchPlatform(ref, im.Manifests, *want)
	if err != nil {
		if platform != nil {
			return nil, err
		}
		pis, err := exporter.IndexImages(idx)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", ref, err)
		}
		if len(pis) == 0 {
			return nil, fmt.Errorf("image %s: the index lists no image", ref)
		}
		return pis[0].Image, nil
	}
	return idx.Image(d.Digest)
}

// HistoryEntry is one entry of an image's history.
type HistoryEntry struct {
	CreatedBy string // the instruction, without BuildKit's " # buildkit"
	Empty     bool   // the entry made no layer (ENV, LABEL, ...)
	Size      int64  // the layer's compressed size
	// SharedWith names the other images of the store that have this
	// layer, sorted.
	SharedWith []string
}

// History returns the image ref names in root's store and its history,
// bottom first, each layer with the other images that share it.
//
// For a multi-platform image, platform chooses the image (nil: the host's
// if the index has it, else the first), as LocalPlatformImage does.
func History(ctx context.Context, root *state.Root, ref string, platform *v1.Platform) (v1.Descriptor, []HistoryEntry, error) {
	desc, img, err := LocalPlatformImage(root, ref, platform)
	if err != nil {
		return desc, nil, err
	}

	m, err := img.Manifest()
	if err != nil {
		return desc, nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return desc, nil, err
	}
	images, err := root.ImageBlobs(ctx)
	if err != nil {
		return desc, nil, err
	}
	// ImageBlobs is sorted by name, so each list is too.
	sharedWith := map[v1.Hash][]string{}
	for _, im := range images {
		if im.Descriptor.Digest == desc.Digest {
			continue
		}
		for _, l := range im.Layers {
			if names := sharedWith[l.Digest]; len(names) == 0 || names[len(names)-1] != im.Name {
				sharedWith[l.Digest] = append(names, im.Name)
			}
		}
	}
	var out []HistoryEntry
	li := 0
	for _, h := range cf.History {
		e := HistoryEntry{CreatedBy: strings.TrimSuffix(h.CreatedBy, " # buildkit"), Empty: h.EmptyLayer}
		if !h.EmptyLayer && li < len(m.Layers) {
			e.Size = m.Layers[li].Size
			e.SharedWith = sharedWith[m.Layers[li].Digest]
			li++
		}
		out = append(out, e)
	}
	return desc, out, nil
}

package build

import (
	"context"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bldbuild/bld/state"
)

// The queries of the local store that bld's image commands render.

// ImageInfo is a named image of the local store, as `bld images` lists it.
type ImageInfo struct {
	Name    string
	Digest  v1.Hash   // what the name points at
	Created time.Time // zero when the image or its config cannot be read
	Size    int64     // ImageSize; 0 when the image cannot be read
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
		if img, err := root.Store.Image(n.Descriptor.Digest.String()); err == nil {
			if cf, err := img.ConfigFile(); err == nil {
				info.Created = cf.Created.Time
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

// LocalImage finds the image ref names in root's store. The store's errors
// name ref (and wrap store.ErrNotFound when there is none).
func LocalImage(root *state.Root, ref string) (v1.Descriptor, v1.Image, error) {
	desc, err := root.Store.Resolve(ref)
	if err != nil {
		return v1.Descriptor{}, nil, err
	}
	img, err := root.Store.Image(desc.Digest.String())
	if err != nil {
		return v1.Descriptor{}, nil, err
	}
	return desc, img, nil
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
func History(ctx context.Context, root *state.Root, ref string) (v1.Descriptor, []HistoryEntry, error) {
	desc, img, err := LocalImage(root, ref)
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

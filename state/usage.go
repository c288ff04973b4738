package state

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bldbuild/bld/cache"
	"github.com/bldbuild/bld/snapshot"
)

// Usage is what the root holds on disk, and who holds each piece: what
// `bld du` shows. Sizes are bytes.
type Usage struct {
	Blobs     []*BlobUsage     `json:"blobs"`     // largest first
	Snapshots []*SnapshotUsage `json:"snapshots"` // largest first
	Images    []*ImageUsage    `json:"images"`    // by name
	Totals    Totals           `json:"totals"`
	// Unreadable are cache record files that cannot be read (torn,
	// corrupt): counted in the totals, removed by prune.
	Unreadable []UnreadableRecord `json:"unreadable,omitempty"`
}

// UnreadableRecord is a cache record file that cannot be read.
type UnreadableRecord struct {
	Path string `json:"path"`
	Size int64  `json:"size"`
	Err  string `json:"error"`
}

// BlobUsage is one blob of the store.
type BlobUsage struct {
	Digest      string    `json:"digest"`
	Size        int64     `json:"size"`
	Kind        string    `json:"kind"` // KindLayer, KindConfig or KindManifest; a blob no image names counts as a layer
	CreatedBy   string    `json:"createdBy,omitempty"`
	Images      []string  `json:"images,omitempty"` // names of the images that need it, sorted
	Records     int       `json:"cacheRecords"`
	LastUsed    time.Time `json:"lastUsed,omitzero"`
	Reclaimable bool      `json:"reclaimable"` // no image needs it
}

// SnapshotUsage is one snapshot; every snapshot is reclaimable (a build
// makes it again from the layer blobs).
type SnapshotUsage struct {
	Name        string    `json:"name"`
	Size        int64     `json:"size"`
	CreatedBy   string    `json:"createdBy,omitempty"`
	Records     int       `json:"cacheRecords"`
	LastUsed    time.Time `json:"lastUsed,omitzero"`
	Reclaimable bool      `json:"reclaimable"`
}

// ImageUsage is what a named image holds: Size = Shared + Unique, where
// Shared is the blobs other images need too.
type ImageUsage struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	Shared int64  `json:"sharedSize"`
	Unique int64  `json:"uniqueSize"`
}

// Totals sums the blobs and snapshots: All is every byte, Shared the blobs
// several images need, Reclaimable what `bld prune -a` could free.
type Totals struct {
	All         int64 `json:"all"`
	Shared      int64 `json:"shared"`
	Reclaimable int64 `json:"reclaimable"`
}

// BaseLayerCreatedBy is the CreatedBy of an unpacked base-image layer that
// no cache record describes.
const BaseLayerCreatedBy = "base image layer"

// Usage measures the root: every blob of the store and every snapshot (when
// the root was opened with Options.Snapshots), who needs each, and the
// totals.
func (r *Root) Usage(ctx context.Context) (*Usage, error) {
	set, err := r.imageSet(ctx)
	if err != nil {
		return nil, err
	}
	users := map[v1.Hash][]string{}
	for _, im := range set.images {
		for _, d := range im.Blobs {
			users[d.Digest] = append(users[d.Digest], im.Name) // Blobs has each digest once per image
		}
	}
	recLayers := map[v1.Hash][]cache.Record{}
	recSnaps := map[string][]cache.Record{}
	var unreadable []UnreadableRecord
	err = r.Cache.Walk(func(rec cache.Record) error {
		if rec.Layer != nil {
			recLayers[rec.Layer.Digest] = append(recLayers[rec.Layer.Digest], rec)
		}
		if rec.Snapshot != "" {
			recSnaps[rec.Snapshot] = append(recSnaps[rec.Snapshot], rec)
		}
		return ctx.Err()
	}, func(bad cache.Unreadable) error {
		unreadable = append(unreadable, UnreadableRecord{Path: bad.Path, Size: bad.Size, Err: bad.Err.Error()})
		return nil
	})
	if err != nil {
		return nil, err
	}
	u := &Usage{Unreadable: unreadable}
	for _, b := range unreadable {
		u.Totals.All += b.Size
		u.Totals.Reclaimable += b.Size // prune removes them
	}
	blobSize := map[v1.Hash]int64{}
	err = r.Store.Blobs(func(h v1.Hash, size int64) error {
		b := &BlobUsage{Digest: h.String(), Size: size, Kind: set.kind[h], Images: users[h], CreatedBy: set.createdBy[h]}
		if b.Kind == "" {
			b.Kind = KindLayer
		}
		sort.Strings(b.Images)
		for _, rec := range recLayers[h] {
			b.Records++
			if b.CreatedBy == "" {
				b.CreatedBy = rec.CreatedBy
			}
			if rec.LastUsed.After(b.LastUsed) {
				b.LastUsed = rec.LastUsed
			}
		}
		b.Reclaimable = len(b.Images) == 0
		u.Blobs = append(u.Blobs, b)
		blobSize[h] = size
		return ctx.Err()
	})
	if err != nil {
		return nil, err
	}
	if r.Snapshots != nil {
		err = r.Snapshots.Walk(ctx, func(info snapshot.Info) error {
			size, err := r.Snapshots.Usage(ctx, info.Name)
			if errors.Is(err, snapshot.ErrNotFound) {
				return nil // removed meanwhile by a build that failed
			}
			if err != nil {
				return err
			}
			s := &SnapshotUsage{Name: info.Name, Size: size, Reclaimable: true, LastUsed: info.Created}
			for _, rec := range recSnaps[info.Name] {
				s.Records++
				if s.CreatedBy == "" {
					s.CreatedBy = rec.CreatedBy
				}
				if rec.LastUsed.After(s.LastUsed) {
					s.LastUsed = rec.LastUsed
				}
			}
			if s.CreatedBy == "" && snapshot.IsLayer(info.Name) {
				s.CreatedBy = BaseLayerCreatedBy
			}
			u.Snapshots = append(u.Snapshots, s)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	for _, b := range u.Blobs {
		u.Totals.All += b.Size
		if len(b.Images) > 1 {
			u.Totals.Shared += b.Size
		}
		if b.Reclaimable {
			u.Totals.Reclaimable += b.Size
		}
	}
	for _, s := range u.Snapshots {
		u.Totals.All += s.Size
		u.Totals.Reclaimable += s.Size
	}
	for _, im := range set.images {
		iu := &ImageUsage{Name: im.Name}
		for _, d := range im.Blobs {
			size := blobSize[d.Digest]
			iu.Size += size
			if len(users[d.Digest]) > 1 {
				iu.Shared += size
			} else {
				iu.Unique += size
			}
		}
		u.Images = append(u.Images, iu)
	}
	// Images come sorted by name from the store; blobs and snapshots
	// largest first, ties in name order (the order they were walked).
	slices.SortStableFunc(u.Blobs, func(a, b *BlobUsage) int { return cmp.Compare(b.Size, a.Size) })
	slices.SortStableFunc(u.Snapshots, func(a, b *SnapshotUsage) int { return cmp.Compare(b.Size, a.Size) })
	return u, nil
}

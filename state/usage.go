package state

import (
	"cmp"
	"context"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bldbuild/bld/cache"
	"github.com/bldbuild/bld/snapshot"
)

// Usage is what the root holds on disk, and who holds each piece: what
// `bld du` shows. Sizes are bytes. What it calls reclaimable is computed by
// the plan Prune follows, so it is exactly what `bld prune` would free
// (Reclaimable) and what `bld prune -a` would free (ReclaimableAll).
type Usage struct {
	Summary   []SummaryRow     `json:"summary"`   // images, build cache, cache mounts: docker system df's table
	Blobs     []*BlobUsage     `json:"blobs"`     // largest first
	Snapshots []*SnapshotUsage `json:"snapshots"` // largest first
	Images    []*ImageUsage    `json:"images"`    // by name
	Totals    Totals           `json:"totals"`
	// CacheMounts is the bytes of the RUN cache mounts (prune -a empties them).
	CacheMounts int64 `json:"cacheMounts"`
	// Unreadable are cache record files that cannot be read (torn,
	// corrupt): counted in the totals, removed by prune.
	Unreadable []UnreadableRecord `json:"unreadable,omitempty"`
}

// SummaryRow is one line of du's short table.
type SummaryRow struct {
	Type           string `json:"type"`  // SummaryImages, SummaryBuildCache or SummaryCacheMounts
	Count          int    `json:"count"` // images, cache records, cache mount directories
	Size           int64  `json:"size"`
	Reclaimable    int64  `json:"reclaimable"`    // what bld prune frees
	ReclaimableAll int64  `json:"reclaimableAll"` // what bld prune -a frees
}

// The rows of Usage.Summary.
const (
	SummaryImages      = "Images"      // blobs named images need: never pruned
	SummaryBuildCache  = "Build cache" // blobs no image needs, snapshots, unreadable records
	SummaryCacheMounts = "Cache mounts"
)

// UnreadableRecord is a cache record file that cannot be read.
type UnreadableRecord struct {
	Path string `json:"path"`
	Size int64  `json:"size"`
	Err  string `json:"error"`
}

// BlobUsage is one blob of the store.
type BlobUsage struct {
	Digest         string    `json:"digest"`
	Size           int64     `json:"size"`
	Kind           string    `json:"kind"` // KindLayer, KindConfig or KindManifest; a blob no image names counts as a layer
	CreatedBy      string    `json:"createdBy,omitempty"`
	Images         []string  `json:"images,omitempty"` // names of the images that need it, sorted
	Records        int       `json:"cacheRecords"`
	LastUsed       time.Time `json:"lastUsed,omitzero"`
	Reclaimable    bool      `json:"reclaimable"`    // bld prune frees it
	ReclaimableAll bool      `json:"reclaimableAll"` // bld prune -a frees it (no image needs it)
}

// SnapshotUsage is one snapshot. A build makes it again from the layer
// blobs, so prune -a frees every one but those of running builds.
type SnapshotUsage struct {
	Name           string    `json:"name"`
	Size           int64     `json:"size"`
	CreatedBy      string    `json:"createdBy,omitempty"`
	Records        int       `json:"cacheRecords"`
	LastUsed       time.Time `json:"lastUsed,omitzero"`
	Reclaimable    bool      `json:"reclaimable"`    // bld prune frees it
	ReclaimableAll bool      `json:"reclaimableAll"` // bld prune -a frees it
}

// ImageUsage is what a named image holds: Size = Shared + Unique, where
// Shared is the blobs other images need too.
type ImageUsage struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	Shared int64  `json:"sharedSize"`
	Unique int64  `json:"uniqueSize"`
}

// Totals sums the blobs, snapshots, cache mounts and unreadable records:
// All is every byte, Shared the blobs several images need, Reclaimable
// exactly what `bld prune` frees and ReclaimableAll what `bld prune -a`
// frees.
type Totals struct {
	All            int64 `json:"all"`
	Shared         int64 `json:"shared"`
	Reclaimable    int64 `json:"reclaimable"`
	ReclaimableAll int64 `json:"reclaimableAll"`
}

// BaseLayerCreatedBy is the CreatedBy of an unpacked base-image layer, or a
// layer blob, that no cache record or image history describes.
const BaseLayerCreatedBy = "base image layer"

// Usage measures the root: every blob of the store and every snapshot (when
// the root was opened with Options.Snapshots), who needs each, what prune
// and prune -a would free, and the totals. It reads what Prune reads and
// runs Prune's plan on it, without the lock and without freeing anything.
func (r *Root) Usage(ctx context.Context) (*Usage, error) {
	in, err := r.readPrune(ctx)
	if err != nil {
		return nil, err
	}
	plain, all := in.clone().plan(PruneOptions{}), in.clone().plan(PruneOptions{All: true})
	freed := func(p *prunePlan) map[string]bool {
		m := make(map[string]bool, len(p.snaps)+len(p.blobs))
		for _, fs := range [][]Freed{p.snaps, p.blobs} {
			for _, f := range fs {
				m[f.Name] = true
			}
		}
		return m
	}
	freedPlain, freedAll := freed(plain), freed(all)

	set := in.set
	users := map[v1.Hash][]string{}
	for _, im := range set.images {
		for _, d := range im.Blobs {
			users[d.Digest] = append(users[d.Digest], im.Name) // Blobs has each digest once per image
		}
	}
	recLayers := map[v1.Hash][]cache.Record{}
	recSnaps := map[string][]cache.Record{}
	for _, rec := range in.recs {
		if rec.Layer != nil {
			recLayers[rec.Layer.Digest] = append(recLayers[rec.Layer.Digest], rec)
		}
		if rec.Snapshot != "" {
			recSnaps[rec.Snapshot] = append(recSnaps[rec.Snapshot], rec)
		}
	}
	u := &Usage{CacheMounts: in.mounts}
	images := SummaryRow{Type: SummaryImages, Count: len(set.images)}
	build := SummaryRow{Type: SummaryBuildCache, Count: len(in.recs) + len(in.bad)}
	for _, b := range in.bad {
		u.Unreadable = append(u.Unreadable, UnreadableRecord{Path: b.Path, Size: b.Size, Err: b.Err.Error()})
		build.Size += b.Size
	}
	blobSize := map[v1.Hash]int64{}
	for _, bi := range in.blobs {
		h := bi.digest
		name := h.String()
		b := &BlobUsage{Digest: name, Size: bi.size, Kind: set.kind[h], Images: users[h], CreatedBy: set.createdBy[h],
			Reclaimable: freedPlain[name], ReclaimableAll: freedAll[name]}
		if b.Kind == "" {
			b.Kind = KindLayer
		}
		sort.Strings(b.Images)
		for _, rec := range recLayers[h] {
			b.Records++
			if b.CreatedBy == "" {
				b.CreatedBy = Instruction(rec.CreatedBy)
			}
			if rec.LastUsed.After(b.LastUsed) {
				b.LastUsed = rec.LastUsed
			}
		}
		if b.CreatedBy == "" && b.Kind == KindLayer {
			b.CreatedBy = BaseLayerCreatedBy
		}
		u.Blobs = append(u.Blobs, b)
		blobSize[h] = bi.size
		if len(b.Images) > 0 {
			images.Size += bi.size
		} else {
			build.Size += bi.size
		}
		if len(b.Images) > 1 {
			u.Totals.Shared += bi.size
		}
	}
	for _, sn := range in.snaps {
		info := sn.info
		s := &SnapshotUsage{Name: info.Name, Size: sn.size, LastUsed: info.Created,
			Reclaimable: freedPlain[info.Name], ReclaimableAll: freedAll[info.Name]}
		for _, rec := range recSnaps[info.Name] {
			s.Records++
			// The step that made the snapshot named it after its key;
			// other records only build on it (an unchanged RUN keeps
			// its parent's), and the store's order of them varies.
			if s.CreatedBy == "" || snapshot.StepName(rec.Key.String()) == info.Name {
				s.CreatedBy = Instruction(rec.CreatedBy)
			}
			if rec.LastUsed.After(s.LastUsed) {
				s.LastUsed = rec.LastUsed
			}
		}
		if s.CreatedBy == "" && snapshot.IsLayer(info.Name) {
			s.CreatedBy = BaseLayerCreatedBy
		}
		u.Snapshots = append(u.Snapshots, s)
		build.Size += sn.size
	}
	build.Reclaimable = plain.total() - plain.mounts
	build.ReclaimableAll = all.total() - all.mounts
	mounts := SummaryRow{Type: SummaryCacheMounts, Count: cacheMountCount(r.CacheMountsDir()), Size: in.mounts, ReclaimableAll: all.mounts}
	u.Summary = []SummaryRow{images, build, mounts}
	u.Totals.All = images.Size + build.Size + mounts.Size
	u.Totals.Reclaimable = plain.total()
	u.Totals.ReclaimableAll = all.total()

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
	// largest first, ties in name order (the order they were read).
	slices.SortStableFunc(u.Blobs, func(a, b *BlobUsage) int { return cmp.Compare(b.Size, a.Size) })
	slices.SortStableFunc(u.Snapshots, func(a, b *SnapshotUsage) int { return cmp.Compare(b.Size, a.Size) })
	return u, nil
}

// cacheMountCount is the number of cache mounts (directories) in dir.
func cacheMountCount(dir string) int {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range ents {
		if e.IsDir() {
			n++
		}
	}
	return n
}

// Instruction returns an instruction as du and prune show it, in the
// spelling of BuildKit's progress ("RUN make", "COPY a /b"): from an image
// history entry it drops BuildKit's " # buildkit" suffix, the "|N A=b"
// build-arg prefix of a RUN and the default shell's "/bin/sh -c ", and
// Docker's legacy "/bin/sh -c #(nop) " prefix. Cache records are already
// spelled so.
func Instruction(createdBy string) string {
	s := strings.TrimSuffix(createdBy, " # buildkit")
	if rest, ok := strings.CutPrefix(s, "/bin/sh -c #(nop) "); ok {
		return strings.TrimSpace(rest)
	}
	if rest, ok := strings.CutPrefix(s, "/bin/sh -c "); ok {
		return "RUN " + rest // the classic builder's RUN
	}
	rest, ok := strings.CutPrefix(s, "RUN ")
	if !ok {
		return s
	}
	if strings.HasPrefix(rest, "|") {
		// "|2 A=1 B=2 /bin/sh -c make": the build args in scope.
		n, after, _ := strings.Cut(rest[1:], " ")
		if k, err := strconv.Atoi(n); err == nil {
			f := strings.SplitN(after, " ", k+1)
			if len(f) == k+1 {
				rest = f[k]
			}
		}
	}
	if cmd, ok := strings.CutPrefix(rest, "/bin/sh -c "); ok {
		rest = cmd
	}
	return "RUN " + rest
}

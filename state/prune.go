package state

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bldbuild/bld/cache"
	"github.com/bldbuild/bld/snapshot"
)

// PruneOptions says which cache records Prune drops. The zero value drops
// none: it frees only what nothing refers to (blobs of removed images,
// snapshots of interrupted builds). Blobs a named image needs are never
// freed.
type PruneOptions struct {
	// All drops every cache record (with Until: every record older than
	// Until), and empties the RUN cache mounts.
	All bool
	// Until, when set, drops the records not used for longer than this.
	Until time.Duration
	// KeepStorage, when above zero, then drops records least recently used
	// first until the build cache (what du counts reclaimable: blobs no
	// image needs, and snapshots) fits in this many bytes.
	KeepStorage int64
	// Now is the time Until counts back from; zero means time.Now().
	Now time.Time
}

// FreedKind says what a Freed item was.
type FreedKind string

// What Prune frees.
const (
	FreedSnapshot    FreedKind = "snapshot"
	FreedBlob        FreedKind = "blob"
	FreedCacheMounts FreedKind = "cache mounts"
)

// Freed is one thing Prune removed.
type Freed struct {
	Kind FreedKind
	Name string // the snapshot's name, the blob's digest; "" for the cache mounts
	Size int64
}

// PruneReport is what Prune freed, in the order it was freed: snapshots
// (children before parents), then blobs (in digest order), then the cache
// mounts.
type PruneReport struct {
	Records int // cache records dropped
	Freed   []Freed
	Total   int64 // bytes freed
}

// Prune frees what is not needed, under the exclusive root lock (it waits
// for running builds): the records opts drops, then every snapshot no kept
// record needs (directly or as a parent), and every blob neither a named
// image nor a kept record needs. It also removes scratch left in tmp/.
//
// It is one pass: blobs of named images are marked, records are chosen
// oldest first, and snapshots and blobs are freed when their reference
// counts (kept records, child snapshots) fall to zero.
func (r *Root) Prune(ctx context.Context, opts PruneOptions) (*PruneReport, error) {
	if r.Snapshots == nil {
		return nil, errors.New("prune: root opened without snapshots")
	}
	unlock, err := r.LockExclusive(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := r.cleanupSnapshots(ctx); err != nil {
		return nil, err
	}
	if err := r.cleanTmp(); err != nil {
		return nil, err
	}
	p, err := r.planPrune(ctx, opts)
	if err != nil {
		return nil, err
	}
	return r.sweep(ctx, p, opts.All)
}

// prunePlan is the result of the mark phase.
type prunePlan struct {
	drop  []cache.Record // records to delete
	snaps []Freed        // snapshots to remove, children first
	blobs []Freed        // blobs to delete, in digest order
}

// snapNode is a snapshot's reference count: kept records naming it, child
// snapshots, and one for a snapshot that is not committed (a live build's,
// never freed here).
type snapNode struct {
	info  snapshot.Info
	refs  int
	size  int64
	freed bool
}

func (r *Root) planPrune(ctx context.Context, opts PruneOptions) (*prunePlan, error) {
	set, err := r.imageSet(ctx)
	if err != nil {
		return nil, err
	}
	needed := map[v1.Hash]bool{}
	for _, im := range set.images {
		for _, d := range im.Blobs {
			needed[d.Digest] = true
		}
	}

	var recs []cache.Record
	if err := r.Cache.Walk(func(rec cache.Record) error {
		recs = append(recs, rec)
		return ctx.Err()
	}); err != nil {
		return nil, err
	}
	// Least recently used first; the key breaks ties, for a stable order.
	slices.SortFunc(recs, func(a, b cache.Record) int {
		if c := a.LastUsed.Compare(b.LastUsed); c != 0 {
			return c
		}
		return slices.Compare(a.Key[:], b.Key[:])
	})
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	dropped := make([]bool, len(recs))
	for i, rec := range recs {
		old := opts.Until > 0 && now.Sub(rec.LastUsed) > opts.Until
		dropped[i] = old || (opts.All && opts.Until == 0)
	}

	// Snapshots and their reference counts.
	snaps := map[string]*snapNode{}
	var order []string // walk order: by name
	if err := r.Snapshots.Walk(ctx, func(info snapshot.Info) error {
		snaps[info.Name] = &snapNode{info: info}
		order = append(order, info.Name)
		return nil
	}); err != nil {
		return nil, err
	}
	for _, name := range order {
		n := snaps[name]
		if n.info.Kind != snapshot.KindCommitted {
			n.refs++
		}
		if p := snaps[n.info.Parent]; p != nil {
			p.refs++
		}
	}

	// Blobs and their counts of kept records.
	blobSize := map[v1.Hash]int64{}
	var blobOrder []v1.Hash
	if err := r.Store.Blobs(func(h v1.Hash, size int64) error {
		blobSize[h] = size
		blobOrder = append(blobOrder, h)
		return ctx.Err()
	}); err != nil {
		return nil, err
	}
	blobRefs := map[v1.Hash]int{}
	for i, rec := range recs {
		if dropped[i] {
			continue
		}
		if n := snaps[rec.Snapshot]; n != nil {
			n.refs++
		}
		if rec.Layer != nil {
			blobRefs[rec.Layer.Digest]++
		}
	}

	p := &prunePlan{}
	var cacheSize int64 // bytes the kept records hold: du's reclaimable after the sweep
	// freeSnap frees n if nothing refers to it, and then its parents.
	freeSnap := func(n *snapNode) {
		for n != nil && n.refs == 0 && !n.freed {
			n.freed = true
			p.snaps = append(p.snaps, Freed{Kind: FreedSnapshot, Name: n.info.Name, Size: n.size})
			cacheSize -= n.size
			n = snaps[n.info.Parent]
			if n != nil {
				n.refs--
			}
		}
	}
	for _, name := range order {
		n := snaps[name]
		size, err := r.Snapshots.Usage(ctx, name)
		if err != nil && !errors.Is(err, snapshot.ErrNotFound) { // not found: removed meanwhile, 0 bytes
			return nil, fmt.Errorf("snapshot %s: %w", name, err)
		}
		n.size = size
		cacheSize += size
	}
	for _, name := range order {
		freeSnap(snaps[name])
	}
	for h, size := range blobSize {
		if !needed[h] && blobRefs[h] > 0 {
			cacheSize += size
		}
	}

	// --keep-storage: drop the least recently used kept records until the
	// rest fits.
	for i := 0; opts.KeepStorage > 0 && cacheSize > opts.KeepStorage && i < len(recs); i++ {
		if dropped[i] {
			continue
		}
		dropped[i] = true
		rec := recs[i]
		if rec.Layer != nil {
			h := rec.Layer.Digest
			if blobRefs[h]--; blobRefs[h] == 0 && !needed[h] {
				cacheSize -= blobSize[h]
			}
		}
		if n := snaps[rec.Snapshot]; n != nil {
			n.refs--
			freeSnap(n)
		}
	}

	for i, rec := range recs {
		if dropped[i] {
			p.drop = append(p.drop, rec)
		}
	}
	for _, h := range blobOrder {
		if !needed[h] && blobRefs[h] == 0 {
			p.blobs = append(p.blobs, Freed{Kind: FreedBlob, Name: h.String(), Size: blobSize[h]})
		}
	}
	return p, nil
}

// sweep deletes what the plan frees: records first (so no record ever
// names a snapshot or blob that is gone), then snapshots children first,
// then blobs, then (with all) the RUN cache mounts.
func (r *Root) sweep(ctx context.Context, p *prunePlan, all bool) (*PruneReport, error) {
	rep := &PruneReport{}
	for _, rec := range p.drop {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		if err := r.Cache.Delete(rec.Key); err != nil {
			return rep, fmt.Errorf("delete cache record %s: %w", rec.Key, err)
		}
		rep.Records++
	}
	for _, f := range p.snaps {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		if err := r.Snapshots.Remove(ctx, f.Name); err != nil && !errors.Is(err, snapshot.ErrNotFound) {
			return rep, fmt.Errorf("remove snapshot %s: %w", f.Name, err)
		}
		rep.add(f)
	}
	for _, f := range p.blobs {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		h, err := v1.NewHash(f.Name)
		if err != nil {
			return rep, err
		}
		if err := r.Store.Delete(h); err != nil {
			return rep, err
		}
		rep.add(f)
	}
	if all {
		dir := r.CacheMountsDir()
		n, err := dirSize(dir)
		if err != nil {
			return rep, fmt.Errorf("cache mounts: %w", err)
		}
		if n > 0 {
			if err := os.RemoveAll(dir); err != nil {
				return rep, fmt.Errorf("cache mounts: %w", err)
			}
			rep.add(Freed{Kind: FreedCacheMounts, Size: n})
		}
	}
	return rep, nil
}

func (rep *PruneReport) add(f Freed) {
	rep.Freed = append(rep.Freed, f)
	rep.Total += f.Size
}

// dirSize sums the sizes of the regular files under dir; a missing dir is
// empty.
func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			n += fi.Size()
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	return n, err
}

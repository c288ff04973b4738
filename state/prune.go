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
	"github.com/bldbuild/bld/store"
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
	// first until everything the root holds (du's total: blobs, snapshots,
	// cache mounts) fits in this many bytes. What cannot be freed that way
	// is named in PruneReport.Pinned.
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
	FreedBadRecord   FreedKind = "unreadable cache record"
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
	// Pinned, with KeepStorage, is what kept the root above it after
	// every cache record was dropped; nil when it fits.
	Pinned *Pinned
}

// Pinned is what no cache record holds, so --keep-storage cannot free it.
type Pinned struct {
	Left        int64 // bytes the root holds after the prune
	Images      int64 // blobs named images need (bld rmi frees them)
	CacheMounts int64 // RUN cache mounts (prune -a empties them)
	Live        int64 // snapshots of running builds
}

// Prune frees what is not needed, under the exclusive root lock (it waits
// for running builds): the records opts drops, then every snapshot no kept
// record needs (directly or as a parent), and every blob neither a named
// image nor a kept record needs. It also removes scratch left in tmp/.
//
// It is one pass: blobs of named images are marked, records are chosen
// oldest first, and snapshots and blobs are freed when their reference
// counts (kept records, child snapshots) fall to zero. Usage runs the same
// plan, so du's reclaimable figures are what Prune frees.
func (r *Root) Prune(ctx context.Context, opts PruneOptions) (*PruneReport, error) {
	if r.Snapshots == nil {
		return nil, errors.New("prune: root opened without snapshots")
	}
	unlock, err := r.LockExclusive(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	// Scratch first: its mounts use the dead processes' snapshots.
	if err := r.cleanTmp(true); err != nil {
		return nil, err
	}
	if err := r.cleanupSnapshots(ctx); err != nil {
		return nil, err
	}
	in, err := r.readPrune(ctx)
	if err != nil {
		return nil, err
	}
	p := in.plan(opts)
	rep, err := r.sweep(ctx, p, opts.All)
	if rep != nil {
		rep.Pinned = p.pinned
	}
	return rep, err
}

// prunePlan is the result of the mark phase.
type prunePlan struct {
	drop   []cache.Record // records to delete
	snaps  []Freed        // snapshots to remove, children first
	blobs  []Freed        // blobs to delete, in digest order
	bad    []Freed        // cache record files that cannot be read: useless, always freed
	mounts int64          // bytes of RUN cache mounts freed (with All)
	pinned *Pinned        // with KeepStorage: what kept the root above it
}

// total is the bytes the plan frees: exactly what sweep reports, unless
// something changes on disk in between.
func (p *prunePlan) total() int64 {
	n := p.mounts
	for _, fs := range [][]Freed{p.snaps, p.blobs, p.bad} {
		for _, f := range fs {
			n += f.Size
		}
	}
	return n
}

// pruneInput is what the mark phase reads from disk.
type pruneInput struct {
	set    *imageSet
	needed map[v1.Hash]bool // blobs of named images
	recs   []cache.Record
	bad    []cache.Unreadable
	snaps  []snapNode // in name order
	blobs  []blobInfo // in digest order
	mounts int64      // bytes of the RUN cache mounts
}

// clone returns a copy plan can consume, leaving in as it is.
func (in *pruneInput) clone() *pruneInput {
	c := *in
	c.recs = slices.Clone(in.recs)
	c.snaps = slices.Clone(in.snaps)
	return &c
}

type blobInfo struct {
	digest v1.Hash
	size   int64
}

// snapNode is a snapshot and its reference count: kept records naming it,
// child snapshots, and one for a snapshot that is not committed (a live
// build's, never freed here).
type snapNode struct {
	info  snapshot.Info
	size  int64
	refs  int
	freed bool
}

// readPrune reads the named images, the records, the size of the RUN cache
// mounts, the snapshots (with their sizes; none for a root opened without
// snapshots) and the blobs: what Prune and Usage plan on.
func (r *Root) readPrune(ctx context.Context) (*pruneInput, error) {
	set, err := r.imageSet(ctx)
	if err != nil {
		return nil, err
	}
	in := &pruneInput{set: set, needed: map[v1.Hash]bool{}}
	for _, im := range set.images {
		for _, d := range im.Blobs {
			in.needed[d.Digest] = true
		}
	}
	if err := r.Cache.Walk(func(rec cache.Record) error {
		in.recs = append(in.recs, rec)
		return ctx.Err()
	}, func(u cache.Unreadable) error {
		in.bad = append(in.bad, u)
		return nil
	}); err != nil {
		return nil, err
	}
	if in.mounts, err = dirSize(r.CacheMountsDir()); err != nil {
		return nil, fmt.Errorf("cache mounts: %w", err)
	}
	if r.Snapshots == nil {
		return in, nil // a root opened without snapshots: du of the store alone
	}
	if err := r.Snapshots.Walk(ctx, func(info snapshot.Info) error {
		size, err := r.Snapshots.Usage(ctx, info.Name)
		if err != nil && !errors.Is(err, snapshot.ErrNotFound) { // not found: removed meanwhile, 0 bytes
			return fmt.Errorf("snapshot %s: %w", info.Name, err)
		}
		in.snaps = append(in.snaps, snapNode{info: info, size: size})
		return nil
	}); err != nil {
		return nil, err
	}
	if err := r.Store.Blobs(func(h v1.Hash, size int64) error {
		in.blobs = append(in.blobs, blobInfo{h, size})
		return ctx.Err()
	}); err != nil {
		return nil, err
	}
	return in, nil
}

// plan decides what goes, in time linear in records + snapshots + blobs
// (after sorting the records): names and digests are turned into indexes
// once, then reference counts over slices decide. It consumes in.
func (in *pruneInput) plan(opts PruneOptions) *prunePlan {
	recs := in.recs
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

	// Snapshots: index by name; count children and live (uncommitted) ones.
	snapIdx := make(map[string]int, len(in.snaps))
	for i := range in.snaps {
		snapIdx[in.snaps[i].info.Name] = i
	}
	parent := make([]int, len(in.snaps)) // -1: none
	for i := range in.snaps {
		n := &in.snaps[i]
		if n.info.Kind != snapshot.KindCommitted {
			n.refs++
		}
		parent[i] = -1
		if p, ok := snapIdx[n.info.Parent]; ok && n.info.Parent != "" {
			parent[i] = p
			in.snaps[p].refs++
		}
	}
	// Blobs: index by digest; which are reclaimable (no image needs them).
	blobIdx := make(map[v1.Hash]int, len(in.blobs))
	free := make([]bool, len(in.blobs)) // reclaimable
	for i, b := range in.blobs {
		blobIdx[b.digest] = i
		free[i] = !in.needed[b.digest]
	}
	blobRefs := make([]int, len(in.blobs))

	// Records: what each holds, and which opts drops outright.
	type held struct{ snap, blob int } // -1: none (or not on disk)
	holds := make([]held, len(recs))
	dropped := make([]bool, len(recs))
	for i, rec := range recs {
		h := held{-1, -1}
		if j, ok := snapIdx[rec.Snapshot]; ok && rec.Snapshot != "" {
			h.snap = j
		}
		if rec.Layer != nil {
			if j, ok := blobIdx[rec.Layer.Digest]; ok {
				h.blob = j
			}
		}
		holds[i] = h
		old := opts.Until > 0 && now.Sub(rec.LastUsed) > opts.Until
		dropped[i] = old || (opts.All && opts.Until == 0)
		if dropped[i] {
			continue
		}
		if h.snap >= 0 {
			in.snaps[h.snap].refs++
		}
		if h.blob >= 0 {
			blobRefs[h.blob]++
		}
	}

	p := &prunePlan{}
	// total is what the root holds after the frees decided so far: du's
	// total minus the plan's.
	total := in.mounts
	for _, u := range in.bad {
		p.bad = append(p.bad, Freed{Kind: FreedBadRecord, Name: u.Path, Size: u.Size})
	}
	if opts.All {
		p.mounts = in.mounts
		total -= in.mounts
	}
	// freeSnap frees snapshot i if nothing refers to it, then its parents.
	freeSnap := func(i int) {
		for i >= 0 && in.snaps[i].refs == 0 && !in.snaps[i].freed {
			n := &in.snaps[i]
			n.freed = true
			p.snaps = append(p.snaps, Freed{Kind: FreedSnapshot, Name: n.info.Name, Size: n.size})
			total -= n.size
			if i = parent[i]; i >= 0 {
				in.snaps[i].refs--
			}
		}
	}
	for i := range in.snaps {
		total += in.snaps[i].size
	}
	for i := range in.snaps {
		freeSnap(i)
	}
	for i, b := range in.blobs {
		if !free[i] || blobRefs[i] > 0 {
			total += b.size
		}
	}

	// --keep-storage: drop the least recently used kept records until the
	// rest fits. Each record is visited once, each snapshot freed once.
	for i := 0; opts.KeepStorage > 0 && total > opts.KeepStorage && i < len(recs); i++ {
		if dropped[i] {
			continue
		}
		dropped[i] = true
		if b := holds[i].blob; b >= 0 {
			if blobRefs[b]--; blobRefs[b] == 0 && free[b] {
				total -= in.blobs[b].size
			}
		}
		if s := holds[i].snap; s >= 0 {
			in.snaps[s].refs--
			freeSnap(s)
		}
	}
	if opts.KeepStorage > 0 && total > opts.KeepStorage {
		// Every record is gone: what is left, nothing prune may drop holds.
		pn := &Pinned{Left: total}
		if !opts.All {
			pn.CacheMounts = in.mounts
		}
		for i, b := range in.blobs {
			if !free[i] {
				pn.Images += b.size
			}
		}
		for i := range in.snaps {
			if !in.snaps[i].freed {
				pn.Live += in.snaps[i].size
			}
		}
		p.pinned = pn
	}

	for i, rec := range recs {
		if dropped[i] {
			p.drop = append(p.drop, rec)
		}
	}
	for i, b := range in.blobs {
		if free[i] && blobRefs[i] == 0 {
			p.blobs = append(p.blobs, Freed{Kind: FreedBlob, Name: b.digest.String(), Size: b.size})
		}
	}
	return p
}

// sweep deletes what the plan frees: records first (so no record ever
// names a snapshot or blob that is gone), then snapshots children first,
// then blobs, then (with all) the RUN cache mounts.
func (r *Root) sweep(ctx context.Context, p *prunePlan, all bool) (*PruneReport, error) {
	rep := &PruneReport{}
	for _, f := range p.bad {
		if err := os.Remove(f.Name); err != nil && !errors.Is(err, os.ErrNotExist) {
			return rep, fmt.Errorf("remove unreadable cache record: %w", err)
		}
		rep.add(f)
	}
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
		err = r.Store.Delete(h)
		if errors.Is(err, store.ErrNotFound) {
			continue // removed meanwhile: nothing freed here
		}
		if err != nil {
			return rep, err
		}
		rep.add(f)
	}
	if all {
		// Measured again: a build may have filled them since the plan.
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

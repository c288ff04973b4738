package state

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bldbuild/bld/cache"
	"github.com/bldbuild/bld/internal/readers"
	"github.com/bldbuild/bld/snapshot"
	"github.com/bldbuild/bld/store"
)

// Problem kinds, as Verify reports them.
const (
	ProblemBlob     = "blob"     // a blob whose content does not match its digest or size
	ProblemImage    = "image"    // a named image missing a manifest, config or layer
	ProblemRecord   = "record"   // a cache record missing its snapshot or layer, or unreadable
	ProblemSnapshot = "snapshot" // a snapshot whose parent is gone
	ProblemScratch  = "scratch"  // scratch left in tmp/ by a dead process
)

// Problem is one thing wrong in a root.
type Problem struct {
	Kind string // one of the Problem* kinds
	Name string // the blob digest, image name, record key, snapshot or path
	Msg  string // what is wrong, for a person
}

func (p Problem) String() string { return p.Kind + " " + p.Name + ": " + p.Msg }

// Report is what Verify checked and what it found wrong.
type Report struct {
	Blobs, Images, Records, Snapshots int // how many were checked
	Problems                          []Problem
}

// OK reports whether nothing is wrong.
func (rep *Report) OK() bool { return len(rep.Problems) == 0 }

func (rep *Report) add(kind, name, format string, args ...any) {
	rep.Problems = append(rep.Problems, Problem{Kind: kind, Name: name, Msg: fmt.Sprintf(format, args...)})
}

// Verify checks the root: every blob's content against its digest (and the
// size images and records give it), every named image's manifests, config
// and layers present, every cache record's snapshot and layer present,
// every snapshot's parent present, and no scratch of a dead process left
// in tmp/. What is wrong goes in the report; the error is for a check that
// could not run (a read failing, ctx done). It takes the root lock shared,
// so it runs beside builds but not during a prune. Snapshot checks need a
// root opened with Options.Snapshots.
func (r *Root) Verify(ctx context.Context) (*Report, error) {
	unlock, err := r.LockShared(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	rep := &Report{}
	// The sizes descriptors give the blobs, checked against the content.
	sizes := map[v1.Hash]int64{}
	if err := r.verifyImages(ctx, rep, sizes); err != nil {
		return nil, err
	}
	if err := r.verifyRecords(ctx, rep, sizes); err != nil {
		return nil, err
	}
	if err := r.verifySnapshots(ctx, rep); err != nil {
		return nil, err
	}
	if err := r.verifyBlobs(ctx, rep, sizes); err != nil {
		return nil, err
	}
	if err := r.verifyScratch(rep); err != nil {
		return nil, err
	}
	return rep, nil
}

func (r *Root) verifyBlobs(ctx context.Context, rep *Report, sizes map[v1.Hash]int64) error {
	var blobs []v1.Hash
	if err := r.Store.Blobs(func(h v1.Hash, _ int64) error {
		blobs = append(blobs, h)
		return ctx.Err()
	}); err != nil {
		return fmt.Errorf("verify blobs: %w", err)
	}
	for _, h := range blobs {
		rep.Blobs++
		rc, err := r.Store.Open(h)
		if errors.Is(err, store.ErrNotFound) {
			continue // deleted meanwhile (rm of an image beside us)
		}
		if err != nil {
			return fmt.Errorf("verify blob %s: %w", h, err)
		}
		hw := sha256.New()
		n, err := io.Copy(hw, readers.WithContext(ctx, rc))
		rc.Close()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			rep.add(ProblemBlob, h.String(), "unreadable: %v", err)
			continue
		}
		if h.Algorithm == "sha256" && hex.EncodeToString(hw.Sum(nil)) != h.Hex {
			rep.add(ProblemBlob, h.String(), "content has digest sha256:%x", hw.Sum(nil))
		}
		if want, ok := sizes[h]; ok && want != n {
			rep.add(ProblemBlob, h.String(), "%d bytes, descriptors say %d", n, want)
		}
	}
	return nil
}

func (r *Root) verifyImages(ctx context.Context, rep *Report, sizes map[v1.Hash]int64) error {
	named, err := r.Store.Images()
	if err != nil {
		return fmt.Errorf("verify images: %w", err)
	}
	for _, n := range named {
		if err := ctx.Err(); err != nil {
			return err
		}
		rep.Images++
		if err := r.verifyManifest(n.Name, n.Descriptor, true, rep, sizes); err != nil {
			return err
		}
	}
	return nil
}

// verifyManifest checks a manifest or index and the blobs it names. A
// named descriptor is required; the manifests of an index are not (the
// platforms never pulled are not in the store), but at least one must be,
// and every blob of a present manifest must be.
func (r *Root) verifyManifest(name string, d v1.Descriptor, required bool, rep *Report, sizes map[v1.Hash]int64) error {
	sizes[d.Digest] = d.Size
	raw, ok, err := r.readBlob(d.Digest)
	if err != nil {
		rep.add(ProblemImage, name, "manifest %s: %v", d.Digest, err)
		return nil
	}
	if !ok {
		if required {
			rep.add(ProblemImage, name, "manifest %s missing", d.Digest)
		}
		return nil
	}
	if d.MediaType.IsIndex() {
		idx, err := v1.ParseIndexManifest(bytes.NewReader(raw))
		if err != nil {
			rep.add(ProblemImage, name, "index %s: %v", d.Digest, err)
			return nil
		}
		present := 0
		for _, m := range idx.Manifests {
			if _, err := r.Store.Stat(m.Digest); err == nil {
				present++
			}
			if err := r.verifyManifest(name, m, false, rep, sizes); err != nil {
				return err
			}
		}
		if present == 0 && len(idx.Manifests) > 0 {
			rep.add(ProblemImage, name, "index %s: none of its %d manifests present", d.Digest, len(idx.Manifests))
		}
		return nil
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		rep.add(ProblemImage, name, "manifest %s: %v", d.Digest, err)
		return nil
	}
	for _, b := range append([]v1.Descriptor{m.Config}, m.Layers...) {
		what := "layer"
		if b.Digest == m.Config.Digest {
			what = "config"
		}
		sizes[b.Digest] = b.Size
		if _, err := r.Store.Stat(b.Digest); errors.Is(err, store.ErrNotFound) {
			rep.add(ProblemImage, name, "%s %s missing", what, b.Digest)
		} else if err != nil {
			return fmt.Errorf("verify image %s: %w", name, err)
		}
	}
	return nil
}

func (r *Root) verifyRecords(ctx context.Context, rep *Report, sizes map[v1.Hash]int64) error {
	err := r.Cache.Walk(func(rec cache.Record) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		rep.Records++
		if rec.Snapshot != "" && r.Snapshots != nil {
			if _, err := r.Snapshots.Stat(ctx, rec.Snapshot); errors.Is(err, snapshot.ErrNotFound) {
				rep.add(ProblemRecord, rec.Key.String(), "snapshot %s missing", rec.Snapshot)
			} else if err != nil {
				return fmt.Errorf("verify record %s: %w", rec.Key, err)
			}
		}
		if rec.Layer != nil {
			sizes[rec.Layer.Digest] = rec.Layer.Size
			if _, err := r.Store.Stat(rec.Layer.Digest); errors.Is(err, store.ErrNotFound) {
				rep.add(ProblemRecord, rec.Key.String(), "layer %s missing", rec.Layer.Digest)
			} else if err != nil {
				return fmt.Errorf("verify record %s: %w", rec.Key, err)
			}
		}
		return nil
	}, func(u cache.Unreadable) error {
		rep.add(ProblemRecord, u.Path, "unreadable: %v", u.Err)
		return nil
	})
	if err != nil {
		return fmt.Errorf("verify records: %w", err)
	}
	return nil
}

func (r *Root) verifySnapshots(ctx context.Context, rep *Report) error {
	if r.Snapshots == nil {
		return nil
	}
	names := map[string]bool{}
	var infos []snapshot.Info
	if err := r.Snapshots.Walk(ctx, func(info snapshot.Info) error {
		names[info.Name] = true
		infos = append(infos, info)
		return nil
	}); err != nil {
		return fmt.Errorf("verify snapshots: %w", err)
	}
	for _, info := range infos {
		rep.Snapshots++
		if info.Parent != "" && !names[info.Parent] {
			rep.add(ProblemSnapshot, info.Name, "parent %s missing", info.Parent)
		}
	}
	return nil
}

// verifyScratch reports scratch directories of dead processes in tmp/
// (recovery could not undo them: see the start-up errors of `bld prune`),
// and anything mounted under tmp/ that belongs to none.
func (r *Root) verifyScratch(rep *Report) error {
	tmp := r.TmpDir()
	ents, err := os.ReadDir(tmp)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("verify scratch: %w", err)
	}
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), scratchPrefix) {
			continue
		}
		p := filepath.Join(tmp, e.Name())
		if live, err := scratchLive(p); err != nil {
			return fmt.Errorf("verify scratch: %w", err)
		} else if !live {
			rep.add(ProblemScratch, p, "left by a dead process")
		}
	}
	return nil
}

package builder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"

	"github.com/bldbuild/bld/cache"
	"github.com/bldbuild/bld/dag"
	"github.com/bldbuild/bld/internal/fscopy"
	"github.com/bldbuild/bld/internal/mount"
	"github.com/bldbuild/bld/snapshot"
)

func (s *solve) copyOptions(op *dag.Copy) fscopy.Options {
	opt := fscopy.Options{
		Exclude:    op.Exclude,
		Add:        op.Add,
		Checksum:   op.Checksum,
		HTTPClient: s.b.HTTPClient,
		Epoch:      s.b.Epoch,
		Parents:    op.Parents,
	}
	if op.Chmod != "" {
		if m, err := fscopy.ParseChmod(op.Chmod); err == nil {
			opt.Chmod = &m
		}
	}
	return opt
}

// copyOptionsIn is copyOptions with --chown looked up in root, the image
// being copied into.
func (s *solve) copyOptionsIn(op *dag.Copy, root string) (fscopy.Options, error) {
	opt := s.copyOptions(op)
	if op.Chown != "" {
		owner, err := fscopy.LookupOwner(root, op.Chown)
		if err != nil {
			return opt, fmt.Errorf("--chown=%s: %w", op.Chown, err)
		}
		opt.Chown = &owner
	}
	return opt, nil
}

// copy runs COPY/ADD: it copies from the context (or from Inputs[1]'s
// snapshot) into an active snapshot over the parent.
func (s *solve) copy(ctx context.Context, v *dag.Vertex, op *dag.Copy, inputs []*node) (cache.Record, error) {
	if op.Chmod != "" {
		if _, err := fscopy.ParseChmod(op.Chmod); err != nil {
			return cache.Record{}, err
		}
	}
	parent, err := inputs[0].snap()
	if err != nil {
		return cache.Record{}, err
	}
	if s.nodes[v].linked {
		// COPY --link: made on an empty base, whatever the parent holds;
		// its snapshot is rebased onto the parent when a step needs it.
		parent = ""
	} else if s.toLayer(v, op) {
		rec, err := s.copyLayer(ctx, v, op, inputs)
		if !errors.Is(err, fscopy.ErrNoLayer) {
			return rec, err
		}
	}
	key, err := s.prepare(ctx, parent, func(_ string, mounts []mount.Mount) error {
		return mount.WithTempMountIn(ctx, s.b.WorkDir, mounts, func(root string) error {
			opt, err := s.copyOptionsIn(op, root)
			if err != nil {
				return err
			}
			opt.Upper = snapshot.UpperDir(mounts)
			if opt.Upper != "" {
				opt.Reuse = s.reuseFrom(v)
			}
			do := func(src fscopy.Source) error {
				if len(op.Sources) > 0 {
					if err := fscopy.Copy(ctx, src, op.Sources, root, op.Dest, opt); err != nil {
						return err
					}
				}
				if len(op.Heredocs) > 0 {
					return fscopy.Heredocs(ctx, op.Heredocs, root, op.Dest, opt)
				}
				return nil
			}
			if op.From != "" && len(inputs) > 1 {
				return s.withView(ctx, inputs[1], func(dir string) error {
					return do(fscopy.Source{Dir: dir})
				})
			}
			return do(s.contextSource())
		})
	})
	if err != nil {
		return cache.Record{}, err
	}
	return s.commit(ctx, v, key, parent, false)
}

// reuseFrom returns the upper dir of the snapshot the last record made
// at COPY v's place in this Dockerfile names (cache.Last: the previous
// build's run of this step, typically), for the copy to link the files it
// would write identically from (fscopy.Options.Reuse); "" for none. A
// rebuild after a one-file change then writes one file, not all of them.
// The record may be of another instruction (the Dockerfile changed) or
// name its parent's snapshot (a copy that changed nothing): the copy
// links only what matches, so that costs a few lookups, nothing else.
func (s *solve) reuseFrom(v *dag.Vertex) string {
	last, err := s.b.Cache.Last(s.scope(v, s.nodes[v]))
	if err != nil || last.Snapshot == "" {
		return ""
	}
	dir, err := snapshot.CommittedUpper(s.b.Snapshots, last.Snapshot)
	if err != nil {
		return "" // pruned, or never committed here: nothing to link
	}
	return dir
}

// toLayer reports whether COPY v may be written straight to its layer
// (copyLayer): a copy that no step of this build builds on (the last step
// of the target stage, typically), of one source (from the context or
// another stage) without --parents. Layer may still refuse it
// (fscopy.ErrNoLayer).
func (s *solve) toLayer(v *dag.Vertex, op *dag.Copy) bool {
	return !op.Add && !op.Parents && len(op.Heredocs) == 0 && len(op.Sources) == 1 &&
		s.byKey == nil && !s.consumed[v]
}

// copyLayer runs COPY v as a layer written straight from its sources
// (fscopy.Layer, against a read-only view of the parent): no file is
// created, no snapshot committed. The record names no snapshot; one is
// made from the layer, as for an imported cache record, only if a step
// needs it (restore), in this build or a later one. fscopy.ErrNoLayer,
// before anything is written: the copy runs as usual.
func (s *solve) copyLayer(ctx context.Context, v *dag.Vertex, op *dag.Copy, inputs []*node) (cache.Record, error) {
	var rec cache.Record
	err := s.withView(ctx, inputs[0], func(root string) error {
		opt, err := s.copyOptionsIn(op, root)
		if err != nil {
			return err
		}
		write := func(src fscopy.Source) error {
			pr, pw := io.Pipe()
			layerErr := make(chan error, 1)
			go func() {
				err := fscopy.Layer(ctx, src, op.Sources, root, op.Dest, opt, pw)
				pw.CloseWithError(err)
				layerErr <- err
			}()
			desc, diffID, err := s.writeLayerFrom(ctx, v, pr, false)
			pr.Close() // a Layer still writing stops
			if lerr := <-layerErr; lerr != nil {
				return lerr
			}
			if err != nil {
				return err
			}
			psnap, err := inputs[0].snap()
			if err != nil {
				return err
			}
			rec = cache.Record{Snapshot: psnap}
			if desc != nil && diffID != EmptyTarDiffID {
				rec = cache.Record{Layer: desc, DiffID: diffID}
			}
			return nil
		}
		if op.From != "" && len(inputs) > 1 {
			return s.withView(ctx, inputs[1], func(dir string) error { return write(fscopy.Source{Dir: dir}) })
		}
		return write(s.contextSource())
	})
	return rec, err
}

// rebase returns the snapshot of a linked step's result: its layer (made
// on an empty base) applied over its parent's snapshot, as BuildKit merges
// a COPY --link onto its parent. The snapshot is named by n.chain, so each
// parent gets its own; one already made is reused.
func (s *solve) rebase(ctx context.Context, n *node, parent *node) (string, error) {
	psnap, err := parent.snap()
	if err != nil {
		return "", err
	}
	if n.rec.Layer == nil {
		return psnap, nil
	}
	name := snapshot.StepName(n.chain.String())
	if _, err := s.b.Snapshots.Stat(ctx, name); err == nil {
		return name, nil
	}
	key, err := s.prepare(ctx, psnap, func(key string, _ []mount.Mount) error {
		l, err := s.b.Store.Layer(*n.rec.Layer, n.rec.DiffID)
		if err != nil {
			return err
		}
		rc, err := l.Uncompressed()
		if err != nil {
			return err
		}
		defer rc.Close()
		return s.b.Snapshots.Apply(ctx, key, rc)
	})
	if err != nil {
		return "", fmt.Errorf("rebase linked step %s: %w", n.key, err)
	}
	if err := s.b.Snapshots.Commit(ctx, name, key); err != nil {
		_ = s.b.Snapshots.Remove(context.WithoutCancel(ctx), key)
		if !errors.Is(err, snapshot.ErrExists) {
			return "", fmt.Errorf("rebase linked step %s: %w", n.key, err)
		}
	}
	return name, nil
}

// restoreLinked is restore for a cached linked step: the layer is fetched
// from an imported cache if need be (and the record kept locally), then
// rebased onto the parent.
func (s *solve) restoreLinked(ctx context.Context, v *dag.Vertex, n *node, remote RemoteCache, parent *node) (string, error) {
	if remote != nil && n.rec.Layer != nil {
		if err := s.fetch(ctx, v, n.rec, remote); err != nil {
			return "", err
		}
		// As in restore: a failed Put costs only a later cache hit.
		if err := s.b.Cache.Put(n.rec); err != nil {
			s.warn(v, fmt.Errorf("record imported cache step locally: %w", err))
		}
	}
	return s.rebase(ctx, n, parent)
}

// mkdir runs WORKDIR: it creates the directory and any missing parents,
// owned by the step's user, in its own layer.
func (s *solve) mkdir(ctx context.Context, v *dag.Vertex, op *dag.Mkdir, inputs []*node) (cache.Record, error) {
	parent, err := inputs[0].snap()
	if err != nil {
		return cache.Record{}, err
	}
	key, err := s.prepare(ctx, parent, func(_ string, mounts []mount.Mount) error {
		return mount.WithTempMountIn(ctx, s.b.WorkDir, mounts, func(root string) error {
			owner := fscopy.Owner{UID: 0, GID: 0}
			if op.User != "" {
				o, err := fscopy.LookupOwner(root, op.User)
				if err != nil {
					return fmt.Errorf("user %s: %w", op.User, err)
				}
				owner = o
			}
			return mkdirAll(root, op.Path, owner)
		})
	})
	if err != nil {
		return cache.Record{}, err
	}
	return s.commit(ctx, v, key, parent, false)
}

// mkdirAll creates path inside root, resolving symlinks inside root; the
// directories it creates are owned by owner.
func mkdirAll(root, path string, owner fscopy.Owner) error {
	cur := "/"
	for _, part := range strings.Split(path, "/") {
		if part == "" || part == "." {
			continue
		}
		cur = strings.TrimSuffix(cur, "/") + "/" + part
		p, err := securejoin.SecureJoin(root, cur)
		if err != nil {
			return fmt.Errorf("mkdir %s: %w", path, err)
		}
		fi, err := os.Lstat(p)
		switch {
		case err == nil && fi.IsDir():
			continue
		case err == nil:
			return fmt.Errorf("mkdir %s: %s is not a directory", path, cur)
		case !os.IsNotExist(err):
			return err
		}
		if err := os.Mkdir(p, 0o755); err != nil {
			return err
		}
		if err := os.Lchown(p, owner.UID, owner.GID); err != nil && (os.Geteuid() == 0 || !errors.Is(err, os.ErrPermission)) {
			return err
		}
	}
	return nil
}

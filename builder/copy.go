package builder

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"

	"github.com/bldbuild/bld/cache"
	"github.com/bldbuild/bld/dag"
	"github.com/bldbuild/bld/internal/fscopy"
	"github.com/bldbuild/bld/internal/mount"
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
	key, err := s.prepare(ctx, parent, func(_ string, mounts []mount.Mount) error {
		return mount.WithTempMountIn(ctx, s.b.WorkDir, mounts, func(root string) error {
			opt := s.copyOptions(op)
			if op.Chown != "" {
				owner, err := fscopy.LookupOwner(root, op.Chown)
				if err != nil {
					return fmt.Errorf("--chown=%s: %w", op.Chown, err)
				}
				opt.Chown = &owner
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
	return s.commit(ctx, v, key, parent)
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
	return s.commit(ctx, v, key, parent)
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

package snapshot

import (
	"context"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// cleanup removes what crashes leave behind: active snapshots and views of
// processes that are gone, records hidden by a finished commit, snapshot
// directories no record refers to, temporary record files and trash.
func (s *store) cleanup(ctx context.Context) error {
	var trash []string
	err := s.mutate(func() error {
		dir := filepath.Join(s.root, "metadata")
		ents, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		committed := map[string]bool{}
		for _, r := range s.recs {
			if r.kind() == KindCommitted {
				committed[r.ID] = true
			}
		}
		var dead []string
		for _, r := range s.recs {
			if r.kind() != KindCommitted && (r.Owner == nil || !r.Owner.alive()) && !s.hasChildren(r.Name) {
				dead = append(dead, r.Name)
			}
		}
		for _, name := range dead {
			if err := os.Remove(s.recordPath(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			delete(s.recs, name)
		}
		live := map[string]bool{}
		for _, r := range s.recs {
			live[r.ID] = true
		}
		for _, e := range ents {
			p := filepath.Join(dir, e.Name())
			if strings.HasPrefix(e.Name(), ".") { // a record being written (internal/atomicfile) by a crashed process
				if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return err
				}
				continue
			}
			r, err := readRecord(p)
			if err != nil {
				return err
			}
			if r != nil && s.recs[r.Name] != nil && s.recs[r.Name].ID == r.ID && filepath.Base(s.recordPath(r.Name)) == e.Name() {
				continue
			}
			// Unreadable, misnamed, or stale: a record load ignores.
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		snaps, err := os.ReadDir(filepath.Join(s.root, "snapshots"))
		if err != nil {
			return err
		}
		for _, e := range snaps {
			if live[e.Name()] {
				continue
			}
			t, err := s.toTrash(e.Name())
			if err != nil {
				return err
			}
			if t != "" {
				trash = append(trash, t)
			}
		}
		s.ids = maps.Clone(live)
		tmps, err := os.ReadDir(filepath.Join(s.root, "tmp"))
		if err != nil {
			return err
		}
		for _, e := range tmps {
			if t := filepath.Join(s.root, "tmp", e.Name()); strings.HasPrefix(e.Name(), "trash-") && !slices.Contains(trash, t) {
				trash = append(trash, t)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	var errs []error
	for _, t := range trash {
		if err := ctx.Err(); err != nil {
			return err
		}
		errs = append(errs, removeAll(t))
	}
	return errors.Join(errs...)
}

func (s *store) hasChildren(name string) bool {
	for _, r := range s.recs {
		if r.Parent == name {
			return true
		}
	}
	return false
}

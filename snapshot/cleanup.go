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
		files := map[string]bool{}
		for _, r := range s.recs {
			live[r.ID] = true
			files[filepath.Base(s.recordPath(r.Name))] = true
		}
		// recs is what the files said when last loaded, changed since
		// only by this process, which writes what it changes (withLock):
		// a file that is not a record of recs is one load ignored
		// (unreadable, misnamed, hidden by a commit) or one being written
		// (internal/atomicfile) by a crashed process. It is not read
		// again: that cost as much as load, every start.
		for _, e := range ents {
			if files[e.Name()] && !strings.HasPrefix(e.Name(), ".") {
				continue
			}
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
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

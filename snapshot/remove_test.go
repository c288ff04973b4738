package snapshot

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestRemoveAll: removeAll removes a tree of directories, files, symlinks
// (never followed: what a link points to stays) and unreadable
// directories, and a path that is missing or a file.
func TestRemoveAll(t *testing.T) {
	dir := t.TempDir()
	keep := filepath.Join(dir, "keep")
	if err := os.MkdirAll(filepath.Join(keep, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	tree := filepath.Join(dir, "tree")
	for i := range 20 {
		d := filepath.Join(tree, fmt.Sprintf("d%d", i), "e", "f")
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for j := range 30 {
			if err := os.WriteFile(filepath.Join(d, fmt.Sprint(j)), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Symlink(keep, filepath.Join(tree, fmt.Sprintf("d%d", i), "link")); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(tree, "d3", "e"), 0o500); err != nil {
		t.Fatal(err)
	}
	if err := removeAll(tree); err != nil && os.Geteuid() == 0 {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if _, err := os.Lstat(tree); !os.IsNotExist(err) {
			t.Errorf("tree still there: %v", err)
		}
	}
	if _, err := os.Stat(filepath.Join(keep, "sub")); err != nil {
		t.Errorf("a symlink was followed: %v", err)
	}
	if err := removeAll(filepath.Join(dir, "missing")); err != nil {
		t.Errorf("missing path: %v", err)
	}
	f := filepath.Join(dir, "file")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := removeAll(f); err != nil {
		t.Errorf("file: %v", err)
	}
	if _, err := os.Lstat(f); !os.IsNotExist(err) {
		t.Errorf("file still there: %v", err)
	}
}

// A mutation the store refuses before changing anything (a commit whose
// name is taken, as every commit of a --no-cache rebuild is; a removal of
// what is gone) keeps the records this process holds: it used to drop
// them, and the next call read every record of the store again.
func TestRefusalKeepsRecords(t *testing.T) {
	s, err := openStore(t.TempDir(), nativeDriver)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"a", "b"} {
		if _, err := s.create(key, "", KindActive, func(*record, string) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.commit("layer", "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.commit("layer", "b"); !errors.Is(err, ErrExists) {
		t.Fatalf("second commit as layer: %v; want ErrExists", err)
	}
	if s.recs == nil {
		t.Error("a refused commit dropped the records held")
	}
	if _, err := s.remove("gone"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("remove of a missing snapshot: %v; want ErrNotFound", err)
	}
	if s.recs == nil {
		t.Error("a refused removal dropped the records held")
	}
	if r, err := s.get("b"); err != nil || r.kind() != KindActive {
		t.Errorf("b after the refusals: %+v, %v; want it still active", r, err)
	}
	if r, err := s.get("layer"); err != nil || r.kind() != KindCommitted {
		t.Errorf("layer after the refusals: %+v, %v; want it committed", r, err)
	}
}

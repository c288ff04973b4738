package snapshot

import (
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

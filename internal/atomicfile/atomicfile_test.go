package atomicfile

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/bldbuild/bld/internal/testutil"
)

func TestCommitShowsContentOnlyAfterCommit(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Create(p, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Abort()
	if _, err := f.Write([]byte("new content")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "old" {
		t.Fatalf("before Commit the file has %q, want the old content", b)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil || string(b) != "new content" {
		t.Fatalf("after Commit: %q, %v", b, err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", fi.Mode().Perm())
	}
	if got := testutil.DirNames(t, dir); len(got) != 1 {
		t.Errorf("dir holds %v, want only f", got)
	}
	if err := f.Abort(); err != nil {
		t.Errorf("Abort after Commit: %v", err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Errorf("Abort after Commit removed the file: %v", err)
	}
}

func TestAbortLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	f, err := Create(p, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("half")); err != nil {
		t.Fatal(err)
	}
	if err := f.Abort(); err != nil {
		t.Fatal(err)
	}
	if got := testutil.DirNames(t, dir); len(got) != 0 {
		t.Errorf("after Abort the dir holds %v, want nothing", got)
	}
	if _, err := f.Write([]byte("more")); err == nil {
		t.Error("Write after Abort succeeded")
	}
	if err := f.Commit(); err == nil {
		t.Error("Commit after Abort succeeded")
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Errorf("Commit after Abort made the file: %v", err)
	}
}

func TestFailedCommitKeepsOldContent(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := CreateTemp(dir, ".x-*", 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("new")); err != nil {
		t.Fatal(err)
	}
	// A directory cannot be replaced by a file: the rename fails.
	target := filepath.Join(dir, "d")
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := f.CommitTo(target); err == nil {
		t.Fatal("CommitTo over a directory succeeded")
	}
	if got := testutil.DirNames(t, dir); len(got) != 2 {
		t.Errorf("after a failed commit the dir holds %v, want d and f", got)
	}
	if err := f.Commit(); err == nil {
		t.Error("Commit with no target succeeded")
	}
}

// WriteFile, WriteFileKeepable and WriteFileUnsynced (which differ only in
// their fsyncs, which no test here can observe) replace the file whole,
// with the mode asked, and leave no temporary file.
func TestWriteFile(t *testing.T) {
	for name, write := range map[string]func(string, []byte, os.FileMode) error{
		"WriteFile":         WriteFile,
		"WriteFileKeepable": WriteFileKeepable,
		"WriteFileUnsynced": WriteFileUnsynced,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "f")
			for _, s := range []string{"one", "two"} {
				if err := write(p, []byte(s), 0o640); err != nil {
					t.Fatal(err)
				}
				if b, _ := os.ReadFile(p); string(b) != s {
					t.Fatalf("got %q, want %q", b, s)
				}
			}
			if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o640 {
				t.Errorf("mode: %v, %v; want 0640", fi.Mode(), err)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 1 {
				t.Errorf("left in the directory: %v", ents)
			}
			if err := write(filepath.Join(t.TempDir(), "no", "such", "dir"), nil, 0o644); err == nil {
				t.Error("a write into a missing directory succeeded")
			}
		})
	}
}

// TestConcurrentWritersLeaveOneWholeFile races writers of large, distinct
// contents to one path while a reader watches: every read sees one
// writer's whole content, and no temporary file is left.
func TestConcurrentWritersLeaveOneWholeFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	const writers, size = 8, 1 << 20
	contents := make([][]byte, writers)
	for i := range contents {
		contents[i] = bytes.Repeat([]byte{byte('a' + i)}, size)
	}
	whole := func(b []byte) bool {
		return len(b) == size && bytes.Count(b, b[:1]) == size
	}
	stop := make(chan struct{})
	var reads sync.WaitGroup
	var bad []string
	reads.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			b, err := os.ReadFile(p)
			if err == nil && !whole(b) {
				bad = append(bad, fmt.Sprintf("%d bytes starting %q", len(b), b[:min(len(b), 8)]))
			}
		}
	})
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range writers {
		wg.Go(func() {
			<-start
			for range 5 {
				if err := WriteFile(p, contents[i], 0o644); err != nil {
					t.Error(err)
				}
			}
		})
	}
	close(start)
	wg.Wait()
	close(stop)
	reads.Wait()
	for _, b := range bad {
		t.Errorf("a reader saw a partial file: %s", b)
	}
	b, err := os.ReadFile(p)
	if err != nil || !whole(b) {
		t.Fatalf("final file is not one writer's whole content (%d bytes, %v)", len(b), err)
	}
	if got := testutil.DirNames(t, dir); len(got) != 1 {
		t.Errorf("dir holds %v, want only f", got)
	}
}

// An output file is written all or nothing like any other.
func TestCreateOutput(t *testing.T) {
	p := filepath.Join(t.TempDir(), "out.tar")
	f, err := CreateOutput(p, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("data")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("output visible before Commit: %v", err)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(p); err != nil || string(b) != "data" {
		t.Fatalf("after Commit: %q, %v", b, err)
	}
}

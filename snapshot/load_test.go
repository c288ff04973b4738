package snapshot

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// BenchmarkLoad is what each bld start pays to read a store of 500
// committed snapshots' records.
func BenchmarkLoad(b *testing.B) {
	ctx := context.Background()
	n, err := NewNative(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	for i := range 500 {
		key := fmt.Sprintf("active-%d", i)
		if _, err := n.Prepare(ctx, key, ""); err != nil {
			b.Fatal(err)
		}
		if err := n.Commit(ctx, fmt.Sprintf("step-%d", i), key); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		if err := n.s.load(); err != nil {
			b.Fatal(err)
		}
	}
	if len(n.s.recs) != 500 {
		b.Fatalf("loaded %d records, want 500", len(n.s.recs))
	}
}

// TestReadRecordGrows reads a record larger than the buffer load starts
// with, and a missing one.
func TestReadRecordGrows(t *testing.T) {
	ctx := context.Background()
	n, err := NewNative(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Prepare(ctx, "a", ""); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(n.s.root, "metadata")
	dirfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dirfd)
	buf := make([]byte, 1)
	r, err := readRecord(dirfd, dir, filepath.Base(n.s.recordPath("a")), &buf)
	if err != nil || r == nil || r.Name != "a" {
		t.Fatalf("readRecord = %+v, %v; want the record of a", r, err)
	}
	r, err = readRecord(dirfd, dir, "missing.json", &buf)
	if r != nil || err != nil {
		t.Fatalf("readRecord(missing) = %+v, %v; want nil, nil", r, err)
	}
}

// TestOpenReadsNoRecord: opening a store reads no snapshot record (a
// no-op build needs none); the first use reads them all. A record that
// cannot be read shows it: the open succeeds, the first use fails naming
// the file.
func TestOpenReadsNoRecord(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	n, err := NewNative(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Prepare(ctx, "a", ""); err != nil {
		t.Fatal(err)
	}
	if err := n.Commit(ctx, "a-c", "a"); err != nil {
		t.Fatal(err)
	}
	// A directory where a record file should be: reading it fails.
	bad := filepath.Join(root, "metadata", strings.Repeat("0", 64)+".json")
	if err := os.Mkdir(bad, 0o700); err != nil {
		t.Fatal(err)
	}
	again, err := NewNative(root)
	if err != nil {
		t.Fatalf("open read the records: %v", err)
	}
	if again.s.recs != nil {
		t.Errorf("open loaded %d records", len(again.s.recs))
	}
	if _, err := again.Stat(ctx, "a-c"); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("first use with an unreadable record: %v, want an error naming %s", err, bad)
	}
	if err := os.Remove(bad); err != nil {
		t.Fatal(err)
	}
	if info, err := again.Stat(ctx, "a-c"); err != nil || info.Name != "a-c" {
		t.Errorf("Stat(a-c) = %+v, %v", info, err)
	}
}

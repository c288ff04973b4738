package snapshot

import (
	"context"
	"fmt"
	"path/filepath"
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

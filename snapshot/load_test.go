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

// TestUsageSharedInode: a file linked into two snapshots (a COPY linking
// what it would have written from the previous run's snapshot) counts
// half in each, so their usages add up to the disk used; a hard link
// within one snapshot counts once there, as before.
func TestUsageSharedInode(t *testing.T) {
	ctx := context.Background()
	n, err := NewNative(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dirOf := func(key string) string {
		t.Helper()
		ms, err := n.Prepare(ctx, key, "")
		if err != nil {
			t.Fatal(err)
		}
		return ms[0].Source
	}
	usage := func(name string) int64 {
		t.Helper()
		u, err := n.Usage(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	dirOf("empty")
	if err := n.Commit(ctx, "empty-c", "empty"); err != nil {
		t.Fatal(err)
	}
	a := dirOf("a")
	big := filepath.Join(a, "big")
	if err := os.WriteFile(big, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(big, filepath.Join(a, "big2")); err != nil {
		t.Fatal(err)
	}
	if err := n.Commit(ctx, "a-c", "a"); err != nil {
		t.Fatal(err)
	}
	base := usage("empty-c")
	alone := usage("a-c")
	if alone < base+1<<20 || alone > base+(1<<20)+64<<10 {
		t.Errorf("a snapshot holding a 1 MiB file linked twice within it uses %d bytes, want the file once (%d + %d)", alone, base, 1<<20)
	}
	b := dirOf("b")
	if err := os.Link(filepath.Join(n.s.fsDir(mustID(t, n, "a-c")), "big"), filepath.Join(b, "big")); err != nil {
		t.Fatal(err)
	}
	if err := n.Commit(ctx, "b-c", "b"); err != nil {
		t.Fatal(err)
	}
	ua, ub := usage("a-c"), usage("b-c")
	file := alone - base
	if got, want := ua+ub, 2*base+file; got < want-4096 || got > want+4096 {
		t.Errorf("usages %d + %d = %d, want the file counted once: %d", ua, ub, got, want)
	}
	if ub >= alone {
		t.Errorf("the snapshot sharing the file uses %d, as much as the one that made it alone (%d)", ub, alone)
	}
}

func mustID(t *testing.T, n *Native, name string) string {
	t.Helper()
	r, err := n.s.get(name)
	if err != nil {
		t.Fatal(err)
	}
	return r.ID
}

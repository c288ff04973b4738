package snapshot

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestSortChanges(t *testing.T) {
	in := []change{
		{"a-b", changeAdd},
		{"a/z", changeAdd},
		{"a", changeAdd},
		{"a/-x", changeAdd},
		{"a", changeOpaque},
		{"a/b", changeWhiteout},
		{"a/z", changeAdd},
		{"b", changeAdd},
	}
	var got []string
	for _, c := range sortChanges(in) {
		got = append(got, c.tarName())
	}
	want := []string{"a", "a/.wh..wh..opq", "a/-x", "a/.wh.b", "a/z", "a-b", "b"}
	if !slices.Equal(got, want) {
		t.Errorf("sortChanges = %q, want %q", got, want)
	}
}

func TestCleanupDeadOwner(t *testing.T) {
	ctx := t.Context()
	root := t.TempDir()
	n, err := NewNative(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Prepare(ctx, "dead", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Prepare(ctx, "live", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Prepare(ctx, "half-committed", ""); err != nil {
		t.Fatal(err)
	}
	dead, _ := n.s.get("dead")
	half, _ := n.s.get("half-committed")
	// A process that is gone: this one's PID with another start time.
	if err := n.s.update("dead", func(r *record) { r.Owner = &owner{PID: os.Getpid(), Start: 1} }); err != nil {
		t.Fatal(err)
	}
	// A crash in Commit after the new record was written.
	committed := *half
	committed.Name, committed.Kind, committed.Owner = "committed", "committed", nil
	if err := n.s.writeRecord(&committed); err != nil {
		t.Fatal(err)
	}
	// And an orphan directory and a temporary record file.
	if err := os.Mkdir(n.s.snapshotDir("999"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "metadata", ".tmp-123"), nil, 0o600); err != nil {
		t.Fatal(err)
	}

	// Another process opening the root sees the commit done.
	other, err := NewNative(root)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := other.Stat(ctx, "committed"); err != nil || info.Kind != KindCommitted {
		t.Errorf("Stat(committed) = %+v, %v", info, err)
	}
	if _, err := other.Stat(ctx, "half-committed"); err == nil {
		t.Error("the key of a finished commit is still visible")
	}
	if err := other.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	var names []string
	_ = n.Walk(ctx, func(i Info) error { names = append(names, i.Name); return nil })
	if want := []string{"committed", "live"}; !slices.Equal(names, want) {
		t.Errorf("after Cleanup: %q, want %q", names, want)
	}
	for _, p := range []string{n.s.snapshotDir(dead.ID), n.s.snapshotDir("999"), filepath.Join(root, "metadata", ".tmp-123"), n.s.recordPath("half-committed")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s left after Cleanup", p)
		}
	}
	if _, err := os.Stat(n.s.fsDir(half.ID)); err != nil {
		t.Errorf("Cleanup removed the committed snapshot's dir: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "tmp")); len(ents) != 0 {
		t.Errorf("tmp holds %v", ents)
	}
}

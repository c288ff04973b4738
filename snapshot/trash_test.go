package snapshot

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// toTrash moves a snapshot's directory into tmp under a trash- name of its
// own, which Cleanup removes if the process dies before it does; a
// directory already gone is no error and leaves nothing to remove.
func TestToTrash(t *testing.T) {
	for _, tc := range []struct {
		name      string
		make      bool // the snapshot directory exists
		noTmp     bool // tmp/ is gone
		wantTrash bool
		wantErr   bool
	}{
		{name: "moved", make: true, wantTrash: true},
		{name: "gone already"},
		{name: "no tmp", make: true, noTmp: true, wantErr: true},
		{name: "no tmp, gone already", noTmp: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			n, err := NewNative(root)
			if err != nil {
				t.Fatal(err)
			}
			s := n.s
			if tc.make {
				if err := os.MkdirAll(filepath.Join(s.fsDir("7"), "a"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if tc.noTmp {
				if err := os.Remove(filepath.Join(root, "tmp")); err != nil {
					t.Fatal(err)
				}
			}
			trash, err := s.toTrash("7")
			if (err != nil) != tc.wantErr {
				t.Fatalf("toTrash: %v, want error %v", err, tc.wantErr)
			}
			if (trash != "") != tc.wantTrash {
				t.Fatalf("toTrash = %q, want a path %v", trash, tc.wantTrash)
			}
			_, serr := os.Stat(s.snapshotDir("7"))
			if tc.wantErr != (serr == nil) {
				t.Errorf("snapshot directory: %v after toTrash (error %v)", serr, err)
			}
			if trash == "" {
				return
			}
			if ok, _ := regexp.MatchString(`^trash-7-[0-9a-f]{8}$`, filepath.Base(trash)); !ok || filepath.Dir(trash) != filepath.Join(root, "tmp") {
				t.Errorf("trash %s, want tmp/trash-7-<hex>", trash)
			}
			if _, err := os.Stat(filepath.Join(trash, "fs", "a")); err != nil {
				t.Errorf("trash lacks the snapshot's tree: %v", err)
			}
			// Left there by a process killed before it removed it:
			// the next Cleanup does.
			if err := n.Cleanup(t.Context()); err != nil {
				t.Fatal(err)
			}
			if ents, _ := os.ReadDir(filepath.Join(root, "tmp")); len(ents) != 0 {
				t.Errorf("tmp holds %v after Cleanup", ents)
			}
		})
	}
}

// An active record is written in place, not renamed: one torn by a crash
// is ignored by the next process and removed, with its directory, by
// Cleanup.
func TestTornActiveRecord(t *testing.T) {
	ctx := t.Context()
	root := t.TempDir()
	n, err := NewNative(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Prepare(ctx, "torn", ""); err != nil {
		t.Fatal(err)
	}
	r, _ := n.s.get("torn")
	b, err := os.ReadFile(n.s.recordPath("torn"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(n.s.recordPath("torn"), b[:len(b)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	other, err := NewNative(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Stat(ctx, "torn"); err == nil {
		t.Error("a torn record is read")
	}
	if err := other.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{n.s.recordPath("torn"), n.s.snapshotDir(r.ID)} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s left after Cleanup", p)
		}
	}
}

package cache

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestNewKey(t *testing.T) {
	h := v1.Hash{Algorithm: "sha256", Hex: "aa"}
	k1, _ := NewKey([]byte("run a"), nil, v1.Hash{})
	tests := []struct {
		name   string
		def    string
		inputs []Key
		c      v1.Hash
		same   bool
	}{
		{"same definition", "run a", nil, v1.Hash{}, true},
		{"other definition", "run b", nil, v1.Hash{}, false},
		{"with an input", "run a", []Key{k1}, v1.Hash{}, false},
		{"with content", "run a", nil, h, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, pre := NewKey([]byte(tc.def), tc.inputs, tc.c)
			if (k == k1) != tc.same {
				t.Errorf("key equal = %v, want %v (preimage %q)", k == k1, tc.same, pre)
			}
		})
	}
	if _, err := ParseKey(k1.String()); err != nil {
		t.Errorf("ParseKey(String()) = %v", err)
	}
	if _, err := ParseKey("zz"); err == nil {
		t.Error("ParseKey(zz) succeeded")
	}
}

func TestRecords(t *testing.T) {
	c, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	k, _ := NewKey([]byte("copy"), nil, v1.Hash{})
	if _, err := c.Get(k); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get on empty cache = %v, want ErrNotFound", err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Put(Record{Key: k, Snapshot: "step-x", Scope: "df#0/1"}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	r, err := c.Get(k)
	if err != nil || r.Snapshot != "step-x" || r.Key != k {
		t.Fatalf("Get = %+v, %v", r, err)
	}
	last, err := c.Last("df#0/1")
	if err != nil || last.Key != k {
		t.Fatalf("Last = %+v, %v", last, err)
	}
	n := 0
	if err := c.Walk(func(Record) error { n++; return nil }, nil); err != nil || n != 1 {
		t.Fatalf("Walk saw %d records (err %v), want 1", n, err)
	}
	if err := c.Delete(k); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(k); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Delete = %v", err)
	}
}

func TestExplain(t *testing.T) {
	last := []Component{{"instruction", "a"}, {"build arg or env GIT_SHA", "1"}, {"parent step", "p"}}
	tests := []struct {
		now  []Component
		want string
	}{
		{[]Component{{"instruction", "a"}, {"build arg or env GIT_SHA", "2"}, {"parent step", "p"}}, "build arg or env GIT_SHA changed"},
		{[]Component{{"instruction", "b"}, {"build arg or env GIT_SHA", "1"}, {"parent step", "p"}}, "instruction changed"},
		{[]Component{{"instruction", "a"}, {"parent step", "p"}}, "build arg or env GIT_SHA removed"},
		{[]Component{{"instruction", "a"}, {"build arg or env GIT_SHA", "1"}, {"parent step", "p"}, {"context files", "x"}}, "context files added"},
		{last, ""},
	}
	for _, tc := range tests {
		if got := Explain(tc.now, last); got != tc.want {
			t.Errorf("Explain(%v) = %q, want %q", tc.now, got, tc.want)
		}
	}
	if got := Explain(last, nil); got != "" {
		t.Errorf("Explain with no history = %q", got)
	}
}

// TestLastErrors checks that only a missing scope or record is ErrNotFound:
// a scope file that cannot be read or parsed is an error saying so.
func TestLastErrors(t *testing.T) {
	dir := t.TempDir()
	c, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Last("never"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Last of an unknown scope = %v, want ErrNotFound", err)
	}
	k, _ := NewKey([]byte("run"), nil, v1.Hash{})
	if err := c.Put(Record{Key: k, Scope: "s"}); err != nil {
		t.Fatal(err)
	}
	// The record is pruned; the scope still names it: a miss.
	if err := c.Delete(k); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Last("s"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Last of a scope whose record is gone = %v, want ErrNotFound", err)
	}
	// A scope file that is not a key: corrupt, not missing.
	if err := os.WriteFile(c.scopePath("s"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Last("s"); err == nil || errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `cache scope "s"`) {
		t.Errorf("Last of a corrupt scope = %v, want an error naming it, not ErrNotFound", err)
	}
	// A scope file that cannot be read (a directory in its place).
	if err := os.Remove(c.scopePath("s")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(c.scopePath("s"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Last("s"); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("Last of an unreadable scope = %v, want an error, not ErrNotFound", err)
	}
}

// TestWalkUnreadable checks that Walk reports the record files it cannot
// read, which it used to skip silently, so du and prune can count them.
func TestWalkUnreadable(t *testing.T) {
	dir := t.TempDir()
	c, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	good, _ := NewKey([]byte("good"), nil, v1.Hash{})
	torn, _ := NewKey([]byte("torn"), nil, v1.Hash{})
	for _, k := range []Key{good, torn} {
		if err := c.Put(Record{Key: k, Snapshot: "s"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(c.path(torn), []byte(`{"snapsh`), 0o600); err != nil {
		t.Fatal(err)
	}
	foreign := filepath.Join(dir, "records", "zz", "not-a-key.json")
	if err := os.MkdirAll(filepath.Dir(foreign), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(foreign, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A torn record is a miss for the builder, and says why.
	if _, err := c.Get(torn); !errors.Is(err, ErrNotFound) || !errors.Is(err, ErrCorrupt) {
		t.Errorf("Get of a torn record = %v, want ErrNotFound and ErrCorrupt", err)
	}
	var recs []Key
	bad := map[string]int64{}
	err = c.Walk(func(r Record) error { recs = append(recs, r.Key); return nil },
		func(u Unreadable) error { bad[u.Path] = u.Size; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0] != good {
		t.Errorf("Walk records = %v, want only %s", recs, good)
	}
	if len(bad) != 2 || bad[c.path(torn)] != 8 || bad[foreign] != 2 {
		t.Errorf("Walk unreadable = %v, want the torn record (8 bytes) and the foreign file (2 bytes)", bad)
	}
	// nil bad: skipped, as before.
	n := 0
	if err := c.Walk(func(Record) error { n++; return nil }, nil); err != nil || n != 1 {
		t.Errorf("Walk with nil bad = %d records, %v; want 1, nil", n, err)
	}
	// An error from bad stops the walk.
	stop := errors.New("stop")
	if err := c.Walk(func(Record) error { return nil }, func(Unreadable) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("Walk with a failing bad = %v, want stop", err)
	}
}

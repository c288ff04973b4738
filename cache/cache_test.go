package cache

import (
	"errors"
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
	if err := c.Walk(func(Record) error { n++; return nil }); err != nil || n != 1 {
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

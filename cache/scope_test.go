package cache

import (
	"os"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Last names the record last put for a scope, whether Put rewrote the
// scope file or found it naming that record already; a scope file torn or
// replaced meanwhile is rewritten.
func TestPutScope(t *testing.T) {
	k1, _ := NewKey([]byte("run 1"), nil, v1.Hash{})
	k2, _ := NewKey([]byte("run 2"), nil, v1.Hash{})
	for _, tc := range []struct {
		name   string
		puts   []Key
		before string // the scope file's content before the last Put, if not ""
	}{
		{name: "first", puts: []Key{k1}},
		{name: "same again", puts: []Key{k1, k1}},
		{name: "changed", puts: []Key{k1, k2}},
		{name: "changed back", puts: []Key{k1, k2, k1}},
		{name: "torn", puts: []Key{k1, k1}, before: k1.String()[:20]},
		{name: "longer", puts: []Key{k1, k1}, before: k1.String() + "\n"},
		{name: "empty", puts: []Key{k1, k1}, before: "-"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			for i, k := range tc.puts {
				if i == len(tc.puts)-1 && tc.before != "" {
					b := tc.before
					if b == "-" {
						b = ""
					}
					if err := os.WriteFile(c.scopePath("df#0/1"), []byte(b), 0o600); err != nil {
						t.Fatal(err)
					}
				}
				if err := c.Put(Record{Key: k, Snapshot: "snap-" + k.String()[:8], Scope: "df#0/1"}); err != nil {
					t.Fatal(err)
				}
			}
			want := tc.puts[len(tc.puts)-1]
			last, err := c.Last("df#0/1")
			if err != nil || last.Key != want || last.Snapshot != "snap-"+want.String()[:8] {
				t.Fatalf("Last = %+v, %v; want the record of %s", last, err, want)
			}
		})
	}
}

package sandbox

import (
	"reflect"
	"testing"

	"github.com/bldbuild/bld/internal/testutil"
)

// BenchmarkCgroup is a step's cgroup as Run makes and removes it: the
// directories, Docker's device rules and the device program, no limits.
func BenchmarkCgroup(b *testing.B) {
	testutil.RequireRoot(b)
	for b.Loop() {
		cg, err := newCgroup(Limits{}, true)
		if err != nil {
			b.Fatal(err)
		}
		if err := cg.remove(); err != nil {
			b.Fatal(err)
		}
	}
}

// hostCgroups reads what hierarchies and ownCgroups read, once.
func TestHostCgroups(t *testing.T) {
	hs, own, err := hostCgroups()
	if err != nil {
		t.Fatal(err)
	}
	wantHs, err := hierarchies()
	if err != nil {
		t.Fatal(err)
	}
	wantOwn, err := ownCgroups()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(hs, wantHs) && !(len(hs) == 0 && len(wantHs) == 0) {
		t.Errorf("hierarchies %+v, want %+v", hs, wantHs)
	}
	if !reflect.DeepEqual(own, wantOwn) {
		t.Errorf("own cgroups %v, want %v", own, wantOwn)
	}
	hs2, _, _ := hostCgroups()
	if len(hs) > 0 && &hs2[0] != &hs[0] {
		t.Error("hierarchies read again")
	}
}

package dag

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func src(ref string) *Vertex { return &Vertex{Op: &Source{Ref: ref}} }

func TestEncodeCanonical(t *testing.T) {
	a := Encode(&Run{Args: []string{"sh", "-c", "make"}, Env: []string{"A=1"}})
	b := Encode(&Run{Args: []string{"sh", "-c", "make"}, Env: []string{"A=1"}})
	c := Encode(&Run{Args: []string{"sh", "-c", "make"}, Env: []string{"A=2"}})
	if string(a) != string(b) {
		t.Errorf("equal ops encode differently:\n%s\n%s", a, b)
	}
	if string(a) == string(c) {
		t.Errorf("different env encodes equally: %s", a)
	}
	if !strings.HasPrefix(string(a), encodingVersion+"run\n") {
		t.Errorf("Encode = %q, want version and kind prefix", a)
	}
	// The progress name is not part of a vertex's identity.
	v1 := &Vertex{Op: &Mkdir{Path: "/app"}, Inputs: []*Vertex{src("x")}, Name: "[1/2] WORKDIR /app"}
	v2 := &Vertex{Op: &Mkdir{Path: "/app"}, Inputs: []*Vertex{src("x")}, Name: "[stage 3/4] WORKDIR /app"}
	if v1.Digest() != v2.Digest() {
		t.Error("Digest depends on Name")
	}
	v3 := &Vertex{Op: &Mkdir{Path: "/app"}, Inputs: []*Vertex{src("y")}}
	if v1.Digest() == v3.Digest() {
		t.Error("Digest ignores inputs")
	}
}

func TestChain(t *testing.T) {
	s := src("base")
	a := &Vertex{Op: &Mkdir{Path: "/a"}, Inputs: []*Vertex{s}}
	b := &Vertex{Op: &Mkdir{Path: "/b"}, Inputs: []*Vertex{a, src("other")}}
	got := b.Chain()
	if len(got) != 3 || got[0] != s || got[1] != a || got[2] != b {
		t.Fatalf("Chain = %v, want [base a b]", got)
	}
}

// A diamond: two stages share one vertex, which must run once, and the
// two independent branches run at the same time.
func TestWalkMemoisedAndParallel(t *testing.T) {
	shared := src("shared")
	left := &Vertex{Op: &Mkdir{Path: "/l"}, Inputs: []*Vertex{shared}}
	right := &Vertex{Op: &Mkdir{Path: "/r"}, Inputs: []*Vertex{shared}}
	top := &Vertex{Op: &Copy{Dest: "/"}, Inputs: []*Vertex{left, right}}
	// left and right each wait at a barrier until both have started: if
	// Walk ran them one after the other, the first would wait for ever
	// (here: until the guard's timeout fails the test).
	var started sync.WaitGroup
	started.Add(2)
	both := make(chan struct{})
	go func() { started.Wait(); close(both) }()
	var runs atomic.Int32
	res, err := Walk(t.Context(), []*Vertex{top}, func(ctx context.Context, v *Vertex, in []int) (int, error) {
		runs.Add(1)
		if v == left || v == right {
			started.Done()
			select {
			case <-both:
			case <-time.After(10 * time.Second):
				return 0, fmt.Errorf("%s waited 10s for its sibling: independent vertices do not run concurrently", v.Op.(*Mkdir).Path)
			}
		}
		sum := 1
		for _, x := range in {
			sum += x
		}
		return sum, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if runs.Load() != 4 {
		t.Errorf("ran %d vertices, want 4 (shared once)", runs.Load())
	}
	if res[top] != 5 {
		t.Errorf("result = %d, want 5", res[top])
	}
}

// The first failure cancels the siblings, and Walk returns it rather
// than a sibling's context error.
func TestWalkFirstErrorWins(t *testing.T) {
	boom := errors.New("boom")
	slow := &Vertex{Op: &Mkdir{Path: "/slow"}, Inputs: []*Vertex{src("a")}}
	bad := &Vertex{Op: &Mkdir{Path: "/bad"}, Inputs: []*Vertex{src("b")}}
	top := &Vertex{Op: &Copy{}, Inputs: []*Vertex{slow, bad}}
	start := time.Now()
	_, err := Walk(t.Context(), []*Vertex{top}, func(ctx context.Context, v *Vertex, _ []int) (int, error) {
		switch v {
		case bad:
			return 0, boom
		case slow:
			select {
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-time.After(10 * time.Second):
			}
		}
		return 0, nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Walk error = %v, want boom", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Error("a failure did not cancel the running sibling")
	}
}

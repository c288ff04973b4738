package dag

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Pos is where a vertex came from in the Dockerfile.
type Pos struct {
	File string
	Line int
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d", p.File, p.Line) }

// Vertex is one step of a build. Vertices are immutable once the frontend
// returns them; the builder identifies them by pointer.
type Vertex struct {
	Op     Op
	Inputs []*Vertex
	Name   string // progress label, e.g. "[build 2/4] RUN make"; not part of any key
	Stage  string // stage name or index
	Pos    Pos
}

// encodingVersion prefixes every encoding; bump it when an Op's fields
// change meaning so old cache keys stop matching.
const encodingVersion = "bld dag v1\n"

// Encode returns the canonical bytes of op: a version line, the kind, and
// the op's fields as JSON (fields in declaration order, maps sorted). Two
// ops encode equally exactly when they describe the same step.
func Encode(op Op) []byte {
	b, err := json.Marshal(op)
	if err != nil {
		// Ops hold only strings, ints, bools and slices of them.
		panic(fmt.Sprintf("dag: encode %s: %v", op.Kind(), err))
	}
	out := make([]byte, 0, len(encodingVersion)+len(op.Kind())+1+len(b))
	out = append(out, encodingVersion...)
	out = append(out, op.Kind()...)
	out = append(out, '\n')
	return append(out, b...)
}

// Digest identifies the vertex and everything it depends on by definition
// (not by content read from outside the graph, which the builder adds to
// its cache keys).
func (v *Vertex) Digest() v1.Hash {
	h := sha256.New()
	h.Write(Encode(v.Op))
	for _, in := range v.Inputs {
		d := in.Digest()
		fmt.Fprintf(h, "\ninput %s", d)
	}
	return v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", h.Sum(nil))}
}

// Parent returns Inputs[0], or nil for a Source.
func (v *Vertex) Parent() *Vertex {
	if len(v.Inputs) == 0 {
		return nil
	}
	return v.Inputs[0]
}

// Chain returns the vertices from the root Source up to v along parents,
// oldest first.
func (v *Vertex) Chain() []*Vertex {
	var out []*Vertex
	for c := v; c != nil; c = c.Parent() {
		out = append(out, c)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

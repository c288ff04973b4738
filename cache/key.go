package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// preimageVersion starts every key's preimage; bump it when the preimage
// layout or what goes into a step's definition changes so that old
// records stop matching. v2: RUN network mode, FROM by digest only, COPY
// --link without its parent.
const preimageVersion = "bld cache v2\n"

// Key identifies a build step: the hash of a complete description of it.
// It is not a content digest (compare cmd/go's ActionID and OutputID).
type Key [32]byte

// String returns the key as 64 hex digits.
func (k Key) String() string { return hex.EncodeToString(k[:]) }

// IsZero reports whether k is the zero key.
func (k Key) IsZero() bool { return k == Key{} }

// ParseKey parses the output of Key.String.
func ParseKey(s string) (Key, error) {
	var k Key
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(k) {
		return k, fmt.Errorf("parse cache key %q: not 64 hex digits", s)
	}
	copy(k[:], b)
	return k, nil
}

// Component is one named part of a key's preimage, kept in a record so a
// later miss can say which part changed.
type Component struct {
	Name  string `json:"name"`  // "instruction", "input 0", "content", "arg GIT_SHA", ...
	Value string `json:"value"` // a digest or the short text itself
}

// NewKey returns the key of a step whose definition is def (dag.Encode),
// whose inputs have the given keys in order, and which read content with
// the given digest from outside the graph (zero Hash if none). It also
// returns the preimage, the bytes hashed, for tests and for debugging a key
// by hand; bld keeps none (a miss is explained with a record's Components).
func NewKey(def []byte, inputs []Key, content v1.Hash) (Key, []byte) {
	pre := make([]byte, 0, len(preimageVersion)+len(def)+len(inputs)*72+80)
	pre = append(pre, preimageVersion...)
	pre = fmt.Appendf(pre, "def %d\n", len(def))
	pre = append(pre, def...)
	for i, in := range inputs {
		pre = fmt.Appendf(pre, "\ninput %d %s", i, in)
	}
	if content != (v1.Hash{}) {
		pre = fmt.Appendf(pre, "\ncontent %s", content)
	}
	return sha256.Sum256(pre), pre
}

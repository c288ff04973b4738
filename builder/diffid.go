package builder

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bldbuild/bld/store"
)

// diffIDReader hashes the uncompressed stream of a layer as it is applied
// (the bytes pass through the decompressor anyway, so this costs one
// sha256 pass and no extra read).
type diffIDReader struct {
	r io.Reader
	h hash.Hash
}

func newDiffIDReader(r io.Reader) *diffIDReader {
	return &diffIDReader{r: r, h: sha256.New()}
}

func (d *diffIDReader) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	d.h.Write(p[:n])
	return n, err
}

// check reads what the applier left unread (a tar's trailing padding
// after its end marker) and compares the digest of the whole stream with
// want: a *store.DiffIDError when they differ. A diff_id in an algorithm
// other than sha256 cannot be checked here and is refused.
func (d *diffIDReader) check(layer, want v1.Hash) error {
	if want.Algorithm != "sha256" {
		return fmt.Errorf("layer %s: diff_id %s: only sha256 is supported", layer, want)
	}
	if _, err := io.Copy(io.Discard, d); err != nil {
		return fmt.Errorf("layer %s: %w", layer, err)
	}
	got := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(d.h.Sum(nil))}
	if want != got {
		return &store.DiffIDError{Layer: layer, Want: want, Actual: got}
	}
	return nil
}

package builder

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// DiffIDError is a layer whose uncompressed content does not hash to the
// diff_id its image's config promises for it: the layer is not applied as
// a committed snapshot and nothing is recorded for it.
type DiffIDError struct {
	Image  string  // the image reference, or "cached step KEY"
	Layer  v1.Hash // the layer's (compressed) digest
	Want   v1.Hash // the config's rootfs.diff_ids entry
	Actual v1.Hash // what the uncompressed content hashes to
}

func (e *DiffIDError) Error() string {
	// Callers wrap it naming the image; Image is for programs.
	return fmt.Sprintf("layer %s: uncompressed content has diff_id %s, but the image config says %s",
		e.Layer, e.Actual, e.Want)
}

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
// want. A diff_id in an algorithm other than sha256 cannot be checked
// here and is refused.
func (d *diffIDReader) check(image string, layer, want v1.Hash) error {
	if _, err := io.Copy(io.Discard, d); err != nil {
		return fmt.Errorf("%s: layer %s: %w", image, layer, err)
	}
	got := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(d.h.Sum(nil))}
	if want != got {
		return &DiffIDError{Image: image, Layer: layer, Want: want, Actual: got}
	}
	return nil
}

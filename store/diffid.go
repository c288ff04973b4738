package store

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bldbuild/bld/internal/compress"
)

// DiffIDError is a layer whose uncompressed content does not hash to the
// diff_id its image's config gives it. Neither the store (WriteImage) nor
// the builder (unpacking a base layer) keeps such a layer.
type DiffIDError struct {
	Layer  v1.Hash // the layer's (compressed) digest
	Want   v1.Hash // the config's rootfs.diff_ids entry
	Actual v1.Hash // what the uncompressed content hashes to
}

func (e *DiffIDError) Error() string {
	return fmt.Sprintf("layer %s: uncompressed content has diff_id %s, but the image config says %s",
		e.Layer, e.Actual, e.Want)
}

// CheckDiffID reads r, a layer's compressed (or plain) stream whose blob
// is layer, to its end and fails with a *DiffIDError unless its
// uncompressed content hashes to want (sha256; another algorithm is an
// error). A read error ends it with that error.
func CheckDiffID(r io.Reader, layer, want v1.Hash) error {
	if want.Algorithm != "sha256" {
		return fmt.Errorf("layer %s: diff_id %s: only sha256 is supported", layer, want)
	}
	ur, err := compress.Decompress(r)
	if err != nil {
		return fmt.Errorf("layer %s: %w", layer, err)
	}
	defer ur.Close()
	h := sha256.New()
	if _, err := io.Copy(h, ur); err != nil {
		return fmt.Errorf("layer %s: %w", layer, err)
	}
	// A compressed stream may be followed by padding its decoder leaves.
	if _, err := io.Copy(io.Discard, r); err != nil {
		return fmt.Errorf("layer %s: %w", layer, err)
	}
	got := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}
	if got != want {
		return &DiffIDError{Layer: layer, Want: want, Actual: got}
	}
	return nil
}

// copyCheckingDiffID copies r into w while CheckDiffID reads the same
// bytes through a pipe, so a layer is decompressed and hashed as it is
// written, in one pass over its blob.
func copyCheckingDiffID(w io.Writer, r io.Reader, layer, want v1.Hash) error {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := CheckDiffID(pr, layer, want)
		pr.CloseWithError(err) // a failed check stops the copy at once
		done <- err
	}()
	_, err := io.Copy(w, io.TeeReader(r, pw))
	pw.CloseWithError(err) // nil: EOF for CheckDiffID
	cerr := <-done
	if err != nil {
		return err // a failed check's error too, through the pipe
	}
	return cerr
}

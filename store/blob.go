package store

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"sort"

	"github.com/bldbuild/bld/internal/atomicfile"
	"github.com/bldbuild/bld/internal/readers"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Writer writes one blob into the store. It hashes what it is given and
// makes it visible under its digest only on Commit. A Writer is not safe for
// concurrent use.
type Writer struct {
	s    *Store
	f    *atomicfile.File
	h    hash.Hash
	n    int64
	done bool
}

// Writer returns a Writer for a new blob, backed by a temporary file in
// <root>/tmp. The caller must Commit or Close it.
func (s *Store) Writer() (*Writer, error) {
	f, err := s.createTemp()
	if err != nil {
		return nil, fmt.Errorf("new blob writer: %w", err)
	}
	return &Writer{s: s, f: f, h: sha256.New()}, nil
}

// Write implements io.Writer.
func (w *Writer) Write(p []byte) (int, error) {
	if w.done {
		return 0, errors.New("write blob: writer is closed")
	}
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.n += int64(n)
	return n, err
}

// Digest returns the digest of what was written so far (compress.Digester:
// Compress takes a layer's digest from it instead of hashing the
// compressed bytes again).
func (w *Writer) Digest() v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(w.h.Sum(nil))}
}

// Commit checks what was written against expected (the zero Hash accepts
// any content) and moves it into blobs/ under its digest. If the blob is
// already there, the new copy is dropped. It returns the digest and the
// size. Commit always closes the writer, also on error.
func (w *Writer) Commit(expected v1.Hash) (v1.Hash, int64, error) {
	if w.done {
		return v1.Hash{}, 0, errors.New("commit blob: writer is closed")
	}
	w.done = true
	got := w.Digest()
	if expected != (v1.Hash{}) && expected != got {
		w.f.Abort()
		return v1.Hash{}, 0, fmt.Errorf("commit blob %s: content has digest %s (%d bytes)", expected, got, w.n)
	}
	p, err := w.s.blobPath(got)
	if err != nil {
		w.f.Abort()
		return v1.Hash{}, 0, err
	}
	if _, err := os.Stat(p); err == nil {
		// Already there (blobs are immutable): drop this copy. Should the
		// temporary file stay, the next Open's cleanTemp removes it.
		_ = w.f.Abort()
		return got, w.n, nil
	}
	if err := w.f.CommitTo(p); err != nil {
		return v1.Hash{}, 0, fmt.Errorf("commit blob %s: %w", got, err)
	}
	return got, w.n, nil
}

// Close aborts the writer, removing what was written, unless it was
// committed. It may be called after Commit.
func (w *Writer) Close() error {
	if w.done {
		return nil
	}
	w.done = true
	return w.f.Abort()
}

// Open returns the content of the blob h. It returns an error wrapping
// ErrNotFound if the store does not have it. The content is not verified;
// Layer's is.
func (s *Store) Open(h v1.Hash) (io.ReadCloser, error) {
	p, err := s.blobPath(h)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("blob %s: %w", h, ErrNotFound)
	}
	return f, err
}

// Stat returns the size of the blob h, or an error wrapping ErrNotFound.
func (s *Store) Stat(h v1.Hash) (int64, error) {
	p, err := s.blobPath(h)
	if err != nil {
		return 0, err
	}
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("blob %s: %w", h, ErrNotFound)
	}
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// Delete removes the blob h, or returns an error wrapping ErrNotFound. It
// does not check whether an image still uses it.
func (s *Store) Delete(h v1.Hash) error {
	p, err := s.blobPath(h)
	if err != nil {
		return err
	}
	err = os.Remove(p)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob %s: %w", h, ErrNotFound)
	}
	return err
}

// Blobs calls fn for every blob with its digest and size, in digest order.
// It stops at, and returns, the first error fn returns.
func (s *Store) Blobs(fn func(v1.Hash, int64) error) error {
	ents, err := os.ReadDir(s.blobs)
	if err != nil {
		return err
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
	for _, e := range ents {
		if !e.Type().IsRegular() || len(e.Name()) != 64 || !isHex(e.Name()) {
			continue
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted meanwhile
		}
		if err != nil {
			return err
		}
		if err := fn(v1.Hash{Algorithm: "sha256", Hex: e.Name()}, fi.Size()); err != nil {
			return err
		}
	}
	return nil
}

// Layer returns a v1.Layer whose compressed content is the blob
// desc.Digest, read lazily. A reader of Compressed that reaches the end gets
// an error instead of io.EOF if the content does not match the digest and
// size. diffID may be zero: DiffID then decompresses the blob to compute it.
// It returns an error wrapping ErrNotFound if the blob is missing.
func (s *Store) Layer(desc v1.Descriptor, diffID v1.Hash) (v1.Layer, error) {
	size, err := s.Stat(desc.Digest)
	if err != nil {
		return nil, err
	}
	if desc.Size != 0 && desc.Size != size {
		return nil, fmt.Errorf("blob %s: size %d, want %d: store is corrupt", desc.Digest, size, desc.Size)
	}
	mt := desc.MediaType
	if mt == "" {
		mt = types.OCILayer
	}
	bl := &blobLayer{s: s, digest: desc.Digest, size: size, mediaType: mt}
	if diffID == (v1.Hash{}) {
		return partial.CompressedToLayer(bl)
	}
	return partial.CompressedToLayer(&blobLayerDiffID{blobLayer: bl, diffID: diffID})
}

type blobLayer struct {
	s         *Store
	digest    v1.Hash
	size      int64
	mediaType types.MediaType
}

func (l *blobLayer) Digest() (v1.Hash, error)            { return l.digest, nil }
func (l *blobLayer) Size() (int64, error)                { return l.size, nil }
func (l *blobLayer) MediaType() (types.MediaType, error) { return l.mediaType, nil }

func (l *blobLayer) Compressed() (io.ReadCloser, error) {
	rc, err := l.s.Open(l.digest)
	if err != nil {
		return nil, err
	}
	return readers.Verify(rc, l.digest, l.size), nil
}

var _ partial.CompressedLayer = (*blobLayer)(nil)

type blobLayerDiffID struct {
	*blobLayer
	diffID v1.Hash
}

func (l *blobLayerDiffID) DiffID() (v1.Hash, error) { return l.diffID, nil }

var _ partial.WithDiffID = (*blobLayerDiffID)(nil)

package store

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/bldbuild/bld/internal/atomicfile"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// ErrNotFound is returned (wrapped) for a blob or an image name the store
// does not have. Check it with errors.Is.
var ErrNotFound = errors.New("not found")

// tempPrefix starts the name of every temporary file the store makes in
// <root>/tmp; Open removes the ones no live process holds.
const tempPrefix = "content-"

// Store is a content store rooted at a directory:
//
//	<root>/content/oci-layout
//	<root>/content/index.json        named images (org.opencontainers.image.ref.name)
//	<root>/content/index.json.lock   flock held while index.json is rewritten
//	<root>/content/blobs/sha256/...  blobs, named by digest
//	<root>/tmp/content-*             blobs and index files being written
//
// A Store is safe for concurrent use by several goroutines and by several
// processes sharing the root: blobs appear by atomic rename, and index.json
// is rewritten whole, under a file lock, by rename. Readers never see a
// half-written file.
type Store struct {
	content string // <root>/content
	blobs   string // <root>/content/blobs/sha256
	tmp     string // <root>/tmp
}

// Open opens the store at root, creating the layout if it is missing, and
// removes temporary files left in <root>/tmp by crashed writers (files of
// live writers are locked and kept).
func Open(root string) (*Store, error) {
	s := &Store{
		content: filepath.Join(root, "content"),
		blobs:   filepath.Join(root, "content", "blobs", "sha256"),
		tmp:     filepath.Join(root, "tmp"),
	}
	for _, d := range []string{s.blobs, s.tmp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
	}
	if err := s.cleanTemp(); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	if err := s.initFile("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	// Made only when index.json is missing: a JSON encoding's first use
	// of a type is the larger part of a store's open.
	empty := func() []byte {
		b, _ := json.Marshal(v1.IndexManifest{ // plain data: cannot fail
			SchemaVersion: 2,
			MediaType:     types.OCIImageIndex,
			Manifests:     []v1.Descriptor{},
		})
		return b
	}
	if err := s.initFileWith("index.json", empty); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	return s, nil
}

// Dir returns the OCI image layout directory, <root>/content.
func (s *Store) Dir() string { return s.content }

// initFile writes content/name with b unless it exists, under the index lock
// so that two processes opening a new store do not both write it.
func (s *Store) initFile(name string, b []byte) error {
	return s.initFileWith(name, func() []byte { return b })
}

// initFileWith is initFile with the content made by b, only when written.
func (s *Store) initFileWith(name string, b func() []byte) error {
	p := filepath.Join(s.content, name)
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	return s.writeFile(p, b())
}

// writeFile atomically replaces path with b (see internal/atomicfile),
// through a temporary file in <root>/tmp that cleanTemp knows.
func (s *Store) writeFile(path string, b []byte) error {
	f, err := s.createTemp()
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := f.Write(b); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.CommitTo(path)
}

// createTemp creates a temporary file in <root>/tmp and holds an exclusive
// flock on it until it is committed or aborted, which tells cleanTemp in
// another process that the file is live.
func (s *Store) createTemp() (*atomicfile.File, error) {
	for {
		f, err := atomicfile.CreateTemp(s.tmp, tempPrefix+"*", 0o644)
		if err != nil {
			return nil, err
		}
		if err := flock(f.Fd(), syscall.LOCK_EX); err != nil {
			f.Abort()
			return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
		}
		// Between create and flock another process's cleanTemp may have
		// taken the lock and removed the file: then start again. (Abort
		// removes the name too, which a new random name is all but certain
		// not to be yet.)
		fi, err1 := f.Stat()
		pi, err2 := os.Stat(f.Name())
		if err1 == nil && err2 == nil && os.SameFile(fi, pi) {
			return f, nil
		}
		f.Abort()
	}
}

// cleanTemp removes the store's temporary files that no process holds.
func (s *Store) cleanTemp() error {
	ents, err := os.ReadDir(s.tmp)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), tempPrefix) || !e.Type().IsRegular() {
			continue
		}
		p := filepath.Join(s.tmp, e.Name())
		f, err := os.Open(p)
		if err != nil {
			continue // gone already
		}
		if flock(f.Fd(), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
				f.Close()
				return err
			}
		}
		f.Close()
	}
	return nil
}

// lock takes the exclusive lock on index.json.lock. It is a fresh open file
// description each time, so it excludes other goroutines as well as other
// processes.
func (s *Store) lock() (unlock func(), err error) {
	p := filepath.Join(s.content, "index.json.lock")
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := flock(f.Fd(), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	return func() { f.Close() }, nil
}

func flock(fd uintptr, how int) error {
	for {
		err := syscall.Flock(int(fd), how)
		if err != syscall.EINTR {
			return err
		}
	}
}

// blobPath returns the path of a blob, refusing anything but a well-formed
// sha256 digest so that a crafted hash cannot name a path outside blobs/.
func (s *Store) blobPath(h v1.Hash) (string, error) {
	if h.Algorithm != "sha256" || !isHex(h.Hex) || len(h.Hex) != 64 {
		return "", fmt.Errorf("invalid digest %q", h.String())
	}
	return filepath.Join(s.blobs, h.Hex), nil
}

func isHex(s string) bool {
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return s != ""
}

// readBlob returns the whole content of a small blob (a manifest, a
// config) after checking it against its digest.
func (s *Store) readBlob(h v1.Hash) ([]byte, error) {
	rc, err := s.Open(h)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", h, err)
	}
	sum := sha256.Sum256(b)
	if got := (v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}); got != h {
		return nil, fmt.Errorf("blob %s: content has digest %s: store is corrupt", h, got)
	}
	return b, nil
}

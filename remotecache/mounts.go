package remotecache

import (
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/zstd"

	"github.com/bldbuild/bld/internal/archive"
)

// MountDir is a RUN cache mount to export: its id and the directory holding
// its content.
type MountDir struct {
	ID  string
	Dir string
}

// PackMount returns the content of dir as a layer: a deterministic tar
// (entries in path order, PAX, numeric owners, mtimes in whole seconds,
// hardlinks kept; sockets, pipes and devices left out) compressed with
// zstd. It reads dir when the layer is read or hashed, so dir must not
// change until the layer has been written. DiffID reads dir without
// compressing; Digest and Size compress it once, Compressed again.
func PackMount(dir string) (v1.Layer, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("pack %s: not a directory", dir)
	}
	return &mountLayer{dir: dir}, nil
}

// mountLayer is PackMount's layer.
type mountLayer struct {
	dir string

	diffOnce sync.Once
	diffID   v1.Hash
	diffErr  error

	digestOnce sync.Once
	digest     v1.Hash
	size       int64
	digestErr  error
}

var _ v1.Layer = (*mountLayer)(nil)

func (m *mountLayer) MediaType() (types.MediaType, error) { return types.OCILayerZStd, nil }

// DiffID hashes the tar of the directory.
func (m *mountLayer) DiffID() (v1.Hash, error) {
	m.diffOnce.Do(func() {
		h := sha256.New()
		if m.diffErr = writeTar(m.dir, h); m.diffErr == nil {
			m.diffID = sum(h)
		}
	})
	return m.diffID, m.diffErr
}

// Digest compresses the tar of the directory to hash it.
func (m *mountLayer) Digest() (v1.Hash, error) {
	m.compute()
	return m.digest, m.digestErr
}

// Size compresses the tar of the directory to count it.
func (m *mountLayer) Size() (int64, error) {
	m.compute()
	return m.size, m.digestErr
}

func (m *mountLayer) compute() {
	m.digestOnce.Do(func() {
		zh, th := sha256.New(), sha256.New()
		cw := &countWriter{w: zh}
		zw, err := newZstdWriter(cw)
		if err != nil {
			m.digestErr = err
			return
		}
		if err := writeTar(m.dir, io.MultiWriter(zw, th)); err != nil {
			zw.Close()
			m.digestErr = err
			return
		}
		if err := zw.Close(); err != nil {
			m.digestErr = err
			return
		}
		m.digest, m.size = sum(zh), cw.n
		m.diffOnce.Do(func() { m.diffID = sum(th) })
	})
}

// Compressed streams the tar of the directory through zstd.
func (m *mountLayer) Compressed() (io.ReadCloser, error) {
	pr, pw := io.Pipe()
	go func() {
		zw, err := newZstdWriter(pw)
		if err != nil {
			pw.CloseWithError(err)
			return
		}
		err = writeTar(m.dir, zw)
		if cerr := zw.Close(); err == nil {
			err = cerr
		}
		pw.CloseWithError(err)
	}()
	return pr, nil
}

// Uncompressed streams the tar of the directory.
func (m *mountLayer) Uncompressed() (io.ReadCloser, error) {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeTar(m.dir, pw)) }()
	return pr, nil
}

func newZstdWriter(w io.Writer) (*zstd.Encoder, error) {
	// The output is the same for any concurrency (checked with
	// klauspost/compress v1.20.4), so the digest is stable across machines.
	return zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(2))
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func sum(h hash.Hash) v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", h.Sum(nil))}
}

// writeTar writes the deterministic tar of dir's content to w, with
// internal/archive's writer (sockets, pipes and devices left out: not
// cache content).
func writeTar(dir string, w io.Writer) error {
	// No ctx: the layer's readers (DiffID, Compressed) take none.
	return archive.WriteDir(context.Background(), w, dir, archive.WriteOptions{SkipDevices: true})
}

// dirSize returns the total size of the regular files under dir.
func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			n += fi.Size()
		}
		return nil
	})
	return n, err
}

// UnpackMount extracts the cache mount layer l (see PackMount) into dir,
// creating dir if needed and replacing entries already there, with
// internal/archive's extractor: nothing is written outside dir (absolute
// names and symlinks resolve as if dir were "/"; names and hardlinks that
// leave it with ".." are refused with an error naming the entry). Owners
// are restored when running as root; devices and FIFOs are skipped.
// Entries before a refused one stay extracted.
func UnpackMount(ctx context.Context, l v1.Layer, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	rc, err := l.Uncompressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := archive.Extract(ctx, rc, dir, archive.Options{Owners: os.Geteuid() == 0, SkipDevices: true}); err != nil {
		return fmt.Errorf("cache mount: %w", err)
	}
	return nil
}

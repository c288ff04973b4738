// Package readers owns bld's io.Reader and io.Writer wrappers that more
// than one package needs: WithContext, a reader that stops once its context
// is done, WriterWithContext, its writer twin, and Verify, a reader that
// checks content against its digest and size.
//
// Hand-written: each is a dozen lines, and the libraries that have one
// (ggcr's internal verify package, containerd's content helpers) do not
// export it or bring far more than it.
package readers

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// WithContext returns a reader of r whose reads fail with context.Cause(ctx)
// once ctx is done, so that a long copy stops when it is cancelled.
func WithContext(ctx context.Context, r io.Reader) io.Reader {
	return ctxReader{ctx: ctx, r: r}
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if c.ctx.Err() != nil {
		return 0, context.Cause(c.ctx)
	}
	return c.r.Read(p)
}

// WriterWithContext returns a writer to w whose writes fail with
// context.Cause(ctx) once ctx is done, so that a long export stops when it
// is cancelled.
func WriterWithContext(ctx context.Context, w io.Writer) io.Writer {
	return ctxWriter{ctx: ctx, w: w}
}

type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if c.ctx.Err() != nil {
		return 0, context.Cause(c.ctx)
	}
	return c.w.Write(p)
}

// ErrCorrupt is wrapped by the error a Verify reader returns when the
// content is not what its digest and size promise.
var ErrCorrupt = errors.New("corrupt: content does not match its digest")

// Verify returns a ReadCloser of rc that hashes what is read and fails
// (with an error wrapping ErrCorrupt) at the end unless the content has
// digest want and, when size >= 0, exactly size bytes; it fails as soon as
// more than size bytes arrive. Close closes rc.
func Verify(rc io.ReadCloser, want v1.Hash, size int64) io.ReadCloser {
	h, err := v1.Hasher(want.Algorithm)
	return &verifier{rc: rc, want: want, size: size, h: h, err: err}
}

type verifier struct {
	rc   io.ReadCloser
	want v1.Hash
	size int64
	h    hash.Hash
	n    int64
	err  error // a digest algorithm we cannot check
}

func (v *verifier) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, fmt.Errorf("blob %s: %w", v.want, v.err)
	}
	n, err := v.rc.Read(p)
	if v.size >= 0 && v.n+int64(n) > v.size {
		// What is beyond size is not passed on.
		return int(v.size - v.n), fmt.Errorf("blob %s: %w (more than %d bytes)", v.want, ErrCorrupt, v.size)
	}
	v.h.Write(p[:n])
	v.n += int64(n)
	if err == io.EOF {
		got := v1.Hash{Algorithm: v.want.Algorithm, Hex: fmt.Sprintf("%x", v.h.Sum(nil))}
		if got != v.want || (v.size >= 0 && v.n != v.size) {
			return n, fmt.Errorf("blob %s: %w (got %s, %d bytes)", v.want, ErrCorrupt, got, v.n)
		}
	}
	return n, err
}

func (v *verifier) Close() error { return v.rc.Close() }

// verifyChunk and verifyDepth size WriteTo's pipeline: the chunks read
// ahead of the hasher, at most verifyDepth*verifyChunk bytes (1 MiB).
const (
	verifyChunk = 256 << 10
	verifyDepth = 4
)

// WriteTo writes the rest of the content to w (io.Copy calls it) and checks
// it as Read does, but hashes each chunk on another goroutine while the
// next one is read and written: exporting a blob from the store then costs
// about the larger of I/O and hashing, not their sum (a 140 MB zstd layer
// into an OCI tar: the hash was a third of the export). A chunk goes to the
// hasher only once written, and back to the reader only once hashed. No
// more than size bytes are written; a mismatch is an error wrapping
// ErrCorrupt once everything read is hashed.
func (v *verifier) WriteTo(w io.Writer) (int64, error) {
	if v.err != nil {
		return 0, fmt.Errorf("blob %s: %w", v.want, v.err)
	}
	free := make(chan []byte, verifyDepth)
	for range verifyDepth {
		free <- make([]byte, verifyChunk)
	}
	todo := make(chan []byte, verifyDepth)
	hashed := make(chan struct{})
	go func() {
		defer close(hashed)
		for b := range todo {
			v.h.Write(b)
			free <- b[:cap(b)]
		}
	}()
	var written int64
	err := func() error {
		for {
			buf := <-free
			n, rerr := v.rc.Read(buf)
			if v.size >= 0 && v.n+int64(n) > v.size {
				return fmt.Errorf("blob %s: %w (more than %d bytes)", v.want, ErrCorrupt, v.size)
			}
			v.n += int64(n)
			if n > 0 {
				m, werr := w.Write(buf[:n])
				written += int64(m)
				if werr == nil && m < n {
					werr = io.ErrShortWrite
				}
				if werr != nil {
					return werr
				}
				todo <- buf[:n]
			} else {
				free <- buf
			}
			if rerr == io.EOF {
				return nil
			}
			if rerr != nil {
				return rerr
			}
		}
	}()
	close(todo)
	<-hashed
	if err != nil {
		return written, err
	}
	got := v1.Hash{Algorithm: v.want.Algorithm, Hex: fmt.Sprintf("%x", v.h.Sum(nil))}
	if got != v.want || (v.size >= 0 && v.n != v.size) {
		return written, fmt.Errorf("blob %s: %w (got %s, %d bytes)", v.want, ErrCorrupt, got, v.n)
	}
	return written, nil
}

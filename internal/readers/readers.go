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
	v.h.Write(p[:n])
	v.n += int64(n)
	if v.size >= 0 && v.n > v.size {
		return n, fmt.Errorf("blob %s: %w (more than %d bytes)", v.want, ErrCorrupt, v.size)
	}
	if err == io.EOF {
		got := v1.Hash{Algorithm: v.want.Algorithm, Hex: fmt.Sprintf("%x", v.h.Sum(nil))}
		if got != v.want || (v.size >= 0 && v.n != v.size) {
			return n, fmt.Errorf("blob %s: %w (got %s, %d bytes)", v.want, ErrCorrupt, got, v.n)
		}
	}
	return n, err
}

func (v *verifier) Close() error { return v.rc.Close() }

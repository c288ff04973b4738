package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Backoff is how long to wait between attempts (ggcr's type: Duration,
// growing by Factor, with Jitter, for Steps attempts in all).
type Backoff = remote.Backoff

// DefaultBackoff tries a request 6 times: again after about 0.5s, 1s, 2s,
// 4s and 8s (15.5s of waiting at most). A registry failing a third of its
// requests at random then fails one in 700.
var DefaultBackoff = Backoff{Duration: 500 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: 6}

// RetryableStatus reports whether an HTTP status is worth another try:
// 408, 429 and the 5xx answers but 501 and 505 (which will not change).
func RetryableStatus(code int) bool {
	switch {
	case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests:
		return true
	case code == http.StatusNotImplemented, code == http.StatusHTTPVersionNotSupported:
		return false
	}
	return code >= 500 && code <= 599
}

// transient reports whether a transport error is a dropped connection or
// a timeout, which another try may get through. A refused connection is
// not: nothing listens there.
func transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, net.ErrClosed) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// gaveUp marks an error the Transport already retried as far as the
// policy allows, so no outer loop retries it again.
type gaveUp struct{ err error }

func (g *gaveUp) Error() string { return g.err.Error() }
func (g *gaveUp) Unwrap() error { return g.err }

// Retryable is the policy's predicate for an operation's error (ggcr's
// whole-upload retry calls it): true for a dropped connection or a
// retryable HTTP status that the Transport could not retry itself because
// the request's body could not be sent again; false once the Transport
// gave up, or for anything else.
func Retryable(err error) bool {
	var g *gaveUp
	if err == nil || errors.As(err, &g) {
		return false
	}
	var te *transport.Error
	if errors.As(err, &te) {
		return RetryableStatus(te.StatusCode) && (te.Request == nil || !replayable(te.Request))
	}
	return transient(err)
}

// replayable reports whether req can be sent again: no body, or one
// GetBody can make anew.
func replayable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// Transport is an http.RoundTripper that applies the retry policy to each
// request: a retryable status or a dropped connection is tried again
// after Backoff (or the Retry-After a 429 or 503 asks for, up to 30s), at
// most Backoff.Steps times in all, when the request's
// body can be replayed; a GET answered 200 whose body is cut short is
// resumed with a Range request from the byte it stopped at. Waits end
// when the request's context does.
//
// When Insecure is set, a plain-HTTP request to a registry API path
// (/v2/…) of a host it does not cover is refused before it is sent: ggcr
// falls back to plain HTTP for private addresses on its own, and bld's
// rule is the only one.
type Transport struct {
	Inner    http.RoundTripper
	Backoff  Backoff
	Insecure func(registry string) bool
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.Insecure != nil && req.URL.Scheme == "http" && strings.HasPrefix(req.URL.Path, "/v2/") && !t.Insecure(req.URL.Host) {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("plain HTTP to %s refused: not a loopback registry, nor one of --insecure-registry", req.URL.Host)
	}
	b := t.Backoff
	ctx := req.Context()
	for {
		resp, err := t.Inner.RoundTrip(req)
		retry := false
		switch {
		case err != nil:
			retry = transient(err) && replayable(req)
		default:
			retry = RetryableStatus(resp.StatusCode) && replayable(req)
		}
		if !retry {
			if err == nil && req.Method == http.MethodGet && resp.StatusCode == http.StatusOK && req.Header.Get("Range") == "" {
				resp.Body = &resumingBody{t: t, req: req, body: resp.Body, size: resp.ContentLength, useRange: true}
			}
			return resp, err
		}
		if b.Steps <= 1 {
			if err != nil {
				return nil, &gaveUp{err}
			}
			return resp, nil
		}
		next := req.Clone(ctx)
		if req.GetBody != nil {
			body, gerr := req.GetBody()
			if gerr != nil {
				if err != nil {
					return nil, err
				}
				return resp, nil
			}
			next.Body = body
		}
		wait := b.Step()
		if resp != nil {
			wait = max(wait, retryAfter(resp))
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
		if werr := sleep(ctx, wait); werr != nil {
			return nil, werr
		}
		req = next
	}
}

// maxRetryAfter bounds the wait a Retry-After header can ask for.
const maxRetryAfter = 30 * time.Second

// retryAfter is the wait a 429 or 503 asks for in its Retry-After header
// (seconds or an HTTP date), at most maxRetryAfter; 0 when none.
func retryAfter(resp *http.Response) time.Duration {
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
		return 0
	}
	v := resp.Header.Get("Retry-After")
	var d time.Duration
	if n, err := strconv.Atoi(v); err == nil {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = time.Until(t)
	}
	return min(max(d, 0), maxRetryAfter)
}

// sleep waits d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// resumingBody is the body of a GET answered 200. When the connection
// drops mid-body, it asks for the rest with a Range request (or, when the
// server ignores Range, the whole again, skipping what was read), within
// the policy's backoff; the bytes its reader sees are those of one
// uninterrupted body, so a digest check over them still holds.
type resumingBody struct {
	t        *Transport
	req      *http.Request
	body     io.ReadCloser
	size     int64   // Content-Length, or -1
	n        int64   // bytes delivered
	pending  error   // a read error held back while bytes were returned
	b        Backoff // attempts left; the zero value before the first drop
	started  bool
	useRange bool // false once the server refused a Range (416)
}

func (r *resumingBody) Read(p []byte) (int, error) {
	for {
		if err := r.pending; err != nil {
			r.pending = nil
			if rerr := r.resume(err); rerr != nil {
				return 0, rerr
			}
		}
		n, err := r.body.Read(p)
		r.n += int64(n)
		if err == nil || err == io.EOF || !transient(err) || r.req.Context().Err() != nil {
			return n, err
		}
		if n > 0 {
			r.pending = err
			return n, nil
		}
		r.pending = err
	}
}

// resume replaces the broken body with one that goes on at byte r.n, or
// returns cause (marked as retried) when the policy's attempts run out.
func (r *resumingBody) resume(cause error) error {
	if !r.started {
		r.b, r.started = r.t.Backoff, true
	}
	ctx := r.req.Context()
	for r.b.Steps > 1 {
		if err := sleep(ctx, r.b.Step()); err != nil {
			return err
		}
		req := r.req.Clone(ctx)
		if r.useRange {
			// An explicit end when the size is known: some servers
			// (ggcr's) understand no other form.
			rng := fmt.Sprintf("bytes=%d-", r.n)
			if r.size > r.n {
				rng += strconv.FormatInt(r.size-1, 10)
			}
			req.Header.Set("Range", rng)
		}
		resp, err := r.t.Inner.RoundTrip(req)
		if err != nil {
			if transient(err) {
				continue
			}
			return err
		}
		if resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && r.useRange {
			resp.Body.Close()
			r.useRange = false // the whole body again, skipping what was read
			continue
		}
		body, err := r.rest(resp)
		if err != nil {
			resp.Body.Close()
			if transient(err) || RetryableStatus(resp.StatusCode) {
				continue
			}
			return fmt.Errorf("resume %s at byte %d: %w", r.req.URL.Redacted(), r.n, err)
		}
		r.body.Close()
		r.body = body
		return nil
	}
	return &gaveUp{cause}
}

// rest checks a resumed response and returns its body from byte r.n on.
func (r *resumingBody) rest(resp *http.Response) (io.ReadCloser, error) {
	switch resp.StatusCode {
	case http.StatusPartialContent:
		// Content-Range: bytes FIRST-LAST/SIZE
		cr := strings.TrimPrefix(resp.Header.Get("Content-Range"), "bytes ")
		first, _, _ := strings.Cut(cr, "-")
		if n, err := strconv.ParseInt(first, 10, 64); err != nil || n != r.n {
			return nil, fmt.Errorf("server sent range %q, asked from byte %d", cr, r.n)
		}
		return resp.Body, nil
	case http.StatusOK:
		if _, err := io.CopyN(io.Discard, resp.Body, r.n); err != nil {
			return nil, err
		}
		return resp.Body, nil
	}
	return nil, fmt.Errorf("unexpected status %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
}

func (r *resumingBody) Close() error { return r.body.Close() }

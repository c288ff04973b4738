package exporter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// RegistryOptions configures the Registry exporter. The zero value pushes
// with the default keychain (~/.docker/config.json and helpers) over the
// default transport, 4 uploads at a time.
type RegistryOptions struct {
	// Keychain resolves credentials; nil means authn.DefaultKeychain.
	Keychain authn.Keychain
	// Insecure lists registries ("host" or "host:port") reached over plain
	// HTTP. Loopback registries (localhost, 127.0.0.0/8, ::1) always are.
	Insecure []string
	// Transport is the HTTP transport; nil means remote.DefaultTransport.
	Transport http.RoundTripper
	// Jobs is the number of concurrent uploads per push; 0 means 4.
	Jobs int
	// Progress, if not nil, receives byte counts as blobs are uploaded,
	// one series per name. It is never closed by the exporter, and must be
	// drained: uploads wait for it.
	Progress chan<- v1.Update
}

// retryBackoff is how pushes retry transient failures and the status codes
// below: after 1s, 3s, 9s.
var retryBackoff = remote.Backoff{Duration: time.Second, Factor: 3, Jitter: 0.1, Steps: 4}

var retryStatusCodes = []int{
	http.StatusRequestTimeout,
	http.StatusTooManyRequests,
	http.StatusInternalServerError,
	http.StatusBadGateway,
	http.StatusServiceUnavailable,
	http.StatusGatewayTimeout,
}

// Registry returns an Exporter that pushes the image to each of names
// in turn. Blobs already in the target repository are skipped; for a second
// name in a registry already pushed to, blobs are mounted from the first
// repository rather than uploaded again. The manifest goes last, so a name
// never points at missing blobs. Errors name the reference.
func Registry(names []string, opt RegistryOptions) Exporter {
	return ExporterFunc(func(ctx context.Context, img v1.Image) error {
		first := map[string]name.Reference{} // registry -> first ref pushed there
		for _, n := range names {
			ref, err := parseRef(n, opt.Insecure)
			if err != nil {
				return fmt.Errorf("push %s: %w", n, err)
			}
			src := img
			reg := ref.Context().RegistryStr()
			if from, ok := first[reg]; ok && from.Context().RepositoryStr() != ref.Context().RepositoryStr() {
				src = &mountImage{Image: img, from: from}
			}
			if err := push(ctx, ref, src, opt); err != nil {
				return fmt.Errorf("push %s: %w", n, withStatus(err))
			}
			if _, ok := first[reg]; !ok {
				first[reg] = ref
			}
		}
		return nil
	})
}

func push(ctx context.Context, ref name.Reference, img v1.Image, opt RegistryOptions) error {
	kc := opt.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	tr := opt.Transport
	if tr == nil {
		tr = remote.DefaultTransport
	}
	opts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(kc),
		remote.WithRetryBackoff(retryBackoff),
		// Status codes are retried per request by retryTransport; ggcr
		// still retries network errors, and whole uploads on any
		// temporary error.
		remote.WithRetryStatusCodes(),
		remote.WithTransport(retryTransport{tr}),
	}
	if opt.Jobs > 0 {
		opts = append(opts, remote.WithJobs(opt.Jobs))
	}
	if opt.Progress == nil {
		return remote.Write(ref, img, opts...)
	}
	// ggcr closes its progress channel when a push ends; ours must stay
	// open across names, so forward.
	updates := make(chan v1.Update, 16)
	done := make(chan struct{})
	forwarded := make(chan struct{})
	go func() {
		defer close(forwarded)
		send := func(u v1.Update) {
			select {
			case opt.Progress <- u:
			case <-ctx.Done():
			}
		}
		for {
			select {
			case u, ok := <-updates:
				if !ok {
					return
				}
				send(u)
			case <-done:
				// Write returned without closing updates (an option
				// error): take what is buffered and stop.
				for {
					select {
					case u, ok := <-updates:
						if !ok {
							return
						}
						send(u)
					default:
						return
					}
				}
			}
		}
	}()
	err := remote.Write(ref, img, append(opts, remote.WithProgress(updates))...)
	close(done)
	<-forwarded
	return err
}

// retryTransport retries a request answered with one of retryStatusCodes,
// after retryBackoff. ggcr does not retry the requests of a blob upload
// (HEAD, POST, PATCH, PUT) one by one, only the whole upload, so a
// registry failing every third request fails each attempt at the same
// step; retrying the failed request alone gets through. Requests whose
// body cannot be replayed are not retried.
type retryTransport struct {
	inner http.RoundTripper
}

func (t retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	b := retryBackoff
	for {
		resp, err := t.inner.RoundTrip(req)
		if err != nil || !slices.Contains(retryStatusCodes, resp.StatusCode) || b.Steps <= 1 {
			return resp, err
		}
		next := req.Clone(req.Context())
		if req.Body != nil && req.Body != http.NoBody {
			if req.GetBody == nil {
				return resp, nil
			}
			if next.Body, err = req.GetBody(); err != nil {
				return resp, nil
			}
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		timer := time.NewTimer(b.Step())
		select {
		case <-timer.C:
		case <-req.Context().Done():
			timer.Stop()
			return nil, req.Context().Err()
		}
		req = next
	}
}

// withStatus adds the HTTP status to a registry error that does not show
// it: ggcr prints only the registry's error codes ("DENIED: ...") when
// the response carries them.
func withStatus(err error) error {
	var terr *transport.Error
	if errors.As(err, &terr) && len(terr.Errors) > 0 {
		return fmt.Errorf("%w (HTTP %d %s)", err, terr.StatusCode, http.StatusText(terr.StatusCode))
	}
	return err
}

// parseRef parses an image name, marking loopback and listed registries
// as plain HTTP.
func parseRef(s string, insecure []string) (name.Reference, error) {
	ref, err := name.ParseReference(s)
	if err != nil {
		return nil, err
	}
	reg := ref.Context().RegistryStr()
	if isLoopback(reg) || slices.Contains(insecure, reg) || slices.Contains(insecure, hostOf(reg)) {
		return name.ParseReference(s, name.Insecure)
	}
	return ref, nil
}

func hostOf(reg string) string {
	if h, _, err := net.SplitHostPort(reg); err == nil {
		return h
	}
	return strings.Trim(reg, "[]")
}

func isLoopback(reg string) bool {
	h := hostOf(reg)
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// mountImage is an image whose layers the registry is asked to mount from
// another repository (from) of the same registry, where they were just
// pushed.
type mountImage struct {
	v1.Image
	from name.Reference
}

func (m *mountImage) Layers() ([]v1.Layer, error) {
	ls, err := m.Image.Layers()
	if err != nil {
		return nil, err
	}
	out := make([]v1.Layer, len(ls))
	for i, l := range ls {
		if ml, ok := l.(*remote.MountableLayer); ok {
			l = ml.Layer
		}
		out[i] = &remote.MountableLayer{Layer: l, Reference: m.from}
	}
	return out, nil
}

// ConfigLayer makes the config blob mountable too (partial.ConfigLayer
// looks for this method).
func (m *mountImage) ConfigLayer() (v1.Layer, error) {
	l, err := partial.ConfigLayer(m.Image)
	if err != nil {
		return nil, err
	}
	return &remote.MountableLayer{Layer: l, Reference: m.from}, nil
}

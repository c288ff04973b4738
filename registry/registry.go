package registry

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Options configures a Client. The zero value reaches loopback registries
// over plain HTTP and every other over HTTPS, with the default keychain,
// remote.DefaultTransport and DefaultBackoff.
type Options struct {
	// Insecure lists registries reached over plain HTTP (--insecure-registry):
	// "NAME" covers NAME at any port, "NAME:PORT" exactly that.
	Insecure []string
	// Keychain resolves credentials; nil means authn.DefaultKeychain
	// (~/.docker/config.json and its credential helpers).
	Keychain authn.Keychain
	// Transport carries the requests; nil means remote.DefaultTransport.
	// The Client wraps it with its retry policy.
	Transport http.RoundTripper
	// Backoff is the retry policy's backoff; zero means DefaultBackoff.
	Backoff Backoff
	// Jobs is the number of concurrent blob transfers of one pull or push;
	// 0 means 4.
	Jobs int
	// Limits bound the manifests, indexes and configs of pulls (zero
	// fields: the defaults); the Client enforces ManifestSize on every
	// manifest response, CheckImage the rest.
	Limits Limits
}

// Client applies one set of Options to every registry request. It is
// cheap to make, holds no connection of its own, and is safe for
// concurrent use.
type Client struct {
	insecure []string // normalised entries
	keychain authn.Keychain
	rt       http.RoundTripper // limitTransport over Transport
	backoff  Backoff
	limits   Limits
	jobs     int
}

// New returns a Client for opt.
func New(opt Options) *Client {
	c := &Client{keychain: opt.Keychain, backoff: opt.Backoff, jobs: opt.Jobs, limits: opt.Limits.WithDefaults()}
	if c.keychain == nil {
		c.keychain = authn.DefaultKeychain
	}
	if c.backoff.Steps == 0 {
		c.backoff = DefaultBackoff
	}
	if c.jobs <= 0 {
		c.jobs = 4
	}
	for _, e := range opt.Insecure {
		if e = normalise(e); e != "" {
			c.insecure = append(c.insecure, e)
		}
	}
	inner := opt.Transport
	if inner == nil {
		inner = remote.DefaultTransport
	}
	c.rt = &limitTransport{
		inner: &Transport{Inner: inner, Backoff: c.backoff, Insecure: c.Insecure},
		max:   c.limits.ManifestSize,
	}
	return c
}

// Limits are the Client's pull limits, with defaults filled in.
func (c *Client) Limits() Limits { return c.limits }

// normalise lower-cases an --insecure-registry entry and drops a scheme or
// a trailing slash a user may have typed.
func normalise(e string) string {
	e = strings.ToLower(strings.TrimSpace(e))
	e = strings.TrimPrefix(e, "http://")
	e = strings.TrimPrefix(e, "https://")
	return strings.TrimRight(e, "/")
}

// splitHost splits "host", "host:port", "[v6]:port", "[v6]" or a bare
// IPv6 address into host (without brackets) and port ("" when none).
func splitHost(reg string) (host, port string) {
	if h, p, err := net.SplitHostPort(reg); err == nil {
		return h, p
	}
	return strings.Trim(reg, "[]"), ""
}

// IsLoopback reports whether a registry ("host" or "host:port") is on this
// machine: localhost, 127.0.0.0/8 or ::1.
func IsLoopback(registry string) bool {
	h, _ := splitHost(strings.ToLower(registry))
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// Insecure reports whether registry ("host" or "host:port", as
// name.Registry.RegistryStr gives it) is reached over plain HTTP: a
// loopback host, or one an Options.Insecure entry covers. This is the one
// place bld decides it.
func (c *Client) Insecure(registry string) bool {
	if IsLoopback(registry) {
		return true
	}
	reg := normalise(registry)
	host, port := splitHost(reg)
	for _, e := range c.insecure {
		eh, ep := splitHost(e)
		if eh != host {
			continue
		}
		if ep == "" || ep == port {
			return true
		}
	}
	return false
}

// NameOptions returns the name options for a reference or registry
// string: name.Insecure when its registry is reached over plain HTTP. An
// unparsable s gets none (its parse will fail with its own error).
func (c *Client) NameOptions(s string) []name.Option {
	ref, err := name.ParseReference(s)
	if err != nil {
		return nil
	}
	if c.Insecure(ref.Context().RegistryStr()) {
		return []name.Option{name.Insecure}
	}
	return nil
}

// ParseReference parses an image reference ("registry/repo:tag",
// "repo@sha256:…", Docker Hub short names), plain HTTP when its registry
// is insecure by the rule.
func (c *Client) ParseReference(s string) (name.Reference, error) {
	ref, err := name.ParseReference(s)
	if err != nil {
		return nil, fmt.Errorf("invalid reference %q: %w", s, err)
	}
	if c.Insecure(ref.Context().RegistryStr()) {
		return name.ParseReference(s, name.Insecure)
	}
	return ref, nil
}

// ParseRegistry parses a registry host ("host" or "host:port"), plain HTTP
// when it is insecure by the rule.
func (c *Client) ParseRegistry(s string) (name.Registry, error) {
	var opts []name.Option
	if c.Insecure(s) {
		opts = append(opts, name.Insecure)
	}
	reg, err := name.NewRegistry(s, opts...)
	if err != nil {
		return name.Registry{}, fmt.Errorf("invalid registry %q: %w", s, err)
	}
	return reg, nil
}

// Keychain is the keychain the Client authenticates with.
func (c *Client) Keychain() authn.Keychain { return c.keychain }

// Transport is the Client's HTTP transport: the one retry policy over
// Options.Transport. Use it for requests made outside RemoteOptions.
func (c *Client) Transport() http.RoundTripper { return c.rt }

// RemoteOptions returns the options every remote call of bld takes:
// ctx, the keychain, the retrying transport, the retry policy for whole
// uploads, and the jobs limit; extra options (a platform, progress) go
// after them.
func (c *Client) RemoteOptions(ctx context.Context, extra ...remote.Option) []remote.Option {
	opts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(c.keychain),
		remote.WithTransport(c.rt),
		remote.WithUserAgent("bld"),
		// Status codes and network errors of a single request are retried
		// by c.rt; ggcr's own per-request retry would multiply them.
		remote.WithRetryStatusCodes(),
		// ggcr retries a whole blob upload, whose body c.rt cannot replay,
		// with the same backoff and what c.rt did not already retry.
		remote.WithRetryBackoff(c.backoff),
		remote.WithRetryPredicate(Retryable),
		remote.WithJobs(c.jobs),
	}
	return append(opts, extra...)
}

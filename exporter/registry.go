package exporter

import (
	"context"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/bldbuild/bld/registry"
)

// RegistryOptions configures the Registry exporter. The zero value pushes
// with the default keychain (~/.docker/config.json and helpers) over the
// default transport, 4 uploads at a time, with registry's retry policy.
type RegistryOptions struct {
	// Client, when set, is the registry client to push with; Keychain,
	// Insecure, Transport, Backoff and Jobs are then ignored.
	Client *registry.Client
	// Keychain resolves credentials; nil means authn.DefaultKeychain.
	Keychain authn.Keychain
	// Insecure lists registries reached over plain HTTP ("NAME" at any
	// port, "NAME:PORT"); loopback registries always are. See
	// registry.Client.Insecure.
	Insecure []string
	// Transport is the HTTP transport; nil means remote.DefaultTransport.
	Transport http.RoundTripper
	// Backoff is the retry backoff; zero means registry.DefaultBackoff.
	Backoff registry.Backoff
	// Jobs is the number of concurrent uploads per push; 0 means 4.
	Jobs int
	// Progress, if not nil, receives byte counts as blobs are uploaded,
	// one series per name. It is never closed by the exporter, and must be
	// drained: uploads wait for it.
	Progress chan<- v1.Update
}

// client is opt.Client, or a client made from opt's fields.
func (opt RegistryOptions) client() *registry.Client {
	if opt.Client != nil {
		return opt.Client
	}
	return registry.New(registry.Options{
		Insecure:  opt.Insecure,
		Keychain:  opt.Keychain,
		Transport: opt.Transport,
		Backoff:   opt.Backoff,
		Jobs:      opt.Jobs,
	})
}

// Registry returns an Exporter that pushes the image to each of names
// in turn. Blobs already in the target repository are skipped; for a second
// name in a registry already pushed to, blobs are mounted from the first
// repository rather than uploaded again. The manifest goes last, so a name
// never points at missing blobs. Errors name the reference and the HTTP
// status.
func Registry(names []string, opt RegistryOptions) Exporter {
	return ExporterFunc(func(ctx context.Context, img v1.Image) error {
		c := opt.client()
		first := map[string]name.Reference{} // registry -> first ref pushed there
		for _, n := range names {
			ref, err := c.ParseReference(n)
			if err != nil {
				return fmt.Errorf("push %w", registry.Error(n, err))
			}
			src := img
			reg := ref.Context().RegistryStr()
			if from, ok := first[reg]; ok && from.Context().RepositoryStr() != ref.Context().RepositoryStr() {
				src = registry.MountFrom(img, from)
			}
			if err := push(ctx, c, ref, src, opt.Progress); err != nil {
				return fmt.Errorf("push %w", registry.Error(n, err))
			}
			if _, ok := first[reg]; !ok {
				first[reg] = ref
			}
		}
		return nil
	})
}

func push(ctx context.Context, c *registry.Client, ref name.Reference, img v1.Image, progress chan<- v1.Update) error {
	return pushWith(ctx, progress, func(o ...remote.Option) error {
		return remote.Write(ref, img, append(c.RemoteOptions(ctx), o...)...)
	})
}

// pushWith runs write (a remote.Write or WriteIndex) forwarding its
// upload progress to progress, if any, which stays open.
func pushWith(ctx context.Context, progress chan<- v1.Update, write func(...remote.Option) error) error {
	if progress == nil {
		return write()
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
			case progress <- u:
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
	err := write(remote.WithProgress(updates))
	close(done)
	<-forwarded
	return err
}

package registry

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// LoginResult says what Login did.
type LoginResult struct {
	// ConfigFile is the docker config file the credentials went to (or
	// that names the credential helper that holds them).
	ConfigFile string
	// NoAuth is true when the registry asked for no credentials at all:
	// they were stored, but it did not check them.
	NoAuth bool
}

// Login checks user and password with the registry host ("host" or
// "host:port", plain HTTP by the insecure rule) through its auth
// handshake for a pull, then stores them as docker login does: in
// ~/.docker/config.json, or the credential helper it names.
func (c *Client) Login(ctx context.Context, host, user, password string) (*LoginResult, error) {
	if user == "" || password == "" {
		return nil, fmt.Errorf("%s: a user name and a password are needed", host)
	}
	reg, err := c.ParseRegistry(host)
	if err != nil {
		return nil, err
	}
	// Does the registry ask for credentials at all?
	ping, err := transport.Ping(ctx, reg, c.rt)
	if err != nil {
		return nil, Error(host, err)
	}
	auth := authn.FromConfig(authn.AuthConfig{Username: user, Password: password})
	if _, err := transport.NewWithContext(ctx, reg, auth, c.rt, []string{reg.Scope(transport.PullScope)}); err != nil {
		return nil, Error(host, err)
	}
	if strings.EqualFold(ping.Scheme, "basic") {
		// The handshake sent no credentials yet: ask for /v2/ with
		// the credentials, as docker does for basic auth.
		if err := checkBasic(ctx, c.rt, reg, auth); err != nil {
			return nil, Error(host, err)
		}
	}
	cf := config.LoadDefaultConfigFile(io.Discard)
	server := reg.RegistryStr()
	if server == name.DefaultRegistry {
		server = "https://index.docker.io/v1/"
	}
	if err := cf.GetCredentialsStore(server).Store(types.AuthConfig{ServerAddress: server, Username: user, Password: password}); err != nil {
		return nil, fmt.Errorf("%s: store credentials: %w", host, err)
	}
	if err := cf.Save(); err != nil {
		return nil, fmt.Errorf("%s: save credentials: %w", host, err)
	}
	return &LoginResult{ConfigFile: cf.Filename, NoAuth: ping.Scheme == ""}, nil
}

// checkBasic sends GET /v2/ with basic credentials and wants a 200.
func checkBasic(ctx context.Context, rt http.RoundTripper, reg name.Registry, auth authn.Authenticator) error {
	tr, err := transport.NewWithContext(ctx, reg, auth, rt, nil)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s://%s/v2/", reg.Scheme(), reg.RegistryStr()), nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return transport.CheckError(resp, http.StatusOK)
}

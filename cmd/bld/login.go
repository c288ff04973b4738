package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/spf13/cobra"
)

type loginOptions struct {
	user          string
	password      string
	passwordStdin bool
}

func newLoginCmd(g *globalOptions) *cobra.Command {
	var o loginOptions
	cmd := &cobra.Command{
		Use:   "login [-u USER] [-p PASSWORD | --password-stdin] REGISTRY",
		Short: "Log in to a registry: checks the credentials, then stores them as docker login does",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLogin(cmd.Context(), g, o, args[0], cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVarP(&o.user, "username", "u", "", "user name")
	cmd.Flags().StringVarP(&o.password, "password", "p", "", "password (prefer --password-stdin)")
	cmd.Flags().BoolVar(&o.passwordStdin, "password-stdin", false, "read the password from standard input")
	return cmd
}

func runLogin(ctx context.Context, g *globalOptions, o loginOptions, host string, stdin io.Reader, stdout io.Writer) error {
	if o.passwordStdin {
		if o.password != "" {
			return errors.New("--password and --password-stdin are exclusive")
		}
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && err != io.EOF {
			return fmt.Errorf("read password: %w", err)
		}
		o.password = strings.TrimRight(line, "\r\n")
	}
	if o.user == "" || o.password == "" {
		return errors.New("login needs -u USER and a password (-p or --password-stdin)")
	}
	var opts []name.Option
	if isLoopback(host) || contains(g.insecure, host) {
		opts = append(opts, name.Insecure)
	}
	reg, err := name.NewRegistry(host, opts...)
	if err != nil {
		return fmt.Errorf("login %s: %w", host, err)
	}
	// Check the credentials: the registry's auth handshake for a pull scope.
	auth := authn.FromConfig(authn.AuthConfig{Username: o.user, Password: o.password})
	if _, err := transport.NewWithContext(ctx, reg, auth, http.DefaultTransport, []string{reg.Scope(transport.PullScope)}); err != nil {
		return fmt.Errorf("login %s: %w", host, err)
	}
	cf := config.LoadDefaultConfigFile(io.Discard)
	server := reg.RegistryStr()
	if server == name.DefaultRegistry {
		server = "https://index.docker.io/v1/"
	}
	if err := cf.GetCredentialsStore(server).Store(types.AuthConfig{ServerAddress: server, Username: o.user, Password: o.password}); err != nil {
		return fmt.Errorf("login %s: store credentials: %w", host, err)
	}
	if err := cf.Save(); err != nil {
		return fmt.Errorf("login %s: %w", host, err)
	}
	fmt.Fprintf(stdout, "Login Succeeded (credentials in %s)\n", cf.Filename)
	return nil
}

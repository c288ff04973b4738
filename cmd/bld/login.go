package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bldbuild/bld/registry"
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
	res, err := registry.New(registry.Options{Insecure: g.insecure}).Login(ctx, host, o.user, o.password)
	if err != nil {
		return fmt.Errorf("login %w", err)
	}
	if res.NoAuth {
		fmt.Fprintf(stdout, "Login Succeeded: %s asks for no credentials, so they were not checked (stored in %s)\n", host, res.ConfigFile)
		return nil
	}
	fmt.Fprintf(stdout, "Login Succeeded (credentials in %s)\n", res.ConfigFile)
	return nil
}

package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/bldbuild/bld/build"

	"github.com/spf13/cobra"
)

func newImportCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "import TARBALL|DIR|- NAME",
		Short: "Make a one-layer image from a root filesystem tarball or directory",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImport(cmd.Context(), g, args[0], args[1], cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
}

func runImport(ctx context.Context, g *globalOptions, src, name string, stdin io.Reader, stdout io.Writer) error {
	epoch, err := build.SourceDateEpoch(os.Getenv("SOURCE_DATE_EPOCH"))
	if err != nil {
		return err
	}
	root, err := g.openRoot(ctx, false)
	if err != nil {
		return err
	}
	d, err := build.Import(ctx, root, src, stdin, name, epoch)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, d)
	return nil
}

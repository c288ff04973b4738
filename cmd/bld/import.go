package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bldbuild/bld/build"
	"github.com/bldbuild/bld/internal/binfmt"

	"github.com/spf13/cobra"
)

func newImportCmd(g *globalOptions) *cobra.Command {
	var o build.ImportOptions
	cmd := &cobra.Command{
		Use:   "import [OPTIONS] TARBALL|DIR|- NAME",
		Short: "Make a one-layer image from a root filesystem tarball or directory",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImport(cmd.Context(), g, args[0], args[1], o, cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
	stringArrayVarP(cmd.Flags(), &o.Changes, "change", "c", "apply a Dockerfile instruction to the image config (CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR)")
	cmd.Flags().StringVarP(&o.Message, "message", "m", "", "comment of the image's history entry")
	cmd.Flags().Var(&platformFlag{&o.Platform}, "platform", "the image's platform (os/arch[/variant], e.g. linux/arm64); default: the host's")
	return cmd
}

// platformFlag is a --platform flag parsed by build.ParsePlatform into *p.
type platformFlag struct{ p **v1.Platform }

func (f *platformFlag) String() string {
	if *f.p == nil {
		return ""
	}
	return build.FormatPlatform(**f.p)
}

// Set parses s. containerd's parser takes any os and architecture
// ("arm/v7" is os arm, architecture v7): an imported image is a linux
// root filesystem for an architecture bld knows, so others are refused.
func (f *platformFlag) Set(s string) error {
	p, err := build.ParsePlatform(s)
	if err != nil {
		return err
	}
	if p.OS != "linux" {
		return fmt.Errorf("os %q: bld imports linux root filesystems (os/arch[/variant], e.g. linux/arm/v7)", p.OS)
	}
	if !slices.Contains(binfmt.Arches(), p.Architecture) {
		return fmt.Errorf("unknown architecture %q (known: %s)", p.Architecture, strings.Join(binfmt.Arches(), ", "))
	}
	*f.p = &p
	return nil
}

func (f *platformFlag) Type() string { return "platform" }

func runImport(ctx context.Context, g *globalOptions, src, name string, o build.ImportOptions, stdin io.Reader, stdout io.Writer) error {
	epoch, err := build.SourceDateEpoch(os.Getenv("SOURCE_DATE_EPOCH"))
	if err != nil {
		return err
	}
	root, err := g.openRoot(ctx, false)
	if err != nil {
		return err
	}
	o.Epoch = epoch
	d, err := build.ImportWith(ctx, root, src, stdin, name, o)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, d)
	return nil
}

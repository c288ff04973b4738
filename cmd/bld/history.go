package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"github.com/bldbuild/bld/build"
)

func newHistoryCmd(g *globalOptions) *cobra.Command {
	var platform string
	cmd := &cobra.Command{
		Use:   "history NAME",
		Short: "Show an image's layers, top first, and which other images share them",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runHistory(cmd.Context(), g, args[0], platform, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&platform, "platform", "", "the platform of a multi-platform image to show (default: the host's if it has it, else its first)")
	return cmd
}

func runHistory(ctx context.Context, g *globalOptions, ref, platform string, w io.Writer) error {
	var p *v1.Platform
	if platform != "" {
		pp, err := build.ParsePlatform(platform)
		if err != nil {
			return err
		}
		p = &pp
	}
	st, err := g.openRoot(ctx, false)
	if err != nil {
		return err
	}
	desc, entries, err := build.History(ctx, st, ref, p)
	if err != nil {
		return err
	}
	if desc.MediaType.IsIndex() {
		_, img, err := build.LocalPlatformImage(st, ref, p)
		if err != nil {
			return err
		}
		cf, err := img.ConfigFile()
		if err != nil {
			return err
		}
		d, err := img.Digest()
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%s (%s, %s)\n", ref, d.Hex[:12], build.FormatPlatform(v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}))
	} else {
		fmt.Fprintf(w, "%s (%s)\n", ref, desc.Digest.Hex[:12])
	}
	var total, shared int64
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		branch := "├─"
		if i == 0 {
			branch = "└─"
		}
		size := human(e.Size)
		if e.Empty {
			size = "0B"
		}
		line := fmt.Sprintf("%s %-9s %s", branch, size, short(e.CreatedBy, 70))
		if len(e.SharedWith) > 0 {
			line += "   shared with " + strings.Join(e.SharedWith, ", ")
			shared += e.Size
		}
		total += e.Size
		fmt.Fprintln(w, line)
	}
	fmt.Fprintf(w, "Total: %s   Shared with other images: %s   Disk increase: %s\n", human(total), human(shared), human(total-shared))
	return nil
}

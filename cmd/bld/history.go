package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bldbuild/bld/build"
)

func newHistoryCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "history NAME",
		Short: "Show an image's layers, top first, and which other images share them",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runHistory(cmd.Context(), g, args[0], cmd.OutOrStdout())
		},
	}
}

func runHistory(ctx context.Context, g *globalOptions, ref string, w io.Writer) error {
	st, err := g.openRoot(ctx, false)
	if err != nil {
		return err
	}
	desc, entries, err := build.History(ctx, st, ref)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s (%s)\n", ref, desc.Digest.Hex[:12])
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

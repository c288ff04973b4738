package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/bldbuild/bld/build"
	"github.com/bldbuild/bld/state"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"
)

func newImagesCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "images",
		Short: "List the images in the local store",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runImages(cmd.Context(), g, cmd.OutOrStdout())
		},
	}
}

func runImages(ctx context.Context, g *globalOptions, w io.Writer) error {
	st, err := g.openRoot(ctx, false)
	if err != nil {
		return err
	}
	list, err := build.Images(st)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "NAME\tDIGEST\tCREATED\tSIZE")
	for _, i := range list {
		created := ""
		if !i.Created.IsZero() {
			created = i.Created.UTC().Format("2006-01-02 15:04:05")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", i.Name, i.Digest.Hex[:12], created, human(i.Size))
	}
	return tw.Flush()
}

func newInspectCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect NAME",
		Short: "Show an image's manifest and config as JSON",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, desc, img, err := localImage(cmd.Context(), g, args[0])
			if err != nil {
				return err
			}
			m, err := img.Manifest()
			if err != nil {
				return err
			}
			cf, err := img.ConfigFile()
			if err != nil {
				return err
			}
			out := struct {
				Name     string         `json:"name"`
				Digest   string         `json:"digest"`
				Manifest *v1.Manifest   `json:"manifest"`
				Config   *v1.ConfigFile `json:"config"`
			}{args[0], desc.Digest.String(), m, cf}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(out)
		},
	}
}

func newTagCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "tag SOURCE TARGET",
		Short: "Give an image in the local store another name",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, desc, _, err := localImage(cmd.Context(), g, args[0])
			if err != nil {
				return err
			}
			return st.Store.Tag(args[1], desc)
		},
	}
}

func newRmCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "rm NAME...",
		Short: "Remove image names from the local store (bld prune frees the space)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := g.openRoot(cmd.Context(), false)
			if err != nil {
				return err
			}
			for _, n := range args {
				if err := st.Store.Untag(n); err != nil {
					return fmt.Errorf("rm %s: %w", n, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Untagged: %s\n", n)
			}
			return nil
		},
	}
}

func newPushCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "push NAME [DESTINATION]",
		Short: "Push an image from the local store to a registry",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, desc, img, err := localImage(cmd.Context(), g, args[0])
			if err != nil {
				return err
			}
			dest := args[0]
			if len(args) == 2 {
				dest = args[1]
			}
			if err := build.Push(cmd.Context(), st, img, []string{dest}, g.insecure); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), desc.Digest)
			return nil
		},
	}
}

// localImage opens the store and finds the image named ref in it.
func localImage(ctx context.Context, g *globalOptions, ref string) (*state.Root, v1.Descriptor, v1.Image, error) {
	st, err := g.openRoot(ctx, false)
	if err != nil {
		return nil, v1.Descriptor{}, nil, err
	}
	desc, img, err := build.LocalImage(st, ref)
	return st, desc, img, err
}

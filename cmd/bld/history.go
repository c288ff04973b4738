package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"
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
	st, desc, img, err := localImage(ctx, g, ref)
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
	images, err := st.ImageBlobs(ctx)
	if err != nil {
		return err
	}
	// The other images (by name, sorted) that have each layer.
	sharedWith := map[v1.Hash][]string{}
	for _, im := range images {
		if im.Descriptor.Digest == desc.Digest {
			continue
		}
		for _, l := range im.Layers {
			if names := sharedWith[l.Digest]; len(names) == 0 || names[len(names)-1] != im.Name {
				sharedWith[l.Digest] = append(names, im.Name)
			}
		}
	}
	type row struct {
		text   string
		size   int64
		shared []string
		empty  bool
	}
	var rows []row
	li := 0
	for _, h := range cf.History {
		r := row{text: strings.TrimSuffix(h.CreatedBy, " # buildkit"), empty: h.EmptyLayer}
		if !h.EmptyLayer && li < len(m.Layers) {
			r.size = m.Layers[li].Size
			r.shared = sharedWith[m.Layers[li].Digest]
			li++
		}
		rows = append(rows, r)
	}
	fmt.Fprintf(w, "%s (%s)\n", ref, desc.Digest.Hex[:12])
	var total, shared int64
	for i := len(rows) - 1; i >= 0; i-- {
		r := rows[i]
		branch := "├─"
		if i == 0 {
			branch = "└─"
		}
		size := human(r.size)
		if r.empty {
			size = "0B"
		}
		line := fmt.Sprintf("%s %-9s %s", branch, size, short(r.text, 70))
		if len(r.shared) > 0 {
			line += "   shared with " + strings.Join(r.shared, ", ")
			shared += r.size
		}
		total += r.size
		fmt.Fprintln(w, line)
	}
	fmt.Fprintf(w, "Total: %s   Shared with other images: %s   Disk increase: %s\n", human(total), human(shared), human(total-shared))
	return nil
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"text/template"

	"github.com/bldbuild/bld/build"
	"github.com/bldbuild/bld/internal/imageref"
	"github.com/bldbuild/bld/state"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"
)

func newImagesCmd(g *globalOptions) *cobra.Command {
	var quiet bool
	var format string
	cmd := &cobra.Command{
		Use:   "images",
		Short: "List the images in the local store",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runImages(cmd.Context(), g, quiet, format, cmd.OutOrStdout())
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only image IDs (short digests), one per image")
	cmd.Flags().StringVar(&format, "format", "", "format the output: a Go template over .ID .Digest .Repository .Tag .Name .CreatedAt .Size .Platforms, \"table TEMPLATE\" for a table with headers, or \"json\" for one JSON object per line")
	return cmd
}

// imageRow is one image as `bld images --format` templates see it; the
// field names are docker's.
type imageRow struct {
	ID         string `json:"ID"`
	Digest     string `json:"Digest"`
	Repository string `json:"Repository"`
	Tag        string `json:"Tag"`
	Name       string `json:"Name"`
	CreatedAt  string `json:"CreatedAt"`
	Size       string `json:"Size"`
	Platforms  string `json:"Platforms,omitempty"` // a multi-platform or foreign image's, comma-separated
}

func newImageRow(i build.ImageInfo) imageRow {
	short := imageref.Familiar(i.Name)
	repo, tag := short, "<none>"
	if k := strings.LastIndex(short, ":"); k > strings.LastIndex(short, "/") {
		repo, tag = short[:k], short[k+1:]
	}
	created := ""
	if !i.Created.IsZero() {
		created = i.Created.UTC().Format("2006-01-02 15:04:05 +0000 UTC")
	}
	return imageRow{ID: i.Digest.Hex[:12], Digest: i.Digest.String(), Repository: repo, Tag: tag,
		Name: i.Name, CreatedAt: created, Size: human(i.Size), Platforms: strings.Join(i.Platforms, ",")}
}

func runImages(ctx context.Context, g *globalOptions, quiet bool, format string, w io.Writer) error {
	var tmpl *template.Template
	table := false
	switch {
	case quiet && format != "":
		return fmt.Errorf("images: --quiet and --format cannot be used together")
	case format == "json", format == "":
	default:
		// As docker's formatter: a literal \t in the format is a tab.
		text := strings.ReplaceAll(format, `\t`, "\t")
		if rest, ok := strings.CutPrefix(text, "table"); ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t') {
			table, text = true, strings.TrimSpace(rest)
			if text == "" {
				text = "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedAt}}\t{{.Size}}"
			}
		}
		t, err := template.New("format").Option("missingkey=error").Parse(text)
		if err != nil {
			return fmt.Errorf("images: --format: %w", err)
		}
		tmpl = t
	}
	st, err := g.openRoot(ctx, false)
	if err != nil {
		return err
	}
	list, err := build.Images(st)
	if err != nil {
		return err
	}
	switch {
	case quiet:
		for _, i := range list {
			fmt.Fprintln(w, i.Digest.Hex[:12])
		}
		return nil
	case format == "json":
		enc := json.NewEncoder(w)
		for _, i := range list {
			if err := enc.Encode(newImageRow(i)); err != nil {
				return err
			}
		}
		return nil
	case tmpl != nil:
		out := w
		var tw *tabwriter.Writer
		if table {
			tw = tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
			out = tw
			var hdr strings.Builder
			// Headers are the templates' field names in upper case, as docker's.
			if err := tmpl.Execute(&hdr, imageHeader); err != nil {
				return fmt.Errorf("images: --format: %w", err)
			}
			fmt.Fprintln(tw, hdr.String())
		}
		for _, i := range list {
			var line strings.Builder
			if err := tmpl.Execute(&line, newImageRow(i)); err != nil {
				return fmt.Errorf("images: --format: %w", err)
			}
			fmt.Fprintln(out, line.String())
		}
		if tw != nil {
			return tw.Flush()
		}
		return nil
	}
	// A PLATFORMS column only when some image has several, or is not
	// for the host's platform.
	multi := false
	for _, i := range list {
		multi = multi || len(i.Platforms) > 0
	}
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	if multi {
		fmt.Fprintln(tw, "NAME\tDIGEST\tCREATED\tSIZE\tPLATFORMS")
	} else {
		fmt.Fprintln(tw, "NAME\tDIGEST\tCREATED\tSIZE")
	}
	for _, i := range list {
		created := ""
		if !i.Created.IsZero() {
			created = i.Created.UTC().Format("2006-01-02 15:04:05")
		}
		if multi {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", i.Name, i.Digest.Hex[:12], created, human(i.Size), strings.Join(i.Platforms, ","))
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", i.Name, i.Digest.Hex[:12], created, human(i.Size))
	}
	return tw.Flush()
}

var imageHeader = imageRow{ID: "IMAGE ID", Digest: "DIGEST", Repository: "REPOSITORY", Tag: "TAG",
	Name: "NAME", CreatedAt: "CREATED AT", Size: "SIZE", Platforms: "PLATFORMS"}

func newInspectCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect NAME",
		Short: "Show an image's manifest and config as JSON",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, desc, img, err := localImage(cmd.Context(), g, args[0])
			if err != nil {
				return err
			}
			if desc.MediaType.IsIndex() {
				return inspectIndex(cmd.OutOrStdout(), st, args[0], desc)
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
			if desc.MediaType.IsIndex() {
				idx, err := st.Store.Index(desc.Digest.String())
				if err != nil {
					return err
				}
				if err := build.PushIndex(cmd.Context(), st, idx, []string{dest}, g.insecure); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), desc.Digest)
				return nil
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

// inspectIndex shows a multi-platform image: the index, then each
// platform's manifest and config.
func inspectIndex(w io.Writer, st *state.Root, ref string, desc v1.Descriptor) error {
	idx, err := st.Store.Index(desc.Digest.String())
	if err != nil {
		return err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	type platformImage struct {
		Platform string         `json:"platform"`
		Digest   string         `json:"digest"`
		Manifest *v1.Manifest   `json:"manifest"`
		Config   *v1.ConfigFile `json:"config"`
	}
	out := struct {
		Name      string            `json:"name"`
		Digest    string            `json:"digest"`
		Index     *v1.IndexManifest `json:"index"`
		Platforms []platformImage   `json:"platforms"`
	}{Name: ref, Digest: desc.Digest.String(), Index: im}
	for _, d := range im.Manifests {
		if !d.MediaType.IsImage() || d.Platform == nil {
			continue
		}
		img, err := idx.Image(d.Digest)
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
		out.Platforms = append(out.Platforms, platformImage{build.FormatPlatform(*d.Platform), d.Digest.String(), m, cf})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

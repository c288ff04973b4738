package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/docker/go-units"
	"github.com/spf13/cobra"

	"github.com/bldbuild/bld/state"
)

func newDuCmd(g *globalOptions) *cobra.Command {
	var verbose bool
	var format string
	cmd := &cobra.Command{
		Use:   "du",
		Short: "Show the disk used by images, the build cache and cache mounts, and what prune would free",
		Long: `du prints a summary like docker system df: images, build cache and RUN
cache mounts, each with its size, what bld prune frees (RECLAIMABLE) and what
bld prune -a frees. The figures come from prune's own plan, so RECLAIMABLE is
exactly what the next bld prune frees. -v adds every layer and snapshot (who
made it, which images and cache records hold it, whether prune or prune -a
frees it) and every image's shared and unique size.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "table" && format != "json" {
				return fmt.Errorf("--format %s: want table or json", format)
			}
			st, err := g.openRoot(cmd.Context(), true)
			if err != nil {
				return err
			}
			u, err := st.Usage(cmd.Context())
			if err != nil {
				return err
			}
			if format == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(u)
			}
			printUsage(cmd.OutOrStdout(), u, verbose)
			return nil
		},
	}
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "list every layer, snapshot and image")
	cmd.Flags().StringVar(&format, "format", "table", "table or json")
	return cmd
}

func human(n int64) string { return units.HumanSizeWithPrecision(float64(n), 3) }

func ago(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return units.HumanDuration(time.Since(t)) + " ago"
}

func short(s string, n int) string {
	if len(s) > n {
		return s[:n-1] + "…"
	}
	return s
}

// shortDigest is a digest as docker shows it: 12 hex digits, no algorithm.
func shortDigest(d string) string {
	_, hex, _ := strings.Cut(d, ":")
	return hex[:min(len(hex), 12)]
}

func printUsage(w io.Writer, u *state.Usage, verbose bool) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TYPE\tTOTAL\tSIZE\tRECLAIMABLE\tRECLAIMABLE (-a)")
	for _, r := range u.Summary {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", r.Type, r.Count, human(r.Size), human(r.Reclaimable), human(r.ReclaimableAll))
	}
	tw.Flush()
	if verbose {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "LAYER\tSIZE\tCREATED BY\tIMAGES\tCACHE RECORDS\tLAST USED\tRECLAIMABLE")
		for _, b := range u.Blobs {
			if b.Kind != state.KindLayer {
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\n", shortDigest(b.Digest), human(b.Size), short(b.CreatedBy, 40), len(b.Images), b.Records, ago(b.LastUsed), reclaimable(b.Reclaimable, b.ReclaimableAll))
		}
		fmt.Fprintln(tw)
		fmt.Fprintln(tw, "SNAPSHOT\tSIZE\tCREATED BY\t\tCACHE RECORDS\tLAST USED\tRECLAIMABLE")
		for _, s := range u.Snapshots {
			fmt.Fprintf(tw, "%s\t%s\t%s\t\t%d\t%s\t%s\n", short(s.Name, 20), human(s.Size), short(s.CreatedBy, 40), s.Records, ago(s.LastUsed), reclaimable(s.Reclaimable, s.ReclaimableAll))
		}
		tw.Flush()
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "IMAGE\tSIZE\tSHARED SIZE\tUNIQUE SIZE")
		for _, i := range u.Images {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", i.Name, human(i.Size), human(i.Shared), human(i.Unique))
		}
		tw.Flush()
	}
	if n := len(u.Unreadable); n > 0 {
		fmt.Fprintf(w, "\n%d unreadable cache record(s), e.g. %s: %s (bld prune removes them)\n", n, u.Unreadable[0].Path, u.Unreadable[0].Err)
	}
	fmt.Fprintf(w, "\nTotal: %s   Shared: %s   Reclaimable: %s (bld prune), %s (bld prune -a)\n",
		human(u.Totals.All), human(u.Totals.Shared), human(u.Totals.Reclaimable), human(u.Totals.ReclaimableAll))
}

// reclaimable says which prune frees an item: "prune", "prune -a" or "no".
func reclaimable(plain, all bool) string {
	switch {
	case plain:
		return "prune"
	case all:
		return "prune -a"
	}
	return "no"
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/docker/go-units"
	"github.com/spf13/cobra"

	"github.com/bldbuild/bld/sandbox"
	"github.com/bldbuild/bld/state"
)

type pruneOptions struct {
	all         bool
	keepStorage string
	filters     []string
}

func newPruneCmd(g *globalOptions) *cobra.Command {
	var o pruneOptions
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Free disk space no image needs: build cache, snapshots, unused blobs",
		Long: `prune frees what no image in the store holds, least recently used first.
Without flags it removes only what nothing references (leftovers of removed
images and interrupted builds): exactly what bld du shows as RECLAIMABLE.
--filter until=DURATION drops cache records not used for that long,
--keep-storage SIZE drops the least recently used records until the whole
root (bld du's total) fits, or says what holds the rest, and -a drops every
cache record and empties the RUN cache mounts (bld du's RECLAIMABLE (-a)).
Layers an image needs are never removed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPrune(cmd.Context(), g, o, cmd.OutOrStdout())
		},
	}
	cmd.Flags().BoolVarP(&o.all, "all", "a", false, "remove all build cache, not just unreferenced data")
	cmd.Flags().StringVar(&o.keepStorage, "keep-storage", "", "drop least recently used cache until the root holds at most this much (e.g. 2GB; 0: no limit)")
	stringArrayVarP(cmd.Flags(), &o.filters, "filter", "", "until=DURATION: only cache not used for this long (e.g. 24h)")
	return cmd
}

func runPrune(ctx context.Context, g *globalOptions, o pruneOptions, w io.Writer) error {
	opts := state.PruneOptions{All: o.all}
	for _, f := range o.filters {
		k, v, _ := strings.Cut(f, "=")
		if k != "until" {
			return fmt.Errorf("--filter %s: only until=DURATION is supported", f)
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("--filter %s: %w", f, err)
		}
		opts.Until = d
	}
	if o.keepStorage != "" {
		n, err := units.RAMInBytes(o.keepStorage)
		if err != nil {
			return fmt.Errorf("--keep-storage %s: not a size", o.keepStorage)
		}
		opts.KeepStorage = n
	}
	st, err := g.openRoot(ctx, true)
	if err != nil {
		return err
	}
	var recoverErr error
	if os.Geteuid() == 0 {
		// Dead steps' cgroups and network namespaces; their scratch is
		// undone by Open and Prune.
		recoverErr = sandbox.Recover(ctx)
	}
	rep, err := st.Prune(ctx, opts)
	if rep != nil {
		printPruned(w, rep)
	}
	return errors.Join(err, recoverErr)
}

// printPruned lists what prune freed and the total; after an error, what it
// freed before the error.
func printPruned(w io.Writer, rep *state.PruneReport) {
	for _, f := range rep.Freed {
		switch f.Kind {
		case state.FreedSnapshot:
			fmt.Fprintf(w, "deleted snapshot %s\t%s\n", short(f.Name, 20), human(f.Size))
		case state.FreedBlob:
			fmt.Fprintf(w, "deleted blob %s\t%s\n", shortDigest(f.Name), human(f.Size))
		case state.FreedCacheMounts:
			fmt.Fprintf(w, "deleted RUN cache mounts\t%s\n", human(f.Size))
		}
	}
	fmt.Fprintf(w, "Deleted %d cache records. Total reclaimed space: %s\n", rep.Records, human(rep.Total))
	if p := rep.Pinned; p != nil {
		fmt.Fprintf(w, "Still %s after dropping every cache record, above --keep-storage: images hold %s (bld rmi frees them), RUN cache mounts %s (bld prune -a empties them), running builds %s\n",
			human(p.Left), human(p.Images), human(p.CacheMounts), human(p.Live))
	}
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/docker/go-units"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"github.com/bldbuild/bld/cache"
	"github.com/bldbuild/bld/snapshot"
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
images and interrupted builds); --filter until=DURATION drops cache records
not used for that long, --keep-storage SIZE drops the oldest records until
the build cache fits, and -a drops every cache record. Layers an image
needs are never removed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPrune(cmd.Context(), g, o, cmd.OutOrStdout())
		},
	}
	cmd.Flags().BoolVarP(&o.all, "all", "a", false, "remove all build cache, not just unreferenced data")
	cmd.Flags().StringVar(&o.keepStorage, "keep-storage", "", "keep at most this much build cache (e.g. 2GB)")
	cmd.Flags().StringArrayVar(&o.filters, "filter", nil, "until=DURATION: only cache not used for this long (e.g. 24h)")
	return cmd
}

func runPrune(ctx context.Context, g *globalOptions, o pruneOptions, w io.Writer) error {
	var until time.Duration
	for _, f := range o.filters {
		k, v, _ := strings.Cut(f, "=")
		if k != "until" {
			return fmt.Errorf("--filter %s: only until=DURATION is supported", f)
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("--filter %s: %w", f, err)
		}
		until = d
	}
	keep := int64(-1)
	if o.keepStorage != "" {
		n, err := units.RAMInBytes(o.keepStorage)
		if err != nil {
			return fmt.Errorf("--keep-storage %s: not a size", o.keepStorage)
		}
		keep = n
	}
	st, err := openState(g, true)
	if err != nil {
		return err
	}
	unlock, err := lockRoot(st.root, true)
	if err != nil {
		return err
	}
	defer unlock()

	images, _, err := imageBlobs(st)
	if err != nil {
		return err
	}
	needed := map[v1.Hash]bool{}
	for _, descs := range images {
		for _, d := range descs {
			needed[d.Digest] = true
		}
	}

	// Records, oldest first, and which of them go.
	var recs []cache.Record
	var unreadable []cache.Unreadable
	if err := st.cache.Walk(func(r cache.Record) error { recs = append(recs, r); return nil },
		func(u cache.Unreadable) error { unreadable = append(unreadable, u); return nil }); err != nil {
		return err
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].LastUsed.Before(recs[j].LastUsed) })
	var freed int64
	dropped := 0
	// A record file no bld can read (torn by a crash) is only a miss: it goes.
	for _, u := range unreadable {
		if err := os.Remove(u.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove unreadable cache record: %w", err)
		}
		dropped++
		freed += u.Size
	}
	drop := func(r cache.Record) error {
		dropped++
		return st.cache.Delete(r.Key)
	}
	var kept []cache.Record
	cacheSize := func(rs []cache.Record) int64 {
		var n int64
		for _, r := range rs {
			if r.Layer != nil && !needed[r.Layer.Digest] {
				n += r.Layer.Size
			}
		}
		return n
	}
	for i, r := range recs {
		old := until > 0 && time.Since(r.LastUsed) > until
		switch {
		case o.all && (until == 0 || old), old:
			if err := drop(r); err != nil {
				return err
			}
		case keep >= 0 && cacheSize(recs[i:]) > keep:
			if err := drop(r); err != nil {
				return err
			}
		default:
			kept = append(kept, r)
		}
	}
	for _, r := range kept {
		if r.Layer != nil {
			needed[r.Layer.Digest] = true
		}
	}

	// Snapshots: keep those kept records use, and their parents.
	n, err := pruneSnapshots(ctx, st.snaps, kept, w)
	if err != nil {
		return err
	}
	freed += n

	// Blobs no image and no kept record needs.
	var orphans []v1.Hash
	var sizes []int64
	if err := st.store.Blobs(func(h v1.Hash, size int64) error {
		if !needed[h] {
			orphans = append(orphans, h)
			sizes = append(sizes, size)
		}
		return nil
	}); err != nil {
		return err
	}
	for i, h := range orphans {
		if err := st.store.Delete(h); err != nil {
			return err
		}
		fmt.Fprintf(w, "deleted blob %s\t%s\n", h.Hex[:12], human(sizes[i]))
		freed += sizes[i]
	}
	if o.all {
		dir := filepath.Join(st.root, "cachemounts")
		if n, err := dirSize(dir); err == nil && n > 0 {
			if err := os.RemoveAll(dir); err != nil {
				return err
			}
			fmt.Fprintf(w, "deleted RUN cache mounts\t%s\n", human(n))
			freed += n
		}
	}
	fmt.Fprintf(w, "Deleted %d cache records. Total reclaimed space: %s\n", dropped, human(freed))
	return nil
}

// pruneSnapshots removes every snapshot the kept records do not need,
// children before parents, and returns the bytes freed.
func pruneSnapshots(ctx context.Context, sn snapshot.Snapshotter, kept []cache.Record, w io.Writer) (int64, error) {
	infos := map[string]snapshot.Info{}
	if err := sn.Walk(ctx, func(i snapshot.Info) error { infos[i.Name] = i; return nil }); err != nil {
		return 0, err
	}
	keep := map[string]bool{}
	for _, r := range kept {
		for s := r.Snapshot; s != "" && !keep[s]; s = infos[s].Parent {
			keep[s] = true
		}
	}
	var freed int64
	for progress := true; progress; {
		progress = false
		hasChild := map[string]bool{}
		for _, i := range infos {
			hasChild[i.Parent] = true
		}
		for name, i := range infos {
			if keep[name] || hasChild[name] {
				continue
			}
			size, _ := sn.Usage(ctx, name)
			if err := sn.Remove(ctx, name); err != nil && !errors.Is(err, snapshot.ErrNotFound) {
				return freed, fmt.Errorf("remove snapshot %s: %w", name, err)
			}
			fmt.Fprintf(w, "deleted snapshot %s\t%s\n", short(i.Name, 20), human(size))
			freed += size
			delete(infos, name)
			progress = true
		}
	}
	return freed, nil
}

func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return err
	})
	return n, err
}

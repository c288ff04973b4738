package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/docker/go-units"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"github.com/bldbuild/bld/cache"
	"github.com/bldbuild/bld/snapshot"
)

// usage is what the root holds, and who holds each piece.
type usage struct {
	Blobs     []*blobUse  `json:"blobs"`
	Snapshots []*snapUse  `json:"snapshots"`
	Images    []*imageUse `json:"images"`
	Totals    totals      `json:"totals"`
}

type blobUse struct {
	Digest      string    `json:"digest"`
	Size        int64     `json:"size"`
	Kind        string    `json:"kind"` // layer, config, manifest, other
	CreatedBy   string    `json:"createdBy,omitempty"`
	Images      []string  `json:"images,omitempty"`
	Records     int       `json:"cacheRecords"`
	LastUsed    time.Time `json:"lastUsed,omitzero"`
	Reclaimable bool      `json:"reclaimable"`
}

type snapUse struct {
	Name        string    `json:"name"`
	Size        int64     `json:"size"`
	CreatedBy   string    `json:"createdBy,omitempty"`
	Records     int       `json:"cacheRecords"`
	LastUsed    time.Time `json:"lastUsed,omitzero"`
	Reclaimable bool      `json:"reclaimable"`
}

type imageUse struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	Shared int64  `json:"sharedSize"`
	Unique int64  `json:"uniqueSize"`
}

type totals struct {
	All         int64 `json:"all"`
	Shared      int64 `json:"shared"`
	Reclaimable int64 `json:"reclaimable"`
}

// imageBlobs maps each named image to the blobs it needs (manifest,
// config, layers), and names every layer's instruction from its history.
func imageBlobs(st *state) (map[string][]v1.Descriptor, map[v1.Hash]string, error) {
	list, err := st.store.Images()
	if err != nil {
		return nil, nil, err
	}
	out := map[string][]v1.Descriptor{}
	createdBy := map[v1.Hash]string{}
	for _, n := range list {
		img, err := st.store.Image(n.Descriptor.Digest.String())
		if err != nil {
			continue
		}
		m, err := img.Manifest()
		if err != nil {
			continue
		}
		descs := append([]v1.Descriptor{n.Descriptor, m.Config}, m.Layers...)
		out[n.Name] = descs
		if cf, err := img.ConfigFile(); err == nil {
			i := 0
			for _, h := range cf.History {
				if h.EmptyLayer {
					continue
				}
				if i < len(m.Layers) {
					if _, ok := createdBy[m.Layers[i].Digest]; !ok {
						createdBy[m.Layers[i].Digest] = strings.TrimSuffix(h.CreatedBy, " # buildkit")
					}
				}
				i++
			}
		}
	}
	return out, createdBy, nil
}

func measure(ctx context.Context, st *state) (*usage, error) {
	images, createdBy, err := imageBlobs(st)
	if err != nil {
		return nil, err
	}
	users := map[v1.Hash][]string{}
	for name, descs := range images {
		for _, d := range descs {
			if !contains(users[d.Digest], name) {
				users[d.Digest] = append(users[d.Digest], name)
			}
		}
	}
	recLayers := map[v1.Hash][]cache.Record{}
	recSnaps := map[string][]cache.Record{}
	err = st.cache.Walk(func(r cache.Record) error {
		if r.Layer != nil {
			recLayers[r.Layer.Digest] = append(recLayers[r.Layer.Digest], r)
		}
		if r.Snapshot != "" {
			recSnaps[r.Snapshot] = append(recSnaps[r.Snapshot], r)
		}
		return nil
	}, nil) // unreadable record files hold no blob or snapshot; prune removes them
	if err != nil {
		return nil, err
	}
	u := &usage{}
	kinds := map[v1.Hash]string{}
	for _, descs := range images {
		for i, d := range descs {
			kinds[d.Digest] = [...]string{"manifest", "config"}[min(i, 1)]
			if i >= 2 {
				kinds[d.Digest] = "layer"
			}
		}
	}
	err = st.store.Blobs(func(h v1.Hash, size int64) error {
		b := &blobUse{Digest: h.String(), Size: size, Kind: kinds[h], Images: users[h], CreatedBy: createdBy[h]}
		if b.Kind == "" {
			b.Kind = "layer"
		}
		sort.Strings(b.Images)
		for _, r := range recLayers[h] {
			b.Records++
			if b.CreatedBy == "" {
				b.CreatedBy = r.CreatedBy
			}
			if r.LastUsed.After(b.LastUsed) {
				b.LastUsed = r.LastUsed
			}
		}
		b.Reclaimable = len(b.Images) == 0
		u.Blobs = append(u.Blobs, b)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if st.snaps != nil {
		err = st.snaps.Walk(ctx, func(info snapshot.Info) error {
			size, _ := st.snaps.Usage(ctx, info.Name)
			s := &snapUse{Name: info.Name, Size: size, Reclaimable: true, LastUsed: info.Created}
			for _, r := range recSnaps[info.Name] {
				s.Records++
				if s.CreatedBy == "" {
					s.CreatedBy = r.CreatedBy
				}
				if r.LastUsed.After(s.LastUsed) {
					s.LastUsed = r.LastUsed
				}
			}
			if s.CreatedBy == "" && strings.HasPrefix(info.Name, "layer-") {
				s.CreatedBy = "base image layer"
			}
			u.Snapshots = append(u.Snapshots, s)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	blobSize := map[v1.Hash]int64{}
	for _, b := range u.Blobs {
		h, _ := v1.NewHash(b.Digest)
		blobSize[h] = b.Size
		u.Totals.All += b.Size
		if len(b.Images) > 1 {
			u.Totals.Shared += b.Size
		}
		if b.Reclaimable {
			u.Totals.Reclaimable += b.Size
		}
	}
	for _, s := range u.Snapshots {
		u.Totals.All += s.Size
		u.Totals.Reclaimable += s.Size
	}
	for name, descs := range images {
		iu := &imageUse{Name: name}
		seen := map[v1.Hash]bool{}
		for _, d := range descs {
			if seen[d.Digest] {
				continue
			}
			seen[d.Digest] = true
			size := blobSize[d.Digest]
			iu.Size += size
			if len(users[d.Digest]) > 1 {
				iu.Shared += size
			} else {
				iu.Unique += size
			}
		}
		u.Images = append(u.Images, iu)
	}
	sort.Slice(u.Images, func(i, j int) bool { return u.Images[i].Name < u.Images[j].Name })
	sort.Slice(u.Blobs, func(i, j int) bool { return u.Blobs[i].Size > u.Blobs[j].Size })
	sort.Slice(u.Snapshots, func(i, j int) bool { return u.Snapshots[i].Size > u.Snapshots[j].Size })
	return u, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func newDuCmd(g *globalOptions) *cobra.Command {
	var verbose bool
	var format string
	cmd := &cobra.Command{
		Use:   "du",
		Short: "Show the disk used by layers, snapshots and the build cache, and who shares it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := openState(g, true)
			if err != nil {
				return err
			}
			u, err := measure(cmd.Context(), st)
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
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "add per-image size, shared size and unique size")
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

func printUsage(w io.Writer, u *usage, verbose bool) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LAYER\tSIZE\tCREATED BY\tIMAGES\tCACHE RECORDS\tLAST USED\tRECLAIMABLE")
	for _, b := range u.Blobs {
		if b.Kind != "layer" {
			continue
		}
		h, _ := v1.NewHash(b.Digest)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%v\n", h.Hex[:12], human(b.Size), short(b.CreatedBy, 40), len(b.Images), b.Records, ago(b.LastUsed), b.Reclaimable)
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "SNAPSHOT\tSIZE\tCREATED BY\t\tCACHE RECORDS\tLAST USED\tRECLAIMABLE")
	for _, s := range u.Snapshots {
		fmt.Fprintf(tw, "%s\t%s\t%s\t\t%d\t%s\t%v\n", short(s.Name, 20), human(s.Size), short(s.CreatedBy, 40), s.Records, ago(s.LastUsed), s.Reclaimable)
	}
	tw.Flush()
	if verbose {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "IMAGE\tSIZE\tSHARED SIZE\tUNIQUE SIZE")
		for _, i := range u.Images {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", i.Name, human(i.Size), human(i.Shared), human(i.Unique))
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "\nTotal: %s   Shared: %s   Reclaimable: %s\n", human(u.Totals.All), human(u.Totals.Shared), human(u.Totals.Reclaimable))
}

package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/bldbuild/bld/state"
)

// globalOptions are the flags every command shares.
type globalOptions struct {
	root     string
	insecure []string
}

// openRoot opens the --root state directory; with snapshots also the
// snapshotter (which probes overlayfs on a new root).
func (g *globalOptions) openRoot(ctx context.Context, snapshots bool) (*state.Root, error) {
	return state.Open(ctx, g.root, state.Options{Snapshots: snapshots})
}

func newRootCmd() *cobra.Command {
	g := &globalOptions{}
	cmd := &cobra.Command{
		Use:           "bld",
		Short:         "Build container images from Dockerfiles, without a daemon",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       versionString(),
	}
	cmd.SetVersionTemplate("bld {{.Version}}\n")
	cmd.PersistentFlags().StringVar(&g.root, "root", state.DefaultDir(), "state directory (env BLD_ROOT)")
	stringSliceVarP(cmd.PersistentFlags(), &g.insecure, "insecure-registry", "", "registry reached over plain HTTP: NAME (any port) or NAME:PORT (that port only); loopback hosts always are")
	cmd.AddCommand(
		newBuildCmd(g),
		newImportCmd(g),
		newImagesCmd(g),
		newInspectCmd(g),
		newTagCmd(g),
		newRmCmd(g),
		newPushCmd(g),
		newVersionCmd(g),
		newSaveCmd(g),
		newLoadCmd(g),
		newDuCmd(g),
		newPruneCmd(g),
		newCheckCmd(g),
		newHistoryCmd(g),
		newLintCmd(g),
		newLoginCmd(g),
		newBinfmtCmd(g),
	)
	return cmd
}

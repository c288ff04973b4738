package main

import (
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
)

// globalOptions are the flags every command shares.
type globalOptions struct {
	root     string
	insecure []string
}

func defaultRoot() string {
	if r := os.Getenv("BLD_ROOT"); r != "" {
		return r
	}
	if os.Geteuid() == 0 {
		return "/var/lib/bld"
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "bld")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".local", "share", "bld")
}

func newRootCmd() *cobra.Command {
	g := &globalOptions{}
	cmd := &cobra.Command{
		Use:           "bld",
		Short:         "Build container images from Dockerfiles, without a daemon",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cmd.PersistentFlags().StringVar(&g.root, "root", defaultRoot(), "state directory (env BLD_ROOT)")
	cmd.PersistentFlags().StringSliceVar(&g.insecure, "insecure-registry", nil, "registry reached over plain HTTP: NAME (any port) or NAME:PORT (that port only); loopback hosts always are")
	cmd.AddCommand(
		newBuildCmd(g),
		newImportCmd(g),
		newImagesCmd(g),
		newInspectCmd(g),
		newTagCmd(g),
		newRmCmd(g),
		newPushCmd(g),
		newVersionCmd(g),
		newDuCmd(g),
		newPruneCmd(g),
		newHistoryCmd(g),
		newLintCmd(g),
		newLoginCmd(g),
	)
	return cmd
}

package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/bldbuild/bld/sandbox"
)

// version is set at link time (-ldflags "-X main.version=...").
var version = "dev"

// versionString is bld's version, Go version and platform.
func versionString() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	return fmt.Sprintf("%s %s %s/%s", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func newVersionCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Aliases: []string{"info"},
		Short:   "Print version and environment information",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "bld %s\n", versionString())
			fmt.Fprintf(w, "root: %s\n", g.root)
			fmt.Fprintf(w, "step init: %s\n", sandbox.InitProgram())
			st, err := g.openRoot(cmd.Context(), true)
			if err != nil {
				fmt.Fprintf(w, "snapshotter: unavailable (%v)\n", err)
				return nil
			}
			fmt.Fprintf(w, "snapshotter: %s\n", st.Snapshots.Name())
			return nil
		},
	}
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/bldbuild/bld/sandbox"
)

func newCheckCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "Verify the state root: blobs, images, build cache, leftover scratch",
		Long: `check verifies the state root: every blob's content against its digest
and size, every named image's manifests, config and layers present, every
build cache record's snapshot and layer present, and no scratch left by a
dead bld process. Opening the root first undoes what crashed builds left
(mounts, secrets, scratch directories, step cgroups), so check reports
what that could not undo. It prints each problem and exits non-zero if
there is any. It runs beside builds, not during a prune.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCheck(cmd.Context(), g, cmd.OutOrStdout())
		},
	}
}

func runCheck(ctx context.Context, g *globalOptions, w io.Writer) error {
	st, err := g.openRoot(ctx, true)
	if err != nil {
		return err
	}
	var recoverErr error
	if os.Geteuid() == 0 {
		recoverErr = sandbox.Recover(ctx)
	}
	rep, err := st.Verify(ctx)
	if err != nil {
		return err
	}
	for _, p := range rep.Problems {
		fmt.Fprintln(w, p)
	}
	fmt.Fprintf(w, "checked %d blobs, %d images, %d cache records, %d snapshots: %d problems\n",
		rep.Blobs, rep.Images, rep.Records, rep.Snapshots, len(rep.Problems))
	if recoverErr != nil {
		return fmt.Errorf("recover dead build steps: %w", recoverErr)
	}
	if !rep.OK() {
		return errors.New("the state root has problems")
	}
	return nil
}

package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/bldbuild/bld/build"
	"github.com/bldbuild/bld/internal/atomicfile"
)

func newSaveCmd(g *globalOptions) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "save [-o FILE] IMAGE...",
		Short: "Write stored images to a docker archive (as docker save)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			root, err := g.openRoot(cmd.Context(), false)
			if err != nil {
				return err
			}
			if out == "" || out == "-" {
				w := cmd.OutOrStdout()
				if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
					return errors.New("save: refusing to write an archive to a terminal (use -o FILE or a pipe)")
				}
				return build.Save(cmd.Context(), root, w, args)
			}
			f, err := atomicfile.Create(out, 0o644)
			if err != nil {
				return fmt.Errorf("save: %w", err)
			}
			defer f.Abort()
			if err := build.Save(cmd.Context(), root, f, args); err != nil {
				return err
			}
			return f.Commit()
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "write to this file instead of standard output")
	return cmd
}

func newLoadCmd(g *globalOptions) *cobra.Command {
	var in string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "load [-i FILE]",
		Short: "Read images from a docker archive into the store (as docker load)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			root, err := g.openRoot(cmd.Context(), false)
			if err != nil {
				return err
			}
			path := in
			if path == "" || path == "-" {
				// The archive format needs random access: spool standard
				// input under the root's scratch directory.
				f, err := os.CreateTemp(root.TmpDir(), "load-*.tar")
				if err != nil {
					return fmt.Errorf("load: %w", err)
				}
				defer os.Remove(f.Name())
				_, err = io.Copy(f, cmd.InOrStdin())
				if cerr := f.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					return fmt.Errorf("load: read standard input: %w", err)
				}
				path = f.Name()
			}
			names, err := build.Load(cmd.Context(), root, path)
			if err != nil {
				return err
			}
			for _, n := range names {
				if quiet {
					fmt.Fprintln(cmd.OutOrStdout(), n)
				} else {
					fmt.Fprintf(cmd.OutOrStdout(), "Loaded image: %s\n", n)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&in, "input", "i", "", "read from this file instead of standard input")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the image names")
	return cmd
}

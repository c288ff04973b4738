package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/bldbuild/bld/build"
	"github.com/bldbuild/bld/frontend/check"
	"github.com/bldbuild/bld/state"
)

type lintOptions struct {
	file      string
	format    string
	explain   string
	skip      []string
	errors    bool
	buildArgs []string
	target    string
}

// errChecksFailed is returned when a check set to error fires.
var errChecksFailed = errors.New("build checks failed")

func newLintCmd(g *globalOptions) *cobra.Command {
	var o lintOptions
	cmd := &cobra.Command{
		Use:   "lint [-f FILE] [CONTEXT]",
		Short: "Check a Dockerfile (and its context) for known pitfalls",
		Long: `lint runs BuildKit's build checks and bld's own on a Dockerfile and prints
FILE:LINE RULE: message, with a one-line fix. It exits non-zero only when a
rule set to error fires (# check=error=true, or --error). Rules are skipped
with # check=skip=RULE1,RULE2 in the Dockerfile or --check-skip.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.explain != "" {
				text, ok := check.Explain(o.explain)
				if !ok {
					return fmt.Errorf("no rule named %q (bld lint --explain list)", o.explain)
				}
				fmt.Fprint(cmd.OutOrStdout(), text)
				return nil
			}
			ctxDir := "."
			if len(args) == 1 {
				ctxDir = args[0]
			}
			return runLint(g, o, ctxDir, cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.file, "file", "f", "", "name of the Dockerfile (default CONTEXT/Dockerfile; - for stdin)")
	f.StringVar(&o.format, "format", "text", "text or json")
	f.StringVar(&o.explain, "explain", "", "print the long explanation of a rule (\"list\" lists the rules)")
	stringSliceVarP(f, &o.skip, "check-skip", "", "rules to skip (all for every rule)")
	f.BoolVar(&o.errors, "error", false, "treat warnings as errors")
	stringArrayVarP(f, &o.buildArgs, "build-arg", "", "build-time variables, as for build")
	f.StringVar(&o.target, "target", "", "check the stages this target needs")
	return cmd
}

func runLint(g *globalOptions, o lintOptions, ctxDir string, stdin io.Reader, w io.Writer) error {
	opts := build.Options{ContextDir: ctxDir, DockerfilePath: o.file, Target: o.target}
	if opts.DockerfilePath == "" || opts.DockerfilePath == "-" {
		opts.DockerfilePath = filepath.Join(ctxDir, "Dockerfile")
	}
	var err error
	if o.file == "-" {
		opts.Dockerfile, err = io.ReadAll(stdin)
	} else {
		opts.Dockerfile, err = os.ReadFile(opts.DockerfilePath)
	}
	if err != nil {
		return fmt.Errorf("read Dockerfile: %w", err)
	}
	if opts.BuildArgs, err = build.ParseKV(o.buildArgs, true); err != nil {
		return fmt.Errorf("--build-arg: %w", err)
	}
	opts.Root = checkRoot(g)
	findings, failed, err := build.Check(opts, build.CheckOptions{Skip: o.skip, AsErrors: o.errors, Validate: true})
	if ferr := check.Format(w, findings, o.format); ferr != nil {
		return ferr
	}
	if err != nil {
		return err // the error the build would raise from this Dockerfile
	}
	if failed {
		return errChecksFailed
	}
	return nil
}

// checkRoot opens the store alone (no snapshots: nothing long to cancel)
// for the checks' base image sizes; nil when it cannot be opened, since
// the checks then only say less.
func checkRoot(g *globalOptions) *state.Root {
	st, err := g.openRoot(context.Background(), false)
	if err != nil {
		return nil
	}
	return st
}

// preBuildChecks runs the checks before a build. With --check it prints
// every finding (and the error the build would raise) and the build stops
// there; otherwise it prints the findings only when a rule set to error
// fires, which fails the build. Warnings are postBuildChecks'. root is the
// build's, already open; nil (--check) opens the store alone.
func preBuildChecks(g *globalOptions, root *state.Root, o buildOptions, opts build.Options, w io.Writer) error {
	copts := build.CheckOptions{Skip: o.checkSkip, Validate: o.check}
	if !o.check && !build.ChecksCanFail(opts, copts) {
		return nil // nothing to print and nothing to fail: the warnings come after the build
	}
	opts.Root = root
	if root == nil {
		opts.Root = checkRoot(g)
	}
	findings, failed, err := build.Check(opts, copts)
	if err != nil && !o.check {
		// The build reports the Dockerfile's errors with their line; say
		// nothing twice.
		return nil
	}
	if o.check || failed {
		if ferr := check.Format(w, findings, "text"); ferr != nil {
			return ferr
		}
	}
	if err != nil {
		return err
	}
	if failed {
		return errChecksFailed
	}
	return nil
}

// postBuildChecks prints the build check warnings once, after the build
// (as BuildKit does), whether it succeeded or not. They are run again
// against root: the base images the build pulled are in it now, so the
// rules that read their config (RootUser) know it. Quiet progress prints
// none; rawjson prints each as one object, {"warning": FINDING}, as
// BuildKit's rawjson carries its warnings in the stream.
func postBuildChecks(root *state.Root, o buildOptions, opts build.Options, w io.Writer, mode string) {
	if mode == "quiet" || o.check {
		return
	}
	opts.Root = root
	findings, _, _ := build.Check(opts, build.CheckOptions{Skip: o.checkSkip})
	if len(findings) == 0 {
		return
	}
	if mode == "rawjson" {
		for _, f := range findings {
			if b, err := json.Marshal(map[string]any{"warning": f}); err == nil {
				fmt.Fprintf(w, "%s\n", b)
			}
		}
		return
	}
	fmt.Fprintf(w, "%d build check warning(s) found (bld lint --explain RULE for more):\n", len(findings))
	_ = check.Format(w, findings, "text") // w is stderr: nothing to do about a failed write
}

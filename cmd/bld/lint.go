package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/bldbuild/bld/build"

	"github.com/spf13/cobra"

	"github.com/bldbuild/bld/frontend"
	"github.com/bldbuild/bld/frontend/check"
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
			return runLint(g, o, ctxDir, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.file, "file", "f", "", "name of the Dockerfile (default CONTEXT/Dockerfile)")
	f.StringVar(&o.format, "format", "text", "text or json")
	f.StringVar(&o.explain, "explain", "", "print the long explanation of a rule (\"list\" lists the rules)")
	f.StringSliceVar(&o.skip, "check-skip", nil, "rules to skip (all for every rule)")
	f.BoolVar(&o.errors, "error", false, "treat warnings as errors")
	f.StringArrayVar(&o.buildArgs, "build-arg", nil, "build-time variables, as for build")
	f.StringVar(&o.target, "target", "", "check the stages this target needs")
	return cmd
}

func runLint(g *globalOptions, o lintOptions, ctxDir string, w io.Writer) error {
	df := o.file
	if df == "" {
		df = filepath.Join(ctxDir, "Dockerfile")
	}
	data, err := os.ReadFile(df)
	if err != nil {
		return fmt.Errorf("read Dockerfile: %w", err)
	}
	args, err := parseKV(o.buildArgs, true)
	if err != nil {
		return fmt.Errorf("--build-arg: %w", err)
	}
	opt, err := checkOptions(g, ctxDir, df, args, o.target, o.skip, o.errors)
	if err != nil {
		return err
	}
	findings, err := check.Check(data, opt)
	if err != nil {
		return err
	}
	if err := check.Format(w, findings, o.format); err != nil {
		return err
	}
	if check.Failed(findings, opt, data) {
		return errChecksFailed
	}
	return nil
}

// checkOptions fills check.Options for a context: its .dockerignore (the
// frontend's matcher, so Dockerfile-specific ignore files count) and the
// local sizes of base images.
func checkOptions(g *globalOptions, ctxDir, dockerfile string, args map[string]string, target string, skip []string, asErrors bool) (check.Options, error) {
	ign, err := frontend.LoadIgnore(ctxDir, dockerfile)
	if err != nil {
		return check.Options{}, err
	}
	opt := check.Options{
		Filename:   filepath.Base(dockerfile),
		ContextDir: ctxDir,
		Ignore:     ign.Excluded,
		Skip:       skip,
		Error:      asErrors,
		BuildArgs:  args,
		Target:     target,
	}
	// The store alone (no snapshots): opening it does no long work to cancel.
	if st, err := g.openRoot(context.Background(), false); err == nil {
		opt.BaseSize = func(ref string) (int64, bool) {
			desc, err := st.Store.Resolve(ref)
			if err != nil {
				return 0, false
			}
			img, err := st.Store.Image(desc.Digest.String())
			if err != nil {
				return 0, false
			}
			return imageSize(img), true
		}
	}
	return opt, nil
}

// preBuildChecks runs the checks before a build: a summary line, or every
// finding in plain progress. It fails the build when a rule set to error
// fires.
func preBuildChecks(g *globalOptions, o buildOptions, opts build.Options, w io.Writer, mode string) error {
	opt, err := checkOptions(g, opts.ContextDir, opts.DockerfilePath, opts.BuildArgs, o.target, o.checkSkip, false)
	if err != nil {
		return err
	}
	opt.Filename = opts.DockerfileName
	findings, err := check.Check(opts.Dockerfile, opt)
	if err != nil {
		if o.check {
			return err // --check builds nothing: the error is the answer
		}
		// The frontend reports parse errors with their line; say nothing twice.
		return nil
	}
	failed := check.Failed(findings, opt, opts.Dockerfile)
	switch {
	case o.check || mode == "plain" || failed:
		if err := check.Format(w, findings, "text"); err != nil {
			return err
		}
	case len(findings) > 0 && mode != "quiet" && mode != "rawjson":
		rules := map[string]bool{}
		var names []string
		for _, f := range findings {
			if !rules[f.Rule] {
				rules[f.Rule] = true
				names = append(names, f.Rule)
			}
		}
		fmt.Fprintf(w, "%d build check warning(s): %s (bld lint or --progress plain for details)\n", len(findings), strings.Join(names, ", "))
	}
	if failed {
		return errChecksFailed
	}
	return nil
}

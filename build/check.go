package build

import (
	"path/filepath"

	"github.com/bldbuild/bld/frontend"
	"github.com/bldbuild/bld/frontend/check"
)

// CheckOptions say which build checks Check runs and how.
type CheckOptions struct {
	Skip     []string // rules to skip ("all" for every rule)
	AsErrors bool     // every finding fails the checks (lint --error)
}

// Check runs the build checks (frontend/check) on o's Dockerfile as the
// build would see it: o.Dockerfile (which must be loaded: Prepare loads
// it), its build args and target, the .dockerignore the build would use
// (Dockerfile-specific ignore files count) and, when o.Root is set, the
// local size of each base image in o.Root's store. failed says whether a
// rule set to error fired. An error is a Dockerfile check could not read
// (its parse error, with the line).
func Check(o Options, c CheckOptions) (findings []check.Finding, failed bool, err error) {
	dockerfile := o.DockerfilePath
	if dockerfile == "" {
		dockerfile = filepath.Join(o.ContextDir, "Dockerfile")
	}
	ign, err := frontend.LoadIgnoreWith(o.ContextDir, dockerfile, frontend.IgnoreOptions{MaxPatterns: o.Limits.IgnorePatterns})
	if err != nil {
		return nil, false, err
	}
	opt := check.Options{
		Filename:   o.DockerfileName,
		ContextDir: o.ContextDir,
		Ignore:     ign.Excluded,
		Skip:       c.Skip,
		Error:      c.AsErrors,
		BuildArgs:  o.BuildArgs,
		Target:     o.Target,
	}
	if opt.Filename == "" {
		opt.Filename = filepath.Base(dockerfile)
	}
	if o.Root != nil {
		opt.BaseSize = func(ref string) (int64, bool) {
			_, img, err := LocalImage(o.Root, ref)
			if err != nil {
				return 0, false // not stored: the rule says nothing of its size
			}
			return ImageSize(img), true
		}
	}
	findings, err = check.Check(o.Dockerfile, opt)
	if err != nil {
		return nil, false, err
	}
	return findings, check.Failed(findings, opt, o.Dockerfile), nil
}

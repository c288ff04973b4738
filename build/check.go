package build

import (
	"context"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bldbuild/bld/frontend"
	"github.com/bldbuild/bld/frontend/check"
	"github.com/bldbuild/bld/state"
)

// CheckOptions say which build checks Check runs and how.
type CheckOptions struct {
	Skip     []string // rules to skip ("all" for every rule)
	AsErrors bool     // every finding fails the checks (lint --error)
	// Validate also runs the build's own parse and validation (lint and
	// --check, which build nothing; a build raises those errors itself).
	Validate bool
}

// Check runs the build checks (frontend/check) on o's Dockerfile as the
// build would see it: o.Dockerfile (which must be loaded: Prepare loads
// it), its build args and target, the .dockerignore the build would use
// (Dockerfile-specific ignore files count) and, when o.Root is set, the
// local size and USER of each base image in o.Root's store. failed says
// whether a rule set to error fired.
//
// With c.Validate it then runs the build's own parse and validation
// (frontend.Parse, with the base images of o.Root's store, or empty ones
// for those it lacks), so every error the build would raise from the
// Dockerfile alone is Check's error too (a *frontend.Error with the
// line), returned with the findings. An error with no findings is a Dockerfile the checks could not read.
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
		opt.BaseUser = func(ref string) (string, bool) {
			cfg, ok := localConfig(o.Root, ref)
			if !ok {
				return "", false
			}
			return cfg.Config.User, true
		}
	}
	findings, err = check.Check(o.Dockerfile, opt)
	if err != nil {
		return nil, false, err
	}
	failed = check.Failed(findings, opt, o.Dockerfile)
	if !c.Validate {
		return findings, failed, nil
	}
	return findings, failed, validate(o, opt.Filename)
}

// localConfig returns the config of the image ref names in root's store.
func localConfig(root *state.Root, ref string) (*v1.ConfigFile, bool) {
	if root == nil {
		return nil, false
	}
	_, img, err := LocalImage(root, ref)
	if err != nil {
		return nil, false
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, false
	}
	return cfg, true
}

// validate runs the build's parse and validation of o's Dockerfile
// without building: base images come from o.Root's store when it has
// them, else as empty images (what a base image adds cannot make a valid
// Dockerfile invalid, but ONBUILD triggers of a base not here go
// unchecked).
func validate(o Options, filename string) error {
	platform := HostPlatform()
	if o.Platform != nil {
		platform = *o.Platform
	}
	_, err := frontend.Parse(context.Background(), o.Dockerfile, frontend.Options{
		Filename:      filename,
		BuildArgs:     o.BuildArgs,
		Target:        o.Target,
		Platform:      platform,
		BuildPlatform: HostPlatform(),
		Labels:        o.Labels,
		Limits:        o.Limits.Frontend,
		Resolve: func(_ context.Context, ref string, _ v1.Platform) (*frontend.Image, error) {
			img := &frontend.Image{Ref: ref}
			if cfg, ok := localConfig(o.Root, ref); ok {
				img.Config = cfg
			}
			return img, nil
		},
	})
	return err
}

// ChecksCanFail reports whether Check could report failed for o's
// Dockerfile: a rule is an error by itself, or c.AsErrors or the
// Dockerfile's check directive (error=true) makes warnings errors. A build
// prints the checks' findings before it runs only when they fail it, so
// when they cannot it skips them (and their base image look-ups).
func ChecksCanFail(o Options, c CheckOptions) bool {
	for _, r := range check.Rules() {
		if r.Severity == check.Error {
			return true
		}
	}
	return check.Failed([]check.Finding{{Severity: check.Warning}}, check.Options{Error: c.AsErrors, Filename: o.DockerfileName}, o.Dockerfile)
}

package build

import (
	"context"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bldbuild/bld/frontend"
	"github.com/bldbuild/bld/frontend/check"
)

// CheckOptions choose which build checks run and how.
type CheckOptions struct {
	Skip  []string // rules to skip ("all" for every rule)
	Error bool     // every finding is an error
}

// Check runs the build checks (frontend/check: BuildKit's rules and bld's
// own) on o's Dockerfile, with its context's .dockerignore and, when
// o.Root is set, the local sizes of base images. o must have been through
// Prepare. failed reports a rule set to error that fired. A Dockerfile the
// checks cannot parse is err, a *check.ParseError naming the line.
func Check(ctx context.Context, o Options, co CheckOptions) (findings []check.Finding, failed bool, err error) {
	ign, err := frontend.LoadIgnore(o.ContextDir, o.DockerfilePath)
	if err != nil {
		return nil, false, err
	}
	opt := check.Options{
		Filename:   o.DockerfileName,
		ContextDir: o.ContextDir,
		Ignore:     ign.Excluded,
		Skip:       co.Skip,
		Error:      co.Error,
		BuildArgs:  o.BuildArgs,
		Target:     o.Target,
	}
	if opt.Filename == "" {
		opt.Filename = filepath.Base(o.DockerfilePath)
	}
	if r := o.Root; r != nil {
		opt.BaseSize = func(ref string) (int64, bool) {
			desc, err := r.Store.Resolve(ref)
			if err != nil {
				return 0, false
			}
			img, err := r.Store.Image(desc.Digest.String())
			if err != nil {
				return 0, false
			}
			return ImageSize(img), true
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	findings, err = check.Check(o.Dockerfile, opt)
	if err != nil {
		return nil, false, err
	}
	return findings, check.Failed(findings, opt, o.Dockerfile), nil
}

// ImageSize is the compressed size of an image's layers (0 when its
// manifest cannot be read).
func ImageSize(img v1.Image) int64 {
	m, err := img.Manifest()
	if err != nil {
		return 0
	}
	var n int64
	for _, l := range m.Layers {
		n += l.Size
	}
	return n
}

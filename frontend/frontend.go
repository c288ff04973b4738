package frontend

import (
	"context"
	"fmt"
	"maps"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bldbuild/bld/dag"
)

// Image is a resolved base image: what a FROM, COPY --from or RUN --mount
// from= names when it is not a stage.
type Image struct {
	Ref    string         // canonical reference as resolved, e.g. "docker.io/library/alpine:3.20"
	Digest v1.Hash        // manifest digest the reference resolved to
	Config *v1.ConfigFile // the image's config; nil is taken as empty
}

// Options configures Parse.
type Options struct {
	// Filename is the Dockerfile's name as shown in errors and vertex
	// positions ("Dockerfile" when empty).
	Filename string
	// BuildArgs are the --build-arg values. Only ARGs the Dockerfile
	// declares take them, except the predefined proxy and platform args.
	// A key given on the command line without a value is resolved by the
	// caller (from its environment) before Parse.
	BuildArgs map[string]string
	// Target is the --target stage name; "" is the last stage.
	Target string
	// Platform is the target platform (TARGETPLATFORM, TARGETOS, ...).
	// Zero means BuildPlatform.
	Platform v1.Platform
	// BuildPlatform is the platform of the machine running the build
	// (BUILDPLATFORM, BUILDOS, ...). Zero means the host's.
	BuildPlatform v1.Platform
	// MultiPlatform is set when the build is for several platforms (one
	// Parse each): every progress name then starts with its stage's
	// platform, as BuildKit's "[linux/arm64 build 2/4] RUN ...".
	MultiPlatform bool
	// Labels are the --label values, merged over the target's LABELs.
	Labels map[string]string
	// Resolve returns the image for a FROM, COPY --from or RUN --mount
	// from= reference that is not a stage name. It is called once per
	// distinct reference and platform, only for stages the target needs,
	// possibly concurrently, and never for "scratch".
	Resolve func(ctx context.Context, ref string, platform v1.Platform) (*Image, error)
	// Limits bound the Dockerfile's size, its instruction count and the
	// size of expanded words and variables; zero fields are DefaultLimits.
	Limits Limits
}

// Result is the graph and image metadata of the target stage.
type Result struct {
	// Target is the last filesystem step of the target stage (a
	// *dag.Source when the stage has none).
	Target *dag.Vertex
	// Base is the image at the root of Target's chain (nil for scratch).
	Base *Image
	// Config is the final image config: the base image's config changed
	// by every instruction along the chain, including inherited stages,
	// with Options.Labels merged last.
	Config v1.Config
	// Author is the MAINTAINER (or the base image's author).
	Author string
	// Platform is the target stage's platform: its FROM --platform, else
	// Options.Platform.
	Platform v1.Platform
	// History holds the entries added after the base image's own, oldest
	// first.
	History []Step
	// Stages names the stages the target needs, in Dockerfile order: a
	// stage's name, or its index for an unnamed stage.
	Stages []string
}

// Step is one history entry of the result.
//
// Vertex is nil for an instruction that changes only the config
// (History.EmptyLayer is then true). Otherwise Vertex is the filesystem
// step whose diff against its parent is this entry's layer; the builder
// sets EmptyLayer if that diff turns out empty. History.CreatedBy is
// written as BuildKit writes it ("RUN /bin/sh -c make # buildkit",
// "ENV A=b", "WORKDIR /app"); History.Created is left zero for the caller.
type Step struct {
	Vertex  *dag.Vertex
	History v1.History
}

// Error is a failure located in the Dockerfile.
type Error struct {
	File        string // Dockerfile name, as Options.Filename
	Line        int    // 1-based; 0 when the error concerns no one line
	Instruction string // e.g. "COPY"; "" when not about one instruction
	Err         error
}

// Error formats e as "Dockerfile:7: COPY: message".
func (e *Error) Error() string {
	s := e.File
	if e.Line > 0 {
		s = fmt.Sprintf("%s:%d", s, e.Line)
	}
	if e.Instruction != "" {
		s += ": " + e.Instruction
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Parse reads dockerfile and returns the graph of opt.Target. Every failure
// is a *Error. Parse calls opt.Resolve for the base images the target
// needs and returns its errors wrapped in a *Error for the instruction that
// named the image. Parse is safe for concurrent use.
func Parse(ctx context.Context, dockerfile []byte, opt Options) (res *Result, err error) {
	if opt.Filename == "" {
		opt.Filename = "Dockerfile"
	}
	b, err := newBuild(dockerfile, opt)
	if err != nil {
		return nil, err
	}
	target, err := b.targetStage()
	if err != nil {
		return nil, err
	}
	if err := b.resolveStages(ctx, target); err != nil {
		return nil, err
	}
	if err := b.dispatchStages(); err != nil {
		return nil, err
	}

	cfg := cloneConfig(target.cfg)
	if len(opt.Labels) > 0 {
		if cfg.Labels == nil {
			cfg.Labels = make(map[string]string, len(opt.Labels))
		}
		maps.Copy(cfg.Labels, opt.Labels)
	}
	res = &Result{
		Target:   target.vertex,
		Base:     target.baseImg,
		Config:   cfg,
		Author:   target.author,
		Platform: target.platform,
		History:  append([]Step(nil), target.steps...),
	}
	for _, s := range b.stages {
		if s.reachable && !s.pseudo {
			res.Stages = append(res.Stages, s.id)
		}
	}
	return res, nil
}

package main

import (
	"context"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/bldbuild/bld/builder"
	"github.com/bldbuild/bld/dag"
	"github.com/bldbuild/bld/frontend"
	"github.com/bldbuild/bld/remotecache"
)

// cacheTransport reaches cache registries as images are reached: plain
// HTTP for a loopback registry or one named by --insecure-registry.
func cacheTransport(ctx context.Context, g *globalOptions) remotecache.Transport {
	return remotecache.Transport{
		NameOptions: func(host string) []name.Option {
			if isLoopback(host) || contains(g.insecure, host) {
				return []name.Option{name.Insecure}
			}
			return nil
		},
		Options: remoteOptions(ctx, nil),
	}
}

// cacheSteps is the build's steps as a cache export sees them: every
// solved step but the sources (FROM), those of the target's chain marked.
func cacheSteps(plan *frontend.Result, result *builder.Result) []remotecache.Step {
	target := map[*dag.Vertex]bool{}
	for _, v := range plan.Target.Chain() {
		target[v] = true
	}
	var out []remotecache.Step
	for v, s := range result.Steps {
		if _, src := v.Op.(*dag.Source); src {
			continue
		}
		r := s.Record
		r.Key = s.Key
		out = append(out, remotecache.Step{Record: r, Source: s.Remote, Target: target[v]})
	}
	return out
}

// pushedRepo is the repository of the first image pushed, which holds the
// build's layers for a cache export to mount; nil when nothing was pushed.
func pushedRepo(g *globalOptions, pushed []string) *name.Repository {
	if len(pushed) == 0 {
		return nil
	}
	ref, err := parseRef(g, pushed[0])
	if err != nil {
		return nil
	}
	repo := ref.Context()
	return &repo
}

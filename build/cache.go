package build

import (
	"bytes"
	"context"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/bldbuild/bld/builder"
	"github.com/bldbuild/bld/cache"
	"github.com/bldbuild/bld/dag"
	"github.com/bldbuild/bld/frontend"
	"github.com/bldbuild/bld/registry"
	"github.com/bldbuild/bld/remotecache"
)

// cacheTransport reaches cache registries as images are reached: plain
// HTTP for a loopback registry or one named in Options.Insecure, and the
// client's retry policy.
func cacheTransport(ctx context.Context, client *registry.Client) remotecache.Transport {
	return remotecache.Transport{
		NameOptions: func(host string) []name.Option {
			if client.Insecure(host) {
				return []name.Option{name.Insecure}
			}
			return nil
		},
		Options: client.RemoteOptions(ctx),
	}
}

// cacheSteps are the build's steps as a cache export sees them; Target
// marks the target stage's chain (what mode=min and inline carry).
// With several platforms' plans every platform's steps are carried, each
// key once (a step shared by the platforms is one record).
func cacheSteps(plans []*frontend.Result, result *builder.Result) []remotecache.Step {
	target := map[*dag.Vertex]bool{}
	for _, plan := range plans {
		for _, v := range plan.Target.Chain() {
			target[v] = true
		}
	}
	byKey := map[cache.Key]int{}
	var out []remotecache.Step
	for v, s := range result.Steps {
		if _, src := v.Op.(*dag.Source); src {
			continue
		}
		if i, ok := byKey[s.Key]; ok {
			out[i].Target = out[i].Target || target[v]
			continue
		}
		r := s.Record
		r.Key = s.Key
		byKey[s.Key] = len(out)
		out = append(out, remotecache.Step{Record: r, Source: s.Remote, Target: target[v]})
	}
	return out
}

// pushedRepo is the repository of the first image pushed, which holds the
// build's layers for a cache export to mount; nil when nothing was pushed.
func pushedRepo(client *registry.Client, pushed []string) *name.Repository {
	if len(pushed) == 0 {
		return nil
	}
	ref, err := client.ParseReference(pushed[0])
	if err != nil {
		return nil
	}
	repo := ref.Context()
	return &repo
}

// messageWriter turns what remotecache logs into Progress messages, a
// line each.
type messageWriter struct {
	prog Progress
	mu   sync.Mutex
	buf  []byte
}

func (w *messageWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.prog.Message(strings.TrimRight(string(w.buf[:i]), "\r"))
		w.buf = w.buf[i+1:]
	}
}

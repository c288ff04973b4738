package frontend

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bldbuild/bld/dag"
)

// basePath is the PATH of the test base images.
const basePath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// registry is a fake Options.Resolve over a fixed set of image configs,
// recording its calls.
type registry struct {
	mu     sync.Mutex
	images map[string]*v1.ConfigFile
	calls  []string // "ref os/arch"
}

func newRegistry() *registry {
	return &registry{images: map[string]*v1.ConfigFile{
		"alpine":      {Config: v1.Config{Env: []string{basePath}, Cmd: []string{"/bin/sh"}}},
		"alpine:3.20": {Config: v1.Config{Env: []string{basePath}, Cmd: []string{"/bin/sh"}}},
		"golang":      {Config: v1.Config{Env: []string{basePath + ":/usr/local/go/bin", "GOPATH=/go"}, WorkingDir: "/go"}},
		"nopath":      {Config: v1.Config{Env: []string{"A=1"}}},
		"userbase":    {Author: "someone", Config: v1.Config{Env: []string{basePath}, User: "app", WorkingDir: "/home/app"}},
		"onbuild": {Config: v1.Config{Env: []string{basePath}, OnBuild: []string{
			"COPY . /app/src", "RUN make -C /app/src", "ENV BUILT=1",
		}}},
		"onbuild-from": {Config: v1.Config{Env: []string{basePath}, OnBuild: []string{
			"COPY --from=assets /out /assets",
		}}},
		"onbuild-bad": {Config: v1.Config{OnBuild: []string{"BOGUS x"}}},
	}}
}

func (r *registry) resolve(ctx context.Context, ref string, p v1.Platform) (*Image, error) {
	r.mu.Lock()
	r.calls = append(r.calls, ref+" "+formatPlatform(p))
	r.mu.Unlock()
	cfg, ok := r.images[ref]
	if !ok {
		return nil, fmt.Errorf("manifest unknown")
	}
	return &Image{Ref: "docker.io/library/" + ref, Digest: digestOf(ref), Config: cfg}, nil
}

func (r *registry) sortedCalls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Sorted(slices.Values(r.calls))
}

func digestOf(s string) v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", sha256.Sum256([]byte(s)))}
}

var amd64 = v1.Platform{OS: "linux", Architecture: "amd64"}

// parse runs Parse with the fake registry and linux/amd64 platforms.
func parse(t *testing.T, r *registry, df string, opt Options) (*Result, error) {
	t.Helper()
	if opt.Platform.OS == "" {
		opt.Platform = amd64
	}
	if opt.BuildPlatform.OS == "" {
		opt.BuildPlatform = amd64
	}
	if r == nil {
		r = newRegistry()
	}
	opt.Resolve = r.resolve
	return Parse(context.Background(), []byte(df), opt)
}

func mustParse(t *testing.T, r *registry, df string, opt Options) *Result {
	t.Helper()
	res, err := parse(t, r, df, opt)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return res
}

// history lists CreatedBy of each entry, "+ " marking entries with a layer.
func history(res *Result) []string {
	var out []string
	for _, s := range res.History {
		mark := "  "
		if s.Vertex != nil {
			mark = "+ "
		}
		if s.History.EmptyLayer != (s.Vertex == nil) {
			mark = "! "
		}
		out = append(out, mark+s.History.CreatedBy)
	}
	return out
}

// ops returns the ops of the target's chain after its Source.
func ops(res *Result) []dag.Op {
	var out []dag.Op
	for _, v := range res.Target.Chain()[1:] {
		out = append(out, v.Op)
	}
	return out
}

// names returns the progress names of the target's chain.
func names(res *Result) []string {
	var out []string
	for _, v := range res.Target.Chain() {
		out = append(out, v.Name)
	}
	return out
}

// lastRun returns the last *dag.Run of the target's chain.
func lastRun(t *testing.T, res *Result) *dag.Run {
	t.Helper()
	chain := res.Target.Chain()
	for i := len(chain) - 1; i >= 0; i-- {
		if r, ok := chain[i].Op.(*dag.Run); ok {
			return r
		}
	}
	t.Fatal("no RUN in the target chain")
	return nil
}

// envOf returns the value of k in a KEY=VALUE list and whether it is set.
func envOf(env []string, k string) string {
	for _, kv := range env {
		if key, v, _ := strings.Cut(kv, "="); key == k {
			return v
		}
	}
	return "<unset>"
}

func equal[T comparable](a, b []T) bool { return slices.Equal(a, b) }

package frontend

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bldbuild/bld/dag"
)

// anyImage resolves every reference to a tiny image; references naming
// "onbuild" carry ONBUILD triggers.
func anyImage(ctx context.Context, ref string, p v1.Platform) (*Image, error) {
	cfg := &v1.ConfigFile{Config: v1.Config{Env: []string{basePath}, Cmd: []string{"sh"}}}
	if strings.Contains(ref, "onbuild") {
		cfg.Config.OnBuild = []string{"COPY . /app", "RUN make", "COPY --from=0 / /"}
	}
	return &Image{Ref: ref, Digest: digestOf(ref), Config: cfg}, nil
}

func seedDockerfiles(tb testing.TB) map[string][]byte {
	tb.Helper()
	paths, err := filepath.Glob("testdata/dockerfiles/*.Dockerfile")
	if err != nil || len(paths) == 0 {
		tb.Fatalf("no seed Dockerfiles: %v", err)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		out[filepath.Base(p)] = data
	}
	return out
}

// TestRealWorld parses the seed Dockerfiles: every one is valid.
func TestRealWorld(t *testing.T) {
	for name, df := range seedDockerfiles(t) {
		t.Run(name, func(t *testing.T) {
			res, err := Parse(context.Background(), df, Options{Filename: name, Platform: amd64, BuildPlatform: amd64, Resolve: anyImage})
			if err != nil {
				t.Fatal(err)
			}
			checkGraph(t, res)
		})
	}
}

// checkGraph checks the invariants of a result's graph.
func checkGraph(t *testing.T, res *Result) {
	t.Helper()
	if res.Target == nil {
		t.Fatal("no target")
	}
	seen := map[*dag.Vertex]bool{}
	var walk func(v *dag.Vertex)
	walk = func(v *dag.Vertex) {
		if seen[v] {
			return
		}
		seen[v] = true
		_ = dag.Encode(v.Op)
		_, isSource := v.Op.(*dag.Source)
		if isSource != (len(v.Inputs) == 0) {
			t.Fatalf("vertex %q (%s) has %d inputs", v.Name, v.Op.Kind(), len(v.Inputs))
		}
		if r, ok := v.Op.(*dag.Run); ok {
			for _, m := range r.Mounts {
				if m.Input < 0 || m.Input >= len(v.Inputs) || (m.From != "") != (m.Input > 0) {
					t.Fatalf("vertex %q: mount %+v with %d inputs", v.Name, m, len(v.Inputs))
				}
			}
		}
		for _, in := range v.Inputs {
			if in == nil {
				t.Fatalf("vertex %q has a nil input", v.Name)
			}
			walk(in)
		}
	}
	walk(res.Target)
	for _, s := range res.History {
		if s.Vertex != nil && !seen[s.Vertex] {
			t.Fatalf("history %q names a vertex outside the graph", s.History.CreatedBy)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, df := range seedDockerfiles(f) {
		f.Add(df, "")
	}
	f.Add([]byte("FROM onbuild AS a\nFROM a\n"), "a")
	f.Add([]byte("ARG X=1\nFROM alpine:$X AS b\nCOPY --from=b a b\n"), "b")
	f.Fuzz(func(t *testing.T, df []byte, target string) {
		res, err := Parse(context.Background(), df, Options{
			Target:    target,
			BuildArgs: map[string]string{"VERSION": "1", "http_proxy": "p"},
			Platform:  amd64,
			Resolve:   anyImage,
		})
		if err != nil {
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("error %T is not a *Error: %v", err, err)
			}
			return
		}
		checkGraph(t, res)
	})
}

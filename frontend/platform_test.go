package frontend

import (
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bldbuild/bld/dag"
)

// TestPlatformArgs: every predefined platform ARG, as BuildKit defines
// it, for a build on linux/amd64 to several targets (declared in the
// stage, so RUN sees it), and FROM --platform with each expanded.
func TestPlatformArgs(t *testing.T) {
	build := v1.Platform{OS: "linux", Architecture: "amd64"}
	const df = `FROM alpine
ARG BUILDPLATFORM BUILDOS BUILDARCH BUILDVARIANT TARGETPLATFORM TARGETOS TARGETARCH TARGETVARIANT
RUN env
`
	for _, tc := range []struct {
		target v1.Platform
		want   map[string]string
	}{
		{v1.Platform{OS: "linux", Architecture: "arm64"}, map[string]string{
			"BUILDPLATFORM": "linux/amd64", "BUILDOS": "linux", "BUILDARCH": "amd64", "BUILDVARIANT": "",
			"TARGETPLATFORM": "linux/arm64", "TARGETOS": "linux", "TARGETARCH": "arm64", "TARGETVARIANT": "",
		}},
		{v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, map[string]string{
			"TARGETPLATFORM": "linux/arm/v7", "TARGETARCH": "arm", "TARGETVARIANT": "v7", "BUILDARCH": "amd64",
		}},
		{v1.Platform{OS: "linux", Architecture: "amd64", Variant: "v2"}, map[string]string{
			"TARGETPLATFORM": "linux/amd64/v2", "TARGETARCH": "amd64", "TARGETVARIANT": "v2", "BUILDVARIANT": "",
		}},
	} {
		t.Run(formatPlatform(tc.target), func(t *testing.T) {
			res := mustParse(t, newRegistry(), df, Options{Platform: tc.target, BuildPlatform: build})
			env := res.Target.Op.(*dag.Run).Env
			for k, want := range tc.want {
				if got := envOf(env, k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

// TestFromPlatformArgs: FROM --platform expands each predefined arg, and
// a multi-platform parse names every step with its stage's platform, the
// target after "->" where the stage declares a TARGET* arg (BuildKit's
// prefix).
func TestFromPlatformArgs(t *testing.T) {
	build := v1.Platform{OS: "linux", Architecture: "amd64"}
	target := v1.Platform{OS: "linux", Architecture: "arm64"}
	for _, tc := range []struct {
		from     string
		platform string // the base resolved for
	}{
		{"$BUILDPLATFORM", "linux/amd64"},
		{"$TARGETPLATFORM", "linux/arm64"},
		{"$BUILDOS/$TARGETARCH", "linux/arm64"},
		{"${TARGETOS}/${BUILDARCH}", "linux/amd64"},
		{"linux/arm/v7", "linux/arm/v7"},
		{"linux/arm", "linux/arm/v7"},
		{"linux/aarch64", "linux/arm64"},
		{"linux/x86_64/v2", "linux/amd64/v2"},
	} {
		t.Run(tc.from, func(t *testing.T) {
			r := newRegistry()
			res := mustParse(t, r, "FROM --platform="+tc.from+" alpine\nRUN true\n", Options{Platform: target, BuildPlatform: build})
			if got := res.Target.Parent().Op.(*dag.Source).Platform; got != tc.platform {
				t.Errorf("FROM --platform=%s: base for %q, want %q", tc.from, got, tc.platform)
			}
		})
	}

	const df = `FROM --platform=$BUILDPLATFORM alpine AS tools
RUN make tools
FROM --platform=$BUILDPLATFORM alpine AS cross
ARG TARGETARCH
RUN GOARCH=$TARGETARCH go build
FROM alpine
COPY --from=tools /t /t
COPY --from=cross /app /app
`
	res := mustParse(t, newRegistry(), df, Options{Platform: target, BuildPlatform: build, MultiPlatform: true})
	names := map[string]bool{}
	var walk func(v *dag.Vertex)
	walk = func(v *dag.Vertex) {
		names[v.Name] = true
		for _, in := range v.Inputs {
			walk(in)
		}
	}
	walk(res.Target)
	for _, want := range []string{
		"[linux/amd64 tools 2/2] RUN make tools",
		"[linux/amd64->arm64 cross 2/2] RUN GOARCH=arm64 go build",
		"[linux/arm64 stage-2 3/3] COPY --from=cross /app /app",
	} {
		if !names[want] {
			t.Errorf("no step named %q in %v", want, names)
		}
	}
	// A single-platform parse keeps BuildKit's plain names.
	res = mustParse(t, newRegistry(), df, Options{Platform: target, BuildPlatform: build})
	if got := res.Target.Name; got != "[stage-2 3/3] COPY --from=cross /app /app" {
		t.Errorf("single-platform name %q", got)
	}
}

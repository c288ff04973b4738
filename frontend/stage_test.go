package frontend

import (
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bldbuild/bld/dag"
)

const multiStage = `FROM alpine AS Base
ENV BASE=1
RUN apk add make

FROM base AS build
WORKDIR /src
RUN make

FROM golang AS tools
RUN go install x

FROM alpine AS broken
COPY --from=99 /x /x
RUN false

FROM scratch
COPY --from=build /src/app /app
COPY --from=0 /etc/os-release /etc/
`

func TestStages(t *testing.T) {
	tests := []struct {
		name     string
		target   string
		stages   []string
		resolved []string
		chain    []string // op kinds of the target chain
	}{
		{
			name:     "last stage needs base and build only",
			stages:   []string{"base", "build", "4"},
			resolved: []string{"alpine linux/amd64"},
			chain:    []string{"source", "copy", "copy"},
		},
		{
			name:     "target by name, any case",
			target:   "BUILD",
			stages:   []string{"base", "build"},
			resolved: []string{"alpine linux/amd64"},
			chain:    []string{"source", "run", "mkdir", "run"},
		},
		{
			name:     "target an independent stage",
			target:   "tools",
			stages:   []string{"tools"},
			resolved: []string{"golang linux/amd64"},
			chain:    []string{"source", "run"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRegistry()
			res := mustParse(t, r, multiStage, Options{Target: tt.target})
			if !equal(res.Stages, tt.stages) {
				t.Errorf("stages = %q, want %q", res.Stages, tt.stages)
			}
			if got := r.sortedCalls(); !equal(got, tt.resolved) {
				t.Errorf("resolved %q, want %q", got, tt.resolved)
			}
			var kinds []string
			for _, v := range res.Target.Chain() {
				kinds = append(kinds, v.Op.Kind())
			}
			if !equal(kinds, tt.chain) {
				t.Errorf("chain = %q, want %q", kinds, tt.chain)
			}
		})
	}
}

func TestStageInheritance(t *testing.T) {
	r := newRegistry()
	res := mustParse(t, r, multiStage, Options{Target: "build"})
	chain := res.Target.Chain()
	// build continues base's chain: the RUN of base is build's grandparent.
	if k := chain[1].Op.Kind(); k != "run" || chain[1].Stage != "base" {
		t.Errorf("chain[1] = %s of %q, want base's RUN", k, chain[1].Stage)
	}
	if envOf(res.Config.Env, "BASE") != "1" || res.Config.WorkingDir != "/src" {
		t.Errorf("config = %+v", res.Config)
	}
	if want := []string{"  ENV BASE=1", "+ RUN /bin/sh -c apk add make # buildkit", "+ WORKDIR /src", "+ RUN /bin/sh -c make # buildkit"}; !equal(history(res), want) {
		t.Errorf("history = %q, want %q", history(res), want)
	}
	if res.Base == nil || res.Base.Ref != "docker.io/library/alpine" {
		t.Errorf("base = %+v", res.Base)
	}

	// The final stage reads the same vertices, not copies.
	final := mustParse(t, r, multiStage, Options{})
	copyBuild, copyBase := final.Target.Parent(), final.Target
	if copyBuild.Inputs[1].Digest() != res.Target.Digest() {
		t.Errorf("COPY --from=build reads %q, want build's last step", copyBuild.Inputs[1].Name)
	}
	if c := copyBase.Op.(*dag.Copy); c.From != "0" || copyBase.Inputs[1].Stage != "base" || copyBase.Inputs[1].Op.Kind() != "run" {
		t.Errorf("COPY --from=0 reads %q", copyBase.Inputs[1].Name)
	}
	if copyBuild.Inputs[1].Chain()[1] != copyBase.Inputs[1] {
		t.Errorf("build's chain and COPY --from=0 hold different vertices for base's RUN")
	}
	if final.Base != nil {
		t.Errorf("base of a scratch stage = %+v", final.Base)
	}
}

func TestCopyFromImageAndMounts(t *testing.T) {
	df := `FROM alpine AS assets
RUN make assets

FROM alpine
COPY --from=golang /usr/local/go /usr/local/go
COPY --from=golang /go /go
RUN --mount=from=assets,source=/out,target=/in --mount=type=cache,from=assets,target=/c --mount=from=golang,target=/g cp -r /in /srv
`
	r := newRegistry()
	res := mustParse(t, r, df, Options{Platform: v1.Platform{OS: "linux", Architecture: "arm64"}})
	if got := r.sortedCalls(); !equal(got, []string{"alpine linux/arm64", "golang linux/arm64"}) {
		t.Errorf("resolved %q", got)
	}
	chain := res.Target.Chain()
	cp1, cp2, run := chain[1], chain[2], chain[3]
	src, ok := cp1.Inputs[1].Op.(*dag.Source)
	if !ok || src.Ref != "docker.io/library/golang" || src.Digest != digestOf("golang") || src.Platform != "linux/arm64" {
		t.Errorf("COPY --from=golang input = %s", dag.Encode(cp1.Inputs[1].Op))
	}
	if cp2.Inputs[1] != cp1.Inputs[1] {
		t.Errorf("the same image is two vertices")
	}
	if len(run.Inputs) != 3 {
		t.Fatalf("RUN inputs = %d, want parent, assets, golang", len(run.Inputs))
	}
	m := run.Op.(*dag.Run).Mounts
	if m[0].Input != 1 || m[1].Input != 1 || m[2].Input != 2 || m[0].From != "assets" || m[0].Source != "/out" {
		t.Errorf("mounts = %+v", m)
	}
	if run.Inputs[1].Stage != "assets" || run.Inputs[2] != cp1.Inputs[1] {
		t.Errorf("RUN inputs = %q, %q", run.Inputs[1].Name, run.Inputs[2].Name)
	}
	if !equal(res.Stages, []string{"assets", "1"}) || res.Platform.Architecture != "arm64" {
		t.Errorf("stages = %q, platform %v", res.Stages, res.Platform)
	}
}

// TestUnusedStages checks that stages the target does not need are neither
// resolved nor lowered, so their errors do not fail the build.
func TestUnusedStages(t *testing.T) {
	df := `FROM does-not-exist AS gone
RUN x

FROM ${UNSET:?unset} AS badarg

FROM alpine AS badcopy
COPY --from=42 / /
RUN --network=none --mount=type=bind,target=/ x

FROM Invalid:Ref AS badref

FROM --platform=linux/amd64 golang AS tools
RUN ok

FROM alpine
COPY --from=tools /go/bin /usr/local/bin
`
	r := newRegistry()
	res := mustParse(t, r, df, Options{})
	if got := r.sortedCalls(); !equal(got, []string{"alpine linux/amd64", "golang linux/amd64"}) {
		t.Errorf("resolved %q", got)
	}
	if !equal(res.Stages, []string{"tools", "5"}) {
		t.Errorf("stages = %q", res.Stages)
	}
	for _, target := range []string{"gone", "badarg", "badcopy", "badref"} {
		if _, err := parse(t, nil, df, Options{Target: target}); err == nil {
			t.Errorf("target %s: no error", target)
		}
	}
}

func TestFromPlatform(t *testing.T) {
	df := "FROM --platform=$BUILDPLATFORM golang AS build\nARG TARGETARCH\nRUN GOARCH=$TARGETARCH go build\nFROM --platform=linux/arm/v7 alpine\nCOPY --from=build /app /app"
	r := newRegistry()
	res := mustParse(t, r, df, Options{Platform: v1.Platform{OS: "linux", Architecture: "s390x"}})
	if got := r.sortedCalls(); !equal(got, []string{"alpine linux/arm/v7", "golang linux/amd64"}) {
		t.Errorf("resolved %q", got)
	}
	if got := res.Target.Parent().Op.(*dag.Source).Platform; got != "linux/arm/v7" || res.Platform.Variant != "v7" {
		t.Errorf("source platform %q, result %v", got, res.Platform)
	}
	build := res.Target.Inputs[1]
	if got := envOf(build.Op.(*dag.Run).Env, "TARGETARCH"); got != "s390x" {
		t.Errorf("TARGETARCH = %q", got)
	}
}

// TestOnbuild checks ONBUILD triggers: from a base image's config and from
// a base stage, run first in the child, then dropped from its config.
func TestOnbuild(t *testing.T) {
	t.Run("from image config", func(t *testing.T) {
		res := mustParse(t, nil, "FROM onbuild\nRUN test", Options{})
		want := []string{
			// BuildKit counts every trigger, ENV too, in the total.
			"[1/5] FROM docker.io/library/onbuild@" + digestOf("onbuild").String(),
			"[2/5] ONBUILD COPY . /app/src",
			"[3/5] ONBUILD RUN make -C /app/src",
			"[4/5] RUN test",
		}
		if got := names(res); !equal(got, want) {
			t.Errorf("names = %q, want %q", got, want)
		}
		wantHist := []string{"+ COPY . /app/src # buildkit", "+ RUN /bin/sh -c make -C /app/src # buildkit", "  ENV BUILT=1", "+ RUN /bin/sh -c test # buildkit"}
		if got := history(res); !equal(got, wantHist) {
			t.Errorf("history = %q, want %q", got, wantHist)
		}
		if res.Config.OnBuild != nil || envOf(res.Config.Env, "BUILT") != "1" {
			t.Errorf("config = %+v", res.Config)
		}
		if res.Target.Parent().Pos.Line != 1 {
			t.Errorf("trigger position %v, want the FROM line", res.Target.Parent().Pos)
		}
	})
	t.Run("trigger reads a stage", func(t *testing.T) {
		r := newRegistry()
		res := mustParse(t, r, "FROM alpine AS assets\nRUN make\nFROM busybox AS unused\nFROM onbuild-from\n", Options{})
		if got := r.sortedCalls(); !equal(got, []string{"alpine linux/amd64", "onbuild-from linux/amd64"}) {
			t.Errorf("resolved %q", got)
		}
		if c, ok := res.Target.Op.(*dag.Copy); !ok || c.From != "assets" || res.Target.Inputs[1].Stage != "assets" {
			t.Errorf("target = %s", res.Target.Name)
		}
	})
	t.Run("from a stage", func(t *testing.T) {
		df := "FROM alpine AS base\nONBUILD RUN echo child\nRUN echo base\nFROM base\nRUN echo after"
		res := mustParse(t, nil, df, Options{})
		var args []string
		for _, op := range ops(res) {
			args = append(args, op.(*dag.Run).Args[2])
		}
		if !equal(args, []string{"echo base", "echo child", "echo after"}) || res.Config.OnBuild != nil {
			t.Errorf("runs = %q, onbuild %q", args, res.Config.OnBuild)
		}
		base := mustParse(t, nil, df, Options{Target: "base"})
		if !equal(base.Config.OnBuild, []string{"RUN echo child"}) {
			t.Errorf("base onbuild = %q", base.Config.OnBuild)
		}
	})
}

func TestCopyFromScratch(t *testing.T) {
	r := newRegistry()
	res := mustParse(t, r, "FROM scratch AS empty\nFROM alpine\nCOPY --from=scratch / /\nRUN --mount=from=empty,target=/e true", Options{})
	if got := r.sortedCalls(); !equal(got, []string{"alpine linux/amd64"}) {
		t.Errorf("resolved %q", got)
	}
	cp := res.Target.Parent()
	if src, ok := cp.Inputs[1].Op.(*dag.Source); !ok || src.Ref != "" || src.Platform != "linux/amd64" {
		t.Errorf("COPY --from=scratch input = %s", dag.Encode(cp.Inputs[1].Op))
	}
	if in := res.Target.Inputs[1]; in.Stage != "empty" || in.Op.Kind() != "source" {
		t.Errorf("RUN --mount from=empty input = %q", in.Name)
	}
}

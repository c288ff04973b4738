package frontend

import (
	"context"
	"errors"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// TestErrors checks error messages, each located at its file and line.
func TestErrors(t *testing.T) {
	tests := []struct {
		df     string
		target string
		want   string
	}{
		{"", "", "Dockerfile: no build stage"},
		{"# only a comment\n\n", "", "Dockerfile: no build stage"},
		{"RUN make", "", "Dockerfile:1: RUN: no build stage in current context"},
		{"FROM alpine\n\nFOO bar", "", "Dockerfile:3: FOO: unknown instruction: FOO (did you mean FROM?)"},
		{"FROM alpine\nCOPY --nope a b", "", "Dockerfile:2: COPY: unknown flag: --nope"},
		{"FROM alpine\nCOPY a", "", "Dockerfile:2: COPY: COPY requires at least two arguments, but only one was provided. Destination could not be determined"},
		{"FROM alpine\nENV", "", "Dockerfile:2: ENV: ENV requires at least one argument"},
		{"FROM alpine\nENV A=${X:?unset}", "", `Dockerfile:2: ENV: failed to process "${X:?unset}": X: unset`},
		{"FROM alpine\nRUN <<EOF\necho\n", "", "Dockerfile:2: RUN: unterminated heredoc"},
		{"# escape=x\nFROM alpine", "", "Dockerfile:1: invalid escape token 'x' does not match ` or \\"},
		{"FROM alpine AS 1st", "", `Dockerfile:1: FROM: invalid name for build stage: "1st", name can't start with a number or contain symbols`},
		{"FROM alpine\nCOPY --from=5 a b", "", "Dockerfile:2: COPY: invalid stage index 5"},
		{"ARG X=build\nFROM alpine\nCOPY --from=$X a b", "", "Dockerfile:3: COPY: variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround"},
		{"FROM alpine AS a\nCOPY --from=b x y\nFROM alpine AS b", "a", `Dockerfile:2: COPY: cannot copy from stage "b", it needs to be defined before current stage "a"`},
		{"FROM alpine AS a\nRUN --mount=from=b,target=/b x\nFROM alpine AS b", "a", `Dockerfile:2: RUN: cannot mount from stage "b" to "/b", stage needs to be defined before current command`},
		{"FROM alpine AS a\nCOPY --from=a x y", "", "Dockerfile:2: COPY: circular dependency detected on stage: a"},
		{"FROM alpine AS a\nCOPY --from=b x y\nFROM alpine AS b\nCOPY --from=a x y", "", "Dockerfile:2: COPY: circular dependency detected on stage: a"},
		{"FROM alpine", "nope", `Dockerfile: target stage "nope" could not be found`},
		{"FROM alpine AS build\nFROM alpine AS final", "biuld", `Dockerfile: target stage "biuld" could not be found (did you mean build?); the stages are build, final`},
		{"FROM alpine AS build\nFROM alpine AS final", "test", `Dockerfile: target stage "test" could not be found; the stages are build, final`},
		{"FROM Alpine", "", `Dockerfile:1: FROM: invalid reference "Alpine": could not parse reference: Alpine`},
		{"ARG V\nFROM alpine:$V", "", `Dockerfile:2: FROM: invalid reference "alpine:": could not parse reference: alpine:`},
		{"FROM ${NOPE}", "", "Dockerfile:1: FROM: base name (${NOPE}) should not be blank"},
		{"FROM --platform=linux/ alpine", "", `Dockerfile:1: FROM: parse platform linux/: "" is an invalid component of "linux/": platform specifier component must match "^[A-Za-z0-9_.-]+$": invalid argument`},
		{"FROM missing:1", "", "Dockerfile:1: FROM: missing:1: manifest unknown"},
		{"FROM alpine\nCOPY --from=missing:2 / /", "", "Dockerfile:2: COPY: missing:2: manifest unknown"},
		{"FROM alpine\nRUN --mount=from=missing:3,target=/m x", "", "Dockerfile:2: RUN: missing:3: manifest unknown"},
		{"FROM alpine\nRUN --network=bogus x", "", `Dockerfile:2: RUN: invalid network mode "bogus"`},
		{"FROM alpine\nRUN --mount=type=bogus x", "", `Dockerfile:2: RUN: unsupported mount type "bogus"`},
		{"FROM alpine\nRUN --mount=type=bind,target=/ x", "", `Dockerfile:2: RUN: invalid mount target "/"`},
		{"FROM alpine\nRUN --security=privileged x", "", "Dockerfile:2: RUN: security \"privileged\" is not valid"},
		{"FROM alpine\nEXPOSE 80/xyz", "", `Dockerfile:2: EXPOSE: invalid port: "80/xyz": invalid proto: xyz`},
		{"FROM alpine\nEXPOSE 90-80", "", "Dockerfile:2: EXPOSE: invalid containerPort: 90-80"},
		{"FROM alpine\nSTOPSIGNAL NOPE", "", "Dockerfile:2: STOPSIGNAL: invalid signal: NOPE"},
		{"FROM alpine\nHEALTHCHECK --interval=x CMD a", "", `Dockerfile:2: HEALTHCHECK: time: invalid duration "x"`},
		{"FROM alpine\nSHELL sh -c", "", "Dockerfile:2: SHELL: SHELL requires the arguments to be in JSON form"},
		{"FROM alpine\nONBUILD FROM x", "", "Dockerfile:2: ONBUILD: FROM isn't allowed as an ONBUILD trigger"},
		{"FROM onbuild-bad", "", "Dockerfile:1: ONBUILD: unknown instruction: BOGUS"},
		{"FROM alpine\nCOPY --chmod=999 a b", "", "Dockerfile:2: COPY: invalid chmod parameter: '999'. it should be octal string and between 0 and 07777"},
		{"FROM alpine\nCOPY --link --chown=app a b", "", "Dockerfile:2: COPY: --chown=app: user and group names can't be resolved when used with --link, use numeric uid[:gid] instead"},
		{"FROM alpine\nCOPY https://example.com/x /x", "", "Dockerfile:2: COPY: source can't be a URL for COPY"},
		{"FROM alpine\nCOPY git@github.com:o/r.git /x", "", "Dockerfile:2: COPY: source can't be a git ref for COPY"},
		{"FROM alpine\nADD --checksum=sha256:abc a b", "", "Dockerfile:2: ADD: checksum requires HTTP(S) or Git sources"},
		{"FROM alpine\nADD --unpack=true https://x/a.tgz /", "", "Dockerfile:2: ADD: --unpack is not supported"},
		{"FROM alpine\nCOPY <<EOF <<EOF2\nx\nEOF\n", "", "Dockerfile:2: COPY: unterminated heredoc"},
		{"FROM alpine\nCOPY <<../x /\nx\n../x\n", "", `Dockerfile:2: COPY: invalid heredoc name "../x"`},
		{"FROM alpine\nRUN <<a/b\n#!/bin/sh\na/b\n", "", `Dockerfile:2: RUN: invalid heredoc name "a/b"`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			_, err := parse(t, nil, tt.df, Options{Target: tt.target})
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("error:\n got %q\nwant %q", err.Error(), tt.want)
			}
			var fe *Error
			if !errors.As(err, &fe) {
				t.Errorf("error is %T, want *Error", err)
			}
		})
	}
}

func TestResolveErrorUnwraps(t *testing.T) {
	sentinel := errors.New("unauthorized")
	_, err := Parse(context.Background(), []byte("FROM private/img"), Options{
		Resolve: func(context.Context, string, v1.Platform) (*Image, error) { return nil, sentinel },
	})
	if !errors.Is(err, sentinel) {
		t.Errorf("err = %v, want it to wrap the resolver's error", err)
	}
	var fe *Error
	if !errors.As(err, &fe) || fe.Line != 1 || fe.Instruction != "FROM" || fe.File != "Dockerfile" {
		t.Errorf("err = %#v", fe)
	}
	_, err = Parse(context.Background(), []byte("FROM alpine"), Options{})
	if err == nil || err.Error() != "Dockerfile:1: FROM: alpine: no image resolver" {
		t.Errorf("without a resolver: %v", err)
	}
	// scratch needs no resolver.
	if _, err := Parse(context.Background(), []byte("FROM scratch\nCOPY a /"), Options{}); err != nil {
		t.Errorf("scratch: %v", err)
	}
}

package check

import (
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/linter"
)

func TestBuildKitRules(t *testing.T) {
	ignore := func(rel string) bool {
		return rel == "secret.txt" || rel == "logs" || len(rel) > 5 && rel[:5] == "logs/"
	}
	runRuleCases(t, []ruleCase{
		{"fires", "StageNameCasing", "FROM alpine AS Build\nUSER 1\n", Options{}, []int{1}},
		{"lowercase", "StageNameCasing", "FROM alpine AS build\nUSER 1\n", Options{}, nil},
		{"fires", "FromAsCasing", "FROM alpine as build\nUSER 1\n", Options{}, []int{1}},
		{"same case", "FromAsCasing", "FROM alpine AS build\nUSER 1\n", Options{}, nil},
		{"fires (at the end of the instruction, as BuildKit)", "NoEmptyContinuation", "FROM alpine\nRUN echo a && \\\n\n  echo b\nUSER 1\n", Options{}, []int{4}},
		{"no empty line", "NoEmptyContinuation", "FROM alpine\nRUN echo a && \\\n  echo b\nUSER 1\n", Options{}, nil},
		{"fires", "ConsistentInstructionCasing", "FROM alpine\nUSER 1\nrun echo\nCMD [\"x\"]\n", Options{}, []int{3}},
		{"consistent", "ConsistentInstructionCasing", "from alpine\nuser 1\nrun echo\n", Options{}, nil},
		{"fires", "DuplicateStageName", "FROM alpine AS a\nFROM alpine AS a\nUSER 1\n", Options{}, []int{2}},
		{"unique", "DuplicateStageName", "FROM alpine AS a\nFROM alpine AS b\nUSER 1\n", Options{}, nil},
		{"fires", "ReservedStageName", "FROM alpine AS scratch\nUSER 1\n", Options{}, []int{1}},
		{"not reserved", "ReservedStageName", "FROM alpine AS base\nUSER 1\n", Options{}, nil},
		{"fires", "JSONArgsRecommended", "FROM alpine\nUSER 1\nENTRYPOINT run.sh\n", Options{}, []int{3}},
		{"exec form", "JSONArgsRecommended", "FROM alpine\nUSER 1\nENTRYPOINT [\"run.sh\"]\n", Options{}, nil},
		{"SHELL set", "JSONArgsRecommended", "FROM alpine\nUSER 1\nSHELL [\"/bin/bash\", \"-c\"]\nCMD run.sh\n", Options{}, nil},
		{"fires", "MaintainerDeprecated", "FROM alpine\nMAINTAINER me\nUSER 1\n", Options{}, []int{2}},
		{"label", "MaintainerDeprecated", "FROM alpine\nLABEL org.opencontainers.image.authors=me\nUSER 1\n", Options{}, nil},
		{"fires", "UndefinedArgInFrom", "FROM alpine:$VERSION\nUSER 1\n", Options{}, []int{1}},
		{"declared", "UndefinedArgInFrom", "ARG VERSION=3\nFROM alpine:$VERSION\nUSER 1\n", Options{}, nil},
		{"fires", "WorkdirRelativePath", "FROM alpine\nWORKDIR app\nUSER 1\n", Options{}, []int{2}},
		{"after absolute", "WorkdirRelativePath", "FROM alpine\nWORKDIR /app\nWORKDIR sub\nUSER 1\n", Options{}, nil},
		{"typo", "UndefinedVar", "FROM alpine\nENV PATH=$PAHT:/app/bin\nUSER 1\n", Options{}, []int{2}},
		{"scratch base", "UndefinedVar", "FROM scratch\nCOPY $foo .\nUSER 1\n", Options{}, []int{2}},
		{"declared ARG", "UndefinedVar", "FROM scratch\nARG foo\nCOPY $foo .\nUSER 1\n", Options{}, nil},
		{"unknown base env", "UndefinedVar", "FROM alpine\nCOPY $NODE_VERSION .\nUSER 1\n", Options{}, nil},
		{"base image variable near a known one", "UndefinedVar", "FROM golang:1.22\nWORKDIR $GOPATH/src/app\nUSER 1\n", Options{}, nil},
		{"shell-form RUN", "UndefinedVar", "FROM scratch\nRUN echo $foo\nUSER 1\n", Options{}, nil},
		{"fires", "MultipleInstructionsDisallowed", "FROM alpine\nUSER 1\nCMD [\"a\"]\nCMD [\"b\"]\n", Options{}, []int{3}},
		{"separate stages", "MultipleInstructionsDisallowed", "FROM alpine AS a\nCMD [\"a\"]\nFROM a\nUSER 1\nCMD [\"b\"]\n", Options{}, nil},
		{"ENV", "LegacyKeyValueFormat", "FROM alpine\nENV A 1\nUSER 1\n", Options{}, []int{2}},
		{"LABEL", "LegacyKeyValueFormat", "FROM alpine\nLABEL a b\nUSER 1\n", Options{}, []int{2}},
		{"key=value", "LegacyKeyValueFormat", "FROM alpine\nENV A=1\nUSER 1\n", Options{}, nil},
		{"fires", "RedundantTargetPlatform", "FROM --platform=$TARGETPLATFORM alpine\nUSER 1\n", Options{}, []int{1}},
		{"build platform", "RedundantTargetPlatform", "FROM --platform=$BUILDPLATFORM alpine\nUSER 1\n", Options{}, nil},
		{"fires", "SecretsUsedInArgOrEnv", "FROM alpine\nARG GITHUB_TOKEN\nUSER 1\n", Options{}, []int{2}},
		{"allowed", "SecretsUsedInArgOrEnv", "FROM alpine\nARG PUBLIC_KEY\nENV PASSWORD_FILE=/run/secrets/p\nUSER 1\n", Options{}, nil},
		{"fires", "InvalidDefaultArgInFrom", "ARG BASE\nFROM $BASE\nUSER 1\n", Options{BuildArgs: map[string]string{"BASE": "alpine"}}, []int{2}},
		{"default", "InvalidDefaultArgInFrom", "ARG BASE=alpine\nFROM $BASE\nUSER 1\n", Options{}, nil},
		{"fires", "FromPlatformFlagConstDisallowed", "FROM --platform=linux/amd64 alpine AS build\nUSER 1\n", Options{}, []int{1}},
		{"named for it", "FromPlatformFlagConstDisallowed", "FROM --platform=linux/amd64 alpine AS build-amd64\nUSER 1\n", Options{}, nil},
		{"fires", "CopyIgnoredFile", "FROM alpine\nCOPY secret.txt logs/a.log /\nUSER 1\n", Options{Ignore: ignore}, []int{2, 2}},
		{"not ignored", "CopyIgnoredFile", "FROM alpine\nCOPY app.txt /\nUSER 1\n", Options{Ignore: ignore}, nil},
		{"from a stage", "CopyIgnoredFile", "FROM alpine AS a\nFROM alpine\nCOPY --from=a secret.txt /\nUSER 1\n", Options{Ignore: ignore}, nil},
		{"experimental on", "InvalidDefinitionDescription", "# check=experimental=InvalidDefinitionDescription\n\n# the version\nARG VERSION=1\nFROM alpine\nUSER 1\n", Options{}, []int{4}},
		{"experimental off", "InvalidDefinitionDescription", "# the version\nARG VERSION=1\nFROM alpine\nUSER 1\n", Options{}, nil},
		{"fires", "ExposeProtoCasing", "FROM alpine\nEXPOSE 80/TCP\nUSER 1\n", Options{}, []int{2}},
		{"lowercase", "ExposeProtoCasing", "FROM alpine\nEXPOSE 80/tcp 53/udp\nUSER 1\n", Options{}, nil},
		{"fires", "ExposeInvalidFormat", "FROM alpine\nEXPOSE 8080:80\nUSER 1\n", Options{}, []int{2}},
		{"port only", "ExposeInvalidFormat", "FROM alpine\nEXPOSE 8000-8002\nUSER 1\n", Options{}, nil},
	})
}

// TestBuildKitMessages checks that findings of BuildKit's rules carry
// BuildKit's own message and URL.
func TestBuildKitMessages(t *testing.T) {
	fs, err := Check([]byte("FROM alpine\nMAINTAINER me\nUSER 1\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	f, ok := find(fs, "MaintainerDeprecated")
	if !ok || f.Message != linter.RuleMaintainerDeprecated.Format() || f.URL != linter.RuleMaintainerDeprecated.URL || f.Fix == "" {
		t.Errorf("finding = %+v", f)
	}
}

package vars

import (
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

func ptr(s string) *string { return &s }

func expand(_ *instructions.ArgCommand, word string, env *Env) (string, error) {
	w, _, err := shell.NewLex('\\').ProcessWord(word, env)
	return w, err
}

func TestEnvSetMovesKeyToEnd(t *testing.T) {
	e := New()
	e.Set("A", "1")
	e.Set("B", "2")
	e.Set("A", "3")
	if got := strings.Join(e.Slice(), " "); got != "B=2 A=3" {
		t.Fatalf("Slice = %q, want B=2 A=3", got)
	}
	c := e.Clone()
	c.Set("B", "x")
	if v, _ := e.Get("B"); v != "2" {
		t.Fatalf("Clone shares state: B = %q", v)
	}
}

func TestPredefined(t *testing.T) {
	amd := v1.Platform{OS: "linux", Architecture: "amd64"}
	arm := v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
	tests := []struct {
		key, want string
		args      map[string]string
		stage     string
	}{
		{key: "BUILDPLATFORM", want: "linux/amd64"},
		{key: "TARGETPLATFORM", want: "linux/arm64/v8"},
		{key: "TARGETARCH", want: "arm64"},
		{key: "TARGETVARIANT", want: "v8"},
		{key: "BUILDARCH", want: "amd64"},
		{key: "TARGETSTAGE", want: "default"},
		{key: "TARGETSTAGE", want: "build", stage: "build"},
		{key: "TARGETARCH", want: "riscv64", args: map[string]string{"TARGETARCH": "riscv64"}},
	}
	for _, tt := range tests {
		env := Predefined(amd, arm, tt.stage, tt.args)
		if v, ok := env.Get(tt.key); !ok || v != tt.want {
			t.Errorf("%s (stage %q, args %v) = %q, %v; want %q", tt.key, tt.stage, tt.args, v, ok, tt.want)
		}
	}
}

func TestGlobalAndArg(t *testing.T) {
	meta := []*instructions.ArgCommand{{Args: []instructions.KeyValuePairOptional{
		{Key: "A", Value: ptr("a")},
		{Key: "B", Value: ptr("${A}b")},
		{Key: "C"},
		{Key: "D", Value: ptr("d")},
	}}}
	env := New()
	names, err := Global(env, meta, map[string]string{"D": "from-build-arg"}, expand)
	if err != nil {
		t.Fatal(err)
	}
	if !names["C"] || len(names) != 4 {
		t.Errorf("names = %v, want A B C D", names)
	}
	for k, want := range map[string]string{"A": "a", "B": "ab", "D": "from-build-arg"} {
		if v, _ := env.Get(k); v != want {
			t.Errorf("global %s = %q, want %q", k, v, want)
		}
	}
	if _, ok := env.Get("C"); ok {
		t.Error("an ARG without a value has a value")
	}
	stage := New()
	stage.Set("X", "x")
	ex := func(w string) (string, error) {
		r, _, err := shell.NewLex('\\').ProcessWord(w, stage)
		return r, err
	}
	args := []struct {
		kv     instructions.KeyValuePairOptional
		build  map[string]string
		want   string
		wantOK bool
	}{
		{instructions.KeyValuePairOptional{Key: "A"}, nil, "a", true},                       // global value
		{instructions.KeyValuePairOptional{Key: "A", Value: ptr("$X-1")}, nil, "x-1", true}, // default expanded in the stage
		{instructions.KeyValuePairOptional{Key: "A", Value: ptr("z")}, map[string]string{"A": "ba"}, "ba", true},
		{instructions.KeyValuePairOptional{Key: "C"}, nil, "", false}, // declared, no value anywhere
	}
	for _, tt := range args {
		v, ok, err := Arg(tt.kv, tt.build, env, ex)
		if err != nil || v != tt.want || ok != tt.wantOK {
			t.Errorf("Arg(%v, %v) = %q, %v, %v; want %q, %v", tt.kv, tt.build, v, ok, err, tt.want, tt.wantOK)
		}
	}
	if !slices.Equal(env.Keys(), []string{"A", "B", "D"}) {
		t.Errorf("keys = %v", env.Keys())
	}
}

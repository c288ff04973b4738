// Package vars is the one implementation of Dockerfile variable scoping,
// shared by the frontend (which builds) and frontend/check (which lints),
// so the two never disagree about a variable's value.
//
// Its key type is Env, an ordered set of variables as a BuildKit state's
// environment. Predefined gives the ARGs BuildKit predefines, Global
// applies the ARGs before the first FROM, and Arg resolves an ARG inside a
// stage.
package vars

import (
	"github.com/containerd/platforms"
	"maps"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// Env is an ordered set of variables, as a BuildKit state's env: setting a
// key moves it to the end. It is the environment both for expanding words
// and for RUN. It implements shell.EnvGetter.
type Env struct {
	keys []string
	vals map[string]string
	size int // bytes of keys and values
	max  int // an upper bound of the longest value
}

var _ shell.EnvGetter = (*Env)(nil)

// New returns an empty Env.
func New() *Env { return &Env{vals: map[string]string{}} }

// Get returns the value of k.
func (e *Env) Get(k string) (string, bool) {
	v, ok := e.vals[k]
	return v, ok
}

// Keys returns the keys in order.
func (e *Env) Keys() []string { return e.keys }

// Set sets k to v and moves k to the end.
func (e *Env) Set(k, v string) {
	if old, ok := e.vals[k]; ok {
		e.keys = slices.DeleteFunc(e.keys, func(x string) bool { return x == k })
		e.size -= len(k) + len(old)
	}
	e.keys = append(e.keys, k)
	e.vals[k] = v
	e.size += len(k) + len(v)
	e.max = max(e.max, len(v))
}

// MaxLen is an upper bound of the longest value's length.
func (e *Env) MaxLen() int { return e.max }

// Size returns the bytes of every key and value.
func (e *Env) Size() int { return e.size }

// Clone returns a copy of e.
func (e *Env) Clone() *Env {
	return &Env{keys: slices.Clone(e.keys), vals: maps.Clone(e.vals), size: e.size, max: e.max}
}

// Slice returns the variables as KEY=VALUE, in order.
func (e *Env) Slice() []string {
	out := make([]string, 0, len(e.keys))
	for _, k := range e.keys {
		out = append(out, k+"="+e.vals[k])
	}
	return out
}

// FormatPlatform writes p as os/arch[/variant], "" for the zero platform.
func FormatPlatform(p v1.Platform) string {
	if p.OS == "" && p.Architecture == "" {
		return ""
	}
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// Predefined returns the ARGs BuildKit predefines in the global scope for
// a build on build for target, whose target stage is targetStage ("" is
// "default"); a build arg of the same name overrides each.
func Predefined(build, target v1.Platform, targetStage string, buildArgs map[string]string) *Env {
	if targetStage == "" {
		targetStage = "default"
	}
	env := New()
	for _, kv := range [...][2]string{
		{"BUILDPLATFORM", FormatPlatform(build)},
		{"BUILDOS", build.OS},
		{"BUILDOSVERSION", build.OSVersion},
		{"BUILDARCH", build.Architecture},
		{"BUILDVARIANT", build.Variant},
		{"TARGETPLATFORM", FormatPlatform(target)},
		{"TARGETOS", target.OS},
		{"TARGETOSVERSION", target.OSVersion},
		{"TARGETARCH", target.Architecture},
		{"TARGETVARIANT", target.Variant},
		{"TARGETSTAGE", targetStage},
	} {
		v := kv[1]
		if ov, ok := buildArgs[kv[0]]; ok {
			v = ov
		}
		env.Set(kv[0], v)
	}
	return env
}

// Expand expands a word with the variables of env in scope. The frontend
// fails on an error; the linter keeps the word as written.
type Expand func(cmd *instructions.ArgCommand, word string, env *Env) (string, error)

// Global applies the ARGs declared before the first FROM to env, in
// order, as BuildKit does: a build arg wins over the default, a default is
// expanded with what is in scope so far, an ARG with neither is declared
// without a value. It returns every global ARG's name.
func Global(env *Env, meta []*instructions.ArgCommand, buildArgs map[string]string, expand Expand) (map[string]bool, error) {
	names := map[string]bool{}
	for _, c := range meta {
		for _, kv := range c.Args {
			names[kv.Key] = true
			if v, ok := buildArgs[kv.Key]; ok {
				env.Set(kv.Key, v)
				continue
			}
			if kv.Value == nil {
				continue
			}
			v, err := expand(c, *kv.Value, env)
			if err != nil {
				return names, err
			}
			env.Set(kv.Key, v)
		}
	}
	return names, nil
}

// Arg returns the value an ARG inside a stage takes, as BuildKit: the
// build arg of its name, else its default expanded with the stage's
// variables, else the global ARG's value. ok is false for an ARG with no
// value at all.
func Arg(kv instructions.KeyValuePairOptional, buildArgs map[string]string, globals *Env, expand func(word string) (string, error)) (value string, ok bool, err error) {
	if v, ok := buildArgs[kv.Key]; ok {
		return v, true, nil
	}
	if kv.Value != nil {
		v, err := expand(*kv.Value)
		return v, true, err
	}
	if globals != nil {
		if v, ok := globals.Get(kv.Key); ok {
			return v, true, nil
		}
	}
	return "", false, nil
}

// ParsePlatform reads a platform ("os", "arch", "os/arch",
// "os/arch/variant") with containerd's platforms package and normalises it
// as containerd does: linux/x86_64 is linux/amd64, arm is arm/v7, arm64's
// v8 and amd64's v1 are dropped, amd64/v2..v4 kept.
func ParsePlatform(s string) (v1.Platform, error) {
	p, err := platforms.Parse(strings.TrimSpace(s))
	if err != nil {
		return v1.Platform{}, err
	}
	p = platforms.Normalize(p)
	return v1.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant}, nil
}

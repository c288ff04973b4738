package build

import (
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/bldbuild/bld/dag"
	"github.com/bldbuild/bld/frontend/vars"
	"github.com/bldbuild/bld/internal/binfmt"
)

// ParsePlatform parses a --platform value as containerd's platforms package
// does, normalised (vars.ParsePlatform); "local" is the host's platform.
func ParsePlatform(s string) (v1.Platform, error) {
	s = strings.TrimSpace(s)
	if s == "local" {
		return HostPlatform(), nil
	}
	p, err := vars.ParsePlatform(s)
	if err != nil {
		return v1.Platform{}, fmt.Errorf("--platform %s: %w", s, err)
	}
	return p, nil
}

// FormatPlatform is p as "os/arch[/variant]".
func FormatPlatform(p v1.Platform) string { return vars.FormatPlatform(p) }

// CheckPlatform returns nil when programs built for p run here, natively or
// through a registered emulator (internal/binfmt), else one error line that
// says how to get one (bld binfmt --install ARCH).
func CheckPlatform(p v1.Platform) error {
	return binfmt.Check(specs.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant})
}

// checkEmulation fails, before anything runs, when a RUN step of target's
// graph is for a platform this host cannot execute: the platform of a RUN
// is its stage's, the Source at the bottom of its chain.
func checkEmulation(target *dag.Vertex, fallback v1.Platform) error {
	seen := map[*dag.Vertex]bool{}
	checked := map[string]error{}
	var first *dag.Vertex // the failing RUN on the earliest line
	var firstErr error
	var walk func(v *dag.Vertex)
	walk = func(v *dag.Vertex) {
		if seen[v] {
			return
		}
		seen[v] = true
		if _, ok := v.Op.(*dag.Run); ok {
			p := fallback
			if s := stageSource(v); s != nil && s.Platform != "" {
				if sp, err := vars.ParsePlatform(s.Platform); err == nil {
					p = sp
				}
			}
			key := vars.FormatPlatform(p)
			err, ok := checked[key]
			if !ok {
				err = CheckPlatform(p)
				checked[key] = err
			}
			if err != nil && (first == nil || v.Pos.Line < first.Pos.Line) {
				first, firstErr = v, err
			}
		}
		for _, in := range v.Inputs {
			walk(in)
		}
	}
	walk(target)
	if first == nil {
		return nil
	}
	name := first.Name
	if i := strings.Index(name, "] "); strings.HasPrefix(name, "[") && i > 0 {
		name = name[i+2:]
	}
	return fmt.Errorf("%s: %s: %w", first.Pos, name, firstErr)
}

// stageSource is the Source at the bottom of v's chain (its FROM).
func stageSource(v *dag.Vertex) *dag.Source {
	for v != nil {
		if s, ok := v.Op.(*dag.Source); ok {
			return s
		}
		if len(v.Inputs) == 0 {
			return nil
		}
		v = v.Inputs[0]
	}
	return nil
}

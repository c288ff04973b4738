package frontend

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"golang.org/x/sync/errgroup"
)

// resolveStages marks what target needs, resolves the base images of
// those stages, and adds the ONBUILD triggers of their bases, until the
// triggers name no further stage.
func (b *build) resolveStages(ctx context.Context, target *stage) error {
	for {
		if err := b.reach(target); err != nil {
			return err
		}
		if err := b.checkCycles(); err != nil {
			return err
		}
		if err := b.resolveImages(ctx); err != nil {
			return err
		}
		newDeps := false
		for _, s := range b.stages {
			if !s.reachable || s.pseudo || s.onbuilt {
				continue
			}
			s.onbuilt = true
			added, err := b.addTriggers(s)
			if err != nil {
				return err
			}
			newDeps = newDeps || added
		}
		if !newDeps {
			return nil
		}
		for _, s := range b.stages {
			s.reachable = false
		}
	}
}

// resolveImages calls Options.Resolve, concurrently and once per reference
// and platform, for the base image of every reachable stage not built on
// another stage.
func (b *build) resolveImages(ctx context.Context) error {
	var need []*stage
	jobs := b.resolved
	fresh := map[string]*resolveJob{}
	key := func(s *stage) string { return s.baseName + " " + formatPlatform(s.platform) }
	for _, s := range b.stages {
		if !s.reachable || s.resolved || s.base != nil {
			continue
		}
		s.resolved = true
		if s.baseErr != nil {
			return &Error{File: b.opt.Filename, Line: s.line, Instruction: s.instr, Err: s.baseErr}
		}
		if !s.platformSet {
			s.platform = b.targetPlatform
		}
		if s.baseName == scratch {
			continue
		}
		if _, err := name.ParseReference(s.baseName); err != nil {
			return &Error{File: b.opt.Filename, Line: s.line, Instruction: s.instr,
				Err: fmt.Errorf("invalid reference %q: %w", s.baseName, err)}
		}
		if b.opt.Resolve == nil {
			return &Error{File: b.opt.Filename, Line: s.line, Instruction: s.instr,
				Err: fmt.Errorf("%s: no image resolver", s.baseName)}
		}
		need = append(need, s)
		if jobs[key(s)] == nil {
			j := &resolveJob{ref: s.baseName, platform: s.platform}
			jobs[key(s)] = j
			fresh[key(s)] = j
		}
	}
	var g errgroup.Group
	for _, j := range fresh {
		g.Go(func() error {
			j.img, j.err = b.opt.Resolve(ctx, j.ref, j.platform)
			if j.err == nil && j.img == nil {
				j.err = errors.New("resolver returned no image")
			}
			return nil
		})
	}
	_ = g.Wait()
	for _, s := range need {
		j := jobs[key(s)]
		if j.err != nil {
			return &Error{File: b.opt.Filename, Line: s.line, Instruction: s.instr,
				Err: fmt.Errorf("%s: %w", s.baseName, j.err)}
		}
		s.baseImg = j.img
	}
	return nil
}

// resolveJob is one call of Options.Resolve.
type resolveJob struct {
	ref      string
	platform v1.Platform
	img      *Image
	err      error
}

// addTriggers prepends to s the ONBUILD triggers of its base: the base
// image config's OnBuild, or the ONBUILD instructions of the base stage.
// It reports whether a trigger reads another stage.
func (b *build) addTriggers(s *stage) (bool, error) {
	var triggers []string
	if s.base != nil {
		for _, c := range s.base.raw {
			if ob, ok := c.(*instructions.OnbuildCommand); ok {
				triggers = append(triggers, ob.Expression)
			}
		}
	} else if s.baseImg != nil && s.baseImg.Config != nil {
		triggers = s.baseImg.Config.Config.OnBuild
	}
	if len(triggers) == 0 {
		return false, nil
	}
	fail := func(err error) error {
		return &Error{File: b.opt.Filename, Line: s.line, Instruction: "ONBUILD", Err: err}
	}
	var cmds []*command
	newDeps := false
	for _, t := range triggers {
		ast, err := parser.Parse(strings.NewReader(t))
		if err != nil {
			return false, fail(cause(err))
		}
		if len(ast.AST.Children) != 1 {
			return false, fail(errors.New("onbuild trigger should be a single expression"))
		}
		n := ast.AST.Children[0]
		ic, err := instructions.ParseCommand(n)
		if err != nil {
			return false, fail(cause(err))
		}
		s.cmdTotal++ // BuildKit counts every trigger in the progress total
		cmd, err := b.toCommand(ic, s.line, true)
		if err != nil {
			return false, err
		}
		if len(cmd.sources) > 0 {
			newDeps = true
			s.deps = append(s.deps, cmd)
		}
		cmds = append(cmds, cmd)
	}
	s.commands = append(cmds, s.commands...)
	return newDeps, nil
}

package check

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"github.com/bldbuild/bld/frontend/vars"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// A stage is one FROM and its instructions, with what the checks learn
// about it.
type stage struct {
	index  int
	inst   *instructions.Stage
	base   string   // FROM's image or stage, global ARGs expanded
	parent *stage   // the earlier stage FROM names, nil for an image
	deps   []*stage // stages it needs: parent, COPY --from, RUN --mount from=
	end    *state   // variables and settings after its last instruction
}

// chain returns s and the stages it is built on, the root first.
func (s *stage) chain() []*stage {
	var ch []*stage
	seen := map[*stage]bool{}
	for p := s; p != nil && !seen[p]; p = p.parent {
		seen[p] = true
		ch = append([]*stage{p}, ch...)
	}
	return ch
}

// root returns the image the chain of s starts from.
func (s *stage) root() string {
	return s.chain()[0].base
}

// globalArgs returns the variables in scope before the first FROM, with
// buildArgs applied (frontend/vars, the same scoping as the build), and
// every global ARG name. A default that does not expand is kept as written:
// the build reports that error, the linter goes on.
func (c *checker) globalArgs(cmds []instructions.ArgCommand, buildArgs map[string]string, lastStage string) (*vars.Env, map[string]bool) {
	target := c.opt.Target
	if target == "" {
		target = lastStage
	}
	host := v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	env := vars.Predefined(host, host, target, c.opt.BuildArgs)
	meta := make([]*instructions.ArgCommand, len(cmds))
	for i := range cmds {
		meta[i] = &cmds[i]
	}
	keys, _ := vars.Global(env, meta, buildArgs, func(cmd *instructions.ArgCommand, word string, env *vars.Env) (string, error) {
		if !c.bounded(cmd, word, env) {
			return word, nil
		}
		r, err := c.lex.ProcessWordWithMatches(word, env)
		if err != nil {
			return word, nil
		}
		return c.keep(cmd, word, r.Result), nil
	})
	return env, keys
}

// plan builds the stage graph: bases, parents, dependencies, the final
// stage and the stages to check.
func (c *checker) plan(stages []instructions.Stage, metaArgs []instructions.ArgCommand) error {
	c.metaCmds = metaArgs
	c.globals, c.globalKeys = c.globalArgs(metaArgs, c.opt.BuildArgs, stages[len(stages)-1].Name)
	byName := map[string]*stage{}
	for i := range stages {
		s := &stage{index: i, inst: &stages[i]}
		r, err := c.lex.ProcessWordWithMatches(s.inst.BaseName, c.globals)
		s.base = r.Result
		if err != nil {
			s.base = s.inst.BaseName
		}
		if p, ok := byName[strings.ToLower(s.base)]; ok {
			s.parent = p
			s.deps = append(s.deps, p)
		}
		if s.inst.Name != "" {
			if _, dup := byName[s.inst.Name]; !dup {
				byName[s.inst.Name] = s
			}
		}
		c.stages = append(c.stages, s)
	}
	for _, s := range c.stages {
		for _, cmd := range s.inst.Commands {
			for _, ref := range stageRefs(cmd) {
				r, _, err := c.lex.ProcessWord(ref, c.globals)
				if err != nil {
					r = ref
				}
				if d := c.stageRef(r); d != nil && d != s {
					s.deps = append(s.deps, d)
				}
			}
		}
	}

	c.final = c.stages[len(c.stages)-1]
	if c.opt.Target != "" {
		t, ok := byName[strings.ToLower(c.opt.Target)]
		if !ok {
			return &ParseError{File: c.file, Line: 1, Err: errors.New("target stage " + strconv.Quote(c.opt.Target) + " could not be found")}
		}
		c.final = t
	}
	if c.opt.Target == "" {
		c.linted = c.stages
		return nil
	}
	need := map[*stage]bool{}
	var walk func(*stage)
	walk = func(s *stage) {
		if need[s] {
			return
		}
		need[s] = true
		for _, d := range s.deps {
			walk(d)
		}
	}
	walk(c.final)
	for _, s := range c.stages {
		if need[s] {
			c.linted = append(c.linted, s)
		}
	}
	return nil
}

// stageRef resolves COPY --from / --mount from= to a stage: a name, or an
// index; nil for an image.
func (c *checker) stageRef(ref string) *stage {
	ref = strings.ToLower(ref)
	for _, s := range c.stages {
		if s.inst.Name != "" && s.inst.Name == ref {
			return s
		}
	}
	if i, err := strconv.Atoi(ref); err == nil && i >= 0 && i < len(c.stages) {
		return c.stages[i]
	}
	return nil
}

// stageRefs returns the --from values of cmd.
func stageRefs(cmd instructions.Command) []string {
	switch c := cmd.(type) {
	case *instructions.CopyCommand:
		if c.From != "" {
			return []string{c.From}
		}
	case *instructions.RunCommand:
		var refs []string
		for _, m := range runMounts(c) {
			if m.From != "" {
				refs = append(refs, m.From)
			}
		}
		return refs
	}
	return nil
}

// runMounts returns the --mount flags of c, tolerating a RunCommand that
// did not come from instructions.Parse.
func runMounts(c *instructions.RunCommand) (ms []*instructions.Mount) {
	defer func() {
		if recover() != nil {
			ms = nil
		}
	}()
	return instructions.GetMounts(c)
}

// line is the first line of a location, 0 if there is none.
func line(loc []parser.Range) int {
	if len(loc) == 0 {
		return 0
	}
	return loc[0].Start.Line
}

// isScratch reports whether ref is the empty image.
func isScratch(ref string) bool { return strings.EqualFold(ref, "scratch") }

// wordLimit is the frontend's default word-size limit (frontend.Limits):
// an expansion that would pass it fails the build, so the linter reports
// it and expands no further, keeping its memory bounded too.
const wordLimit = 1 << 20

// bounded reports whether word may be expanded with env: not when every
// "$" expanding to the longest value could pass four times the limit
// (the frontend's own bound). The first refusal becomes Check's error.
func (c *checker) bounded(cmd instructions.Command, word string, env *vars.Env) bool {
	if int64(len(word))+int64(strings.Count(word, "$"))*int64(env.MaxLen()) <= 4*wordLimit {
		return true
	}
	c.overLimit(cmd)
	return false
}

// keep returns the expansion w of word, or word itself when w is over the
// limit.
func (c *checker) keep(cmd instructions.Command, word, w string) string {
	if len(w) <= wordLimit {
		return w
	}
	c.overLimit(cmd)
	return word
}

func (c *checker) overLimit(cmd instructions.Command) {
	if c.limitErr == nil {
		c.limitErr = &ParseError{File: c.file, Line: max(line(cmd.Location()), 1),
			Err: fmt.Errorf("%s: an expanded word is over the limit of 1MiB (--limit word-size=SIZE raises it)", strings.ToUpper(cmd.Name()))}
	}
}

package check

import (
	"errors"
	"runtime"
	"strconv"
	"strings"

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

// vars is an ordered set of variables; it implements shell.EnvGetter.
type vars struct {
	m    map[string]string
	keys []string
}

func newVars() *vars { return &vars{m: map[string]string{}} }

func (v *vars) Get(k string) (string, bool) {
	s, ok := v.m[k]
	return s, ok
}

func (v *vars) Keys() []string { return v.keys }

func (v *vars) set(k, val string) {
	if _, ok := v.m[k]; !ok {
		v.keys = append(v.keys, k)
	}
	v.m[k] = val
}

func (v *vars) clone() *vars {
	n := &vars{m: make(map[string]string, len(v.m)), keys: append([]string(nil), v.keys...)}
	for k, s := range v.m {
		n.m[k] = s
	}
	return n
}

// platformArgs are the ARGs BuildKit predefines, for a linux build on this
// machine, overridden by build args as BuildKit does.
func platformArgs(buildArgs map[string]string, target string) *vars {
	if target == "" {
		target = "default"
	}
	p := "linux/" + runtime.GOARCH
	v := newVars()
	for _, kv := range [...][2]string{
		{"BUILDPLATFORM", p}, {"BUILDOS", "linux"}, {"BUILDOSVERSION", ""}, {"BUILDARCH", runtime.GOARCH}, {"BUILDVARIANT", ""},
		{"TARGETPLATFORM", p}, {"TARGETOS", "linux"}, {"TARGETOSVERSION", ""}, {"TARGETARCH", runtime.GOARCH}, {"TARGETVARIANT", ""},
		{"TARGETSTAGE", target},
	} {
		val := kv[1]
		if o, ok := buildArgs[kv[0]]; ok {
			val = o
		}
		v.set(kv[0], val)
	}
	return v
}

// metaArgs applies the global ARGs to args in order, as BuildKit's
// buildMetaArgs does, and returns every global ARG name.
func (c *checker) metaArgs(args *vars, cmds []instructions.ArgCommand, buildArgs map[string]string) (*vars, map[string]bool) {
	keys := map[string]bool{}
	for _, cmd := range cmds {
		for _, kv := range cmd.Args {
			keys[kv.Key] = true
			if v, ok := buildArgs[kv.Key]; ok {
				args.set(kv.Key, v)
			} else if kv.Value != nil {
				r, err := c.lex.ProcessWordWithMatches(*kv.Value, args)
				if err != nil {
					r.Result = *kv.Value
				}
				args.set(kv.Key, r.Result)
			}
		}
	}
	return args, keys
}

// plan builds the stage graph: bases, parents, dependencies, the final
// stage and the stages to check.
func (c *checker) plan(stages []instructions.Stage, metaArgs []instructions.ArgCommand) error {
	c.metaCmds = metaArgs
	c.globals, c.globalKeys = c.metaArgs(platformArgs(c.opt.BuildArgs, c.opt.Target), metaArgs, c.opt.BuildArgs)
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

package frontend

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/buildkit/util/suggest"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"

	"github.com/bldbuild/bld/dag"
	"github.com/bldbuild/bld/frontend/vars"
)

// scratch is the empty base image.
const scratch = "scratch"

// build is the state of one Parse call.
type build struct {
	opt            Options
	limits         Limits
	shlex          *shell.Lex
	targetPlatform v1.Platform
	buildPlatform  v1.Platform
	globalArgs     *vars.Env
	proxyEnv       []string

	stages   []*stage               // FROM stages in Dockerfile order, then pseudo stages
	byName   map[string]*stage      // FROM stages by lower-case name
	images   map[string]*stage      // pseudo stages by reference
	resolved map[string]*resolveJob // Resolve calls by reference and platform
}

// stage is a FROM stage, or a pseudo stage: an image that a COPY --from or
// RUN --mount from= names directly.
type stage struct {
	name  string // lower-case stage name; "" when unnamed
	id    string // Vertex.Stage and Result.Stages: name, or index
	label string // BuildKit's progress name: name or "stage-N"; "" for a lone stage
	line  int    // FROM line, or the line that named a pseudo stage
	instr string // "FROM", or the instruction naming a pseudo stage

	pseudo      bool
	baseName    string // FROM argument after expansion
	baseErr     error  // expanding the FROM line failed (reported only if needed)
	platform    v1.Platform
	platformSet bool // FROM --platform given
	base        *stage

	raw       []instructions.Command
	commands  []*command
	deps      []*command // commands naming another stage (for the cycle check)
	prepared  bool
	reachable bool
	resolved  bool
	onbuilt   bool
	cmdTotal  int
	cmdIndex  int

	// Lowering state, set by dispatch.
	dispatched bool
	baseImg    *Image
	vertex     *dag.Vertex
	cfg        v1.Config
	author     string
	env        *vars.Env // variables for expansion and RUN: base env, ENV and ARG
	buildArgs  []instructions.KeyValuePairOptional
	steps      []Step
	cmdSet     bool // CMD given in this stage (ENTRYPOINT keeps it)
}

// command is an instruction with the stages it reads.
type command struct {
	instructions.Command
	line    int
	sources []*stage // COPY --from: one; RUN: one per --mount (nil: none)
	onbuild bool     // a trigger from the base's ONBUILD
}

// newBuild parses dockerfile into stages and computes the global args.
func newBuild(dockerfile []byte, opt Options) (*build, error) {
	b := &build{
		opt:      opt,
		byName:   map[string]*stage{},
		images:   map[string]*stage{},
		resolved: map[string]*resolveJob{},
	}
	b.buildPlatform = opt.BuildPlatform
	if b.buildPlatform.OS == "" {
		b.buildPlatform = hostPlatform()
	}
	b.targetPlatform = opt.Platform
	if b.targetPlatform.OS == "" {
		b.targetPlatform = b.buildPlatform
	}
	b.proxyEnv = proxyEnv(opt.BuildArgs)
	b.limits = opt.Limits.withDefaults()
	if n := int64(len(dockerfile)); n > b.limits.DockerfileSize {
		return nil, &Error{File: opt.Filename, Err: &LimitError{What: "size", Key: "dockerfile-size", Got: n, Limit: b.limits.DockerfileSize}}
	}

	ast, err := parser.Parse(bytes.NewReader(dockerfile))
	if err != nil {
		if cause(err).Error() == "file with no instructions" {
			return nil, &Error{File: opt.Filename, Err: errNoStage}
		}
		line := errLine(err)
		return nil, &Error{File: opt.Filename, Line: line, Instruction: keywordAt(dockerfile, line), Err: cause(err)}
	}
	b.shlex = shell.NewLex(ast.EscapeToken)

	var (
		meta []*instructions.ArgCommand
		raw  []*instructions.Stage
		cmds [][]instructions.Command
	)
	for i, n := range ast.AST.Children {
		if i >= b.limits.Instructions {
			return nil, &Error{File: opt.Filename, Line: n.StartLine, Instruction: strings.ToUpper(n.Value),
				Err: &LimitError{What: "instructions", Key: "instructions", Got: int64(len(ast.AST.Children)), Limit: int64(b.limits.Instructions), Count: true}}
		}
		v, err := instructions.ParseInstruction(n)
		if err != nil {
			return nil, &Error{File: opt.Filename, Line: n.StartLine, Instruction: strings.ToUpper(n.Value), Err: cause(err)}
		}
		switch c := v.(type) {
		case *instructions.Stage:
			raw = append(raw, c)
			cmds = append(cmds, nil)
		case *instructions.ArgCommand:
			if len(raw) == 0 {
				meta = append(meta, c)
				continue
			}
			cmds[len(cmds)-1] = append(cmds[len(cmds)-1], c)
		case instructions.Command:
			if len(raw) == 0 {
				return nil, &Error{File: opt.Filename, Line: n.StartLine, Instruction: strings.ToUpper(n.Value),
					Err: errors.New("no build stage in current context")}
			}
			cmds[len(cmds)-1] = append(cmds[len(cmds)-1], c)
		default:
			return nil, &Error{File: opt.Filename, Line: n.StartLine, Err: fmt.Errorf("%T is not a command type", v)}
		}
	}
	if len(raw) == 0 {
		return nil, &Error{File: opt.Filename, Err: errNoStage}
	}

	b.globalArgs, err = b.globalArgsFrom(meta, raw[len(raw)-1].Name)
	if err != nil {
		return nil, err
	}
	for i, st := range raw {
		b.addStage(i, st, cmds[i])
	}
	return b, nil
}

var errNoStage = errors.New("no build stage")

// addStage records FROM stage i: its base name and platform expanded with
// the global args, and its base when that is an earlier stage.
func (b *build) addStage(i int, st *instructions.Stage, cmds []instructions.Command) {
	s := &stage{
		name:  st.Name,
		id:    st.Name,
		label: st.Name,
		line:  startLine(st.Location),
		instr: "FROM",
		raw:   cmds,
	}
	if s.id == "" {
		s.id = strconv.Itoa(i)
		s.label = fmt.Sprintf("stage-%d", i)
	}
	s.baseName, s.baseErr = b.expandWord(st.BaseName, b.globalArgs)
	if s.baseErr == nil && s.baseName == "" {
		s.baseErr = fmt.Errorf("base name (%s) should not be blank", st.BaseName)
	}
	if st.Platform != "" && s.baseErr == nil {
		v, err := b.expandWord(st.Platform, b.globalArgs)
		switch {
		case err != nil:
			s.baseErr = fmt.Errorf("process arguments for platform %s: %w", st.Platform, err)
		case v == "":
			s.baseErr = fmt.Errorf("empty platform value from expression %s", st.Platform)
		default:
			s.platform, err = parsePlatform(v)
			if err != nil {
				s.baseErr = fmt.Errorf("parse platform %s: %w", st.Platform, err)
			}
			s.platformSet = true
		}
	}
	if s.baseErr == nil {
		s.base = b.byName[strings.ToLower(s.baseName)]
	}
	if s.base == nil && s.baseName != scratch {
		s.cmdTotal = 1
	}
	for _, c := range cmds {
		switch c.(type) {
		case *instructions.AddCommand, *instructions.CopyCommand, *instructions.RunCommand, *instructions.WorkdirCommand:
			s.cmdTotal++
		}
	}
	b.stages = append(b.stages, s)
	if s.name != "" {
		b.byName[s.name] = s
	}
}

// targetStage returns the stage Options.Target names, or the last one.
func (b *build) targetStage() (*stage, error) {
	if b.opt.Target == "" {
		return b.stages[len(b.stages)-1], nil
	}
	if s, ok := b.byName[strings.ToLower(b.opt.Target)]; ok {
		return s, nil
	}
	var names []string
	for _, s := range b.stages {
		if s.name != "" {
			names = append(names, s.name)
		}
	}
	msg := fmt.Sprintf("target stage %q could not be found", b.opt.Target)
	if m, ok := suggest.Search(b.opt.Target, names, false); ok {
		msg += fmt.Sprintf(" (did you mean %s?)", m)
	}
	if len(names) > 0 {
		msg += "; the stages are " + strings.Join(names, ", ")
	}
	return nil, &Error{File: b.opt.Filename, Err: errors.New(msg)}
}

// pseudoStage returns the stage for an image named by a COPY --from or
// RUN --mount from= of c.
func (b *build) pseudoStage(ref string, c *command) *stage {
	if s, ok := b.images[ref]; ok {
		return s
	}
	s := &stage{
		id:       ref,
		line:     c.line,
		instr:    instrName(c),
		pseudo:   true,
		baseName: ref,
		prepared: true,
	}
	b.stages = append(b.stages, s)
	b.images[ref] = s
	return s
}

// prepare finds the stages the commands of s read.
func (b *build) prepare(s *stage) error {
	if s.prepared {
		return nil
	}
	s.prepared = true
	for _, c := range s.raw {
		cmd, err := b.toCommand(c, startLine(c.Location()), false)
		if err != nil {
			return err
		}
		s.commands = append(s.commands, cmd)
		if len(cmd.sources) > 0 {
			s.deps = append(s.deps, cmd)
		}
	}
	return nil
}

// toCommand wraps c with the stages it reads (BuildKit's toCommand).
func (b *build) toCommand(c instructions.Command, line int, onbuild bool) (*command, error) {
	cmd := &command{Command: c, line: line, onbuild: onbuild}
	switch c := c.(type) {
	case *instructions.CopyCommand:
		if c.From == "" {
			break
		}
		res, err := b.shlex.ProcessWordWithMatches(c.From, vars.New())
		if err != nil {
			return nil, b.cmdErr(cmd, err)
		}
		if res.Result != c.From {
			return nil, b.cmdErr(cmd, errors.New("variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround"))
		}
		var src *stage
		if i, err := strconv.Atoi(c.From); err == nil {
			if i < 0 || i >= len(b.byIndex()) {
				return nil, b.cmdErr(cmd, fmt.Errorf("invalid stage index %d", i))
			}
			src = b.byIndex()[i]
		} else if s, ok := b.byName[strings.ToLower(c.From)]; ok {
			src = s
		} else {
			src = b.pseudoStage(c.From, cmd)
		}
		cmd.sources = []*stage{src}
	case *instructions.RunCommand:
		mounts := instructions.GetMounts(c)
		cmd.sources = make([]*stage, len(mounts))
		any := false
		for i, m := range mounts {
			if m.From == "" {
				continue
			}
			any = true
			if s, ok := b.byName[strings.ToLower(m.From)]; ok {
				cmd.sources[i] = s
			} else {
				cmd.sources[i] = b.pseudoStage(m.From, cmd)
			}
		}
		if !any {
			cmd.sources = nil
		}
	}
	return cmd, nil
}

// byIndex returns the FROM stages (not the pseudo ones), in order.
func (b *build) byIndex() []*stage {
	n := 0
	for n < len(b.stages) && !b.stages[n].pseudo {
		n++
	}
	return b.stages[:n]
}

// reach marks the stages target needs, preparing their commands.
func (b *build) reach(target *stage) error {
	var visit func(s *stage) error
	visit = func(s *stage) error {
		if s.reachable {
			return nil
		}
		s.reachable = true
		if err := b.prepare(s); err != nil {
			return err
		}
		if s.base != nil {
			if err := visit(s.base); err != nil {
				return err
			}
		}
		for _, c := range s.commands {
			for _, src := range c.sources {
				if src != nil {
					if err := visit(src); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}
	return visit(target)
}

// checkCycles fails when the reachable stages read each other in a circle
// (COPY --from of a stage that copies from this one), locating the error
// at the first command of the circle, as BuildKit does.
func (b *build) checkCycles() error {
	visited := map[*stage]bool{}
	onPath := map[*stage]bool{}
	var visit func(s *stage, path []*command) []*command
	visit = func(s *stage, path []*command) []*command {
		if visited[s] {
			return nil
		}
		visited[s] = true
		onPath[s] = true
		for _, c := range s.deps {
			for _, dep := range c.sources {
				if dep == nil {
					continue
				}
				next := append(slices.Clip(path), c)
				if onPath[dep] {
					return next
				}
				if found := visit(dep, next); found != nil {
					return found
				}
			}
		}
		onPath[s] = false
		return nil
	}
	for _, s := range b.stages {
		if !s.reachable {
			continue
		}
		if cmds := visit(s, nil); cmds != nil {
			return b.cmdErr(cmds[0], fmt.Errorf("circular dependency detected on stage: %s", s.label))
		}
	}
	return nil
}

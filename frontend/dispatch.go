package frontend

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"

	"github.com/bldbuild/bld/dag"
	"github.com/bldbuild/bld/frontend/vars"
)

// historyComment marks history entries as BuildKit does.
const historyComment = "buildkit.dockerfile.v0"

// dispatchStages lowers every reachable stage, in Dockerfile order (a
// stage can only build on or copy from stages defined before it).
func (b *build) dispatchStages() error {
	for _, s := range b.stages {
		if s.reachable && s.pseudo {
			b.initStage(s)
			s.dispatched = true
		}
	}
	for _, s := range b.stages {
		if !s.reachable || s.pseudo {
			continue
		}
		b.initStage(s)
		for _, c := range s.commands {
			if err := b.dispatch(s, c); err != nil {
				return b.cmdErr(c, err)
			}
			if err := b.checkEnv(s.env); err != nil {
				return b.cmdErr(c, err)
			}
		}
		s.dispatched = true
	}
	return nil
}

// initStage sets up s from its base: the base stage's state, or the base
// image's config and a *dag.Source (BuildKit's dispatchState.init and the
// start of dispatchStages).
func (b *build) initStage(s *stage) {
	if s.base != nil {
		p := s.base
		s.vertex = p.vertex
		s.cfg = cloneConfig(p.cfg)
		s.cfg.OnBuild = nil
		s.author = p.author
		s.env = p.env.Clone()
		s.buildArgs = slices.Clone(p.buildArgs)
		s.steps = slices.Clone(p.steps)
		s.baseImg = p.baseImg
		s.platform = p.platform
	} else {
		src := &dag.Source{Platform: formatPlatform(s.platform)}
		label := "FROM " + scratch
		if s.baseImg != nil {
			if cf := s.baseImg.Config; cf != nil {
				s.cfg = cloneConfig(cf.Config)
				s.cfg.OnBuild = nil // run by this stage, not inherited
				s.author = cf.Author
			}
			src.Ref = s.baseImg.Ref
			if src.Ref == "" {
				src.Ref = s.baseName
			}
			src.Digest = s.baseImg.Digest
			label = "FROM " + src.Ref
			if src.Digest.Hex != "" && !strings.Contains(src.Ref, "@") {
				label += "@" + src.Digest.String()
			}
		} else {
			s.cfg = v1.Config{WorkingDir: "/"}
		}
		if s.baseImg != nil {
			label = b.prefix(s, label, false)
		}
		s.env = vars.New()
		s.vertex = &dag.Vertex{
			Op:    src,
			Name:  label,
			Stage: s.id,
			Pos:   dag.Pos{File: b.opt.Filename, Line: s.line},
		}
	}
	if _, ok := envValue(s.cfg.Env, "PATH"); !ok {
		s.cfg.Env = append(s.cfg.Env, "PATH="+defaultPathEnv)
	}
	for _, kv := range s.cfg.Env {
		s.env.Set(splitEnv(kv))
	}
	if s.cfg.WorkingDir != "" {
		s.cfg.WorkingDir = normalizePath(s.cfg.WorkingDir, s.cfg.WorkingDir, false)
	}
}

// dispatch applies one instruction to s: expansion first, as BuildKit's
// dispatch, then the instruction's effect.
func (b *build) dispatch(s *stage, c *command) error {
	if err := b.expand(s, c); err != nil {
		return err
	}
	switch x := c.Command.(type) {
	case *instructions.RunCommand:
		return b.dispatchRun(s, c, x)
	case *instructions.CopyCommand:
		return b.dispatchCopy(s, c, copyConfig{
			params: x.SourcesAndDest, from: x.From, chown: x.Chown, chmod: x.Chmod, link: x.Link,
			parents: x.Parents, excludes: x.ExcludePatterns, source: x.String(),
		})
	case *instructions.AddCommand:
		if x.Unpack != nil {
			return errors.New("--unpack is not supported")
		}
		return b.dispatchCopy(s, c, copyConfig{
			params: x.SourcesAndDest, add: true, chown: x.Chown, chmod: x.Chmod, link: x.Link,
			excludes: x.ExcludePatterns, checksum: x.Checksum, keepGitDir: x.KeepGitDir != nil && *x.KeepGitDir,
			source: x.String(),
		})
	case *instructions.WorkdirCommand:
		return b.dispatchWorkdir(s, c, x)
	case *instructions.ArgCommand:
		return b.dispatchArg(s, x)
	case *instructions.ExposeCommand:
		return b.dispatchExpose(s, x)
	}
	return dispatchConfig(s, c.Command)
}

// expand expands the words of c that BuildKit expands, with the stage's
// environment (ARG values are expanded by dispatchArg, heredocs marked for
// expansion with a raw lexer that keeps quotes).
func (b *build) expand(s *stage, c *command) error {
	if _, isArg := c.Command.(*instructions.ArgCommand); !isArg {
		if ex, ok := c.Command.(instructions.SupportsSingleWordExpansion); ok {
			if err := ex.Expand(func(w string) (string, error) { return b.expandWord(w, s.env) }); err != nil {
				return err
			}
		}
	}
	if ex, ok := c.Command.(instructions.SupportsSingleWordExpansionRaw); ok {
		return ex.ExpandRaw(func(w string) (string, error) {
			lex := shell.NewLex('\\')
			lex.SkipProcessQuotes = true
			if err := b.checkBound(w, s.env); err != nil {
				return "", err
			}
			out, _, err := lex.ProcessWord(w, s.env)
			if err == nil {
				err = b.checkWord(out)
			}
			return out, err
		})
	}
	return nil
}

// dispatchArg declares args in s: a build arg overrides the default, an
// ARG without either takes the global value, and every ARG with a value
// joins the environment (so it wins over an earlier ENV inside RUN).
func (b *build) dispatchArg(s *stage, c *instructions.ArgCommand) error {
	commits := make([]string, 0, len(c.Args))
	for _, arg := range c.Args {
		v, ok, err := vars.Arg(arg, b.opt.BuildArgs, b.globalArgs, func(w string) (string, error) { return b.expandWord(w, s.env) })
		if err != nil {
			return err
		}
		if ok {
			arg.Value = &v
		}
		if arg.Value != nil {
			s.env.Set(arg.Key, *arg.Value)
		}
		s.buildArgs = append(s.buildArgs, arg)
		commit := arg.Key
		if arg.Value != nil {
			commit += "=" + *arg.Value
		}
		commits = append(commits, commit)
	}
	s.commit(nil, "ARG "+strings.Join(commits, " "))
	return nil
}

// dispatchWorkdir changes the working directory and, unless it is "/",
// creates it at once, owned by the current USER (BuildKit).
func (b *build) dispatchWorkdir(s *stage, c *command, x *instructions.WorkdirCommand) error {
	wd := normalizePath(s.cfg.WorkingDir, x.Path, false)
	s.cfg.WorkingDir = wd
	if wd == "/" {
		s.commit(nil, "WORKDIR "+wd)
		return nil
	}
	v := b.step(s, c, &dag.Mkdir{Path: wd, User: s.cfg.User}, b.label(s, c, x.String(), false))
	s.commit(v, "WORKDIR "+wd)
	return nil
}

// commit appends a history entry; v is the filesystem step, or nil.
func (s *stage) commit(v *dag.Vertex, createdBy string) {
	s.steps = append(s.steps, Step{Vertex: v, History: v1.History{
		CreatedBy:  createdBy,
		Comment:    historyComment,
		EmptyLayer: v == nil,
	}})
}

// step adds a vertex for op on top of s's chain; extra are the further
// inputs (COPY --from, RUN --mount from=).
func (b *build) step(s *stage, c *command, op dag.Op, name string, extra ...*dag.Vertex) *dag.Vertex {
	v := &dag.Vertex{
		Op:     op,
		Inputs: append([]*dag.Vertex{s.vertex}, extra...),
		Name:   name,
		Stage:  s.id,
		Pos:    dag.Pos{File: b.opt.Filename, Line: c.line},
	}
	s.vertex = v
	return v
}

// label is the progress name of c: its source text, expanded, with the
// instruction upper-cased and BuildKit's "[stage i/n] " prefix.
func (b *build) label(s *stage, c *command, text string, run bool) string {
	lex := *b.shlex
	if run {
		lex.RawQuotes = true
		lex.RawEscapes = true
		lex.SkipUnsetEnv = true
	}
	if b.checkBound(text, s.env) == nil {
		if w, _, err := lex.ProcessWord(text, s.env); err == nil && b.checkWord(w) == nil {
			text = w
		}
	}
	if kw, rest, ok := strings.Cut(text, " "); ok {
		text = strings.ToUpper(kw) + " " + rest
	} else {
		text = strings.ToUpper(text)
	}
	return b.prefix(s, text, c.onbuild)
}

// prefix adds BuildKit's "[stage i/n] " to a progress name.
func (b *build) prefix(s *stage, str string, onbuild bool) string {
	if s.cmdTotal == 0 {
		return str
	}
	out := "["
	if b.opt.MultiPlatform {
		// BuildKit names the stage's platform on every step of a
		// multi-platform build, and the target's where a stage on
		// another platform declares TARGETPLATFORM: "[linux/amd64->arm64 build 2/4]".
		out += formatPlatform(s.platform) + targetSuffix(s) + " "
	}
	if s.label != "" && len(b.stages) > 1 {
		out += s.label + " "
	}
	s.cmdIndex++
	out += fmt.Sprintf("%*d/%d] ", int(1+math.Log10(float64(s.cmdTotal))), s.cmdIndex, s.cmdTotal)
	if onbuild {
		out += "ONBUILD "
	}
	return out + str
}

// withShell wraps a shell-form command line in shell (default /bin/sh -c).
func withShell(shell, args []string) []string {
	if len(shell) == 0 {
		shell = []string{"/bin/sh", "-c"}
	}
	return append(slices.Clone(shell), strings.Join(args, " "))
}

// envValue looks k up in a KEY=VALUE list.
func envValue(env []string, k string) (string, bool) {
	for _, kv := range env {
		if key, v := splitEnv(kv); key == k {
			return v, true
		}
	}
	return "", false
}

// cloneConfig deep-copies the parts of c that instructions change.
func cloneConfig(c v1.Config) v1.Config {
	c.Cmd = slices.Clone(c.Cmd)
	c.Entrypoint = slices.Clone(c.Entrypoint)
	c.Env = slices.Clone(c.Env)
	c.OnBuild = slices.Clone(c.OnBuild)
	c.Shell = slices.Clone(c.Shell)
	c.Labels = maps.Clone(c.Labels)
	c.Volumes = maps.Clone(c.Volumes)
	c.ExposedPorts = maps.Clone(c.ExposedPorts)
	if c.Healthcheck != nil {
		h := *c.Healthcheck
		h.Test = slices.Clone(h.Test)
		c.Healthcheck = &h
	}
	return c
}

// targetSuffix is BuildKit's "->arch" (or "->os/arch") after a stage's
// platform when the stage's variables in scope (declared ARGs) name a
// target platform that differs: TARGETPLATFORM, else TARGETOS, TARGETARCH
// and TARGETVARIANT (BuildKit's platformFromEnv and formatTargetPlatform).
func targetSuffix(s *stage) string {
	if s.env == nil {
		return ""
	}
	var t v1.Platform
	if v, ok := s.env.Get("TARGETPLATFORM"); ok {
		p, err := parsePlatform(v)
		if err != nil {
			return ""
		}
		t = p
	} else {
		set := false
		for k, dst := range map[string]*string{"TARGETOS": &t.OS, "TARGETARCH": &t.Architecture, "TARGETVARIANT": &t.Variant} {
			if v, ok := s.env.Get(k); ok {
				*dst, set = v, true
			}
		}
		if !set {
			return ""
		}
		if t.OS == "" {
			t.OS = s.platform.OS
		}
		if t.Architecture == "" {
			t.Architecture = s.platform.Architecture
		}
		p, err := parsePlatform(formatPlatform(t))
		if err != nil {
			return ""
		}
		t = p
	}
	switch {
	case t.OS == s.platform.OS && t.Architecture != s.platform.Architecture:
		a := t.Architecture
		if t.Variant != "" {
			a += "/" + t.Variant
		}
		return "->" + a
	case t.OS != s.platform.OS:
		return "->" + formatPlatform(t)
	}
	return ""
}

package check

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/bldbuild/bld/frontend/vars"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// Severity says how much a finding matters.
type Severity int

const (
	// Info is advice that never fails a build.
	Info Severity = iota
	// Warning is the default for every rule.
	Warning
	// Error fails the build: a warning when error=true is set.
	Error
)

// A Finding is one rule firing at one line of a Dockerfile.
type Finding struct {
	File     string
	Line     int
	Rule     string
	Severity Severity
	Message  string // what is wrong and why it matters
	Fix      string // one line: what to do instead
	URL      string `json:",omitempty"`
}

// Options configures Check. The zero value checks a file named
// "Dockerfile" without its context.
type Options struct {
	Filename   string                         // name used in findings; "" is "Dockerfile"
	ContextDir string                         // "" = no context checks (MissingDockerignore skipped)
	Ignore     func(rel string) bool          // .dockerignore matcher: true if rel (slash-separated, relative to the context) is excluded; nil: read ContextDir/.dockerignore, if any
	Skip       []string                       // --check-skip, merged with the directive; "all" skips all
	Error      bool                           // --check error=true, merged with the directive
	BuildArgs  map[string]string              // --build-arg values
	Target     string                         // --target; "" = check every stage, the last one is final
	BaseSize   func(ref string) (int64, bool) // local size of an image in bytes, for DevBaseInFinalStage (nil: unknown)
	// BaseUser returns the USER an image's config sets ("" for none), for
	// RootUser; ok is false when the image cannot be resolved (not in the
	// local store). Nil: no image can be resolved.
	BaseUser func(ref string) (user string, ok bool)
}

// ParseError is the error Check returns for a Dockerfile it cannot parse at
// all. It prints as "Dockerfile:7: unknown instruction: FOO".
type ParseError struct {
	File string
	Line int
	Err  error
}

// Error returns "FILE:LINE: message".
func (e *ParseError) Error() string {
	return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
}

// Unwrap returns the parser's error.
func (e *ParseError) Unwrap() error { return e.Err }

// Check lints dockerfile and returns what it finds, sorted by line. It
// returns a *ParseError, and no findings, only when the input cannot be parsed
// (syntax errors, an unknown instruction, no FROM, a bad check directive, an
// unknown target). It never panics.
func Check(dockerfile []byte, opt Options) (fs []Finding, err error) {
	file := filename(opt)
	defer func() {
		if r := recover(); r != nil {
			fs, err = nil, &ParseError{File: file, Line: 1, Err: fmt.Errorf("internal error in checks: %v", r)}
		}
	}()
	cfg, errorMode, err := config(dockerfile, opt)
	if err != nil {
		return nil, err
	}
	c := &checker{opt: opt, file: file, errorMode: errorMode}
	cfg.Warn = c.warn
	c.lint = linter.New(cfg)

	res, err := parser.Parse(bytes.NewReader(dockerfile))
	if err != nil {
		return nil, locate(file, err)
	}
	for _, w := range res.Warnings {
		if w.URL == linter.RuleNoEmptyContinuation.URL && w.Location != nil {
			c.report(&linter.RuleNoEmptyContinuation, []parser.Range{*w.Location}, nil, linter.RuleNoEmptyContinuation.Format(), "")
		}
	}
	stages, metaArgs, err := instructions.Parse(res.AST, c.lint)
	if err != nil {
		return nil, locate(file, err)
	}
	if len(stages) == 0 {
		return nil, &ParseError{File: file, Line: 1, Err: errors.New("dockerfile contains no stages to build")}
	}
	c.lex = shell.NewLex(res.EscapeToken)
	c.nodes = make(map[int]*parser.Node, len(res.AST.Children))
	for _, n := range res.AST.Children {
		c.nodes[n.StartLine] = n
	}
	if err := c.plan(stages, metaArgs); err != nil {
		return nil, err
	}

	c.buildkit()
	if c.limitErr != nil {
		return nil, c.limitErr
	}
	c.image()
	c.layers()
	c.secrets()
	c.context()

	slices.SortStableFunc(c.findings, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), strings.Compare(a.Rule, b.Rule), strings.Compare(a.Message, b.Message))
	})
	return c.findings, nil
}

// Failed reports whether fs should fail the build: a finding of severity
// Error, or, when error=true is set by opt or by dockerfile's check
// directive, a warning. Info findings never fail.
func Failed(fs []Finding, opt Options, dockerfile []byte) bool {
	_, errorMode, err := config(dockerfile, opt)
	if err != nil {
		errorMode = opt.Error
	}
	for _, f := range fs {
		if f.Severity == Error || errorMode && f.Severity == Warning {
			return true
		}
	}
	return false
}

func filename(opt Options) string {
	if opt.Filename == "" {
		return "Dockerfile"
	}
	return opt.Filename
}

// config merges the check directive of dockerfile with opt's flags, the
// way BuildKit merges --check-skip with "# check=".
func config(dockerfile []byte, opt Options) (*linter.Config, bool, error) {
	cfg := &linter.Config{}
	if v, _, loc, ok := parser.ParseDirective("check", dockerfile); ok {
		var err error
		cfg, err = linter.ParseLintOptions(v)
		if err != nil {
			return nil, false, &ParseError{File: filename(opt), Line: max(line(loc), 1), Err: fmt.Errorf("check directive: %w", err)}
		}
	}
	for _, s := range opt.Skip {
		for _, r := range strings.Split(s, ",") {
			switch r = strings.TrimSpace(r); r {
			case "":
			case "all":
				cfg.SkipAll = true
			default:
				cfg.SkipRules = append(cfg.SkipRules, r)
			}
		}
	}
	cfg.ReturnAsError = cfg.ReturnAsError || opt.Error
	return cfg, cfg.ReturnAsError, nil
}

// locate turns a BuildKit parse error into a *ParseError naming the line.
func locate(file string, err error) error {
	n := 1
	var le *parser.LocationError
	if errors.As(err, &le) {
		for _, r := range le.Locations {
			if line(r) > 0 {
				n = line(r)
				break
			}
		}
		if inner := le.Unwrap(); inner != nil {
			err = inner
		}
	}
	return &ParseError{File: file, Line: n, Err: err}
}

// checker holds the state of one Check call.
type checker struct {
	opt       Options
	file      string
	errorMode bool
	lint      *linter.Linter
	lex       *shell.Lex
	nodes     map[int]*parser.Node // AST nodes by start line, for raw flags

	stages     []*stage
	final      *stage
	linted     []*stage                  // checked stages, in file order
	limitErr   *ParseError               // the first expansion over the word limit
	globals    *vars.Env                 // global ARGs with build args applied
	globalKeys map[string]bool           // every global ARG name, with or without value
	metaCmds   []instructions.ArgCommand // the ARGs before the first FROM

	ignoreRead bool              // ignoreFn was looked up
	ignoreFn   func(string) bool // the context's .dockerignore, if read

	runs map[*instructions.RunCommand][][]string // memo of runCommands

	fix      string // the fix for the finding being reported; see report
	findings []Finding
}

// report runs rule through the linter, so that the directive, the flags and
// a check= comment above the instruction (comments) can skip it.
func (c *checker) report(rule linter.LinterRuleI, loc []parser.Range, comments []string, msg, fix string) {
	c.fix = fix
	c.lint.WithMergedConfigFromComments(comments).Run(rule, loc, msg)
	c.fix = ""
}

// warn is the linter's callback; BuildKit's parse-time rules call it too.
func (c *checker) warn(name, _, url, msg string, loc []parser.Range) {
	def := lookup(name)
	sev, fix := Warning, c.fix
	if def != nil {
		sev = def.rule.Severity
		if fix == "" {
			fix = def.fix
		}
	}
	if c.errorMode && sev == Warning {
		sev = Error
	}
	c.findings = append(c.findings, Finding{
		File: c.file, Line: line(loc), Rule: name, Severity: sev,
		Message: msg, Fix: fix, URL: url,
	})
}

// run returns the simple commands of r, split once per Check.
func (c *checker) run(r *instructions.RunCommand) [][]string {
	if cmds, ok := c.runs[r]; ok {
		return cmds
	}
	if c.runs == nil {
		c.runs = map[*instructions.RunCommand][][]string{}
	}
	cmds := runCommands(r.ShellDependantCmdLine)
	c.runs[r] = cmds
	return cmds
}

package check

import (
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/bldbuild/bld/frontend/vars"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"github.com/moby/buildkit/util/suggest"
)

// This file replays the parts of BuildKit's dockerfile2llb conversion that
// run its linter rules (validations.go, convert.go, convert_expose.go),
// without resolving base images.

// state is what a stage has set so far, as BuildKit's dispatchState sees it.
type state struct {
	env        *vars.Env       // variables for expansion: ENV, and ARGs with a value
	envKnown   bool            // the base adds no variables we do not know (scratch)
	args       map[string]bool // ARG names declared, with or without value
	workdirSet bool            // a WORKDIR of this Dockerfile is in effect
	shell      bool            // a SHELL of this Dockerfile is in effect
}

func (c *checker) startState(s *stage) *state {
	if s.parent != nil && s.parent.end != nil {
		p := s.parent.end
		return &state{env: p.env.Clone(), envKnown: p.envKnown, args: cloneSet(p.args), workdirSet: p.workdirSet, shell: p.shell}
	}
	env := vars.New()
	env.Set("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	return &state{env: env, envKnown: isScratch(s.base) && s.parent == nil, args: map[string]bool{}}
}

func cloneSet(m map[string]bool) map[string]bool {
	n := make(map[string]bool, len(m))
	for k, v := range m {
		n[k] = v
	}
	return n
}

// buildkit runs BuildKit's rules that live outside the parser.
func (c *checker) buildkit() {
	c.stageNames()
	c.commandCasing()
	c.defaultArgsInFrom()
	argKeys := map[string]bool{}
	for k := range c.globalKeys {
		argKeys[k] = true
	}
	for _, k := range c.globals.Keys() {
		argKeys[k] = true
	}
	for _, s := range c.stages {
		c.from(s, argKeys)
	}
	for _, s := range c.linted {
		c.dispatch(s)
	}
}

var reservedStageNames = map[string]bool{"context": true, "scratch": true}

func (c *checker) stageNames() {
	seen := map[string]bool{}
	for _, s := range c.stages {
		n := s.inst.Name
		if n == "" {
			continue
		}
		if reservedStageNames[n] {
			c.report(&linter.RuleReservedStageName, s.inst.Location, nil, linter.RuleReservedStageName.Format(n), "")
		}
		if seen[n] {
			c.report(&linter.RuleDuplicateStageName, s.inst.Location, nil, linter.RuleDuplicateStageName.Format(n), "")
		}
		seen[n] = true
	}
}

func selfConsistent(s string) bool { return s == strings.ToLower(s) || s == strings.ToUpper(s) }

func (c *checker) commandCasing() {
	var lower, upper int
	count := func(n string) {
		if selfConsistent(n) {
			if n == strings.ToLower(n) {
				lower++
			} else {
				upper++
			}
		}
	}
	for _, s := range c.stages {
		count(s.inst.OrigCmd)
		for _, cmd := range s.inst.Commands {
			count(cmd.Name())
		}
	}
	majorityLower := lower > upper
	check := func(n string, loc []parser.Range) {
		want := ""
		if majorityLower && strings.ToLower(n) != n {
			want = "lowercase"
		} else if !majorityLower && strings.ToUpper(n) != n {
			want = "uppercase"
		}
		if want != "" {
			c.report(&linter.RuleConsistentInstructionCasing, loc, nil, linter.RuleConsistentInstructionCasing.Format(n, want), "")
		}
	}
	for _, s := range c.stages {
		check(s.inst.OrigCmd, s.inst.Location)
		for _, cmd := range s.inst.Commands {
			check(cmd.Name(), cmd.Location())
		}
	}
}

// defaultArgsInFrom checks that every base is a valid reference when no
// build args are given (BuildKit's validateBaseImagesWithDefaultArgs).
func (c *checker) defaultArgsInFrom() {
	args, _ := c.globalArgs(c.metaCmds, nil, c.stages[len(c.stages)-1].inst.Name)
	for _, s := range c.stages {
		r, err := c.lex.ProcessWordWithMatches(s.inst.BaseName, args)
		if err != nil {
			return
		}
		if _, err := name.ParseReference(r.Result); err != nil {
			c.report(&linter.RuleInvalidDefaultArgInFrom, s.inst.Location, nil, linter.RuleInvalidDefaultArgInFrom.Format(s.inst.BaseName), "")
		}
	}
}

// from checks a stage's FROM line (BuildKit's buildDispatchStates).
func (c *checker) from(s *stage, argKeys map[string]bool) {
	comments := s.inst.Comments
	r, _ := c.lex.ProcessWordWithMatches(s.inst.BaseName, c.globals)
	c.undefinedArgsInFrom(r.Unmatched, argKeys, s.inst.Location, comments)
	if s.inst.Platform == "" {
		return
	}
	p, _ := c.lex.ProcessWordWithMatches(s.inst.Platform, c.globals)
	c.undefinedArgsInFrom(p.Unmatched, argKeys, s.inst.Location, comments)
	if len(p.Matched) == 1 && len(p.Unmatched) == 0 {
		if _, ok := p.Matched["TARGETPLATFORM"]; ok {
			if v, _ := c.globals.Get("TARGETPLATFORM"); v == p.Result {
				c.report(&linter.RuleRedundantTargetPlatform, s.inst.Location, comments, linter.RuleRedundantTargetPlatform.Format(s.inst.Platform), "")
			}
		}
	}
	if len(p.Matched) == 0 && len(p.Unmatched) == 0 {
		if os, arch, ok := parsePlatform(p.Result); ok && !strings.Contains(s.inst.Name, os) && !strings.Contains(s.inst.Name, arch) {
			c.report(&linter.RuleFromPlatformFlagConstDisallowed, s.inst.Location, comments, linter.RuleFromPlatformFlagConstDisallowed.Format(p.Result), "")
		}
	}
}

func (c *checker) undefinedArgsInFrom(unmatched map[string]struct{}, argKeys map[string]bool, loc []parser.Range, comments []string) {
	keys := make([]string, 0, len(argKeys))
	for k := range argKeys {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, arg := range sortedKeys(unmatched) {
		if argKeys[arg] {
			continue
		}
		match, _ := suggest.Search(arg, keys, true)
		c.report(&linter.RuleUndefinedArgInFrom, loc, comments, linter.RuleUndefinedArgInFrom.Format(arg, match), "")
	}
}

func sortedKeys(m map[string]struct{}) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

var platformPart = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_-]+$`) })

// parsePlatform is a small version of containerd's platforms.Parse: it
// returns the normalised OS and architecture of "os[/arch[/variant]]" or
// "arch".
func parsePlatform(p string) (os, arch string, ok bool) {
	parts := strings.Split(strings.ToLower(p), "/")
	if len(parts) > 3 {
		return "", "", false
	}
	for _, x := range parts {
		if !platformPart().MatchString(x) {
			return "", "", false
		}
	}
	norm := map[string]string{"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "armhf": "arm", "armel": "arm", "i386": "386", "i686": "386"}
	knownOS := map[string]bool{"linux": true, "windows": true, "darwin": true, "freebsd": true, "netbsd": true, "openbsd": true, "solaris": true, "illumos": true, "aix": true, "plan9": true, "android": true, "ios": true, "wasip1": true, "js": true}
	if len(parts) == 1 {
		if knownOS[parts[0]] {
			return parts[0], "", true
		}
		arch = parts[0]
		if n, ok := norm[arch]; ok {
			arch = n
		}
		return "linux", arch, true
	}
	os, arch = parts[0], parts[1]
	if n, ok := norm[arch]; ok {
		arch = n
	}
	return os, arch, true
}

// nonEnvArgs are ARGs BuildKit never puts in the environment.
var nonEnvArgs = map[string]bool{"BUILDKIT_SBOM_SCAN_CONTEXT": true, "BUILDKIT_SBOM_SCAN_STAGE": true}

// dispatch walks the instructions of s as BuildKit's dispatch does,
// expanding variables and running the per-instruction rules.
func (c *checker) dispatch(s *stage) {
	st := c.startState(s)
	var cmdAt, entrypointAt, healthcheckAt tracker
	for _, cmd := range s.inst.Commands {
		comments := cmd.Comments()
		expand := func(word string) (string, error) {
			if !c.bounded(cmd, word, st.env) {
				return word, nil
			}
			w, unmatched, err := c.lex.ProcessWord(word, st.env)
			c.undefinedVars(cmd, st, unmatched)
			return c.keep(cmd, word, w), err
		}
		if ex, ok := cmd.(instructions.SupportsSingleWordExpansion); ok {
			if _, isArg := cmd.(*instructions.ArgCommand); !isArg {
				_ = ex.Expand(expand) // a bad substitution fails the build later, not the lint
			}
		}
		if ex, ok := cmd.(instructions.SupportsSingleWordExpansionRaw); ok {
			_ = ex.ExpandRaw(func(word string) (string, error) {
				lex := shell.NewLex('\\')
				lex.SkipProcessQuotes = true
				if !c.bounded(cmd, word, st.env) {
					return word, nil
				}
				w, unmatched, err := lex.ProcessWord(word, st.env)
				c.undefinedVars(cmd, st, unmatched)
				return c.keep(cmd, word, w), err
			})
		}
		switch x := cmd.(type) {
		case *instructions.EnvCommand:
			for _, e := range x.Env {
				if e.NoDelim {
					c.report(&linter.RuleLegacyKeyValueFormat, x.Location(), comments, linter.RuleLegacyKeyValueFormat.Format(x.Name()), "")
				}
				c.secretKey("ENV", e.Key, x.Location(), comments)
				st.env.Set(e.Key, e.Value)
			}
		case *instructions.LabelCommand:
			for _, l := range x.Labels {
				if l.NoDelim {
					c.report(&linter.RuleLegacyKeyValueFormat, x.Location(), comments, linter.RuleLegacyKeyValueFormat.Format(x.Name()), "")
				}
			}
		case *instructions.CmdCommand:
			c.usedOnce(x, &cmdAt, comments)
			if x.PrependShell && !st.shell {
				c.report(&linter.RuleJSONArgsRecommended, x.Location(), comments, linter.RuleJSONArgsRecommended.Format(x.Name()), "")
			}
		case *instructions.EntrypointCommand:
			c.usedOnce(x, &entrypointAt, comments)
			if x.PrependShell && !st.shell {
				c.report(&linter.RuleJSONArgsRecommended, x.Location(), comments, linter.RuleJSONArgsRecommended.Format(x.Name()), "")
			}
		case *instructions.HealthCheckCommand:
			c.usedOnce(x, &healthcheckAt, comments)
		case *instructions.WorkdirCommand:
			if !st.workdirSet && !path.IsAbs(x.Path) {
				c.report(&linter.RuleWorkdirRelativePath, x.Location(), comments, linter.RuleWorkdirRelativePath.Format(x.Path), "")
			}
			st.workdirSet = true
		case *instructions.ShellCommand:
			st.shell = true
		case *instructions.ArgCommand:
			c.dispatchArg(x, st, comments)
		case *instructions.ExposeCommand:
			c.expose(x, st, comments)
		case *instructions.CopyCommand:
			if x.From == "" {
				c.copyIgnored("Copy", x.SourcePaths, x.Location(), comments)
			}
		case *instructions.AddCommand:
			c.copyIgnored("Add", x.SourcePaths, x.Location(), comments)
		}
	}
	s.end = st
}

func (c *checker) undefinedVars(cmd instructions.Command, st *state, unmatched map[string]struct{}) {
	if len(unmatched) == 0 {
		return
	}
	for _, v := range sortedKeys(unmatched) {
		if st.args[v] || nonEnvArgs[v] {
			continue
		}
		match, _ := suggest.Search(v, st.env.Keys(), true)
		if !st.envKnown && (match == "" || abs(len(match)-len(v)) > 1) {
			// The base image may well define it. A near miss of the same
			// length is a typo ($PAHT); GOPATH is not a typo of PATH.
			continue
		}
		c.report(&linter.RuleUndefinedVar, cmd.Location(), cmd.Comments(), linter.RuleUndefinedVar.Format(v, match), "")
	}
}

// tracker remembers where an instruction that may appear once was used.
type tracker struct {
	set bool
	loc []parser.Range
}

func (c *checker) usedOnce(cmd instructions.Command, prev *tracker, comments []string) {
	if prev.set {
		// BuildKit reports the earlier instruction: it is the one ignored.
		c.report(&linter.RuleMultipleInstructionsDisallowed, prev.loc, comments, linter.RuleMultipleInstructionsDisallowed.Format(cmd.Name()), "")
	}
	prev.set, prev.loc = true, cmd.Location()
}

func (c *checker) dispatchArg(x *instructions.ArgCommand, st *state, comments []string) {
	for _, a := range x.Args {
		c.secretKey("ARG", a.Key, x.Location(), comments)
		v, ok, _ := vars.Arg(a, c.opt.BuildArgs, c.globals, func(word string) (string, error) {
			if !c.bounded(x, word, st.env) {
				return word, nil
			}
			v, unmatched, err := c.lex.ProcessWord(word, st.env)
			c.undefinedVars(x, st, unmatched)
			if err != nil {
				return word, nil // the build reports a bad substitution; the lint goes on
			}
			return c.keep(x, word, v), nil
		})
		if ok && !nonEnvArgs[a.Key] {
			st.env.Set(a.Key, v)
		}
		st.args[a.Key] = true
	}
}

func (c *checker) expose(x *instructions.ExposeCommand, st *state, comments []string) {
	for _, p := range x.Ports {
		if !c.bounded(x, p, st.env) {
			continue
		}
		words, err := c.lex.ProcessWords(p, st.env)
		if err != nil {
			continue
		}
		for _, raw := range words {
			parts := strings.Split(raw, ":")
			var ip, hostPort, port string
			switch n := len(parts); n {
			case 1:
				port = parts[0]
			case 2:
				hostPort, port = parts[0], parts[1]
			default:
				ip, hostPort, port = strings.Join(parts[:n-2], ":"), parts[n-2], parts[n-1]
			}
			num, proto, _ := strings.Cut(port, "/")
			if num == "" {
				continue // BuildKit fails the build here
			}
			if proto != strings.ToLower(proto) {
				c.report(&linter.RuleExposeProtoCasing, x.Location(), comments, linter.RuleExposeProtoCasing.Format(raw), "")
			}
			if ip != "" || hostPort != "" {
				c.report(&linter.RuleExposeInvalidFormat, x.Location(), comments, linter.RuleExposeInvalidFormat.Format(raw), "")
			}
		}
	}
}

// secretKey is BuildKit's validateNoSecretKey. Its expressions are
// compiled on first use, not at every bld start.
var (
	secretKeyDeny = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(?i)(?:_|^)(?:apikey|auth|credential|credentials|key|password|pword|passwd|secret|token)(?:_|$)`)
	})
	secretKeyAllow = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(?i)(?:_|^)(?:public|file|version)(?:_|$)`)
	})
)

func (c *checker) secretKey(instruction, key string, loc []parser.Range, comments []string) {
	if secretKeyDeny().MatchString(key) && !secretKeyAllow().MatchString(key) {
		c.report(&linter.RuleSecretsUsedInArgOrEnv, loc, comments, linter.RuleSecretsUsedInArgOrEnv.Format(instruction, key), "")
	}
}

// copyIgnored is BuildKit's validateCopySourcePath, over Options.Ignore.
func (c *checker) copyIgnored(cmd string, srcs []string, loc []parser.Range, comments []string) {
	ignore := c.ignore()
	if ignore == nil {
		return
	}
	for _, src := range srcs {
		if isURL(src) || hasGlob(src) {
			continue
		}
		p := path.Clean(strings.TrimPrefix(src, "/"))
		if p == "." || p == "/" || strings.HasPrefix(p, "../") {
			continue
		}
		if ignore(p) {
			c.report(&linter.RuleCopyIgnoredFile, loc, comments, linter.RuleCopyIgnoredFile.Format(cmd, p), "")
		}
	}
}

func isURL(s string) bool {
	for _, p := range []string{"http://", "https://", "git@", "git://", "ssh://"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func hasGlob(s string) bool { return strings.ContainsAny(s, "*?[") }

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

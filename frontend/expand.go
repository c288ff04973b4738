package frontend

import (
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/bldbuild/bld/frontend/vars"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

// defaultPathEnv is the PATH every Linux stage gets when its base image
// sets none (BuildKit's and docker's default).
const defaultPathEnv = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// splitEnv splits "KEY=VALUE"; a missing "=" means an empty value.
func splitEnv(kv string) (string, string) {
	k, v, _ := strings.Cut(kv, "=")
	return k, v
}

// addEnv sets k=v in a config's Env, in place when k is already there.
func addEnv(env []string, k, v string) []string {
	for i, kv := range env {
		if key, _ := splitEnv(kv); key == k {
			env[i] = k + "=" + v
			return env
		}
	}
	return append(env, k+"="+v)
}

// proxyArgs are the predefined args a RUN sees without an ARG, when given
// as build args (any case), under both spellings (BuildKit's proxy env).
var proxyArgs = []string{"HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY"}

// proxyEnv returns the proxy variables for RUN from the build args.
func proxyEnv(buildArgs map[string]string) []string {
	keys := slices.Sorted(maps.Keys(buildArgs))
	var out []string
	for _, name := range proxyArgs {
		v := ""
		for _, k := range keys {
			if strings.EqualFold(k, name) {
				v = buildArgs[k]
			}
		}
		if v != "" {
			out = append(out, name+"="+v, strings.ToLower(name)+"="+v)
		}
	}
	return out
}

// expandWord expands one word with the escape token of the Dockerfile.
func (b *build) expandWord(word string, env *vars.Env) (string, error) {
	if err := b.checkBound(word, env); err != nil {
		return "", err
	}
	w, _, err := b.shlex.ProcessWord(word, env)
	if err == nil {
		err = b.checkWord(w)
	}
	return w, err
}

// checkWord bounds one expanded word: each level of a chain of variables
// that expand each other several times multiplies the size, so the check
// must come after every expansion, before the value is used or stored.
func (b *build) checkWord(w string) error {
	if len(w) > b.limits.WordSize {
		return &LimitError{What: "expanded word", Key: "word-size", Got: int64(len(w)), Limit: int64(b.limits.WordSize)}
	}
	return nil
}

// checkBound refuses to expand a word whose expansion could exceed four
// times the word limit: BuildKit's lexer cannot stop half-way, so a line of
// many references to a large variable must be stopped before it runs. The
// bound (every "$" expanding to the longest value) only overestimates.
func (b *build) checkBound(word string, env *vars.Env) error {
	bound := int64(len(word)) + int64(strings.Count(word, "$"))*int64(env.MaxLen())
	if limit := 4 * int64(b.limits.WordSize); bound > limit {
		return &LimitError{What: "expanded word (at most)", Key: "word-size", Got: bound, Limit: int64(b.limits.WordSize)}
	}
	return nil
}

// checkEnv bounds the total size of a stage's variables.
func (b *build) checkEnv(env *vars.Env) error {
	if n := env.Size(); n > b.limits.EnvSize {
		return &LimitError{What: "the stage's variables", Key: "env-size", Got: int64(n), Limit: int64(b.limits.EnvSize)}
	}
	return nil
}

// globalArgsFrom returns the args in scope before the first FROM: the
// predefined platform args (overridable by build args) and the ARGs
// declared there, build args taking precedence over defaults.
func (b *build) globalArgsFrom(meta []*instructions.ArgCommand, lastStage string) (*vars.Env, error) {
	target := b.opt.Target
	if target == "" {
		target = lastStage
	}
	env := vars.Predefined(b.buildPlatform, b.targetPlatform, target, b.opt.BuildArgs)
	_, err := vars.Global(env, meta, b.opt.BuildArgs, func(c *instructions.ArgCommand, word string, env *vars.Env) (string, error) {
		v, err := b.expandWord(word, env)
		if err != nil {
			return "", b.errAt(c, err)
		}
		return v, nil
	})
	return env, err
}

// pathRelativeToWorkdir makes a COPY destination absolute against dir,
// keeping a trailing "/" or "/." (BuildKit's pathRelativeToWorkingDir). An
// absolute p is returned as written.
func pathRelativeToWorkdir(dir, p string) string {
	if path.IsAbs(p) {
		return p
	}
	if p == "." || p == "" {
		p = "./"
	}
	return normalizePath(dir, p, true)
}

// normalizePath joins p to parent unless p is absolute (BuildKit's
// system.NormalizePath for Linux). With keepSlash a trailing "/" or "/."
// of p survives the join.
func normalizePath(parent, p string, keepSlash bool) string {
	orig := p
	if parent == "" {
		parent = "/"
	}
	if !path.IsAbs(parent) {
		parent = path.Join("/", parent)
	}
	if p == "" {
		p = parent
	}
	if !path.IsAbs(p) {
		p = path.Join(parent, p)
	}
	if keepSlash {
		if strings.HasSuffix(orig, "/") && !strings.HasSuffix(p, "/") {
			p += "/"
		} else if strings.HasSuffix(orig, "/.") {
			if p != "/" {
				p += "/"
			}
			p += "."
		}
	}
	return p
}

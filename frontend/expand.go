package frontend

import (
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// defaultPathEnv is the PATH every Linux stage gets when its base image
// sets none (BuildKit's and docker's default).
const defaultPathEnv = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// envList is an ordered set of variables, as a BuildKit state's env: setting
// a key moves it to the end. It is the environment both for expanding
// words and for RUN. It implements shell.EnvGetter.
type envList struct {
	keys []string
	vals map[string]string
}

var _ shell.EnvGetter = (*envList)(nil)

func newEnvList() *envList { return &envList{vals: map[string]string{}} }

// Get returns the value of k.
func (e *envList) Get(k string) (string, bool) {
	v, ok := e.vals[k]
	return v, ok
}

// Keys returns the keys in order.
func (e *envList) Keys() []string { return e.keys }

func (e *envList) set(k, v string) {
	if _, ok := e.vals[k]; ok {
		e.keys = slices.DeleteFunc(e.keys, func(x string) bool { return x == k })
	}
	e.keys = append(e.keys, k)
	e.vals[k] = v
}

func (e *envList) clone() *envList {
	return &envList{keys: slices.Clone(e.keys), vals: maps.Clone(e.vals)}
}

// slice returns the variables as KEY=VALUE, in order.
func (e *envList) slice() []string {
	out := make([]string, 0, len(e.keys))
	for _, k := range e.keys {
		out = append(out, k+"="+e.vals[k])
	}
	return out
}

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
func (b *build) expandWord(word string, env shell.EnvGetter) (string, error) {
	w, _, err := b.shlex.ProcessWord(word, env)
	return w, err
}

// globalArgsFrom returns the args in scope before the first FROM: the
// predefined platform args (overridable by build args) and the ARGs
// declared there, build args taking precedence over defaults.
func (b *build) globalArgsFrom(meta []*instructions.ArgCommand, lastStage string) (*envList, error) {
	bp, tp := b.buildPlatform, b.targetPlatform
	target := b.opt.Target
	if target == "" {
		target = lastStage
	}
	if target == "" {
		target = "default"
	}
	env := newEnvList()
	for _, kv := range [...][2]string{
		{"BUILDPLATFORM", formatPlatform(bp)},
		{"BUILDOS", bp.OS},
		{"BUILDOSVERSION", bp.OSVersion},
		{"BUILDARCH", bp.Architecture},
		{"BUILDVARIANT", bp.Variant},
		{"TARGETPLATFORM", formatPlatform(tp)},
		{"TARGETOS", tp.OS},
		{"TARGETOSVERSION", tp.OSVersion},
		{"TARGETARCH", tp.Architecture},
		{"TARGETVARIANT", tp.Variant},
		{"TARGETSTAGE", target},
	} {
		v := kv[1]
		if ov, ok := b.opt.BuildArgs[kv[0]]; ok {
			v = ov
		}
		env.set(kv[0], v)
	}
	for _, c := range meta {
		for _, kv := range c.Args {
			if v, ok := b.opt.BuildArgs[kv.Key]; ok {
				env.set(kv.Key, v)
				continue
			}
			if kv.Value == nil {
				continue
			}
			v, err := b.expandWord(*kv.Value, env)
			if err != nil {
				return nil, b.errAt(c, err)
			}
			env.set(kv.Key, v)
		}
	}
	return env, nil
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

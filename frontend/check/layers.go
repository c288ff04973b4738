package check

import (
	"fmt"
	"path"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

// This file holds the rules about how steps become layers and cache:
// LayerExplosion, AptUpdateAlone and CacheBustingCopy.

func (c *checker) layers() {
	for _, s := range c.final.chain() {
		c.runChains(s)
		c.caches(s)
	}
	for _, s := range c.linted {
		for _, x := range s.inst.Commands {
			if r, ok := x.(*instructions.RunCommand); ok && aptUpdateAlone(c.run(r)) {
				msg := "RUN apt-get update in a step of its own is cached as a layer: a later apt-get install reuses its stale package lists and installs old versions, or fails once the mirrors move on"
				c.report(ruleAptUpdateAlone, r.Location(), r.Comments(), msg, "")
			}
		}
		c.cacheBustingCopy(s)
	}
}

// minRunChain is how many RUN steps in a row LayerExplosion reports: two
// are often a deliberate cache split.
const minRunChain = 3

func (c *checker) runChains(s *stage) {
	var run []*instructions.RunCommand
	flush := func() {
		if len(run) >= minRunChain {
			first, last := run[0], run[len(run)-1]
			end := first.Location()
			if loc := last.Location(); len(loc) > 0 {
				end = loc
			}
			msg := fmt.Sprintf("%d RUN steps in a row (lines %d-%d) make %d layers where one would do: each layer costs pull and unpack time, and a file deleted in a later step still ships in the earlier layer", len(run), line(first.Location()), end[len(end)-1].End.Line, len(run))
			c.report(ruleLayerExplosion, first.Location(), first.Comments(), msg, "join them into one RUN with &&")
		}
		run = nil
	}
	for _, x := range s.inst.Commands {
		switch v := x.(type) {
		case *instructions.RunCommand:
			if len(v.Files) > 0 {
				flush() // a heredoc is already a script
				continue
			}
			if len(run) > 0 && c.runFlags(run[len(run)-1]) != c.runFlags(v) {
				flush()
			}
			run = append(run, v)
		case *instructions.LabelCommand, *instructions.ExposeCommand, *instructions.MaintainerCommand,
			*instructions.StopSignalCommand, *instructions.HealthCheckCommand, *instructions.CmdCommand,
			*instructions.EntrypointCommand, *instructions.OnbuildCommand:
			// They change nothing a RUN sees.
		default:
			flush()
		}
	}
	flush()
}

// runFlags returns the flags of a RUN as written (--mount, --network...).
func (c *checker) runFlags(r *instructions.RunCommand) string {
	if n := c.nodes[line(r.Location())]; n != nil {
		return strings.Join(n.Flags, " ")
	}
	return ""
}

// caches reports RUN steps that leave package-manager caches in a layer.
func (c *checker) caches(s *stage) {
	pipNoCache := false
	for _, x := range s.inst.Commands {
		if e, ok := x.(*instructions.EnvCommand); ok {
			for _, kv := range e.Env {
				if kv.Key == "PIP_NO_CACHE_DIR" {
					pipNoCache = kv.Value != "" && kv.Value != "0" && !strings.EqualFold(kv.Value, "false")
				}
			}
		}
		r, ok := x.(*instructions.RunCommand)
		if !ok {
			continue
		}
		cmds := c.run(r)
		if aptUpdateAlone(cmds) {
			continue // AptUpdateAlone says it
		}
		var cacheDirs []string
		for _, m := range runMounts(r) {
			if m.Type == instructions.MountTypeCache || m.Type == instructions.MountTypeTmpfs {
				cacheDirs = append(cacheDirs, path.Clean(m.Target))
			}
		}
		mounted := func(dir string) bool {
			for _, d := range cacheDirs {
				if d == dir || strings.HasPrefix(dir, d+"/") || strings.HasPrefix(d, dir+"/") {
					return true
				}
			}
			return false
		}
		var aptUpdate, aptClean, apkAdd, apkClean, pip, yum, yumClean bool
		for _, cmd := range cmds {
			prog, args := program(cmd)
			sub := subcommand(args)
			switch {
			case (prog == "apt-get" || prog == "apt") && sub == "update":
				aptUpdate = true
			case prog == "rm" && anyPrefix(args, "/var/lib/apt/lists"):
				aptClean = true
			case prog == "apk" && (sub == "add" || sub == "update") && !hasFlag(args, "--no-cache"):
				apkAdd = true
			case prog == "rm" && anyPrefix(args, "/var/cache/apk"):
				apkClean = true
			case isPip(prog, args) && !hasFlag(pipArgs(prog, args), "--no-cache-dir"):
				pip = true
			case (prog == "yum" || prog == "dnf" || prog == "microdnf" || prog == "tdnf") && sub == "install":
				yum = true
			case (prog == "yum" || prog == "dnf" || prog == "microdnf" || prog == "tdnf") && sub == "clean":
				yumClean = true
			case prog == "rm" && (anyPrefix(args, "/var/cache/yum") || anyPrefix(args, "/var/cache/dnf")):
				yumClean = true
			}
		}
		var what, fixes []string
		if aptUpdate && !aptClean && !mounted("/var/lib/apt/lists") {
			what = append(what, "apt-get update leaves /var/lib/apt/lists")
			fixes = append(fixes, "end the RUN with && rm -rf /var/lib/apt/lists/*")
		}
		if apkAdd && !apkClean && !mounted("/var/cache/apk") {
			what = append(what, "apk without --no-cache leaves /var/cache/apk")
			fixes = append(fixes, "use apk add --no-cache")
		}
		if pip && !pipNoCache && !mounted("/root/.cache/pip") {
			what = append(what, "pip install without --no-cache-dir leaves ~/.cache/pip")
			fixes = append(fixes, "use pip install --no-cache-dir")
		}
		if yum && !yumClean && !mounted("/var/cache/yum") && !mounted("/var/cache/dnf") {
			what = append(what, "yum/dnf install without a clean leaves /var/cache")
			fixes = append(fixes, "end the RUN with && dnf clean all (or yum clean all)")
		}
		if len(what) == 0 {
			continue
		}
		msg := strings.Join(what, "; ") + " in the layer: the cache ships in the image, and deleting it in a later RUN does not make the image smaller"
		c.report(ruleLayerExplosion, r.Location(), r.Comments(), msg, strings.Join(fixes, "; "))
	}
}

func anyPrefix(args []string, dir string) bool {
	for _, a := range args {
		if a == dir || strings.HasPrefix(a, dir+"/") {
			return true
		}
	}
	return false
}

// isPip reports whether prog args is a pip install: pip, pip3,
// pip3.12, python -m pip.
func isPip(prog string, args []string) bool {
	a := pipArgs(prog, args)
	return a != nil && subcommand(a) == "install"
}

// pipArgs returns the arguments given to pip, nil if prog is not pip.
func pipArgs(prog string, args []string) []string {
	if prog == "pip" || strings.HasPrefix(prog, "pip3") || strings.HasPrefix(prog, "pip2") {
		return args
	}
	if strings.HasPrefix(prog, "python") && len(args) >= 2 && args[0] == "-m" && args[1] == "pip" {
		return args[2:]
	}
	return nil
}

// aptUpdateAlone reports whether every command is apt-get update.
func aptUpdateAlone(cmds [][]string) bool {
	if len(cmds) == 0 {
		return false
	}
	for _, cmd := range cmds {
		prog, args := program(cmd)
		if prog != "apt-get" && prog != "apt" || subcommand(args) != "update" {
			return false
		}
	}
	return true
}

// wholeContext reports whether x copies the whole build context.
func wholeContext(x instructions.Command) (*instructions.SourcesAndDest, []string, bool) {
	var sd *instructions.SourcesAndDest
	var excludes []string
	switch v := x.(type) {
	case *instructions.CopyCommand:
		if v.From != "" {
			return nil, nil, false
		}
		sd, excludes = &v.SourcesAndDest, v.ExcludePatterns
	case *instructions.AddCommand:
		sd, excludes = &v.SourcesAndDest, v.ExcludePatterns
	default:
		return nil, nil, false
	}
	for _, src := range sd.SourcePaths {
		switch path.Clean(src) {
		case ".", "/", "*":
			return sd, excludes, true
		}
	}
	return nil, nil, false
}

// installer describes a dependency install: what to show, and the
// manifests to copy before it.
type installer struct {
	what      string
	manifests []string
}

// installs returns the first command of cmds that installs dependencies
// from a manifest.
func installs(cmds [][]string) (installer, bool) {
	for _, cmd := range cmds {
		prog, args := program(cmd)
		sub := subcommand(args)
		in := installer{what: strings.TrimSpace(prog + " " + sub)}
		switch {
		case prog == "npm" && (sub == "install" || sub == "i" || sub == "ci"):
			in.manifests = []string{"package.json", "package-lock.json"}
		case prog == "yarn" && (sub == "" || sub == "install"):
			in.manifests = []string{"package.json", "yarn.lock"}
		case prog == "pnpm" && (sub == "install" || sub == "i"):
			in.manifests = []string{"package.json", "pnpm-lock.yaml"}
		case prog == "bun" && (sub == "install" || sub == "i"):
			in.manifests = []string{"package.json", "bun.lockb"}
		case isPip(prog, args) || prog == "uv" && sub == "pip":
			if f := requirementsFile(args); f != "" {
				in.what = "pip install -r " + f
				in.manifests = []string{f}
			}
		case prog == "poetry" && sub == "install":
			in.manifests = []string{"pyproject.toml", "poetry.lock"}
		case prog == "pipenv" && sub == "install":
			in.manifests = []string{"Pipfile", "Pipfile.lock"}
		case prog == "uv" && sub == "sync":
			in.manifests = []string{"pyproject.toml", "uv.lock"}
		case prog == "go" && sub == "mod" && len(args) >= 2 && subcommand(args[1:]) == "download":
			in.what = "go mod download"
			in.manifests = []string{"go.mod", "go.sum"}
		case prog == "bundle" && (sub == "install" || sub == ""):
			in.manifests = []string{"Gemfile", "Gemfile.lock"}
		case prog == "cargo" && sub == "fetch":
			in.manifests = []string{"Cargo.toml", "Cargo.lock"}
		case prog == "composer" && sub == "install":
			in.manifests = []string{"composer.json", "composer.lock"}
		case (prog == "mvn" || prog == "mvnw") && anyContains(args, "dependency:go-offline", "dependency:resolve"):
			in.what = "mvn dependency:go-offline"
			in.manifests = []string{"pom.xml"}
		case prog == "dotnet" && sub == "restore":
			in.manifests = []string{"*.csproj"}
		case prog == "mix" && sub == "deps.get":
			in.manifests = []string{"mix.exs", "mix.lock"}
		}
		if in.manifests != nil {
			return in, true
		}
	}
	return installer{}, false
}

func requirementsFile(args []string) string {
	for i, a := range args {
		switch {
		case (a == "-r" || a == "--requirement") && i+1 < len(args):
			return args[i+1]
		case strings.HasPrefix(a, "--requirement="):
			return strings.TrimPrefix(a, "--requirement=")
		case strings.HasPrefix(a, "-r") && len(a) > 2 && !strings.HasPrefix(a, "--"):
			return a[2:]
		}
	}
	return ""
}

func anyContains(args []string, subs ...string) bool {
	for _, a := range args {
		for _, s := range subs {
			if strings.Contains(a, s) {
				return true
			}
		}
	}
	return false
}

func (c *checker) cacheBustingCopy(s *stage) {
	var whole instructions.Command
	for _, x := range s.inst.Commands {
		if whole == nil {
			if _, _, ok := wholeContext(x); ok {
				whole = x
			}
			continue
		}
		r, ok := x.(*instructions.RunCommand)
		if !ok {
			continue
		}
		in, ok := installs(c.run(r))
		if !ok {
			continue
		}
		src := source(whole)
		msg := fmt.Sprintf("%s copies the whole context before %s on line %d: any source change invalidates the cache of the install, so every edit downloads all dependencies again", src, in.what, line(r.Location()))
		fix := fmt.Sprintf("COPY %s ./ and RUN %s before %s", strings.Join(in.manifests, " "), in.what, src)
		c.report(ruleCacheBustingCopy, whole.Location(), whole.Comments(), msg, fix)
		return
	}
}

// source returns the instruction as written, shortened for a message.
func source(x instructions.Command) string {
	s := x.Name()
	if st, ok := x.(fmt.Stringer); ok {
		s = strings.Join(strings.Fields(st.String()), " ")
	}
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

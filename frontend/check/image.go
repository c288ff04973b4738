package check

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/bldbuild/bld/internal/imageref"
	units "github.com/docker/go-units"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

// This file holds the rules about the image the final stage makes:
// ShellFormAsPID1, RootUser, DevBaseInFinalStage and HostUIDMismatch.

func (c *checker) image() {
	chain := c.final.chain()
	c.pid1(chain)
	c.rootUser(chain)
	c.devBase()
	c.hostUID(chain)
}

var inits = map[string]bool{"tini": true, "tini-static": true, "dumb-init": true, "catatonit": true, "docker-init": true, "init": true, "s6-svscan": true, "runsvdir": true, "supervisord": true}

func (c *checker) pid1(chain []*stage) {
	var ep *instructions.EntrypointCommand
	var cmd *instructions.CmdCommand
	for _, s := range chain {
		cmdHere := false
		for _, x := range s.inst.Commands {
			switch v := x.(type) {
			case *instructions.CmdCommand:
				cmd, cmdHere = v, true
			case *instructions.EntrypointCommand:
				ep = v
				if !cmdHere {
					cmd = nil // BuildKit: ENTRYPOINT resets an inherited CMD
				}
			}
		}
	}
	if ep != nil && !ep.PrependShell && len(ep.CmdLine) == 0 {
		ep = nil // ENTRYPOINT [] clears it
	}
	if ep != nil {
		if s, isShell := script(ep.ShellDependantCmdLine); isShell {
			if !usesExec(s) {
				c.shellPID1(ep, ep.ShellDependantCmdLine, s, "")
			}
			return
		}
		if inits[path.Base(ep.CmdLine[0])] {
			return
		}
		if cmd != nil && cmd.PrependShell {
			if s, _ := script(cmd.ShellDependantCmdLine); !usesExec(s) {
				c.shellPID1(cmd, cmd.ShellDependantCmdLine, s, " (ENTRYPOINT gets it as sh -c, and an entrypoint script that runs exec \"$@\" makes the shell PID 1)")
			}
		}
		return
	}
	if cmd != nil {
		if s, isShell := script(cmd.ShellDependantCmdLine); isShell && !usesExec(s) {
			c.shellPID1(cmd, cmd.ShellDependantCmdLine, s, "")
		}
	}
}

func (c *checker) shellPID1(x instructions.Command, cl instructions.ShellDependantCmdLine, script, extra string) {
	name := strings.ToUpper(x.Name())
	msg := fmt.Sprintf("%s in shell form makes /bin/sh PID 1 of the container%s: the shell does not forward SIGTERM, so docker stop waits 10s and then kills your process", name, extra)
	if !cl.PrependShell {
		// An exec-form shell wrapper: the shell named is PID 1, not /bin/sh.
		sh := path.Base(cl.CmdLine[0])
		msg = fmt.Sprintf("%s [%q, %q, …] (exec form, the command without exec) makes %s PID 1 of the container%s: %s does not forward SIGTERM to the command it starts, so docker stop waits 10s and then kills your process", name, cl.CmdLine[0], cl.CmdLine[1], sh, extra, sh)
	}
	fix := `start the command with exec, or run an init: ENTRYPOINT ["tini", "--"]`
	if argv, ok := simpleCommand(script); ok {
		fix = fmt.Sprintf("use the exec form: %s %s", name, argv)
	}
	c.report(ruleShellFormAsPID1, x.Location(), x.Comments(), msg, fix)
}

// simpleCommand returns script as a JSON argv when it is one command with
// no shell syntax in it.
func simpleCommand(script string) (string, bool) {
	if strings.ContainsAny(script, "$`*?~<>|&;(){}[]\n\\") {
		return "", false
	}
	cmds := commands(script)
	if len(cmds) != 1 || isAssignment(cmds[0][0]) {
		return "", false
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(cmds[0]); err != nil {
		return "", false
	}
	return strings.ReplaceAll(strings.TrimSpace(b.String()), `","`, `", "`), true
}

func (c *checker) rootUser(chain []*stage) {
	var user *instructions.UserCommand
	for _, s := range chain {
		for _, x := range s.inst.Commands {
			if u, ok := x.(*instructions.UserCommand); ok {
				user = u
			}
		}
	}
	const risk = "a compromised or buggy process can change anything in the container and in what is mounted into it"
	if user == nil {
		// The image's user is the base image's, unless the chain starts
		// from scratch: resolve it rather than guess from the name.
		root := c.final.root()
		var msg string
		switch u, known := c.baseUser(root); {
		case isScratch(root) || root == "":
			msg = "the final stage sets no USER, so the container runs as root: " + risk
		case !known:
			msg = fmt.Sprintf("the final stage sets no USER, and its base image %s is not in the local store, so whether the base sets one is unknown: if it does not, the container runs as root and %s", root, risk)
		case u == "":
			msg = fmt.Sprintf("the final stage sets no USER, nor does its base image %s, so the container runs as root: %s", root, risk)
		case isRootUser(u):
			msg = fmt.Sprintf("the final stage sets no USER, and its base image %s sets USER %s, so the container runs as root: %s", root, u, risk)
		default:
			return // the base image's USER is not root
		}
		c.report(ruleRootUser, c.final.inst.Location, c.final.inst.Comments, msg, "")
		return
	}
	if isRootUser(user.User) {
		msg := fmt.Sprintf("USER %s is the last USER of the final stage, so the container runs as root: %s", user.User, risk)
		c.report(ruleRootUser, user.Location(), user.Comments(), msg, "")
	}
}

// baseUser is Options.BaseUser, known false without one.
func (c *checker) baseUser(ref string) (string, bool) {
	if c.opt.BaseUser == nil || isScratch(ref) || ref == "" {
		return "", false
	}
	return c.opt.BaseUser(ref)
}

// isRootUser says whether a USER value (user[:group]) is root.
func isRootUser(s string) bool {
	u, _, _ := strings.Cut(s, ":")
	return u == "root" || u == "0"
}

// toolchains are images whose default tags carry compilers and build tools.
var toolchains = map[string]bool{
	"node": true, "python": true, "golang": true, "rust": true, "ruby": true, "openjdk": true,
	"eclipse-temurin": true, "amazoncorretto": true, "maven": true, "gradle": true, "sbt": true,
	"gcc": true, "php": true, "elixir": true, "erlang": true, "haskell": true, "swift": true,
	"buildpack-deps": true, "perl": true, "clojure": true, "julia": true, "composer": true,
	"dotnet/sdk": true, "bun": true, "deno": true,
}

var slimMarkers = []string{"slim", "alpine", "distroless", "minimal", "jre", "runtime", "chiseled", "busybox", "scratch", "wolfi", "static", "nonroot"}

// normalizeRef returns ref lowercased in the short form Docker prints
// (imageref's: "docker.io/library/node" is "node:latest"), so that equal
// images compare equal. A ref that does not parse (an unexpanded ARG)
// compares as written, lowercased.
func normalizeRef(ref string) string {
	r := strings.ToLower(ref)
	full, err := imageref.Normalize(r)
	if err != nil {
		return r
	}
	return imageref.Familiar(full)
}

// splitRef returns the repository and the tag (or digest) of a normalised ref.
func splitRef(r string) (repo, tag string) {
	if i := strings.Index(r, "@"); i >= 0 {
		return r[:i], r[i+1:]
	}
	slash := strings.LastIndex(r, "/")
	if i := strings.LastIndex(r, ":"); i > slash {
		return r[:i], r[i+1:]
	}
	return r, ""
}

func isToolchain(ref string) bool {
	repo, tag := splitRef(normalizeRef(ref))
	for _, m := range slimMarkers {
		if strings.Contains(tag, m) || strings.Contains(repo, m) {
			return false
		}
	}
	if toolchains[repo] {
		return true
	}
	// mcr.microsoft.com/dotnet/sdk, oven/bun, denoland/deno, cimg/node...
	parts := strings.Split(repo, "/")
	last := parts[len(parts)-1]
	if len(parts) >= 2 && toolchains[parts[len(parts)-2]+"/"+last] {
		return true
	}
	return len(parts) >= 2 && toolchains[last]
}

// largeBase is the local size above which a final base is reported.
const largeBase = 300 << 20

func (c *checker) devBase() {
	if len(c.stages) < 2 {
		return
	}
	inChain := map[*stage]bool{}
	for _, s := range c.final.chain() {
		inChain[s] = true
	}
	root := c.final.root()
	if isScratch(root) || root == "" {
		return
	}
	var same *stage
	for _, s := range c.stages {
		if !inChain[s] && normalizeRef(s.root()) == normalizeRef(root) {
			same = s
			break
		}
	}
	size, known := int64(0), false
	if c.opt.BaseSize != nil {
		size, known = c.opt.BaseSize(root)
	}
	sizeNote := ""
	if known {
		sizeNote = ", " + human(size) + " on this machine"
	}
	var msg string
	switch {
	case same != nil && isToolchain(root):
		msg = fmt.Sprintf("the final stage starts from %s, the same full image as build stage %s%s: its compilers, headers and caches ship in the image and in every pull", root, stageLabel(same), sizeNote)
	case known && size > largeBase:
		msg = fmt.Sprintf("the final stage of this multi-stage build starts from %s, %s on this machine: everything in it ships in the image and in every pull", root, human(size))
	default:
		return
	}
	c.report(ruleDevBaseInFinalStage, c.final.inst.Location, c.final.inst.Comments, msg, "")
}

func stageLabel(s *stage) string {
	if s.inst.Name != "" {
		return strconv.Quote(s.inst.Name)
	}
	return "#" + strconv.Itoa(s.index)
}

// wellKnownUIDs are the uids of users that base images commonly ship.
var wellKnownUIDs = map[string]int{"root": 0, "nobody": 65534, "nonroot": 65532, "www-data": 33, "daemon": 1, "node": 1000, "ubuntu": 1000}

func (c *checker) hostUID(chain []*stage) {
	var user *instructions.UserCommand
	var volume *instructions.VolumeCommand
	created := map[string]int{} // user name -> uid; -1 for a system uid
	for _, s := range chain {
		for _, x := range s.inst.Commands {
			switch v := x.(type) {
			case *instructions.UserCommand:
				user = v
			case *instructions.VolumeCommand:
				if volume == nil {
					volume = v
				}
			case *instructions.RunCommand:
				for _, cmd := range c.run(v) {
					if name, uid, ok := userAdd(cmd); ok {
						created[name] = uid
					}
				}
			}
		}
	}
	if user == nil || volume == nil || len(volume.Volumes) == 0 {
		return
	}
	u, _, _ := strings.Cut(user.User, ":")
	uid, known := -2, false
	if n, err := strconv.Atoi(u); err == nil {
		uid, known = n, true
	} else if n, ok := created[u]; ok {
		uid, known = n, true
	} else if n, ok := wellKnownUIDs[u]; ok {
		uid, known = n, true
	}
	if !known || uid == 0 || uid == 1000 {
		return
	}
	desc := "uid " + strconv.Itoa(uid)
	if uid < 0 {
		desc = "a system uid, below 1000"
	}
	msg := fmt.Sprintf("VOLUME %s is written by USER %s (%s), not by uid 1000, the usual owner of host directories: a bind mount there gives permission errors, and files it creates belong to a stranger uid on the host", volume.Volumes[0], user.User, desc)
	c.report(ruleHostUIDMismatch, volume.Location(), volume.Comments(), msg, "")
}

var userAddValueFlags = map[string]bool{
	"-c": true, "-d": true, "-e": true, "-f": true, "-g": true, "-G": true, "-k": true, "-K": true, "-p": true,
	"-s": true, "-b": true, "-Z": true, "-h": true, "-R": true, "-P": true,
	"--comment": true, "--home": true, "--home-dir": true, "--shell": true, "--gid": true, "--ingroup": true,
	"--gecos": true, "--groups": true, "--skel": true, "--password": true, "--expiredate": true,
	"--inactive": true, "--key": true, "--root": true, "--prefix": true, "--base-dir": true, "--firstuid": true, "--lastuid": true,
}

// userAdd reads a useradd/adduser command: the user it creates and its
// uid, -1 for a system user without an explicit uid.
func userAdd(words []string) (string, int, bool) {
	prog, args := program(words)
	if prog != "useradd" && prog != "adduser" {
		return "", 0, false
	}
	uid, system, name := -2, false, ""
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-u" || a == "--uid":
			if i+1 < len(args) {
				i++
				if n, err := strconv.Atoi(args[i]); err == nil {
					uid = n
				}
			}
		case strings.HasPrefix(a, "--uid="):
			if n, err := strconv.Atoi(strings.TrimPrefix(a, "--uid=")); err == nil {
				uid = n
			}
		case strings.HasPrefix(a, "-u") && len(a) > 2 && !strings.HasPrefix(a, "--"):
			if n, err := strconv.Atoi(a[2:]); err == nil {
				uid = n
			}
		case a == "-r" || a == "--system" || a == "-S":
			system = true
		case userAddValueFlags[a]:
			i++
		case strings.HasPrefix(a, "-"):
		default:
			if name == "" {
				name = a
			}
		}
	}
	if name == "" {
		return "", 0, false
	}
	if uid == -2 {
		if !system {
			return "", 0, false
		}
		uid = -1
	}
	return name, uid, true
}

// human formats a size in bytes as "1.2 GiB" (go-units), or "120 B".
func human(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	return units.CustomSize("%.1f %s", float64(n), 1024, []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"})
}

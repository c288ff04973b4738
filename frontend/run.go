package frontend

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/bldbuild/bld/dag"
)

// dispatchRun lowers RUN to a *dag.Run on top of the stage.
//
// A RUN whose whole command is one heredoc runs the heredoc's body with the
// shell, as BuildKit does; if the body starts with "#!" it becomes a
// dag.Heredoc that the builder mounts as an executable file under
// /dev/pipes, and the shell runs that file. Any other RUN with heredocs is
// handed to the shell with the heredocs inline, so the shell feeds them.
func (b *build) dispatchRun(s *stage, c *command, x *instructions.RunCommand) error {
	security := ""
	switch sec := instructions.GetSecurity(x); sec {
	case "", "sandbox":
	case "insecure":
		security = "insecure"
	default:
		return fmt.Errorf("--security=%s: unknown mode (sandbox or insecure)", sec)
	}
	if len(instructions.GetDevices(x)) > 0 {
		return errors.New("--device is not supported")
	}

	name := x.String()
	args := x.CmdLine
	var scripts []dag.Heredoc
	if len(x.Files) > 0 {
		if len(args) != 1 || !x.PrependShell {
			return fmt.Errorf("parsing produced an invalid run command: %v", args)
		}
		if h := parser.MustParseHeredoc(args[0]); h != nil {
			f := x.Files[0]
			data := f.Data
			if f.Chomp {
				data = parser.ChompHeredocContent(data)
			}
			if strings.HasPrefix(data, "#!") {
				if err := checkHeredocName(f.Name); err != nil {
					return err
				}
				scripts = []dag.Heredoc{{Name: f.Name, Data: data}}
				args = withShell(s.cfg.Shell, []string{path.Join("/dev/pipes", f.Name)})
			} else {
				args = withShell(s.cfg.Shell, []string{data})
			}
			name += fmt.Sprintf(" (%s)", summarizeHeredoc(f.Data))
		} else {
			var sb strings.Builder
			sb.WriteString(args[0])
			for _, f := range x.Files {
				sb.WriteByte('\n')
				sb.WriteString(f.Data)
				sb.WriteString(f.Name)
			}
			args = withShell(s.cfg.Shell, []string{sb.String()})
		}
	} else if x.PrependShell {
		args = withShell(s.cfg.Shell, args)
	}

	mounts, extra, err := b.runMounts(s, c, x)
	if err != nil {
		return err
	}
	network := instructions.GetNetwork(x)
	if network == instructions.NetworkDefault {
		network = ""
	}
	op := &dag.Run{
		Args:     args,
		Env:      append(s.env.Slice(), b.proxyEnv...),
		User:     s.cfg.User,
		Dir:      workdir(s),
		Network:  network,
		Mounts:   mounts,
		Heredocs: scripts,
		Security: security,
	}
	v := b.step(s, c, op, b.label(s, c, name, true), extra...)
	s.commit(v, "RUN "+runCommandString(args, s)+" # buildkit")
	return nil
}

// runMounts lowers the --mount flags of x. A from= stage or image becomes
// an extra input of the step (once per distinct vertex); the returned
// mounts index it in the step's Inputs.
func (b *build) runMounts(s *stage, c *command, x *instructions.RunCommand) ([]dag.RunMount, []*dag.Vertex, error) {
	var out []dag.RunMount
	var extra []*dag.Vertex
	input := func(v *dag.Vertex) int {
		for i, e := range extra {
			if e == v {
				return i + 1
			}
		}
		extra = append(extra, v)
		return len(extra)
	}
	for i, m := range instructions.GetMounts(x) {
		rm := dag.RunMount{Type: string(m.Type), UID: -1, GID: -1, ReadWrite: !m.ReadOnly, Required: m.Required}
		if m.Mode != nil {
			rm.Mode = uint32(*m.Mode)
		}
		if m.UID != nil {
			rm.UID = int(*m.UID)
		}
		if m.GID != nil {
			rm.GID = int(*m.GID)
		}
		if m.Type == instructions.MountTypeSecret || m.Type == instructions.MountTypeSSH {
			rm, err := secretMount(m, rm)
			if err != nil {
				return nil, nil, err
			}
			out = append(out, rm)
			continue
		}

		if m.From != "" {
			var src *stage
			if i < len(c.sources) {
				src = c.sources[i]
			}
			if src == nil || !src.dispatched {
				return nil, nil, fmt.Errorf("cannot mount from stage %q to %q, stage needs to be defined before current command", m.From, m.Target)
			}
			rm.From = m.From
			rm.Input = input(src.vertex)
		}
		target := m.Target
		if !path.IsAbs(path.Clean(target)) {
			target = path.Join("/", workdir(s), target)
		}
		if target == "/" {
			return nil, nil, fmt.Errorf("invalid mount target %q", target)
		}
		rm.Target = target
		switch m.Type {
		case instructions.MountTypeTmpfs:
			rm.Size = m.SizeLimit
		case instructions.MountTypeCache:
			rm.Source = path.Join("/", m.Source)
			rm.ID = m.CacheID
			if rm.ID == "" {
				rm.ID = path.Clean(m.Target)
			}
			rm.Sharing = string(m.CacheSharing)
			if rm.Sharing == "" {
				rm.Sharing = string(instructions.MountSharingShared)
			}
		default:
			rm.Source = path.Join("/", m.Source)
		}
		out = append(out, rm)
	}
	return out, extra, nil
}

// secretMount completes a secret or ssh mount with BuildKit's defaults: a
// secret's id is its source, else the target's base name, and it is a file
// under /run/secrets unless exposed as an env var; an ssh mount's id is
// "default".
func secretMount(m *instructions.Mount, rm dag.RunMount) (dag.RunMount, error) {
	rm.ReadWrite = false
	rm.Target = m.Target
	if m.Type == instructions.MountTypeSSH {
		if m.Source != "" {
			return rm, errors.New("ssh does not support source")
		}
		rm.ID = m.CacheID
		if rm.ID == "" {
			rm.ID = "default"
		}
		return rm, nil
	}
	rm.ID = m.CacheID
	if m.Source != "" {
		rm.ID = m.Source
	}
	if rm.ID == "" {
		if m.Target == "" {
			return rm, errors.New("one of source, target required")
		}
		rm.ID = path.Base(m.Target)
	}
	if m.Env != nil {
		rm.Env = *m.Env
	} else if rm.Target == "" {
		rm.Target = "/run/secrets/" + path.Base(rm.ID)
	}
	return rm, nil
}

// runCommandString is the RUN history text: "|N K=V ..." for the build
// args in scope, then the command (BuildKit's runCommandString).
func runCommandString(args []string, s *stage) string {
	var kvs []string
	idx := map[string]int{}
	for _, arg := range s.buildArgs {
		v, ok := s.env.Get(arg.Key)
		if !ok {
			v = arg.ValueString()
		}
		if i, ok := idx[arg.Key]; ok {
			kvs[i] = arg.Key + "=" + v
			continue
		}
		idx[arg.Key] = len(kvs)
		kvs = append(kvs, arg.Key+"="+v)
	}
	if len(kvs) > 0 {
		kvs = append([]string{fmt.Sprintf("|%d", len(kvs))}, kvs...)
	}
	return strings.Join(append(kvs, args...), " ")
}

// summarizeHeredoc is the first line of a heredoc, "..." if there are more.
func summarizeHeredoc(doc string) string {
	lines := strings.Split(strings.ReplaceAll(strings.TrimSpace(doc), "\r\n", "\n"), "\n")
	if len(lines) > 1 {
		return lines[0] + "..."
	}
	return lines[0]
}

// workdir is the directory steps of s run in.
func workdir(s *stage) string {
	if s.cfg.WorkingDir == "" {
		return "/"
	}
	return s.cfg.WorkingDir
}

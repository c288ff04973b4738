package builder

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"

	"github.com/bldbuild/bld/cache"
	"github.com/bldbuild/bld/dag"
	"github.com/bldbuild/bld/internal/fscopy"
	"github.com/bldbuild/bld/internal/mount"
	"github.com/bldbuild/bld/sandbox"
	"github.com/bldbuild/bld/snapshot"
)

// runOptionsKey is what --add-host, --shm-size and --ulimit add to a RUN's
// cache key, as BuildKit keys an exec op's extra hosts, shm size and
// ulimits; nil when none is set, so keys without them stay as they were.
func (b *Builder) runOptionsKey() []byte {
	if len(b.ExtraHosts) == 0 && b.ShmSize == 0 && len(b.Ulimits) == 0 {
		return nil
	}
	k := []byte("\x00run-options")
	for _, h := range b.ExtraHosts {
		k = fmt.Appendf(k, "\x00host=%s=%s", h.Name, h.IP)
	}
	if b.ShmSize != 0 {
		k = fmt.Appendf(k, "\x00shm=%d", b.ShmSize)
	}
	for _, u := range b.Ulimits {
		k = fmt.Appendf(k, "\x00ulimit=%s=%d:%d", u.Name, u.Soft, u.Hard)
	}
	return k
}

// run executes a RUN step in the sandbox over an active snapshot.
func (s *solve) run(ctx context.Context, v *dag.Vertex, op *dag.Run, inputs []*node) (cache.Record, error) {
	parent, err := inputs[0].snap()
	if err != nil {
		return cache.Record{}, err
	}
	var undo cleanups
	defer undo.run()
	tmp, err := s.scratchDir()
	if err != nil {
		return cache.Record{}, err
	}
	undo.add(func() { os.RemoveAll(tmp) })

	network := op.Network
	if network == "" {
		network = s.b.Network
	}
	out := newLogWriter(s.b, v)
	spec := sandbox.Spec{
		Args:    op.Args,
		Env:     append([]string(nil), op.Env...),
		Dir:     op.Dir,
		User:    op.User,
		Network: network,
		// Granted by --allow security.insecure (checkEntitlements).
		Insecure: op.Security == "insecure",
		Limits:   s.b.Limits,
		Hosts:    s.b.Hosts,
		// --add-host, --shm-size, --ulimit: in the key (runOptionsKey).
		ExtraHosts: s.b.ExtraHosts,
		ShmSize:    s.b.ShmSize,
		Ulimits:    s.b.Ulimits,
		// The sandbox's scratch (its root's mount point) is under the
		// build's WorkDir, in the state root, never in $TMPDIR.
		ScratchDir: tmp,
		Stdout:     out.stream(1),
		Stderr:     out.stream(2),
	}
	for i, m := range op.Mounts {
		if err := s.runMount(ctx, &spec, m, inputs, filepath.Join(tmp, strconv.Itoa(i)), &undo); err != nil {
			return cache.Record{}, fmt.Errorf("--mount=type=%s,target=%s: %w", m.Type, m.Target, err)
		}
	}
	for _, h := range op.Heredocs {
		f := filepath.Join(tmp, "pipe-"+h.Name)
		if err := os.WriteFile(f, []byte(h.Data), 0o755); err != nil {
			return cache.Record{}, err
		}
		spec.Mounts = append(spec.Mounts, mount.Mount{Type: "bind", Source: f, Target: "/dev/pipes/" + h.Name, Options: []string{"rbind", "ro"}})
	}

	key, err := s.prepareLimited(ctx, parent, func(_ string, mounts []mount.Mount) error {
		spec.Root = mounts
		err := s.b.Run(ctx, spec)
		out.flush()
		if err != nil {
			return &StepError{Pos: v.Pos, Instruction: instruction(v), Err: err, Tail: out.tail()}
		}
		return nil
	})
	if err != nil {
		return cache.Record{}, err
	}
	undo.run()
	return s.commit(ctx, v, key, parent, true)
}

// Entitlements a build can be granted (bld build --allow), with BuildKit's names.
const (
	EntitlementNetworkHost      = "network.host"      // RUN in the host's network namespace
	EntitlementSecurityInsecure = "security.insecure" // RUN --security=insecure: every capability, no seccomp, all devices
)

// EntitlementError reports a build that needs an entitlement it was not
// granted. Inside a *StepError, it names the step that needs it.
type EntitlementError struct {
	Entitlement string
	What        string // what needs it, when not a step: "--network host"
}

func (e *EntitlementError) Error() string {
	msg := fmt.Sprintf("%s is not allowed: add --allow %s", e.Entitlement, e.Entitlement)
	if e.What != "" {
		msg = e.What + ": " + msg
	}
	return msg
}

// checkEntitlements fails, before anything runs, when the build uses
// host networking (its default network, or a RUN --network=host anywhere
// target depends on) without the network.host entitlement, or is granted
// an entitlement bld does not know or support.
func (b *Builder) checkEntitlements(target *dag.Vertex) error {
	hostOK, insecureOK := false, false
	for _, e := range b.Allow {
		switch e {
		case EntitlementNetworkHost:
			hostOK = true
		case EntitlementSecurityInsecure:
			insecureOK = true
		default:
			return fmt.Errorf("--allow %s: unknown entitlement (known: %s, %s)", e, EntitlementNetworkHost, EntitlementSecurityInsecure)
		}
	}
	switch b.Network {
	case "", sandbox.NetworkDefault, sandbox.NetworkNone:
	case sandbox.NetworkHost:
		if !hostOK {
			return &EntitlementError{Entitlement: EntitlementNetworkHost, What: "--network host"}
		}
	default:
		return fmt.Errorf("--network %s: unknown network mode (default, host or none)", b.Network)
	}
	// The first step (by line) that needs an entitlement not granted.
	var first *dag.Vertex
	need := ""
	seen := map[*dag.Vertex]bool{}
	var walk func(v *dag.Vertex)
	walk = func(v *dag.Vertex) {
		if seen[v] {
			return
		}
		seen[v] = true
		if r, ok := v.Op.(*dag.Run); ok && (first == nil || v.Pos.Line < first.Pos.Line) {
			switch {
			case r.Network == sandbox.NetworkHost && !hostOK:
				first, need = v, EntitlementNetworkHost
			case r.Security == "insecure" && !insecureOK:
				first, need = v, EntitlementSecurityInsecure
			}
		}
		for _, in := range v.Inputs {
			walk(in)
		}
	}
	walk(target)
	if first != nil {
		return &StepError{Pos: first.Pos, Instruction: instruction(first), Err: &EntitlementError{Entitlement: need}}
	}
	return nil
}

// runMount adds one RUN --mount to spec, preparing its source under dir.
func (s *solve) runMount(ctx context.Context, spec *sandbox.Spec, m dag.RunMount, inputs []*node, dir string, undo *cleanups) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	switch m.Type {
	case "bind":
		root := s.b.Context
		if m.From != "" {
			if m.Input <= 0 || m.Input >= len(inputs) {
				return fmt.Errorf("from=%s: no such input", m.From)
			}
			d, release, err := s.mountView(ctx, inputs[m.Input], filepath.Join(dir, "from"))
			if err != nil {
				return err
			}
			undo.add(release)
			root = d
		}
		src, err := securejoin.SecureJoin(root, m.Source)
		if err != nil {
			return err
		}
		if m.From == "" && s.b.Ignore != nil {
			// The context as the build sees it: what .dockerignore
			// excludes is not there, as with COPY (and BuildKit).
			view := filepath.Join(dir, "context")
			if err := os.MkdirAll(view, 0o755); err != nil {
				return err
			}
			if err := fscopy.Copy(ctx, s.contextSource(), []string{m.Source}, view, "/", fscopy.Options{}); err != nil {
				return fmt.Errorf("source %s: %w", m.Source, err)
			}
			if fi, err := os.Stat(src); err == nil && !fi.IsDir() {
				src = filepath.Join(view, filepath.Base(src))
			} else {
				src = view
			}
		}
		fi, err := os.Stat(src)
		if err != nil {
			return fmt.Errorf("source %s: %w", m.Source, err)
		}
		if !m.ReadWrite {
			spec.Mounts = append(spec.Mounts, mount.Mount{Type: "bind", Source: src, Target: m.Target, Options: []string{"rbind", "ro"}})
			return nil
		}
		// Writes to an rw bind are discarded: the step writes to a copy
		// (an overlay for directories), never to the context or the stage.
		if !fi.IsDir() {
			cp := filepath.Join(dir, "file")
			if err := copyFile(src, cp); err != nil {
				return err
			}
			spec.Mounts = append(spec.Mounts, mount.Mount{Type: "bind", Source: cp, Target: m.Target, Options: []string{"rbind"}})
			return nil
		}
		upper, work := filepath.Join(dir, "upper"), filepath.Join(dir, "work")
		for _, d := range []string{upper, work} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
		}
		spec.Mounts = append(spec.Mounts, mount.Mount{Type: "overlay", Source: "overlay", Target: m.Target,
			Options: append(snapshot.OverlayOptions(), "lowerdir="+src, "upperdir="+upper, "workdir="+work)})
		return nil
	case "cache":
		id := m.ID
		if id == "" {
			id = m.Target
		}
		cdir := CacheMountDir(s.b.CacheMounts, id)
		if _, err := os.Stat(cdir); os.IsNotExist(err) {
			// The id goes next to the directory, so the cache can be
			// exported by id (--cache-to ...,cache-mounts=true).
			if err := os.MkdirAll(s.b.CacheMounts, 0o700); err != nil {
				return err
			}
			if err := os.WriteFile(cdir+".id", []byte(id), 0o600); err != nil {
				return err
			}
			mode := os.FileMode(0o755)
			if m.Mode != 0 {
				mode = os.FileMode(m.Mode)
			}
			if err := os.MkdirAll(cdir, mode); err != nil {
				return err
			}
			_ = os.Chmod(cdir, mode)
			uid, gid := max(m.UID, 0), max(m.GID, 0)
			_ = os.Lchown(cdir, uid, gid)
		}
		if m.Sharing == "locked" {
			f, err := os.Open(cdir)
			if err != nil {
				return err
			}
			if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
				f.Close()
				return err
			}
			undo.add(func() { f.Close() })
		}
		opts := []string{"rbind"}
		if !m.ReadWrite && m.Sharing == "readonly" {
			opts = append(opts, "ro")
		}
		spec.Mounts = append(spec.Mounts, mount.Mount{Type: "bind", Source: cdir, Target: m.Target, Options: opts})
		return nil
	case "tmpfs":
		opts := []string{"nosuid", "nodev"}
		if m.Size > 0 {
			opts = append(opts, "size="+strconv.FormatInt(m.Size, 10))
		}
		spec.Mounts = append(spec.Mounts, mount.Mount{Type: "tmpfs", Source: "tmpfs", Target: m.Target, Options: opts})
		return nil
	case "secret":
		data, ok := s.b.Secrets[m.ID]
		if !ok {
			if m.Required {
				return fmt.Errorf("secret %q not provided (bld build --secret id=%s,src=FILE)", m.ID, m.ID)
			}
			return nil
		}
		if m.Env != "" {
			spec.Env = append(spec.Env, m.Env+"="+string(data))
			if m.Target == "" {
				return nil
			}
		}
		target := m.Target
		if target == "" {
			target = path.Join("/run/secrets", m.ID)
		}
		f := filepath.Join(dir, "secret")
		mode := os.FileMode(0o400)
		if m.Mode != 0 {
			mode = os.FileMode(m.Mode)
		}
		if err := os.WriteFile(f, data, mode); err != nil {
			return err
		}
		_ = os.Chmod(f, mode)
		_ = os.Lchown(f, max(m.UID, 0), max(m.GID, 0))
		spec.Mounts = append(spec.Mounts, mount.Mount{Type: "bind", Source: f, Target: target, Options: []string{"rbind", "ro"}})
		return nil
	default:
		return fmt.Errorf("mount type %q is not supported", m.Type)
	}
}

// CacheMountDir is the directory that holds the RUN cache mount id under
// root (the builder's CacheMounts); root/<dir>.id names the id.
func CacheMountDir(root, id string) string {
	sum := sha256.Sum256([]byte(id))
	return filepath.Join(root, fmt.Sprintf("%x", sum[:12]))
}

// CacheMountIDs lists the cache mounts under root by id.
func CacheMountIDs(root string) (map[string]string, error) {
	ents, err := os.ReadDir(root)
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	out := map[string]string{}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".id")
		if !ok {
			continue
		}
		id, err := os.ReadFile(filepath.Join(root, e.Name()))
		if err != nil {
			continue
		}
		out[string(id)] = filepath.Join(root, name)
	}
	return out, nil
}

// mountView mounts a read-only view of n's snapshot at dir for the
// duration of a step.
func (s *solve) mountView(ctx context.Context, n *node, dir string) (string, func(), error) {
	snap, err := n.snap()
	if err != nil {
		return "", nil, err
	}
	key := activeKey()
	mounts, err := s.b.Snapshots.View(ctx, key, snap)
	if err != nil {
		return "", nil, fmt.Errorf("view snapshot: %w", err)
	}
	removeView := func() { _ = s.b.Snapshots.Remove(context.WithoutCancel(ctx), key) }
	if len(mounts) == 1 && mounts[0].Type == "bind" && mounts[0].Target == "" {
		return mounts[0].Source, removeView, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		removeView()
		return "", nil, err
	}
	if err := mount.All(mounts, dir); err != nil {
		removeView()
		return "", nil, err
	}
	return dir, func() { mount.UnmountAll(dir); removeView() }, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// cleanups undoes a step's preparations in reverse order, once.
type cleanups struct{ fns []func() }

func (c *cleanups) add(f func()) { c.fns = append(c.fns, f) }
func (c *cleanups) run() {
	for i := len(c.fns) - 1; i >= 0; i-- {
		c.fns[i]()
	}
	c.fns = nil
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

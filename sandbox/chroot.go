package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"

	"github.com/bldbuild/bld/internal/mount"
	"github.com/bldbuild/bld/sandbox/internal/stepinit"
)

// Isolation modes of a build's RUN steps.
const (
	IsolationDefault = "default" // Run: namespaces, pivot_root, seccomp, cgroups
	IsolationChroot  = "chroot"  // RunChroot: a chroot and nothing else
)

// RunChroot runs spec's command as buildah's --isolation chroot does where
// nothing more can be made: inside an unprivileged container or pod that
// allows no new namespace and no mount. The command is chrooted into the
// step's root and runs with the step's user, and that is all: it shares
// the caller's PID, network, IPC and UTS namespaces and its cgroup, sees no
// /proc, /dev or /sys but what the image holds, gets no seccomp filter of
// bld's (the container's own applies) and keeps the caller's capability
// bounding set. It is weaker isolation, for builds of trusted Dockerfiles
// where the container around bld is the boundary: chosen explicitly (bld
// build --isolation chroot), or by the build library, with a warning, when
// Run fails with IsNoNamespaces and no isolation was asked for.
//
// The root must be a directory: a copy-based (native) snapshot, or an
// overlay RunChroot can still mount. RUN --mount, --network none and
// cgroup limits need what chroot isolation cannot make, and fail with one
// error naming them.
func RunChroot(ctx context.Context, spec Spec) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validate(spec); err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	if len(spec.Mounts) > 0 {
		return fmt.Errorf("--isolation chroot: %s needs a mount (RUN --mount or a heredoc script), which chroot isolation cannot make", spec.Mounts[0].Target)
	}
	switch spec.Network {
	case "", NetworkDefault, NetworkHost:
	default:
		return fmt.Errorf("--isolation chroot: network mode %s needs a network namespace; RUN steps share the caller's network", spec.Network)
	}
	if spec.Limits != (Limits{}) {
		return errors.New("--isolation chroot: --memory, --cpus and --pids-limit need a cgroup, which chroot isolation does not make")
	}
	if spec.Insecure {
		return errors.New("--isolation chroot: RUN --security=insecure is not available")
	}
	dir, cleanup, err := chrootDir(spec)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, cleanup()) }()

	u, err := stepinit.LookupUser(dir, spec.User)
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	env := spec.Env
	if !hasEnv(env, "PATH") {
		env = append(append([]string(nil), env...), defaultPath)
	}
	if !hasEnv(env, "HOME") {
		home := u.Home
		if home == "" {
			home = "/"
		}
		env = append(append([]string(nil), env...), "HOME="+home)
	}
	wd := spec.Dir
	if wd == "" {
		wd = "/"
	}
	host, err := securejoin.SecureJoin(dir, wd)
	if err != nil {
		return fmt.Errorf("sandbox: workdir %s: %w", wd, err)
	}
	if _, err := os.Stat(host); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(host, 0o755); err != nil {
			return fmt.Errorf("sandbox: workdir %s: %w", wd, err)
		}
		if err := os.Lchown(host, int(u.UID), int(u.GID)); err != nil {
			return fmt.Errorf("sandbox: workdir %s: %w", wd, err)
		}
	}
	path, err := chrootLookPath(dir, spec.Args[0], env)
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	cmd := exec.CommandContext(ctx, path, spec.Args[1:]...)
	cmd.Args[0] = spec.Args[0]
	cmd.Env = env
	cmd.Dir = wd
	cmd.Stdin, cmd.Stdout, cmd.Stderr = spec.Stdin, spec.Stdout, spec.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Chroot:     dir,
		Credential: &syscall.Credential{Uid: u.UID, Gid: u.GID, Groups: u.Groups, NoSetGroups: !canSetgroups()},
		Setsid:     true,
		Pdeathsig:  syscall.SIGKILL,
	}
	if err = start(cmd); err == nil {
		err = cmd.Wait()
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		xe := &ExitError{Code: ee.ExitCode()}
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			xe.Code = 128 + int(ws.Signal())
			xe.Signal = unix.SignalName(ws.Signal())
		}
		return xe
	}
	if err != nil {
		return fmt.Errorf("sandbox: chroot %s: %w", spec.Args[0], err)
	}
	return nil
}

// noNamespaces adds to err, a failed start of a process in new
// namespaces, what still works when the cause is an environment that
// allows none (a container's seccomp profile).
func noNamespaces(err error) error {
	if errors.Is(err, unix.EPERM) {
		return &noNamespacesError{err}
	}
	return err
}

// noNamespacesError is a step that could not start because the
// environment allows no new namespaces.
type noNamespacesError struct{ err error }

func (e *noNamespacesError) Error() string {
	return fmt.Sprintf("%v: this environment allows no new namespaces (a container's seccomp profile?); bld build --isolation chroot runs RUN steps in a chroot only (weaker isolation)", e.err)
}

func (e *noNamespacesError) Unwrap() error { return e.err }

// IsNoNamespaces reports whether err is a step that did not start (nothing
// of it ran) because the environment allows no new namespaces, where
// RunChroot is what still works.
func IsNoNamespaces(err error) bool {
	var e *noNamespacesError
	return errors.As(err, &e)
}

// chrootDir is the directory the step's root is: a bind's source as is,
// else the root mounts made on a new directory (removed after).
func chrootDir(spec Spec) (string, func() error, error) {
	if len(spec.Root) == 1 && stepinit.IsBind(spec.Root[0]) {
		return spec.Root[0].Source, func() error { return nil }, nil
	}
	dir, err := os.MkdirTemp(spec.ScratchDir, "bld-chroot-")
	if err != nil {
		return "", nil, fmt.Errorf("sandbox: %w", err)
	}
	if err := mount.All(spec.Root, dir); err != nil {
		os.Remove(dir)
		return "", nil, fmt.Errorf("--isolation chroot: the step's root is an overlay, which cannot be mounted here (%v): use a state root with copy-based snapshots", err)
	}
	return dir, func() error {
		return errors.Join(mount.Unmount(dir), os.Remove(dir))
	}, nil
}

// chrootLookPath finds file in env's PATH inside root, as the command will
// see it after the chroot; symlinks resolve inside root.
func chrootLookPath(root, file string, env []string) (string, error) {
	if strings.Contains(file, "/") {
		return file, nil
	}
	var pathEnv string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathEnv = v
		}
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return "", err
	}
	defer r.Close()
	for _, d := range filepath.SplitList(pathEnv) {
		if !filepath.IsAbs(d) {
			continue
		}
		p := filepath.Join(d, file)
		if fi, err := r.Stat(strings.TrimPrefix(p, "/")); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("exec: %q: executable file not found in $PATH", file)
}

// canSetgroups reports whether this process may call setgroups: not in a
// user namespace whose setgroups file says deny.
func canSetgroups() bool {
	b, err := os.ReadFile("/proc/self/setgroups")
	return err != nil || strings.TrimSpace(string(b)) != "deny"
}

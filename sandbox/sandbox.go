package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bldbuild/bld/internal/mount"
)

// Spec describes one command to run in a sandbox.
type Spec struct {
	// Root holds the mounts that form / (an overlay, or a bind of a
	// directory), mounted in order on the same place. Targets must be empty.
	Root []mount.Mount
	// Mounts are extra mounts (bind, tmpfs, ...), made in order at their
	// Target inside the root. A target missing in the root is created for
	// the step (a directory, or an empty file when a bind source is a file)
	// and removed afterwards, with the parents the sandbox created.
	Mounts []mount.Mount
	// Args is the command line; Args[0] is looked up in the PATH of Env,
	// inside the root, when it has no slash.
	Args []string
	// Env holds KEY=VALUE pairs. Without PATH, Docker's default PATH is
	// added; without HOME, the user's home from the root's /etc/passwd.
	Env []string
	// Dir is the working directory inside the root ("" is "/"); it is
	// created, owned by the user, when missing.
	Dir string
	// User is "", "name", "uid", "name:group" or "uid:gid". Names are looked
	// up in the root's /etc/passwd and /etc/group; a user given without a
	// group gets its primary group and the supplementary groups listing it.
	// "" is root.
	User string
	// Hostname is the step's hostname, "bld" when empty.
	Hostname string
	// Network is "" or "host" to share the host's network namespace, or
	// "none" for a new one with only the loopback interface, up.
	Network string
	// Hosts and Resolv are the contents of /etc/hosts and /etc/resolv.conf.
	// A nil Hosts gets localhost and the hostname; a nil Resolv gets a copy
	// of the host's. They, and /etc/hostname, are bind-mounted from copies:
	// writes to them are discarded and they never land in the root.
	Hosts, Resolv []byte
	// Limits are the step's cgroup limits.
	Limits Limits
	// Stdin, Stdout and Stderr are the command's standard streams; nil is
	// /dev/null, as with os/exec.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// Limits are cgroup limits for a step. Zero means no limit.
type Limits struct {
	Memory int64   // bytes; swap is not allowed on top
	CPUs   float64 // CPU time per period, in CPUs (1.5 is one and a half)
	Pids   int64   // processes and threads of the step
}

// ExitError reports a command that ran and did not succeed.
type ExitError struct {
	Code      int    // exit status; 128+n when killed by signal n
	Signal    string // the signal that killed the command ("SIGKILL"), or ""
	OOMKilled bool   // the OOM killer acted in the step's memory cgroup
	memory    int64  // the memory limit, for the message
}

func (e *ExitError) Error() string {
	switch {
	case e.OOMKilled && e.memory > 0:
		return fmt.Sprintf("killed by OOM (memory limit %s)", formatBytes(e.memory))
	case e.OOMKilled:
		return "killed by OOM"
	case e.Signal != "":
		return fmt.Sprintf("killed by %s", e.Signal)
	}
	return fmt.Sprintf("exit code: %d", e.Code) // BuildKit's wording
}

// formatBytes prints n in binary units: 64MiB, 1.5GiB, 100B.
func formatBytes(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	v, i := float64(n), 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.1f", v), "0"), ".") + units[i]
}

// defaultPath is Docker's PATH for containers whose image sets none.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// killGrace is how long Run waits, after asking the init to kill the step on
// cancellation, before it kills the init itself.
const killGrace = 3 * time.Second

// Run runs spec.Args in a new sandbox and waits for it to end, with every
// process it started. A command that exits non-zero or is killed gives an
// *ExitError; a failure to set the sandbox up (a mount, an unknown user, a
// command not found) gives an error saying what failed. When ctx is done,
// the step is killed and cleaned up, and Run returns ctx's error.
//
// Run needs root. It is safe for concurrent use: each call has its own
// namespaces, cgroup and scratch directory. Concurrent calls must not share
// a root directory, though (as two bind roots of one directory would): the
// mount targets one creates there and removes would vanish under the other.
func Run(ctx context.Context, spec Spec) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validate(spec); err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	state, err := os.MkdirTemp("", "bld-sandbox-")
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	defer func() {
		err = errors.Join(err, removeState(state))
	}()
	cfg, err := newConfig(spec, state)
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	cg, err := newCgroup(spec.Limits)
	if err != nil {
		return fmt.Errorf("sandbox: cgroup: %w", err)
	}
	defer func() {
		if rerr := cg.remove(); rerr != nil {
			err = errors.Join(err, fmt.Errorf("sandbox: remove cgroup: %w", rerr))
		}
	}()
	cfg.CgroupProcs, cfg.HomeProcs = cg.procs()
	if cfg.Seccomp, err = stepSeccomp(); err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	return run(ctx, spec, cfg, cg)
}

func validate(spec Spec) error {
	if len(spec.Args) == 0 || spec.Args[0] == "" {
		return errors.New("no command")
	}
	if len(spec.Root) == 0 {
		return errors.New("no root mounts")
	}
	for _, m := range spec.Root {
		if m.Target != "" && m.Target != "/" {
			return fmt.Errorf("root mount %s has target %q", m.Source, m.Target)
		}
	}
	for _, m := range spec.Mounts {
		if m.Target == "" {
			return fmt.Errorf("mount %s has no target", m.Source)
		}
	}
	switch spec.Network {
	case "", "host", "none":
	default:
		return fmt.Errorf("unknown network mode %q", spec.Network)
	}
	l := spec.Limits
	if l.Memory < 0 || l.Pids < 0 || l.CPUs < 0 || math.IsNaN(l.CPUs) || math.IsInf(l.CPUs, 0) {
		return fmt.Errorf("invalid limits %+v", l)
	}
	return nil
}

// config is what Run sends to the init, as JSON.
type config struct {
	Root     []mount.Mount
	Mounts   []mount.Mount // spec.Mounts, then the /etc files
	Args     []string
	Env      []string
	Dir      string
	User     string
	Hostname string
	NewNet   bool
	RootDir  string // where the init mounts the root before pivot_root
	// CgroupProcs are the cgroup.procs files of the step's cgroups; the init
	// moves itself there to start the command, then back to HomeProcs.
	CgroupProcs, HomeProcs []string
	Seccomp                []byte // the command's seccomp filter (encodeSeccomp)
}

// newConfig fills in the defaults of spec and writes the /etc files into
// the scratch directory state.
func newConfig(spec Spec, state string) (*config, error) {
	cfg := &config{
		Root:     spec.Root,
		Mounts:   append([]mount.Mount(nil), spec.Mounts...),
		Args:     spec.Args,
		Env:      spec.Env,
		Dir:      spec.Dir,
		User:     spec.User,
		Hostname: spec.Hostname,
		NewNet:   spec.Network == "none",
		RootDir:  filepath.Join(state, "root"),
	}
	if cfg.Hostname == "" {
		cfg.Hostname = "bld"
	}
	if cfg.Dir == "" {
		cfg.Dir = "/"
	}
	if !hasEnv(cfg.Env, "PATH") {
		cfg.Env = append(append([]string(nil), cfg.Env...), defaultPath)
	}
	if err := os.Mkdir(cfg.RootDir, 0o700); err != nil {
		return nil, err
	}
	hosts := spec.Hosts
	if hosts == nil {
		hosts = fmt.Appendf(nil, "127.0.0.1\tlocalhost %s\n::1\tlocalhost ip6-localhost ip6-loopback\n", cfg.Hostname)
	}
	resolv := spec.Resolv
	if resolv == nil {
		b, err := os.ReadFile("/etc/resolv.conf")
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		resolv = b
	}
	files := []struct {
		name string
		data []byte
	}{
		{"hosts", hosts},
		{"resolv.conf", resolv},
		{"hostname", []byte(cfg.Hostname + "\n")},
	}
	for _, f := range files {
		p := filepath.Join(state, f.name)
		if err := os.WriteFile(p, f.data, 0o644); err != nil {
			return nil, err
		}
		cfg.Mounts = append(cfg.Mounts, mount.Mount{Type: "bind", Source: p, Target: "/etc/" + f.name, Options: []string{"bind"}})
	}
	return cfg, nil
}

func hasEnv(env []string, key string) bool {
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == key {
			return true
		}
	}
	return false
}

// removeState removes Run's scratch directory. It removes the known entries
// one by one rather than with RemoveAll, so a mount that somehow stayed on
// the root directory is never walked into.
func removeState(state string) error {
	var errs []error
	for _, name := range []string{"hosts", "resolv.conf", "hostname", "root"} {
		if err := os.Remove(filepath.Join(state, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := os.Remove(state); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// message is one JSON message between Run and the init, in either direction.
type message struct {
	Kill    bool   `json:"kill,omitempty"`    // Run → init: kill the step now
	Error   string `json:"error,omitempty"`   // init → Run: setup failed
	Exited  bool   `json:"exited,omitempty"`  // init → Run: the command ended
	Code    int    `json:"code,omitempty"`    // exit status, or 128+signal
	Signal  int    `json:"signal,omitempty"`  // the signal that killed it
	Cleanup string `json:"cleanup,omitempty"` // cleanup after the command failed
}

// initEnv marks a process started by Run as a sandbox init.
const initEnv = "_BLD_SANDBOX_INIT"

// run starts the init, gives it cfg and waits for it to end.
func run(ctx context.Context, spec Spec, cfg *config, cg *cgroup) error {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return fmt.Errorf("sandbox: %w", os.NewSyscallError("socketpair", err))
	}
	sock := os.NewFile(uintptr(fds[0]), "sandbox")
	child := os.NewFile(uintptr(fds[1]), "sandbox-init")
	defer sock.Close()

	flags := unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC
	if cfg.NewNet {
		flags |= unix.CLONE_NEWNET
	}
	// The cgroup namespace is made by the init for the command, once the
	// command is in the step's cgroups, so that they are its root.
	cmd := &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       []string{"bld-sandbox-init"},
		Env:        []string{initEnv + "=1"},
		Stdin:      spec.Stdin,
		Stdout:     spec.Stdout,
		Stderr:     spec.Stderr,
		ExtraFiles: []*os.File{child}, // fd 3
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: uintptr(flags),
			Pdeathsig:  syscall.SIGKILL,
		},
		WaitDelay: time.Second,
	}
	err = cmd.Start()
	child.Close()
	if err != nil {
		return fmt.Errorf("sandbox: start init: %w", err)
	}
	waited := make(chan struct{})
	go func() {
		cmd.Wait() // how the init ended is in its last message
		close(waited)
	}()

	var got []message
	read := make(chan struct{})
	go func() {
		defer close(read)
		dec := json.NewDecoder(sock)
		for {
			var m message
			if dec.Decode(&m) != nil {
				return
			}
			got = append(got, m)
		}
	}()

	enc := json.NewEncoder(sock)
	if err := enc.Encode(cfg); err != nil {
		cmd.Process.Kill()
		<-waited
		return fmt.Errorf("sandbox: send config: %w", err)
	}
	cancelled := false
	select {
	case <-waited:
	case <-ctx.Done():
		cancelled = true
		enc.Encode(message{Kill: true}) // fails only if the init is gone
		t := time.NewTimer(killGrace)
		select {
		case <-waited:
		case <-t.C:
			cmd.Process.Kill()
			<-waited
		}
		t.Stop()
	}
	// Everything holding the socket is dead; the reader sees EOF soon.
	sock.SetReadDeadline(time.Now().Add(time.Second))
	<-read
	return result(ctx, cancelled, got, cmd.ProcessState, cg)
}

// result turns what the init said, and how it ended, into Run's error.
func result(ctx context.Context, cancelled bool, got []message, ps *os.ProcessState, cg *cgroup) error {
	var exit *message
	var setup []string
	for i := range got {
		switch m := &got[i]; {
		case m.Error != "":
			setup = append(setup, m.Error)
		case m.Exited:
			exit = m
		}
	}
	var cleanup error
	if exit != nil && exit.Cleanup != "" {
		cleanup = errors.New("sandbox: cleanup: " + exit.Cleanup)
	}
	switch {
	case cancelled:
		return errors.Join(ctx.Err(), cleanup)
	case len(setup) > 0:
		return errors.New("sandbox: " + strings.Join(setup, "; "))
	case exit != nil && exit.Code == 0:
		return cleanup
	case exit != nil:
		e := &ExitError{Code: exit.Code, memory: cg.limit}
		if exit.Signal != 0 {
			e.Signal = unix.SignalName(syscall.Signal(exit.Signal))
		}
		e.OOMKilled = cg.oomKilled()
		return errors.Join(e, cleanup)
	}
	// The init died without a word: killed from outside, or crashed.
	if cg.oomKilled() {
		return &ExitError{Code: 128 + int(unix.SIGKILL), Signal: "SIGKILL", OOMKilled: true, memory: cg.limit}
	}
	state := "no status"
	if ps != nil {
		state = ps.String()
	}
	return fmt.Errorf("sandbox: init ended without a status (%s)", state)
}

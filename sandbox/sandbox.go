package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bldbuild/bld/internal/mount"
	"github.com/bldbuild/bld/internal/userns"
	"github.com/bldbuild/bld/sandbox/internal/stepinit"
	"github.com/docker/go-units"
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
	// Network is "" or "default" for a network namespace of the step's
	// own with outbound access through slirp4netns (no view of the host's
	// interfaces or of its loopback services), "host" to share the host's
	// network namespace, or "none" for a new one with only lo, up.
	Network string
	// Hosts and Resolv are the contents of /etc/hosts and /etc/resolv.conf.
	// A nil Hosts gets localhost and the hostname; a nil Resolv gets a copy
	// of the host's. They, and /etc/hostname, are bind-mounted from copies:
	// writes to them are discarded and they never land in the root.
	Hosts, Resolv []byte
	// ExtraHosts are added to /etc/hosts, one "IP\tName" line each, after
	// Hosts or the default (docker's --add-host).
	ExtraHosts []Host
	// ShmSize is the size of the step's /dev/shm in bytes; 0 is 64MiB.
	ShmSize int64
	// Ulimits are the command's resource limits (setrlimit before execve);
	// a resource not listed keeps bld's.
	Ulimits []Ulimit
	// ScratchDir is where Run makes the step's scratch directory (the
	// mount point of its root, its /etc files); os.TempDir() when empty.
	// An empty ScratchDir is used as it is, with nothing made in it: the
	// scratch is a tmpfs mounted on it in the step's own mount namespace,
	// so it hides nothing of the host's, and steps may share it. A build
	// passes a directory under its state root's tmp/.
	ScratchDir string
	// Limits are the step's cgroup limits.
	Limits Limits
	// Insecure runs the command as BuildKit's security.insecure mode (RUN
	// --security=insecure, docker run --privileged): every capability,
	// no seccomp filter, every device allowed by the cgroup (and the
	// host's fuse, kmsg, kvm and loop-control nodes in /dev), /sys and
	// /proc writable, nothing masked. Only for a build granted --allow
	// security.insecure.
	Insecure bool
	// Stdin, Stdout and Stderr are the command's standard streams; nil is
	// /dev/null, as with os/exec.
	Stdin          io.Reader
	Stdout, Stderr io.Writer

	// netns is a pooled default-mode network namespace (Networks.Run)
	// the step joins instead of making its own, and netUp says when its
	// slirp4netns has configured it.
	netns *os.File
	netUp *netUp
}

// Limits are cgroup limits for a step. Zero means no limit.
type Limits struct {
	Memory int64   // bytes; swap is not allowed on top
	CPUs   float64 // CPU time per period, in CPUs (1.5 is one and a half)
	Pids   int64   // processes and threads of the step
}

// Host is one /etc/hosts entry of Spec.ExtraHosts.
type Host struct {
	Name string
	IP   netip.Addr
}

// Ulimit is one resource limit of Spec.Ulimits. Name is docker's (nofile,
// nproc, core, ...: the keys of Rlimits).
type Ulimit = stepinit.Ulimit

// Rlimits maps docker's ulimit names to the RLIMIT_ resources.
var Rlimits = stepinit.Rlimits

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
		return fmt.Sprintf("killed by OOM (memory limit %s)", units.BytesSize(float64(e.memory)))
	case e.OOMKilled:
		return "killed by OOM"
	case e.Signal != "":
		return fmt.Sprintf("killed by %s", e.Signal)
	}
	return fmt.Sprintf("exit code: %d", e.Code) // BuildKit's wording
}

// defaultPath is Docker's PATH for containers whose image sets none.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Run runs spec.Args in a new sandbox, as its PID 1, and waits for it to
// end, with every process it started (the kernel kills the rest of the PID
// namespace when PID 1 exits). A command that exits non-zero or is killed gives an
// *ExitError; a failure to set the sandbox up (a mount, an unknown user, a
// command not found) gives an error saying what failed. When ctx is done,
// the step is killed and cleaned up, and Run returns ctx's error.
//
// Run needs root. It is safe for concurrent use: each call has its own
// namespaces, cgroup and scratch directory. Concurrent calls may share a
// directory through bind mounts (a cache mount): mount targets are created
// and mounted through descriptors, so a symlink swapped in by one never
// sends another's mounts outside its root. They must not share a root
// directory, though (as two bind roots of one directory would): the mount
// targets one creates there and removes could vanish under the other.
func Run(ctx context.Context, spec Spec) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validate(spec); err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	// The scratch directory stays empty on the host: the init mounts a
	// tmpfs on it in the step's mount namespace, gone with it.
	state, made, err := scratchDir(spec.ScratchDir)
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	if made {
		defer func() {
			if rerr := os.Remove(state); rerr != nil {
				err = errors.Join(err, fmt.Errorf("sandbox: %w", rerr))
			}
		}()
	}
	cfg, err := newConfig(spec, state)
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	// Rootless, as runc's rootless mode: no device cgroup. The user
	// namespace can make no device node, and the /dev nodes the step gets
	// are the host's, opened under the user's own permissions; a v1
	// devices hierarchy is never delegated to a user (its rules need
	// CAP_SYS_ADMIN on the host), so asking for one would fail every step
	// that has --memory in a delegated memory cgroup.
	cg, err := newCgroup(spec.Limits, !spec.Insecure && !userns.Rootless())
	if err != nil {
		return fmt.Errorf("sandbox: cgroup: %w", err)
	}
	defer func() {
		if rerr := cg.remove(); rerr != nil {
			err = errors.Join(err, fmt.Errorf("sandbox: remove cgroup: %w", rerr))
		}
	}()
	into := cg.cloneInto()
	if into != nil {
		defer into.Close()
	}
	cfg.CgroupProcs = cg.joinFiles(into != nil)
	if !spec.Insecure {
		if cfg.Seccomp, err = stepSeccomp(); err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
	}
	return run(ctx, spec, cfg, cg, into)
}

// scratchDir returns the directory the init mounts the step's scratch
// tmpfs on: dir itself when it is given and empty, else a new
// bld-sandbox-N directory in dir (os.TempDir() when ""), which made
// reports, for Run to remove. The tmpfs is in the step's mount namespace
// only; over an empty directory it hides nothing a mount of the step
// could need. A build's RUN steps get a scratch directory of their own,
// empty but for --mount sources and heredocs, and making a directory in
// it was 0.7 to 1.4 ms of the parent's CPU per step (perf, os.MkdirTemp)
// after a few builds on this machine's ext4 without a journal, where
// each new inode skips every inode its group freed in the last minutes.
func scratchDir(dir string) (state string, made bool, err error) {
	if dir != "" && emptyDir(dir) {
		return dir, false, nil
	}
	state, err = os.MkdirTemp(dir, "bld-sandbox-")
	return state, err == nil, err
}

// emptyDir reports whether dir is a directory with nothing in it.
func emptyDir(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	return len(names) == 0 && err == io.EOF
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
	case "", NetworkDefault, NetworkHost, NetworkNone: // network: modes
	default:
		return fmt.Errorf("unknown network mode %q", spec.Network)
	}
	for _, h := range spec.ExtraHosts {
		if h.Name == "" || strings.ContainsAny(h.Name, " \t\n#") || !h.IP.IsValid() {
			return fmt.Errorf("invalid extra host %q %v", h.Name, h.IP)
		}
	}
	if spec.ShmSize < 0 {
		return fmt.Errorf("invalid shm size %d", spec.ShmSize)
	}
	for _, u := range spec.Ulimits {
		if _, ok := Rlimits[u.Name]; !ok {
			return fmt.Errorf("unknown ulimit %q", u.Name)
		}
		if u.Soft > u.Hard {
			return fmt.Errorf("ulimit %s: soft limit %d above hard limit %d", u.Name, u.Soft, u.Hard)
		}
	}
	l := spec.Limits
	if l.Memory < 0 || l.Pids < 0 || l.CPUs < 0 || math.IsNaN(l.CPUs) || math.IsInf(l.CPUs, 0) {
		return fmt.Errorf("invalid limits %+v", l)
	}
	return nil
}

// config is what Run sends to the init (package stepinit), as JSON.
type config = stepinit.Config

// newConfig fills in the defaults of spec.
func newConfig(spec Spec, state string) (*config, error) {
	cfg := &config{
		Root:     spec.Root,
		Mounts:   spec.Mounts,
		Args:     spec.Args,
		Env:      spec.Env,
		Dir:      spec.Dir,
		User:     spec.User,
		Hostname: spec.Hostname,
		NewNet:   spec.Network == NetworkNone || isUserNet(spec.Network),
		State:    state,
		ShmSize:  spec.ShmSize,
		Ulimits:  spec.Ulimits,
		Insecure: spec.Insecure,
	}
	if cfg.ShmSize == 0 {
		cfg.ShmSize = 64 << 20 // docker's default
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
	hosts := spec.Hosts
	if hosts == nil {
		hosts = fmt.Appendf(nil, "127.0.0.1\tlocalhost %s\n::1\tlocalhost ip6-localhost ip6-loopback\n", cfg.Hostname)
	}
	if len(spec.ExtraHosts) > 0 {
		hosts = append([]byte(nil), hosts...)
		if len(hosts) > 0 && hosts[len(hosts)-1] != '\n' {
			hosts = append(hosts, '\n')
		}
		for _, h := range spec.ExtraHosts {
			hosts = fmt.Appendf(hosts, "%s\t%s\n", h.IP, h.Name)
		}
	}
	resolv := spec.Resolv
	if resolv == nil {
		b, err := os.ReadFile("/etc/resolv.conf")
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		resolv = resolvConf(spec.Network, b) // network: DNS the step can reach
	}
	cfg.Files = map[string][]byte{
		"hosts":       hosts,
		"resolv.conf": resolv,
		"hostname":    []byte(cfg.Hostname + "\n"),
	}
	return cfg, nil
}

// message is what the init reports on its socket.
type message = stepinit.Message

// hasEnv reports whether env sets key.
var hasEnv = stepinit.HasEnv

// run starts the init, gives it cfg and waits for it (the command, once it
// execve's) to end, then removes the mount targets the init created.
// run starts the init, in cgroup into (CLONE_INTO_CGROUP) unless it is nil.
func run(ctx context.Context, spec Spec, cfg *config, cg *cgroup, into *os.File) (err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("sandbox: %w", os.NewSyscallError("socketpair", err))
	}
	sock := os.NewFile(uintptr(fds[0]), "sandbox")
	child := os.NewFile(uintptr(fds[1]), "sandbox-init")
	defer sock.Close()
	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		child.Close()
		return fmt.Errorf("sandbox: %w", err)
	}
	defer cfgW.Close()
	extra := []*os.File{child, cfgR} // fds 3 and 4
	// The default network: a pooled namespace is the init's fd 5; "up"
	// goes to the next (5, or 6 after a pooled namespace).
	var netW *os.File
	pooled := spec.netns != nil && spec.netUp != nil && isUserNet(spec.Network)
	if pooled {
		extra = append(extra, spec.netns)
		cfg.JoinNet, cfg.NewNet = true, false
	}
	if isUserNet(spec.Network) {
		netR, w, err := os.Pipe()
		if err != nil {
			child.Close()
			cfgR.Close()
			return fmt.Errorf("sandbox: %w", err)
		}
		defer netR.Close()
		netW = w
		defer netW.Close()
		extra = append(extra, netR)
		cfg.NetUp = 2 + len(extra)
	}

	flags := unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC
	if cfg.NewNet {
		flags |= unix.CLONE_NEWNET
	}
	// The cgroup namespace is made by the init once it is in the step's
	// cgroups, so that they are its root.
	cmd := &exec.Cmd{
		Path:       initPath(),
		Args:       []string{"bld-sandbox-init"},
		Env:        []string{stepinit.Env + "=1"},
		Stdin:      spec.Stdin,
		Stdout:     spec.Stdout,
		Stderr:     spec.Stderr,
		ExtraFiles: extra,
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: uintptr(flags),
			Pdeathsig:  syscall.SIGKILL,
		},
		WaitDelay: time.Second,
	}
	if into != nil {
		cmd.SysProcAttr.UseCgroupFD = true
		cmd.SysProcAttr.CgroupFD = int(into.Fd())
	}
	enc, err := stepinit.EncodeConfig(cfg)
	if err != nil {
		child.Close()
		cfgR.Close()
		return fmt.Errorf("sandbox: config: %w", err)
	}
	// The config goes to the init before it runs when the pipe holds it
	// all (a write after Start reached the init about 1.2 ms after it was
	// ready for it: Start returns once the init has exec'd), else as soon
	// as it runs; with a network of its own, only once slirp4netns's tap
	// is made in its namespace (below).
	var sendErr error
	sent := false
	send := func() {
		sent = true
		if _, sendErr = cfgW.Write(enc); sendErr != nil && cmd.Process != nil {
			cmd.Process.Kill()
		}
		cfgW.Close()
	}
	early := netW == nil || pooled
	if early && pipeHolds(cfgW, len(enc)) {
		send()
	}
	cmd, err = startInit(cmd)
	child.Close()
	cfgR.Close()
	if err != nil {
		return fmt.Errorf("sandbox: start init: %w", noNamespaces(err))
	}
	if early && !sent {
		send()
	}
	// The init reports as it goes (placeholders as soon as it creates
	// them, so a kill during setup loses none); the socket ends when it
	// execve's or dies.
	reports := make(chan []message, 1)
	go func() { reports <- receive(int(sock.Fd())) }()
	waited := make(chan struct{})
	go func() {
		cmd.Wait() // its status is in ProcessState
		close(waited)
	}()
	if pooled {
		// A pooled network may still be coming up (Networks.Run hands it
		// over once slirp4netns has started): the init sets the root up
		// meanwhile and starts the command once the byte on netW says the
		// network is up.
		stop := make(chan struct{})
		netDone := make(chan struct{})
		var netErr error // set when the network failed, before netDone
		go func() {
			defer close(netDone)
			select {
			case <-spec.netUp.done:
				if netErr = spec.netUp.err; netErr == nil {
					_, netErr = netW.Write([]byte{1})
				}
			case <-stop:
			}
			netW.Close() // EOF without the byte: the init gives up
		}()
		defer func() {
			close(stop)
			<-netDone
			// If the network failed, that is why the step did (the
			// init's "did not come up" only follows from it).
			if netErr != nil && ctx.Err() == nil {
				err = fmt.Errorf("sandbox: network: %w", netErr)
			}
		}()
	} else if netW != nil {
		// The default network: slirp4netns serves the init's new network
		// namespace (by PID: nothing is mounted, so a kill -9 of bld
		// leaves nothing behind) until the step ends. Its tap exists
		// before the init gets its config; the init sets the root up
		// while slirp4netns configures it, and starts the command once
		// the byte on netW says it is up.
		// (err is run's own: the deferred report below must reach it.)
		var unet *userNet
		if unet, err = startUserNet(cmd.Process.Pid); err != nil {
			cmd.Process.Kill()
			<-waited
			<-reports
			if unet != nil {
				err = errors.Join(err, unet.close())
			}
			return fmt.Errorf("sandbox: network: %w", err)
		}
		var netErr error
		netDone := make(chan struct{})
		go func() {
			defer close(netDone)
			if netErr = unet.wait(ctx); netErr == nil {
				_, netErr = netW.Write([]byte{1})
			}
			netW.Close() // EOF without the byte: the init gives up
		}()
		defer func() {
			select {
			case <-netDone:
				// The wait ended on its own: if the network failed,
				// that is why the step did (the init's "did not come
				// up" only follows from it).
				if netErr != nil && ctx.Err() == nil {
					err = fmt.Errorf("sandbox: network: %w", netErr)
				}
			default:
				// The step ended first (a setup error, say): stopping
				// slirp4netns ends the wait, whose error says nothing.
			}
			cerr := unet.close()
			<-netDone
			if cerr != nil {
				err = errors.Join(err, fmt.Errorf("sandbox: network: %w", cerr))
			}
		}()
	}
	if !sent {
		send()
	}
	cancelled := false
	select {
	case <-waited:
	case <-ctx.Done():
		// SIGKILL to PID 1 from outside its namespace: the kernel kills
		// every process of the step.
		cancelled = true
		cmd.Process.Kill()
		<-waited
	}
	got := <-reports
	// The step is over: its mount namespace, and every mount on the
	// placeholders, is gone.
	cleanup := removePlaceholders(got)
	if sendErr != nil && len(got) == 0 {
		return errors.Join(fmt.Errorf("sandbox: send config: %w", sendErr), cleanup)
	}
	return result(ctx, cancelled, got, cleanup, cmd.ProcessState, cg)
}

// pipeHolds reports whether the pipe w writes to can take n bytes now
// without blocking (it is new and empty), growing its buffer if need be.
func pipeHolds(w *os.File, n int) bool {
	size, err := unix.FcntlInt(w.Fd(), unix.F_GETPIPE_SZ, 0)
	if err == nil && size < n {
		size, err = unix.FcntlInt(w.Fd(), unix.F_SETPIPE_SZ, n)
	}
	return err == nil && size >= n
}

// receive reads the init's messages until it closes its end, pairing each
// placeholder with the parent descriptor sent along.
//
// Each message is received into a buffer of its own size, which a peek
// tells: a step's few messages are ~200 bytes each, and a buffer of the
// largest possible size, allocated (and zeroed) for each step, was a
// tenth of the parent's CPU time per RUN step.
func receive(sock int) []message {
	var got []message
	var buf []byte
	oob := make([]byte, unix.CmsgSpace(stepinit.MaxFDs*4))
	for {
		size, err := messageSize(sock)
		if err == unix.EINTR {
			continue
		}
		if err != nil || size == 0 {
			return got
		}
		if size > cap(buf) {
			buf = make([]byte, size)
		}
		n, oobn, _, _, err := unix.Recvmsg(sock, buf[:size], oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			return got
		}
		var fds []int
		if cmsgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
			for _, c := range cmsgs {
				if f, err := unix.ParseUnixRights(&c); err == nil {
					fds = append(fds, f...)
				}
			}
		}
		var m message
		if err := json.Unmarshal(buf[:n], &m); err != nil {
			m = message{Error: fmt.Sprintf("init message: %v", err)}
		}
		for i := range m.Placeholders {
			m.Placeholders[i].Parent = -1
			if i < len(fds) {
				m.Placeholders[i].Parent = fds[i]
			}
		}
		for _, fd := range fds[min(len(fds), len(m.Placeholders)):] {
			unix.Close(fd)
		}
		got = append(got, m)
	}
}

// messageSize waits for the next message on the SOCK_SEQPACKET sock and
// returns its length without taking it off the socket; 0 at the end.
func messageSize(sock int) (int, error) {
	n, _, _, _, err := unix.Recvmsg(sock, nil, nil, unix.MSG_PEEK|unix.MSG_TRUNC)
	return n, err
}

// removePlaceholders removes the placeholders in got, newest first, and
// closes their descriptors.
func removePlaceholders(got []message) error {
	var errs []error
	for i := len(got) - 1; i >= 0; i-- {
		phs := got[i].Placeholders
		for j := len(phs) - 1; j >= 0; j-- {
			if phs[j].Parent < 0 {
				continue
			}
			if err := phs[j].Remove(); err != nil {
				errs = append(errs, err)
			}
			unix.Close(phs[j].Parent)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("sandbox: cleanup: %w", errors.Join(errs...))
	}
	return nil
}

// result turns what the init said, and how it ended, into Run's error.
func result(ctx context.Context, cancelled bool, got []message, cleanup error, ps *os.ProcessState, cg *cgroup) error {
	var setup []string
	for _, m := range got {
		if m.Error != "" {
			setup = append(setup, m.Error)
		}
	}
	switch {
	case cancelled:
		return errors.Join(ctx.Err(), cleanup)
	case len(setup) > 0:
		return errors.Join(errors.New("sandbox: "+strings.Join(setup, "; ")), cleanup)
	case ps == nil:
		return errors.Join(errors.New("sandbox: init ended without a status"), cleanup)
	}
	ws, _ := ps.Sys().(syscall.WaitStatus)
	switch {
	case ws.Exited() && ws.ExitStatus() == 0:
		return cleanup
	case ws.Exited():
		return errors.Join(&ExitError{Code: ws.ExitStatus(), memory: cg.limit, OOMKilled: cg.oomKilled()}, cleanup)
	case ws.Signaled():
		e := &ExitError{Code: 128 + int(ws.Signal()), Signal: unix.SignalName(ws.Signal()), memory: cg.limit, OOMKilled: cg.oomKilled()}
		return errors.Join(e, cleanup)
	}
	return errors.Join(fmt.Errorf("sandbox: init ended without a status (%s)", ps), cleanup)
}

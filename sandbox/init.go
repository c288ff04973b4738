package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// Init must be the first call in main, and in TestMain of tests that call
// Run. In a process started by Run (it checks an environment variable, not
// argv) it becomes one of the sandbox's two init stages and never returns;
// in any other process it returns at once.
//
// Stage 1 runs in a new mount namespace: it mounts the root, /dev, the
// extra mounts and the /etc files, starts stage 2, waits for it, forwards
// signals, then unmounts, removes the mount targets it created and reports
// to Run. Stage 2 is PID 1 of the step's new PID namespace (with new mount,
// UTS, IPC and, per network mode, network namespaces): it mounts /proc and
// /sys, masks paths, pivot_roots, joins the step's cgroups and a new cgroup
// namespace, sets the hostname, a new session keyring, the capability
// bounding set and the credentials, closes every inherited descriptor and
// execve's the command, which so becomes PID 1. When it exits the kernel
// kills whatever else is left in the namespace.
func Init() {
	stage := os.Getenv(initEnv)
	if stage == "" {
		return
	}
	// The bounding set, credentials, keyring and namespaces joined are per
	// thread: keep all of it on the thread that forks or execs.
	runtime.LockOSThread()
	if stage == "2" {
		os.Exit(stage2())
	}
	os.Exit(initMain())
}

// forwarded are the signals stage 1 passes on to the command.
var forwarded = map[syscall.Signal]bool{
	unix.SIGINT: true, unix.SIGTERM: true, unix.SIGHUP: true,
	unix.SIGQUIT: true, unix.SIGUSR1: true, unix.SIGUSR2: true,
}

// initMain is stage 1: it returns its exit code.
func initMain() (code int) {
	// fd 3 is the socket to Run; stage 2 must not inherit it.
	unix.CloseOnExec(3)
	if err := unix.SetNonblock(3, true); err != nil {
		return 1
	}
	sock := os.NewFile(3, "sandbox")
	enc := json.NewEncoder(sock)
	dec := json.NewDecoder(sock)

	// Nothing may look into the init (CVE-2019-5736: /proc/PID/exe is the
	// bld binary). Stage 1 is outside the step's PID namespace anyway.
	unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	// Catch every signal: Go's default for SIGHUP, SIGTERM... is to exit,
	// which would skip the cleanup.
	sigs := make(chan os.Signal, 128)
	signal.Notify(sigs)

	var cfg config
	if err := dec.Decode(&cfg); err != nil {
		enc.Encode(message{Error: fmt.Sprintf("read config: %v", err)})
		return 1
	}
	r := &rootfs{dir: filepath.Join(cfg.State, "root"), fd: -1}
	s2, err := prepare(&cfg, r)
	if err != nil {
		if cerr := r.cleanup(); cerr != nil {
			err = errors.Join(err, cerr)
		}
		enc.Encode(message{Error: err.Error()})
		return 1
	}

	kill := make(chan struct{}, 1)
	go func() {
		for {
			var m message
			if err := dec.Decode(&m); err != nil {
				// Run is gone: nobody will collect the result.
				kill <- struct{}{}
				return
			}
			if m.Kill {
				kill <- struct{}{}
			}
		}
	}()
	ws, setupErr := s2.supervise(sigs, kill)

	m := message{Exited: true}
	switch {
	case setupErr != "":
		m = message{Error: setupErr}
	case ws.Signaled():
		m.Signal = int(ws.Signal())
		m.Code = 128 + m.Signal
	default:
		m.Code = ws.ExitStatus()
	}
	if err := r.cleanup(); err != nil {
		if m.Error != "" {
			m.Error += "; cleanup: " + err.Error()
		} else {
			m.Cleanup = err.Error()
		}
	}
	enc.Encode(m)
	if m.Error != "" {
		return 1
	}
	return m.Code
}

// prepare builds the root (see rootfs) and starts stage 2 in it.
//
// Stage 2 is started first, so that its start-up (a Go runtime) overlaps
// the mounting: the scratch tmpfs is a shared mount when stage 2's mount
// namespace is copied from this one, so every mount made below it later
// propagates to stage 2's copy. Stage 2 makes its tree private before
// mounting anything of its own, so nothing propagates back.
func prepare(cfg *config, r *rootfs) (s2 *stage, err error) {
	defer func() {
		// A bug in setup must reach Run as an error, not as a dead init.
		if p := recover(); p != nil {
			err = fmt.Errorf("init panic: %v", p)
		}
		if err != nil && s2 != nil {
			s2.kill()
			s2 = nil
		}
	}()
	// Nothing done here may propagate to the host.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return nil, &os.PathError{Op: "make rprivate", Path: "/", Err: err}
	}
	// The scratch directory gets a tmpfs of this namespace: the /etc files
	// come from it, so the step's mountinfo shows "tmpfs /hosts", not a
	// host path, and nothing of them is ever on the host's disk.
	if err := unix.Mount("tmpfs", cfg.State, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=755,size=1m"); err != nil {
		return nil, &os.PathError{Op: "mount tmpfs", Path: cfg.State, Err: err}
	}
	if err := unix.Mount("", cfg.State, "", unix.MS_SHARED, ""); err != nil {
		return nil, &os.PathError{Op: "make shared", Path: cfg.State, Err: err}
	}
	if s2, err = startStage2(cfg); err != nil {
		return nil, err
	}
	if err := os.Mkdir(r.dir, 0o755); err != nil {
		return s2, err
	}
	for name, data := range cfg.Files {
		if err := os.WriteFile(filepath.Join(cfg.State, name), data, 0o644); err != nil {
			return s2, err
		}
	}
	unix.Umask(0)
	if err := r.mountAll(cfg); err != nil {
		return s2, err
	}
	for _, name := range etcFiles {
		m := bindFile(filepath.Join(cfg.State, name), "/etc/"+name)
		if err := r.mount(m); err != nil {
			return s2, fmt.Errorf("mount %s: %w", m.Target, err)
		}
	}
	unix.Umask(0o022)
	if err := json.NewEncoder(s2.sock).Encode(cfg); err != nil {
		return s2, fmt.Errorf("send config: %w", err)
	}
	return s2, nil
}

// stage is stage 2 as stage 1 sees it.
type stage struct {
	cmd  *exec.Cmd
	sock *os.File // reports setup errors; EOF once the command runs
}

// startStage2 starts stage 2 in the step's new namespaces; it waits for
// its config on the socket.
func startStage2(cfg *config) (*stage, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socketpair", err)
	}
	sock := os.NewFile(uintptr(fds[0]), "stage2")
	child := os.NewFile(uintptr(fds[1]), "stage2-child")
	defer child.Close()
	flags := unix.CLONE_NEWPID | unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC
	if cfg.NewNet {
		flags |= unix.CLONE_NEWNET
	}
	cmd := &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       []string{"bld-sandbox-init"},
		Env:        []string{initEnv + "=2"},
		Stdin:      os.Stdin,
		Stdout:     os.Stdout,
		Stderr:     os.Stderr,
		ExtraFiles: []*os.File{child}, // fd 3
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: uintptr(flags),
			Pdeathsig:  syscall.SIGKILL,
		},
	}
	if err := cmd.Start(); err != nil {
		sock.Close()
		return nil, fmt.Errorf("start init stage 2: %w", err)
	}
	return &stage{cmd: cmd, sock: sock}, nil
}

// kill ends stage 2 before it was given its config.
func (s *stage) kill() {
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.sock.Close()
}

// supervise forwards signals to stage 2 (then the command) until it has
// exited, and returns its status, or the error stage 2 reported if it
// failed before starting the command. A value on kill kills it, and with
// it the whole step.
func (s *stage) supervise(sigs <-chan os.Signal, kill <-chan struct{}) (unix.WaitStatus, string) {
	report := make(chan string, 1)
	go func() {
		var m message
		if json.NewDecoder(s.sock).Decode(&m) != nil {
			m.Error = "" // EOF: the command started
		}
		s.sock.Close()
		report <- m.Error
	}()
	waited := make(chan struct{})
	go func() {
		s.cmd.Wait() // its status is in ProcessState
		close(waited)
	}()
	for {
		select {
		case sig := <-sigs:
			if sig, ok := sig.(syscall.Signal); ok && forwarded[sig] {
				s.cmd.Process.Signal(sig)
			}
		case <-kill:
			s.cmd.Process.Kill()
		case <-waited:
			// Stage 2 and its socket are gone: the report is ready.
			ws, _ := s.cmd.ProcessState.Sys().(syscall.WaitStatus)
			return unix.WaitStatus(ws), <-report
		}
	}
}

// stage2 is the second stage of the init: it returns only when the
// command could not be started, with its exit code.
func stage2() int {
	unix.CloseOnExec(3)
	sock := os.NewFile(3, "stage2")
	var cfg config
	err := json.NewDecoder(sock).Decode(&cfg)
	if err == nil {
		err = execCommand(&cfg)
	}
	json.NewEncoder(sock).Encode(message{Error: err.Error()})
	return 1
}

// execCommand sets up the step's namespaces and execve's the command. It
// returns only on error.
func execCommand(cfg *config) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("init panic: %v", p)
		}
	}()
	// Stage 1's mounts reached this namespace by propagation, all of them
	// by now (it sent the config last); none of this stage's may go back.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return &os.PathError{Op: "make rprivate", Path: "/", Err: err}
	}
	// The paths of the cgroups are outside the root: open them now.
	join, err := openProcs(cfg.CgroupProcs)
	if err != nil {
		return err
	}
	defer closeAll(join)
	if cfg.NetNS != "" {
		if err := joinNetNS(cfg.NetNS); err != nil {
			return err
		}
	}
	if cfg.NewNet {
		if err := loopbackUp(); err != nil {
			return err
		}
	}
	dir := filepath.Join(cfg.State, "root")
	root, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: "root", Err: err}
	}
	defer unix.Close(root)
	unix.Umask(0)
	if err := mountKernelFS(root); err != nil {
		return err
	}
	if err := unix.Sethostname([]byte(cfg.Hostname)); err != nil {
		return os.NewSyscallError("sethostname", err)
	}
	if err := pivotRoot(root); err != nil {
		return err
	}

	u, err := lookupUser("/", cfg.User)
	if err != nil {
		return err
	}
	env := cfg.Env
	if !hasEnv(env, "HOME") {
		env = append(append([]string(nil), env...), "HOME="+u.home)
	}
	if err := mkdirOwned(cfg.Dir, int(u.uid), int(u.gid)); err != nil {
		return err
	}
	// Enter the directory as root: like runc, a directory the user cannot
	// search still works.
	if err := os.Chdir(cfg.Dir); err != nil {
		return err
	}
	path, err := lookPath(cfg.Args[0], env)
	if err != nil {
		return err
	}
	unix.Umask(0o022)

	// The step's cgroups, and a cgroup namespace rooted there. This
	// process's Go runtime counts against the limits only until execve.
	if err := writeAll(join, "0"); err != nil {
		return fmt.Errorf("join cgroup: %w", err)
	}
	if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
		return os.NewSyscallError("unshare cgroup namespace", err)
	}
	if err := newSessionKeyring(); err != nil {
		return err
	}
	if err := dropBoundingSet(); err != nil {
		return err
	}
	if err := applyDevices(cfg); err != nil {
		return err
	}
	// Seccomp goes on while this thread still has CAP_SYS_ADMIN, as runc
	// does when no_new_privs is off (Docker's default): the filter must
	// let through what follows (setgroups, setresuid, prctl, close_range,
	// execve), which Docker's profile does.
	if err := applySeccomp(cfg); err != nil {
		return err
	}
	if err := setCredentials(u); err != nil {
		return err
	}
	// Changing credentials clears the parent-death signal: set it again,
	// so a killed stage 1 still kills the step.
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		return os.NewSyscallError("prctl PR_SET_PDEATHSIG", err)
	}
	// No descriptor but 0, 1 and 2 survives execve: not the report socket,
	// not anything bld inherited without O_CLOEXEC.
	if err := unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return os.NewSyscallError("close_range", err)
	}
	err = unix.Exec(path, cfg.Args, env)
	return &os.PathError{Op: "exec", Path: cfg.Args[0], Err: err}
}

// newSessionKeyring gives the calling thread (and so the command) a new,
// anonymous session keyring, as runc does: the caller's session keyring,
// and keys reachable from it, are not reachable through @s.
func newSessionKeyring() error {
	// KEYCTL_JOIN_SESSION_KEYRING with a NULL name makes an anonymous
	// keyring; a name would join an existing keyring of that name.
	_, _, errno := unix.Syscall(unix.SYS_KEYCTL, unix.KEYCTL_JOIN_SESSION_KEYRING, 0, 0)
	if errno != 0 && errno != unix.ENOSYS {
		return os.NewSyscallError("keyctl join session keyring", errno)
	}
	return nil
}

// setCredentials switches the calling thread to u. Supplementary groups
// first, then the gid, then the uid (which drops the capabilities).
func setCredentials(u user) error {
	groups := make([]int, len(u.groups))
	for i, g := range u.groups {
		groups[i] = int(g)
	}
	if err := unix.Setgroups(groups); err != nil {
		return os.NewSyscallError("setgroups", err)
	}
	if err := unix.Setresgid(int(u.gid), int(u.gid), int(u.gid)); err != nil {
		return os.NewSyscallError("setresgid", err)
	}
	if err := unix.Setresuid(int(u.uid), int(u.uid), int(u.uid)); err != nil {
		return os.NewSyscallError("setresuid", err)
	}
	return nil
}

// joinNetNS moves the calling thread into the network namespace at path.
func joinNetNS(path string) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open netns", Path: path, Err: err}
	}
	defer unix.Close(fd)
	if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
		return &os.PathError{Op: "setns", Path: path, Err: err}
	}
	return nil
}

func openProcs(paths []string) ([]*os.File, error) {
	var files []*os.File
	for _, p := range paths {
		f, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			closeAll(files)
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
}

// writeAll writes s to each cgroup.procs file; "0" moves the writer.
func writeAll(files []*os.File, s string) error {
	for _, f := range files {
		if _, err := f.WriteString(s); err != nil {
			return err
		}
	}
	return nil
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

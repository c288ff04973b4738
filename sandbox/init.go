package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// Init must be the first call in main, and in TestMain of tests that call
// Run. In a process started by Run (it checks an environment variable, not
// argv) it becomes the sandbox's init and never returns: it sets up the
// root, starts the command as its child, reaps orphans and forwards
// signals while the command runs, then kills what is left of the step,
// cleans up, and exits with the command's status. In any other process it
// returns at once.
func Init() {
	if os.Getenv(initEnv) == "" {
		return
	}
	// The capability bounding set is per thread and the command inherits
	// the one of the thread that forks it: keep all of setup on one thread.
	runtime.LockOSThread()
	os.Exit(initMain())
}

// forwarded are the signals the init passes on to the command.
var forwarded = map[syscall.Signal]bool{
	unix.SIGINT: true, unix.SIGTERM: true, unix.SIGHUP: true,
	unix.SIGQUIT: true, unix.SIGUSR1: true, unix.SIGUSR2: true,
}

// initMain is the init: it returns its exit code.
func initMain() (code int) {
	// fd 3 is the socket to Run; the command must not inherit it.
	unix.CloseOnExec(3)
	if err := unix.SetNonblock(3, true); err != nil {
		return 1
	}
	sock := os.NewFile(3, "sandbox")
	enc := json.NewEncoder(sock)
	dec := json.NewDecoder(sock)

	// Nothing in the step may look into the init: with the dumpable flag
	// off, /proc/1/{exe,fd,mem,root} need CAP_SYS_PTRACE, which the command
	// lacks (CVE-2019-5736: /proc/1/exe is the bld binary).
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
	r := &rootfs{dir: cfg.RootDir}
	pid, err := setup(&cfg, r)
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
	ws := supervise(pid, sigs, kill)

	// The command is done: end the rest of the step. kill(-1) reaches every
	// process of this PID namespace but the init.
	unix.Kill(-1, unix.SIGKILL)
	reapAll()

	m := message{Exited: true}
	switch {
	case ws.Signaled():
		m.Signal = int(ws.Signal())
		m.Code = 128 + m.Signal
	default:
		m.Code = ws.ExitStatus()
	}
	unix.Chdir("/")
	if err := r.cleanup(); err != nil {
		m.Cleanup = err.Error()
	}
	enc.Encode(m)
	return m.Code
}

// setup prepares the root and starts the command in it; it returns the
// command's PID. What it mounts and creates is recorded in r for cleanup.
func setup(cfg *config, r *rootfs) (pid int, err error) {
	defer func() {
		// A bug in setup must reach Run as an error, not as a dead init.
		if p := recover(); p != nil {
			err = fmt.Errorf("init panic: %v", p)
		}
	}()
	// The paths of the cgroups are outside the root: open them now.
	join, err := openProcs(cfg.CgroupProcs)
	if err != nil {
		return 0, err
	}
	defer closeAll(join)
	home, err := openProcs(cfg.HomeProcs)
	if err != nil {
		return 0, err
	}
	defer closeAll(home)

	unix.Umask(0)
	if err := r.mountAll(cfg); err != nil {
		return 0, err
	}
	if err := unix.Sethostname([]byte(cfg.Hostname)); err != nil {
		return 0, os.NewSyscallError("sethostname", err)
	}
	if err := pivotRoot(r.dir); err != nil {
		return 0, err
	}
	r.dir = "/"
	if cfg.NewNet {
		if err := loopbackUp(); err != nil {
			return 0, err
		}
	}

	u, err := lookupUser("/", cfg.User)
	if err != nil {
		return 0, err
	}
	env := cfg.Env
	if !hasEnv(env, "HOME") {
		env = append(append([]string(nil), env...), "HOME="+u.home)
	}
	if err := mkdirOwned(cfg.Dir, int(u.uid), int(u.gid)); err != nil {
		return 0, err
	}
	// The init enters the directory, as root, and the command inherits it:
	// like runc, a directory the user cannot search still works.
	if err := os.Chdir(cfg.Dir); err != nil {
		return 0, err
	}
	path, err := lookPath(cfg.Args[0], env)
	if err != nil {
		return 0, err
	}
	if err := dropBoundingSet(); err != nil {
		return 0, err
	}
	unix.Umask(0o022)
	filter, err := decodeSeccomp(cfg.Seccomp)
	if err != nil {
		return 0, err
	}

	// The command starts in the step's cgroups, inherited from the init,
	// which leaves them as soon as the command has been started, so its own
	// threads and memory never count against the limits.
	if err := writeAll(join, "0"); err != nil {
		return 0, fmt.Errorf("join cgroup: %w", err)
	}
	proc, err := startSeccomp(filter, func() (*os.Process, error) {
		return os.StartProcess(path, cfg.Args, &os.ProcAttr{
			Env:   env,
			Files: []*os.File{os.Stdin, os.Stdout, os.Stderr},
			Sys: &syscall.SysProcAttr{
				Setsid:     true,
				Credential: &syscall.Credential{Uid: u.uid, Gid: u.gid, Groups: u.groups},
			},
		})
	})
	if lerr := writeAll(home, "0"); lerr != nil && err == nil {
		// Still in the step's cgroups: the command must not run there
		// alone with the init counted.
		proc.Kill()
		return 0, fmt.Errorf("leave cgroup: %w", lerr)
	}
	if err != nil {
		return 0, err
	}
	pid = proc.Pid
	proc.Release() // the init reaps with wait4(-1)
	return pid, nil
}

// supervise forwards signals to the command and reaps children until the
// command has exited, and returns its status. A value on kill kills every
// process of the step.
func supervise(pid int, sigs <-chan os.Signal, kill <-chan struct{}) unix.WaitStatus {
	for {
		select {
		case s := <-sigs:
			sig, _ := s.(syscall.Signal)
			if sig == unix.SIGCHLD {
				if ws, ok := reap(pid); ok {
					return ws
				}
			} else if forwarded[sig] {
				unix.Kill(pid, sig)
			}
		case <-kill:
			unix.Kill(-1, unix.SIGKILL)
		}
	}
}

// reap collects every exited child without blocking; it reports the status
// of pid if pid was among them.
func reap(pid int) (status unix.WaitStatus, exited bool) {
	for {
		var ws unix.WaitStatus
		p, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || p <= 0 {
			return status, exited
		}
		if p == pid {
			status, exited = ws, true
		}
	}
}

// reapAll waits until the init has no children left. Every process of the
// namespace descends from the init, so none is left when it returns.
func reapAll() {
	for {
		var ws unix.WaitStatus
		_, err := unix.Wait4(-1, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return
		}
	}
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

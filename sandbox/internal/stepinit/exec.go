package stepinit

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/bldbuild/bld/internal/userns"
)

// initMain is the init: it returns only when the command could not be
// started, with its exit code.
func initMain() int {
	// fd 3 is the socket to Run, fd 4 the pipe with the config, fds 5 and
	// 6 (in the default network mode) a pooled network namespace and the
	// pipe that says the network is up; the command inherits none of them.
	for fd := 3; fd <= 6; fd++ {
		unix.CloseOnExec(fd)
	}
	// Until execve, nothing may look into the init (CVE-2019-5736:
	// /proc/1/exe is the bld binary); execve resets the flag.
	unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	var cfg Config
	b, err := readConfig(4)
	unix.Close(4)
	if err == nil {
		err = DecodeConfig(b, &cfg)
	}
	if err != nil {
		err = fmt.Errorf("read config: %w", err)
	} else {
		r := &rootfs{dir: filepath.Join(cfg.State, "root"), fd: -1, proc: -1, sys: -1, null: -1, sock: 3}
		err = execCommand(&cfg, r)
	}
	msg, _ := json.Marshal(Message{Error: err.Error()})
	unix.Sendmsg(3, msg, nil, nil, 0)
	return 1
}

// readConfig reads what Run wrote to fd (EncodeConfig): the 8-byte header,
// then as many bytes as it announces, with plain read(2)s (through
// os.File and io.ReadAll, which a step's init runs for the first time,
// this took 0.6 ms, median of 50 steps; the config is 17 KB).
func readConfig(fd int) ([]byte, error) {
	var h [8]byte
	if err := readFull(fd, h[:]); err != nil {
		return nil, err
	}
	n := uint64(binary.LittleEndian.Uint32(h[:])) + uint64(binary.LittleEndian.Uint32(h[4:]))
	if n > maxConfig {
		return nil, fmt.Errorf("config of %d bytes: more than %d", n, maxConfig)
	}
	b := make([]byte, 8+n)
	copy(b, h[:])
	return b, readFull(fd, b[8:])
}

// maxConfig bounds a config: a step's mounts, files and seccomp filter.
const maxConfig = 64 << 20

// readFull reads len(b) bytes from fd; EOF before is an error.
func readFull(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Read(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return os.NewSyscallError("read", err)
		}
		if n == 0 {
			return io.ErrUnexpectedEOF
		}
		b = b[n:]
	}
	return nil
}

// execCommand sets up the step and execve's the command. It returns only
// on error.
func execCommand(cfg *Config, r *rootfs) (err error) {
	defer func() {
		// A bug in setup must reach Run as an error, not as a dead init.
		if p := recover(); p != nil {
			err = fmt.Errorf("init panic: %v", p)
		}
	}()
	// The paths of the cgroups are outside the root: open them now.
	join, err := openProcs(cfg.CgroupProcs)
	if err != nil {
		return err
	}
	defer closeAll(join)
	if cfg.JoinNet {
		if err := unix.Setns(5, unix.CLONE_NEWNET); err != nil {
			return os.NewSyscallError("setns pooled network", err)
		}
	}
	// Nothing done here may propagate to the host.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return &os.PathError{Op: "make rprivate", Path: "/", Err: err}
	}
	if cfg.NewNet {
		if err := LoopbackUp(); err != nil {
			return err
		}
	}
	// The scratch directory gets a tmpfs of this namespace: the /etc files
	// come from it, so the step's mountinfo shows "tmpfs /hosts", not a
	// host path, and nothing of them is ever on the host's disk.
	if err := unix.Mount("tmpfs", cfg.State, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=755,size=1m"); err != nil {
		return &os.PathError{Op: "mount tmpfs", Path: cfg.State, Err: err}
	}
	if err := os.Mkdir(r.dir, 0o755); err != nil {
		return err
	}
	for name, data := range cfg.Files {
		if err := os.WriteFile(filepath.Join(cfg.State, name), data, 0o644); err != nil {
			return err
		}
	}
	unix.Umask(0)
	if err := r.mountAll(cfg); err != nil {
		return err
	}
	for _, name := range etcFiles {
		m := bindFile(filepath.Join(cfg.State, name), "/etc/"+name)
		if err := r.mount(m); err != nil {
			return fmt.Errorf("mount %s: %w", m.Target, err)
		}
	}
	if err := r.mountKernelFS(); err != nil {
		return err
	}
	if err := unix.Sethostname([]byte(cfg.Hostname)); err != nil {
		return os.NewSyscallError("sethostname", err)
	}
	if err := pivotRoot(r.fd); err != nil {
		return err
	}

	u, err := LookupUser("/", cfg.User)
	if err != nil {
		return err
	}
	env := cfg.Env
	if !HasEnv(env, "HOME") {
		env = append(append([]string(nil), env...), "HOME="+u.Home)
	}
	if err := mkdirOwned(cfg.Dir, int(u.UID), int(u.GID)); err != nil {
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
	var filter []unix.SockFilter
	if !cfg.Insecure {
		if filter, err = DecodeSeccomp(cfg.Seccomp); err != nil {
			return err
		}
	}

	// The default network comes up (slirp4netns) while the init set the
	// root up; the command must not start before it has.
	if cfg.NetUp != 0 {
		if err := waitNetwork(cfg.NetUp); err != nil {
			return err
		}
	}
	// The step's cgroups, and a cgroup namespace rooted there. The init's
	// Go runtime counts against the limits only until execve.
	if err := writeAll(join, "0"); err != nil {
		return fmt.Errorf("join cgroup: %w", err)
	}
	if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
		return os.NewSyscallError("unshare cgroup namespace", err)
	}
	if err := newSessionKeyring(); err != nil {
		return err
	}
	// Before the credentials change: raising a hard limit needs
	// CAP_SYS_RESOURCE.
	if err := setUlimits(cfg.Ulimits); err != nil {
		return err
	}
	if !cfg.Insecure {
		if err := dropBoundingSet(); err != nil {
			return err
		}
		// Seccomp goes on while this thread still has CAP_SYS_ADMIN, as
		// runc does when no_new_privs is off (Docker's default): the
		// filter must let through what follows (setgroups, setresuid,
		// prctl, close_range, execve), which Docker's profile does.
		if err := ApplySeccomp(filter); err != nil {
			return err
		}
	}
	if err := setCredentials(u); err != nil {
		return err
	}
	// Changing credentials clears the parent-death signal: set it again,
	// so a killed bld still kills the step.
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		return os.NewSyscallError("prctl PR_SET_PDEATHSIG", err)
	}
	// No descriptor but 0, 1 and 2 survives execve: not the socket to Run,
	// not anything bld inherited without O_CLOEXEC.
	if err := unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return os.NewSyscallError("close_range", err)
	}
	err = unix.Exec(path, cfg.Args, env)
	return &os.PathError{Op: "exec", Path: cfg.Args[0], Err: err}
}

// setUlimits sets the calling process's resource limits, which execve
// keeps. syscall.Setrlimit, not unix's: it also stops the Go runtime from
// putting back, at execve, the RLIMIT_NOFILE soft limit it raised at start.
func setUlimits(limits []Ulimit) error {
	for _, u := range limits {
		err := syscall.Setrlimit(Rlimits[u.Name], &syscall.Rlimit{Cur: u.Soft, Max: u.Hard})
		var cur syscall.Rlimit
		if err == syscall.EPERM && syscall.Getrlimit(Rlimits[u.Name], &cur) == nil && u.Hard > cur.Max {
			return fmt.Errorf("ulimit %s=%d:%d: hard limit above bld's own (%d), which needs CAP_SYS_RESOURCE: %w", u.Name, u.Soft, u.Hard, cur.Max, err)
		}
		if err != nil {
			return fmt.Errorf("ulimit %s=%d:%d: %w", u.Name, u.Soft, u.Hard, os.NewSyscallError("setrlimit", err))
		}
	}
	return nil
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

// setCredentials switches the calling thread to u: supplementary groups
// first, then the gid, then the uid (which drops the capabilities). Raw
// syscalls, for this thread only, as runc's init does: Go's own (and
// x/sys/unix's) apply to every thread of the process, signalling each,
// about half a millisecond a step. Only this thread matters: it is the
// one that execve's, and the others end there.
func setCredentials(u User) error {
	groups := make([]uint32, len(u.Groups))
	copy(groups, u.Groups)
	var p unsafe.Pointer
	if len(groups) > 0 {
		p = unsafe.Pointer(&groups[0])
	}
	_, _, errno := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(groups)), uintptr(p), 0)
	runtime.KeepAlive(groups)
	if errno != 0 && !(errno == unix.EPERM && userns.SetgroupsDenied()) {
		return os.NewSyscallError("setgroups", errno)
	}
	if _, _, errno := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(u.GID), uintptr(u.GID), uintptr(u.GID)); errno != 0 {
		return os.NewSyscallError("setresgid", errno)
	}
	if _, _, errno := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(u.UID), uintptr(u.UID), uintptr(u.UID)); errno != 0 {
		return os.NewSyscallError("setresuid", errno)
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

// writeAll writes s to each file; "0" moves the writer (the thread, for a
// v1 tasks file).
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

// waitNetwork waits for Run's byte on fd: the step's network is up. EOF
// means it did not come up (Run says why).
func waitNetwork(fd int) error {
	f := os.NewFile(uintptr(fd), "network")
	defer f.Close()
	var b [1]byte
	if _, err := io.ReadFull(f, b[:]); err != nil {
		return fmt.Errorf("the step's network did not come up: %w", err)
	}
	return nil
}

package sandbox

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// selfExe is the program Run starts when bld carries no init
// of its own: bld itself, re-executed (package stepinit serves it before
// main).
const selfExe = "/proc/self/exe"

// initExe is the program Run starts, made once per process.
var initExe struct {
	once sync.Once
	mu   sync.Mutex // guards made, path and err, which startInit may change
	made bool       // once has run
	path string     // what exec.Cmd.Path gets
	f    *os.File
	err  error // why the embedded init is not used, when it is not
}

// initPath returns the program a step's init is started from: the
// embedded bld-init in a sealed memfd when the build has one (make
// build), else bld itself. A memfd the kernel refuses (vm.memfd_noexec=2,
// or no memfd at all) also falls back to bld itself: the same init, only
// slower to start; so does one the kernel will not execute (startInit).
func initPath() string {
	initExe.once.Do(func() {
		path := selfExe
		var f *os.File
		var err error
		if len(initBinary) > 0 {
			f, err = sealedExecutable("bld-init", initBinary)
			if err == nil {
				path = fmt.Sprintf("/proc/self/fd/%d", f.Fd())
			}
		}
		initExe.mu.Lock()
		initExe.made, initExe.path, initExe.f, initExe.err = true, path, f, err
		initExe.mu.Unlock()
	})
	initExe.mu.Lock()
	defer initExe.mu.Unlock()
	return initExe.path
}

// warm is Warm's: its work starts once per process; done ends with it.
var warm struct {
	once sync.Once
	done sync.WaitGroup
}

// Warm makes, in a goroutine, what the first RUN step of this process
// would otherwise make on its way, before its init starts: the init's
// sealed memfd (initPath) and the default seccomp filter (stepSeccomp),
// each made once per process. A build calls it once its plan shows a RUN
// step that will run, so that this work (9 ms for the filter and 4 ms
// for the memfd before the one-file row's RUN, BLD_T-style trace points
// on this 2-core VM) overlaps the steps before it. A step that comes
// first waits for the same sync.Once or lock rather than doing the work
// twice. Warm reports nothing: an error is made again, and reported, by
// the step that needs what failed.
func Warm() {
	warm.once.Do(func() {
		warm.done.Add(1)
		go func() {
			defer warm.done.Done()
			initPath()
			_, _ = stepSeccomp() // see Warm: the step reports the error
		}()
	})
}

// startInit starts cmd, a step's init from initPath. If the embedded init
// cannot be executed (EACCES, EPERM, ENOEXEC: a security module that will
// not run a memfd, say) and bld itself can, it starts bld itself instead,
// and so for every later step, and InitProgram says why. It returns the
// command started.
func startInit(cmd *exec.Cmd) (*exec.Cmd, error) {
	err := start(cmd)
	if err == nil || cmd.Path == selfExe ||
		!(errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOEXEC)) {
		return cmd, err
	}
	// A Cmd whose Start failed is not started again: a new one, the same
	// but for its program.
	self := &exec.Cmd{Path: selfExe, Args: cmd.Args, Env: cmd.Env, Stdin: cmd.Stdin, Stdout: cmd.Stdout,
		Stderr: cmd.Stderr, ExtraFiles: cmd.ExtraFiles, SysProcAttr: cmd.SysProcAttr, WaitDelay: cmd.WaitDelay}
	if serr := start(self); serr != nil {
		return cmd, err // not the embedded init's fault (no namespaces, say)
	}
	initExe.mu.Lock()
	if initExe.path == cmd.Path {
		initExe.path, initExe.err = selfExe, fmt.Errorf("exec %s: %w", cmd.Path, err)
	}
	initExe.mu.Unlock()
	return self, nil
}

// InitProgram describes the program RUN steps' inits are started from, for
// `bld version`: the embedded init, or bld itself and why. If no step has
// made the init's memfd yet, it does not make it (copying the init in
// costs about 3 ms) but makes an empty one the same way (sealedExecutable),
// which the kernel refuses just as it would the full one; what it cannot
// tell without a step is whether the kernel will execute it (startInit).
func InitProgram() string {
	initExe.mu.Lock()
	made, p, why := initExe.made, initExe.path, initExe.err
	initExe.mu.Unlock()
	if !made {
		p = selfExe
		if len(initBinary) > 0 {
			var f *os.File
			if f, why = sealedExecutable("bld-init", nil); why == nil {
				f.Close()
				p = "" // the embedded init
			}
		}
	}
	switch {
	case p != selfExe:
		return fmt.Sprintf("bld-init, embedded (%.1f MB, started from a sealed memfd)", float64(len(initBinary))/1e6)
	case why != nil:
		return fmt.Sprintf("bld itself (the embedded bld-init cannot be started: %v)", why)
	default:
		return "bld itself (this bld was built without bld-init: build it with make build)"
	}
}

// minInitFD is the least descriptor number the sealed init gets: above
// the ones exec.Cmd's child dup2s its ExtraFiles onto (3 and up), which
// would otherwise replace it before execve opens /proc/self/fd/N.
const minInitFD = 100

// sealedExecutable returns a read-only descriptor of a memfd holding
// data, sealed so that nothing can change it: a program that can be
// executed through /proc/self/fd/N (runc runs itself the same way). The
// memfd is opened for writing only while it is filled: execve refuses a
// file open for writing (ETXTBSY), so the descriptor returned is a
// read-only reopening, and the writable one is closed.
func sealedExecutable(name string, data []byte) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING|unix.MFD_EXEC)
	if errors.Is(err, unix.EINVAL) {
		// MFD_EXEC is Linux 6.3's; before it every memfd is executable.
		fd, err = unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	}
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	w := os.NewFile(uintptr(fd), "memfd:"+name)
	defer w.Close()
	if !copyMapped(w, data) {
		if _, err := w.Write(data); err != nil {
			return nil, fmt.Errorf("write memfd: %w", err)
		}
	}
	const seals = unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(w.Fd(), unix.F_ADD_SEALS, seals); err != nil {
		return nil, fmt.Errorf("seal memfd: %w", err)
	}
	ro, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", w.Fd()), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("reopen memfd: %w", err)
	}
	high, err := unix.FcntlInt(uintptr(ro), unix.F_DUPFD_CLOEXEC, minInitFD)
	unix.Close(ro)
	if err != nil {
		return nil, fmt.Errorf("dup memfd: %w", err)
	}
	return os.NewFile(uintptr(high), "memfd:"+name), nil
}

// copyMapped copies data into w (empty) from the file data is mapped from,
// in the kernel (sendfile), and reports whether it could. The embedded
// init is part of bld's read-only data: writing it from memory faulted
// in each of its 900 pages from bld's executable first, about 9 ms of CPU
// a process on this VM (perf record), where the kernel's copy from the
// page cache takes under 1 ms. data must be mapped from the running
// executable (/proc/self/maps names the mapping; its device and inode
// must be /proc/self/exe's); anything else, or any error, and w is left
// empty for the caller to write.
func copyMapped(w *os.File, data []byte) bool {
	if len(data) == 0 {
		return false
	}
	off, ok := exeOffset(uintptr(unsafe.Pointer(&data[0])), uintptr(len(data)))
	if !ok {
		return false
	}
	exe, err := os.Open("/proc/self/exe")
	if err != nil {
		return false
	}
	defer exe.Close()
	var st unix.Stat_t
	if unix.Fstat(int(exe.Fd()), &st) != nil || st.Dev != off.dev || st.Ino != off.ino {
		return false
	}
	pos := off.pos
	for left := len(data); left > 0; {
		n, err := unix.Sendfile(int(w.Fd()), int(exe.Fd()), &pos, left)
		if err != nil || n <= 0 {
			w.Truncate(0)
			w.Seek(0, io.SeekStart)
			return false
		}
		left -= n
	}
	// The mapping says where data is; its ends confirm it.
	var head, tail [64]byte
	k := min(len(data), len(head))
	if _, err := w.ReadAt(head[:k], 0); err != nil || !bytes.Equal(head[:k], data[:k]) {
		w.Truncate(0)
		w.Seek(0, io.SeekStart)
		return false
	}
	if _, err := w.ReadAt(tail[:k], int64(len(data)-k)); err != nil || !bytes.Equal(tail[:k], data[len(data)-k:]) {
		w.Truncate(0)
		w.Seek(0, io.SeekStart)
		return false
	}
	return true
}

// mapped is where an address range lies in a mapped file.
type mapped struct {
	dev, ino uint64
	pos      int64 // the file offset of the range's start
}

// exeOffset finds, in /proc/self/maps, the file mapping that holds
// [addr, addr+n) whole, and where in its file the range starts.
func exeOffset(addr, n uintptr) (mapped, bool) {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return mapped{}, false
	}
	for line := range strings.Lines(string(maps)) {
		// start-end perms offset major:minor inode path
		f := strings.Fields(line)
		if len(f) < 6 {
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		fileOff, err3 := strconv.ParseUint(f[2], 16, 64)
		major, minor, ok := strings.Cut(f[3], ":")
		maj, err4 := strconv.ParseUint(major, 16, 32)
		mnr, err5 := strconv.ParseUint(minor, 16, 32)
		ino, err6 := strconv.ParseUint(f[4], 10, 64)
		if !ok || errors.Join(err1, err2, err3, err4, err5, err6) != nil {
			continue
		}
		if uint64(addr) < start || uint64(addr+n) > end {
			continue
		}
		if ino == 0 {
			return mapped{}, false // anonymous: not from a file
		}
		return mapped{dev: unix.Mkdev(uint32(maj), uint32(mnr)), ino: ino, pos: int64(fileOff + uint64(addr) - start)}, true
	}
	return mapped{}, false
}

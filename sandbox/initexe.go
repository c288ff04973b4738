package sandbox

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// selfExe is the program Run starts when bld carries no init
// of its own: bld itself, re-executed (package stepinit serves it before
// main).
const selfExe = "/proc/self/exe"

// initExe is the program Run starts, made once per process.
var initExe struct {
	once sync.Once
	path string // what exec.Cmd.Path gets
	f    *os.File
	err  error // why the embedded init is not used, when it is not
}

// initPath returns the program a step's init is started from: the embedded bld-init in a sealed memfd when the build
// has one (make build), else bld itself. A memfd the kernel refuses
// (vm.memfd_noexec=2, or no memfd at all) also falls back to bld itself:
// the same init, only slower to start.
func initPath() string {
	initExe.once.Do(func() {
		initExe.path = selfExe
		if len(initBinary) == 0 {
			return
		}
		f, err := sealedExecutable("bld-init", initBinary)
		if err != nil {
			initExe.err = err
			return
		}
		initExe.f = f
		initExe.path = fmt.Sprintf("/proc/self/fd/%d", f.Fd())
	})
	return initExe.path
}

// InitProgram describes the program RUN steps' inits are started from, for
// `bld version`: the embedded init, or bld itself and why.
func InitProgram() string {
	p := initPath()
	switch {
	case p != selfExe:
		return fmt.Sprintf("bld-init, embedded (%.1f MB, started from a sealed memfd)", float64(len(initBinary))/1e6)
	case initExe.err != nil:
		return fmt.Sprintf("bld itself (the embedded bld-init cannot be started: %v)", initExe.err)
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
	if _, err := w.Write(data); err != nil {
		return nil, fmt.Errorf("write memfd: %w", err)
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
